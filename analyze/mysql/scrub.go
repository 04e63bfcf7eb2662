package mysql

import (
	"bytes"
	"encoding/binary"

	"github.com/connscope/connscope/analyze/proto"
)

// scrub is what a `trace -w` recording keeps of a MySQL client's bytes
// (proto.Scrub): the HandshakeResponse keeps its header, capabilities,
// user name, database and plugin name, and its auth response is blanked.
// Every later client packet (AuthSwitchResponse, mysql_clear_password's
// plaintext, the commands after login) keeps its 4-byte header and has its
// payload blanked. An SSLRequest is kept, and so is the TLS after it.
var scrub = proto.Scrub{Server: LooksLikeGreetingPrefix, Keep: scrubKeep}

// scrubKeep parses the client's MySQL stream (from its first byte:
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
func scrubKeep(c *proto.ClientStream, _ byte) []proto.Span {
	var keep []proto.Span
	for off, first := 0, true; off < c.Next(); first = false {
		ok, wait := c.Header(off, HeaderLen)
		if wait {
			// A header cut by the segment end: the next segment completes it.
			return append(keep, proto.Span{Start: off, End: off + HeaderLen})
		}
		if !ok {
			return keep // lost: the rest is blanked
		}
		b := c.Buf()
		n := int(b[off]) | int(b[off+1])<<8 | int(b[off+2])<<16
		body := off + HeaderLen
		keep = append(keep, proto.Span{Start: off, End: body})
		if first {
			p := b[body:c.Run(body, body+n)] // the packet's bytes in hand, up to a hole
			if isSSLRequest(p, n) {
				return append(keep, proto.Span{Start: body, End: proto.Unbounded})
			}
			if auth, ok := authSpan(p, n); ok {
				keep = append(keep, proto.Span{Start: body, End: body + auth.Start}, proto.Span{Start: body + auth.End, End: body + n})
			} else {
				// The auth response's place is not known (yet, or ever
				// when a hole comes first): what is there precedes it
				// (capabilities, user name).
				keep = append(keep, proto.Span{Start: body, End: body + len(p)})
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
		return caps&ClientProtocol41 != 0 && caps&ClientSSL != 0
	case n == 5 && len(p) >= 2:
		caps := uint32(binary.LittleEndian.Uint16(p))
		return caps&ClientProtocol41 == 0 && caps&ClientSSL != 0
	}
	return false
}

// authSpan finds the auth response in a HandshakeResponse (n bytes, p
// the part captured so far), relative to the payload's start. ok is false
// while the bytes before it are incomplete.
func authSpan(p []byte, n int) (proto.Span, bool) {
	if len(p) < 2 {
		return proto.Span{}, false
	}
	caps := uint32(binary.LittleEndian.Uint16(p))
	userAt := 5 // HandshakeResponse320: caps(2) max-packet(3) user NUL auth
	if caps&ClientProtocol41 != 0 {
		if len(p) < 4 {
			return proto.Span{}, false
		}
		caps = binary.LittleEndian.Uint32(p)
		userAt = 32 // caps(4) max-packet(4) charset(1) filler(23)
	}
	if len(p) <= userAt {
		return proto.Span{}, false
	}
	nul := bytes.IndexByte(p[userAt:], 0)
	if nul < 0 {
		return proto.Span{}, false
	}
	at := userAt + nul + 1
	switch {
	case caps&ClientProtocol41 == 0:
		return proto.Span{Start: at, End: n}, true // the rest of the packet
	case caps&ClientPluginAuthLenenc != 0:
		l, w, ok := lenenc(p[at:])
		if !ok {
			return proto.Span{}, false
		}
		return clampSpan(at+w, at+w+l, n), true
	case caps&ClientSecureConnection != 0:
		if len(p) <= at {
			return proto.Span{}, false
		}
		return clampSpan(at+1, at+1+int(p[at]), n), true
	default:
		// NUL-terminated auth response: up to the terminator, or the
		// packet's end when it is not captured yet.
		if i := bytes.IndexByte(p[at:], 0); i >= 0 {
			return proto.Span{Start: at, End: at + i}, true
		}
		return proto.Span{Start: at, End: n}, true
	}
}

func clampSpan(start, end, n int) proto.Span {
	return proto.Span{Start: min(start, n), End: min(end, n)}
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
