package analyze

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// isnSocket is one connect of a socket in a scripted port-reuse loop.
type isnSocket struct {
	isn     uint32
	at      float64 // ms: its SYN on the wire
	refused bool    // RST|ACK; else accepted, then closed by the client
	// interrupted: a signal interrupted the refused connect() (the RST
	// waited for ksoftirqd) and the kernel restarted it: the exit
	// tracepoint sees -ERESTARTSYS, then the restarted call's error.
	interrupted bool
}

// item is one event of a scripted stream: a packet or a kernel event.
type item struct {
	ms float64
	p  *event.Packet
	k  *event.Kernel
}

// reuseStream scripts connects from one client port to one server: their
// packets at the sockets' times, their kernel events shifted by skew ms
// (the kernel's clock and delivery against the capture's). withISN: the
// kernel events carry the connect's ISN (from the socket's first event
// after SYN_SENT on; SYN_SENT too when the live pipeline filled its port
// in, portFilled). Without portFilled the SYN_SENT comes with port 0, as
// Linux reports it. The stream is sorted by time (what the merger hands
// the engine).
func reuseStream(s *sim, socks []isnSocket, skew float64, withISN, portFilled bool) []item {
	const client, server = "192.0.2.10:47596", "192.0.2.20:5000"
	var items []item
	for i, so := range socks {
		k := s.conn(client, server)
		k.cisn, k.cseq = so.isn, so.isn+1
		pkt := func(ms float64, fromClient bool, flags uint8) {
			p := k.pkt(ms, fromClient, flags, nil)
			switch {
			case flags == event.TCPSyn:
				p.Seq, p.Ack = so.isn, 0
			case flags&event.TCPSyn != 0:
				p.Seq, p.Ack = k.sisn, so.isn+1
			case flags&event.TCPRst != 0:
				p.Seq, p.Ack = 0, so.isn+1
			}
			items = append(items, item{ms: ms, p: p})
		}
		proc := event.Process{PID: uint32(500 + i), TID: uint32(500 + i), Comm: fmt.Sprintf("loop%d", i), FD: int32(10 + i)}
		kev := func(ms float64, kind event.KernelKind, f func(k *event.Kernel)) {
			ke := &event.Kernel{Time: s.at(ms + skew), Kind: kind, Process: proc, Cookie: uint64(100 + i),
				Family: event.FamilyInet, SockType: event.SockStream, Src: ap(client), Dst: ap(server)}
			if withISN {
				ke.ISN = so.isn
			}
			f(ke)
			items = append(items, item{ms: ms + skew, k: ke})
		}
		kev(so.at-0.005, event.StateChange, func(k *event.Kernel) {
			k.OldState, k.NewState, k.State = event.TCPClose, event.TCPSynSent, event.TCPSynSent
			if !portFilled {
				k.Src, k.ISN = ap("192.0.2.10:0"), 0
			}
		})
		pkt(so.at, true, event.TCPSyn)
		if so.refused {
			pkt(so.at+0.02, false, event.TCPRst|event.TCPAck)
			kev(so.at+0.021, event.ResetReceived, func(k *event.Kernel) { k.State = event.TCPSynSent })
			kev(so.at+0.0211, event.StateChange, func(k *event.Kernel) {
				k.OldState, k.NewState, k.State = event.TCPSynSent, event.TCPClose, event.TCPClose
			})
			kev(so.at+0.0212, event.SocketError, func(k *event.Kernel) { k.Errno = errECONNREFUSED })
			if so.interrupted {
				kev(so.at+0.0213, event.ConnectCall, func(k *event.Kernel) { k.Ret = -errERESTARTSYS })
			}
			kev(so.at+0.025, event.ConnectCall, func(k *event.Kernel) { k.Ret = -errECONNREFUSED })
			continue
		}
		pkt(so.at+0.02, false, event.TCPSyn|event.TCPAck)
		pkt(so.at+0.03, true, event.TCPAck)
		kev(so.at+0.021, event.StateChange, func(k *event.Kernel) {
			k.OldState, k.NewState, k.State = event.TCPSynSent, event.TCPEstablished, event.TCPEstablished
		})
		kev(so.at+0.022, event.ConnectCall, func(k *event.Kernel) { k.Ret = 0 })
		k.cseq = so.isn + 1
		p := k.pkt(so.at+1, true, event.TCPAck|event.TCPFin, nil)
		items = append(items, item{ms: so.at + 1, p: p})
	}
	slices.SortStableFunc(items, func(a, b item) int {
		switch {
		case a.ms < b.ms:
			return -1
		case a.ms > b.ms:
			return 1
		}
		return 0
	})
	return items
}

// feedItems feeds the stream after a kernel event of another process
// (live, the tracer's events flow all along: the engine then waits
// kernelLinger for a decided connect's kernel events).
func feedItems(s *sim, items []item) {
	s.kernel(&event.Kernel{Time: s.at(-10), Kind: event.ConnectCall, Process: event.Process{PID: 999, FD: -1},
		Family: event.FamilyInet, SockType: event.SockDgram, Src: ap("192.0.2.10:40000"), Dst: ap("192.0.2.53:53")})
	for _, it := range items {
		if it.p != nil {
			s.feed(it.p)
		} else {
			s.kernel(it.k)
		}
	}
}

// TestPortReuseISNPairing: connects that reuse one client port within
// half a millisecond (a refused connect leaves no TIME_WAIT) are each
// reported exactly once, with their own packets and their own kernel
// events, however the kernel events are shifted against the packets: the
// kernel events carry the connect's ISN and join the attempt whose SYN
// carried it (isn.go). Without an ISN, pairing by 5-tuple and time still
// works when the timing is unambiguous.
func TestPortReuseISNPairing(t *testing.T) {
	socks := []isnSocket{
		{isn: 0x11111111, at: 0, refused: true},
		{isn: 0x22222222, at: 0.15, refused: true, interrupted: true},
		{isn: 0x33333333, at: 0.3},
	}
	// What the packets alone say of each connect.
	ref := newSim(t, Options{Live: true})
	for _, it := range reuseStream(ref, socks, 0, false, true) {
		if it.p != nil {
			ref.feed(it.p)
		}
	}
	ref.close()
	if len(ref.got) != len(socks) {
		t.Fatalf("packets alone: %d connects, want %d\n%s", len(ref.got), len(socks), dumpConnects(ref.got))
	}
	tests := []struct {
		name       string
		skew       float64 // ms, kernel events against packets
		withISN    bool
		portFilled bool
		// afterReport: the kernel events come after the connects were
		// reported from their packets (beyond the kernel linger)
		afterReport bool
	}{
		{name: "kernel events late, SYN_SENT with port and ISN", skew: 0.2, withISN: true, portFilled: true},
		{name: "kernel events late, SYN_SENT without port", skew: 0.2, withISN: true},
		{name: "kernel events very late, SYN_SENT with port and ISN", skew: 0.35, withISN: true, portFilled: true},
		{name: "kernel events early, SYN_SENT with port and ISN", skew: -0.2, withISN: true, portFilled: true},
		{name: "kernel events early, SYN_SENT without port", skew: -0.2, withISN: true},
		{name: "kernel events in step, SYN_SENT with port and ISN", skew: 0, withISN: true, portFilled: true},
		{name: "kernel events after the report", skew: 150, withISN: true, portFilled: true, afterReport: true},
		// The fallback: no ISN (older kernels, other sources); the
		// kernel's events of each connect come before the next one's SYN.
		{name: "no ISN, kernel events in step", skew: 0, portFilled: true},
		{name: "no ISN, kernel events slightly early", skew: -0.004, portFilled: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{Live: true})
			items := reuseStream(s, socks, tc.skew, tc.withISN, tc.portFilled)
			feedItems(s, items)
			sum := s.close()
			defer func() {
				if t.Failed() {
					t.Logf("connects:\n%s", brief(s))
				}
			}()
			if len(s.got) != len(socks) {
				t.Fatalf("%d connects reported, want %d (one per connect)", len(s.got), len(socks))
			}
			if tc.afterReport {
				// Reported from the packets alone; the kernel events join
				// nothing and start nothing, counted.
				kernel := 0
				for _, it := range items {
					if it.k != nil {
						kernel++
					}
				}
				if sum.KernelAfterReport != uint64(kernel) {
					t.Errorf("KernelAfterReport %d, want %d (every kernel event)", sum.KernelAfterReport, kernel)
				}
				for i, c := range s.got {
					if a, want := c.Attempts[0], ref.got[i].Attempts[0]; len(c.Attempts) != 1 || a.Outcome != want.Outcome || a.Start != want.Start {
						t.Errorf("connect %d: %s at %s, its packets alone say %s at %s", i, a.Outcome, a.Start, want.Outcome, want.Start)
					}
				}
				return
			}
			seen := map[uint32]bool{}
			for _, c := range s.got {
				if len(c.Attempts) != 1 {
					t.Errorf("a connect with %d attempts, want 1", len(c.Attempts))
					continue
				}
				a := c.Attempts[0]
				i := int(a.PID) - 500
				if i < 0 || i >= len(socks) || seen[a.PID] {
					t.Errorf("attempt with pid %d: no socket's, or a second attempt of one", a.PID)
					continue
				}
				seen[a.PID] = true
				so := socks[i]
				if a.FD == nil || *a.FD != int32(10+i) || a.Comm != fmt.Sprintf("loop%d", i) {
					t.Errorf("socket %d: process %d %q fd %v", i, a.PID, a.Comm, a.FD)
				}
				if want := ref.got[i].Attempts[0]; a.Outcome != want.Outcome || a.Client != want.Client {
					t.Errorf("socket %d: %s from %s, its packets alone say %s from %s", i, a.Outcome, a.Client, want.Outcome, want.Client)
				}
				n := map[EventKind]int{}
				var returns []string // connect()'s, in order
				for _, ev := range a.Events {
					n[ev.Kind]++
					if ev.Kind == EvKernelConnect {
						returns = append(returns, ev.Errno)
					}
					switch {
					case ev.Kind == EvSYN && !ev.Time.Equal(s.at(so.at)):
						t.Errorf("socket %d has the SYN of %s, its own was at %s", i, ev.Time.Format(time.StampMicro), s.at(so.at).Format(time.StampMicro))
					case ev.Kind == EvKernelState && ev.Detail != nil && ev.Detail.StateTo == "SYN_SENT" && ev.Detail.PID != a.PID:
						t.Errorf("socket %d has the SYN_SENT of pid %d", i, ev.Detail.PID)
					}
				}
				want := map[EventKind]int{EvSYN: 1, EvKernelConnect: 1}
				wantReturns := []string{""}
				if so.refused {
					want[EvRST], want[EvKernelRST] = 1, 1
					wantReturns = []string{"ECONNREFUSED"}
				} else {
					want[EvSYNACK] = 1
				}
				if so.interrupted {
					// both returns of the one connect() call, its socket's
					want[EvKernelConnect] = 2
					wantReturns = append([]string{"ERESTARTSYS"}, wantReturns...)
				}
				if !slices.Equal(returns, wantReturns) {
					t.Errorf("socket %d: connect() returned %q, want %q", i, returns, wantReturns)
				}
				for kind, w := range want {
					if n[kind] != w {
						t.Errorf("socket %d: %d %s events, want %d", i, n[kind], kind, w)
					}
				}
			}
		})
	}
}

// brief renders connects as one line per attempt and event.
func brief(s *sim) string {
	out := ""
	for _, c := range s.got {
		for _, a := range c.Attempts {
			out += fmt.Sprintf("attempt %s %s pid %d reason %s\n", a.Client, a.Outcome, a.PID, a.Reason)
			for _, ev := range a.Events {
				d := ""
				if ev.Detail != nil {
					d = fmt.Sprintf(" %s>%s pid %d", ev.Detail.StateFrom, ev.Detail.StateTo, ev.Detail.PID)
				}
				out += fmt.Sprintf("    %.4f ms %s%s\n", float64(ev.Time.Sub(s.t0))/1e6, ev.Kind, d)
			}
		}
	}
	return out
}

// The ISN index forgets open and reported connects isnTTL after they were
// noted, and a connect noted again (or reported) later is not forgotten by
// the older entry's expiry.
func TestISNIndexExpiry(t *testing.T) {
	k1 := isnKey{key: flowKey{ports: 1}, isn: 7}
	k2 := isnKey{key: flowKey{ports: 2}, isn: 9}
	a1, a2 := &attempt{}, &attempt{}
	var x isnIndex
	x.add(k1, a1, 0)
	x.add(k2, a2, 10)
	x.reported(k1, a1, 20)
	x.reported(k2, a1, 30) // not a2's holder: ignored
	x.expire(isnTTL + 5)   // k1's open entry is gone already (reported); nothing else is due
	if done := doneKeys(&x); len(done) != 1 || done[k1] != 20 || len(x.open) != 1 || x.open[k2].a != a2 {
		t.Fatalf("after the first expiry: open %v, done %v", x.open, done)
	}
	checkDoneChains(t, &x)
	x.add(k2, a2, isnTTL+15) // noted again: the entry at 10 must not remove it
	x.expire(isnTTL + 25)    // the entries at 10 and 20 are due
	if done := doneKeys(&x); len(done) != 0 || x.open[k2].a != a2 {
		t.Fatalf("after the second expiry: open %v, done %v", x.open, done)
	}
	checkDoneChains(t, &x)
	x.reported(k2, a2, isnTTL+30)
	x.add(k2, a2, isnTTL+31) // open again, and reported again
	x.reported(k2, a2, isnTTL+32)
	if done := doneKeys(&x); len(done) != 1 || done[k2] != isnTTL+32 {
		t.Fatalf("reported twice: done %v", done)
	}
	checkDoneChains(t, &x)
	x.expire(isnTTL + isnTTL + 31) // the done entry at isnTTL+30 is due, the one at isnTTL+32 not
	if done := doneKeys(&x); len(done) != 1 || done[k2] != isnTTL+32 {
		t.Fatalf("the older report expired: done %v", done)
	}
	checkDoneChains(t, &x)
	x.expire(3*isnTTL + 16)
	if done := doneKeys(&x); len(x.open) != 0 || len(done) != 0 || x.Len() != 0 {
		t.Fatalf("all due: open %v, done %v, %d entries held", x.open, done, x.Len())
	}
	checkDoneChains(t, &x)
}

// doneKeys is what the index holds as reported: each key's newest report,
// read from the ring itself.
func doneKeys(x *isnIndex) map[isnKey]int64 {
	done := map[isnKey]int64{}
	for _, en := range x.All() {
		done[en.k] = en.at
	}
	return done
}

// checkDoneChains asserts that every reported connect the ring holds is
// found through its bucket's chain, and that a bucket's bit is set while,
// and only while, the ring holds a done entry of it: reportedISN's "no"
// from the bits is never wrong, and the bits empty with the ring.
func checkDoneChains(t *testing.T, x *isnIndex) {
	t.Helper()
	want := map[uint32]bool{}
	for k := range doneKeys(x) {
		want[k.hash()] = true
		if !x.isDone(k, k.hash()) {
			t.Fatalf("reported connect %+v held but not found", k)
		}
	}
	for h := range uint32(isnBuckets) {
		if x.mayBeDone(h) != want[h] {
			t.Fatalf("bucket %d: bit %v; the ring holds a done entry of it: %v", h, x.mayBeDone(h), want[h])
		}
	}
}

// Reported connects of one bucket are each found through its chain while
// held, an open connect is not taken for a reported one, and a connect is
// no longer found once its report expired, through growth of the ring.
func TestISNIndexChains(t *testing.T) {
	// Keys of one bucket: ISNs that differ only above the bucket bits.
	var keys []isnKey
	for i := range 40 {
		keys = append(keys, isnKey{key: flowKey{ports: 5<<16 | 3306}, isn: 7 + uint32(i)<<19})
	}
	a := &attempt{}
	var x isnIndex
	for i, k := range keys {
		x.add(k, a, int64(i))
		if i%2 == 0 {
			x.reported(k, a, int64(i))
		}
		// Unrelated connects in between, so that the ring grows while
		// the chain runs through it.
		for j := range 100 {
			o := isnKey{key: flowKey{ports: uint64(6+j)<<16 | 80}, isn: uint32(i*1000 + j)}
			x.add(o, a, int64(i))
			x.reported(o, a, int64(i))
		}
	}
	for _, c := range []struct {
		name     string
		expireAt int64 // 0: none
		from     int   // keys before this one expired
	}{
		{"all held", 0, 0},
		{"the first ten expired", 9 + isnTTL + 1, 10},
		{"all expired", 40 + isnTTL + 1, 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.expireAt != 0 {
				x.expire(c.expireAt)
			}
			for i, k := range keys {
				if want := i >= c.from && i%2 == 0; x.isDone(k, k.hash()) != want {
					t.Errorf("key %d: reported %v, want %v", i, !want, want)
				}
			}
			checkDoneChains(t, &x)
		})
	}
}

// reportedISN finds a reported connect through the filter whichever way
// round its ends are given, and says no for one never reported.
func TestReportedISNFilter(t *testing.T) {
	e := NewEngine(Options{Live: true})
	client := netip.MustParseAddrPort("10.0.0.1:40000")
	server := netip.MustParseAddrPort("10.0.0.2:3306")
	a := &attempt{client: client, server: server, kISN: 99}
	e.noteISN(a, 99)
	if e.reportedISN(client, server, 99) {
		t.Fatal("reported before its report")
	}
	e.isnReported(a)
	if !e.reportedISN(client, server, 99) || !e.reportedISN(server, client, 99) {
		t.Fatal("a reported connect not found")
	}
	if e.reportedISN(client, server, 98) {
		t.Fatal("another ISN taken for the reported connect")
	}
}

// Each connect's step to SYN_SENT names its own process, also when the
// Detail of the last one is reused for the next connect of the same
// process (synSentDetail).
func TestSynSentDetailNamesItsProcess(t *testing.T) {
	s := newSim(t, Options{NoPackets: true})
	procs := []event.Process{
		{PID: 1, Comm: "one"}, {PID: 1, Comm: "one"}, {PID: 2, Comm: "one"},
		{PID: 2, Comm: "two"}, {PID: 1, Comm: "one"},
	}
	for i, p := range procs {
		src := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), uint16(40000+i))
		dst := netip.MustParseAddrPort("198.51.100.7:3306")
		k := &event.Kernel{Time: s.at(float64(i)), Kind: event.StateChange, Process: p, Cookie: uint64(i + 1),
			Family: event.FamilyInet, SockType: event.SockStream, Src: src, Dst: dst,
			OldState: event.TCPClose, NewState: event.TCPSynSent}
		s.kernel(k)
		k2 := *k
		k2.Time, k2.OldState, k2.NewState = s.at(float64(i)+0.1), event.TCPSynSent, event.TCPEstablished
		s.kernel(&k2)
	}
	s.close()
	if len(s.got) != len(procs) {
		t.Fatalf("%d connects reported, want %d", len(s.got), len(procs))
	}
	seen := map[string]bool{}
	for _, c := range s.got {
		a := c.Attempts[0]
		i := int(netip.MustParseAddrPort(a.Client).Port()) - 40000
		d := a.Events[0].Detail
		if a.Events[0].Kind != EvKernelState || d == nil || d.StateTo != "SYN_SENT" || d.StateFrom != "CLOSE" ||
			d.PID != procs[i].PID || d.Comm != procs[i].Comm {
			t.Errorf("connect %d: first step %+v, detail %+v; want CLOSE→SYN_SENT by %+v", i, a.Events[0], d, procs[i])
		}
		seen[a.Client] = true
	}
	if len(seen) != len(procs) {
		t.Errorf("connects %v, want %d distinct clients", seen, len(procs))
	}
}

// Processes that take turns connecting (a worker pool) share their
// SYN_SENT Details as a single process's connects do: no allocation per
// connect once each process has made one (synSentDetail).
func TestSynSentDetailWorkerPool(t *testing.T) {
	e := NewEngine(Options{Live: true})
	ks := make([]event.Kernel, 8)
	for i := range ks {
		ks[i] = event.Kernel{Kind: event.StateChange, OldState: event.TCPClose, NewState: event.TCPSynSent,
			Process: event.Process{PID: uint32(1000 + i), Comm: "php-fpm"}}
	}
	first := make([]*proto.Detail, len(ks))
	for i := range ks {
		first[i] = e.synSentDetail(&ks[i])
	}
	allocs := testing.AllocsPerRun(10, func() {
		for i := range ks {
			if d := e.synSentDetail(&ks[i]); d != first[i] {
				t.Fatalf("process %d: a new Detail, want the one made for its earlier connect (shared)", ks[i].Process.PID)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round of %d processes' connects, want 0", allocs, len(ks))
	}
}

// TestISNOpenExpiry: an open entry goes exactly when it is isnTTL old at
// an expiry, as a map of every entry looked over at each expiry says,
// whatever was noted, noted again or reported in between (the index
// looks its open entries over only when the oldest may be due).
func TestISNOpenExpiry(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 8))
	var x isnIndex
	want := map[isnKey]int64{}
	as := map[isnKey]*attempt{}
	now := int64(0)
	for i := range 20000 {
		now += rng.Int64N(int64(isnTTL) / 50)
		k := isnKey{key: flowKey{ports: uint64(rng.IntN(300))}, isn: 1}
		switch rng.IntN(4) {
		case 0, 1:
			a := &attempt{seq: uint64(i)}
			x.add(k, a, now)
			want[k], as[k] = now, a
		case 2:
			if a := as[k]; a != nil {
				x.reported(k, a, now)
				delete(want, k)
				delete(as, k)
			}
		case 3:
			x.expire(now)
			for k, at := range want {
				if now-at > isnTTL {
					delete(want, k)
					delete(as, k)
				}
			}
			if len(x.open) != len(want) {
				t.Fatalf("at %d: %d open entries, want %d", now, len(x.open), len(want))
			}
			for k, at := range want {
				if v, ok := x.open[k]; !ok || v.at != at {
					t.Fatalf("at %d: open entry %+v is %+v, want noted at %d", now, k, v, at)
				}
			}
		}
	}
}
