package proto

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// JSONPlain finds every byte that needs escaping, at every offset (the
// 8-byte skip must stop at each), and passes strings that need none.
func TestJSONPlain(t *testing.T) {
	base := []byte(strings.Repeat("abcdefgh", 3))
	for c := 0; c < 256; c++ {
		for i := range base {
			b := append([]byte(nil), base...)
			b[i] = byte(c)
			want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
			if got := JSONPlain(b); got != want {
				t.Fatalf("byte %#x at %d: JSONPlain = %v, want %v", c, i, got, want)
			}
			if want && string(AppendJSONString(nil, string(b))) != `"`+string(b)+`"` {
				t.Fatalf("byte %#x at %d: plain, but AppendJSONString escapes it", c, i)
			}
		}
	}
	for s, want := range map[string]bool{"": true, "a": true, "greeting: MySQL protocol 10, server 5.5.5-10.11.6-MariaDB-0+deb12u1": true,
		"é": false, "ab\"": false, "x\u2028": false, "HandshakeResponse: login as \"app\"": false} {
		if got := JSONPlain([]byte(s)); got != want {
			t.Errorf("JSONPlain(%q) = %v, want %v", s, got, want)
		}
	}
}

// AppendJSONBytes writes what AppendJSONString writes for the same text,
// without allocating.
func TestAppendJSONBytes(t *testing.T) {
	ss := []string{"", "plain", `login as "app"`, "<&>", "héllo", "bad \xff utf8 \xc3", "\xe2\x80", "line\u2028sep\u2029", "tab\t\x00\x1f\x7f"}
	base := []byte(strings.Repeat("abcdefgh", 3))
	for c := 0; c < 256; c++ {
		for i := range base {
			b := append([]byte(nil), base...)
			b[i] = byte(c)
			ss = append(ss, string(b), string(b[:i+1]))
		}
	}
	for _, s := range ss {
		want := AppendJSONString([]byte("x"), s)
		if got := AppendJSONBytes([]byte("x"), []byte(s)); string(got) != string(want) {
			t.Fatalf("%q: AppendJSONBytes %s, AppendJSONString %s", s, got, want)
		}
	}
	buf := make([]byte, 0, 256)
	in := []byte("HandshakeResponse: login as \"é\xff\u2028\"")
	if n := testing.AllocsPerRun(100, func() { AppendJSONBytes(buf[:0], in) }); n != 0 {
		t.Errorf("AppendJSONBytes: %v allocations, want 0", n)
	}
}

// Strings of every length up to 40 with any byte at any place: the scan's
// 16-byte, 8-byte and overlapping last-8-byte steps each meet it.
func TestAppendJSONStringLengths(t *testing.T) {
	for n := 1; n <= 40; n++ {
		for pos := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				want, _ := json.Marshal(string(b))
				if got := AppendJSONString(nil, string(b)); string(got) != string(want) {
					t.Fatalf("length %d, byte %#x at %d: got %s, encoding/json writes %s", n, c, pos, got, want)
				}
				plain := c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
				if JSONPlain(b) != plain {
					t.Fatalf("length %d, byte %#x at %d: JSONPlain = %v", n, c, pos, !plain)
				}
			}
		}
	}
}

// JSONVerbatim says true exactly when AppendJSONString writes the text as
// it is: any byte at any place of strings of every length up to 40, and
// characters of two to four bytes (valid, cut short, U+2028/U+2029, an
// encoded surrogate) at the start, in the middle and at the end.
func TestJSONVerbatim(t *testing.T) {
	var ss []string
	for n := 1; n <= 40; n++ {
		for pos := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				ss = append(ss, string(b))
			}
		}
	}
	for _, ch := range []string{"é", "→", "—", "…", "😀", "\u2028", "\u2029", "\u2027", "\u202a", "\xe2\x80", "\xe2", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\xaf", "\xff"} {
		for _, s := range []string{ch, ch + "kernel: socket", "kernel: socket SYN_SENT" + ch + "ESTABLISHED (pid 42 php)", "x" + ch, strings.Repeat("abcdefgh", 2) + ch} {
			ss = append(ss, s, s+`"`, s+"<")
		}
	}
	for _, s := range ss {
		want := string(AppendJSONString(nil, s)) == `"`+s+`"`
		if got := JSONVerbatim([]byte(s)); got != want {
			t.Fatalf("JSONVerbatim(%q) = %v; AppendJSONString writes %s", s, got, AppendJSONString(nil, s))
		}
		// The prefix: s[:i] goes as it is, s[i:] escaped after it is s
		// escaped, and (when i < len(s)) the character at i is changed.
		i := JSONVerbatimPrefix([]byte(s))
		if want != (i == len(s)) {
			t.Fatalf("JSONVerbatimPrefix(%q) = %d of %d; JSONVerbatim %v", s, i, len(s), want)
		}
		if !JSONVerbatim([]byte(s[:i])) || `"`+s[:i]+string(AppendJSONString(nil, s[i:])[1:]) != string(AppendJSONString(nil, s)) {
			t.Fatalf("JSONVerbatimPrefix(%q) = %d: not a verbatim prefix that splits the escaping", s, i)
		}
		if i < len(s) {
			_, size := utf8.DecodeRuneInString(s[i:])
			if JSONVerbatim([]byte(s[i : i+size])) {
				t.Fatalf("JSONVerbatimPrefix(%q) = %d: the character there goes as it is", s, i)
			}
		}
	}
}

// Target.Port reads the port of an ip:port server, 0 for anything else.
func TestTargetPort(t *testing.T) {
	for server, want := range map[string]uint16{"10.2.0.5:3306": 3306, "[fd00:2::1]:5432": 5432, "[fe80::1%eth0]:1": 1,
		"": 0, "/run/mysqld/mysqld.sock": 0, "db.shop.internal:3306": 0, "10.2.0.5": 0, "10.2.0.5:65536": 0} {
		if got := (Target{Server: server}).Port(); got != want {
			t.Errorf("Port of %q = %d, want %d", server, got, want)
		}
	}
}
