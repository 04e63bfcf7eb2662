package live

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/event"
	"github.com/connscope/connscope/report"
)

// TestRecycleSameReport checks that trace's JSON report is the same
// whether the engine reuses a written connect's memory (Options.Recycle,
// as Trace sets it for JSON) or not: with everything delivered, and with
// kernel events or packets lost or arriving too late for the reorder
// window, so that decided attempts linger in the engine's lists (unclaimed
// SYNs, kernel attempts without their port) while their connect's memory
// is reused.
func TestRecycleSameReport(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		dropKernel, dropPkts float64
		late                 float64 // share of events delivered 1.5 s late
	}{
		{name: "all delivered"},
		{name: "kernel events lost", dropKernel: 0.15},
		{name: "packets lost", dropPkts: 0.15},
		{name: "late events", late: 0.1},
		{name: "everything", dropKernel: 0.05, dropPkts: 0.05, late: 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kernel, packets, _ := lossWorkload(3000, 100*time.Microsecond)
			arrivals := lossyArrivals(rand.New(rand.NewPCG(13, 7)), kernel, packets, tc.dropKernel, tc.dropPkts, tc.late)
			run := func(recycle bool) []byte {
				var out bytes.Buffer
				w := report.NewWriter(&out, report.Options{Format: report.JSON, Streaming: true, HoldFlush: true, Rollup: &report.RollupOptions{}})
				if w.KeepsConnects() {
					t.Fatal("the JSON writer keeps connects: Trace would not recycle")
				}
				now := arrivals[0].at
				s := testSession(func() time.Time { return now }, func() (uint64, uint64) { return 0, 0 })
				s.opts.OnConnect = func(c *analyze.Connect) { w.Connect(c) }
				s.opts.Recycle = recycle
				s.startEngine(false)
				replayArrivals(s, arrivals, &now, func() { w.Flush() })
				w.Summary(s.engine.Close())
				return out.Bytes()
			}
			fresh, recycled := run(false), run(true)
			if !bytes.Equal(fresh, recycled) {
				i := 0
				for i < min(len(fresh), len(recycled)) && fresh[i] == recycled[i] {
					i++
				}
				lo, hi := max(i-300, 0), min(i+300, len(fresh), len(recycled))
				t.Fatalf("reports differ at byte %d of %d/%d:\nfresh:    …%s…\nrecycled: …%s…", i, len(fresh), len(recycled), fresh[lo:hi], recycled[lo:hi])
			}
			if bytes.Count(fresh, []byte(`"kind":"connect"`)) < 2000 {
				t.Fatalf("only %d connects reported of 3000", bytes.Count(fresh, []byte(`"kind":"connect"`)))
			}
		})
	}
}

// TestReportedTimelinesStay checks that a connect handed out by the live
// engine keeps its timeline while the engine goes on (without Recycle,
// the receiver keeps it): the engine reuses the timeline buffers of
// reported attempts (analyze Engine.eventBufs) for new ones, which must
// never be the handed-out steps themselves. Under loss and late events
// too, when reported attempts linger in the engine's lists.
func TestReportedTimelinesStay(t *testing.T) {
	kernel, packets, _ := lossWorkload(2000, 100*time.Microsecond)
	arrivals := lossyArrivals(rand.New(rand.NewPCG(5, 11)), kernel, packets, 0.05, 0.05, 0.05)
	now := arrivals[0].at
	s := testSession(func() time.Time { return now }, func() (uint64, uint64) { return 0, 0 })
	var kept []*analyze.Connect
	var copies [][][]analyze.Event
	s.opts.OnConnect = func(c *analyze.Connect) {
		kept = append(kept, c)
		var evs [][]analyze.Event
		for _, a := range c.Attempts {
			evs = append(evs, slices.Clone(a.Events))
		}
		copies = append(copies, evs)
	}
	s.startEngine(false)
	replayArrivals(s, arrivals, &now, nil)
	s.engine.Close()
	if len(kept) < 1500 {
		t.Fatalf("only %d connects reported of 2000", len(kept))
	}
	for i, c := range kept {
		for j, a := range c.Attempts {
			if !reflect.DeepEqual(a.Events, copies[i][j]) {
				t.Fatalf("connect %d attempt %d: its timeline changed after it was handed out:\nnow  %+v\nthen %+v", i+1, j+1, a.Events, copies[i][j])
			}
		}
	}
}

// arrival is an event and the wall time it reaches the pipeline.
type arrival struct {
	at time.Time
	it event.Item
}

// lossyArrivals delivers the workload's kernel events and packets 10 ms
// after their time, in arrival order: each kernel event lost with
// probability dropKernel, each packet with dropPkts, and a share late of
// the rest delivered 1.5 s late (beyond the reorder window).
func lossyArrivals(rng *rand.Rand, kernel, packets []lossEvent, dropKernel, dropPkts, late float64) []arrival {
	var arrivals []arrival
	for _, list := range [][]lossEvent{kernel, packets} {
		for _, ev := range list {
			drop := dropPkts
			if ev.it.Kernel != nil {
				drop = dropKernel
			}
			if rng.Float64() < drop {
				continue
			}
			lag := 10 * time.Millisecond
			if rng.Float64() < late {
				lag = 1500 * time.Millisecond
			}
			arrivals = append(arrivals, arrival{ev.it.Time.Add(lag), ev.it})
		}
	}
	slices.SortStableFunc(arrivals, func(x, y arrival) int { return x.at.Compare(y.at) })
	return arrivals
}

// replayArrivals feeds the arrivals to s as Run does, with its ticks every
// activeTick (afterTick, if set, runs after each), setting *now (s's
// clock) as it goes, and flushes the merger at the end.
func replayArrivals(s *Session, arrivals []arrival, now *time.Time, afterTick func()) {
	nextTick := now.Add(activeTick)
	for _, a := range arrivals {
		for !nextTick.After(a.at) {
			*now = nextTick
			s.tick(*now)
			if afterTick != nil {
				afterTick()
			}
			nextTick = nextTick.Add(activeTick)
		}
		*now = a.at
		if a.it.Kernel != nil {
			k := *a.it.Kernel
			s.addKernel(&k, *now)
		} else {
			s.addPacket(a.it.Packet.Clone(), *now)
		}
	}
	s.merger.Flush(s.feed)
}
