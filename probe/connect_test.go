package probe

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mysqlPacket frames a payload with sequence id seq.
func mysqlPacket(seq byte, payload []byte) []byte {
	var h [4]byte
	binary.LittleEndian.PutUint32(h[:], uint32(len(payload)))
	h[3] = seq
	return append(h[:], payload...)
}

// handshakeV10 is a MariaDB-style greeting as the server sends it.
func handshakeV10(version string, id uint32, caps uint32, plugin string) []byte {
	p := []byte{10}
	p = append(p, version...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, id)
	p = append(p, "abcdefgh"...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 8)                           // charset
	p = binary.LittleEndian.AppendUint16(p, 2) // status
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, "ijklmnopqrst"...)
	p = append(p, 0)
	p = append(p, plugin...)
	return append(p, 0)
}

// server starts a real TCP listener on 127.0.0.1 that does what serve says
// with each connection.
func server(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return l.Addr().String()
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func TestConnectOne(t *testing.T) {
	const caps = 0x0000a20f | 0x800 | 0x80000 // protocol 41, secure conn, SSL, plugin auth
	greeting := mysqlPacket(0, handshakeV10("5.5.5-10.11.6-MariaDB-0+deb12u1", 42, caps, "mysql_native_password"))
	err1040 := mysqlPacket(0, append([]byte{0xff, 0x10, 0x04}, "Too many connections"...))
	err1130 := mysqlPacket(0, append([]byte{0xff, 0x6a, 0x04}, "Host '192.0.2.13' is not allowed to connect to this MariaDB server"...))
	send := func(b []byte, then time.Duration) func(net.Conn) {
		return func(c net.Conn) { c.Write(b); time.Sleep(then) }
	}
	split := func(c net.Conn) { // the greeting in two segments
		c.Write(greeting[:10])
		time.Sleep(50 * time.Millisecond)
		c.Write(greeting[10:])
		time.Sleep(time.Second)
	}
	pgAnswer := func(ans byte) func(net.Conn) {
		return func(c net.Conn) {
			b := make([]byte, 8)
			if _, err := c.Read(b); err == nil && b[4] == 0x04 && b[5] == 0xd2 {
				c.Write([]byte{ans})
			}
			time.Sleep(time.Second)
		}
	}
	tests := []struct {
		name, proto, outcome, detail string
		addr                         string
		check                        func(t *testing.T, a Attempt)
	}{
		{name: "greeting", proto: MySQL, addr: server(t, send(greeting, time.Second)), outcome: OutcomeOK, check: func(t *testing.T, a Attempt) {
			g := a.Greeting.MySQL
			if g == nil || g.ServerVersion != "5.5.5-10.11.6-MariaDB-0+deb12u1" || g.ConnectionID != 42 || g.AuthPlugin != "mysql_native_password" || !g.TLSOffered() {
				t.Errorf("greeting %+v", g)
			}
			if !a.Local.IsValid() {
				t.Error("no local address")
			}
		}},
		{name: "greeting in two segments", proto: MySQL, addr: server(t, split), outcome: OutcomeOK},
		{name: "ERR 1040 instead of a greeting", proto: MySQL, addr: server(t, send(err1040, time.Second)), outcome: OutcomeRejected, detail: "ERR 1040", check: func(t *testing.T, a Attempt) {
			if e := a.Greeting.MySQLErr; e == nil || e.Code != 1040 || e.Message != "Too many connections" {
				t.Errorf("err %+v", e)
			}
		}},
		{name: "ERR 1130", proto: MySQL, addr: server(t, send(err1130, time.Second)), outcome: OutcomeRejected, detail: "is not allowed to connect"},
		{name: "silent server", proto: MySQL, addr: server(t, send(nil, 2*time.Second)), outcome: OutcomeNoGreeting, detail: "no greeting within 300 ms"},
		{name: "closes at once", proto: MySQL, addr: server(t, send(nil, 0)), outcome: OutcomeClosedBeforeGreeting},
		{name: "ssh banner", proto: MySQL, addr: server(t, send([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"), time.Second)), outcome: OutcomeWrongProtocol, detail: "SSH-2.0-OpenSSH_9.2p1"},
		{name: "refused", proto: MySQL, addr: closedPort(t), outcome: OutcomeRefused, check: func(t *testing.T, a Attempt) {
			if a.Errno != "ECONNREFUSED" {
				t.Errorf("errno %q", a.Errno)
			}
		}},
		{name: "postgres N", proto: Postgres, addr: server(t, pgAnswer('N')), outcome: OutcomeOK, check: func(t *testing.T, a Attempt) {
			if a.Greeting.PGAnswer != 'N' {
				t.Errorf("answer %q", a.Greeting.PGAnswer)
			}
		}},
		{name: "postgres port answered by MySQL", proto: Postgres, addr: server(t, send(greeting, time.Second)), outcome: OutcomeWrongProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := connectOne(context.Background(), "tcp", tc.addr, tc.proto, 300*time.Millisecond)
			if a.Outcome != tc.outcome || !strings.Contains(a.Detail, tc.detail) {
				t.Fatalf("outcome %s (%s), want %s (%q)", a.Outcome, a.Detail, tc.outcome, tc.detail)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

func TestConnectUnix(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stale := filepath.Join(dir, "stale.sock")
	// A socket file nobody listens on: bind without listen, then close.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o644)
	tests := []struct{ path, outcome, errno string }{
		{filepath.Join(dir, "missing.sock"), OutcomeSocketMissing, "ENOENT"},
		{stale, OutcomeRefused, "ECONNREFUSED"},
		{plain, OutcomeRefused, "ECONNREFUSED"},
		{live, OutcomeNoGreeting, ""},
	}
	for _, tc := range tests {
		a := connectOne(context.Background(), "unix", tc.path, MySQL, 200*time.Millisecond)
		if a.Outcome != tc.outcome || a.Errno != tc.errno {
			t.Errorf("%s: outcome %s errno %s (%s), want %s %s", filepath.Base(tc.path), a.Outcome, a.Errno, a.Detail, tc.outcome, tc.errno)
		}
	}
}

func TestMayConnect(t *testing.T) {
	dir := t.TempDir()
	// The test's temporary directory (and its parent) must let others search.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	open := filepath.Join(dir, "open")
	closed := filepath.Join(dir, "closed")
	os.Mkdir(open, 0o755)
	os.Mkdir(closed, 0o700)
	for _, d := range []string{open, closed} {
		os.WriteFile(filepath.Join(d, "rw.sock"), nil, 0o777)
		os.WriteFile(filepath.Join(d, "ro.sock"), nil, 0o755)
		os.Chmod(filepath.Join(d, "rw.sock"), 0o777)
	}
	// Another user (not the owner, in none of the owner's groups).
	other := os.Getuid() + 12345
	tests := []struct {
		path string
		why  string
	}{
		{filepath.Join(open, "rw.sock"), ""},
		{filepath.Join(open, "ro.sock"), "no write permission on the socket"},
		{filepath.Join(closed, "rw.sock"), "no search (x) permission on " + closed},
	}
	for _, tc := range tests {
		got := mayConnect(tc.path, other, []int{other})
		if (tc.why == "") != (got == "") || !strings.Contains(got, tc.why) {
			t.Errorf("mayConnect(%s) = %q, want %q", tc.path, got, tc.why)
		}
	}
	// The owner may, through the closed directory.
	if got := mayConnect(filepath.Join(closed, "rw.sock"), os.Getuid(), []int{os.Getgid()}); got != "" && os.Getuid() != 0 {
		t.Errorf("owner: %q", got)
	}
}

func TestConnectCancelled(t *testing.T) {
	addr := server(t, func(c net.Conn) { time.Sleep(5 * time.Second) })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	a := connectOne(ctx, "tcp", addr, MySQL, 10*time.Second)
	if a.Outcome != OutcomeNoGreeting || !strings.Contains(a.Detail, "interrupted") || time.Since(start) > 5*time.Second {
		t.Fatalf("outcome %s after %v: the cancelled wait did not end (timeout was 10 s)", a.Outcome, time.Since(start))
	}
}
