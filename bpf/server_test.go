package bpf

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

// The server's side of a connect, as the analysis relies on it: the child
// socket's handshake (queued for accept) and the accept() that took it,
// both carrying the connection's 5-tuple from the server's side and the
// same cookie, the accept with the accepting process and its descriptor,
// and the time spent in the accept queue between them.
func TestServerSideAccept(t *testing.T) {
	l := newLab(t)
	const port = 3399
	// A listener that accepts only when told: the connection waits in the
	// accept queue meanwhile.
	lfd := rawListener(t, l.server, &unix.SockaddrInet6{Port: port}, nil)

	pid := uint32(os.Getpid())
	tr, col := openTracer(t, Options{Ports: []uint16{port}})
	for _, u := range tr.Unavailable() {
		t.Logf("unavailable: %s", u)
	}
	clientAddr := l.dialServer(t, port)
	const wait = 300 * time.Millisecond
	time.Sleep(wait)
	acceptedAt := time.Now()
	nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(nfd)

	server := netip.AddrPortFrom(netip.MustParseAddr(serverV4), port)
	type pair struct{ child, accept event.Kernel }
	got, ok := waitFor(col, 5*time.Second, func(evs []event.Kernel) (pair, bool) {
		var p pair
		var haveChild, haveAccept bool
		for _, ev := range evs {
			if ev.Src != server || ev.Dst != clientAddr {
				continue
			}
			switch ev.Kind {
			case event.ChildEstablished:
				p.child, haveChild = ev, true
			case event.Accepted:
				p.accept, haveAccept = ev, true
			}
		}
		return p, haveChild && haveAccept
	})
	if !ok {
		t.Fatalf("no child_established and accept for %s → %s:\n%s", clientAddr, server, render(col.snapshot()))
	}
	if got.child.Cookie == 0 || got.child.Cookie != got.accept.Cookie {
		t.Errorf("cookies: child %d, accept %d; want the same, non-zero", got.child.Cookie, got.accept.Cookie)
	}
	if got.accept.Process.PID != pid || got.accept.Process.FD != int32(nfd) {
		t.Errorf("accept by pid %d fd %d, want this test (pid %d) and fd %d", got.accept.Process.PID, got.accept.Process.FD, pid, nfd)
	}
	if got.child.Process.PID != 0 {
		t.Errorf("child_established attributed to pid %d: softirq has no process", got.child.Process.PID)
	}
	if q := got.accept.Time.Sub(got.child.Time); q < wait-50*time.Millisecond {
		t.Errorf("in the accept queue %v, want at least the %v the test waited", q, wait)
	}
	if d := got.accept.Time.Sub(acceptedAt); d < -time.Millisecond || d > time.Second {
		t.Errorf("accept stamped %v after the test called accept4()", d)
	}
}

// Under a pid filter without a port filter the server's handshake happens
// in softirq, with no process to filter by: it passes only for a listen
// port given to FollowServerPort (a traced server's, which the live
// pipeline finds listening), and from then on.
func TestFollowServerPortUnderPIDFilter(t *testing.T) {
	l := newLab(t)
	const port = 3398
	lfd := rawListener(t, l.server, &unix.SockaddrInet6{Port: port}, nil)

	tr, col := openTracer(t, Options{PIDs: []uint32{uint32(os.Getpid())}})
	server := netip.AddrPortFrom(netip.MustParseAddr(serverV4), port)
	// connectAndAccept connects from the client namespace, accepts, and
	// returns the client's address once the accept's event arrived (the
	// child's handshake, if it passes, comes before it).
	connectAndAccept := func() netip.AddrPort {
		t.Helper()
		ca := l.dialServer(t, port)
		nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(nfd) })
		if _, ok := waitFor(col, 5*time.Second, func(evs []event.Kernel) (bool, bool) {
			for _, ev := range evs {
				if ev.Kind == event.Accepted && ev.Src == server && ev.Dst == ca {
					return true, true
				}
			}
			return false, false
		}); !ok {
			t.Fatalf("no accept event for %s → %s:\n%s", ca, server, render(col.snapshot()))
		}
		return ca
	}
	childOf := func(ca netip.AddrPort) bool {
		for _, ev := range col.snapshot() {
			if ev.Kind == event.ChildEstablished && ev.Src == server && ev.Dst == ca {
				return true
			}
		}
		return false
	}

	before := connectAndAccept()
	if childOf(before) {
		t.Errorf("child_established for %s → %s passed the pid filter before its port was followed", before, server)
	}
	if err := tr.FollowServerPort(port); err != nil {
		t.Fatal(err)
	}
	after := connectAndAccept()
	if _, ok := waitFor(col, 5*time.Second, func([]event.Kernel) (bool, bool) { return true, childOf(after) }); !ok {
		t.Errorf("no child_established for %s → %s after FollowServerPort(%d):\n%s", after, server, port, render(col.snapshot()))
	}
}

// rawListener listens on sa (backlog 4) in namespace ns with a socket of
// sa's family, after setup(fd) when setup is not nil, and closes it at the
// end of the test. It returns the listening descriptor.
func rawListener(t *testing.T, ns netns, sa unix.Sockaddr, setup func(fd int) error) int {
	t.Helper()
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	var lfd int
	if err := ns.do(func() (err error) {
		lfd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if setup != nil {
			if err := setup(lfd); err != nil {
				unix.Close(lfd)
				return err
			}
		}
		if err := unix.Bind(lfd, sa); err != nil {
			unix.Close(lfd)
			return err
		}
		return unix.Listen(lfd, 4)
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(lfd) })
	return lfd
}
