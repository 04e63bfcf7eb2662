package capture

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/connscope/connscope/event"
)

// Input is one capture of a set read as one stream: its name (used in
// errors and Stats.Source) and how to open it. Open may be called twice for
// a file (once to learn its first packet's time, once to read it), except
// when Once is set (standard input): that input is opened once and kept open.
type Input struct {
	Name string
	Open func() (*Reader, error)
	Once bool
}

// FileInput is the Input of the capture file at path ("-" is standard
// input, read from stdin).
func FileInput(path string, stdin io.Reader) Input {
	if path == "-" {
		return Input{Name: "stdin", Once: true, Open: func() (*Reader, error) { return NewReader(stdin, "stdin") }}
	}
	return Input{Name: path, Open: func() (*Reader, error) { return Open(path) }}
}

// FileResult is what one capture of a set gave: its counters (with the
// error that stopped it, naming the packet number and byte offset, in
// Stats.Err), or the error that kept it from being opened at all.
type FileResult struct {
	Name    string
	Stats   event.Stats
	OpenErr error
}

// maxKeptOpen is how many captures of a set stay open after their first
// packet was read; with more (a day of hourly rotations, a capture split
// packet by packet) each is closed again and reopened when the merged
// stream reaches its first packet, so that only the captures whose time
// ranges overlap are open at once (each holds a read buffer).
const maxKeptOpen = 16

// Merged reads several captures as one stream in timestamp order: the
// rotated files of one capture (tcpdump -C / -G, editcap -c) and captures of
// the same traffic on several interfaces alike. Every capture is expected to
// be in time order, as capture files are; a packet older than what the
// stream already returned (a capture out of order) is returned at once,
// after the newer ones, as in a single file.
//
// Merged does not drop duplicate frames (the same packet in two captures):
// they come out next to each other, and the analyzer recognises and counts
// them as it does within one file (Summary.Duplicates).
//
// A capture that cannot be opened, or that is damaged, does not stop the
// others: its error is in Results, and the packets it had before the damage
// are part of the stream. Next returns io.EOF after the last packet of the
// last capture, never a capture's error.
type Merged struct {
	streams streamHeap
	results []FileResult
	m       *event.Merger
	out     []*event.Packet
	outPos  int
	err     error
	emitted int64 // time of the newest packet returned (or released) so far
}

type stream struct {
	idx     int // position among the inputs: equal times go in input order
	in      Input
	r       *Reader
	head    *event.Packet // its first packet (a copy), read but not yet merged
	key     int64         // time of the packet read last (open) or of the first packet (not open)
	pending bool          // not open: opened when the stream reaches key
}

// NewMerged opens every input, reads its first packet and returns the
// merged stream. Inputs that cannot be opened, are damaged before their
// first packet or hold no packet to analyze are finished at once: their
// Results are final.
func NewMerged(inputs []Input) *Merged {
	mg := &Merged{results: make([]FileResult, len(inputs)), m: event.NewMerger(0), emitted: math.MinInt64}
	keep := len(inputs) <= maxKeptOpen
	for i, in := range inputs {
		mg.results[i].Name = in.Name
		r, err := in.Open()
		if err != nil {
			mg.results[i].OpenErr = err
			continue
		}
		p, err := r.Next()
		if err != nil {
			// nothing of it joins the stream: its counters are final
			mg.results[i].Stats = r.Stats()
			r.Close()
			continue
		}
		s := &stream{idx: i, in: in, key: timeKey(p)}
		if keep || in.Once {
			s.r, s.head = r, p.Clone()
		} else {
			s.pending = true
			r.Close()
		}
		heap.Push(&mg.streams, s)
	}
	return mg
}

func unixTime(ns int64) time.Time { return time.Unix(0, ns) }

func timeKey(p *event.Packet) int64 {
	if p.Time.IsZero() {
		return math.MinInt64
	}
	return p.Time.UnixNano()
}

// Next returns the next packet of the merged stream (valid until the
// following call) or io.EOF at the end.
func (mg *Merged) Next() (*event.Packet, error) {
	for mg.outPos == len(mg.out) {
		if mg.err != nil {
			return nil, mg.err
		}
		mg.out, mg.outPos = mg.out[:0], 0
		if p := mg.step(); p != nil {
			return p, nil
		}
	}
	p := mg.out[mg.outPos]
	mg.out[mg.outPos] = nil
	mg.outPos++
	return p, nil
}

// step reads one packet from the stream that is furthest behind. When
// nothing is held and that packet is still the oldest of all (a rotated
// file read through to its end before the next begins), it is returned as
// is, without a copy; otherwise it goes to the merger, which releases what
// no stream can still precede.
func (mg *Merged) step() *event.Packet {
	emit := func(it event.Item) {
		mg.out = append(mg.out, it.Packet)
		mg.emitted = max(mg.emitted, timeKey(it.Packet))
	}
	if len(mg.streams) == 0 {
		mg.m.Flush(emit)
		mg.err = io.EOF
		return nil
	}
	s := mg.streams[0]
	if s.pending {
		r, err := s.in.Open()
		if err != nil {
			// it opened a moment ago: report it, go on with the others
			mg.results[s.idx].OpenErr = fmt.Errorf("%w (on reopening it)", err)
			heap.Pop(&mg.streams)
			mg.release(emit)
			return nil
		}
		s.r, s.pending = r, false
	}
	owned := s.head != nil
	p := s.head
	s.head = nil
	if !owned {
		var err error
		if p, err = s.r.Next(); err != nil {
			mg.results[s.idx].Stats = s.r.Stats()
			if !errors.Is(err, io.EOF) && mg.results[s.idx].Stats.Err == "" {
				mg.results[s.idx].Stats.Err = err.Error()
			}
			s.r.Close()
			s.r = nil
			heap.Pop(&mg.streams)
			mg.release(emit)
			return nil
		}
	}
	k := timeKey(p)
	s.key = k
	heap.Fix(&mg.streams, 0)
	if mg.m.Len() == 0 && mg.streams[0] == s && k >= mg.emitted {
		mg.emitted = k
		return p
	}
	if owned {
		mg.m.Add(event.Item{Time: p.Time, Packet: p})
	} else {
		mg.m.AddPacket(p)
	}
	mg.release(emit)
	return nil
}

// release emits every held packet at or before the time of the stream
// furthest behind: no stream can still deliver an older one (in order).
func (mg *Merged) release(emit func(event.Item)) {
	if len(mg.streams) == 0 {
		mg.m.Flush(emit)
		return
	}
	k := mg.streams[0].key
	if k == math.MinInt64 {
		return
	}
	mg.m.ReleaseTo(unixTime(k), emit)
}

// Results returns, in input order, what each capture gave; a capture's
// counters are final once the stream has returned io.EOF.
func (mg *Merged) Results() []FileResult { return mg.results }

// Close closes the captures still open.
func (mg *Merged) Close() error {
	for _, s := range mg.streams {
		if s.r != nil {
			s.r.Close()
			s.r = nil
		}
	}
	return nil
}

type streamHeap []*stream

func (h streamHeap) Len() int { return len(h) }
func (h streamHeap) Less(i, j int) bool {
	if h[i].key != h[j].key {
		return h[i].key < h[j].key
	}
	return h[i].idx < h[j].idx
}
func (h streamHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)   { *h = append(*h, x.(*stream)) }
func (h *streamHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}
