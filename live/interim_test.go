package live

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/connscope/connscope/report"
)

// interimOnTick calls the interim once per interval of the clock, never
// more often whatever the tick rate, skips intervals a stalled pipeline
// missed rather than catching up with a burst, and keeps calling the tick
// callback it wraps.
func TestInterimOnTick(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		interval time.Duration
		ticks    []time.Duration // tick times after t0
		want     []time.Duration // interim times after t0
	}{
		{"every 100 ms for 3.5 s, interval 1 s", time.Second,
			[]time.Duration{0, 100e6, 500e6, 999e6, 1000e6, 1100e6, 1900e6, 2000e6, 2500e6, 3000e6, 3500e6},
			[]time.Duration{1000e6, 2000e6, 3000e6}},
		{"a stall of 5 intervals gives one interim", time.Second,
			[]time.Duration{0, 5500e6, 5600e6, 6000e6},
			[]time.Duration{5500e6, 6000e6}},
		{"shorter than the interval: none", time.Minute,
			[]time.Duration{0, 1e9, 30e9, 59e9},
			nil},
	}
	for _, tc := range tests {
		var now time.Time
		var got []time.Duration
		ticks := 0
		f := interimOnTick(func() { ticks++ }, tc.interval, func() time.Time { return now },
			func(at time.Time) { got = append(got, at.Sub(t0)) })
		for _, d := range tc.ticks {
			now = t0.Add(d)
			f()
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: interims at %v, want %v", tc.name, got, tc.want)
		}
		if ticks != len(tc.ticks) {
			t.Errorf("%s: the wrapped tick ran %d times, want %d", tc.name, ticks, len(tc.ticks))
		}
	}
	// Without a tick to wrap (a terminal: nothing held to flush).
	var n int
	var now time.Time
	f := interimOnTick(nil, time.Second, func() time.Time { return now }, func(time.Time) { n++ })
	for _, d := range []time.Duration{0, 2e9} {
		now = t0.Add(d)
		f()
	}
	if n != 1 {
		t.Errorf("without a wrapped tick: %d interims, want 1", n)
	}
}

// trace --interval prints the rollup of the connects so far while it still
// runs: a refused connect, then an "interval" record and its group in the
// report file before the trace ends.
func TestTraceIntervalPrintsRollup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live tracing needs root (eBPF and packet capture)")
	}
	out := filepath.Join(t.TempDir(), "report.json")
	cfg := Config{Format: report.JSON, Output: out, Duration: 6 * time.Second, Interval: time.Second}
	done, stderr := traceRefusedConnect(t, cfg)
	interval := []byte(`{"kind":"interval",`)
	group := []byte(`"kind":"group","group_by":"server","server":"127.0.0.1:`)
wait:
	for {
		select {
		case st := <-done:
			t.Fatalf("trace ended (status %d) before an interval record was in %s: %q\n%s", st, out, readFile(out), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		b := readFile(out)
		if i := bytes.Index(b, interval); i >= 0 && bytes.Contains(b[i:], group) {
			if !bytes.Contains(b[:i], []byte(`"kind":"connect"`)) {
				t.Errorf("the interval record comes before the connect it covers:\n%s", b)
			}
			break wait
		}
	}
	if st := <-done; st != 0 {
		t.Errorf("trace exit status %d: %s", st, stderr.String())
	}
}

// The port range for ephemeral_ports comes from the sysctl's text; what
// cannot be a range is zero (the pattern then assumes Linux's default and
// says so).
func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in   string
		want [2]int
	}{
		{"32768\t60999\n", [2]int{32768, 60999}},
		{"40000 40003", [2]int{40000, 40003}},
		{"", [2]int{}},
		{"40000", [2]int{}},
		{"60999 32768", [2]int{}},
		{"0 100", [2]int{}},
		{"1 70000", [2]int{}},
		{"a b", [2]int{}},
	}
	for _, tc := range tests {
		if got := parsePortRange(tc.in); got != tc.want {
			t.Errorf("parsePortRange(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if r := localPortRange(""); r[0] == 0 {
		t.Errorf("this host's net.ipv4.ip_local_port_range could not be read: %v", r)
	}
}
