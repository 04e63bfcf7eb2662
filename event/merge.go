package event

import (
	"math"
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

	// Items are held in time order, keyed on int64 nanoseconds and their
	// arrival number (equal times keep arrival order): each source's items
	// that arrive in time order (nearly all) queue at the end of that
	// source's run, the others in a small heap; the oldest of the three
	// heads goes first.
	packets, kernels run
	strays           strayHeap
	seq              uint64
	released         time.Time // newest time released so far (or passed by Release)
	releasedNS       int64     // released as a key (math.MinInt64 while zero)
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
	ns := OrderKey(it.Time)
	if !m.released.IsZero() && ns < m.releasedNS {
		m.Late++
		it.Late = true
	}
	m.seq++
	e := entry{ns: ns, seq: m.seq, Item: it}
	q := &m.packets
	if it.Packet == nil {
		q = &m.kernels
	}
	if q.len() == 0 || ns >= q.tail().ns {
		q.push(e)
	} else {
		m.strays.push(e)
	}
}

// OrderKey is the order key the Merger holds an event time by:
// nanoseconds since 1970, the zero time first (math.MinInt64).
func OrderKey(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// Len is the number of items held.
func (m *Merger) Len() int { return m.packets.len() + m.kernels.len() + len(m.strays) }

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
	lim := OrderKey(limit)
	for {
		e := m.oldest()
		if e == nil || e.ns > lim {
			break
		}
		m.pop(e, emit)
	}
	for m.MaxHeld > 0 && m.Len() > m.MaxHeld {
		m.pop(m.oldest(), emit)
	}
	if limit.After(m.released) {
		m.released, m.releasedNS = limit, lim
	}
}

// Flush emits every held item in time order.
func (m *Merger) Flush(emit func(Item)) {
	for e := m.oldest(); e != nil; e = m.oldest() {
		m.pop(e, emit)
	}
}

// oldest is the head that goes next (nil when nothing is held).
func (m *Merger) oldest() *entry {
	var best *entry
	for _, e := range [3]*entry{m.packets.head(), m.kernels.head(), m.strays.head()} {
		if e != nil && (best == nil || e.before(best)) {
			best = e
		}
	}
	return best
}

// pop takes e, the oldest head, off its queue and emits it.
func (m *Merger) pop(e *entry, emit func(Item)) {
	var it entry
	switch e {
	case m.packets.head():
		it = m.packets.pop()
	case m.kernels.head():
		it = m.kernels.pop()
	default:
		it = m.strays.pop()
	}
	if m.released.IsZero() || it.ns > m.releasedNS {
		m.released, m.releasedNS = it.Time, it.ns
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

// entry is a held item with its order key.
type entry struct {
	ns  int64
	seq uint64 // arrival order: keeps equal timestamps stable
	Item
}

func (e *entry) before(o *entry) bool {
	return e.ns < o.ns || e.ns == o.ns && e.seq < o.seq
}

// run is a FIFO of entries in order.
type run struct {
	buf   []entry
	first int // index of the oldest entry
}

func (q *run) len() int     { return len(q.buf) - q.first }
func (q *run) tail() *entry { return &q.buf[len(q.buf)-1] }

func (q *run) head() *entry {
	if q.first == len(q.buf) {
		return nil
	}
	return &q.buf[q.first]
}

func (q *run) push(e entry) {
	if q.first > 0 && q.first == len(q.buf) {
		q.buf, q.first = q.buf[:0], 0
	} else if q.first >= 1024 && q.first >= len(q.buf)/2 {
		// Reuse the space of what was released.
		n := copy(q.buf, q.buf[q.first:])
		clear(q.buf[n:])
		q.buf, q.first = q.buf[:n], 0
	}
	q.buf = append(q.buf, e)
}

func (q *run) pop() entry {
	e := q.buf[q.first]
	q.buf[q.first] = entry{}
	q.first++
	return e
}

// strayHeap is a binary min-heap of the entries that arrived out of their
// source's order.
type strayHeap []entry

func (h strayHeap) head() *entry {
	if len(h) == 0 {
		return nil
	}
	return &h[0]
}

func (h *strayHeap) push(e entry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].before(&s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *strayHeap) pop() entry {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = entry{}
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s[l].before(&s[m]) {
			m = l
		}
		if r < n && s[r].before(&s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
