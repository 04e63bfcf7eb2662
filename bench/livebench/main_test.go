package main

import (
	"net/netip"
	"strings"
	"testing"
)

// TestCheckStorm: the storm's count of attempts to the listener from the
// JSON report — pattern records (whose "attempts" are numbers) skipped,
// other servers left out, one 5-tuple again within 5 ms a duplicate unless
// both attempts are whole (SYN and accept: the port reused at once, the
// server keeping the TIME_WAIT), the same 5-tuple later a new connect, and
// the server's accept counted where facts.accept is present.
func TestCheckStorm(t *testing.T) {
	report := strings.Join([]string{
		`{"kind":"pattern","id":"retry_storm","server":"198.18.0.2:13306","attempts":[1,2,3]}`,
		`{"kind":"connect","number":1,"attempts":[{"client":"198.18.0.1:1024","server":"198.18.0.2:13306","outcome":"rejected","start":"2026-12-06T20:00:00.000Z","facts":{"accept":{"by":"livebench[1]","pid":1}}}]}`,
		`{"kind":"connect","number":2,"attempts":[{"client":"198.18.0.1:1024","server":"198.18.0.2:13306","outcome":"rejected","start":"2026-12-06T20:00:00.002Z","facts":{"accept":{"by":"livebench[1]","pid":1}}}]}`,
		`{"kind":"connect","number":3,"attempts":[{"client":"198.18.0.1:1024","server":"198.18.0.2:13306","outcome":"rejected","start":"2026-12-06T20:00:00.040Z","facts":{"syns":1}}]}`,
		`{"kind":"connect","number":4,"attempts":[{"client":"198.18.0.1:1025","server":"198.18.0.2:13306","outcome":"timeout","start":"2026-12-06T20:00:00.001Z"}]}`,
		`{"kind":"connect","number":5,"attempts":[{"client":"198.18.0.1:1026","server":"198.18.0.2:3306","outcome":"rejected","start":"2026-12-06T20:00:00.001Z","facts":{"accept":{"pid":1}}}]}`,
		`{"kind":"connect","number":6,"attempts":[{"client":"198.18.0.1:1027","server":"198.18.0.2:13306","outcome":"rejected","start":"2026-12-06T20:00:00.010Z","facts":{"accept":{"pid":1}},"events":[{"kind":"syn"},{"kind":"syn_ack"}]}]}`,
		`{"kind":"connect","number":7,"attempts":[{"client":"198.18.0.1:1027","server":"198.18.0.2:13306","outcome":"rejected","start":"2026-12-06T20:00:00.011Z","facts":{"accept":{"pid":1}},"events":[{"kind":"syn"}]}]}`,
		`{"kind":"group","group_by":"server","server":"198.18.0.2:13306","count":4}`,
		`{"kind":"summary","connects":5,"ring_buffer_lost":0}`,
	}, "\n")
	var r row
	if err := checkStorm([]byte(report), netip.MustParseAddr("198.18.0.2"), 13306, &r); err != nil {
		t.Fatal(err)
	}
	if r.once != 5 || r.dups != 1 || r.reused != 1 || r.withAccept != 4 {
		t.Errorf("once %d, duplicates %d, reused %d, with accept %d; want 5, 1, 1, 4", r.once, r.dups, r.reused, r.withAccept)
	}
	if err := checkStorm([]byte(`{"kind":"connect","attempts":[{"client":1}]}`), netip.MustParseAddr("198.18.0.2"), 13306, &row{}); err == nil {
		t.Error("a malformed attempt was not an error")
	}
}

// TestBulkMisses: the bulk rows' targets — under 1% of a core, and a
// throughput shortfall within the untraced blocks' spread, at least 3%
// and at most 10% allowed.
func TestBulkMisses(t *testing.T) {
	for _, c := range []struct {
		cpu, ratio, noise float64
		want              []string
	}{
		{0.5, 0.98, 0.01, nil},
		{0.5, 1.20, 0.01, nil}, // faster traced: not a miss
		{0.5, 0.96, 0.01, []string{"4.0% below untraced, more than the 3.0% allowed"}},
		{0.5, 0.93, 0.08, nil},
		{0.5, 0.91, 0.08, []string{"9.0% below untraced, more than the 8.0% allowed"}},
		{0.5, 0.88, 0.25, []string{"12.0% below untraced, more than the 10.0% allowed"}},
		{1.2, 1.00, 0.02, []string{"connscope used 1.20% of a core"}},
	} {
		got := bulkRow{cpuPercent: c.cpu, ratio: c.ratio, noise: c.noise}.misses()
		if len(got) != len(c.want) {
			t.Errorf("cpu %.1f%%, ratio %.2f, noise %.2f: misses %q, want %q", c.cpu, c.ratio, c.noise, got, c.want)
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], c.want[i]) {
				t.Errorf("cpu %.1f%%, ratio %.2f, noise %.2f: miss %q, want it to say %q", c.cpu, c.ratio, c.noise, got[i], c.want[i])
			}
		}
	}
}
