package rollup

import (
	"fmt"
	"path/filepath"
	"testing"

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
