package rollup

import (
	"fmt"
	"slices"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// host_blocked names, as its evidence, the aborted handshakes (handshake
// completed, the client closed without a login) from the blocked client
// since its last successful login and before the first 1129: the run
// the server counts towards max_connect_errors.
func TestHostBlockedAborted(t *testing.T) {
	const server = "198.51.100.10:3331"
	// kinds: 'L' login ok, 'A' aborted handshake, 'B' blocked (1129); a
	// lower-case letter is the same from another client (192.0.2.11).
	mk := func(t *testing.T, kinds string) []*analyze.Connect {
		var cs []*analyze.Connect
		for i, k := range kinds {
			client := "192.0.2.10"
			if k >= 'a' {
				client, k = "192.0.2.11", k-'a'+'A'
			}
			a := at{client: fmt.Sprintf("%s:%d", client, 41000+i), server: server, startS: float64(i) * 0.05, syns: 1, rtt: 0.05, first: 0.2}
			switch k {
			case 'L':
				a.reason = "mysql.login_ok"
			case 'A':
				a.reason = "tls.not_offered"
			case 'B':
				a.reason, a.mysqlErr = "mysql.err_at_greeting", 1129
			}
			x := a.attempt(t)
			switch k {
			case 'L':
				x.Events = append(x.Events, analyze.Event{TMS: 1, Kind: analyze.EvLogin, Dir: analyze.DirC2S}, analyze.Event{TMS: 1.1, Kind: analyze.EvLoginOK, Dir: analyze.DirS2C})
				x.Facts.ClosedBy = "client" // after the session: not an aborted handshake
			case 'A':
				x.Events = append(x.Events, analyze.Event{TMS: 2, Kind: analyze.EvRST, Dir: analyze.DirC2S})
				x.Facts.ClosedBy = "client"
			case 'B':
				x.Events = append(x.Events, analyze.Event{TMS: 0.4, Kind: analyze.EvFIN, Dir: analyze.DirS2C})
				x.Facts.ClosedBy = "server"
			}
			c := &analyze.Connect{Port: 3331, Attempts: []*analyze.Attempt{x}, Start: x.Start, Client: client, Outcome: x.Outcome, Reason: x.Reason}
			cs = append(cs, c)
		}
		return cs
	}
	tests := []struct {
		kinds       string
		aborted     int
		abortedNums []int
		blocked     int
	}{
		{"LAAABBBB", 3, []int{2, 3, 4}, 4},
		{"AALAAAB", 3, []int{4, 5, 6}, 1},       // the login reset the server's count
		{"BBB", 0, nil, 3},                      // the capture began after the aborts
		{"aaaLBB", 0, nil, 2},                   // another client's aborts are not this one's
		{"LAAABAB", 3, []int{2, 3, 4}, 2},       // aborts after the first 1129 do not change the run
		{"LAAAaaBB", 3, []int{2, 3, 4}, 2},      // interleaved with another client's
		{"LAAALB", 0, nil, 1},                   // a login after the aborts: a count of zero
		{"AAAAAAAAAAAAAAAAAAAAAAB", 22, nil, 1}, // more than 20: the count is right, the numbers capped
	}
	for _, tc := range tests {
		t.Run(tc.kinds, func(t *testing.T) {
			r := New(Options{})
			addAll(r, mk(t, tc.kinds)...)
			p := find(r.Patterns(), HostBlocked)
			if p == nil {
				t.Fatalf("no host_blocked in %v", ids(r.Patterns()))
			}
			if p.Client != "192.0.2.10" || p.Server != server || p.Facts.Failures != tc.blocked || p.Facts.Aborted != tc.aborted {
				t.Errorf("client %s server %s: %d blocked, %d aborted; want 192.0.2.10, %s, %d, %d", p.Client, p.Server, p.Facts.Failures, p.Facts.Aborted, server, tc.blocked, tc.aborted)
			}
			want := tc.abortedNums
			if tc.aborted > maxPatternNumbers {
				want = nil
				for i := 1; i <= maxPatternNumbers; i++ {
					want = append(want, i)
				}
			}
			if !slices.Equal(p.Facts.AbortedNumbers, want) {
				t.Errorf("aborted attempts %v, want %v", p.Facts.AbortedNumbers, want)
			}
		})
	}
}
