package live

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The watcher sees a listener appear and go away on a target port, in the
// traced namespace only, and takes a new inventory then; listeners on other
// ports and established connections change nothing it reports.
func TestListenWatch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	name := fmt.Sprintf("cs-live-watch-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	inNS := func(fn func()) {
		t.Helper()
		if err := inNetns(name, func() error { fn(); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	inNS(func() { exec.Command("ip", "link", "set", "lo", "up").Run() })

	w, err := newListenWatch(name, []uint16{28310})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	check := func(step string, wantChanged bool, want string) {
		t.Helper()
		ls, changed, err := w.check()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if changed != wantChanged {
			t.Fatalf("%s: changed=%v, want %v (inventory %+v)", step, changed, wantChanged, ls)
		}
		if got := describeListeners(ls); changed && !strings.Contains(got, want) || changed && want == "" && got != "" {
			t.Errorf("%s: inventory %q, want %q", step, got, want)
		}
	}
	check("empty namespace", false, "")

	// This namespace's listener on the port is not the traced one's.
	if l, err := net.Listen("tcp", "127.0.0.1:28310"); err == nil {
		defer l.Close()
	}
	check("a listener in another namespace", false, "")

	listen := func(addr string) net.Listener {
		t.Helper()
		var l net.Listener
		inNS(func() {
			var err error
			if l, err = net.Listen("tcp", addr); err != nil {
				t.Fatal(err)
			}
		})
		return l
	}
	l := listen("127.0.0.1:28310")
	defer l.Close()
	self := fmt.Sprintf("%s[%d] on 127.0.0.1:28310 (accept queue 0/", procComm(os.Getpid()), os.Getpid())
	check("a listener appeared", true, self)
	check("nothing new", false, "")

	other := listen("127.0.0.1:28311")
	defer other.Close()
	check("a listener on another port", false, "")
	// Connections to it (established sockets, and one in the accept queue).
	inNS(func() {
		c, err := net.Dial("tcp", "127.0.0.1:28310")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	})
	check("a connection in the accept queue", false, "")

	keys, err := w.listening()
	if err != nil {
		t.Fatal(err)
	}
	var tcp []string
	for _, k := range keys {
		if k.addr.IsValid() {
			tcp = append(tcp, k.addr.String())
		}
	}
	if strings.Join(tcp, " ") != "127.0.0.1:28310 127.0.0.1:28311" && strings.Join(tcp, " ") != "127.0.0.1:28311 127.0.0.1:28310" {
		t.Errorf("listening TCP sockets %v, want 127.0.0.1:28310 and :28311 only", tcp)
	}

	l.Close()
	other.Close()
	check("the listener went away", true, "")
	if s := listenerChanges(nil, nil); s != "" {
		t.Errorf("no change worded as %q", s)
	}
}

// BenchmarkListenWatch is the watcher's look at the listeners (what runs
// every inventoryEvery) in a namespace with 4,000 connected sockets, beside
// the netlink package's dump of every TCP socket it replaces.
func BenchmarkListenWatch(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("creating a network namespace needs root")
	}
	name := fmt.Sprintf("cs-live-watchb-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		b.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	if err := inNetns(name, func() error {
		exec.Command("ip", "link", "set", "lo", "up").Run()
		l, err := net.Listen("tcp", "127.0.0.1:28320")
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		for i := 0; i < 2000; i++ {
			c, err := net.Dial("tcp", "127.0.0.1:28320")
			if err != nil {
				return err
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	w, err := newListenWatch(name, []uint16{28320})
	if err != nil {
		b.Fatal(err)
	}
	defer w.close()
	b.Run("listening", func(b *testing.B) {
		for b.Loop() {
			if _, err := w.listening(); err != nil {
				b.Fatal(err)
			}
		}
	})
	var h *netlink.Handle
	if err := inNetns(name, func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_INET_DIAG)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.Run("netlink.SocketDiagTCP", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.SocketDiagTCP(unix.AF_INET); err != nil {
				b.Fatal(err)
			}
		}
	})
}
