package bpf

// Test helpers: a two-namespace lab (client and server joined by a veth,
// documentation addresses only), running code inside a namespace, and a
// collector of tracer events.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

// requireEBPF skips the test unless the tracer can load here, with the exact
// reason (missing capability, BTF, bpf()).
func requireEBPF(t testing.TB) {
	t.Helper()
	if err := CheckSupport(); err != nil {
		t.Skipf("needs eBPF: %v", err)
	}
}

// requireTools skips unless the commands are installed.
func requireTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("needs %s in PATH (Debian: apt-get install %s)", n, debianPackage(n))
		}
	}
}

func debianPackage(cmd string) string {
	switch cmd {
	case "ip":
		return "iproute2"
	case "nft":
		return "nftables"
	case "getent":
		return "libc-bin"
	}
	return cmd
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netns is a named network namespace (ip netns).
type netns string

func (ns netns) path() string { return "/run/netns/" + string(ns) }

// do runs f on an OS thread that entered the namespace. Sockets f creates
// belong to the namespace and may be used from any goroutine afterwards. The
// thread is discarded when f returns (it is never unlocked), so no other
// goroutine ever runs in the namespace by accident.
func (ns netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(ns.path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open %s: %w", ns.path(), err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// lab is a client namespace and a server namespace joined by a veth pair:
//
//	client csbpf0 192.0.2.1/24 2001:db8::1/64 <-> csbpf1 192.0.2.2/24 2001:db8::2/64 server
//
// The server namespace drops TCP port 9 and rejects TCP port 10 with ICMP
// port unreachable (nftables).
type lab struct {
	client, server netns
}

const (
	clientV4 = "192.0.2.1"
	serverV4 = "192.0.2.2"
	clientV6 = "2001:db8::1"
	serverV6 = "2001:db8::2"

	portListening = 3306
	portClosed    = 11
	portDropped   = 9
	portRejected  = 10
)

const labRules = `table inet csbpf {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 9 drop
		tcp dport 10 reject with icmpx type port-unreachable
	}
}
`

// dialServer connects from the client namespace to serverV4:port (the
// connection closes when t ends) and returns the client's address.
func (l *lab) dialServer(t testing.TB, port uint16) netip.AddrPort {
	t.Helper()
	var client net.Conn
	if err := l.client.do(func() (err error) {
		client, err = net.DialTimeout("tcp", net.JoinHostPort(serverV4, fmt.Sprint(port)), 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return netip.MustParseAddrPort(client.LocalAddr().String())
}

func newLab(t testing.TB) *lab {
	t.Helper()
	requireEBPF(t)
	requireTools(t, "ip", "nft")
	id := fmt.Sprintf("csbpf-%d-%d", os.Getpid(), labSeq())
	l := &lab{client: netns(id + "-c"), server: netns(id + "-s")}
	for _, ns := range []netns{l.client, l.server} {
		addNetns(t, ns)
	}
	run(t, "ip", "link", "add", "csbpf0", "netns", string(l.client), "type", "veth", "peer", "name", "csbpf1", "netns", string(l.server))
	for _, c := range []struct {
		ns       netns
		dev      string
		v4, v6   string
		hostname string
	}{{l.client, "csbpf0", clientV4, clientV6, "client"}, {l.server, "csbpf1", serverV4, serverV6, "server"}} {
		run(t, "ip", "-n", string(c.ns), "addr", "add", c.v4+"/24", "dev", c.dev)
		run(t, "ip", "-n", string(c.ns), "addr", "add", c.v6+"/64", "dev", c.dev, "nodad")
		run(t, "ip", "-n", string(c.ns), "link", "set", c.dev, "up")
	}
	rules := t.TempDir() + "/rules.nft"
	if err := os.WriteFile(rules, []byte(labRules), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "exec", string(l.server), "nft", "-f", rules)
	l.warmUp(t)
	return l
}

// warmUp resolves the neighbours (ARP, NDP) both ways with a connect to the
// closed port, so the tests' first SYN is not delayed by address resolution
// on the freshly created link.
func (l *lab) warmUp(t testing.TB) {
	t.Helper()
	for _, dst := range []string{serverV4, serverV6} {
		addr := net.JoinHostPort(dst, strconv.Itoa(portClosed))
		err := l.client.do(func() error {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if !errors.Is(err, unix.ECONNREFUSED) {
			t.Fatalf("lab warm-up connect to %s: %v, want connection refused", addr, err)
		}
	}
}

// addNetns creates the namespace ns (named csbpf-PID-...) with its loopback
// up, and removes it when the test ends. A test process that was killed
// never ran its cleanups: the first call removes the namespaces such a
// process left (those whose PID no longer runs), or they pile up, one pair
// per interrupted run.
func addNetns(t testing.TB, ns netns) {
	t.Helper()
	staleOnce.Do(removeStaleNamespaces)
	run(t, "ip", "netns", "add", string(ns))
	t.Cleanup(func() { exec.Command("ip", "netns", "del", string(ns)).Run() })
	run(t, "ip", "-n", string(ns), "link", "set", "lo", "up")
}

var staleOnce sync.Once

// removeStaleNamespaces deletes the csbpf-PID-* namespaces of processes that
// no longer run. Best effort: what cannot be removed stays, and a test that
// then collides on a name fails with ip's message.
func removeStaleNamespaces() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		if pid, ok := namespaceOwner(e.Name()); ok && pid != os.Getpid() && unix.Kill(pid, 0) == unix.ESRCH {
			exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

// namespaceOwner is the PID in a test namespace's name "csbpf-PID-...".
func namespaceOwner(name string) (pid int, ok bool) {
	rest, found := strings.CutPrefix(name, "csbpf-")
	if !found {
		return 0, false
	}
	digits, _, found := strings.Cut(rest, "-")
	if !found {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

var (
	labMu sync.Mutex
	labN  int
)

func labSeq() int {
	labMu.Lock()
	defer labMu.Unlock()
	labN++
	return labN
}

// collector reads a tracer's events in the background.
type collector struct {
	mu     sync.Mutex
	events []event.Kernel
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func collect(tr *Tracer) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			ev, err := tr.Next(ctx)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					c.mu.Lock()
					c.err = err
					c.mu.Unlock()
				}
				return
			}
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) stop() {
	c.cancel()
	<-c.done
}

func (c *collector) snapshot() []event.Kernel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.Kernel(nil), c.events...)
}

// waitFor polls until match returns a non-nil result or the timeout passes.
func waitFor[T any](c *collector, timeout time.Duration, match func([]event.Kernel) (T, bool)) (T, bool) {
	deadline := time.Now().Add(timeout)
	for {
		v, ok := match(c.snapshot())
		if ok || time.Now().After(deadline) {
			return v, ok
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var stateNames = map[uint8]string{
	event.TCPEstablished: "ESTABLISHED", event.TCPSynSent: "SYN_SENT", event.TCPSynRecv: "SYN_RECV",
	event.TCPFinWait1: "FIN_WAIT1", event.TCPFinWait2: "FIN_WAIT2", event.TCPTimeWait: "TIME_WAIT",
	event.TCPClose: "CLOSE", event.TCPCloseWait: "CLOSE_WAIT", event.TCPLastAck: "LAST_ACK",
	event.TCPListen: "LISTEN", event.TCPClosing: "CLOSING",
}

// describe renders an event for sequence comparison, without the fields
// that vary between runs.
func describe(ev event.Kernel) string {
	switch ev.Kind {
	case event.ConnectCall:
		if ev.Ret == 0 {
			return "connect 0"
		}
		return "connect -" + unix.ErrnoName(unix.Errno(-ev.Ret))
	case event.StateChange:
		return "state " + stateNames[ev.OldState] + ">" + stateNames[ev.NewState]
	case event.Retransmit:
		return "retransmit " + stateNames[ev.State]
	case event.ResetReceived:
		return "reset " + stateNames[ev.State]
	case event.SocketError:
		return "sock_error " + unix.ErrnoName(unix.Errno(ev.Errno))
	}
	return ev.Kind.String()
}
