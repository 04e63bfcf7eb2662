package event

import (
	"container/heap"
	"time"
)

// Item is one element of the merged stream: exactly one of Packet or Kernel is set.
type Item struct {
	Time   time.Time
	Packet *Packet
	Kernel *Kernel
}

// Merger turns several sources stamped on the same clock into one
// time-ordered stream. Sources deliver late relative to each other (the packet
// ring and the eBPF ring buffer are drained by different goroutines, in
// batches), so each item is held for Window before it is released; an item
// that arrives after younger items were already released is still delivered
// (counted in Late) rather than lost.
//
// A Merger is not safe for concurrent use: feed it from one goroutine.
type Merger struct {
	Window time.Duration

	items    itemHeap
	seq      uint64
	released time.Time // newest time released so far
	// Late counts items that arrived after an item younger than them had
	// already been released: their order relative to those is not exact.
	Late uint64
}

// NewMerger returns a merger holding items for window before releasing them.
func NewMerger(window time.Duration) *Merger {
	return &Merger{Window: window}
}

// AddPacket queues a deep copy of p (sources reuse their packets).
func (m *Merger) AddPacket(p *Packet) {
	m.push(Item{Time: p.Time, Packet: p.Clone()})
}

// Add queues it as is: the merger takes ownership of the packet or kernel
// event it points to (use it for values already copied off the source).
func (m *Merger) Add(it Item) { m.push(it) }

// AddKernel queues a copy of k.
func (m *Merger) AddKernel(k *Kernel) {
	c := *k
	m.push(Item{Time: k.Time, Kernel: &c})
}

func (m *Merger) push(it Item) {
	if !m.released.IsZero() && it.Time.Before(m.released) {
		m.Late++
	}
	m.seq++
	heap.Push(&m.items, heapItem{Item: it, seq: m.seq})
}

// Len is the number of items held.
func (m *Merger) Len() int { return len(m.items) }

// Release emits, in time order, every held item at least Window older than now.
func (m *Merger) Release(now time.Time, emit func(Item)) {
	limit := now.Add(-m.Window)
	for len(m.items) > 0 && !m.items[0].Time.After(limit) {
		m.pop(emit)
	}
}

// Flush emits every held item in time order.
func (m *Merger) Flush(emit func(Item)) {
	for len(m.items) > 0 {
		m.pop(emit)
	}
}

func (m *Merger) pop(emit func(Item)) {
	it := heap.Pop(&m.items).(heapItem)
	if it.Time.After(m.released) {
		m.released = it.Time
	}
	emit(it.Item)
}

// Clone returns a deep copy of p that shares no memory with it.
func (p *Packet) Clone() *Packet {
	c := *p
	if p.Payload != nil {
		c.Payload = append([]byte(nil), p.Payload...)
	}
	if p.ICMP != nil {
		icmp := *p.ICMP
		c.ICMP = &icmp
	}
	if p.Frame != nil {
		f := *p.Frame
		f.Data = append([]byte(nil), p.Frame.Data...)
		c.Frame = &f
	}
	if p.Process != nil {
		proc := *p.Process
		c.Process = &proc
	}
	return &c
}

type heapItem struct {
	Item
	seq uint64 // arrival order: keeps equal timestamps stable
}

type itemHeap []heapItem

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if h[i].Time.Equal(h[j].Time) {
		return h[i].seq < h[j].seq
	}
	return h[i].Time.Before(h[j].Time)
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)   { *h = append(*h, x.(heapItem)) }
func (h *itemHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = heapItem{}
	*h = old[:n-1]
	return it
}
