package live

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/event"
)

// What a -w recording keeps of the client's side of a TCP connection
// (server payload, DNS and every header are kept as captured). Blanked bytes
// are zeroed in place, so frame and segment lengths, sequence numbers and
// offsets stay what they were, and tshark and `connscope analyze` read the
// file as before:
//
//   - MySQL (the server's first payload is a MySQL greeting): the
//     HandshakeResponse keeps its header, capabilities, user name, database
//     and plugin name; its auth response is blanked. Every later client
//     packet (AuthSwitchResponse, mysql_clear_password's plaintext, the
//     commands after login) keeps its 4-byte header and has its payload
//     blanked. An SSLRequest is kept, and so is the TLS after it.
//   - PostgreSQL (the client's first bytes are a StartupMessage, SSLRequest,
//     GSSENCRequest or CancelRequest): the startup message is kept (user,
//     database, application name) but for a "password" parameter's value;
//     every later message keeps its type byte and length and has its body
//     blanked: PasswordMessage (cleartext, md5), SASL responses (a
//     SASLInitialResponse keeps its mechanism name and data length), queries. TLS or GSSAPI encryption after a request is
//     kept (ciphertext).
//   - TLS from the first client byte: kept (ciphertext; the ClientHello
//     holds no credentials).
//   - DNS over TCP (server port 53): kept; the analysis reads the queries.
//   - Any other protocol: the first keptClientBytes bytes of the client's
//     stream are kept (enough to recognise "GET /", "*2\r\n$4" or "USER"),
//     the rest is blanked: an HTTP Authorization header, a Redis AUTH, an
//     FTP PASS.
//
// The analysis reads from client payload only the MySQL HandshakeResponse's
// user name and framing, the TLS record headers after an SSLRequest, and
// otherwise lengths and times, so a scrubbed file gives the same outcomes.
// Client bytes whose place in the stream is unknown (no SYN seen, out of
// order beyond a gap, beyond scrubStreamLimit) are blanked whole. The TCP
// payload an ICMP error quotes is blanked; the quoted headers are kept.
//
// Segments the snap length cut (a classic-filter capture, a cut AF_PACKET
// frame): stream positions advance by the segment's length on the wire
// (sequence numbers), and the bytes captured are judged at their true
// offsets. A packet cut short is stepped over by its length. When a MySQL or
// PostgreSQL header falls in bytes that were not captured, the packet
// boundaries after it are unknown: no later client byte is kept (the
// analysis cannot frame that direction either, so its verdict does not
// change), except that TLS after an SSLRequest the scrubber recognised (or,
// for PostgreSQL, one the server accepted with 'S' or 'G') stays kept whole.
const (
	keptClientBytes = 8
	// scrubStreamLimit bounds the client bytes a flow keeps for parsing:
	// above the largest connection-phase packet the analysis accepts
	// (mysql.MaxConnPhasePacket). Bytes beyond it are blanked.
	scrubStreamLimit = 20 << 10
	// scrubIdle is how long a flow without packets is remembered.
	scrubIdle = 2 * time.Minute
)

type scrubMode uint8

const (
	scrubUndecided scrubMode = iota
	scrubMySQL
	scrubPostgres
	scrubTLS
	scrubDNS
	scrubOther
)

type scrubKey struct{ lo, hi netip.AddrPort }

type scrubFlow struct {
	client   netip.AddrPort
	isn      uint32 // client's initial sequence number
	haveISN  bool
	mode     scrubMode
	cs       clientStream
	srvFirst byte // the server's first payload byte (PostgreSQL: 'S' or 'G' accepts an encryption request)
	srvSeen  bool // the server's first payload segment was seen
	lastSeen time.Time
}

// clientStream is the client's stream as the scrubber holds it: every
// position is a stream offset from the client's first byte, advanced by the
// segments' lengths on the wire; buf holds what was captured of
// [0, len(buf)), the bytes the snap length cut (holes) are zeros there.
// Bytes before next that are in a hole or beyond buf were not captured:
// a header there cannot be read, and the parsers say so (lost) rather than
// guess where the next packet starts.
type clientStream struct {
	buf   []byte
	holes []span // in order, within buf
	next  int    // offset of the next in-order byte on the wire
}

// add takes an in-order or overlapping segment at start: captured of its
// wire bytes in hand. Bytes already passed are not replaced (a
// retransmission does not fill a hole, as in the analysis); the buffer
// stops growing at scrubStreamLimit.
func (c *clientStream) add(start int, captured []byte, wire int) {
	if start > c.next || start+wire <= c.next {
		return
	}
	if len(c.buf) == c.next && len(c.buf) < scrubStreamLimit {
		capEnd := start + len(captured)
		if capEnd > c.next {
			c.buf = append(c.buf, captured[c.next-start:]...)
		}
		if held := min(start+wire, max(scrubStreamLimit, len(c.buf))); held > len(c.buf) {
			c.holes = append(c.holes, span{len(c.buf), held})
			c.buf = append(c.buf, make([]byte, held-len(c.buf))...)
		}
	}
	c.next = start + wire
}

// run returns the end of the captured bytes from off on, at most limit: the
// bytes [off, run) are in hand.
func (c *clientStream) run(off, limit int) int {
	end := min(limit, len(c.buf))
	for _, h := range c.holes {
		if h.end <= off {
			continue
		}
		if h.start <= off {
			return off
		}
		end = min(end, h.start)
		break
	}
	return max(end, off)
}

// header reports whether a header of n bytes at off can be read: ok when
// all of it was captured; wait when the bytes that passed were captured
// and the rest has not arrived yet; neither (lost) when a byte of it
// passed without being captured.
func (c *clientStream) header(off, n int) (ok, wait bool) {
	passed := min(off+n, c.next)
	if c.run(off, passed) < passed {
		return false, false
	}
	return passed == off+n, passed < off+n
}

// scrubber blanks credentials in the frames a -w recording writes (see
// keptClientBytes). It is used from the session's pipeline goroutine only.
type scrubber struct {
	flows     map[scrubKey]*scrubFlow
	packets   int
	unwritten int // frames left out: payload not locatable
}

func newScrubber() *scrubber { return &scrubber{flows: map[scrubKey]*scrubFlow{}} }

func keyOf(a, b netip.AddrPort) scrubKey {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return scrubKey{a, b}
}

// frame scrubs p.Frame.Data in place. It returns false when the frame holds
// TCP payload it cannot locate (it must then not be written).
func (s *scrubber) frame(p *event.Packet) bool {
	if p.Frame != nil && p.ICMP != nil && p.ICMP.QuotedProto == event.ProtoTCP {
		// An ICMP error may quote a client's login segment: its quoted IP
		// and TCP headers are kept (the analysis matches them), the quoted
		// payload is blanked.
		if off, n, ok := capture.QuotedTCPPayload(p.Frame.Data, p.Frame.LinkType, p.Frame.WireLen); ok {
			clear(p.Frame.Data[off : off+n])
		}
		return true
	}
	if p.Frame == nil || p.Proto != event.ProtoTCP {
		return true
	}
	s.packets++
	if s.packets%4096 == 0 {
		s.forget(p.Time.Add(-scrubIdle))
	}
	src := netip.AddrPortFrom(p.Src, p.SrcPort)
	dst := netip.AddrPortFrom(p.Dst, p.DstPort)
	k := keyOf(src, dst)
	f := s.flows[k]
	switch {
	case p.TCPFlags&(event.TCPSyn|event.TCPAck) == event.TCPSyn:
		if f == nil || !f.haveISN || f.client != src || f.isn != p.Seq {
			f = &scrubFlow{client: src, isn: p.Seq, haveISN: true}
			s.flows[k] = f
		}
	case p.TCPFlags&(event.TCPSyn|event.TCPAck) == event.TCPSyn|event.TCPAck:
		if f == nil || !f.haveISN {
			f = &scrubFlow{client: dst, isn: p.Ack - 1, haveISN: true}
			s.flows[k] = f
		}
	}
	if f == nil {
		// The handshake was not seen: the lower port is taken for the
		// server's, and the client's bytes are blanked whole.
		client := src
		if src.Port() < dst.Port() {
			client = dst
		}
		f = &scrubFlow{client: client}
		s.flows[k] = f
	}
	f.lastSeen = p.Time
	if server := src; f.mode == scrubUndecided {
		if src == f.client {
			server = dst
		}
		if server.Port() == 53 {
			f.mode = scrubDNS
		}
	}
	if p.PayloadLen == 0 {
		return true
	}
	off, n, ok := capture.TransportPayload(p.Frame.Data, p.Frame.LinkType, p.Frame.WireLen)
	if !ok {
		return false
	}
	payload := p.Frame.Data[off : off+n]
	if src != f.client {
		if !f.srvSeen {
			// The server's first segment; its first byte stays unknown
			// (0) when the capture kept none of it.
			f.srvSeen = true
			if len(payload) > 0 {
				f.srvFirst = payload[0]
			}
		}
		if f.mode == scrubUndecided && len(payload) > 0 {
			if mysql.LooksLikeGreetingPrefix(payload) {
				f.mode = scrubMySQL
			} else {
				f.mode = scrubOther
			}
		}
		return true
	}
	if !f.haveISN {
		clear(payload)
		return true
	}
	rel := p.Seq - (f.isn + 1)
	if rel >= 1<<31 {
		clear(payload) // before the first byte: not a stream position
		return true
	}
	start := int(rel)
	if f.mode == scrubUndecided && start == 0 && len(payload) > 0 {
		f.mode = clientFirstMode(payload)
	}
	// Only the MySQL and PostgreSQL rules parse the stream; its positions
	// advance by the wire length, so a segment the snap length cut leaves
	// a hole instead of shifting what follows.
	if f.mode == scrubMySQL || f.mode == scrubPostgres {
		f.cs.add(start, payload, max(p.PayloadLen, len(payload)))
	}
	blankClient(f, payload, start)
	return true
}

// forget drops flows not seen since before.
func (s *scrubber) forget(before time.Time) {
	for k, f := range s.flows {
		if f.lastSeen.Before(before) {
			delete(s.flows, k)
		}
	}
}

// clientFirstMode names the protocol of a client that speaks first.
func clientFirstMode(b []byte) scrubMode {
	if looksTLS(b) {
		return scrubTLS
	}
	if len(b) >= 8 {
		n := binary.BigEndian.Uint32(b)
		code := binary.BigEndian.Uint32(b[4:])
		if n >= 8 && n <= 10000 && (code>>16 == 3 || code == pgSSLRequest || code == pgGSSENCRequest || code == pgCancelRequest) {
			return scrubPostgres
		}
	}
	return scrubOther
}

func looksTLS(b []byte) bool {
	return len(b) >= 3 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4
}

const (
	pgSSLRequest    = 80877103
	pgGSSENCRequest = 80877104
	pgCancelRequest = 80877102
)

// blankClient zeroes the bytes of payload (the client's stream from offset
// start) that are not to be kept.
func blankClient(f *scrubFlow, payload []byte, start int) {
	end := start + len(payload)
	switch f.mode {
	case scrubTLS, scrubDNS:
		return
	case scrubMySQL, scrubPostgres:
		var keep []span
		if f.mode == scrubMySQL {
			keep = mysqlClientKeep(&f.cs)
		} else {
			keep = postgresClientKeep(&f.cs, f.srvFirst == 'S' || f.srvFirst == 'G')
		}
		// Zero everything outside the kept spans.
		pos := start
		for _, k := range keep {
			if k.end <= pos {
				continue
			}
			if k.start >= end {
				break
			}
			if k.start > pos {
				clear(payload[pos-start : k.start-start])
			}
			pos = min(k.end, end)
		}
		if pos < end {
			clear(payload[pos-start:])
		}
	default: // scrubOther, scrubUndecided (client bytes before any protocol is known)
		if end > keptClientBytes {
			from := max(start, keptClientBytes)
			clear(payload[from-start:])
		}
	}
}

// span is a range of stream offsets [start, end).
type span struct{ start, end int }

// unbounded ends a kept span that runs to the end of the stream.
const unbounded = 1 << 62

// mysqlClientKeep parses the client's MySQL stream (from its first byte:
// the HandshakeResponse or SSLRequest) and returns the spans to keep, in
// order: every packet header, the HandshakeResponse but its auth response,
// and everything from the TLS after an SSLRequest on.
//
// A packet the snap length cut is stepped over by its length; the next
// header is read where it starts. When a header's bytes passed without
// being captured, the packet boundaries after it are unknown and nothing
// more is kept: any later byte may be a password (an AuthSwitchResponse,
// mysql_clear_password's plaintext, a SET PASSWORD query), and the analysis
// reads nothing of a client direction it cannot frame (its stream is lost
// at that header too, analyze/stream.go), so the verdict does not change.
// The TLS decision is made by the SSLRequest, which comes first: once made,
// the rest is kept whole, cut or not.
func mysqlClientKeep(c *clientStream) []span {
	var keep []span
	for off, first := 0, true; off < c.next; first = false {
		ok, wait := c.header(off, mysql.HeaderLen)
		if wait {
			// A header cut by the segment end: the next segment completes it.
			return append(keep, span{off, off + mysql.HeaderLen})
		}
		if !ok {
			return keep // lost: the rest is blanked
		}
		b := c.buf
		n := int(b[off]) | int(b[off+1])<<8 | int(b[off+2])<<16
		body := off + mysql.HeaderLen
		keep = append(keep, span{off, body})
		if first {
			p := b[body:c.run(body, body+n)] // the packet's bytes in hand, up to a hole
			if isSSLRequest(p, n) {
				return append(keep, span{body, unbounded})
			}
			if auth, ok := mysqlAuthSpan(p, n); ok {
				keep = append(keep, span{body, body + auth.start}, span{body + auth.end, body + n})
			} else {
				// The auth response's place is not known (yet, or ever
				// when a hole comes first): what is there precedes it
				// (capabilities, user name).
				keep = append(keep, span{body, body + len(p)})
			}
		}
		off = body + n
	}
	return keep
}

// isSSLRequest reports whether the client's first packet (n bytes, p the
// part captured) asks for TLS.
func isSSLRequest(p []byte, n int) bool {
	switch {
	case n == 32 && len(p) >= 4:
		caps := binary.LittleEndian.Uint32(p)
		return caps&mysql.ClientProtocol41 != 0 && caps&mysql.ClientSSL != 0
	case n == 5 && len(p) >= 2:
		caps := uint32(binary.LittleEndian.Uint16(p))
		return caps&mysql.ClientProtocol41 == 0 && caps&mysql.ClientSSL != 0
	}
	return false
}

// mysqlAuthSpan finds the auth response in a HandshakeResponse (n bytes, p
// the part captured so far), relative to the payload's start. ok is false
// while the bytes before it are incomplete.
func mysqlAuthSpan(p []byte, n int) (span, bool) {
	if len(p) < 2 {
		return span{}, false
	}
	caps := uint32(binary.LittleEndian.Uint16(p))
	userAt := 5 // HandshakeResponse320: caps(2) max-packet(3) user NUL auth
	if caps&mysql.ClientProtocol41 != 0 {
		if len(p) < 4 {
			return span{}, false
		}
		caps = binary.LittleEndian.Uint32(p)
		userAt = 32 // caps(4) max-packet(4) charset(1) filler(23)
	}
	if len(p) <= userAt {
		return span{}, false
	}
	nul := indexZero(p[userAt:])
	if nul < 0 {
		return span{}, false
	}
	at := userAt + nul + 1
	switch {
	case caps&mysql.ClientProtocol41 == 0:
		return span{at, n}, true // the rest of the packet
	case caps&mysql.ClientPluginAuthLenenc != 0:
		l, w, ok := lenenc(p[at:])
		if !ok {
			return span{}, false
		}
		return clampSpan(at+w, at+w+l, n), true
	case caps&mysql.ClientSecureConnection != 0:
		if len(p) <= at {
			return span{}, false
		}
		return clampSpan(at+1, at+1+int(p[at]), n), true
	default:
		// NUL-terminated auth response: up to the terminator, or the
		// packet's end when it is not captured yet.
		if i := indexZero(p[at:]); i >= 0 {
			return span{at, at + i}, true
		}
		return span{at, n}, true
	}
}

func clampSpan(start, end, n int) span {
	return span{min(start, n), min(end, n)}
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// lenenc decodes a MySQL length-encoded integer: value, width, ok.
func lenenc(b []byte) (int, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	w := 1
	switch b[0] {
	case 0xfc:
		w = 3
	case 0xfd:
		w = 4
	case 0xfe:
		w = 9
	case 0xfb, 0xff:
		return 0, 1, true // not a length: no auth bytes
	default:
		return int(b[0]), 1, true
	}
	if len(b) < w {
		return 0, 0, false
	}
	var v uint64
	for i := w - 1; i >= 1; i-- {
		v = v<<8 | uint64(b[i])
	}
	if v > 1<<30 {
		v = 1 << 30
	}
	return int(v), w, true
}

// postgresClientKeep parses the client's PostgreSQL stream and returns the
// spans to keep: requests and the startup message whole, encrypted bytes
// after an SSL or GSSAPI request, and the type and length of every later
// message. encrypted says the server accepted the client's first request
// (its first byte 'S' or 'G'): what follows that request is TLS or GSSAPI,
// kept whole even when the snap length cut the bytes that would show it.
// When a message header's bytes passed without being captured, the
// boundaries after it are unknown and nothing more is kept.
func postgresClientKeep(c *clientStream, encrypted bool) []span {
	var keep []span
	buf := c.buf
	off := 0
	for off < c.next {
		if off > 0 && (encrypted || c.run(off, off+1) > off && buf[off] == 0x16) {
			// TLS (or GSSAPI) after the request the server accepted, or
			// a TLS record where a startup message could be.
			return append(keep, span{off, unbounded})
		}
		ok, wait := c.header(off, 8)
		if wait {
			return append(keep, span{off, off + 8}) // a request header, completed next
		}
		if !ok {
			return keep // lost: the rest is blanked
		}
		n := int(binary.BigEndian.Uint32(buf[off:]))
		code := binary.BigEndian.Uint32(buf[off+4:])
		switch {
		case n == 8 && (code == pgSSLRequest || code == pgGSSENCRequest), n == 16 && code == pgCancelRequest:
			keep = append(keep, span{off, off + n})
			off += n
			continue
		case code>>16 == 3 && n >= 8 && n <= 10000:
			keep = append(keep, startupKeep(c, off, n)...)
			off += n
		case off > 0:
			// After a request, anything but a startup message is TLS or
			// GSSAPI-encrypted.
			return append(keep, span{off, unbounded})
		default:
			return keep // not PostgreSQL after all: blank the rest
		}
		break
	}
	// Typed messages: type(1) length(4, counting itself) body.
	for off < c.next {
		ok, wait := c.header(off, 5)
		if !ok && !wait {
			return keep // lost: the rest is blanked
		}
		keep = append(keep, span{off, off + 5})
		if wait {
			return keep
		}
		n := int(binary.BigEndian.Uint32(buf[off+1:]))
		if n < 4 {
			return keep // malformed: blank the rest
		}
		if buf[off] == 'p' {
			if m := saslMechanismLen(buf[off+5:c.run(off+5, off+1+n)], n-4); m > 0 {
				// A SASLInitialResponse: the mechanism name and the
				// data's length stay (the analysis reads them).
				keep = append(keep, span{off + 5, off + 5 + m})
			}
		}
		off += 1 + n
	}
	return keep
}

// saslMechanismLen returns how many bytes of a 'p' message body (n bytes,
// b the part captured) are a SASLInitialResponse's mechanism name, its NUL
// and its data length, or 0 when it is not shaped as one.
func saslMechanismLen(b []byte, n int) int {
	i := indexZero(b[:min(len(b), 65)])
	if i <= 0 || len(b) < i+5 {
		return 0
	}
	for _, c := range b[:i] {
		if c < 0x21 || c > 0x7e {
			return 0
		}
	}
	dl := int32(binary.BigEndian.Uint32(b[i+1:]))
	if dl == -1 && n == i+5 || dl >= 0 && int(dl) == n-i-5 {
		return i + 5
	}
	return 0
}

// startupKeep returns the spans to keep of a StartupMessage at off (n
// bytes): all of it but the value of a "password" parameter, which some
// clients put there. When the snap length cut the message inside its
// parameters, nothing after the cut is kept (a later segment's bytes of the
// same message may hold a password whose name was cut).
func startupKeep(c *clientStream, off, n int) []span {
	buf := c.buf
	end := off + n
	lim := c.run(off, end) // the message's bytes in hand
	var keep []span
	from, pos := off, off+8
	complete := false
	for pos < lim {
		if buf[pos] == 0 {
			complete = true // the list's terminator
			break
		}
		i := indexZero(buf[pos:lim])
		if i < 0 {
			break
		}
		name := string(buf[pos : pos+i])
		vstart := pos + i + 1
		j := indexZero(buf[vstart:lim])
		vend := vstart + j
		if j < 0 {
			vend = end
		}
		if strings.EqualFold(name, "password") {
			keep = append(keep, span{from, vstart})
			from = vend
		}
		if j < 0 {
			break
		}
		pos = vend + 1
	}
	if !complete && lim < c.next && lim < end {
		// Cut inside the parameters: the bytes from the hole on are
		// not known to be harmless.
		if from < lim {
			keep = append(keep, span{from, lim})
		}
		return keep
	}
	return append(keep, span{from, end})
}
