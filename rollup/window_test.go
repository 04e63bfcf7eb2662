package rollup

import (
	"math/rand/v2"
	"testing"
	"time"
)

// ringWindow is addWindow as it was with the ring always present: the
// reference the lazily made ring must agree with.
type ringWindow struct {
	win            [timeWaitSeconds]uint32
	winSec         int64
	winSum, winPak int
}

func (p *ringWindow) add(sec int64) {
	switch {
	case p.winSum == 0 && p.winSec == 0:
		p.winSec = sec
	case sec >= p.winSec+timeWaitSeconds:
		p.win, p.winSum, p.winSec = [timeWaitSeconds]uint32{}, 0, sec
	case sec > p.winSec:
		for s := p.winSec + 1; s <= sec; s++ {
			b := &p.win[s%timeWaitSeconds]
			p.winSum -= int(*b)
			*b = 0
		}
		p.winSec = sec
	case sec <= p.winSec-timeWaitSeconds:
		return
	}
	p.win[sec%timeWaitSeconds]++
	p.winSum++
	p.winPak = max(p.winPak, p.winSum)
}

// TestWindowLazyRing checks the ephemeral_ports window of a pair, whose
// attempts are kept as their seconds (recent) until more than maxRecent
// are in it, and only then counted in a ring, against the ring kept from
// the start: the same attempts in the window and the same peak after
// every attempt, for runs in one second, minutes apart, a few a minute
// (the seconds moving on without a ring), around maxRecent in a window,
// and back and forth within the window.
func TestWindowLazyRing(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name  string
		steps func() int64 // the next start, in seconds after the previous
	}{
		{"one second", func() int64 { return 0 }},
		{"minutes apart", func() int64 { return 61 + rng.Int64N(300) }},
		{"seconds apart", func() int64 { return rng.Int64N(5) }},
		{"a few a minute", func() int64 { return rng.Int64N(30) }},
		{"about maxRecent a minute", func() int64 { return 1 + rng.Int64N(2*timeWaitSeconds/maxRecent) }},
		{"tens of seconds apart", func() int64 { return rng.Int64N(60) }},
		{"across the ring's end", func() int64 { return 55 + rng.Int64N(5) }},
		{"back and forth", func() int64 { return rng.Int64N(130) - 65 }},
		{"bursts and gaps", func() int64 {
			if rng.IntN(10) == 0 {
				return 70 + rng.Int64N(100)
			}
			return rng.Int64N(2)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lazy pairStats
			var ref ringWindow
			sec := t0.Unix()
			for i := 0; i < 2000; i++ {
				lazy.addWindow(time.Unix(sec, 0))
				ref.add(sec)
				if lazy.winSum != ref.winSum || lazy.winPeak != ref.winPak {
					t.Fatalf("attempt %d at +%d s: window %d, peak %d; want %d, %d", i, sec-t0.Unix(), lazy.winSum, lazy.winPeak, ref.winSum, ref.winPak)
				}
				sec += tc.steps()
			}
		})
	}
}
