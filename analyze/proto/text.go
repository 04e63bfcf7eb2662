package proto

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Printable reports whether s holds no ASCII control characters (so it can be
// shown as it is).
func Printable[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// CleanText makes peer-supplied text (a server's error message, a client's
// user name) safe to print: valid UTF-8, control characters replaced by
// U+FFFD.
func CleanText(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if Printable(s) {
		return s
	}
	var sb strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			sb.WriteRune(utf8.RuneError)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// AppendQuote appends s quoted as strconv.AppendQuote quotes it: words
// quote banners, user and database names so. Most are printable ASCII
// without a quote or backslash, which strconv writes as they are: that
// is checked here a byte at a time and s copied, instead of strconv's
// test of each rune against the Unicode tables (most of the cost of a
// wrong-banner attempt's words, which quote its banner three times).
// Anything else goes through strconv.AppendQuote.
func AppendQuote(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}
