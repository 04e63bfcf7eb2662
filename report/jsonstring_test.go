package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// appendJSONString quotes exactly as encoding/json does.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", "127.0.0.1:14306", "a\"b\\c", "<script>&amp;</script>", "tab\there\nnew\rline\b\f\x00\x1f\x7f",
		"héllo wörld", "line\u2028sep\u2029para", "bad \xff utf8 \xc3", "\xe2\x80", strings.Repeat("x", 300) + "\"",
		"Too many connections", "ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.5' (using password: YES)",
	} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func BenchmarkAppendJSONString(b *testing.B) {
	ss := []string{"127.0.0.1:14306", "2026-12-06T17:45:00.123456789Z", "refused", "connection refused (RST answered the SYN)",
		"The server's port is closed: nothing listens on 127.0.0.1:14307, or a firewall rejects with a reset."}
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = buf[:0]
		for _, s := range ss {
			buf = appendJSONString(buf, s)
		}
	}
}

// Every single byte at every offset of a long plain string (the 8-byte skip
// must stop at each byte that needs escaping or is not ASCII).
func TestAppendJSONStringEveryByteEveryOffset(t *testing.T) {
	base := []byte(strings.Repeat("abcdefgh", 3))
	for c := 0; c < 256; c++ {
		for i := range base {
			b := append([]byte(nil), base...)
			b[i] = byte(c)
			s := string(b)
			want, _ := json.Marshal(s)
			if got := appendJSONString(nil, s); string(got) != string(want) {
				t.Fatalf("byte %#x at %d: got %s, want %s", c, i, got, want)
			}
		}
	}
}

// appendReasonJSON writes every reason's id as appendJSONString does: the
// declared ones (from the table made once), no reason, and a number that
// is no reason.
func TestAppendReasonJSON(t *testing.T) {
	rs := append(analyze.Reasons(), 0, analyze.Reason(len(analyze.Reasons())+1), 60000)
	for _, r := range rs {
		want := string(appendJSONString([]byte("x"), r.String()))
		if got := string(appendReasonJSON([]byte("x"), r)); got != want {
			t.Errorf("reason %d: %s, want %s", r, got, want)
		}
	}
	if len(rs) < 20 {
		t.Fatalf("only %d reasons", len(rs))
	}
}
