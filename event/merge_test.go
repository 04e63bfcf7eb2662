package event

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestMergerOrdersWithinWindow(t *testing.T) {
	base := time.Unix(1700000000, 0)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

	tests := []struct {
		name     string
		arrivals []int // ms offsets in arrival order; even index → packet, odd → kernel
		window   time.Duration
		want     []int
		wantLate uint64
	}{
		{"in order", []int{1, 2, 3}, 10 * time.Millisecond, []int{1, 2, 3}, 0},
		{"kernel event arrives late but inside window", []int{5, 3, 4, 1}, 10 * time.Millisecond, []int{1, 3, 4, 5}, 0},
		{"equal times keep arrival order", []int{2, 2, 2}, time.Millisecond, []int{2, 2, 2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMerger(tt.window)
			for i, ms := range tt.arrivals {
				if i%2 == 0 {
					m.AddPacket(&Packet{Time: at(ms), Number: uint64(i)})
				} else {
					m.AddKernel(&Kernel{Time: at(ms), Kind: StateChange})
				}
			}
			var got []int
			m.Flush(func(it Item) { got = append(got, int(it.Time.Sub(base)/time.Millisecond)) })
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
			if m.Late != tt.wantLate {
				t.Errorf("Late = %d, want %d", m.Late, tt.wantLate)
			}
		})
	}
}

func TestMergerReleaseHoldsYoungItemsAndCountsLate(t *testing.T) {
	base := time.Unix(1700000000, 0)
	m := NewMerger(50 * time.Millisecond)
	m.AddPacket(&Packet{Time: base})
	m.AddPacket(&Packet{Time: base.Add(100 * time.Millisecond)})
	var n int
	m.Release(base.Add(60*time.Millisecond), func(Item) { n++ })
	if n != 1 || m.Len() != 1 {
		t.Fatalf("released %d, held %d; want 1 released, 1 held", n, m.Len())
	}
	// An item older than what was already released is still delivered, and counted.
	m.AddKernel(&Kernel{Time: base.Add(-time.Millisecond)})
	if m.Late != 1 {
		t.Fatalf("Late = %d, want 1", m.Late)
	}
	m.Flush(func(Item) { n++ })
	if n != 3 {
		t.Fatalf("delivered %d items, want 3", n)
	}
}

func TestPacketCloneSharesNoMemory(t *testing.T) {
	p := &Packet{Payload: []byte{1, 2, 3}, ICMP: &ICMPError{Type: 3}, Process: &Process{PID: 7}}
	c := p.Clone()
	p.Payload[0], p.ICMP.Type, p.Process.PID = 9, 9, 9
	if c.Payload[0] != 1 || c.ICMP.Type != 3 || c.Process.PID != 7 {
		t.Fatalf("clone shares memory with the original: %+v", c)
	}
}

func TestMergerWindowGrowsWithLagAndHoldsBounded(t *testing.T) {
	base := time.Unix(1700000000, 0)
	ms := func(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }
	m := &Merger{Window: 200 * time.Millisecond, MaxWindow: time.Second}
	if w := m.CurrentWindow(); w != 200*time.Millisecond {
		t.Fatalf("window without lag = %v, want 200ms", w)
	}
	// A source 600 ms behind: its items still merge in order.
	m.NoteLag(600 * time.Millisecond)
	if w := m.CurrentWindow(); w != 650*time.Millisecond {
		t.Fatalf("window with 600 ms lag = %v, want 650ms", w)
	}
	m.AddKernel(&Kernel{Time: ms(100)})
	var got []Item
	m.Release(ms(500), func(it Item) { got = append(got, it) })
	if len(got) != 0 {
		t.Fatalf("released %d items inside the grown window", len(got))
	}
	m.AddPacket(&Packet{Time: ms(90)}) // the lagging source's older item
	m.Release(ms(800), func(it Item) { got = append(got, it) })
	if len(got) != 2 || got[0].Packet == nil || got[0].Late || got[1].Late {
		t.Fatalf("got %+v, want the packet then the kernel event, neither late", got)
	}
	// The lag is forgotten after two lag periods; a huge lag is capped.
	m.Limit(ms(800).Add(2 * lagPeriod))
	m.Limit(ms(800).Add(4 * lagPeriod))
	if w := m.CurrentWindow(); w != 200*time.Millisecond {
		t.Fatalf("window after the lag passed = %v, want 200ms", w)
	}
	m.NoteLag(time.Hour)
	if w := m.CurrentWindow(); w != time.Second {
		t.Fatalf("window with an hour's lag = %v, want the 1s cap", w)
	}
	// An item older than what was released is marked late.
	m.AddPacket(&Packet{Time: ms(50)})
	m.Flush(func(it Item) { got = append(got, it) })
	if last := got[len(got)-1]; !last.Late || m.Late != 1 {
		t.Fatalf("late item: Late=%v, counter %d; want true, 1", last.Late, m.Late)
	}
	// MaxHeld releases early what the window would hold.
	h := &Merger{Window: time.Hour, MaxHeld: 3}
	for i := range 5 {
		h.AddPacket(&Packet{Time: ms(i)})
	}
	n := 0
	h.Release(ms(10), func(Item) { n++ })
	if n != 2 || h.Len() != 3 {
		t.Fatalf("released %d, held %d; want 2 released, 3 held", n, h.Len())
	}
}

// The merger emits exactly what a stable sort by time of everything held
// would, whatever the arrival order of each source (in order, nearly in
// order, shuffled), with ReleaseTo and MaxHeld in between, and marks late
// exactly the items older than what was released before they arrived.
func TestMergerMatchesStableSort(t *testing.T) {
	base := time.Unix(1700000000, 0)
	type held struct {
		it  Item
		seq int
	}
	for _, tt := range []struct {
		name    string
		jitter  int // how far (µs) an item may arrive out of its source's order
		maxHeld int
	}{
		{"in order", 0, 0},
		{"nearly in order", 30, 0},
		{"shuffled", 100000, 0},
		{"nearly in order, bounded", 30, 7},
		{"shuffled, bounded", 100000, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.jitter+tt.maxHeld)))
			m := &Merger{MaxHeld: tt.maxHeld}
			var ref []held
			var released time.Time
			var late uint64
			var got, want []Item
			emitRef := func(limit time.Time, bounded bool) {
				slices.SortStableFunc(ref, func(a, b held) int { return a.it.Time.Compare(b.it.Time) })
				for len(ref) > 0 && (!ref[0].it.Time.After(limit) || bounded && tt.maxHeld > 0 && len(ref) > tt.maxHeld) {
					want = append(want, ref[0].it)
					if ref[0].it.Time.After(released) {
						released = ref[0].it.Time
					}
					ref = ref[1:]
				}
			}
			pt, kt := 0, 0 // each source's clock, µs
			for i := range 3000 {
				var it Item
				if rng.IntN(2) == 0 {
					pt += rng.IntN(20)
					at := pt - rng.IntN(tt.jitter+1)
					it = Item{Time: base.Add(time.Duration(at) * time.Microsecond), Packet: &Packet{Number: uint64(i)}}
				} else {
					kt += rng.IntN(20)
					at := kt - rng.IntN(tt.jitter+1)
					it = Item{Time: base.Add(time.Duration(at) * time.Microsecond), Kernel: &Kernel{Cookie: uint64(i)}}
				}
				if !released.IsZero() && it.Time.Before(released) {
					late++
					it.Late = true
				}
				m.Add(it)
				ref = append(ref, held{it, i})
				if rng.IntN(50) == 0 {
					limit := base.Add(time.Duration(min(pt, kt)-rng.IntN(200)) * time.Microsecond)
					m.ReleaseTo(limit, func(it Item) { got = append(got, it) })
					emitRef(limit, true)
					if limit.After(released) {
						released = limit
					}
				}
			}
			m.Flush(func(it Item) { got = append(got, it) })
			emitRef(base.Add(time.Hour), false)
			if len(got) != len(want) {
				t.Fatalf("emitted %d items, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i].Packet != want[i].Packet || got[i].Kernel != want[i].Kernel || got[i].Late != want[i].Late {
					t.Fatalf("item %d: got %+v, want %+v", i, got[i], want[i])
				}
			}
			if m.Late != late {
				t.Errorf("Late = %d, want %d", m.Late, late)
			}
		})
	}
}

// BenchmarkMerger: two sources, each nearly in time order, released in
// batches as the live pipeline's tick does (ns/op is per item).
func BenchmarkMerger(b *testing.B) {
	base := time.Unix(1700000000, 0)
	m := &Merger{Window: 200 * time.Millisecond, MaxHeld: 1 << 16}
	p, k := &Packet{}, &Kernel{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		at := base.Add(time.Duration(i) * 10 * time.Microsecond)
		if i%2 == 0 {
			m.Add(Item{Time: at, Packet: p})
		} else {
			m.Add(Item{Time: at.Add(-30 * time.Microsecond), Kernel: k})
		}
		if i%2000 == 0 {
			m.Release(at, func(Item) {})
		}
	}
}
