package proto

import (
	"strconv"
	"strings"
	"testing"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		in, want  string
		printable bool
	}{
		{"Access denied for user 'app'@'10.0.0.5'", "Access denied for user 'app'@'10.0.0.5'", true},
		{"", "", true},
		{"tab\there", "tab\uFFFDhere", false},
		{"bell\x07 and del\x7f", "bell\uFFFD and del\uFFFD", false},
		{"cut utf-8 \xe2\x82", "cut utf-8 \uFFFD", true},
		{"naïve", "naïve", true},
	}
	for _, tt := range tests {
		if got := CleanText([]byte(tt.in)); got != tt.want {
			t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := Printable(tt.in); got != tt.printable {
			t.Errorf("Printable(%q) = %v, want %v", tt.in, got, tt.printable)
		}
	}
}

// AppendQuote writes what strconv.AppendQuote writes: every byte at every
// place of short strings (its fast path must hand each byte strconv would
// escape to strconv), non-ASCII text, banners.
func TestAppendQuote(t *testing.T) {
	ss := []string{"", "app", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "it's <fine> & {ok} ~", "naïve", "→", "\xff", "a\"b", `a\b`}
	for n := 1; n <= 9; n++ {
		for pos := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("x", n))
				b[pos] = byte(c)
				ss = append(ss, string(b))
			}
		}
	}
	for _, s := range ss {
		want := strconv.AppendQuote([]byte("w "), s)
		if got := AppendQuote([]byte("w "), s); string(got) != string(want) {
			t.Fatalf("AppendQuote(%q) = %s, want %s", s, got, want)
		}
	}
}
