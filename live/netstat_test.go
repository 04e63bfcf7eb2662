package live

import (
	"os"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
)

func TestParseListenCounters(t *testing.T) {
	tests := []struct {
		name, in string
		want     analyze.ListenCounters
		err      string
	}{
		{"kernel order", "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPReqQFullDrop\nTcpExt: 3 0 12 14 2\nIpExt: InNoRoutes\nIpExt: 0\n",
			analyze.ListenCounters{ListenOverflows: 12, ListenDrops: 14, SyncookiesSent: 3, ReqQFullDrop: 2}, ""},
		{"after another group, a counter missing", "IpExt: InNoRoutes\nIpExt: 5\nTcpExt: ListenDrops ListenOverflows\nTcpExt: 7 6\n",
			analyze.ListenCounters{ListenOverflows: 6, ListenDrops: 7}, ""},
		{"values short", "TcpExt: ListenOverflows ListenDrops\nTcpExt: 1\n", analyze.ListenCounters{}, "2 names but 1 values"},
		{"not a number", "TcpExt: ListenOverflows\nTcpExt: x\n", analyze.ListenCounters{}, "TcpExt ListenOverflows"},
		{"no TcpExt", "IpExt: InNoRoutes\nIpExt: 0\n", analyze.ListenCounters{}, "no TcpExt counters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseListenCounters(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	// This machine's file parses.
	if _, err := os.Stat(netstatPath); err == nil {
		if _, err := listenCounters(""); err != nil {
			t.Errorf("this machine's %s: %v", netstatPath, err)
		}
	}
}

func TestListenDelta(t *testing.T) {
	a := analyze.ListenCounters{ListenOverflows: 10, ListenDrops: 10, SyncookiesSent: 5, ReqQFullDrop: 9}
	b := analyze.ListenCounters{ListenOverflows: 13, ListenDrops: 15, SyncookiesSent: 5, ReqQFullDrop: 2}
	want := analyze.ListenCounters{ListenOverflows: 3, ListenDrops: 5, ReqQFullDrop: 2}
	if got := listenDelta(a, b); *got != want {
		t.Errorf("delta %+v, want %+v", *got, want)
	}
}
