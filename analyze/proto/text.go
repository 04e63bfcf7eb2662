package proto

import (
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
