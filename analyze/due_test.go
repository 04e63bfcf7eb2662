package analyze

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/connscope/connscope/event"
)

// dueMismatch is the first sweep whose schedule (due.go) disagreed with a
// look at every tracked attempt; TestMain fails the run with it.
var dueMismatch struct {
	sync.Mutex
	msg    string
	sweeps int
}

// checkDueByScan is dueCheck for the package's tests: every sweep's due
// attempts and idle DNS flows must be exactly those a look at every
// tracked attempt finds (the sweep before the schedule).
func checkDueByScan(e *Engine, due, idle []*attempt) {
	checkUndecidedByScan(e)
	checkKeysByScan(e)
	var wantDue, wantIdle []*attempt
	for _, a := range e.tracked {
		if a.dnsFlow != nil {
			if e.now.Sub(a.lastActivity) > e.opts.IdleTimeout {
				wantIdle = append(wantIdle, a)
			}
			continue
		}
		if !a.final && a.dueAt(e) {
			wantDue = append(wantDue, a)
		}
	}
	bySeq := func(x, y *attempt) int { return int(x.seq) - int(y.seq) }
	got, gotIdle := slices.SortedFunc(slices.Values(due), bySeq), slices.SortedFunc(slices.Values(idle), bySeq)
	slices.SortFunc(wantDue, bySeq)
	slices.SortFunc(wantIdle, bySeq)
	dueMismatch.Lock()
	defer dueMismatch.Unlock()
	dueMismatch.sweeps++
	if dueMismatch.msg == "" && (!slices.Equal(got, wantDue) || !slices.Equal(gotIdle, wantIdle)) {
		dueMismatch.msg = fmt.Sprintf("sweep at %s: scheduled due %v idle %v; every tracked attempt says due %v idle %v",
			e.now.Format(time.RFC3339Nano), seqs(got), seqs(gotIdle), seqs(wantDue), seqs(wantIdle))
	}
}

// checkUndecidedByScan (each sweep, with checkDueByScan): every open
// connect not reported yet counts as undecided (connectComplete reads
// the count) the attempts a look at them finds not final, and is on the
// waiting list (the connects the sweep asks whether they are complete)
// when none is; the list's connects say they are on it.
func checkUndecidedByScan(e *Engine) {
	for _, c := range e.waiting {
		if !c.waiting {
			dueMismatch.Lock()
			if dueMismatch.msg == "" {
				dueMismatch.msg = fmt.Sprintf("sweep at %s: connect %d on the waiting list does not say so", e.now.Format(time.RFC3339Nano), c.seq)
			}
			dueMismatch.Unlock()
			return
		}
	}
	for _, c := range e.open {
		if c.reported {
			continue // left in open until this sweep; its attempts may serve new connects already
		}
		if c.undecided == 0 && (!c.waiting || !slices.Contains(e.waiting, c)) {
			dueMismatch.Lock()
			if dueMismatch.msg == "" {
				dueMismatch.msg = fmt.Sprintf("sweep at %s: connect %d has no undecided attempt and is not on the waiting list", e.now.Format(time.RFC3339Nano), c.seq)
			}
			dueMismatch.Unlock()
			return
		}
		n := 0
		for _, a := range c.attempts {
			if !a.final {
				n++
			}
		}
		if n != c.undecided {
			dueMismatch.Lock()
			if dueMismatch.msg == "" {
				dueMismatch.msg = fmt.Sprintf("sweep at %s: connect %d counts %d undecided attempts; its %d attempts have %d",
					e.now.Format(time.RFC3339Nano), c.seq, c.undecided, len(c.attempts), n)
			}
			dueMismatch.Unlock()
			return
		}
	}
}

// checkKeysByScan (each sweep, with checkDueByScan): every tracked
// attempt's flow key and side are makeKey's of its client and server (a
// new SYN's attempt takes the key tcp made of its packet: trackAs).
func checkKeysByScan(e *Engine) {
	for _, a := range e.tracked {
		key, clientIsA := makeKey(a.client.Addr(), a.client.Port(), a.server.Addr(), a.server.Port())
		if a.key != key || a.clientIsA != clientIsA {
			dueMismatch.Lock()
			if dueMismatch.msg == "" {
				dueMismatch.msg = fmt.Sprintf("sweep at %s: attempt %d %v->%v is tracked under key %+v (client first: %v); its addresses make %+v (%v)",
					e.now.Format(time.RFC3339Nano), a.seq, a.client, a.server, a.key, a.clientIsA, key, clientIsA)
			}
			dueMismatch.Unlock()
			return
		}
	}
}

func seqs(as []*attempt) []uint64 {
	var s []uint64
	for _, a := range as {
		s = append(s, a.seq)
	}
	return s
}

// TestDueHeap: the schedule's heap keeps its order and each attempt's
// position through random schedules, moves and removals.
func TestDueHeap(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		r := rand.New(rand.NewPCG(seed, 7))
		var h dueHeap
		as := make([]*attempt, 64)
		for i := range as {
			as[i] = &attempt{seq: uint64(i)}
		}
		at := map[*attempt]int64{}
		for step := 0; step < 5000; step++ {
			a := as[r.IntN(len(as))]
			switch r.IntN(3) {
			case 0, 1:
				v := r.Int64N(1000)
				h.schedule(a, v)
				at[a] = v
			case 2:
				h.remove(a)
				delete(at, a)
			}
			if len(h) != len(at) {
				t.Fatalf("seed %d step %d: heap holds %d, want %d", seed, step, len(h), len(at))
			}
			for i, en := range h {
				if int(en.a.dueIdx) != i+1 || en.at != at[en.a] {
					t.Fatalf("seed %d step %d: entry %d is attempt %d at %d (its index %d), want at %d", seed, step, i, en.a.seq, en.at, en.a.dueIdx, at[en.a])
				}
				if i > 0 && h[(i-1)/2].at > en.at {
					t.Fatalf("seed %d step %d: entry %d (at %d) below its parent (at %d)", seed, step, i, en.at, h[(i-1)/2].at)
				}
			}
		}
		for len(h) > 0 {
			min := h[0].at
			for _, en := range h {
				if en.at < min {
					t.Fatalf("seed %d: top at %d, but %d is in the heap", seed, h[0].at, en.at)
				}
			}
			h.remove(h[0].a)
		}
		for _, a := range as {
			if a.dueIdx != 0 {
				t.Fatalf("seed %d: attempt %d still says it is at %d of an empty heap", seed, a.seq, a.dueIdx)
			}
		}
	}
}

// TestDueFrom: for each of dueAt's cases, dueFrom is the first event time
// at which dueAt holds (one nanosecond earlier it does not), and it
// saturates instead of wrapping around for times past int64's nanoseconds.
func TestDueFrom(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ms := time.Millisecond
	cases := []struct {
		name string
		opts Options
		a    attempt
	}{
		{"kernel attempt, no SYN_SENT", Options{}, attempt{start: t0}},
		{"closed in SYN_SENT", Options{}, attempt{start: t0, kSynSent: t0, kClosed: t0.Add(5 * ms)}},
		{"SYN unanswered", Options{}, attempt{wire: true, start: t0, firstSYN: t0, lastSYN: t0.Add(time.Second), lastSYNGap: time.Second}},
		{"kernel SYN_SENT", Options{}, attempt{start: t0, kSynSent: t0, kLastSYN: t0.Add(3 * time.Second), kSynGap: 2 * time.Second}},
		{"kernel connected, no packets", Options{Live: true}, attempt{start: t0, kSynSent: t0, kConnected: t0.Add(ms)}},
		{"client closed before the server spoke", Options{}, attempt{wire: true, start: t0, synAckAt: t0.Add(ms), clientClose: closedFIN, clientGaveAt: t0.Add(2 * ms), lastActivity: t0.Add(3 * ms)}},
		{"connected, idle", Options{IdleTimeout: 5 * time.Second}, attempt{wire: true, start: t0, synAckAt: t0.Add(ms), firstSrvData: t0.Add(2 * ms), lastActivity: t0.Add(7 * ms)}},
		{"DNS over TCP", Options{}, attempt{start: t0, dnsFlow: &dnsTCPFlow{}, lastActivity: t0.Add(9 * ms)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(tc.opts)
			a := tc.a
			due := func(ns int64) bool {
				e.nowNS, e.now = ns, time.Unix(0, ns).UTC()
				if a.dnsFlow != nil {
					return e.now.Sub(a.lastActivity) > e.opts.IdleTimeout
				}
				return a.dueAt(e)
			}
			at := e.dueFrom(&a)
			if !due(at) || due(at-1) {
				t.Errorf("dueFrom = %s: due there %v, a nanosecond before %v; want true, false",
					time.Unix(0, at).UTC().Format(time.RFC3339Nano), due(at), due(at-1))
			}
		})
	}
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	e := NewEngine(Options{})
	if at := e.dueFrom(&attempt{wire: true, start: far, synAckAt: far, firstSrvData: far, lastActivity: far}); at != math.MaxInt64 {
		t.Errorf("dueFrom of an attempt in 2300 = %d, want %d (saturated)", at, int64(math.MaxInt64))
	}
}

// TestDueScheduleAfterEvents: a kernel attempt scheduled by its SYN_SENT
// (due at its 30 s idle timeout had it no SYN) is due 20 ms after the
// socket closed in SYN_SENT, not later: the close touched it, and the
// sweep after it scheduled it anew. Without the touch, the sweep would
// look at it only when the earlier schedule came.
func TestDueScheduleAfterEvents(t *testing.T) {
	var got []*Connect
	e := NewEngine(Options{Live: true, OnConnect: func(c *Connect) { got = append(got, c) }})
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	src, dst := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:3306")
	k := func(at time.Duration, old, new uint8) *event.Kernel {
		return &event.Kernel{Time: t0.Add(at), Kind: event.StateChange, Cookie: 7, Src: src, Dst: dst, OldState: old, NewState: new,
			Process: event.Process{PID: 9, Comm: "client", FD: -1}}
	}
	e.Kernel(k(0, event.TCPClose, event.TCPSynSent))
	e.Advance(t0.Add(150 * time.Millisecond)) // a sweep: scheduled by SYN_SENT (1 s retransmit + 1 s)
	e.Kernel(k(200*time.Millisecond, event.TCPSynSent, event.TCPClose))
	e.Advance(t0.Add(350 * time.Millisecond))
	if len(got) != 1 {
		t.Fatalf("%d connects reported 150 ms after the socket closed in SYN_SENT, want 1 (due after %s)", len(got), kernelLinger)
	}
	if a := got[0].Attempts[0]; a.Reason == ReasonCaptureEnded {
		t.Errorf("attempt decided %s by the end of the trace, want decided by the sweep", a.Reason)
	}
}

// TestTouchedBounded: a capture whose clock stands still (no sweep comes)
// with many connects, each reported and its attempt's memory reused by
// the next: the list of touched attempts stays bounded, not one entry per
// attempt ever made.
func TestTouchedBounded(t *testing.T) {
	s := newSim(t, Options{})
	const n = 3 * maxTouched
	for i := range n {
		k := s.conn(fmt.Sprintf("10.0.%d.%d:40000", i/250, i%250+1), "10.9.0.1:3306")
		k.SYN(0)
		k.refuse(0)
		if len(s.e.touchedList) > maxTouched+1 {
			t.Fatalf("after %d refused connects at one instant: %d attempts in the touched list, want at most %d", i+1, len(s.e.touchedList), maxTouched+1)
		}
	}
	if sum := s.close(); sum.Connects != n {
		t.Errorf("%d connects reported, want %d", sum.Connects, n)
	}
}
