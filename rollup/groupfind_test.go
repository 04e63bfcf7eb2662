package rollup

import (
	"slices"
	"sort"
	"testing"
)

// TestAddExampleKeepsWorst checks the examples against a model (the
// longest first, an equal one after those already kept, at most limit):
// addExample turns away an attempt no longer than the shortest kept
// without its search, which must not change which are kept.
func TestAddExampleKeepsWorst(t *testing.T) {
	durations := []float64{5, 3, 5, 9, 1, 3, 3, 9, 0, 12, 5, 5, 2, 12, 7, 7, 7, 1}
	for _, limit := range []int{1, 2, 3, 5} {
		var g Group
		var model []Example
		for i, d := range durations {
			ex := Example{Number: i + 1, DurationMS: d}
			kept := g.addExample(ex, limit)
			model = append(model, ex)
			sort.SliceStable(model, func(a, b int) bool { return model[a].DurationMS > model[b].DurationMS })
			in := slices.Contains(model[:min(limit, len(model))], ex)
			model = model[:min(limit, len(model))]
			if kept != in {
				t.Errorf("limit %d, example %v: kept %v, want %v", limit, ex, kept, in)
			}
			if !slices.Equal(g.Examples, model) {
				t.Fatalf("limit %d after %v: examples %v, want %v", limit, ex, g.Examples, model)
			}
		}
	}
}

// TestGroupOfRun checks that attempts alternating between groups of one
// label (outcome or reason differ), and between labels, each land in
// their own group, by every grouping: a group found for a run of
// attempts is the one of their label, outcome and reason.
func TestGroupOfRun(t *testing.T) {
	atts := []at{
		{client: "10.1.0.1:40000", server: "10.2.0.1:3306", syns: 1, rtt: 0.2, first: 1, reason: "mysql.login_ok", comm: "php"},
		{client: "10.1.0.1:40001", server: "10.2.0.1:3306", syns: 1, rtt: 0.2, first: 1, reason: "mysql.access_denied", comm: "php"},
		{client: "10.1.0.1:40002", server: "10.2.0.1:3306", syns: 1, rtt: 0.2, first: 1, reason: "mysql.access_denied"},
		{client: "10.1.0.2:40003", server: "10.2.0.1:3306", syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server"},
		{client: "10.1.0.2:40004", server: "10.2.0.2:3306", syns: 1, rtt: 0.2, first: 1, reason: "mysql.login_ok", comm: "php"},
		{client: "10.1.0.1:40005", server: "10.2.0.1:3306", syns: 1, rtt: 0.2, first: 1, reason: "mysql.login_ok"},
		// The outcome of 3 (refused), another reason.
		{client: "10.1.0.2:40006", server: "10.2.0.1:3306", syns: 1, rtt: -1, first: -1, reason: "kernel.rst_received"},
	}
	order := []int{0, 0, 1, 0, 2, 3, 3, 6, 3, 0, 4, 5, 1, 1, 4, 0, 2, 5, 6, 6}
	for _, by := range []GroupBy{ByServer, ByClient, ByProcess, ByOutcome} {
		r := New(Options{GroupBy: by})
		want := map[Key]int{}
		for i, j := range order {
			a := atts[j]
			a.startS = float64(i)
			c := connect(t, "", 3306, a)
			r.Add(i+1, c)
			k := Key{Outcome: c.Outcome, Reason: c.Reason.String()}
			switch by {
			case ByServer:
				k.Server = a.server
			case ByClient:
				k.Client, _ = splitEndpoint(a.client)
			case ByProcess:
				k.Process = a.comm
				if k.Process == "" {
					k.Process = "-"
				}
			}
			want[k]++
		}
		got := map[Key]int{}
		for _, g := range r.Groups() {
			if _, dup := got[g.Key]; dup {
				t.Errorf("by %s: two groups of %+v", by, g.Key)
			}
			got[g.Key] = g.Count
		}
		if len(got) != len(want) {
			t.Errorf("by %s: %d groups, want %d: %v", by, len(got), len(want), got)
		}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("by %s: group %+v counts %d, want %d", by, k, got[k], n)
			}
		}
	}
}

// TestGroupServersApart checks the per-server figures of a group whose
// attempts go to two servers (a name's two addresses), interleaved with
// another group's: each server's patterns stats and time view counts get
// its own attempts only (a group remembers its last server's stats and
// place in the time view).
func TestGroupServersApart(t *testing.T) {
	const a, b, other = "10.2.0.1:3306", "10.2.0.2:3306", "10.2.0.9:3306"
	r := New(Options{})
	n := 0
	add := func(name string, x at) {
		n++
		x.startS = float64(n) * 0.01
		r.Add(n, connect(t, name, 3306, x))
	}
	wantA, wantB := 0, 0
	for i := range 30 {
		// The same group (db:3306, rejected at the greeting): 1040 from
		// a, 1130 from b, in runs of one to three.
		srv, code := a, uint16(1040)
		if i%5 == 1 || i%5 == 3 || i%7 == 0 {
			srv, code = b, 1130
			wantB++
		} else {
			wantA++
		}
		add("db", at{client: "10.1.0.1:40000", server: srv, syns: 1, rtt: 0.2, first: 0.4, reason: "mysql.err_at_greeting", mysqlErr: code})
		if i%3 == 0 {
			add("", at{client: "10.1.0.2:40000", server: other, syns: 1, rtt: 0.2, first: 1, reason: "mysql.login_ok"})
		}
	}
	var tooMany []Pattern
	for _, p := range r.Patterns() {
		if p.ID == TooManyConnections {
			tooMany = append(tooMany, p)
		}
	}
	if len(tooMany) != 1 || tooMany[0].Server != a || tooMany[0].Facts.Attempts != wantA || tooMany[0].Facts.Failures != wantA {
		t.Fatalf("too_many_connections: %+v, want one of %s with %d attempts and failures", tooMany, a, wantA)
	}
	got := map[string]int{}
	for _, bin := range r.Time().Bins() {
		for s, k := range bin.Established {
			got[s] = max(got[s], k)
		}
	}
	// Every handshake stays open to the end of its attempt (no close):
	// within one bin each server's count is its attempts.
	if got[a] != wantA || got[b] != wantB {
		t.Errorf("established: %v, want %s %d, %s %d", got, a, wantA, b, wantB)
	}
}
