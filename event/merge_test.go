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
