package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func runProbe(env map[string]string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = probeCommand(args, nil, &out, &errb, func(k string) string { return env[k] })
	return out.String(), errb.String(), code
}

func TestProbeUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{nil, 2, "give exactly one TARGET (got 0)"},
		{[]string{"a", "b"}, 2, "give exactly one TARGET (got 2)"},
		{[]string{"-pSECRET", "h"}, 2, "never taken from the command line"},
		{[]string{"--password=SECRET", "h"}, 2, "never taken from the command line"},
		{[]string{"--timeout", "0s", "h"}, 2, "must be positive"},
		{[]string{"--format", "xml", "h"}, 2, `--format "xml"`},
		{[]string{"--tls", "h"}, 2, "give --user too"},
		{[]string{"mysql://u:SECRET@h"}, 2, "password in the URL is refused"},
		{[]string{"--nope", "h"}, 2, "flag provided but not defined: -nope"},
		{[]string{"h:99999"}, 2, "port \"99999\""},
		{[]string{"-h"}, 0, ""},
	}
	for _, tc := range tests {
		out, errb, code := runProbe(nil, tc.args...)
		if code != tc.code || !strings.Contains(errb, tc.err) {
			t.Errorf("probe %q: exit %d, stderr %q; want %d and %q", tc.args, code, errb, tc.code, tc.err)
		}
		if strings.Contains(out+errb, "SECRET") {
			t.Errorf("probe %q repeats the password: %q", tc.args, out+errb)
		}
		if tc.code == 0 && !strings.Contains(out, "Usage: connscope probe") {
			t.Errorf("-h: %q", out)
		}
	}
}

// greetingServer is a real listener sending a MariaDB greeting, then
// reading the client's login and answering ERR 1045 (as the server would
// for a wrong password), so the login path runs end to end.
func greetingServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g := []byte{10}
	g = append(g, "5.5.5-10.11.6-MariaDB"...)
	g = append(g, 0)
	g = binary.LittleEndian.AppendUint32(g, 7)
	g = append(g, "abcdefgh"...)
	g = append(g, 0)
	caps := uint32(0x0000a20f | 0x80000 | 0x8000)
	g = binary.LittleEndian.AppendUint16(g, uint16(caps))
	g = append(g, 8)
	g = binary.LittleEndian.AppendUint16(g, 2)
	g = binary.LittleEndian.AppendUint16(g, uint16(caps>>16))
	g = append(g, 21)
	g = append(g, make([]byte, 10)...)
	g = append(g, "ijklmnopqrst"...)
	g = append(g, 0)
	g = append(g, "mysql_native_password"...)
	g = append(g, 0)
	frame := func(seq byte, p []byte) []byte {
		h := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
		h[3] = seq
		return append(h, p...)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write(frame(0, g))
				r := bufio.NewReader(c)
				var h [4]byte
				if _, err := r.Read(h[:]); err != nil {
					return
				}
				n := int(binary.LittleEndian.Uint32(append(h[:3:3], 0)))
				buf := make([]byte, n)
				if _, err := io_ReadFull(r, buf); err != nil {
					return
				}
				if nativeAuthOK(buf, []byte("abcdefghijklmnopqrst"), serverPassword) {
					c.Write(frame(2, []byte{0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00}))
					r.Read(h[:]) // COM_QUIT
					return
				}
				using := "YES"
				if authLen(buf) == 0 {
					using = "NO"
				}
				msg := "Access denied for user 'app'@'localhost' (using password: " + using + ")"
				c.Write(frame(2, append([]byte{0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0'}, msg...)))
			}()
		}
	}()
	return l.Addr().String()
}

// serverPassword is the one password greetingServer accepts.
const serverPassword = "Pr0mpted"

// authLen and nativeAuthOK read a HandshakeResponse41 (1-byte auth
// length, as go-sql-driver sends it to a server without
// CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) and check a mysql_native_password
// token: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
func authResp(p []byte) []byte {
	if len(p) < 32 {
		return nil
	}
	rest := p[32:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 || i+1 >= len(rest) {
		return nil
	}
	rest = rest[i+1:]
	n := int(rest[0])
	if 1+n > len(rest) {
		return nil
	}
	return rest[1 : 1+n]
}

func authLen(p []byte) int { return len(authResp(p)) }

func nativeAuthOK(p, scramble []byte, pw string) bool {
	tok := authResp(p)
	if len(tok) != 20 {
		return false
	}
	h1 := sha1.Sum([]byte(pw))
	h2 := sha1.Sum(h1[:])
	h3 := sha1.Sum(append(append([]byte(nil), scramble...), h2[:]...))
	for i := range h1 {
		if tok[i] != h1[i]^h3[i] {
			return false
		}
	}
	return true
}

func io_ReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestProbeLoginJSON(t *testing.T) {
	addr := greetingServer(t)
	const pw = "S3cr3t-pw"
	dir := t.TempDir()
	outFile := filepath.Join(dir, "report.json")
	// Flags after the target are accepted too.
	out, errb, code := runProbe(map[string]string{"MYSQL_PWD": pw}, addr, "--user", "app", "--format", "json", "-o", outFile, "--timeout", "2s")
	if code != 1 {
		t.Fatalf("exit %d (want 1: the login failed); stderr %q", code, errb)
	}
	if out != "" {
		t.Errorf("with -o, stdout has %q", out)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(outFile); st.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v, want 0600", st.Mode().Perm())
	}
	if bytes.Contains(data, []byte(pw)) {
		t.Fatalf("the report contains the password")
	}
	checks := map[string]string{}
	var login map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		switch rec["kind"] {
		case "check":
			checks[rec["id"].(string)] = rec["status"].(string)
		case "address":
			login, _ = rec["login"].(map[string]any)
		}
	}
	if checks["connect"] != "ok" || checks["greeting"] != "ok" || checks["login"] != "failed" {
		t.Errorf("checks %v", checks)
	}
	if login == nil || login["error_code"] != float64(1045) || login["password_from"] != "MYSQL_PWD" || login["outcome"] != "auth_failed" {
		t.Errorf("login %v", login)
	}

	// Redacted: the address and the user are gone, the code stays.
	out, _, _ = runProbe(map[string]string{"MYSQL_PWD": pw}, "--redact", "--user", "app", addr)
	host, _, _ := net.SplitHostPort(addr)
	for _, leak := range []string{host, "'app'", "login as app", pw} {
		if strings.Contains(out, leak) {
			t.Errorf("redacted output contains %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "ERROR 1045") || !strings.Contains(out, "ip4-1") || !strings.Contains(out, "user-1") {
		t.Errorf("redacted output lacks the error code or the pseudonyms:\n%s", out)
	}
}

// openPTY returns a pseudo-terminal pair: the probe reads the password from
// the terminal side, the test types into the master.
func openPTY(t *testing.T) (master, term *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (/dev/ptmx: %v)", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("cannot open the terminal side: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestProbePasswordSources: the password comes from MYSQL_PWD, else from a
// prompt on the terminal, else there is none (a login without a password);
// it never shows in the output.
func TestProbePasswordSources(t *testing.T) {
	addr := greetingServer(t)

	// From the environment.
	out, errb, code := runProbe(map[string]string{"MYSQL_PWD": serverPassword}, "--format", "json", "--user", "app", addr)
	if code != 0 || !strings.Contains(out, `"password_from":"MYSQL_PWD","outcome":"ok"`) {
		t.Errorf("MYSQL_PWD: exit %d, %s %s", code, out, errb)
	}

	// Not a terminal and no MYSQL_PWD: no password.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var o, e bytes.Buffer
	code = probeCommand([]string{"--format", "json", "--user", "app", addr}, f, &o, &e, func(string) string { return "" })
	if code != 1 || !strings.Contains(o.String(), "(using password: NO)") || !strings.Contains(o.String(), `"password_from":"none (MYSQL_PWD unset, standard input not a terminal)"`) {
		t.Errorf("no password: exit %d, %s %s", code, o.String(), e.String())
	}

	// Typed at the prompt.
	master, tty := openPTY(t)
	go func() {
		time.Sleep(100 * time.Millisecond)
		master.Write([]byte(serverPassword + "\n"))
	}()
	go io_Discard(master)
	o.Reset()
	e.Reset()
	code = probeCommand([]string{"--format", "json", "--user", "app", addr}, tty, &o, &e, func(string) string { return "" })
	if code != 0 || !strings.Contains(o.String(), `"password_from":"prompt","outcome":"ok"`) || !strings.Contains(e.String(), "password for app (MYSQL_PWD is not set): ") {
		t.Errorf("prompt: exit %d, stdout %s, stderr %q", code, o.String(), e.String())
	}
	if strings.Contains(o.String()+e.String(), serverPassword) {
		t.Error("the typed password shows in the output")
	}
}

// io_Discard drains the master side (the terminal's echo, if any).
func io_Discard(f *os.File) {
	buf := make([]byte, 256)
	for {
		if _, err := f.Read(buf); err != nil {
			return
		}
	}
}
