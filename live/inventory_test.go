package live

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

// listenRaw makes a TCP listener with raw syscalls (the test chooses the
// backlog) on addr in the current thread's namespace.
func listenRaw(t *testing.T, addr netip.AddrPort, backlog int) int {
	t.Helper()
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	if addr.Addr().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatalf("bind %s: %v", addr, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	return fd
}

// The inventory lists exactly the target ports' listeners of the traced
// namespace: address, accept queue now and its limit, the process holding
// it, and that process's listening unix sockets with their owner and mode.
func TestListenerInventory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	name := fmt.Sprintf("cs-live-inv-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()

	const (
		loopbackOnly = 28306
		everywhere   = 28307
		notTargeted  = 28308
	)
	// unix sockets belong to a network namespace too: the server's are in
	// its namespace.
	sock := filepath.Join(t.TempDir(), "inv.sock")
	err := inNetns(name, func() error {
		ul, err := net.Listen("unix", sock)
		if err != nil {
			return err
		}
		t.Cleanup(func() { ul.Close() })
		if err := os.Chmod(sock, 0o660); err != nil {
			return err
		}
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("lo up: %v: %s", err, out)
		}
		listenRaw(t, netip.MustParseAddrPort("127.0.0.1:28306"), 7)
		listenRaw(t, netip.MustParseAddrPort("[::]:28307"), 3)
		listenRaw(t, netip.MustParseAddrPort("127.0.0.1:28308"), 5)
		// Two connections the listener has not accepted.
		for i := 0; i < 2; i++ {
			c, err := net.Dial("tcp", "127.0.0.1:28306")
			if err != nil {
				return err
			}
			t.Cleanup(func() { c.Close() })
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The same port in this namespace is not the traced namespace's.
	other, err := net.Listen("tcp", "127.0.0.1:28306")
	if err == nil {
		defer other.Close()
	}

	got, err := listenerInventory(name, []uint16{loopbackOnly, everywhere})
	if err != nil {
		t.Fatal(err)
	}
	comm := procComm(os.Getpid())
	self := event.UnixListener{Path: sock, Owner: "root:root", Mode: 0o660}
	want := []event.Listener{
		{Family: event.FamilyInet, Addr: netip.MustParseAddrPort("127.0.0.1:28306"), AcceptQueue: 2, Backlog: 7},
		{Family: event.FamilyInet6, Addr: netip.MustParseAddrPort("[::]:28307"), AcceptQueue: 0, Backlog: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("inventory %+v, want %d listeners", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Family != w.Family || g.Addr != w.Addr || g.AcceptQueue != w.AcceptQueue || g.Backlog != w.Backlog {
			t.Errorf("listener %d: %s family %d queue %d/%d, want %s family %d queue %d/%d",
				i, g.Addr, g.Family, g.AcceptQueue, g.Backlog, w.Addr, w.Family, w.AcceptQueue, w.Backlog)
		}
		if g.PID != uint32(os.Getpid()) || g.Comm != comm {
			t.Errorf("listener %s held by %s[%d], want this test %s[%d]", g.Addr, g.Comm, g.PID, comm, os.Getpid())
		}
		found := false
		for _, u := range g.UnixSockets {
			if u == self {
				found = true
			}
		}
		if !found {
			t.Errorf("listener %s: unix sockets %+v lack %+v", g.Addr, g.UnixSockets, self)
		}
	}
	if line := describeListeners(got); !strings.Contains(line, "127.0.0.1:28306 (accept queue 2/7)") || !strings.Contains(line, "unix "+sock+" (root:root 0660)") {
		t.Errorf("notice %q", line)
	}
}

func TestDiagName(t *testing.T) {
	for raw, want := range map[string]string{
		"/run/mysqld/mysqld.sock\x00" + "abcd": "/run/mysqld/mysqld.sock",
		"/tmp/x" + "abcd":                      "/tmp/x",
		"\x00abstract" + "abcd":                "@abstract",
		"abc":                                  "",
	} {
		if got := diagName(raw); got != want {
			t.Errorf("diagName(%q) = %q, want %q", raw, got, want)
		}
	}
}

// A server (by its name, serverComms) that listens on a unix socket of the
// traced namespace and on no TCP socket there is listed as such (MySQL's
// skip_networking); another program's unix listener is not.
func TestInventoryServerWithoutTCP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("socat is not installed (Debian package socat): a copy named mariadbd plays the server")
	}
	name := fmt.Sprintf("cs-live-notcp-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	dir := t.TempDir()
	bin := filepath.Join(dir, "mariadbd")
	data, err := os.ReadFile(socat)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "mysqld.sock")
	srv := exec.Command("ip", "netns", "exec", name, bin, "UNIX-LISTEN:"+sock+",fork", "EXEC:/bin/true")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	// Another program's unix listener in the namespace: not a server.
	other := filepath.Join(dir, "other.sock")
	if err := inNetns(name, func() error {
		l, err := net.Listen("unix", other)
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var got []event.Listener
	for deadline := time.Now().Add(5 * time.Second); ; {
		got, err = listenerInventory(name, []uint16{3306})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != 1 {
		fds, _ := exec.Command("ls", "-l", fmt.Sprintf("/proc/%d/fd", srv.Process.Pid)).CombinedOutput()
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", srv.Process.Pid))
		ss, _ := exec.Command("ip", "netns", "exec", name, "ss", "-xlpe").CombinedOutput()
		t.Fatalf("inventory %+v, want the mariadbd copy alone; comm %q fds:\n%s\nss:\n%s", got, comm, fds, ss)
	}
	g := got[0]
	if !g.NoTCP || g.Comm != "mariadbd" || g.PID != uint32(srv.Process.Pid) || g.Addr.IsValid() {
		t.Errorf("inventory entry %+v, want mariadbd[%d] with no TCP listener", g, srv.Process.Pid)
	}
	if len(g.UnixSockets) != 1 || g.UnixSockets[0].Path != sock {
		t.Errorf("unix sockets %+v, want %s", g.UnixSockets, sock)
	}
	if line := describeListeners(got); !strings.Contains(line, fmt.Sprintf("mariadbd[%d] on no TCP socket at all, unix %s", srv.Process.Pid, sock)) {
		t.Errorf("notice %q", line)
	}
}
