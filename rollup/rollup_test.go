package rollup

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
)

func near(got *float64, want float64) bool {
	return got != nil && math.Abs(*got-want) <= 0.011*want+1e-9
}

func TestGroups(t *testing.T) {
	const srv = "198.51.100.10:3306"
	ok := func(client string, s float64, syns int, rtt, greet float64, comm string) *analyze.Connect {
		return connect(t, "", 3306, at{client: client, server: srv, startS: s, syns: syns, rtt: rtt, first: greet, reason: "mysql.login_ok", comm: comm})
	}
	refused := func(client string, s float64) *analyze.Connect {
		return connect(t, "", 3306, at{client: client, server: "198.51.100.11:3306", startS: s, syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server", comm: "php"})
	}
	var cs []*analyze.Connect
	// 10 ok: 8 at the first SYN (rtt 1 ms, greeting 2 ms), 2 after one retransmit.
	for i := 0; i < 8; i++ {
		cs = append(cs, ok("192.0.2.1:4000"+string(rune('0'+i)), float64(i), 1, 1, 2, "mariadb"))
	}
	cs = append(cs, ok("192.0.2.2:5000", 8, 2, 1, 2, "php"), ok("192.0.2.2:5001", 9, 3, 1, 500, "php"))
	cs = append(cs, refused("192.0.2.3:1", 10), refused("192.0.2.3:2", 11))
	// A failover connect: timeout on the first address, then ok on the second.
	cs = append(cs, connect(t, "db.example", 3306,
		at{client: "192.0.2.4:1", server: "203.0.113.1:3306", startS: 12, syns: 3, rtt: -1, first: -1, fin: 3000, reason: "tcp.syn_unanswered"},
		at{client: "192.0.2.4:2", server: "203.0.113.2:3306", startS: 15, syns: 1, rtt: 0.5, first: 1, reason: "mysql.login_ok"}))

	tests := []struct {
		name     string
		by       GroupBy
		wantRows int
		check    func(t *testing.T, gs []*Group)
	}{
		{"by server", ByServer, 4, func(t *testing.T, gs []*Group) {
			if gs[0].Outcome != analyze.Refused || gs[1].Outcome != analyze.Timeout {
				t.Errorf("failures not first: %+v, %+v", gs[0].Key, gs[1].Key)
			}
			g := gs[2]
			if g.Server != srv || g.Outcome != analyze.OK || g.Reason != "mysql.login_ok" || g.Count != 10 {
				t.Fatalf("first group = %+v", g.Key)
			}
			if g.SYNs != [4]int{0, 8, 1, 1} {
				t.Errorf("SYNs = %v, want [0 8 1 1]", g.SYNs)
			}
			q := g.Connect.Summary()
			// Connect time: eight 1 ms, one 1001 ms, one 2001 ms.
			if !near(q.P50, 1) || !near(q.P90, 1001) || !near(q.Max, 2001) {
				t.Errorf("connect p50 %v p90 %v max %v", *q.P50, *q.P90, *q.Max)
			}
			if fb := g.FirstByte.Summary(); !near(fb.P50, 2) || !near(fb.Max, 500) {
				t.Errorf("first byte p50 %v max %v", *fb.P50, *fb.Max)
			}
			if !slices.Equal(g.Processes.Values, []string{"mariadb", "php"}) || len(g.Clients.Values) != 2 {
				t.Errorf("processes %v clients %v", g.Processes.Values, g.Clients.Values)
			}
			// Worst first: the 3-SYN one (connect 10), then the 2-SYN one (9).
			if len(g.Examples) != 3 || g.Examples[0].Number != 10 || g.Examples[1].Number != 9 {
				t.Errorf("examples %+v", g.Examples)
			}
			if !g.First.Equal(t0) || !g.Last.Equal(t0.Add(9e9)) {
				t.Errorf("first %v last %v", g.First, g.Last)
			}
			if gs[0].Outcome != analyze.Refused || gs[0].Count != 2 || gs[0].SYNs != [4]int{0, 2, 0, 0} || gs[0].RTT.Count() != 0 {
				t.Errorf("refused group %+v", gs[0])
			}
			// The resolved connect's attempts are grouped by name:port, its addresses kept.
			var named []*Group
			for _, g := range gs {
				if g.Server == "db.example:3306" {
					named = append(named, g)
				}
			}
			if len(named) != 2 || !slices.Contains(named[0].Addresses.Values, "203.0.113.1:3306") && !slices.Contains(named[1].Addresses.Values, "203.0.113.1:3306") {
				t.Errorf("named groups %+v", named)
			}
		}},
		{"by client", ByClient, 5, func(t *testing.T, gs []*Group) {
			if gs[2].Client != "192.0.2.1" || gs[2].Count != 8 {
				t.Errorf("first ok %+v", gs[2].Key)
			}
		}},
		{"by process", ByProcess, 5, func(t *testing.T, gs []*Group) {
			if gs[2].Process != "mariadb" || gs[2].Count != 8 || gs[len(gs)-1].Process != "-" {
				t.Errorf("%+v … %+v", gs[2].Key, gs[len(gs)-1].Key)
			}
		}},
		{"by outcome", ByOutcome, 3, func(t *testing.T, gs []*Group) {
			if gs[2].Outcome != analyze.OK || gs[2].Count != 11 || gs[2].Label(ByOutcome) != "" {
				t.Errorf("%+v", gs[2])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{GroupBy: tc.by})
			addAll(r, cs...)
			gs := r.Groups()
			if len(gs) != tc.wantRows {
				for _, g := range gs {
					t.Logf("%+v %d", g.Key, g.Count)
				}
				t.Fatalf("%d groups, want %d", len(gs), tc.wantRows)
			}
			total := 0
			for _, g := range gs {
				total += g.Count
			}
			if total != r.Attempts() || r.Attempts() != 14 || r.Connects() != 13 {
				t.Fatalf("groups hold %d attempts, rollup %d attempts %d connects", total, r.Attempts(), r.Connects())
			}
			tc.check(t, gs)
		})
	}
}

func TestGroupCapAndOther(t *testing.T) {
	r := New(Options{MaxGroups: 3, Examples: 2})
	for p := 1; p <= 10; p++ {
		addAll(r, connect(t, "", uint16(p), at{client: "192.0.2.1:1", server: ep("198.51.100.1", p), startS: float64(p), syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server"}))
	}
	gs := r.Groups()
	if len(gs) != 4 {
		t.Fatalf("%d groups, want 3 and other", len(gs))
	}
	o := gs[3]
	if !o.Other || o.Count != 7 || o.Label(ByServer) != "other" || len(o.Examples) != 2 {
		t.Fatalf("other = %+v", o)
	}
}

func TestFold(t *testing.T) {
	r := New(Options{})
	// A scan: 12 refused ports of one host; two refused ports of another
	// host stay as they are; a named group is never folded.
	for p := 1; p <= 12; p++ {
		addAll(r, connect(t, "", uint16(p), at{client: "192.0.2.9:1", server: ep("198.51.100.1", 1000+p), startS: float64(p) / 10, syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server"}))
	}
	for p := 1; p <= 2; p++ {
		addAll(r, connect(t, "", uint16(p), at{client: "192.0.2.9:1", server: ep("198.51.100.2", p), startS: 2, syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server"}))
	}
	addAll(r, connect(t, "", 3306, at{client: "192.0.2.9:1", server: "[2001:db8::1]:3306", startS: 3, syns: 1, rtt: 1, first: 1, reason: "mysql.login_ok"}))
	gs := Fold(r.Groups(), 5, 3)
	if len(gs) != 4 {
		for _, g := range gs {
			t.Logf("%s %d", g.Server, g.Count)
		}
		t.Fatalf("%d rows after folding, want 4", len(gs))
	}
	if gs[0].Server != "198.51.100.1:*" || gs[0].Ports != 12 || gs[0].Count != 12 || len(gs[0].Examples) != 3 {
		t.Fatalf("folded = %+v", gs[0])
	}
	if len(r.Groups()) != 15 {
		t.Fatal("Fold changed the rollup")
	}
	if Fold(r.Groups(), 50, 3)[0].Ports != 0 {
		t.Fatal("folded below minPorts")
	}
}

func TestUnresolvedConnect(t *testing.T) {
	r := New(Options{})
	c := &analyze.Connect{Client: "192.0.2.1", Name: "nx.example", Port: 3306, Outcome: analyze.Unresolved, Reason: reason(t, "dns.nxdomain"), Start: t0, DurationMS: 12}
	r.Add(1, c)
	gs := r.Groups()
	if len(gs) != 1 || gs[0].Server != "nx.example:3306" || gs[0].Outcome != analyze.Unresolved || gs[0].Reason != "dns.nxdomain" || gs[0].SYNs[0] != 1 {
		t.Fatalf("%+v", gs)
	}
}

func TestSplitEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		port int
	}{
		{"192.0.2.1:3306", "192.0.2.1", 3306},
		{"[2001:db8::1]:443", "2001:db8::1", 443},
		{"/run/mysqld/mysqld.sock", "/run/mysqld/mysqld.sock", -1},
		{"db.example:3306", "db.example", 3306},
		{"2001:db8::1", "2001:db8::1", -1},
		{"host:99999", "host:99999", -1},
		{"host:", "host:", -1},
		{"unix", "unix", -1},
	} {
		h, p := splitEndpoint(tc.in)
		if h != tc.host || p != tc.port {
			t.Errorf("splitEndpoint(%q) = %q, %d; want %q, %d", tc.in, h, p, tc.host, tc.port)
		}
	}
}

// Memory stays bounded whatever comes: groups are capped (the rest in
// "other"), the patterns follow a bounded number of servers and pairs,
// the time view spans at most maxBins intervals, the sets keep setCap
// values.
func TestBounded(t *testing.T) {
	r := New(Options{MaxGroups: 50})
	for i := 0; i < 20000; i++ {
		server := fmt.Sprintf("10.%d.%d.%d:%d", i/65536%256, i/256%256, i%256, 1+i%60000)
		addAll(r, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.%d.%d:%d", i/256%256, i%256, 1024+i%60000), server: server,
			startS: float64(i) * 3.7, syns: 1 + i%3, rtt: 0.1, first: 1, reason: "mysql.login_ok"}))
	}
	gs := r.Groups()
	if len(gs) != 51 || !gs[50].Other || gs[50].Count != 20000-50 {
		t.Fatalf("%d groups, last %+v", len(gs), gs[len(gs)-1].Key)
	}
	if len(gs[50].Clients.Values) != setCap || !gs[50].Clients.More {
		t.Fatalf("other's clients: %d kept, more %v", len(gs[50].Clients.Values), gs[50].Clients.More)
	}
	d := r.patterns
	if pairs := len(d.pairs) + len(d.longPairs); len(d.servers) > maxServersFollowed || pairs > maxPairsFollowed || d.notFollowed == 0 {
		t.Fatalf("followed %d servers, %d pairs, %d not followed", len(d.servers), pairs, d.notFollowed)
	}
	if bins := r.Time().Bins(); len(bins) > maxBins || len(r.Time().Servers()) > maxConcServers {
		t.Fatalf("%d bins, %d servers in the time view", len(bins), len(r.Time().Servers()))
	}
}

func TestSet(t *testing.T) {
	var s Set
	for round := 0; round < 3; round++ {
		for i := 0; i < 20; i++ {
			s.add(fmt.Sprint("v", i))
		}
	}
	if len(s.Values) != 20 || s.More {
		t.Fatalf("%d values, more %v: want 20 distinct", len(s.Values), s.More)
	}
	for i := 20; i < 100; i++ {
		s.add(fmt.Sprint("v", i))
	}
	s.add("v3")
	if len(s.Values) != setCap || !s.More || s.Values[3] != "v3" {
		t.Fatalf("%d values, more %v", len(s.Values), s.More)
	}
	b, _ := json.Marshal(s)
	if !strings.HasPrefix(string(b), `{"values":["v0",`) || !strings.HasSuffix(string(b), `],"more":true}`) {
		t.Fatalf("JSON %s", b)
	}
}

// TestCompareKeysOrder checks that compareKeys orders keys as their fields
// joined by NUL bytes do (the order the groups were sorted in when the
// sort joined them): the server first, a prefix before its extensions,
// then client, process, outcome and reason.
func TestCompareKeysOrder(t *testing.T) {
	joined := func(k Key) string {
		return k.Server + "\x00" + k.Client + "\x00" + k.Process + "\x00" + string(k.Outcome) + "\x00" + k.Reason
	}
	keys := []Key{
		{Server: "10.0.0.1:3306", Outcome: analyze.Refused, Reason: "tcp.rst_from_server"},
		{Server: "10.0.0.1:33", Outcome: analyze.Refused, Reason: "tcp.rst_from_server"},
		{Server: "10.0.0.1:3306", Outcome: analyze.OK, Reason: "mysql.login_ok"},
		{Server: "10.0.0.1:3306", Outcome: analyze.OK, Reason: "mysql.login"},
		{Server: "10.0.0.1:3306", Client: "10.1.0.2", Outcome: analyze.OK},
		{Server: "10.0.0.1:3306", Client: "10.1.0.2", Process: "php", Outcome: analyze.OK},
		{Server: "10.0.0.1:3306", Client: "10.1.0.10", Process: "php", Outcome: analyze.OK},
		{Client: "10.1.0.2", Outcome: analyze.Timeout},
		{Process: "-", Outcome: analyze.Timeout},
		{Server: "[fd00::1]:3306", Outcome: analyze.Timeout},
		{Server: "db.example:3306", Outcome: analyze.Timeout},
		{},
	}
	for _, a := range keys {
		for _, b := range keys {
			want := strings.Compare(joined(a), joined(b))
			if got := compareKeys(a, b); got != want {
				t.Errorf("compareKeys(%+v, %+v) = %d, want %d (the joined order)", a, b, got, want)
			}
		}
	}
}
