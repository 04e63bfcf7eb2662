package live

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/analyze"
)

// freePort returns a TCP port of 127.0.0.1 that nothing listens on and
// that the kernel does not give out on its own: below the ephemeral range
// (ip_local_port_range), so no other test's listener on port 0 or connect
// takes it while this test connects there (CI once saw a connect to such a
// "closed" port accepted, packages' tests running side by side).
func freePort(t *testing.T) int {
	t.Helper()
	lo := localPortRange("")[0]
	if lo == 0 {
		lo = 32768 // Linux's default
	}
	lowPorts.Lock()
	defer lowPorts.Unlock()
	if lowPorts.next == 0 {
		lowPorts.next = lo/2 + os.Getpid()%(lo/4)
	}
	for tries := 0; tries < lo/2; tries++ {
		p := lowPorts.next
		if lowPorts.next++; lowPorts.next >= lo {
			lowPorts.next = lo / 2
		}
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatalf("no free TCP port on 127.0.0.1 between %d and %d", lo/2, lo)
	return 0
}

// lowPorts is where freePort looks next: each call gives another port.
var lowPorts struct {
	sync.Mutex
	next int
}

// TestPortReuseEachConnectOnce traces this process while it connects to a
// closed port again and again from one client port: a refused connect
// leaves no TIME_WAIT, so each next connect reuses the 5-tuple within
// microseconds, closer together than the skew between the packets' clock
// and the delivery of kernel events. Each connect must be reported exactly
// once, with its SYN and its socket's kernel events (the socket is paired
// with its SYN by the ISN, not by time). The port is either bound before
// connect() (SYN_SENT shows it), or the only ephemeral port of a network
// namespace (ip_local_port_range "40000 40000": the kernel chooses it after
// SYN_SENT, as for every connect of an unbound socket).
func TestPortReuseEachConnectOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live tracing needs root (eBPF and packet capture)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2) for a network namespace")
	}
	const n = 300 // connects per worker
	for _, tc := range []struct {
		name    string
		netns   bool // connect from a namespace whose only ephemeral port is 40000; else bind a port
		workers int
	}{
		{name: "bound port", workers: 1},
		{name: "one ephemeral port", netns: true, workers: 1},
		{name: "one ephemeral port, 8 workers", netns: true, workers: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, client := "", 0
			if tc.netns {
				ns = fmt.Sprintf("csisn-%d", os.Getpid())
				exec.Command("ip", "netns", "del", ns).Run() // an interrupted run's
				for _, args := range [][]string{{"netns", "add", ns}, {"-n", ns, "link", "set", "lo", "up"}} {
					if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
						t.Fatalf("ip %v: %v\n%s", args, err, out)
					}
				}
				t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
				client = 40000
				if err := inNetns(ns, func() error {
					return os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("40000 40000"), 0o644)
				}); err != nil {
					t.Fatalf("one ephemeral port in %s: %v", ns, err)
				}
			} else {
				client = freePort(t)
			}

			var mu sync.Mutex
			var connects []*analyze.Connect
			s, err := Start(Options{NetNS: ns, FilterPIDs: true, Notice: func(n string) { t.Logf("notice: %s", n) },
				OnConnect: func(c *analyze.Connect) { mu.Lock(); connects = append(connects, c); mu.Unlock() }})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer s.Close()
			if !s.HasKernelEvents() || !s.HasPackets() {
				t.Skipf("needs both sources: %s", s.Describe())
			}
			if err := s.AddPID(os.Getpid()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var sum analyze.Summary
			var runErr error
			done := make(chan struct{})
			go func() { defer close(done); sum, runErr = s.Run(ctx) }()
			time.Sleep(200 * time.Millisecond) // the sources are reading

			// Each worker connects to its own closed port (one 5-tuple
			// each, reused by every connect of the worker); workers run
			// at once, so that kernel events and packets interleave.
			servers := make([]int, tc.workers)
			for i := range servers {
				servers[i] = freePort(t) // nothing listens there (in ns neither)
			}
			var made atomic.Int64
			errs := make(chan error, tc.workers)
			for w := range tc.workers {
				go func() {
					errs <- inNetns(ns, func() error {
						dst := &unix.SockaddrInet4{Port: servers[w], Addr: [4]byte{127, 0, 0, 1}}
						src := &unix.SockaddrInet4{Port: client, Addr: [4]byte{127, 0, 0, 1}}
						for i := 0; i < n; i++ {
							fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
							if err != nil {
								return err
							}
							if !tc.netns {
								unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
								if err := unix.Bind(fd, src); err != nil {
									unix.Close(fd)
									return fmt.Errorf("bind 127.0.0.1:%d (connect %d): %w", client, i+1, err)
								}
							}
							err = unix.Connect(fd, dst)
							unix.Close(fd)
							if !errors.Is(err, unix.ECONNREFUSED) {
								return fmt.Errorf("connect %d to the closed port %d: %v, want ECONNREFUSED", i+1, servers[w], err)
							}
							made.Add(1)
						}
						return nil
					})
				}()
			}
			var loopErr error
			for range tc.workers {
				if err := <-errs; err != nil && loopErr == nil {
					loopErr = err
				}
			}
			cancel()
			<-done
			if loopErr != nil {
				t.Fatal(loopErr)
			}
			if runErr != nil {
				t.Fatalf("trace: %v", runErr)
			}
			if sum.LostEvidence() {
				t.Skipf("the trace lost evidence (a loaded machine): kernel drops %d, ring buffer lost %d, late %d", sum.KernelDrops, sum.RingBufferLost, sum.LateEvents)
			}
			mu.Lock()
			defer mu.Unlock()
			want := map[string]bool{}
			for _, port := range servers {
				want[fmt.Sprintf("127.0.0.1:%d", port)] = true
			}
			var attempts []*analyze.Attempt
			for _, c := range connects {
				for _, a := range c.Attempts {
					if want[a.Server] {
						attempts = append(attempts, a)
					}
				}
			}
			bad := 0
			for _, a := range attempts {
				n := map[analyze.EventKind]int{}
				var returns []string // connect()'s returns: errnos in order
				for _, ev := range a.Events {
					n[ev.Kind]++
					if ev.Kind == analyze.EvKernelConnect {
						returns = append(returns, ev.Errno)
					}
				}
				ok := a.Client == fmt.Sprintf("127.0.0.1:%d", client) && a.Outcome == analyze.Refused && a.SYNCount == 1 &&
					a.PID == uint32(os.Getpid()) && n[analyze.EvSYN] == 1 && n[analyze.EvRST] == 1 && oneConnectReturn(returns, "ECONNREFUSED")
				if !ok {
					bad++
					if bad <= 5 {
						t.Errorf("attempt from %s %s pid %d syns %d events %v, connect() returned %v: want one connect's SYN, RST and connect() return", a.Client, a.Outcome, a.PID, a.SYNCount, n, returns)
					}
				}
			}
			if int64(len(attempts)) != made.Load() || bad > 0 {
				t.Errorf("%d connects made, %d attempts reported, %d of them not exactly one connect", made.Load(), len(attempts), bad)
			}
		})
	}
}

// oneConnectReturn says whether returns (the errnos of an attempt's
// connect() returns, in order) are one connect() call's: the return the
// application saw (want) last, after only returns of the same call that a
// signal interrupted and the kernel restarted. On a loaded machine
// connect() may sleep until the RST is processed (by ksoftirqd), and a
// signal (Go preempts goroutines with SIGURG) ends that sleep: the exit
// tracepoint sees -ERESTARTSYS, then the restarted call's ECONNREFUSED,
// both of the same socket (the engine shows both, kernel.go). Two
// sockets' returns on one attempt are two of want.
func oneConnectReturn(returns []string, want string) bool {
	if len(returns) == 0 || returns[len(returns)-1] != want {
		return false
	}
	for _, r := range returns[:len(returns)-1] {
		switch r {
		case "ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND", "ERESTART_RESTARTBLOCK":
		default:
			return false
		}
	}
	return true
}

// TestOneConnectReturn: an interrupted and restarted connect() is one
// call; two sockets' returns on one attempt, or none, are not.
func TestOneConnectReturn(t *testing.T) {
	for _, tc := range []struct {
		returns []string
		want    bool
	}{
		{[]string{"ECONNREFUSED"}, true},
		{[]string{"ERESTARTSYS", "ECONNREFUSED"}, true},
		{[]string{"ERESTARTSYS", "ERESTARTSYS", "ECONNREFUSED"}, true},
		{nil, false},
		{[]string{"ECONNREFUSED", "ECONNREFUSED"}, false}, // two connects' returns
		{[]string{"ECONNREFUSED", "ERESTARTSYS"}, false},  // a restart after the call returned
		{[]string{"ERESTARTSYS"}, false},                  // the restarted call's return missing
		{[]string{"EINTR", "ECONNREFUSED"}, false},        // EINTR reaches the application: another call
	} {
		if got := oneConnectReturn(tc.returns, "ECONNREFUSED"); got != tc.want {
			t.Errorf("oneConnectReturn(%q) = %v, want %v", tc.returns, got, tc.want)
		}
	}
}
