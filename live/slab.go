package live

import (
	"math"
	"sync"
	"time"

	"github.com/connscope/connscope/event"
)

// slab hands out zeroed values of T from chunks allocated slabChunk at a
// time: one allocation (and one object for the collector to find) per
// chunk instead of one per value, for the values the pipeline makes per
// event — the copies of what the readers read, the packets' processes, the
// port completer's records. A chunk stays in memory while any of its values
// is referenced, so only values that live about as long as the reorder
// window come from a slab. A slab is used by one goroutine.
type slab[T any] struct{ free []T }

const slabChunk = 256

func (s *slab[T]) new() *T {
	if len(s.free) == 0 {
		s.free = make([]T, slabChunk)
	}
	p := &s.free[0]
	s.free = s.free[1:]
	return p
}

// chunkCycle gives a reader's chunks back to it once the pipeline is done
// with every value in them, so that the copies of what the readers read
// (a packet or a kernel event: 170 and 230 bytes, about 2 KB per connect)
// reuse the same memory instead of new chunks the collector frees again:
// fewer collections, no zeroing of fresh chunks, a smaller heap (which
// grows into memory the machine first has to fault in).
//
// A chunk goes round: the reader hands out its values (recyclingSlab) and
// seals it when it is full, after it queued the chunk's last value; the
// pipeline collects the sealed chunks before it takes what the reader
// queued (so every value of a collected chunk is taken by then), and
// reclaims a collected chunk once its newest event is released by the
// merger and forgotten by the port completer (the two that hold events
// past the feed: the engine, the process table and the recorder copy what
// they keep). The reader then takes it instead of allocating a new one.
type chunkCycle[T any] struct {
	mu     sync.Mutex
	sealed []heldChunk[T] // sealed by the reader, not collected yet
	free   [][]T          // reclaimed, for the reader to reuse

	// pending: collected by the pipeline, every value taken, waiting for
	// the release to pass their newest (the pipeline's alone).
	pending []heldChunk[T]
}

type heldChunk[T any] struct {
	values []T
	newest int64 // the newest event time among values, as event.OrderKey
}

// maxFreeChunks bounds the chunks kept for reuse (what a backlog after a
// stall left over is the collector's).
const maxFreeChunks = 128

func (c *chunkCycle[T]) seal(values []T, newest int64) {
	c.mu.Lock()
	c.sealed = append(c.sealed, heldChunk[T]{values, newest})
	c.mu.Unlock()
}

// chunk is a chunk for the reader: a reclaimed one if any, not cleared
// (its values hold the events it carried before). The readers overwrite
// each value they take whole (bpf.Tracer.NextBatch, packetCopier.clone),
// so clearing a chunk (59 KB of kernel events, through the collector's
// write barrier while it marks) only wrote it twice.
func (c *chunkCycle[T]) chunk() []T {
	c.mu.Lock()
	var values []T
	if n := len(c.free); n > 0 {
		values = c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
	}
	c.mu.Unlock()
	if values == nil {
		return make([]T, slabChunk)
	}
	return values
}

// collect takes the chunks the reader has sealed so far; call it just
// before taking the reader's queue.
func (c *chunkCycle[T]) collect() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.pending = append(c.pending, c.sealed...)
	clear(c.sealed)
	c.sealed = c.sealed[:0]
	c.mu.Unlock()
}

// reclaim gives the reader back every collected chunk whose newest event
// is at or before released (event.OrderKey), once the merger has released and
// the port completer forgotten everything up to there.
func (c *chunkCycle[T]) reclaim(released int64) {
	if c == nil || len(c.pending) == 0 {
		return
	}
	keep := c.pending[:0]
	c.mu.Lock()
	for _, h := range c.pending {
		switch {
		case h.newest > released:
			keep = append(keep, h)
		case len(c.free) < maxFreeChunks:
			c.free = append(c.free, h.values)
		}
	}
	c.mu.Unlock()
	clear(c.pending[len(keep):])
	c.pending = keep
}

// recyclingSlab is a reader's slab whose chunks come round again through
// cycle (a plain slab when cycle is nil). note must be told each value's
// event time. A value new hands out may hold an earlier event: the reader
// writes it whole.
type recyclingSlab[T any] struct {
	cycle  *chunkCycle[T]
	values []T // the chunk being handed out
	used   int
	newest int64
}

func (s *recyclingSlab[T]) new() *T {
	p := &s.room()[0]
	s.used++
	return p
}

// room is the rest of the chunk being handed out, at least one value,
// for a reader that fills several at once: it then says how many it
// used (took). As with new, a value may hold an earlier event.
func (s *recyclingSlab[T]) room() []T {
	if s.used == len(s.values) {
		if s.cycle == nil {
			s.values = make([]T, slabChunk)
		} else {
			if s.values != nil {
				// Its last value was queued before this call.
				s.cycle.seal(s.values, s.newest)
			}
			s.values = s.cycle.chunk()
		}
		s.used, s.newest = 0, math.MinInt64
	}
	return s.values[s.used:]
}

// full says whether the chunk being handed out has no value left: the
// next new or room seals it, so every value handed out of it must be
// queued by then.
func (s *recyclingSlab[T]) full() bool { return s.used == len(s.values) }

// took says that the first n values room returned are handed out.
func (s *recyclingSlab[T]) took(n int) { s.used += n }

// note records the event time of a value new handed out.
func (s *recyclingSlab[T]) note(t time.Time) {
	if k := event.OrderKey(t); k > s.newest {
		s.newest = k
	}
}

// byteSlab is slab's counterpart for byte strings: copies of payload and
// frames, cut from shared chunks, each with its capacity capped at its
// length (an append to one never overwrites its neighbour).
type byteSlab struct{ free []byte }

const byteSlabChunk = 64 << 10

func (s *byteSlab) clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > byteSlabChunk/8 {
		return append([]byte(nil), b...)
	}
	if len(s.free) < len(b) {
		s.free = make([]byte, byteSlabChunk)
	}
	c := s.free[:len(b):len(b)]
	copy(c, b)
	s.free = s.free[len(b):]
	return c
}

// packetCopier copies the reader's packets (which it reuses) for the
// pipeline, like event.Packet.Clone, from slabs.
type packetCopier struct {
	packets recyclingSlab[event.Packet]
	icmp    slab[event.ICMPError]
	frames  slab[event.Frame]
	procs   slab[event.Process]
	bytes   byteSlab
}

// clone returns a deep copy of p that shares no memory with it.
func (c *packetCopier) clone(p *event.Packet) *event.Packet {
	n := c.packets.new()
	*n = *p
	c.packets.note(p.Time)
	n.Payload = c.bytes.clone(p.Payload)
	if p.ICMP != nil {
		n.ICMP = c.icmp.new()
		*n.ICMP = *p.ICMP
	}
	if p.Frame != nil {
		n.Frame = c.frames.new()
		*n.Frame = *p.Frame
		n.Frame.Data = c.bytes.clone(p.Frame.Data)
	}
	if p.Process != nil {
		n.Process = c.procs.new()
		*n.Process = *p.Process
	}
	return n
}
