package analyze

// stream reassembles one direction of a TCP connection's connection phase:
// just enough bytes, in sequence order, to decode packets that span
// segments. Offsets are relative to the first payload byte (ISN+1).
//
// It is bounded: at most maxStreamBuf undecoded bytes and maxPending
// out-of-order segments are held. A segment cut by the snap length leaves a
// hole; the decoder may still read the partial packet in front of it, and
// when it consumes past the hole (it knows the packet's length) decoding
// resumes at the next packet boundary. When the next packet would start
// inside missing bytes the stream is dead and lost: decoding stops, lostAt
// says from which byte on the direction is unknown, and the decoders decide
// from what they saw and what TCP says (segments, directions, FIN, RST).
// The stream never guesses a packet boundary after a hole.
type stream struct {
	started  bool
	base     uint32 // sequence number of the first payload byte
	next     uint32 // offset of the next in-order byte on the wire
	bufAt    uint32 // offset of buf[0]
	buf      []byte // in-order bytes not yet consumed by the decoder
	holed    bool   // bytes between bufAt+len(buf) and next were not captured
	dead     bool   // decoding cannot continue
	skipTo   uint32 // while skipping: drop bytes before this offset
	skipping bool
	pending  []pendingSegment
	bytes    int // payload bytes seen in order on the wire

	holeAt uint32 // while holed: offset of the first byte not captured
	lost   bool   // dead because the next packet starts in bytes that were not captured
	lostAt uint32 // when lost: offset of the first byte the decoder could not place
	cut    int    // in-order segments the snap length cut (captured < wire length)
}

type pendingSegment struct {
	off  uint32
	data []byte // as captured
	wire int    // length on the wire (> len(data) when the snap length cut it)
}

const (
	maxStreamBuf = 16 << 10
	maxPending   = 8
	// maxAhead bounds how far past the next expected byte an out-of-order
	// segment may start and still be kept.
	maxAhead = 64 << 10
)

// init sets the stream's origin from the SYN's sequence number.
func (s *stream) init(isn uint32) {
	*s = stream{started: true, base: isn + 1, buf: s.buf[:0]}
}

// add delivers a segment. captured may be shorter than wireLen when the
// snap length cut the packet. It returns the number of new in-order bytes.
func (s *stream) add(seq uint32, captured []byte, wireLen int) int {
	if !s.started || wireLen <= 0 {
		return 0
	}
	if len(captured) > wireLen {
		captured = captured[:wireLen]
	}
	rel := int32(seq - s.base - s.next) // position relative to the next expected byte
	if rel < 0 {
		// Retransmit or overlap: keep only bytes past s.next.
		over := int(-int64(rel))
		if over >= wireLen {
			return 0
		}
		wireLen -= over
		if over >= len(captured) {
			captured = nil
		} else {
			captured = captured[over:]
		}
		rel = 0
	}
	if rel > 0 {
		if s.dead || rel > maxAhead || len(s.pending) >= maxPending {
			return 0
		}
		off := s.next + uint32(rel)
		for _, p := range s.pending {
			if p.off == off {
				return 0 // already held
			}
		}
		s.pending = append(s.pending, pendingSegment{off: off, data: append([]byte(nil), captured...), wire: wireLen})
		return 0
	}
	n := s.deliver(captured, wireLen)
	// Drain out-of-order segments that now fit.
	for progress := true; progress && len(s.pending) > 0; {
		progress = false
		for i := 0; i < len(s.pending); i++ {
			p := s.pending[i]
			d := int32(p.off - s.next)
			if d > 0 {
				continue
			}
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			i--
			if over := int(-int64(d)); over < p.wire {
				n += s.deliver(p.data[min(over, len(p.data)):], p.wire-over)
			}
			progress = true
		}
	}
	return n
}

// deliver appends in-order bytes (wireLen on the wire, captured of them in hand).
func (s *stream) deliver(captured []byte, wireLen int) int {
	total := wireLen
	off := s.next
	s.next += uint32(wireLen)
	s.bytes += wireLen
	if len(captured) < wireLen {
		s.cut++
	}
	if s.dead {
		return total
	}
	if s.skipping {
		d := int(int32(s.skipTo - off))
		if d >= wireLen {
			return total
		}
		if d > 0 {
			off += uint32(d)
			wireLen -= d
			captured = captured[min(d, len(captured)):]
		}
		s.skipping = false
		s.bufAt = off
		s.buf = s.buf[:0]
	}
	if s.holed {
		// The decoder did not get past the missing bytes: what follows
		// cannot be placed.
		s.lose(s.holeAt)
		return total
	}
	if len(s.buf)+len(captured) > maxStreamBuf {
		s.dead = true
		return total
	}
	if len(s.buf) == 0 {
		s.bufAt = off
	}
	s.buf = append(s.buf, captured...)
	if len(captured) < wireLen {
		s.holed = true
		s.holeAt = off + uint32(len(captured))
	}
	return total
}

// lose stops decoding at bytes that were not captured: from offset at on,
// this direction is unknown.
func (s *stream) lose(at uint32) {
	s.dead = true
	s.lost = true
	s.lostAt = at
	s.buf = s.buf[:0]
}

// consume drops the first n bytes of the stream as the decoder reads them.
// n may exceed what is buffered: the rest is skipped as it arrives, or, when
// the buffer ended at a hole, decoding resumes past it if the next packet
// starts at or after the end of the missing bytes.
func (s *stream) consume(n int) {
	if n <= len(s.buf) {
		rest := copy(s.buf, s.buf[n:])
		s.buf = s.buf[:rest]
		s.bufAt += uint32(n)
		return
	}
	target := s.bufAt + uint32(n)
	s.buf = s.buf[:0]
	d := int32(target - s.next)
	switch {
	case d == 0:
		s.holed = false
		s.bufAt = s.next
	case d > 0:
		s.holed = false
		s.skipping = true
		s.skipTo = target
		s.bufAt = target
	default:
		// The next packet starts inside bytes that were never captured.
		s.lose(s.holeAt)
	}
}

// partial reports whether the buffered bytes end at a hole: the decoder
// must make do with what it has.
func (s *stream) partial() bool { return s.holed }

// release frees the buffers once the connection phase is over.
func (s *stream) release() {
	s.buf = nil
	s.pending = nil
	s.dead = true
}

// maxSpareStreamBufs bounds the stream buffers kept for reuse.
const maxSpareStreamBufs = 64

// initStream inits s, with a buffer of a released stream when it has none
// (offline, thousands of connection phases each grew their own buffer).
func (e *Engine) initStream(s *stream, isn uint32) {
	if s.buf == nil {
		if n := len(e.streamBufs); n > 0 {
			s.buf = e.streamBufs[n-1]
			e.streamBufs[n-1] = nil
			e.streamBufs = e.streamBufs[:n-1]
		}
	}
	s.init(isn)
}

// releaseStreams releases a's streams at the end of its connection phase;
// their buffers are kept for initStream (up to maxSpareStreamBufs). The
// decoders keep nothing of a stream's bytes: they copy what they keep, as
// consume moves the bytes they read.
func (e *Engine) releaseStreams(a *attempt) {
	for _, s := range [...]*stream{&a.c2s, &a.s2c} {
		if cap(s.buf) > 0 && len(e.streamBufs) < maxSpareStreamBufs {
			e.streamBufs = append(e.streamBufs, s.buf[:0])
		}
		s.release()
	}
}
