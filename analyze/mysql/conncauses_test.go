package mysql

import (
	"slices"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze/proto"
)

// TestConnCausesShared: the advice on a refused or unanswered connect is
// made once (no allocation per attempt), a PHP client's is the first
// sentence alone, and a caller appending to an answer leaves the next
// answer unchanged.
func TestConnCausesShared(t *testing.T) {
	for _, tc := range []struct {
		reason, comm string
		first        string // the start of the first sentence
		n            int
	}{
		{"tcp.rst_from_server", "mysql", "MySQL/MariaDB: check bind_address", 2},
		{"kernel.econnrefused", "php-fpm", "MySQL/MariaDB: check bind_address", 1},
		{"tcp.syn_unanswered", "", "MySQL/MariaDB clients: set the connect timeout", 2},
		{"kernel.etimedout", "php", "MySQL/MariaDB clients: set the connect timeout", 1},
	} {
		target := proto.Target{Comm: tc.comm, Server: "192.0.2.9:3306"}
		got := connCauses(tc.reason, target)
		if len(got) != tc.n || !strings.HasPrefix(got[0], tc.first) || tc.n == 2 && got[1] != misleadingErrno {
			t.Errorf("%s (%q): %q, want %d sentences starting %q", tc.reason, tc.comm, got, tc.n, tc.first)
			continue
		}
		want := slices.Clone(got)
		_ = append(got, "appended by a caller")
		if again := connCauses(tc.reason, target); !slices.Equal(again, want) {
			t.Errorf("%s (%q): after an append to the answer, the next is %q, want %q", tc.reason, tc.comm, again, want)
		}
		if n := testing.AllocsPerRun(100, func() { connCauses(tc.reason, target) }); n != 0 {
			t.Errorf("%s (%q): %v allocations per call, want 0 (the advice is made once)", tc.reason, tc.comm, n)
		}
	}
}

// TestCausesShared: the server's words for a failing MySQL connect that
// do not name the client or the code are made once (no allocation per
// failing connect), and a caller appending to an answer leaves the next
// answer unchanged.
func TestCausesShared(t *testing.T) {
	for _, tc := range []struct {
		reason string
		code   uint16
		first  string // the start of the first sentence
		n      int
	}{
		{ReasonAccessDenied, 1045, "Wrong password, or no account", 1},
		{ReasonErrAfterLogin, 1040, "The server is at max_connections", 1},
		{ReasonErrBeforeLogin, 1524, "The client does not support the account's authentication plugin", 1},
		{ReasonErrAtGreeting, 3159, "The server requires TLS", 1},
		{ReasonLoginUnanswered, 0, "The server did not answer the login in time", 1},
		{ReasonGreetingLate, 0, "The server greeted only after the client had given up", 2},
		{ReasonServerClosedGreeting, 0, "The server closed the connection after its greeting", 1},
		{"tls.alert", 0, "The TLS handshake failed", 1},
	} {
		info := &Info{ErrorCode: tc.code}
		got := causes(tc.reason, info, proto.ClientAddr("192.0.2.7"))
		if len(got) != tc.n || !strings.HasPrefix(got[0], tc.first) {
			t.Errorf("%s (%d): %q, want %d sentences starting %q", tc.reason, tc.code, got, tc.n, tc.first)
			continue
		}
		want := slices.Clone(got)
		_ = append(got, "appended by a caller")
		if again := causes(tc.reason, info, proto.ClientAddr("192.0.2.7")); !slices.Equal(again, want) {
			t.Errorf("%s (%d): after an append to the answer, the next is %q, want %q", tc.reason, tc.code, again, want)
		}
		if n := testing.AllocsPerRun(100, func() { causes(tc.reason, info, proto.ClientAddr("192.0.2.7")) }); n != 0 {
			t.Errorf("%s (%d): %v allocations per call, want 0 (the words are made once)", tc.reason, tc.code, n)
		}
	}
}

// countingClient is a proto.Client that counts the calls of Addr.
type countingClient struct {
	addr  string
	calls int
}

func (c *countingClient) Addr() string { c.calls++; return c.addr }

// Only the causes that name the client (the host cache's 1129, the
// grants' 1130) ask for its address: the others leave it unparsed.
func TestCausesAskClientOnlyToNameIt(t *testing.T) {
	for _, tc := range []struct {
		reason string
		code   uint16
		named  bool
	}{
		{ReasonErrAtGreeting, 1130, true},
		{ReasonErrAtGreeting, 1129, true},
		{ReasonAccessDenied, 1045, false},
		{ReasonErrAtGreeting, 1040, false},
		{ReasonErrAfterLogin, 9999, false},
		{ReasonGreetingLate, 0, false},
		{ReasonLoginOK, 0, false},
		{"tls.alert", 0, false},
	} {
		c := &countingClient{addr: "fd00:1::7"}
		got := strings.Join(causes(tc.reason, &Info{ErrorCode: tc.code}, c), "\n")
		if named := strings.Contains(got, " fd00:1::7 "); named != tc.named || c.calls != map[bool]int{true: 1}[tc.named] {
			t.Errorf("%s (%d): client named %v after %d calls of Addr, want named %v (%q)", tc.reason, tc.code, named, c.calls, tc.named, got)
		}
	}
}
