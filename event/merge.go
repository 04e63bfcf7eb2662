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
	// Late is set by the Merger on an item that arrived after the stream
	// had already moved past its time (later than the reorder window):
	// consumers must not take it for the start of something new.
	Late bool
}

// Merger turns several sources stamped on the same clock into one
// time-ordered stream. Sources deliver late relative to each other (the packet
// ring and the eBPF ring buffer are drained by different goroutines, in
// batches), so each item is held for Window before it is released; an item
// that arrived after the stream had moved past its time (younger items
// released, or Release called past it) is still delivered, marked Late and
// counted in Late, rather than lost.
//
// When sources fall behind (NoteLag), the window grows to cover the lag seen
// over the last few seconds, up to MaxWindow, so that a lagging source's
// items still merge in order instead of arriving late.
//
// A Merger is not safe for concurrent use: feed it from one goroutine.
type Merger struct {
	Window time.Duration
	// MaxWindow caps the window grown by NoteLag (0: the window never grows).
	MaxWindow time.Duration
	// MaxHeld bounds the items held (0: no bound): past it, Release emits
	// the oldest ones early, whatever the window, so memory stays bounded
	// at any event rate (what then arrives older is Late).
	MaxHeld int

	items    itemHeap
	seq      uint64
	released time.Time // newest time released so far (or passed by Release)
	// Late counts items that arrived after the stream had moved past their
	// time: their order relative to their neighbours is not exact.
	Late uint64

	// lag is the largest source lag seen in the current lagPeriod, prevLag
	// in the previous one (a sliding maximum that forgets old bursts).
	lag, prevLag time.Duration
	lagSince     time.Time
}

// lagPeriod is how long a source lag seen by NoteLag keeps the window grown.
const lagPeriod = 2 * time.Second

// lagMargin is added to the lag seen, for the readers' own batching.
const lagMargin = 50 * time.Millisecond

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
		it.Late = true
	}
	m.seq++
	heap.Push(&m.items, heapItem{Item: it, seq: m.seq})
}

// Len is the number of items held.
func (m *Merger) Len() int { return len(m.items) }

// NoteLag records how far behind a source delivers: the time between an
// item's timestamp and its arrival (now - item time).
func (m *Merger) NoteLag(d time.Duration) {
	if d > m.lag {
		m.lag = d
	}
}

// CurrentWindow is the window in force: Window, or longer while sources lag
// (at most MaxWindow).
func (m *Merger) CurrentWindow() time.Duration {
	w := m.Window
	if m.MaxWindow > w {
		lag := max(m.lag, m.prevLag)
		if lag > 0 {
			w = max(w, min(lag+lagMargin, m.MaxWindow))
		}
	}
	return w
}

// Limit is the time up to which Release(now) emits.
func (m *Merger) Limit(now time.Time) time.Time {
	if m.lagSince.IsZero() {
		m.lagSince = now
	} else if now.Sub(m.lagSince) >= lagPeriod {
		m.prevLag, m.lag, m.lagSince = m.lag, 0, now
	}
	return now.Add(-m.CurrentWindow())
}

// Release emits, in time order, every held item at least the current window
// older than now. Items that arrive later for times before that are Late.
func (m *Merger) Release(now time.Time, emit func(Item)) {
	m.ReleaseTo(m.Limit(now), emit)
}

// ReleaseTo emits, in time order, every held item at or before limit (and
// the oldest past MaxHeld); items that arrive later for times before it
// are Late.
func (m *Merger) ReleaseTo(limit time.Time, emit func(Item)) {
	for len(m.items) > 0 && !m.items[0].Time.After(limit) {
		m.pop(emit)
	}
	for m.MaxHeld > 0 && len(m.items) > m.MaxHeld {
		m.pop(emit)
	}
	if limit.After(m.released) {
		m.released = limit
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
