package live

import (
	"fmt"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
)

// progressFunc is a source's progress as a test computes it.
type progressFunc func() time.Time

func (f progressFunc) ReadThrough() time.Time { return f() }

// A reader that falls behind (starved of CPU) still delivers in order; when
// it tells how far it has read, the release and the engine's clock wait for
// it, so that nothing is late and every connect keeps its outcome, even when
// it lags by more than the largest reorder window. Without that (the
// sources' progress unknown), the same lag makes events late.
func TestLaggingSourceHoldsTheRelease(t *testing.T) {
	for _, lagKernel := range []bool{true, false} {
		for _, tells := range []bool{true, false} {
			name := fmt.Sprintf("kernel lags %v, progress told %v", lagKernel, tells)
			t.Run(name, func(t *testing.T) {
				sum, outcomes := runLagging(t, lagKernel, tells)
				if !tells {
					if sum.LateEvents == 0 {
						t.Fatal("a source lagging 1.5 s made no event late: the test does not exercise the lag")
					}
					return
				}
				if sum.LateEvents != 0 {
					t.Errorf("%d events late, though the lagging source told how far it had read", sum.LateEvents)
				}
				for i, got := range outcomes {
					want := []analyze.Outcome{analyze.WrongProtocol, analyze.Refused}[i%2]
					if len(got) != 1 || got[0] != want {
						t.Errorf("connect %d: reported %v, want once %s", i, got, want)
					}
				}
			})
		}
	}
}

// runLagging feeds lossWorkload's connects through the pipeline as Run does,
// with one source delivering 1.5 s behind (in order) over the middle of the
// run and catching up after, and returns the summary and each connect's
// reported outcomes.
func runLagging(t *testing.T, lagKernel, tells bool) (analyze.Summary, [][]analyze.Outcome) {
	const n = 3000
	const gap = 700 * time.Microsecond
	kernel, packets, _ := lossWorkload(n, gap)
	start := kernel[0].it.Time
	span := time.Duration(n) * gap
	type source struct {
		events    []lossEvent
		at        []time.Time // arrival of each event, in order
		delivered int
	}
	srcs := []*source{{events: kernel}, {events: packets}}
	for i, src := range srcs {
		lags := (i == 0) == lagKernel
		var prev time.Time
		for _, ev := range src.events {
			at := ev.it.Time.Add(50 * time.Microsecond)
			if f := float64(ev.it.Time.Sub(start)) / float64(span); lags && f >= 0.3 && f < 0.6 {
				at = ev.it.Time.Add(1500 * time.Millisecond)
			}
			if at.Before(prev) {
				at = prev // a reader delivers in order: it catches up in a burst
			}
			prev = at
			src.at = append(src.at, at)
		}
	}
	now := start
	// Everything stamped before the first event not yet delivered was read.
	progress := func(src *source) sourceProgress {
		return progressFunc(func() time.Time {
			if src.delivered < len(src.events) && src.events[src.delivered].it.Time.Before(now) {
				return src.events[src.delivered].it.Time
			}
			return now
		})
	}
	var reported []*analyze.Connect
	s := testSession(func() time.Time { return now }, func() (uint64, uint64) { return 0, 0 })
	if tells {
		s.kernelRead, s.packetRead = progress(srcs[0]), progress(srcs[1])
	}
	s.opts.OnConnect = func(c *analyze.Connect) { reported = append(reported, c) }
	s.startEngine(false)
	nextTick := start.Add(activeTick)
	for {
		// The next arrival of either source.
		var next *source
		for _, src := range srcs {
			if src.delivered < len(src.events) && (next == nil || src.at[src.delivered].Before(next.at[next.delivered])) {
				next = src
			}
		}
		if next == nil {
			break
		}
		for !nextTick.After(next.at[next.delivered]) {
			now = nextTick
			s.noteLoss()
			s.tick(now)
			nextTick = nextTick.Add(activeTick)
		}
		now = next.at[next.delivered]
		it := next.events[next.delivered].it
		next.delivered++
		if it.Kernel != nil {
			k := *it.Kernel
			s.addKernel(&k, now)
		} else {
			s.addPacket(it.Packet.Clone(), now)
		}
	}
	for end := now.Add(3 * time.Second); nextTick.Before(end); nextTick = nextTick.Add(activeTick) {
		now = nextTick
		s.noteLoss()
		s.tick(now)
	}
	s.merger.Flush(s.feed)
	sum := s.engine.Close()
	outcomes := make([][]analyze.Outcome, n)
	for _, c := range reported {
		for _, a := range c.Attempts {
			if a.PID < 5000 || int(a.PID-5000) >= n {
				if tells {
					t.Errorf("an attempt without its process: %s → %s %s", a.Client, a.Server, a.Outcome)
				}
				continue
			}
			outcomes[a.PID-5000] = append(outcomes[a.PID-5000], a.Outcome)
		}
	}
	return sum, outcomes
}
