package proto

// A `trace -w` recording keeps the server's payload and every header as
// captured, but only the client bytes that are safe to keep: credentials
// are zeroed in place (live's scrubber). A protocol that says which of its
// client bytes the analysis needs (Protocol.Scrub) keeps them; any other
// client stream keeps its first few bytes only.

// Scrub says which of a protocol's client bytes a recording keeps.
type Scrub struct {
	// Server reports whether a server's first payload (as captured)
	// starts like this protocol's (a server-first protocol's greeting).
	Server func(first []byte) bool
	// Client reports whether a client's first payload starts like this
	// protocol's (a client-first protocol).
	Client func(first []byte) bool
	// Keep returns the spans of the client's stream to keep, in order;
	// the rest is zeroed. serverFirst is the server's first payload byte
	// (0 when none was seen or captured). When a header's bytes passed
	// without being captured, the boundaries after it are unknown: keep
	// nothing more (any later byte may be a password).
	Keep func(c *ClientStream, serverFirst byte) []Span
}

// Span is a range of stream offsets [Start, End).
type Span struct{ Start, End int }

// Unbounded ends a kept span that runs to the end of the stream.
const Unbounded = 1 << 62

// ClientStreamLimit bounds the client bytes a stream keeps for parsing:
// above the largest connection-phase packet the analysis accepts. Bytes
// beyond it are blanked.
const ClientStreamLimit = 20 << 10

// ClientStream is the client's stream as the scrubber holds it: every
// position is a stream offset from the client's first byte, advanced by the
// segments' lengths on the wire; buf holds what was captured of
// [0, len(buf)), the bytes the snap length cut (holes) are zeros there.
// Bytes before next that are in a hole or beyond buf were not captured:
// a header there cannot be read, and the parsers say so (lost) rather than
// guess where the next packet starts.
type ClientStream struct {
	buf   []byte
	holes []Span // in order, within buf
	next  int    // offset of the next in-order byte on the wire
}

// Add takes an in-order or overlapping segment at start: captured of its
// wire bytes in hand. Bytes already passed are not replaced (a
// retransmission does not fill a hole, as in the analysis); the buffer
// stops growing at ClientStreamLimit.
func (c *ClientStream) Add(start int, captured []byte, wire int) {
	if start > c.next || start+wire <= c.next {
		return
	}
	if len(c.buf) == c.next && len(c.buf) < ClientStreamLimit {
		capEnd := start + len(captured)
		if capEnd > c.next {
			c.buf = append(c.buf, captured[c.next-start:]...)
		}
		if held := min(start+wire, max(ClientStreamLimit, len(c.buf))); held > len(c.buf) {
			c.holes = append(c.holes, Span{len(c.buf), held})
			c.buf = append(c.buf, make([]byte, held-len(c.buf))...)
		}
	}
	c.next = start + wire
}

// Run returns the end of the captured bytes from off on, at most limit: the
// bytes [off, run) are in hand.
func (c *ClientStream) Run(off, limit int) int {
	end := min(limit, len(c.buf))
	for _, h := range c.holes {
		if h.End <= off {
			continue
		}
		if h.Start <= off {
			return off
		}
		end = min(end, h.Start)
		break
	}
	return max(end, off)
}

// Header reports whether a header of n bytes at off can be read: ok when
// all of it was captured; wait when the bytes that passed were captured
// and the rest has not arrived yet; neither (lost) when a byte of it
// passed without being captured.
func (c *ClientStream) Header(off, n int) (ok, wait bool) {
	passed := min(off+n, c.next)
	if c.Run(off, passed) < passed {
		return false, false
	}
	return passed == off+n, passed < off+n
}

// Buf is the stream's bytes from its first on, as far as they arrived
// (the bytes of holes are zeros).
func (c *ClientStream) Buf() []byte { return c.buf }

// Next is the offset of the next in-order byte on the wire.
func (c *ClientStream) Next() int { return c.next }
