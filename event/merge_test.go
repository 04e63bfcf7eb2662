package event

import (
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
