package live

import "github.com/connscope/connscope/event"

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
	packets slab[event.Packet]
	icmp    slab[event.ICMPError]
	frames  slab[event.Frame]
	procs   slab[event.Process]
	bytes   byteSlab
}

// clone returns a deep copy of p that shares no memory with it.
func (c *packetCopier) clone(p *event.Packet) *event.Packet {
	n := c.packets.new()
	*n = *p
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
