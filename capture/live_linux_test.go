package capture

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	ebpfasm "github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

// testNet is two network namespaces joined by a veth pair; the capture runs
// in a, traffic comes from b. Nothing leaves the namespaces.
type testNet struct {
	a, b         string // namespace names (cscap-…)
	vethA, vethB string
	a4, b4       netip.Addr
	a6, b6       netip.Addr
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (CAP_NET_RAW for the socket, CAP_NET_ADMIN and CAP_SYS_ADMIN for the test's network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the live test needs iproute2's ip to build its network namespaces")
	}
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	id := os.Getpid() % 100000
	n := &testNet{
		a: fmt.Sprintf("cscap-%d-a", id), b: fmt.Sprintf("cscap-%d-b", id),
		vethA: fmt.Sprintf("cscap%da", id), vethB: fmt.Sprintf("cscap%db", id),
		a4: netip.MustParseAddr("10.251.0.1"), b4: netip.MustParseAddr("10.251.0.2"),
		a6: netip.MustParseAddr("fd00:251::1"), b6: netip.MustParseAddr("fd00:251::2"),
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", n.a).Run() // leftovers of an interrupted run
	exec.Command("ip", "netns", "del", n.b).Run()
	run("netns", "add", n.a)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.a).Run() })
	run("netns", "add", n.b)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.b).Run() })
	run("-n", n.a, "link", "add", n.vethA, "type", "veth", "peer", "name", n.vethB, "netns", n.b)
	for _, s := range []struct{ ns, dev, v4, v6 string }{
		{n.a, n.vethA, "10.251.0.1/24", "fd00:251::1/64"},
		{n.b, n.vethB, "10.251.0.2/24", "fd00:251::2/64"},
	} {
		run("-n", s.ns, "link", "set", "lo", "up")
		run("-n", s.ns, "addr", "add", s.v4, "dev", s.dev)
		run("-n", s.ns, "addr", "add", s.v6, "dev", s.dev, "nodad")
		run("-n", s.ns, "link", "set", s.dev, "up")
	}
	return n
}

// inNetns runs fn on a thread switched into the named network namespace:
// sockets fn creates belong to it for their whole life.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine if switching back fails
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/var/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

type seen struct {
	src, dst     netip.AddrPort
	proto, flags uint8
	payload      []byte
	payloadLen   int
	iface        int
	icmp         *event.ICMPError
	frame        []byte
	frameIface   string
}

func (s seen) String() string {
	return fmt.Sprintf("%v>%v p%d f%#x len %d/%d if %d", s.src, s.dst, s.proto, s.flags, len(s.payload), s.payloadLen, s.iface)
}

// collect reads l until it returns io.EOF.
func collect(t *testing.T, l *LiveReader) (<-chan []seen, <-chan time.Time) {
	out := make(chan []seen, 1)
	ended := make(chan time.Time, 1)
	go func() {
		var all []seen
		for {
			p, err := l.Next()
			if err != nil {
				ended <- time.Now()
				if err != io.EOF {
					t.Errorf("Next: %v", err)
				}
				out <- all
				return
			}
			s := seen{
				src: netip.AddrPortFrom(p.Src, p.SrcPort), dst: netip.AddrPortFrom(p.Dst, p.DstPort),
				proto: p.Proto, flags: p.TCPFlags, payload: append([]byte(nil), p.Payload...), payloadLen: p.PayloadLen,
				iface: p.Interface,
			}
			if p.ICMP != nil {
				c := *p.ICMP
				s.icmp = &c
			}
			if p.Frame != nil {
				s.frame = append([]byte(nil), p.Frame.Data...)
				s.frameIface = p.Frame.InterfaceName
			}
			all = append(all, s)
		}
	}()
	return out, ended
}

func TestLiveCaptureClassicFilter(t *testing.T) {
	requireRoot(t)
	n := newTestNet(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var l *LiveReader
	var lns []net.Listener
	var vethAIndex int
	inNetns(t, n.a, func() {
		var err error
		l, err = OpenLive(LiveOptions{Context: ctx, PayloadPorts: []uint16{3306}, KeepFrames: true})
		if err != nil {
			t.Error(err)
			return
		}
		for _, addr := range []string{"0.0.0.0:3306", "[::]:3306", "0.0.0.0:5001"} {
			network := "tcp4"
			if strings.HasPrefix(addr, "[") {
				network = "tcp6"
			}
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Error(err)
				return
			}
			lns = append(lns, ln)
		}
		if ifc, err := net.InterfaceByName(n.vethA); err == nil {
			vethAIndex = ifc.Index
		}
	})
	if t.Failed() {
		return
	}
	defer l.Close()
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	greeting := append([]byte("\x0a5.5.5-10.11.6-MariaDB-test\x00"), make([]byte, 2000)...)
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func(ln net.Listener) {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if strings.HasSuffix(ln.Addr().String(), ":3306") {
					c.Write(greeting)
					buf := make([]byte, 64)
					c.Read(buf)
				} else {
					io.Copy(io.Discard, c)
				}
				c.Close()
			}
		}(ln)
	}
	packets, ended := collect(t, l)
	time.Sleep(100 * time.Millisecond)

	// Traffic from b to a, and on a's loopback.
	dialAndLogin := func(addr string) {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Errorf("dial %s: %v", addr, err)
			return
		}
		buf := make([]byte, len(greeting))
		io.ReadFull(c, buf)
		c.Write([]byte("login-as-someone"))
		time.Sleep(20 * time.Millisecond)
		c.Close()
	}
	inNetns(t, n.b, func() {
		dialAndLogin(net.JoinHostPort(n.a4.String(), "3306"))
		dialAndLogin(net.JoinHostPort(n.a6.String(), "3306"))
		if c, err := net.Dial("tcp", net.JoinHostPort(n.a4.String(), "5001")); err == nil {
			c.Write(make([]byte, 200_000)) // bulk on a port that is not a payload port
			c.Close()
		} else {
			t.Error(err)
		}
		if _, err := net.DialTimeout("tcp", net.JoinHostPort(n.a4.String(), "3307"), time.Second); err == nil {
			t.Error("connect to a closed port succeeded")
		}
		for _, port := range []string{"53", "9999"} {
			if u, err := net.Dial("udp", net.JoinHostPort(n.a4.String(), port)); err == nil {
				u.Write([]byte("query"))
				time.Sleep(50 * time.Millisecond)
				u.Close()
			}
		}
	})
	inNetns(t, n.a, func() { dialAndLogin("127.0.0.1:3306") })
	time.Sleep(200 * time.Millisecond)
	cancel()
	start := time.Now()
	all := <-packets
	if d := (<-ended).Sub(start); d > time.Second {
		t.Errorf("Next took %v to return after the context was cancelled", d)
	}
	for _, ln := range lns {
		ln.Close()
	}
	wg.Wait()

	count := func(match func(s seen) bool) int {
		k := 0
		for _, s := range all {
			if match(s) {
				k++
			}
		}
		return k
	}
	a3306, b := netip.AddrPortFrom(n.a4, 3306), n.b4
	isSYN := func(s seen) bool {
		return s.proto == event.ProtoTCP && s.flags&(event.TCPSyn|event.TCPAck) == event.TCPSyn
	}
	checks := []struct {
		what string
		n    int
		op   string // "==" or ">="
	}{
		{"SYN b→a:3306 (once: no duplicates)", count(func(s seen) bool { return isSYN(s) && s.dst == a3306 && s.src.Addr() == b }), "==1"},
		{"SYN b→[a]:3306 over IPv6", count(func(s seen) bool { return isSYN(s) && s.dst == netip.AddrPortFrom(n.a6, 3306) }), "==1"},
		{"greeting from a:3306", count(func(s seen) bool {
			return s.src == a3306 && s.payloadLen > 0 && strings.Contains(string(s.payload), "MariaDB-test")
		}), ">=1"},
		{"login to a:3306", count(func(s seen) bool { return s.dst == a3306 && string(s.payload) == "login-as-someone" }), "==1"},
		{"payload on port 5001 (but with FIN)", count(func(s seen) bool {
			return (s.dst.Port() == 5001 || s.src.Port() == 5001) && s.payloadLen > 0 && s.flags&(event.TCPSyn|event.TCPFin|event.TCPRst) == 0
		}), "==0"},
		{"SYN/FIN on port 5001", count(func(s seen) bool { return s.dst.Port() == 5001 && s.flags&(event.TCPSyn|event.TCPFin) != 0 }), ">=2"},
		{"pure ACKs", count(func(s seen) bool {
			return s.proto == event.ProtoTCP && s.payloadLen == 0 && s.flags&(event.TCPSyn|event.TCPFin|event.TCPRst) == 0
		}), "==0"},
		{"RST from the closed port", count(func(s seen) bool { return s.src.Port() == 3307 && s.flags&event.TCPRst != 0 }), "==1"},
		{"DNS query", count(func(s seen) bool { return s.proto == event.ProtoUDP && s.dst.Port() == 53 }), "==1"},
		{"UDP to 9999", count(func(s seen) bool { return s.proto == event.ProtoUDP && s.dst.Port() == 9999 }), "==0"},
		{"ICMP port unreachable for 9999", count(func(s seen) bool {
			return s.icmp != nil && s.icmp.Type == 3 && s.icmp.Code == 3 && s.icmp.QuotedDstPort == 9999
		}), "==1"},
		{"SYN on a's loopback (once: the outgoing copy is dropped)", count(func(s seen) bool {
			return isSYN(s) && s.dst == netip.MustParseAddrPort("127.0.0.1:3306")
		}), "==1"},
		{"packets cut beyond the snap length", count(func(s seen) bool { return len(s.payload) > DefaultSnapLen-40 }), "==0"},
	}
	for _, c := range checks {
		want := 0
		fmt.Sscanf(c.op[2:], "%d", &want)
		ok := (c.op[:2] == "==" && c.n == want) || (c.op[:2] == ">=" && c.n >= want)
		if !ok {
			t.Errorf("%s: %d packets, want %s", c.what, c.n, c.op)
		}
	}
	for _, s := range all {
		if s.src.Addr() == b && s.iface != vethAIndex {
			t.Errorf("%v: interface %d, want %s's ifindex %d", s, s.iface, n.vethA, vethAIndex)
		}
		if s.frame == nil || len(s.frame) < sll2HeaderLen {
			t.Errorf("%v: no frame kept", s)
			continue
		}
		if s.src.Addr() == b && (s.frameIface != n.vethA || s.frame[10] != 0 /* PACKET_HOST */) {
			t.Errorf("%v: frame on %q, packet type %d", s, s.frameIface, s.frame[10])
		}
		if s.src.Addr() == n.a4 && s.dst.Addr() == b && s.frame[10] != packetOutgoing {
			t.Errorf("%v: sent by a but packet type %d", s, s.frame[10])
		}
	}
	st := l.Stats()
	if st.Packets < uint64(len(all)) || st.KernelDrops != 0 || st.Err != "" {
		t.Errorf("stats %+v with %d packets decoded", st, len(all))
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	if _, err := l.Next(); err != io.EOF {
		t.Errorf("Next after Close: %v", err)
	}
	t.Logf("%d packets decoded; stats %+v", len(all), st)
	if testing.Verbose() {
		for _, s := range all {
			t.Log(s)
		}
	}
}

// TestLiveCaptureEBPFFilter attaches an eBPF socket filter given by FD
// instead of the classic one.
func TestLiveCaptureEBPFFilter(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		name   string
		ret    int32
		expect bool // packets expected
	}{{"pass 96 bytes", 96, true}, {"drop all", 0, false}} {
		t.Run(c.name, func(t *testing.T) {
			prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
				Type:    ebpf.SocketFilter,
				License: "GPL",
				Instructions: ebpfasm.Instructions{
					ebpfasm.Mov.Imm(ebpfasm.R0, c.ret),
					ebpfasm.Return(),
				},
			})
			if err != nil {
				t.Skipf("cannot load an eBPF socket filter here: %v", err)
			}
			defer prog.Close()
			n := newTestNet(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var l *LiveReader
			var ln net.Listener
			inNetns(t, n.a, func() {
				var err error
				l, err = OpenLive(LiveOptions{Context: ctx, EBPFFilterFD: prog.FD(), Interface: n.vethA})
				if err != nil {
					t.Error(err)
					return
				}
				ln, err = net.Listen("tcp4", "0.0.0.0:5001")
				if err != nil {
					t.Error(err)
				}
			})
			if t.Failed() {
				return
			}
			defer l.Close()
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					io.Copy(io.Discard, c)
					c.Close()
				}
			}()
			packets, _ := collect(t, l)
			time.Sleep(50 * time.Millisecond)
			inNetns(t, n.b, func() {
				c, err := net.Dial("tcp", net.JoinHostPort(n.a4.String(), "5001"))
				if err != nil {
					t.Error(err)
					return
				}
				c.Write(make([]byte, 10_000))
				c.Close()
			})
			time.Sleep(200 * time.Millisecond)
			cancel()
			all := <-packets
			bulk := 0
			for _, s := range all {
				if s.dst.Port() == 5001 && s.payloadLen > 0 {
					bulk++
					if len(s.payload) > 96-20-20 {
						t.Errorf("%v: more than the 96 bytes the program returned", s)
					}
				}
			}
			if c.expect && bulk == 0 {
				t.Errorf("no payload packets on 5001: the eBPF program (which passes everything) is not the filter; got %v", all)
			}
			if !c.expect && len(all) != 0 {
				t.Errorf("%d packets through a program that drops everything", len(all))
			}
		})
	}
}

func TestOpenLiveErrors(t *testing.T) {
	if _, err := OpenLive(LiveOptions{Interface: "no-such-iface0", PayloadPorts: []uint16{3306}}); err == nil || !strings.Contains(err.Error(), "no-such-iface0") {
		t.Errorf("unknown interface: %v", err)
	}
	if _, err := OpenLive(LiveOptions{PayloadPorts: make([]uint16, maxPayloadPorts+1)}); err == nil {
		t.Error("too many payload ports accepted")
	}
	if _, err := OpenLive(LiveOptions{}); err == nil || !strings.Contains(err.Error(), "no payload ports") {
		t.Errorf("no payload ports: %v, want an error naming them", err)
	}
	if os.Geteuid() != 0 {
		_, err := OpenLive(LiveOptions{PayloadPorts: []uint16{3306}})
		if err == nil || !strings.Contains(err.Error(), "CAP_NET_RAW") {
			t.Errorf("without privileges: %v, want an error naming CAP_NET_RAW", err)
		}
	}
}

// openWithListener opens a capture in n.a (payload port 3306) and a
// listener on that port there; both close when the test ends.
func openWithListener(t *testing.T, n *testNet) *LiveReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var l *LiveReader
	inNetns(t, n.a, func() {
		var err error
		if l, err = OpenLive(LiveOptions{Context: ctx, PayloadPorts: []uint16{3306}}); err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { l.Close() })
		ln, err := net.Listen("tcp4", "0.0.0.0:3306")
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { ln.Close() })
	})
	if t.Failed() {
		t.FailNow()
	}
	return l
}

// connectFromB connects from n.b to the listener in n.a and closes, then
// waits several ring block timeouts, so that the frames are ready.
func connectFromB(t *testing.T, n *testNet) {
	t.Helper()
	inNetns(t, n.b, func() {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(n.a4, 3306).String(), 2*time.Second)
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		c.Close()
	})
	time.Sleep(50 * time.Millisecond)
}

// CaughtUp turns true only once Next has read what the kernel captured
// before the given time: the live pipeline's stop waits for it instead of a
// fixed time, which a reader starved on a loaded machine overran.
func TestLiveCaughtUp(t *testing.T) {
	requireRoot(t)
	n := newTestNet(t)
	l := openWithListener(t, n)

	before := time.Now()
	connectFromB(t, n)
	if l.CaughtUp(before) {
		t.Fatal("CaughtUp before Next read anything")
	}
	p, err := l.Next()
	if err != nil {
		t.Fatal(err)
	}
	if p.Time.Before(before) || !l.CaughtUp(before) {
		t.Fatalf("read a packet stamped %v (connect at %v): CaughtUp = %v", p.Time, before, l.CaughtUp(before))
	}
	if rt := l.ReadThrough(); rt.Before(p.Time) {
		t.Errorf("ReadThrough %v, before the packet read (%v)", rt, p.Time)
	}

	// Idle: a read that finds the ring empty catches up to a later time.
	after := time.Now()
	go func() {
		for {
			if _, err := l.Next(); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !l.CaughtUp(after) {
		if time.Now().After(deadline) {
			t.Fatal("an idle reader did not catch up within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rt := l.ReadThrough(); rt.Before(after) {
		t.Errorf("ReadThrough %v, before %v though CaughtUp(%v)", rt, after, after)
	}
}

// A reader that falls behind (another process takes the CPU) loses nothing
// while the ring has room, also under light traffic: the kernel hands a
// ring block over ringBlockTimeout after its first frame however little it
// holds, so the ring's slack is counted in blocks. 250 datagrams sent while
// nothing reads fill at most 250 blocks, one each when they come more than
// a block timeout apart: a 32 MiB ring of 128 KiB blocks (256) keeps them
// all, whatever the timing (with 1 MiB blocks it held 32, about 320 ms).
func TestLiveSlowReaderLightTraffic(t *testing.T) {
	requireRoot(t)
	n := newTestNet(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var l *LiveReader
	inNetns(t, n.a, func() {
		var err error
		if l, err = OpenLive(LiveOptions{Context: ctx, PayloadPorts: []uint16{3306}, BufferSize: 32 << 20}); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		return
	}
	defer l.Close()
	const sent = 250
	// A listener takes the datagrams (no ICMP errors, which would fail
	// the sender's next write).
	var srv net.PacketConn
	inNetns(t, n.a, func() {
		var err error
		if srv, err = net.ListenPacket("udp4", "0.0.0.0:53"); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		return
	}
	defer srv.Close()
	inNetns(t, n.b, func() {
		c, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			t.Errorf("listen: %v", err)
			return
		}
		defer c.Close()
		to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.a4, 53))
		for i := range sent {
			if _, err := c.WriteTo([]byte(fmt.Sprintf("query %d", i)), to); err != nil {
				t.Errorf("sending datagram %d: %v", i, err)
				return
			}
			time.Sleep(2 * time.Millisecond) // about 5 a block: 50 blocks in all
		}
	})
	time.Sleep(50 * time.Millisecond) // the last block handed over
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, err := l.Next()
			if err != nil {
				return
			}
			if p.Proto == event.ProtoUDP && p.DstPort == 53 {
				got.Add(1)
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < sent && time.Now().Before(deadline) && l.Stats().KernelDrops == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if st := l.Stats(); st.KernelDrops != 0 || got.Load() != sent {
		t.Errorf("read %d of %d datagrams sent while nothing read, %d dropped by the kernel", got.Load(), sent, st.KernelDrops)
	}
}

// A stop that cannot wait for the reader: DiscardUnread counts the frames
// the ring still holds from before the stop, and only those.
func TestLiveDiscardUnread(t *testing.T) {
	requireRoot(t)
	n := newTestNet(t)
	l := openWithListener(t, n)
	connect := func() { connectFromB(t, n) }

	connect()
	first := l.DiscardUnread(time.Now())
	if first < 3 {
		t.Fatalf("DiscardUnread after a connect nobody read: %d frames, want at least SYN, SYN-ACK and ACK", first)
	}
	stop := time.Now()
	connect()
	if got := l.DiscardUnread(stop); got != 0 {
		t.Errorf("DiscardUnread(stop) counted %d frames of a connect made after the stop", got)
	}
	connect()
	third := l.DiscardUnread(time.Now())
	if third < 3 {
		t.Errorf("the ring was not emptied by the earlier discard, or lost frames: %d frames counted for the third connect", third)
	}
	if st := l.Stats(); st.Unread != first+third || st.Packets != 0 {
		t.Errorf("Stats: Unread %d, Packets %d; want Unread %d (%d + %d), Packets 0 (nothing was read)", st.Unread, st.Packets, first+third, first, third)
	}
}

// NextReady reads what the ring holds without waiting, nil once it holds
// nothing more, and leaves ReadThrough where the last Next put it: the
// live pipeline's reader queues the packets it gathered before it calls
// Next again.
func TestLiveNextReady(t *testing.T) {
	requireRoot(t)
	n := newTestNet(t)
	l := openWithListener(t, n)

	connectFromB(t, n) // a handshake and the closes: several frames ready
	first, err := l.Next()
	if err != nil {
		t.Fatal(err)
	}
	firstAt := first.Time
	through := l.ReadThrough()
	if through.Before(firstAt) {
		t.Fatalf("ReadThrough %v, before the packet Next read (%v)", through, firstAt)
	}
	var more []time.Time
	start := time.Now()
	for {
		p, err := l.NextReady()
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			break
		}
		more = append(more, p.Time)
	}
	if waited := time.Since(start); waited > ringBlockTimeout {
		t.Errorf("NextReady took %v: it waited", waited)
	}
	if len(more) == 0 {
		t.Fatal("NextReady read none of the connect's frames after its first")
	}
	if rt := l.ReadThrough(); !rt.Equal(through) {
		t.Errorf("ReadThrough moved from %v to %v over %d packets NextReady read", through, rt, len(more))
	}
	// Nothing more comes: the next NextReady returns at once too.
	if p, err := l.NextReady(); p != nil || err != nil {
		t.Errorf("NextReady on an empty ring: %v, %v", p, err)
	}
}
