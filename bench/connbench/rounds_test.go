package main

import (
	"strings"
	"testing"
)

func TestScheduleInterleavesRounds(t *testing.T) {
	tracers := []tracer{none{}, connscope{bin: "cs"}, connscope{bin: "old", label: "connscope (baseline)"},
		connscope{bin: "cs", label: tableLabel, table: true}, bpftraceT{}, tcpdumpT{}}
	for _, tc := range []struct {
		name      string
		skipTable bool
		rounds    int
		want      string
	}{
		{"once", false, 1, "none connscope connscope (baseline) connscope (table) bpftrace tcpdump"},
		{"second rate", true, 1, "none connscope connscope (baseline) bpftrace tcpdump"},
		{"three rounds", false, 3, "none,1 connscope,1 connscope (baseline),1 connscope (table),1 bpftrace,1 tcpdump,1 " +
			"none,2 connscope,2 bpftrace,2 none,3 connscope,3 bpftrace,3 none,after 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var order []string
			runs, err := schedule(tracers, tc.skipTable, tc.rounds, func(tr tracer) (*result, error) {
				return &result{tracer: tr.name()}, nil
			}, func(r *result) {
				s := r.tracer
				switch {
				case r.closing:
					s += ",after " + string(rune('0'+r.round))
				case r.round > 0:
					s += "," + string(rune('0'+r.round))
				}
				order = append(order, s)
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(order, " "); got != tc.want {
				t.Errorf("order\n got %s\nwant %s", got, tc.want)
			}
			if len(runs) != len(order) {
				t.Errorf("%d runs returned, %d reported", len(runs), len(order))
			}
		})
	}
}

// Each tracer's slowdown is taken against the loop alone around it, so a
// loop that drifts between rounds does not move the totals.
func TestTotalsAgainstNeighbouringLoop(t *testing.T) {
	r := func(tracer string, round int, cpu, loop float64) *result {
		return &result{tracer: tracer, round: round, tracerUS: cpu, loopUS: loop}
	}
	runs := []*result{
		r("none", 1, 0, 40), r("connscope", 1, 18, 46), r("bpftrace", 1, 12, 60),
		r("none", 2, 0, 50), r("connscope", 2, 19, 56), r("bpftrace", 2, 11, 72),
		r("none", 3, 0, 30), r("connscope", 3, 17, 40), r("bpftrace", 3, 12, 31),
		{tracer: "none", round: 3, closing: true, loopUS: 30},
	}
	setTotals(runs)
	wantTotals := []float64{0, 18 + 46 - 45, 12 + 60 - 45, 0, 19 + 56 - 40, 11 + 72 - 40, 0, 17 + 40 - 30, 12 + 31 - 30, 0}
	for i, w := range wantTotals {
		if runs[i].total != w {
			t.Errorf("run %d (%s): total %.1f, want %.1f", i, runs[i].label(), runs[i].total, w)
		}
	}
	if n := cheaperRounds(runs); n != 2 {
		t.Errorf("connscope cheaper in %d rounds, want 2", n)
	}
	js, bt := summarize(runs, "connscope"), summarize(runs, "bpftrace")
	if js.n != 3 || js.tracerUS != 18 || js.total != 27 {
		t.Errorf("connscope medians %+v, want n 3, CPU 18, total 27", *js)
	}
	if bt.total != 27 {
		t.Errorf("bpftrace median total %.1f, want 27", bt.total)
	}
	if summarize(runs, "tcpdump") != nil {
		t.Error("a tracer not measured has medians")
	}

	once := []*result{r("none", 0, 0, 40), r("connscope", 0, 18, 46), r("none", 0, 0, 99)}
	setTotals(once)
	if once[1].total != 24 {
		t.Errorf("measured once: total %.1f, want 24 (against the loop alone before it only)", once[1].total)
	}
}

func TestMiddle(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := middle(tc.xs); got != tc.want {
			t.Errorf("middle(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestLimitMisses(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    result
		want string // "" when it degraded as it must
	}{
		{"all reported once", result{made: 100, once: 100, attempts: 100}, ""},
		{"incomplete with late events", result{made: 100, once: 100, attempts: 100, incomplete: 7, late: 5000}, ""},
		{"unreported and portless with drops", result{made: 100, once: 90, attempts: 95, port0: 5, drops: 3}, ""},
		{"incomplete, nothing lost", result{made: 100, once: 100, attempts: 100, incomplete: 1}, "with no loss counted"},
		{"a port-0 twin, nothing lost", result{made: 100, once: 100, attempts: 101, port0: 1}, "101 attempts for 100 connects"},
		{"reported twice", result{made: 100, once: 100, attempts: 101, dups: 1, late: 9}, "reported twice"},
		{"decided wrongly", result{made: 100, once: 100, attempts: 100, wrongDecided: 2, lost: 9}, "wrong outcome"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(limitMisses(&tc.r), "; ")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("misses %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnexpectedOutcomes(t *testing.T) {
	ref := map[[2]string]int64{{"ok", "wrong_protocol"}: 500, {"refused", "refused"}: 500}
	got := map[[2]string]int64{{"ok", "wrong_protocol"}: 400, {"refused", "refused"}: 480, {"ok", "incomplete"}: 30,
		{"refused", "incomplete"}: 20, {"ok", "closed_before_greeting"}: 1, {"ok", "refused"}: 2}
	if n := unexpected(got, ref); n != 3 {
		t.Errorf("%d unexpected, want 3 (closed_before_greeting and refused on the listener's port)", n)
	}
}

func TestSameRound(t *testing.T) {
	runs := []*result{{tracer: "connscope", round: 1, tracerUS: 23}, {tracer: tableLabel, round: 1, tracerUS: 25},
		{tracer: "connscope", round: 2, tracerUS: 20}, {tracer: "none", round: 3, closing: true}}
	if j := sameRound(runs, runs[1], "connscope"); j != runs[0] {
		t.Errorf("the table's JSON run is %+v, want round 1's", j)
	}
	if j := sameRound(runs, runs[3], "connscope"); j != nil {
		t.Errorf("the closing run has a JSON run: %+v", j)
	}
}
