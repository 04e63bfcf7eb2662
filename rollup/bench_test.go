package rollup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
)

// BenchmarkAdd is the rollup's cost per connect (one attempt each, 40
// servers, 2,000 clients, mixed outcomes).
func BenchmarkAdd(b *testing.B) {
	var cs []*analyze.Connect
	reasons := []string{"mysql.login_ok", "mysql.login_ok", "mysql.login_ok", "tcp.rst_from_server", "tcp.syn_unanswered", "mysql.greeting_late"}
	for i := 0; i < 6000; i++ {
		a := at{client: fmt.Sprintf("10.1.%d.%d:%d", i%8, i%250, 30000+i), server: fmt.Sprintf("10.2.0.%d:3306", i%40), startS: float64(i) * 0.1,
			syns: 1 + i%3/2, rtt: 0.2 + float64(i%7)/10, first: 1 + float64(i%11), reason: reasons[i%len(reasons)], comm: "php"}
		if a.reason == "tcp.rst_from_server" || a.reason == "tcp.syn_unanswered" {
			a.rtt, a.first = -1, -1
		}
		cs = append(cs, connect(b, "", 3306, a))
	}
	b.ReportAllocs()
	b.ResetTimer()
	r := New(Options{})
	for i := 0; i < b.N; i++ {
		if i%len(cs) == 0 {
			r = New(Options{})
		}
		r.Add(i+1, cs[i%len(cs)])
	}
}

// BenchmarkAddLab is the cost per connect on the lab's busy capture's
// real connects (322 logins and four failures).
func BenchmarkAddLab(b *testing.B) {
	r, err := capture.Open(filepath.Join("..", "testdata", "volume", "busy.any.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	var cs []*analyze.Connect
	if _, err := analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) { cs = append(cs, c) }}); err != nil {
		b.Fatal(err)
	}
	r.Close()
	b.ReportAllocs()
	b.ResetTimer()
	ru := New(Options{})
	for i := 0; i < b.N; i++ {
		if i%(len(cs)*20) == 0 {
			ru = New(Options{})
		}
		ru.Add(i+1, cs[i%len(cs)])
	}
}

// mixConnects are 6,032 connects in the proportions of the bench capture
// (bench/gencap; analyze's `make bench` row): 38 % ok logins to four
// servers (half of them by name), refusals, rejections at the greeting
// (1040, 1130), SYN timeouts, ICMP unreachables, no or late greetings,
// closes before the greeting, access denied, a wrong protocol, NXDOMAIN
// (no attempt), and a name whose IPv6 address times out before its IPv4
// one works (two attempts); about 200 client addresses in no order.
func mixConnects(b *testing.B) []*analyze.Connect {
	type scenario struct {
		name, server, reason string
		syns                 int
		rtt, first, fin      float64
		mysqlErr             uint16
	}
	ok := func(i int) scenario {
		s := scenario{server: fmt.Sprintf("10.2.0.%d:3306", 1+i%4), reason: "mysql.login_ok", syns: 1, rtt: 0.15, first: 0.5}
		if i%2 == 0 {
			s.name = fmt.Sprintf("db%d.shop.internal", 1+i%4)
		}
		return s
	}
	scenarios := []scenario{ok(0), ok(1), ok(2), ok(3), ok(4), ok(5), ok(6), ok(7),
		{server: "10.2.0.5:3307", reason: "tcp.rst_from_server", syns: 1, rtt: -1, first: -1},
		{server: "[fd00:2::1]:3307", reason: "tcp.rst_from_server", syns: 1, rtt: -1, first: -1},
		{server: "10.2.0.1:3306", reason: "mysql.err_at_greeting", syns: 1, rtt: 0.15, first: 0.4, mysqlErr: 1040},
		{server: "10.2.0.3:3306", reason: "mysql.err_at_greeting", syns: 1, rtt: 0.15, first: 0.4, mysqlErr: 1130},
		{server: "10.2.0.66:3306", reason: "tcp.syn_unanswered", syns: 3, rtt: -1, first: -1, fin: 3000},
		{server: "10.2.0.7:3306", reason: "icmp.admin_prohibited", syns: 1, rtt: -1, first: -1},
		{server: "10.2.0.8:3306", reason: "icmp.port_unreachable", syns: 1, rtt: -1, first: -1},
		{server: "10.2.0.9:3306", reason: "app.no_server_bytes", syns: 1, rtt: 0.15, first: -1, fin: 10000},
		{server: "10.2.0.10:3306", reason: "app.server_closed_silent", syns: 1, rtt: 0.15, first: -1, fin: 2},
		{server: "10.2.0.11:3306", reason: "mysql.greeting_late", syns: 1, rtt: 0.15, first: 12000, fin: 10000},
		{server: "10.2.0.2:3306", reason: "mysql.access_denied", syns: 1, rtt: 0.15, first: 0.5},
		{server: "10.2.0.22:3306", reason: "app.not_mysql_banner", syns: 1, rtt: 0.15, first: 0.3},
		{name: "dual.shop.internal"},                           // [fd00:2::99]:3306 times out, then 10.2.0.x works
		{name: "db-old.shop.internal", reason: "dns.nxdomain"}, // no attempt
	}
	var cs []*analyze.Connect
	x := uint64(1)
	for i := 0; i < 6032; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		s := scenarios[(x>>33)%uint64(len(scenarios))]
		client := fmt.Sprintf("10.1.0.%d", 1+(x>>45)%200)
		startS := float64(i) * 0.0945
		a := at{client: fmt.Sprintf("%s:%d", client, 32768+i%28000), server: s.server, startS: startS, syns: s.syns, rtt: s.rtt,
			first: s.first, fin: s.fin, reason: s.reason, mysqlErr: s.mysqlErr}
		switch {
		case s.server != "" && s.server[0] == '[':
			a.client = fmt.Sprintf("[fd00:1::%d]:%d", 1+(x>>45)%200, 32768+i%28000)
			cs = append(cs, connect(b, s.name, 3306, a))
		case s.server != "":
			cs = append(cs, connect(b, s.name, 3306, a))
		case s.reason != "": // NXDOMAIN: a connect without attempts
			r := reason(b, s.reason)
			cs = append(cs, &analyze.Connect{Name: fmt.Sprintf("db-%d.old.shop.internal", i), Port: 3306, Client: client,
				Outcome: r.Outcome(), Reason: r, Start: t0.Add(time.Duration(startS * float64(time.Second)))})
		default:
			v6 := at{client: fmt.Sprintf("[fd00:1::%d]:%d", 1+(x>>45)%200, 32768+i%28000), server: "[fd00:2::99]:3306", startS: startS,
				syns: 3, rtt: -1, first: -1, fin: 3000, reason: "tcp.syn_unanswered"}
			v4 := ok(i)
			a.server, a.reason, a.syns, a.rtt, a.first, a.startS = v4.server, v4.reason, 1, 0.15, 0.5, startS+3
			cs = append(cs, connect(b, s.name, 3306, v6, a))
		}
	}
	return cs
}

// BenchmarkAddMix is the rollup's cost per connect on the bench capture's
// mix (mixConnects). "hot" adds one connect after the other. In analyze the
// engine reads about 200 packets between two connects, which evicts the
// rollup's code and figures from the CPU's caches: "evicted" writes and
// reads 128 KB of other memory before each connect, "evict-only" does only
// that; the rollup's cost in that setting is the difference of the two.
func BenchmarkAddMix(b *testing.B) {
	cs := mixConnects(b)
	other := make([]byte, 4<<20)
	evict := func(i int) {
		part := other[(i%32)*(128<<10) : (i%32+1)*(128<<10)]
		for j := 0; j < len(part); j += 64 {
			part[j]++
		}
	}
	for _, mode := range []string{"hot", "evicted", "evict-only"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			r := New(Options{})
			for i := 0; i < b.N; i++ {
				if i%len(cs) == 0 {
					r.Groups() // adds what is pending, as a report would at the end
					r = New(Options{})
				}
				if mode != "hot" {
					evict(i)
				}
				if mode != "evict-only" {
					r.Add(i%len(cs)+1, cs[i%len(cs)])
				}
			}
			r.Groups()
		})
	}
}

// BenchmarkAddCapture is the rollup's cost per connect on the first
// 50,000 connects of the capture named by $CONNSCOPE_BENCH_CAPTURE (a
// connect-heavy one, e.g. bench/gencap's: thousands of client/server
// pairs, each met every few seconds), added in order as analyze does;
// skipped without it. cpu-ns/op is the process's CPU time per connect.
func BenchmarkAddCapture(b *testing.B) {
	path := os.Getenv("CONNSCOPE_BENCH_CAPTURE")
	if path == "" {
		b.Skip("CONNSCOPE_BENCH_CAPTURE not set")
	}
	r, err := capture.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	var cs []*analyze.Connect
	const most = 50000
	if _, err := analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) {
		if len(cs) < most {
			cs = append(cs, c)
		}
	}}); err != nil {
		b.Fatal(err)
	}
	r.Close()
	b.ReportAllocs()
	ru := New(Options{})
	cpu := cpuNS()
	for i := 0; b.Loop(); i++ {
		if i%len(cs) == 0 {
			ru.Groups()
			ru = New(Options{})
		}
		ru.Add(i%len(cs)+1, cs[i%len(cs)])
	}
	ru.Groups()
	b.ReportMetric(float64(cpuNS()-cpu)/float64(b.N), "cpu-ns/op")
}
