package bpf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

func openTracer(t *testing.T, opts Options) (*Tracer, *collector) {
	t.Helper()
	tr, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	if u := tr.Unavailable(); len(u) > 0 {
		t.Logf("unavailable: %s", strings.Join(u, "; "))
	}
	c := collect(tr)
	t.Cleanup(c.stop)
	return tr, c
}

// tcpClient is one connect() attempt made by the test.
type tcpClient struct {
	tid, fd       int
	comm          string
	connectErr    unix.Errno // connect()'s errno, 0 on success
	soError       unix.Errno // non-blocking: SO_ERROR once writable or after the wait
	before, after time.Time  // wall clock around the connect() call
}

// connectTCP makes one connect() from the namespace with raw syscalls, so
// the test knows the thread, fd and errno exactly. Blocking connects get
// SO_SNDTIMEO=wait (on expiry connect returns EINPROGRESS); non-blocking ones
// poll for up to wait. The socket is closed before returning.
func connectTCP(ns netns, dst netip.AddrPort, nonblocking bool, wait time.Duration) (tcpClient, error) {
	var c tcpClient
	err := ns.do(func() error {
		if err := c.identify(); err != nil {
			return err
		}
		family := unix.AF_INET6
		var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(dst.Port()), Addr: dst.Addr().As16()}
		if dst.Addr().Is4() {
			family = unix.AF_INET
			sa = &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
		}
		flags := unix.SOCK_STREAM | unix.SOCK_CLOEXEC
		if nonblocking {
			flags |= unix.SOCK_NONBLOCK
		}
		fd, err := unix.Socket(family, flags, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		c.fd = fd
		if !nonblocking {
			tv := unix.NsecToTimeval(wait.Nanoseconds())
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
				return err
			}
		}
		c.before = time.Now()
		err = unix.Connect(fd, sa)
		c.after = time.Now()
		if err != nil && !errors.As(err, &c.connectErr) {
			return err
		}
		if nonblocking && c.connectErr == unix.EINPROGRESS {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if _, err := unix.Poll(pfd, int(wait.Milliseconds())); err != nil {
				return err
			}
			n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				return err
			}
			c.soError = unix.Errno(n)
		}
		return nil
	})
	return c, err
}

// identify names c's thread: the calling one (locked to its OS thread by
// netns.do), as the tracer's events name it.
func (c *tcpClient) identify() error {
	c.tid = unix.Gettid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/comm", c.tid))
	if err != nil {
		return err
	}
	c.comm = strings.TrimSpace(string(comm))
	return nil
}

// serveTCP accepts on [::]:port in ns and holds each connection until the
// client closes it.
func serveTCP(t *testing.T, ns netns, port int) {
	t.Helper()
	var ln net.Listener
	if err := ns.do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf("[::]:%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
}

// attemptEvents returns the events of the socket a client's connect() used:
// found through the connect event (tid and fd), then by cookie; sorted by
// time, connect event included.
func attemptEvents(evs []event.Kernel, pid uint32, c tcpClient) []event.Kernel {
	var cookie uint64
	found := false
	for _, ev := range evs {
		if ev.Process.PID == pid && ev.Process.TID == uint32(c.tid) && ev.Process.FD == int32(c.fd) &&
			(ev.Kind == event.ConnectCall || ev.Kind == event.StateChange && ev.NewState == event.TCPSynSent) {
			cookie, found = ev.Cookie, true
			// the last attempt on this thread and fd wins (fds are reused)
		}
	}
	if !found {
		return nil
	}
	var out []event.Kernel
	for _, ev := range evs {
		if ev.Cookie == cookie {
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b event.Kernel) int { return a.Time.Compare(b.Time) })
	return out
}

func TestTCPConnectSequences(t *testing.T) {
	l := newLab(t)
	serveTCP(t, l.server, portListening)
	pid := uint32(os.Getpid())
	tr, col := openTracer(t, Options{PIDs: []uint32{pid}})
	_, bound := tr.Clock()

	v4 := netip.MustParseAddr(serverV4)
	v6 := netip.MustParseAddr(serverV6)
	// Timing: the first SYN retransmit comes after the initial RTO of 1 s,
	// the second 2 s later. Clients facing a silent port give up between
	// the two, at 2.5 s: a retransmit timer late by 1.5 s on a loaded
	// machine still fires first. Clients whose connect ends by itself (the
	// rejected ones after that retransmit's ICMP error) wait up to 5 s,
	// which costs nothing when all is well.
	const (
		giveUp  = 2500 * time.Millisecond
		endsYet = 5 * time.Second
	)

	cases := []struct {
		name        string
		dst         netip.AddrPort
		nonblocking bool
		wantErr     unix.Errno // connect()
		wantSoError unix.Errno // non-blocking: SO_ERROR after poll
		// want bounds how often each kind of socket event (the connect
		// call aside) occurs; a kind not listed must not occur. With open,
		// only the events up to ESTABLISHED are checked: the client's
		// close follows. checkSocketEvents adds the order the analysis
		// relies on.
		want map[string]count
		open bool
	}{
		{
			name: "listening/blocking/v4", dst: netip.AddrPortFrom(v4, portListening),
			want: map[string]count{bindSeen: once, "state SYN_SENT>ESTABLISHED": once}, open: true,
		},
		{
			name: "listening/nonblocking/v6", dst: netip.AddrPortFrom(v6, portListening), nonblocking: true,
			wantErr: unix.EINPROGRESS,
			want:    map[string]count{bindSeen: once, "state SYN_SENT>ESTABLISHED": once}, open: true,
		},
		{
			// an AF_INET6 socket to an IPv4-mapped address: IPv4 on the wire
			name: "listening/blocking/v4-mapped", dst: netip.AddrPortFrom(netip.AddrFrom16(v4.As16()), portListening),
			want: map[string]count{bindSeen: once, "state SYN_SENT>ESTABLISHED": once}, open: true,
		},
		{
			name: "closed/blocking/v4", dst: netip.AddrPortFrom(v4, portClosed),
			wantErr: unix.ECONNREFUSED,
			want:    map[string]count{bindSeen: once, "reset SYN_SENT": once, closeSeen: once, refusedSeen: atLeastOnce},
		},
		{
			name: "closed/nonblocking/v6", dst: netip.AddrPortFrom(v6, portClosed), nonblocking: true,
			wantErr: unix.EINPROGRESS, wantSoError: unix.ECONNREFUSED,
			want: map[string]count{bindSeen: once, "reset SYN_SENT": once, closeSeen: once, refusedSeen: atLeastOnce},
		},
		{
			// SO_SNDTIMEO expires: connect returns EINPROGRESS, the
			// client closes the still SYN_SENT socket.
			name: "dropped/blocking/v4", dst: netip.AddrPortFrom(v4, portDropped),
			wantErr: unix.EINPROGRESS,
			want:    map[string]count{bindSeen: once, retransmitSeen: atLeastOnce, closeSeen: once},
		},
		{
			name: "dropped/nonblocking/v6", dst: netip.AddrPortFrom(v6, portDropped), nonblocking: true,
			wantErr: unix.EINPROGRESS,
			want:    map[string]count{bindSeen: once, retransmitSeen: atLeastOnce, closeSeen: once},
		},
		{
			// ICMP port unreachable for a TCP SYN: ECONNREFUSED, no RST.
			// Over the lab's veth the ICMP arrives within the connect()
			// call, while it still holds the socket lock: Linux then only
			// records a soft error (tcp_v4_err), retransmits the SYN after
			// 1 s and aborts on the second ICMP. With any real RTT the
			// first ICMP aborts at once: the retransmit is optional. The
			// abort reports the error once or twice (6.18 reports it both
			// before and after SYN_SENT>CLOSE): at least once.
			name: "rejected/blocking/v4", dst: netip.AddrPortFrom(v4, portRejected),
			wantErr: unix.ECONNREFUSED,
			want:    map[string]count{bindSeen: once, retransmitSeen: anyNumber, closeSeen: once, refusedSeen: atLeastOnce},
		},
		{
			name: "rejected/nonblocking/v6", dst: netip.AddrPortFrom(v6, portRejected), nonblocking: true,
			wantErr: unix.EINPROGRESS, wantSoError: unix.ECONNREFUSED,
			want: map[string]count{bindSeen: once, retransmitSeen: anyNumber, closeSeen: once, refusedSeen: atLeastOnce},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wait := endsYet
			if tc.dst.Port() == portDropped {
				wait = giveUp
			}
			c, err := connectTCP(l.client, tc.dst, tc.nonblocking, wait)
			if err != nil {
				t.Fatal(err)
			}
			if c.connectErr != tc.wantErr || c.soError != tc.wantSoError {
				t.Fatalf("client saw connect()=%v SO_ERROR=%v, the case expects %v and %v (lab broken?)",
					errnoStr(c.connectErr), errnoStr(c.soError), errnoStr(tc.wantErr), errnoStr(tc.wantSoError))
			}
			// Wait for the connect event and every kind the case requires
			// (connect() may return, woken by the CLOSE, before the socket
			// error is reported), then until the socket's events stop.
			evs, ok := waitSocket(col, pid, c, 3*time.Second, func(evs []event.Kernel) bool {
				return hasConnectCall(evs) && minimaMet(checked(evs, tc.open), tc.want)
			})
			if !ok {
				t.Fatalf("incomplete events within 3 s: want the connect call and %s; have:\n%s", fmtCounts(tc.want), render(evs))
			}
			defer func() {
				if t.Failed() {
					t.Logf("want %s (open=%v); all events of the socket:\n%s", fmtCounts(tc.want), tc.open, render(evs))
				}
			}()
			var call event.Kernel
			for _, ev := range evs {
				if ev.Kind == event.ConnectCall {
					call = ev
				}
			}
			for _, problem := range checkSocketEvents(checked(evs, tc.open), tc.want) {
				t.Errorf("%s", problem)
			}
			if want := -int32(tc.wantErr); call.Ret != want {
				t.Errorf("connect event Ret = %d, want %d", call.Ret, want)
			}

			family := uint16(event.FamilyInet)
			if tc.dst.Addr().Is6() {
				family = event.FamilyInet6
			}
			wantDst := netip.AddrPortFrom(tc.dst.Addr().Unmap(), tc.dst.Port())
			var src netip.AddrPort
			for _, ev := range evs {
				p := ev.Process
				if p.PID != pid || p.TID != uint32(c.tid) || p.FD != int32(c.fd) || p.Comm != c.comm {
					t.Errorf("%s: process %+v, want pid %d tid %d fd %d comm %q", describe(ev), p, pid, c.tid, c.fd, c.comm)
				}
				if ev.Family != family || ev.SockType != event.SockStream || ev.Dst != wantDst {
					t.Errorf("%s: family %d type %d dst %v, want %d %d %v", describe(ev), ev.Family, ev.SockType, ev.Dst, family, event.SockStream, wantDst)
				}
				// the SYN_SENT binding runs before the port is chosen
				if ev.Src.Port() == 0 && !(ev.Kind == event.StateChange && ev.NewState == event.TCPSynSent) {
					t.Errorf("%s: no source port", describe(ev))
				}
				if ev.Src.Port() != 0 {
					if src.IsValid() && ev.Src != src {
						t.Errorf("%s: source %v, earlier events had %v", describe(ev), ev.Src, src)
					}
					src = ev.Src
				}
			}
			if want := clientV4; wantDst.Addr().Is6() && src.Addr().String() != clientV6 {
				t.Errorf("source address %v, want %s", src.Addr(), clientV6)
			} else if wantDst.Addr().Is4() && src.Addr().String() != want {
				t.Errorf("source address %v, want %s", src.Addr(), want)
			}

			// One clock: the connect call's kernel timestamps fall within
			// the wall-clock readings the test took around connect().
			slack := bound + time.Microsecond
			if call.Entered.Before(c.before.Add(-slack)) || call.Time.After(c.after.Add(slack)) || call.Time.Before(call.Entered) {
				t.Errorf("connect entered %s returned %s; test saw it between %s and %s (bound %v)",
					call.Entered.Format(time.StampNano), call.Time.Format(time.StampNano),
					c.before.Format(time.StampNano), c.after.Format(time.StampNano), bound)
			}
		})
	}
	if s := tr.Stats(); s.RingBufferLost != 0 || s.Malformed != 0 {
		t.Errorf("stats %+v: lost or malformed events", s)
	}
}

func errnoStr(e unix.Errno) string {
	if e == 0 {
		return "0"
	}
	return unix.ErrnoName(e)
}

func render(evs []event.Kernel) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %-28s pid=%d tid=%d fd=%d comm=%s cookie=%d %v->%v %s\n",
			ev.Time.Format("15:04:05.000000000"), describe(ev), ev.Process.PID, ev.Process.TID, ev.Process.FD,
			ev.Process.Comm, ev.Cookie, ev.Src, ev.Dst, ev.UnixPath)
	}
	return b.String()
}

func TestUnixConnects(t *testing.T) {
	requireEBPF(t)
	pid := uint32(os.Getpid())
	_, col := openTracer(t, Options{PIDs: []uint32{pid}, FollowChildren: true})

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // let nobody reach the socket files
		t.Fatal(err)
	}
	present := filepath.Join(dir, "present.sock")
	ln, err := net.Listen("unix", present)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	forbidden := filepath.Join(dir, "forbidden.sock")
	ln2, err := net.Listen("unix", forbidden)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if err := os.Chmod(forbidden, 0o600); err != nil { // connect needs write permission
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "stale.sock")
	makeStaleSocket(t, stale)
	abstract := fmt.Sprintf("@csbpf-%d", pid)
	ln3, err := net.Listen("unix", abstract)
	if err != nil {
		t.Fatal(err)
	}
	defer ln3.Close()

	cases := []struct {
		name, path string
		nobody     bool // connect as uid 65534 from a child process
		want       unix.Errno
	}{
		{"present", present, false, 0},
		{"missing", filepath.Join(dir, "missing.sock"), false, unix.ENOENT},
		{"permission_denied", forbidden, true, unix.EACCES},
		{"stale", stale, false, unix.ECONNREFUSED},
		{"abstract", abstract, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := helperCommand("unix-connect", tc.path)
			if tc.nobody {
				asNobody(t, cmd)
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			var childPID, fd int
			var errno string
			if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "pid=%d fd=%d errno=%s", &childPID, &fd, &errno); err != nil {
				t.Fatalf("helper output %q: %v", out, err)
			}
			if errno != errnoStr(tc.want) {
				t.Fatalf("helper's connect() failed with %s, the case expects %s (setup broken?)", errno, errnoStr(tc.want))
			}
			ev, ok := waitFor(col, 2*time.Second, func(all []event.Kernel) (event.Kernel, bool) {
				for _, ev := range all {
					if ev.Kind == event.ConnectCall && ev.Process.PID == uint32(childPID) {
						return ev, true
					}
				}
				return event.Kernel{}, false
			})
			if !ok {
				t.Fatalf("no connect event from child pid %d (followed across fork?)", childPID)
			}
			if ev.Family != event.FamilyUnix || ev.SockType != event.SockStream || ev.UnixPath != tc.path ||
				ev.Ret != -int32(tc.want) || ev.Process.FD != int32(fd) || ev.Process.Comm != "bpf.test" ||
				ev.Dst.IsValid() || ev.Cookie == 0 {
				t.Errorf("event %s family=%d type=%d path=%q fd=%d comm=%q dst=%v cookie=%d; want unix stream %q ret %s fd %d comm bpf.test",
					describe(ev), ev.Family, ev.SockType, ev.UnixPath, ev.Process.FD, ev.Process.Comm, ev.Dst, ev.Cookie,
					tc.path, errnoStr(tc.want), fd)
			}
		})
	}
}

// makeStaleSocket leaves a socket file nobody listens on (a server that died
// without removing it): connect() gets ECONNREFUSED.
func makeStaleSocket(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
}

func TestFilters(t *testing.T) {
	l := newLab(t)
	serveTCP(t, l.server, portListening)
	serveTCP(t, l.server, portListening+1)
	pid := uint32(os.Getpid())
	_, col := openTracer(t, Options{PIDs: []uint32{pid}, Ports: []uint16{portListening}})

	wanted, err := connectTCP(l.client, netip.AddrPortFrom(netip.MustParseAddr(serverV4), portListening), false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	otherPort, err := connectTCP(l.client, netip.AddrPortFrom(netip.MustParseAddr(serverV4), portListening+1), false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A child is another process: not traced without FollowChildren.
	var child string
	if err := l.client.do(func() error {
		out, err := helperCommand("tcp-connect", net.JoinHostPort(serverV4, strconv.Itoa(portListening))).CombinedOutput()
		child = string(out)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitFor(col, 2*time.Second, func(all []event.Kernel) ([]event.Kernel, bool) {
		evs := attemptEvents(all, pid, wanted)
		return evs, slices.ContainsFunc(evs, func(e event.Kernel) bool { return e.Kind == event.ConnectCall })
	}); !ok {
		t.Fatalf("no events for the connect to the target port")
	}
	time.Sleep(200 * time.Millisecond) // let stray events arrive
	for _, ev := range col.snapshot() {
		if ev.Dst.Port() == portListening+1 {
			t.Errorf("event for port %d passed the port filter: %s", portListening+1, render([]event.Kernel{ev}))
		}
		if ev.Kind == event.PacketDrop || ev.Kind == event.ChildEstablished {
			// Drops and server-side handshakes are not process events:
			// with a port filter they pass by port (checked above),
			// whoever's they are.
			continue
		}
		if ev.Process.PID != pid {
			t.Errorf("event of pid %d passed the pid filter (child said %q): %s", ev.Process.PID, child, render([]event.Kernel{ev}))
		}
	}
	_ = otherPort
}

func TestFollowChildren(t *testing.T) {
	l := newLab(t)
	serveTCP(t, l.server, portListening)
	// Trace nothing at first; add this process the way `run -- CMD` adds
	// its command.
	tr, col := openTracer(t, Options{FilterPIDs: true, FollowChildren: true})
	if err := tr.AddPID(uint32(os.Getpid())); err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := l.client.do(func() (err error) {
		out, err = helperCommand("fork-tcp-connect", net.JoinHostPort(serverV4, strconv.Itoa(portListening))).CombinedOutput()
		return err
	}); err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	// "pid=CHILD child: pid=GRANDCHILD err=<nil> err=<nil>"
	var childPID, grandchildPID int
	if _, err := fmt.Sscanf(string(out), "pid=%d child: pid=%d", &childPID, &grandchildPID); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	ev, ok := waitFor(col, 2*time.Second, func(all []event.Kernel) (event.Kernel, bool) {
		for _, ev := range all {
			if ev.Kind == event.ConnectCall && ev.Process.PID == uint32(grandchildPID) {
				return ev, true
			}
		}
		return event.Kernel{}, false
	})
	if !ok {
		t.Fatalf("no connect event from the grandchild %d (child %d)", grandchildPID, childPID)
	}
	if ev.Ret != 0 && ev.Ret != -int32(unix.EINPROGRESS) {
		t.Errorf("grandchild connect: %s", describe(ev))
	}
}

func TestLostEventsCounted(t *testing.T) {
	requireEBPF(t)
	// A one-page ring buffer that nobody reads overflows quickly.
	tr, err := Open(Options{PIDs: []uint32{uint32(os.Getpid())}, RingBufferSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := 0; i < 100; i++ {
		net.Dial("unix", "/nonexistent/csbpf.sock")
	}
	s := tr.Stats()
	if s.RingBufferLost == 0 {
		t.Fatalf("stats %+v: 100 connects into a 1-page ring buffer lost nothing", s)
	}
	if s.Source != "ebpf" {
		t.Errorf("source %q", s.Source)
	}
}

func TestUnprivilegedErrorIsExact(t *testing.T) {
	requireEBPF(t) // as root, to start the helper as nobody
	out, err := asNobody(t, helperCommand("check-support", "")).CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	want := "eBPF not permitted: needs root or CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN); effective capabilities lack CAP_BPF+CAP_PERFMON (uid 65534)"
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] != want || lines[1] != "bpf: "+want {
		t.Errorf("unprivileged CheckSupport/Open said:\n%s\nwant:\n%s\nbpf: %s", out, want, want)
	}
}

// Programs that cannot load or attach are listed with the reason and the
// loss; the others keep working.
func TestPartialLoad(t *testing.T) {
	requireEBPF(t)
	pid := uint32(os.Getpid())
	tr, col := openTracer(t, Options{PIDs: []uint32{pid},
		breakPrograms: []string{tracerProgSysEnterConnect, tracerProgTcpRetransmitSkb}})
	u := tr.Unavailable()
	if len(u) != 2 ||
		!strings.HasPrefix(u[0], "tracepoint syscalls/sys_enter_connect: attach: ") ||
		!strings.HasSuffix(u[0], "; no connect() calls (errno, unix sockets, resolver connects)") ||
		!strings.HasPrefix(u[1], "tp_btf tcp_retransmit_skb: load: ") ||
		!strings.HasSuffix(u[1], "; no SYN retransmits") {
		t.Fatalf("Unavailable() = %q", u)
	}
	for _, line := range u {
		if strings.Contains(line, "\n") {
			t.Errorf("not one line: %q", line)
		}
	}
	// Without sys_enter_connect the socket is still bound at SYN_SENT
	// (fd unknown) and its fate reported.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	dst := netip.MustParseAddrPort(ln.Addr().String())
	if _, ok := waitFor(col, 2*time.Second, func(all []event.Kernel) (event.Kernel, bool) {
		for _, ev := range all {
			if ev.Kind == event.StateChange && ev.NewState == event.TCPEstablished && ev.Dst == dst &&
				ev.Process.PID == pid && ev.Process.FD == -1 {
				return ev, true
			}
		}
		return event.Kernel{}, false
	}); !ok {
		t.Fatalf("no ESTABLISHED event for %v from the programs that loaded:\n%s", dst, render(col.snapshot()))
	}
}

func TestNextStops(t *testing.T) {
	requireEBPF(t)
	tr, err := Open(Options{FilterPIDs: true}) // traces nothing: Next blocks
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context: %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := tr.Next(ctx); errc <- err }()
	time.Sleep(3 * pollInterval)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after its context was cancelled")
	}

	go func() { _, err := tr.Next(context.Background()); errc <- err }()
	time.Sleep(3 * pollInterval)
	tr.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after Close")
	}
	if _, err := tr.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next on a closed tracer: %v", err)
	}
}

// Failures that never reach the wire: no route (connect fails before the
// socket leaves CLOSE) and no free local port (EADDRNOTAVAIL: the socket
// goes SYN_SENT and straight back to CLOSE while connect() picks a port).
func TestFailuresWithoutPackets(t *testing.T) {
	l := newLab(t)
	serveTCP(t, l.server, portListening)
	// One ephemeral port: the second connection to the same server port
	// finds none free.
	run(t, "ip", "netns", "exec", string(l.client), "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=40000 40000")
	pid := uint32(os.Getpid())
	_, col := openTracer(t, Options{PIDs: []uint32{pid}})

	// Everything happens inside connect(), in the test's thread: once the
	// connect event is in, the others are; waitSocket then waits for
	// anything unexpected a little longer.
	connectOnly := func(t *testing.T, c tcpClient) []event.Kernel {
		t.Helper()
		evs, ok := waitSocket(col, pid, c, 2*time.Second, hasConnectCall)
		if !ok {
			t.Fatalf("no connect event for tid %d fd %d; have:\n%s", c.tid, c.fd, render(evs))
		}
		return evs
	}

	t.Run("no_route", func(t *testing.T) {
		// 198.51.100.0/24 (TEST-NET-2) has no route in the lab: nothing is sent.
		c, err := connectTCP(l.client, netip.MustParseAddrPort("198.51.100.7:3306"), false, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if c.connectErr != unix.ENETUNREACH {
			t.Fatalf("connect: %v, want ENETUNREACH (lab broken?)", errnoStr(c.connectErr))
		}
		evs := connectOnly(t, c)
		if len(evs) != 1 || describe(evs[0]) != "connect -ENETUNREACH" || evs[0].Dst.String() != "198.51.100.7:3306" {
			t.Errorf("events:\n%s\nwant only connect -ENETUNREACH to 198.51.100.7:3306", render(evs))
		}
	})

	t.Run("no_local_port", func(t *testing.T) {
		dst := netip.AddrPortFrom(netip.MustParseAddr(serverV4), portListening)
		var holder net.Conn
		if err := l.client.do(func() (err error) {
			holder, err = net.Dial("tcp", dst.String())
			return err
		}); err != nil {
			t.Fatalf("first connection: %v", err)
		}
		defer holder.Close()
		c, err := connectTCP(l.client, dst, false, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if c.connectErr != unix.EADDRNOTAVAIL {
			t.Fatalf("second connect: %v, want EADDRNOTAVAIL (lab broken?)", errnoStr(c.connectErr))
		}
		evs := connectOnly(t, c)
		// tcp_v4_connect moves the socket to SYN_SENT, finds no port and
		// moves it back to CLOSE before connect() returns: that order is
		// causal (one thread), the analysis reads EADDRNOTAVAIL from it.
		want := map[string]count{bindSeen: once, closeSeen: once, "connect -EADDRNOTAVAIL": once}
		problems := checkSocketEvents(evs, want)
		if last := evs[len(evs)-1]; last.Kind != event.ConnectCall {
			problems = append(problems, fmt.Sprintf("last event %s, want connect()'s return", describe(last)))
		}
		for _, p := range problems {
			t.Errorf("%s", p)
		}
		if len(problems) > 0 {
			t.Logf("want %s; events:\n%s", fmtCounts(want), render(evs))
		}
	})
}
