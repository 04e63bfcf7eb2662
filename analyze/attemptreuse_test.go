package analyze

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// holdersOf names what still holds attempt a and could hand it out: the
// flow table, the sweep's heap, the socket cookies, the ISN index, the
// lists of kernel attempts without their port and of unclaimed SYNs, and
// the connects not reported yet.
func holdersOf(e *Engine, a *attempt) []string {
	var held []string
	e.flows.each(func(key flowKey, f *attempt) {
		if f == a {
			held = append(held, fmt.Sprintf("flows[%v]", key))
		}
	})
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
		a := s.e.flows.get(key)
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

// TestServerSideStepsWithReuse: a connect loop traced on both ends, half
// accepted by a server that closes each connection before it takes the
// next (its accepted steps share a Detail while its process and file
// descriptor stay), half refused (the server's kernel drops the SYN and
// sends the RST): the reports are the same whether reported attempts'
// memory serves new ones or not, and with reuse the drops' memory comes
// round too (a few arrays for every refused connect's drop).
func TestServerSideStepsWithReuse(t *testing.T) {
	run := func(reuse bool) (*sim, int) {
		keepReported = !reuse
		drops := map[*kernelDrop]bool{}
		spareCheck = func(e *Engine, a *attempt) {
			if len(a.kDrops) > 0 {
				drops[&a.kDrops[:1][0]] = true
			}
		}
		defer func() { keepReported, spareCheck = false, nil }()
		s := newSim(t, Options{Live: true})
		for i := range 200 {
			ms := float64(i) * 300
			refused := i%2 == 1
			srvAt := "198.51.100.10:3306"
			if refused {
				srvAt = "198.51.100.10:3307"
			}
			client := fmt.Sprintf("192.0.2.10:%d", 40000+i)
			k := s.conn(client, srvAt)
			k.cisn = uint32(1000 * (i + 1))
			kev := func(at float64, ev event.Kernel) {
				ev.Time, ev.Family, ev.SockType = s.at(at), event.FamilyInet, event.SockStream
				if !ev.Src.IsValid() {
					ev.Src, ev.Dst = ap(client), ap(srvAt)
				}
				s.kernel(&ev)
			}
			proc := event.Process{PID: 42, TID: 42, Comm: "loop", FD: 5}
			kev(ms, event.Kernel{Kind: event.StateChange, Cookie: uint64(i + 1), Process: proc, OldState: event.TCPClose, NewState: event.TCPSynSent})
			k.SYN(ms + 0.01)
			if refused {
				kev(ms+0.02, event.Kernel{Kind: event.PacketDrop, Src: ap(client), Dst: ap(srvAt), Process: event.Process{FD: -1},
					Drop: &event.Drop{Reason: "NO_SOCKET", Location: "tcp_v4_rcv", Incoming: true, Proto: event.ProtoTCP, TCPFlags: event.TCPSyn}})
				kev(ms+0.03, event.Kernel{Kind: event.ResetSent, Src: ap(srvAt), Dst: ap(client), Process: event.Process{FD: -1},
					Reset: &event.Reset{Reason: "NO_SOCKET", Passive: true, Answers: event.TCPSyn}})
				k.refuse(ms + 0.04)
				kev(ms+0.05, event.Kernel{Kind: event.ConnectCall, Cookie: uint64(i + 1), Process: proc, Ret: -111})
				continue
			}
			k.SYNACK(ms + 0.02)
			k.ACK(ms + 0.03)
			kev(ms+0.04, event.Kernel{Kind: event.ChildEstablished, Cookie: uint64(900000 + i), Src: ap(srvAt), Dst: ap(client), Process: event.Process{FD: -1}})
			kev(ms+0.05, event.Kernel{Kind: event.ConnectCall, Cookie: uint64(i + 1), Process: proc})
			acceptor := event.Process{PID: 7, TID: 7, Comm: "server", FD: int32(10 + i%8/4)} // the same descriptor 4 times in a row
			kev(ms+0.06, event.Kernel{Kind: event.Accepted, Cookie: uint64(900000 + i), Src: ap(srvAt), Dst: ap(client), Process: acceptor})
			k.server(ms+0.07, []byte("hello\r\n"))
			k.serverFIN(ms + 0.08)
			k.clientFIN(ms + 0.09)
		}
		s.close()
		return s, len(drops)
	}
	reused, dropArrays := run(true)
	fresh, _ := run(false)
	if len(reused.got) != len(fresh.got) || len(fresh.got) != 200 {
		t.Fatalf("%d connects with reuse, %d without, want 200", len(reused.got), len(fresh.got))
	}
	for i := range fresh.got {
		if !reflect.DeepEqual(reused.got[i], fresh.got[i]) {
			t.Fatalf("connect %d differs with reuse:\n%s\nwithout:\n%s", i, dumpConnects(reused.got[i:i+1]), dumpConnects(fresh.got[i:i+1]))
		}
	}
	if dropArrays == 0 || dropArrays > 10 {
		t.Errorf("the refused connects' drops were in %d arrays, want a few that come round", dropArrays)
	}
	accepted := map[*proto.Detail]int{}
	for _, c := range fresh.got {
		for _, a := range c.Attempts {
			i := int(netip.MustParseAddrPort(a.Client).Port()) - 40000
			for _, ev := range a.Events {
				if ev.Kind != EvAccepted {
					continue
				}
				if d := ev.Detail; d == nil || d.PID != 7 || d.Comm != "server" || d.FD != int32(10+i%8/4) {
					t.Fatalf("connect %d: accepted step detail %+v, want server[7] fd %d", i, d, 10+i%8/4)
				}
				accepted[ev.Detail]++
			}
		}
	}
	if len(accepted) != 50 {
		t.Errorf("the 100 accepted steps have %d Details, want 50: one per run of 2 with the same descriptor", len(accepted))
	}
}
