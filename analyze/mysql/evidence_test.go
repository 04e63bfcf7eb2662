package mysql

import (
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/proto"
)

// TestEvidenceSentences: the login verdicts' sentences, made in a buffer
// (evidence), read as they did when joined from strings: the error as
// Err.String writes it and the durations as proto.Dur does, also for a
// message longer than the buffer.
func TestEvidenceSentences(t *testing.T) {
	long := strings.Repeat("a message the server made long ", 8)
	for _, tc := range []struct {
		name   string
		reason string
		info   Info
		f      proto.Finding
		want   func(e Err, f proto.Finding) string
	}{
		{"login ok", ReasonLoginOK, Info{}, proto.Finding{Since: 3286 * time.Microsecond},
			func(_ Err, f proto.Finding) string { return "login OK " + proto.Dur(f.Since) + " after the first SYN" }},
		{"login ok, slow", ReasonLoginOK, Info{}, proto.Finding{Since: 12*time.Second + 345*time.Millisecond},
			func(_ Err, f proto.Finding) string { return "login OK " + proto.Dur(f.Since) + " after the first SYN" }},
		{"ERR at the greeting", ReasonErrAtGreeting, Info{ErrorCode: 1130, ErrorMessage: "Host '10.1.0.5' is not allowed to connect to this MariaDB server"},
			proto.Finding{Step: StepGreeting, Delay: 1505 * time.Microsecond},
			func(e Err, f proto.Finding) string {
				return "the server answered the connect with " + e.String() + " " + proto.Dur(f.Delay) + " after the handshake, instead of a greeting"
			}},
		{"ERR before the login, long", ReasonErrBeforeLogin, Info{ErrorCode: 1040, SQLState: "08004", ErrorMessage: long, ErrorMessageCut: true},
			proto.Finding{Step: StepBeforeLogin},
			func(e Err, _ proto.Finding) string {
				return "the server answered with " + e.String() + " before the login"
			}},
		{"access denied", ReasonAccessDenied, Info{ErrorCode: 1045, SQLState: "28000", ErrorMessage: "Access denied for user 'app'@'10.1.0.5' (using password: YES)"},
			proto.Finding{Step: StepAfterLogin},
			func(e Err, _ proto.Finding) string {
				return "the server answered with " + e.String() + " after the login"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want(errOf(&tc.info), tc.f)
			got := evidence(tc.reason, &tc.info, &tc.f)
			if len(got) != 1 || got[0] != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// TestEvidenceOneString: a refused login's sentence with the usual server
// message (1130's names the client) is one string and its slice: the
// buffer holds it, no third allocation for it to grow.
func TestEvidenceOneString(t *testing.T) {
	for _, tc := range []struct {
		reason string
		info   Info
		f      proto.Finding
	}{
		{ReasonErrAtGreeting, Info{ErrorCode: 1130, SQLState: "HY000", ErrorMessage: "Host '10.111.222.233' is not allowed to connect to this MariaDB server"}, proto.Finding{Step: StepGreeting, Delay: 1505 * time.Microsecond}},
		{ReasonErrAtGreeting, Info{ErrorCode: 1040, SQLState: "08004", ErrorMessage: "Too many connections"}, proto.Finding{Step: StepGreeting, Delay: 400 * time.Microsecond}},
		{ReasonAccessDenied, Info{ErrorCode: 1045, SQLState: "28000", ErrorMessage: "Access denied for user 'app'@'10.111.222.233' (using password: YES)"}, proto.Finding{Step: StepAfterLogin}},
	} {
		if n := testing.AllocsPerRun(100, func() { evidence(tc.reason, &tc.info, &tc.f) }); n != 2 {
			t.Errorf("%s %d: %v allocations, want 2 (the sentence and its slice)", tc.reason, tc.info.ErrorCode, n)
		}
	}
}
