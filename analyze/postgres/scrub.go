package postgres

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/connscope/connscope/analyze/proto"
)

// scrub is what a `trace -w` recording keeps of a PostgreSQL client's
// bytes (proto.Scrub): the startup message is kept (user, database,
// application name) but for a "password" parameter's value; every later
// message keeps its type byte and length and has its body blanked:
// PasswordMessage (cleartext, md5), SASL responses (a SASLInitialResponse
// keeps its mechanism name and data length), queries. TLS or GSSAPI
// encryption after a request is kept (ciphertext), also when the snap
// length cut the bytes that would show it, once the server accepted the
// request ('S' or 'G').
var scrub = proto.Scrub{
	Client: looksLikeStartup,
	Keep: func(c *proto.ClientStream, serverFirst byte) []proto.Span {
		return clientKeep(c, serverFirst == 'S' || serverFirst == 'G')
	},
}

// looksLikeStartup reports whether a client's first bytes are a
// StartupMessage, SSLRequest, GSSENCRequest or CancelRequest.
func looksLikeStartup(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	n := binary.BigEndian.Uint32(b)
	code := binary.BigEndian.Uint32(b[4:])
	return n >= 8 && n <= 10000 && (code>>16 == 3 || code == CodeSSLRequest || code == CodeGSSENCRequest || code == CodeCancelRequest)
}

// clientKeep parses the client's PostgreSQL stream and returns the
// spans to keep: requests and the startup message whole, encrypted bytes
// after an SSL or GSSAPI request, and the type and length of every later
// message. encrypted says the server accepted the client's first request
// (its first byte 'S' or 'G'): what follows that request is TLS or GSSAPI,
// kept whole even when the snap length cut the bytes that would show it.
// When a message header's bytes passed without being captured, the
// boundaries after it are unknown and nothing more is kept.
func clientKeep(c *proto.ClientStream, encrypted bool) []proto.Span {
	var keep []proto.Span
	buf := c.Buf()
	off := 0
	for off < c.Next() {
		if off > 0 && (encrypted || c.Run(off, off+1) > off && buf[off] == 0x16) {
			// TLS (or GSSAPI) after the request the server accepted, or
			// a TLS record where a startup message could be.
			return append(keep, proto.Span{Start: off, End: proto.Unbounded})
		}
		ok, wait := c.Header(off, 8)
		if wait {
			return append(keep, proto.Span{Start: off, End: off + 8}) // a request header, completed next
		}
		if !ok {
			return keep // lost: the rest is blanked
		}
		n := int(binary.BigEndian.Uint32(buf[off:]))
		code := binary.BigEndian.Uint32(buf[off+4:])
		switch {
		case n == 8 && (code == CodeSSLRequest || code == CodeGSSENCRequest), n == 16 && code == CodeCancelRequest:
			keep = append(keep, proto.Span{Start: off, End: off + n})
			off += n
			continue
		case code>>16 == 3 && n >= 8 && n <= 10000:
			keep = append(keep, startupKeep(c, off, n)...)
			off += n
		case off > 0:
			// After a request, anything but a startup message is TLS or
			// GSSAPI-encrypted.
			return append(keep, proto.Span{Start: off, End: proto.Unbounded})
		default:
			return keep // not PostgreSQL after all: blank the rest
		}
		break
	}
	// Typed messages: type(1) length(4, counting itself) body.
	for off < c.Next() {
		ok, wait := c.Header(off, 5)
		if !ok && !wait {
			return keep // lost: the rest is blanked
		}
		keep = append(keep, proto.Span{Start: off, End: off + 5})
		if wait {
			return keep
		}
		n := int(binary.BigEndian.Uint32(buf[off+1:]))
		if n < 4 {
			return keep // malformed: blank the rest
		}
		if buf[off] == 'p' {
			if m := saslMechanismLen(buf[off+5:c.Run(off+5, off+1+n)], n-4); m > 0 {
				// A SASLInitialResponse: the mechanism name and the
				// data's length stay (the analysis reads them).
				keep = append(keep, proto.Span{Start: off + 5, End: off + 5 + m})
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
	i := bytes.IndexByte(b[:min(len(b), 65)], 0)
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
func startupKeep(c *proto.ClientStream, off, n int) []proto.Span {
	buf := c.Buf()
	end := off + n
	lim := c.Run(off, end) // the message's bytes in hand
	var keep []proto.Span
	from, pos := off, off+8
	complete := false
	for pos < lim {
		if buf[pos] == 0 {
			complete = true // the list's terminator
			break
		}
		i := bytes.IndexByte(buf[pos:lim], 0)
		if i < 0 {
			break
		}
		name := string(buf[pos : pos+i])
		vstart := pos + i + 1
		j := bytes.IndexByte(buf[vstart:lim], 0)
		vend := vstart + j
		if j < 0 {
			vend = end
		}
		if strings.EqualFold(name, "password") {
			keep = append(keep, proto.Span{Start: from, End: vstart})
			from = vend
		}
		if j < 0 {
			break
		}
		pos = vend + 1
	}
	if !complete && lim < c.Next() && lim < end {
		// Cut inside the parameters: the bytes from the hole on are
		// not known to be harmless.
		if from < lim {
			keep = append(keep, proto.Span{Start: from, End: lim})
		}
		return keep
	}
	return append(keep, proto.Span{Start: from, End: end})
}
