package live

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/connscope/connscope/event"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }

func synSent(cookie uint64, us int, src, dst string) *event.Kernel {
	return &event.Kernel{Kind: event.StateChange, Time: at(us), Cookie: cookie, Family: event.FamilyInet, SockType: event.SockStream,
		OldState: event.TCPClose, NewState: event.TCPSynSent, State: event.TCPSynSent,
		Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), Process: event.Process{PID: 42, Comm: "mariadb"}}
}

func connectReturn(cookie uint64, us int, src, dst string) *event.Kernel {
	return &event.Kernel{Kind: event.ConnectCall, Time: at(us), Cookie: cookie, Family: event.FamilyInet, SockType: event.SockStream,
		Ret: -115, Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), Process: event.Process{PID: 42, Comm: "mariadb"}}
}

func syn(us int, src, dst string) *event.Packet {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return &event.Packet{Time: at(us), Proto: event.ProtoTCP, TCPFlags: event.TCPSyn,
		Src: s.Addr(), SrcPort: s.Port(), Dst: d.Addr(), DstPort: d.Port()}
}

const server = "198.51.100.10:3306"

func TestPortCompleter(t *testing.T) {
	type step struct {
		k *event.Kernel
		p *event.Packet
	}
	tests := []struct {
		name  string
		steps func() ([]step, []*event.Kernel, []string) // steps, events to check, their wanted Src
	}{
		{"the socket's next event gives the port", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 0, "192.0.2.10:0", server)
			return []step{{k: a}, {k: connectReturn(1, 30, "192.0.2.10:40001", server)}}, []*event.Kernel{a}, []string{"192.0.2.10:40001"}
		}},
		{"the SYN after the event gives the port", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 0, "192.0.2.10:0", server)
			return []step{{k: a}, {p: syn(20, "192.0.2.10:40001", server)}}, []*event.Kernel{a}, []string{"192.0.2.10:40001"}
		}},
		{"a SYN read before its event still matches", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 0, "192.0.2.10:0", server)
			return []step{{p: syn(20, "192.0.2.10:40001", server)}, {k: a}}, []*event.Kernel{a}, []string{"192.0.2.10:40001"}
		}},
		{"an unspecified source address is filled in too", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 0, "0.0.0.0:0", server)
			return []step{{k: a}, {p: syn(20, "192.0.2.10:40001", server)}}, []*event.Kernel{a}, []string{"192.0.2.10:40001"}
		}},
		{"two connects at once: SYNs are ambiguous, the exact path decides", func() ([]step, []*event.Kernel, []string) {
			a, b := synSent(1, 0, "192.0.2.10:0", server), synSent(2, 1, "192.0.2.10:0", server)
			return []step{{k: a}, {k: b}, {p: syn(10, "192.0.2.10:40002", server)}, {p: syn(11, "192.0.2.10:40001", server)},
					{k: connectReturn(2, 40, "192.0.2.10:40002", server)}, {k: connectReturn(1, 41, "192.0.2.10:40001", server)}},
				[]*event.Kernel{a, b}, []string{"192.0.2.10:40001", "192.0.2.10:40002"}
		}},
		{"two connects at once without later events stay unknown", func() ([]step, []*event.Kernel, []string) {
			a, b := synSent(1, 0, "192.0.2.10:0", server), synSent(2, 1, "192.0.2.10:0", server)
			return []step{{k: a}, {k: b}, {p: syn(10, "192.0.2.10:40002", server)}, {p: syn(11, "192.0.2.10:40001", server)}},
				[]*event.Kernel{a, b}, []string{"192.0.2.10:0", "192.0.2.10:0"}
		}},
		{"a later event corrects a port taken from a SYN", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 0, "192.0.2.10:0", server)
			return []step{{k: a}, {p: syn(10, "192.0.2.10:40009", server)}, {k: connectReturn(1, 40, "192.0.2.10:40001", server)}},
				[]*event.Kernel{a}, []string{"192.0.2.10:40001"}
		}},
		{"a SYN long after the event is someone else's", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 0, "192.0.2.10:0", server)
			return []step{{k: a}, {p: syn(int(synMatchWindow/time.Microsecond)+100, "192.0.2.10:40001", server)}}, []*event.Kernel{a}, []string{"192.0.2.10:0"}
		}},
		{"a SYN from another address or to another server does not match", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 0, "192.0.2.10:0", server)
			return []step{{k: a}, {p: syn(10, "192.0.2.11:40001", server)}, {p: syn(11, "192.0.2.10:40002", "198.51.100.10:3307")}},
				[]*event.Kernel{a}, []string{"192.0.2.10:0"}
		}},
		{"a SYN read before its event among a backlog of others' SYNs still matches", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 5000, "192.0.2.10:0", server)
			var steps []step
			for us := range 10000 {
				steps = append(steps, step{p: syn(us, "192.0.2.11:"+strconv.Itoa(20000+us%40000), server)})
				if us == 5003 {
					steps = append(steps, step{p: syn(us, "192.0.2.10:40001", server)})
				}
			}
			return append(steps, step{k: a}), []*event.Kernel{a}, []string{"192.0.2.10:40001"}
		}},
		{"a SYN stamped before the event is not its", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 100, "192.0.2.10:0", server)
			return []step{{p: syn(99, "192.0.2.10:40001", server)}, {k: a}}, []*event.Kernel{a}, []string{"192.0.2.10:0"}
		}},
		{"two SYNs read before the event are ambiguous", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 100, "192.0.2.10:0", server)
			return []step{{p: syn(100, "192.0.2.10:40001", server)}, {p: syn(130, "192.0.2.10:40002", server)}, {k: a}},
				[]*event.Kernel{a}, []string{"192.0.2.10:0"}
		}},
		{"a SYN-ACK is not a SYN", func() ([]step, []*event.Kernel, []string) {
			a := synSent(1, 0, "192.0.2.10:0", server)
			p := syn(10, "192.0.2.10:40001", server)
			p.TCPFlags |= event.TCPAck
			return []step{{k: a}, {p: p}}, []*event.Kernel{a}, []string{"192.0.2.10:0"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps, check, want := tc.steps()
			c := newPortCompleter()
			for _, s := range steps {
				if s.k != nil {
					c.kernel(s.k)
				} else {
					c.packet(s.p)
				}
			}
			for i, k := range check {
				if got := k.Src.String(); got != want[i] {
					t.Errorf("event %d: Src %s, want %s", i, got, want[i])
				}
			}
		})
	}
}

func TestPortCompleterForgetsReleased(t *testing.T) {
	c := newPortCompleter()
	a := synSent(1, 0, "192.0.2.10:0", server)
	c.kernel(a)
	c.packet(syn(int(time.Second/time.Microsecond), "192.0.2.10:40005", server))
	c.forget(at(100)) // a was released: it must not change any more
	c.kernel(connectReturn(1, 200, "192.0.2.10:40001", server))
	if a.Src.Port() != 0 {
		t.Errorf("a released event was changed: %v", a.Src)
	}
	if len(c.byCookie) != 0 || len(c.waiting) != 0 {
		t.Errorf("state left: %d by cookie, %d waiting", len(c.byCookie), len(c.waiting))
	}
	c.forget(at(2e6))
	if len(c.syns) != 0 {
		t.Errorf("%d SYN lists left after they aged out", len(c.syns))
	}
}

// A socket that connects again after a failed connect() enters SYN_SENT
// twice with one cookie: the first event must leave the waiting list, or a
// later SYN fills a port into it after its release, and it stays forever.
func TestPortCompleterSecondConnectOfSocket(t *testing.T) {
	c := newPortCompleter()
	first := synSent(1, 0, "192.0.2.10:0", server)
	c.kernel(first)
	second := synSent(1, 1000, "192.0.2.10:0", server)
	c.kernel(second)
	if n := len(c.waiting[netip.MustParseAddrPort(server)]); n != 1 {
		t.Fatalf("%d events waiting for their port, want 1 (the second connect's)", n)
	}
	c.packet(syn(1100, "192.0.2.10:40001", server))
	if first.Src.Port() != 0 {
		t.Errorf("the first connect's event took the second's SYN: %v", first.Src)
	}
	if second.Src.Port() != 40001 {
		t.Errorf("second connect's port = %d, want 40001 from its SYN", second.Src.Port())
	}
	c.forget(at(2000))
	if len(c.byCookie) != 0 || len(c.waiting) != 0 {
		t.Errorf("state left: %d by cookie, %d waiting", len(c.byCookie), len(c.waiting))
	}
}

func TestProcessTable(t *testing.T) {
	pt := newProcessTable()
	mariadb := event.Process{PID: 42, TID: 42, Comm: "mariadb", FD: 3}
	k := connectReturn(1, 0, "192.0.2.10:40001", server)
	k.Process = mariadb
	pt.observe(k)
	dns := &event.Kernel{Kind: event.ConnectCall, Time: at(0), Family: event.FamilyInet, SockType: event.SockDgram,
		Src: netip.MustParseAddrPort("192.0.2.10:5353"), Dst: netip.MustParseAddrPort("198.51.100.53:53"), Process: mariadb}
	pt.observe(dns)
	probe := &event.Kernel{Kind: event.ConnectCall, Time: at(0), Family: event.FamilyInet, SockType: event.SockDgram,
		Src: netip.MustParseAddrPort("192.0.2.10:5454"), Dst: netip.MustParseAddrPort("198.51.100.10:0"), Process: mariadb}
	pt.observe(probe)
	portless := synSent(2, 0, "192.0.2.10:0", server)
	portless.Process = event.Process{PID: 7, Comm: "other"}
	pt.observe(portless)

	outgoing := syn(1, "192.0.2.10:40001", server)
	reply := syn(2, server, "192.0.2.10:40001")
	query := &event.Packet{Time: at(3), Proto: event.ProtoUDP, Src: netip.MustParseAddr("192.0.2.10"), SrcPort: 5353,
		Dst: netip.MustParseAddr("198.51.100.53"), DstPort: 53}
	icmp := &event.Packet{Time: at(4), Proto: event.ProtoICMP, Src: netip.MustParseAddr("203.0.113.1"), Dst: netip.MustParseAddr("192.0.2.10"),
		ICMP: &event.ICMPError{Type: 3, Code: 3, QuotedSrc: netip.MustParseAddr("192.0.2.10"), QuotedSrcPort: 40001,
			QuotedDst: netip.MustParseAddr("198.51.100.10"), QuotedDstPort: 3306, QuotedProto: event.ProtoTCP}}
	mapped := syn(5, "[::ffff:192.0.2.10]:40001", "[::ffff:198.51.100.10]:3306")
	stranger := syn(6, "192.0.2.10:40002", server)
	for _, tc := range []struct {
		name string
		p    *event.Packet
		want bool
	}{
		{"client's SYN", outgoing, true},
		{"server's reply", reply, true},
		{"resolver query", query, true},
		{"ICMP error quoting the SYN", icmp, true},
		{"v4-mapped addresses", mapped, true},
		{"another socket", stranger, false},
	} {
		proc, ok := pt.lookup(tc.p)
		if ok != tc.want || ok && proc != mariadb {
			t.Errorf("%s: lookup = %+v, %v; want mariadb: %v", tc.name, proc, ok, tc.want)
		}
	}
	if pt.flows() != 2 {
		t.Errorf("%d flows learned, want 2 (the TCP socket and the resolver's; not the sorting probe, not a port-0 event)", pt.flows())
	}
}

// TestProcessTableForgetsOldestWhenFull: a full table forgets the flow seen
// longest ago, one per new flow, round the ring several times; every flow
// it still holds keeps its own process (a forgotten entry's place holds a
// newer flow: the links to it, from the lookup cache and the chains, must
// end there), and a forgotten one gets none.
func TestProcessTableForgetsOldestWhenFull(t *testing.T) {
	pt := newProcessTable()
	src := func(i int) string {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(40000+i%7)).String()
	}
	observe := func(i int) {
		k := connectReturn(uint64(i), i, src(i), server)
		k.Process = event.Process{PID: uint32(i + 1), Comm: "p" + strconv.Itoa(i)}
		pt.observe(k)
	}
	const total = 3*maxProcessFlows + 1000
	for i := range total {
		observe(i)
		if i%9973 == 0 && i >= maxProcessFlows {
			// A flow just forgotten, then one still held, through the
			// lookup cache's slot and the chains.
			if proc, ok := pt.lookup(syn(i, src(i-maxProcessFlows), server)); ok {
				t.Fatalf("after %d flows: the forgotten flow %d labelled %+v", i+1, i-maxProcessFlows, proc)
			}
			if proc, ok := pt.lookup(syn(i, src(i-maxProcessFlows+1), server)); !ok || proc.PID != uint32(i-maxProcessFlows+2) {
				t.Fatalf("after %d flows: the oldest flow held (%d) labelled %+v, %v", i+1, i-maxProcessFlows+1, proc, ok)
			}
		}
	}
	if n := pt.flows(); n != maxProcessFlows {
		t.Errorf("%d flows held, want %d", n, maxProcessFlows)
	}
	for _, i := range []int{0, 1, total - maxProcessFlows - 1} {
		if proc, ok := pt.lookup(syn(total, src(i), server)); ok {
			t.Errorf("flow %d (forgotten) labelled %+v", i, proc)
		}
	}
	for i := total - maxProcessFlows; i < total; i++ {
		if proc, ok := pt.lookup(syn(total, src(i), server)); !ok || proc.PID != uint32(i+1) || proc.Comm != "p"+strconv.Itoa(i) {
			t.Fatalf("flow %d labelled %+v, %v; want pid %d", i, proc, ok, i+1)
		}
	}
}

// TestProcessTableKeepsRecentFlowsWhenFull: more flows than the table
// holds (10,000 connects/s fill it in 6.5 s) forget the flows seen longest
// ago, not every flow, and a flow seen again (a connection's close, long
// after its connect) counts as seen then: it keeps its process while flows
// connected after it are forgotten.
func TestProcessTableKeepsRecentFlowsWhenFull(t *testing.T) {
	pt := newProcessTable()
	src := func(i int) string {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000).String()
	}
	// One flow every 100 µs.
	for i := 0; i < maxProcessFlows; i++ {
		pt.observe(connectReturn(uint64(i), i*100, src(i), server))
	}
	// The oldest flow got a packet late: it counts as seen then.
	pt.lookup(syn(maxProcessFlows*100+1_000_000, src(0), server))
	pt.observe(connectReturn(1<<20, maxProcessFlows*100+1_000_001, "192.0.2.12:1", server))
	if n := pt.flows(); n != maxProcessFlows {
		t.Fatalf("%d flows held by a full table, want %d", n, maxProcessFlows)
	}
	at := maxProcessFlows*100 + 1_000_002
	for _, i := range []int{0, 2, 1000, maxProcessFlows - 1, maxProcessFlows - 100} {
		if _, ok := pt.lookup(syn(at, src(i), server)); !ok {
			t.Errorf("flow %d (seen recently) lost its process", i)
		}
	}
	if proc, ok := pt.lookup(syn(at, src(1), server)); ok {
		t.Errorf("flow 1 (seen longest ago) still labelled %+v", proc)
	}
	if _, ok := pt.lookup(syn(at, "192.0.2.12:1", server)); !ok {
		t.Error("the newest flow's packet not labelled")
	}
}

// A flow's owner changes (another process's socket on the 5-tuple) and
// its packets follow the change, whether the flow sits in the lookup cache
// or was pushed out of it by another flow of the same cache slot.
func TestProcessTableOwnerChange(t *testing.T) {
	pt := newProcessTable()
	a := connectReturn(1, 0, "192.0.2.10:40001", server)
	a.Process = event.Process{PID: 1, Comm: "one"}
	pt.observe(a)
	// Same ports XOR, another flow: the same cache slot.
	other := connectReturn(2, 1, "192.0.2.20:40001", server)
	other.Process = event.Process{PID: 3, Comm: "three"}
	pt.observe(other)
	b := connectReturn(3, 2, "192.0.2.10:40001", server)
	b.Process = event.Process{PID: 2, Comm: "two"}
	pt.observe(b)
	for _, tc := range []struct {
		src  string
		want uint32
	}{{"192.0.2.10:40001", 2}, {"192.0.2.20:40001", 3}, {"192.0.2.10:40001", 2}} {
		if proc, ok := pt.lookup(syn(10, tc.src, server)); !ok || proc.PID != tc.want {
			t.Errorf("%s: lookup = %+v, %v; want pid %d", tc.src, proc, ok, tc.want)
		}
	}
}

// BenchmarkPortCompleterBacklog: the capture delivers lagBehind SYNs ahead
// of the kernel events (a source lagging at a high connect rate; many
// connects at once from one address, so a SYN is never unique and each
// event waits for its socket's next one); ns/op is per connect (its SYN, its
// SYN_SENT event and connect()'s return).
func BenchmarkPortCompleterBacklog(b *testing.B) {
	const lagBehind = 2000 // 100 ms at 20,000 connects/s
	c := newPortCompleter()
	src := func(i int) string { return "192.0.2.10:" + strconv.Itoa(10000+i%50000) }
	for i := range lagBehind {
		c.packet(syn(i*50+3, src(i), server))
	}
	i := 0
	for b.Loop() {
		c.packet(syn((i+lagBehind)*50+3, src(i+lagBehind), server))
		c.kernel(synSent(uint64(i+1), i*50, "192.0.2.10:0", server))
		c.kernel(connectReturn(uint64(i+1), i*50+20, src(i), server))
		if i%1000 == 999 {
			c.forget(at((i - lagBehind) * 50))
		}
		i++
	}
}

// TestPortCompleterISN: the SYN_SENT event of a connect comes before the
// kernel chose its ISN; the socket's next event carries it, and the
// completer fills it in with the port (the engine pairs the socket with
// its SYN by it), for a bound socket too, whose SYN_SENT had its port.
func TestPortCompleterISN(t *testing.T) {
	withISN := func(k *event.Kernel, isn uint32) *event.Kernel { k.ISN = isn; return k }
	tests := []struct {
		name    string
		synSent *event.Kernel
		steps   func(c *portCompleter)
		wantSrc string
		wantISN uint32
	}{
		{"the next event gives port and ISN", synSent(1, 0, "192.0.2.10:0", server), func(c *portCompleter) {
			c.kernel(withISN(connectReturn(1, 30, "192.0.2.10:40001", server), 777))
		}, "192.0.2.10:40001", 777},
		{"a bound socket's SYN_SENT gets the ISN", synSent(1, 0, "192.0.2.10:40001", server), func(c *portCompleter) {
			c.kernel(withISN(connectReturn(1, 30, "192.0.2.10:40001", server), 777))
		}, "192.0.2.10:40001", 777},
		{"a port guessed from a SYN: the next event gives the ISN", synSent(1, 0, "192.0.2.10:0", server), func(c *portCompleter) {
			c.packet(syn(10, "192.0.2.10:40001", server))
			c.kernel(withISN(connectReturn(1, 30, "192.0.2.10:40001", server), 777))
		}, "192.0.2.10:40001", 777},
		{"another socket's event gives nothing", synSent(1, 0, "192.0.2.10:40001", server), func(c *portCompleter) {
			c.kernel(withISN(connectReturn(2, 30, "192.0.2.10:40001", server), 777))
		}, "192.0.2.10:40001", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newPortCompleter()
			c.kernel(tc.synSent)
			tc.steps(c)
			if got := tc.synSent.Src.String(); got != tc.wantSrc || tc.synSent.ISN != tc.wantISN {
				t.Errorf("SYN_SENT completed to %s ISN %d, want %s ISN %d", got, tc.synSent.ISN, tc.wantSrc, tc.wantISN)
			}
		})
	}
}

// makeFlowKey names a flow the same from either end, lower (address, port)
// first by the addresses' 16 bytes, whichever half of them differs.
func TestFlowKeyEitherWay(t *testing.T) {
	for _, c := range []struct{ x, y string }{
		{"192.0.2.10:40001", "198.51.100.10:3306"},
		{"[2001:db8::1]:40001", "[2001:db9::1]:3306"},       // the upper halves differ
		{"[2001:db8::2]:40001", "[2001:db8::1]:3306"},       // only the lower halves
		{"192.0.2.10:40001", "192.0.2.10:3306"},             // one address: by port
		{"[::ffff:192.0.2.10]:40001", "198.51.100.10:3306"}, // v4-mapped
		{"[fe80::1]:1", "[::1]:2"},
	} {
		x, y := netip.MustParseAddrPort(c.x), netip.MustParseAddrPort(c.y)
		k, back := makeFlowKey(x, y), makeFlowKey(y, x)
		if k != back {
			t.Errorf("%s %s: %+v one way, %+v the other", c.x, c.y, k, back)
		}
		lo, hi := x, y
		ax, ay := x.Addr().As16(), y.Addr().As16()
		if cmp := bytes.Compare(ax[:], ay[:]); cmp > 0 || cmp == 0 && x.Port() > y.Port() {
			lo, hi = y, x
		}
		if k.loPort != lo.Port() || k.hiPort != hi.Port() || k != makeFlowKey(lo, hi) {
			t.Errorf("%s %s: key %+v does not put %s first", c.x, c.y, k, lo)
		}
		a16 := lo.Addr().As16()
		if k.lo0 != binary.BigEndian.Uint64(a16[:8]) || k.lo1 != binary.BigEndian.Uint64(a16[8:]) {
			t.Errorf("%s %s: key %+v: lower address is not %s", c.x, c.y, k, lo.Addr())
		}
	}
	if makeFlowKey(netip.MustParseAddrPort("[::ffff:192.0.2.10]:1"), netip.MustParseAddrPort("192.0.2.11:2")) ==
		makeFlowKey(netip.MustParseAddrPort("192.0.2.10:1"), netip.MustParseAddrPort("192.0.2.12:2")) {
		t.Error("two flows with one key")
	}
}

// TestFlowKeyOfAs16: a flow key holds the addresses' 16-byte forms
// (As16), which makeFlowKey takes without As16's array for IPv4
// (event.AddrHalves): IPv4, IPv4-mapped IPv6, IPv6 with and without a zone, the
// zero Addr, random addresses of both families, in pairs of every kind.
func TestFlowKeyOfAs16(t *testing.T) {
	addrs := []netip.Addr{{}, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("255.255.255.255"),
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::ffff:1.2.3.4"), netip.MustParseAddr("::"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth0")}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		addrs = append(addrs, netip.AddrFrom16(b), netip.AddrFrom4([4]byte(b[:4])))
	}
	as16Key := func(x, y netip.AddrPort) flowKey {
		ax, ay := x.Addr().As16(), y.Addr().As16()
		x0, x1 := binary.BigEndian.Uint64(ax[:8]), binary.BigEndian.Uint64(ax[8:])
		y0, y1 := binary.BigEndian.Uint64(ay[:8]), binary.BigEndian.Uint64(ay[8:])
		if x0 > y0 || x0 == y0 && (x1 > y1 || x1 == y1 && x.Port() > y.Port()) {
			return flowKey{lo0: y0, lo1: y1, hi0: x0, hi1: x1, loPort: y.Port(), hiPort: x.Port()}
		}
		return flowKey{lo0: x0, lo1: x1, hi0: y0, hi1: y1, loPort: x.Port(), hiPort: y.Port()}
	}
	for i, a := range addrs {
		b := addrs[(i*7+3)%len(addrs)]
		x, y := netip.AddrPortFrom(a, uint16(rng.Uint32())), netip.AddrPortFrom(b, uint16(rng.Uint32()))
		if got, want := makeFlowKey(x, y), as16Key(x, y); got != want {
			t.Errorf("%s %s: key %+v, As16's %+v", x, y, got, want)
		}
	}
}

// BenchmarkMakeFlowKey: the key of an IPv4 flow, as every packet's and
// kernel event's look in the process table makes it.
func BenchmarkMakeFlowKey(b *testing.B) {
	x, y := netip.MustParseAddrPort("127.0.0.1:40001"), netip.MustParseAddrPort("127.0.0.1:14306")
	var sink flowKey
	for i := range b.N {
		sink = makeFlowKey(x, netip.AddrPortFrom(y.Addr(), uint16(i)))
	}
	_ = sink
}

// TestProcessTablePortReuse: a connect's SYN_SENT learns its 5-tuple's
// owner anew (pushed without a look at what the table held): a later
// connect on the same 5-tuple, of another process, labels the packets that
// follow it; then a connect of the first process again; and the flows
// around it keep theirs.
func TestProcessTablePortReuse(t *testing.T) {
	pt := newProcessTable()
	one, two := event.Process{PID: 1, Comm: "one"}, event.Process{PID: 2, Comm: "two"}
	neighbour := connectReturn(9, 0, "192.0.2.10:40002", server)
	neighbour.Process = event.Process{PID: 9, Comm: "nine"}
	pt.observe(neighbour)
	for i, owner := range []event.Process{one, two, two, one} {
		s := synSent(uint64(i+1), 100*i, "192.0.2.10:40001", server)
		s.Process = owner
		pt.observe(s)
		// Its SYN leaves before connect() returns.
		if proc, ok := pt.lookup(syn(100*i+5, "192.0.2.10:40001", server)); !ok || proc != owner {
			t.Errorf("connect %d: its SYN labelled %+v, %v; want %+v", i, proc, ok, owner)
		}
		c := connectReturn(uint64(i+1), 100*i+10, "192.0.2.10:40001", server)
		c.Process = owner
		pt.observe(c)
		if proc, ok := pt.lookup(syn(100*i+20, server, "192.0.2.10:40001")); !ok || proc != owner {
			t.Errorf("connect %d: its reply labelled %+v, %v; want %+v", i, proc, ok, owner)
		}
		if proc, ok := pt.lookup(syn(100*i+30, server, "192.0.2.10:40002")); !ok || proc.PID != 9 {
			t.Errorf("connect %d: the neighbour's packet labelled %+v, %v", i, proc, ok)
		}
	}
}
