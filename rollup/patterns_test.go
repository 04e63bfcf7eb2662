package rollup

import (
	"fmt"
	"slices"
	"testing"

	"github.com/connscope/connscope/analyze"
)

const db = "198.51.100.10:3306"

// burst is the slow-accept lab scenario as the engine reports it: n
// clients at once against a server that accepts one connection every
// 500 ms with a backlog of 1: the first two handshakes at the first SYN,
// the rest after a SYN retransmit; greetings one by one, 500 ms apart;
// clients that wait more than 10 s give up (greeting_late).
func burst(t *testing.T, n int) []*analyze.Connect {
	var cs []*analyze.Connect
	for i := 0; i < n; i++ {
		a := at{client: fmt.Sprintf("192.0.2.10:%d", 40000+i), server: db, startS: float64(i) * 0.002, syns: 2, rtt: 0.1, reason: "mysql.login_ok", comm: "mariadb"}
		if i < 2 {
			a.syns = 1
		}
		handshake := float64(a.syns-1) * 1000
		a.first = float64(i+1)*500 - handshake
		if handshake+a.first > 10000 {
			a.reason, a.fin = "mysql.greeting_late", 10000
		}
		cs = append(cs, connect(t, "", 3306, a))
	}
	return cs
}

func ids(ps []Pattern) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func find(ps []Pattern, id string) *Pattern {
	for i := range ps {
		if ps[i].ID == id {
			return &ps[i]
		}
	}
	return nil
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		name    string
		connect func(t *testing.T) []*analyze.Connect
		want    []string
		check   func(t *testing.T, ps []Pattern)
	}{
		{"slow accept burst", func(t *testing.T) []*analyze.Connect { return burst(t, 30) },
			[]string{AcceptBacklog}, func(t *testing.T, ps []Pattern) {
				p := find(ps, AcceptBacklog)
				f := p.Facts
				if p.Server != db || f.Attempts != 30 || f.Connected != 30 || f.SYNRetransmitted != 28 || f.FirstSYN != 2 {
					t.Errorf("facts %+v", f)
				}
				if !near(f.ArrivalGapMS, 500) {
					t.Errorf("arrival gap %v, want 500 ms", f.ArrivalGapMS)
				}
				if f.LateFirstBytes != 29 { // all but the first (500 ms ≥ 100 ms; the first is 500 ms too)
					t.Logf("late %d", f.LateFirstBytes)
				}
			}},
		{"reverse DNS: every greeting 5 s late, all at once, no retransmit", func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for i := 0; i < 10; i++ {
				cs = append(cs, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.2.10:%d", 40000+i), server: db, startS: float64(i) * 0.01, syns: 1, rtt: 0.1, first: 5000 + float64(i), fin: 3000, reason: "mysql.greeting_late"}))
			}
			return cs
		}, nil, nil},
		{"random SYN loss under 40 sequential connects", func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for i := 0; i < 40; i++ {
				syns := 1
				switch i % 6 {
				case 2, 4:
					syns = 2
				case 5:
					if i == 5 {
						syns = 3
					}
				}
				cs = append(cs, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.2.10:%d", 40000+i), server: db, startS: float64(i) * 4, syns: syns, rtt: 0.2, first: 1.5, reason: "mysql.login_ok"}))
			}
			return cs
		}, []string{SYNLoss}, func(t *testing.T, ps []Pattern) {
			f := find(ps, SYNLoss).Facts
			if f.Attempts != 40 || f.SYNRetransmitted != 14 || f.SYNs3Plus != 1 || f.FirstSYN != 26 {
				t.Errorf("facts %+v", f)
			}
			if f.RetransConnect == nil || !near(f.RetransConnect.P50, 1000.2) {
				t.Errorf("retransmitted connect %+v", f.RetransConnect)
			}
		}},
		{"port scan", func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for p := 1; p <= 25; p++ {
				cs = append(cs, connect(t, "", uint16(p), at{client: "192.0.2.66:50000", server: ep("198.51.100.20", p), startS: float64(p) * 0.01, syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server", comm: "nmap"}))
			}
			return cs
		}, []string{PortScan}, func(t *testing.T, ps []Pattern) {
			p := find(ps, PortScan)
			if p.Client != "192.0.2.66" || p.Server != "198.51.100.20:*" || p.Facts.Ports != 25 || len(p.Numbers) != maxPatternNumbers {
				t.Errorf("%+v", p)
			}
		}},
		{"retry storm", func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for i := 0; i < 20; i++ {
				cs = append(cs, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.2.7:%d", 30000+i), server: db, startS: float64(i) * 0.2, syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server"}))
			}
			return cs
		}, []string{RetryStorm}, func(t *testing.T, ps []Pattern) {
			f := find(ps, RetryStorm).Facts
			if f.Retries != 19 || f.Failures != 20 || f.RatePerS < 4.9 || f.RatePerS > 5.4 {
				t.Errorf("%+v", f)
			}
		}},
		{"retry storm between IPv6 addresses too long for pairBytes", func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for i := 0; i < 20; i++ {
				cs = append(cs, connect(t, "", 3306, at{client: fmt.Sprintf("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:7]:%d", 30000+i), server: "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:3306",
					startS: float64(i) * 0.2, syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server"}))
			}
			return cs
		}, []string{RetryStorm}, func(t *testing.T, ps []Pattern) {
			p := find(ps, RetryStorm)
			if p.Client != "2001:db8:aaaa:bbbb:cccc:dddd:eeee:7" || p.Server != "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:3306" || p.Facts.Retries != 19 || p.Facts.Attempts != 20 {
				t.Errorf("%+v", p)
			}
		}},
		{"reconnects that work after one failure are no storm", func(t *testing.T) []*analyze.Connect {
			cs := []*analyze.Connect{connect(t, "", 3306, at{client: "192.0.2.7:1", server: db, startS: 0, syns: 1, rtt: 0.1, first: 1, reason: "mysql.access_denied"})}
			for i := 0; i < 30; i++ {
				cs = append(cs, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.2.7:%d", 30000+i), server: db, startS: 0.1 + float64(i)*0.05, syns: 1, rtt: 0.1, first: 1, reason: "mysql.login_ok"}))
			}
			return cs
		}, nil, nil},
		{"a burst of clients failing at once is no storm", func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for i := 0; i < 25; i++ {
				cs = append(cs, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.2.7:%d", 30000+i), server: db, startS: float64(i) * 0.02, syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server"}))
			}
			return cs
		}, nil, nil},
		{"address always fails", func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for i := 0; i < 3; i++ {
				cs = append(cs, connect(t, "db.example", 3306,
					at{client: fmt.Sprintf("[2001:db8::10]:%d", 40000+i), server: "[2001:db8::1]:3306", startS: float64(i) * 60, syns: 3, rtt: -1, first: -1, fin: 3000, reason: "tcp.syn_unanswered"},
					at{client: fmt.Sprintf("192.0.2.10:%d", 40000+i), server: "203.0.113.2:3306", startS: float64(i)*60 + 3, syns: 1, rtt: 0.3, first: 1, reason: "mysql.login_ok"}))
			}
			return cs
		}, []string{AddressAlwaysFails}, func(t *testing.T, ps []Pattern) {
			p := find(ps, AddressAlwaysFails)
			f := p.Facts
			if p.Server != "db.example:3306" || f.Address != "[2001:db8::1]:3306" || f.Connects != 3 || f.Outcome != "timeout" ||
				!slices.Equal(f.Working, []string{"203.0.113.2:3306"}) || f.Cost == nil || !near(f.Cost.P50, 3000) || !slices.Equal(p.Numbers, []int{1, 2, 3}) {
				t.Errorf("%+v %+v", p, f)
			}
		}},
		{"too many connections", func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for i := 0; i < 12; i++ {
				a := at{client: fmt.Sprintf("192.0.2.10:%d", 40000+i), server: db, startS: float64(i) * 0.01, syns: 1, rtt: 0.1, first: 1, reason: "mysql.login_ok"}
				if i >= 10 {
					a.reason, a.mysqlErr = "mysql.err_at_greeting", 1040
				}
				cs = append(cs, connect(t, "", 3306, a))
			}
			return cs
		}, []string{TooManyConnections}, func(t *testing.T, ps []Pattern) {
			f := find(ps, TooManyConnections).Facts
			if f.Failures != 2 || f.ErrorCode != "1040" || f.PeakEstablished != 12 {
				t.Errorf("%+v", f)
			}
		}},
		{"quiet: sequential prompt connects", func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for i := 0; i < 50; i++ {
				cs = append(cs, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.2.10:%d", 40000+i), server: db, startS: float64(i) * 0.1, syns: 1, rtt: 0.1, first: 1, reason: "mysql.login_ok"}))
			}
			return cs
		}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{})
			addAll(r, tc.connect(t)...)
			ps := r.Patterns()
			if got := ids(ps); !slices.Equal(got, tc.want) {
				t.Fatalf("patterns %v, want %v", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, ps)
			}
		})
	}
}

// The listen counters join accept_backlog patterns only, and only when
// they show drops.
func TestWithListenCounters(t *testing.T) {
	mk := func() []Pattern { return []Pattern{{ID: AcceptBacklog}, {ID: SYNLoss}} }
	drops := &analyze.ListenCounters{ListenOverflows: 3, ListenDrops: 3}
	ps := WithListenCounters(mk(), drops)
	if ps[0].Facts.Listen == nil || *ps[0].Facts.Listen != *drops || ps[1].Facts.Listen != nil {
		t.Errorf("with drops: %+v / %+v", ps[0].Facts.Listen, ps[1].Facts.Listen)
	}
	for _, c := range []*analyze.ListenCounters{nil, {SyncookiesSent: 4}} {
		if ps := WithListenCounters(mk(), c); ps[0].Facts.Listen != nil {
			t.Errorf("counters %+v without drops tied to the pattern", c)
		}
	}
}

// A pair's key in the map holds both lengths: pairs whose bytes run
// together alike stay apart, and a key that does not fit is refused (it
// goes to longPairs).
func TestPairBytes(t *testing.T) {
	long := "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:3306"
	tests := []struct {
		a, b   pairKey
		fitA   bool
		fitB   bool
		differ bool
	}{
		{pairKey{"192.0.2.1", "1.2.3.4:5"}, pairKey{"192.0.2.1", "1.2.3.4:5"}, true, true, false},
		{pairKey{"192.0.2.1", "11.2.3.4:5"}, pairKey{"192.0.2.11", "1.2.3.4:5"}, true, true, true},
		{pairKey{"", "a"}, pairKey{"a", ""}, true, true, true},
		{pairKey{"255.255.255.255", "255.255.255.255:65535"}, pairKey{"255.255.255.254", "255.255.255.255:65535"}, true, true, true},
		{pairKey{"2001:db8:aaaa:bbbb:cccc:dddd:eeee:7", long}, pairKey{"2001:db8::7", "[2001:db8::1]:3306"}, false, true, true},
	}
	for _, tc := range tests {
		ka, okA := bytesOf(tc.a.client, tc.a.server)
		kb, okB := bytesOf(tc.b.client, tc.b.server)
		if okA != tc.fitA || okB != tc.fitB {
			t.Errorf("%v fits %v, %v fits %v; want %v, %v", tc.a, okA, tc.b, okB, tc.fitA, tc.fitB)
			continue
		}
		if okA && okB && (ka != kb) != tc.differ {
			t.Errorf("%v and %v: keys differ %v, want %v", tc.a, tc.b, ka != kb, tc.differ)
		}
	}
	d := newDetector()
	for _, k := range []pairKey{{"192.0.2.1", "11.2.3.4:5"}, {"192.0.2.11", "1.2.3.4:5"}, {"2001:db8:aaaa:bbbb:cccc:dddd:eeee:7", long}} {
		if p := d.pair(k); p == nil || p.key != k || d.pair(k) != p {
			t.Errorf("pair(%v) = %+v, not found again", k, p)
		}
	}
	if len(d.pairs) != 2 || len(d.longPairs) != 1 {
		t.Errorf("%d pairs, %d long pairs; want 2, 1", len(d.pairs), len(d.longPairs))
	}
}

// TestNumbersAdd: a pattern's attempt numbers are the first
// maxPatternNumbers distinct ones in the order added, whether they come in
// order (the Writer's connects) or not (a caller numbering otherwise):
// once a number came below the last one, each new one is searched for.
func TestNumbersAdd(t *testing.T) {
	upTo := func(n int) []int {
		var v []int
		for i := 1; i <= n; i++ {
			v = append(v, i)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		add  []int
		want []int
		more bool
	}{
		{"ascending", []int{1, 2, 2, 3, 7}, []int{1, 2, 3, 7}, false},
		{"repeats of the last", []int{4, 4, 4}, []int{4}, false},
		{"below the last, new", []int{5, 3, 9}, []int{5, 3, 9}, false},
		{"below the last, seen", []int{5, 3, 5, 3, 9, 5}, []int{5, 3, 9}, false},
		{"above the last after disorder, seen", []int{9, 2, 5, 9, 5, 11}, []int{9, 2, 5, 11}, false},
		{"full", upTo(maxPatternNumbers + 3), upTo(maxPatternNumbers), true},
		{"full, a seen one after", append(upTo(maxPatternNumbers), 1), upTo(maxPatternNumbers), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n numbers
			for _, x := range tc.add {
				n.add(x)
			}
			if !slices.Equal(n.v, tc.want) || n.more != tc.more {
				t.Errorf("added %v: got %v (more %v), want %v (more %v)", tc.add, n.v, n.more, tc.want, tc.more)
			}
		})
	}
}
