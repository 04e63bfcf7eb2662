package analyze

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// holdersOf names what still holds attempt a and could hand it out: the
// flow table, the sweep's heap, the socket cookies, the ISN index, the
// lists of kernel attempts without their port and of unclaimed SYNs, and
// the connects not reported yet.
func holdersOf(e *Engine, a *attempt) []string {
	var held []string
	for key, f := range e.flows {
		if f == a {
			held = append(held, fmt.Sprintf("flows[%v]", key))
		}
	}
	if slices.Contains(e.tracked, a) || a.dueIdx != 0 {
		held = append(held, "tracked")
	}
	for c, x := range e.cookies {
		if x == a {
			held = append(held, fmt.Sprintf("cookies[%d]", c))
		}
	}
	for k, v := range e.isns.open {
		if v.attempt() == a {
			held = append(held, fmt.Sprintf("isns.open[%x]", k.isn))
		}
	}
	for dst, list := range e.portless {
		if slices.Contains(list, a) {
			held = append(held, fmt.Sprintf("portless[%s]", dst))
		}
	}
	for dst, u := range e.unclaimed {
		if slices.Contains(u.list, a) {
			held = append(held, fmt.Sprintf("unclaimed[%s]", dst))
		}
	}
	for _, c := range e.open {
		if !c.reported && slices.Contains(c.attempts, a) {
			held = append(held, "an open connect")
		}
	}
	return held
}

// TestLiveAttemptReuse: live, a reported attempt's memory serves a new
// attempt (Engine.spare) only when nothing can hand the old one out any
// more, and the connects reported are the same as when no memory is
// reused. The streams are port-reuse loops (isn.go) with kernel events
// early, late, without their port or ISN, and events lost, so that
// attempts are reported while the lists of kernel attempts without their
// port and of unclaimed SYNs, and the ISN index, still name them.
func TestLiveAttemptReuse(t *testing.T) {
	for _, tc := range []struct {
		name                string
		skew                float64
		withISN, portFilled bool
		lose                float64 // share of the events lost
	}{
		{name: "in step", withISN: true, portFilled: true},
		{name: "kernel late without port", skew: 0.2, withISN: true},
		{name: "kernel early without port", skew: -0.2, withISN: true},
		{name: "kernel late, lossy", skew: 0.2, withISN: true, portFilled: true, lose: 0.1},
		{name: "without port, lossy", skew: 0.05, withISN: true, lose: 0.1},
		{name: "no ISN, lossy", skew: -0.004, portFilled: true, lose: 0.1},
		{name: "no ISN without port, lossy", lose: 0.15},
		{name: "kernel after the report", skew: 150, withISN: true, portFilled: true, lose: 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 13))
			var socks []isnSocket
			at := 0.0
			for range 600 {
				socks = append(socks, isnSocket{isn: rng.Uint32() | 1, at: at, refused: rng.IntN(2) == 0, interrupted: rng.IntN(20) == 0})
				at += 0.05 + rng.Float64()*0.4
			}
			lost := map[int]bool{}
			run := func(reuse bool) (*sim, int) {
				keepReported = !reuse
				spared := 0
				spareCheck = func(e *Engine, a *attempt) {
					spared++
					if held := holdersOf(e, a); len(held) > 0 {
						t.Fatalf("attempt %s→%s (seq %d) made spare while held by %v", a.client, a.server, a.seq, held)
					}
				}
				defer func() { keepReported, spareCheck = false, nil }()
				s := newSim(t, Options{Live: true})
				items := reuseStream(s, socks, tc.skew, tc.withISN, tc.portFilled)
				if reuse {
					for i := range items {
						if rng.Float64() < tc.lose {
							lost[i] = true
						}
					}
				}
				var kept []item
				for i, it := range items {
					if !lost[i] {
						kept = append(kept, it)
					}
				}
				feedItems(s, kept)
				s.close()
				return s, spared
			}
			reused, spared := run(true)
			fresh, none := run(false)
			if none != 0 {
				t.Fatalf("%d attempts made spare with reuse off", none)
			}
			if tc.name == "in step" && spared < len(socks)*9/10 {
				// The common case: each connect's kernel attempt, with its
				// port and ISN, joined by its packets, listed nowhere.
				t.Errorf("only %d attempts of %d connects made spare", spared, len(socks))
			}
			if len(reused.got) != len(fresh.got) {
				t.Fatalf("%d connects with reuse, %d without", len(reused.got), len(fresh.got))
			}
			for i := range fresh.got {
				if !reflect.DeepEqual(reused.got[i], fresh.got[i]) {
					t.Fatalf("connect %d differs with reuse:\n%s\nwithout:\n%s", i, dumpConnects(reused.got[i:i+1]), dumpConnects(fresh.got[i:i+1]))
				}
			}
		})
	}
}

// TestSpareBounded: a burst of reported attempts keeps at most maxSpare
// of them for reuse; the rest are left to the collector.
func TestSpareBounded(t *testing.T) {
	e := NewEngine(Options{Live: true})
	for range 3 * maxSpare {
		e.done = append(e.done, &attempt{})
	}
	e.spareDone()
	if len(e.spare) != maxSpare || len(e.done) != 0 {
		t.Fatalf("%d attempts spare, %d done; want %d spare, 0 done", len(e.spare), len(e.done), maxSpare)
	}
}

// TestTimelineInBufferReadLast: live with Options.Recycle, a new attempt
// writes its timeline into the steps' buffer of the Attempt OnConnect
// returned last (the one just read, still in the caches), not into the
// buffer its spare memory kept from its own report, which was written a
// whole attempt's life before.
func TestTimelineInBufferReadLast(t *testing.T) {
	var last *Event
	reported := 0
	s := newSim(t, Options{Live: true, Recycle: true, OnConnect: func(c *Connect) {
		reported++
		if evs := c.Attempts[len(c.Attempts)-1].Events; len(evs) > 0 {
			last = &evs[0]
		}
	}})
	for i := range 50 {
		ms := float64(i) * 500 // each connect is reported before the next one starts
		k := s.conn(fmt.Sprintf("192.0.2.10:%d", 40000+i), "198.51.100.10:3306")
		readLast := last
		k.SYN(ms)
		key, _ := makeKey(k.c.Addr(), k.c.Port(), k.srv.Addr(), k.srv.Port())
		a := s.e.flows[key]
		if a == nil || len(a.events) == 0 {
			t.Fatalf("connect %d: its SYN made no attempt with a step", i+1)
		}
		if i >= 3 && &a.events[0] != readLast { // the first find no spare memory yet
			t.Fatalf("connect %d: its timeline is not in the buffer of the Attempt read last", i+1)
		}
		k.refuse(ms + 0.1)
		s.e.Advance(s.at(ms + 499))
		if reported != i+1 {
			t.Fatalf("connect %d not reported before the next one", i+1)
		}
	}
	s.close()
}
