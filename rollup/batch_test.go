package rollup

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
)

// Add adds the figures of its attempts in batches (flush): the result must
// be that of adding them one by one, whatever the batch boundaries. The
// connects are the lab's volume captures' (every pattern there), three
// times over (more attempts than batchSize), and connects to a name with a
// failing address (address_always_fails: the names are flushed last).
func TestBatchedAsOneByOne(t *testing.T) {
	var cs []*analyze.Connect
	files, err := filepath.Glob(filepath.Join("..", "testdata", "volume", "*.pcap"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no volume captures (%v)", err)
	}
	for _, f := range files {
		r, err := capture.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) { cs = append(cs, c) }}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r.Close()
	}
	for i := 0; i < 40; i++ {
		cs = append(cs, connect(t, "db.example", 3306,
			at{client: "[2001:db8::10]:40000", server: "[2001:db8::1]:3306", startS: float64(i) * 7, syns: 3, rtt: -1, first: -1, fin: 3000, reason: "tcp.syn_unanswered"},
			at{client: "192.0.2.10:40001", server: "203.0.113.2:3306", startS: float64(i)*7 + 3, syns: 1, rtt: 0.3, first: 1, reason: "mysql.login_ok"}))
	}
	all := slices.Concat(cs, cs, cs)
	if attempts := len(all); attempts <= batchSize {
		t.Fatalf("%d connects: no batch would be full", attempts)
	}
	for _, opt := range []Options{{}, {GroupBy: ByClient, MaxGroups: 5}, {GroupBy: ByOutcome, Examples: 1}} {
		one, batched := New(opt), New(opt)
		for i, c := range all {
			e1 := one.Add(i+1, c)
			one.flush() // one by one
			if e2 := batched.Add(i+1, c); e1 != e2 {
				t.Fatalf("%+v: connect %d: example %v one by one, %v batched", opt, i+1, e1, e2)
			}
		}
		if len(batched.pending) == 0 {
			t.Fatalf("%+v: nothing pending before the accessors: the test does not test batches", opt)
		}
		if a, b := view(t, one), view(t, batched); a != b {
			t.Errorf("%+v: one by one\n%s\nbatched\n%s", opt, a, b)
		}
	}
}

// view is everything a Rollup reports, as JSON.
func view(t *testing.T, r *Rollup) string {
	type sketches struct{ RTT, Connect, FirstByte Quantiles }
	var gs []any
	for _, g := range r.Groups() {
		gs = append(gs, g, g.SYNs, sketches{g.RTT.Summary(), g.Connect.Summary(), g.FirstByte.Summary()})
	}
	first, last := r.Span()
	b, err := json.Marshal([]any{gs, r.Patterns(), r.Time().Bins(), r.Time().Servers(), r.Outcomes(), first, last, r.Connects(), r.Attempts()})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
