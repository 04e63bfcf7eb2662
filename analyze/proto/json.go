package proto

import "unicode/utf8"

// JSONAppender is an Info that writes its own JSON object, byte for byte
// what encoding/json writes for it: the report's fast path for big
// captures (report checks the two agree on every lab capture). An Info
// without it is written through encoding/json.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

const hexDigits = "0123456789abcdef"

// jsonPlain marks the ASCII bytes a JSON string carries as they are (not
// a control character, ", \, or the HTML-unsafe <, >, &): one table
// lookup per plain byte.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// skipPlain8 returns an i' >= i such that s[i:i'] is all jsonPlain bytes
// and s[i':] is empty or starts with the eight bytes where notPlain saw a
// byte that may need escaping (its high bit set, below 0x20, or ", \,
// <, > or &). The tests are the exact "has a zero byte" / "has a byte less
// than n" bit tricks. " (0x22) and & (0x26) differ only in bit 0x04: with
// that bit cleared after the XOR, one zero-byte test finds either.
// Sixteen bytes a round while they last (two independent words: the
// processor works on both at once), then eight; the last fewer than eight
// are settled by one load of the string's last eight bytes when it has
// that many (the ones before them are known plain).
func skipPlain8[S string | []byte](s S, i int) int {
	for i+16 <= len(s) {
		if (notPlain(load8(s[i:i+8]))|notPlain(load8(s[i+8:i+16])))&highs != 0 {
			break
		}
		i += 16
	}
	for i+8 <= len(s) {
		if notPlain(load8(s[i:i+8]))&highs != 0 {
			return i
		}
		i += 8
	}
	if i < len(s) && len(s) >= 8 && notPlain(load8(s[len(s)-8:]))&highs == 0 {
		return len(s)
	}
	return i
}

// notPlain has the high bit of a byte of x set when that byte is not
// plain (or, past such a byte, may have it set), and also for the rare
// plain ^, | and ~ (the byte loop after the skip looks at them again):
// \ (0x5c), < (0x3c) and > (0x3e) differ from < only in bits 0x60 and
// 0x02, so one zero-byte test with those bits cleared finds the three
// (and 0x1c, 0x1e, 0x5e, 0x7c, 0x7e with them).
func notPlain(x uint64) uint64 {
	bad := x | (x-ones*0x20)&^x
	bad |= hasZero((x ^ ones*'"') &^ (ones * 0x04))
	return bad | hasZero((x^ones*'<')&^(ones*0x62))
}

// load8 reads the first eight bytes of t little-endian (one load).
func load8[S string | []byte](t S) uint64 {
	_ = t[7]
	return uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
		uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
}

func hasZero(y uint64) uint64 { return (y - ones) &^ y }

// JSONPlain reports whether s goes into a JSON string as it is: no byte
// of it needs escaping (all ASCII, none a control character, ", \, <, >
// or &).
func JSONPlain(s []byte) bool {
	i := skipPlain8(s, 0)
	for ; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			return false
		}
	}
	return true
}

// JSONPlainString is JSONPlain for a string.
func JSONPlainString(s string) bool {
	i := skipPlain8(s, 0)
	for ; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			return false
		}
	}
	return true
}

// JSONVerbatim reports whether s goes into a JSON string as it is, as
// AppendJSONString writes it: JSONPlain, but also with valid UTF-8
// characters other than U+2028 and U+2029 (encoding/json leaves them
// unescaped). Words with an arrow or a dash ("kernel: socket
// SYN_SENT→ESTABLISHED", a step of every live attempt) need no escaping
// either, nor the copy that escaping them takes.
func JSONVerbatim(s []byte) bool { return JSONVerbatimPrefix(s) == len(s) }

// JSONVerbatimPrefix is the length of the longest prefix of s that goes
// into a JSON string as it is (JSONVerbatim): len(s) when all of s does,
// else the offset of the first character AppendJSONString changes. The
// prefix ends between two characters, so s[:i] as it is followed by
// s[i:] escaped is s escaped: text that needs escaping (a quoted user or
// banner) is escaped from there on, not scanned again from its start.
func JSONVerbatimPrefix(s []byte) int {
	i := 0
	for {
		i = skipPlain8(s, i)
		for i < len(s) && jsonPlain[s[i]] {
			i++
		}
		if i >= len(s) {
			return len(s)
		}
		if s[i] < utf8.RuneSelf {
			return i // a character that is escaped
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return i
		}
		i += size
	}
}

// AppendJSONString appends s as encoding/json writes a string: HTML
// characters escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
//
// Most strings of a connect's JSON line are short and plain (kinds,
// directions, outcomes, addresses, names): up to 16 bytes are checked
// whole — a byte at a time below 8, else two eight-byte words that
// overlap — and copied between quotes in one go; the rest, and any that
// may need escaping, go through the loop of appendJSONString.
func AppendJSONString(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 8:
		for i := 0; i < n; i++ {
			if !jsonPlain[s[i]] {
				return appendJSONString(b, s)
			}
		}
	case n <= 16:
		if (notPlain(load8(s[:8]))|notPlain(load8(s[n-8:])))&highs != 0 {
			return appendJSONString(b, s)
		}
	default:
		return appendJSONString(b, s)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSONBytes is AppendJSONString for text in a byte slice (which
// must not share memory with b's free capacity).
func AppendJSONBytes(b []byte, s []byte) []byte { return appendJSONString(b, s) }

func appendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip plain ASCII eight bytes at a time (most strings are all
		// plain): the byte loop below sees only the rest.
		// After the skip fewer than eight plain bytes come before the next
		// byte to look at.
		i = skipPlain8(s, i)
		for i < len(s) && jsonPlain[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonPlain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))])) // (no copy: the string does not escape)
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
