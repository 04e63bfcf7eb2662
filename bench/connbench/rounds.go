package main

import (
	"fmt"
	"slices"
)

// The loop's own CPU per connect drifts with the host by 10 µs or more
// over minutes (cache and scheduler contention from other tenants of the
// VM), which is as much as a tracer adds to it: a tracer's "total" taken
// against one measurement of the loop alone, minutes apart, judged noise.
// So at the first rate the loop alone, connscope and bpftrace are measured
// in interleaved rounds, closed by one more run of the loop alone; each
// tracer's slowdown is taken against the loop alone just before and just
// after it, and the medians over the rounds are judged.

// schedule measures the tracers at one rate. With rounds > 1, round 1 runs
// every tracer, later rounds only the compared three (the loop alone,
// connscope, bpftrace), and a last run of the loop alone closes them.
// skipTable leaves out the table row (judged at the first rate only).
func schedule(tracers []tracer, skipTable bool, rounds int, measure func(tracer) (*result, error), done func(*result)) ([]*result, error) {
	var runs []*result
	run := func(t tracer, round int, closing bool) error {
		r, err := measure(t)
		if err != nil {
			return fmt.Errorf("under %s: %w", t.name(), err)
		}
		if rounds > 1 {
			r.round = round
		}
		r.closing = closing
		done(r)
		runs = append(runs, r)
		return nil
	}
	for k := 1; k <= rounds; k++ {
		for _, t := range tracers {
			if c, ok := t.(connscope); ok && c.table && skipTable {
				continue
			}
			if k > 1 && !compared(t) {
				continue
			}
			if err := run(t, k, false); err != nil {
				return runs, err
			}
		}
	}
	if rounds > 1 {
		if err := run(none{}, rounds, true); err != nil {
			return runs, err
		}
	}
	return runs, nil
}

// compared says whether t is measured in every round: the loop alone,
// connscope's JSON build under test, and bpftrace.
func compared(t tracer) bool {
	switch t := t.(type) {
	case none, bpftraceT:
		return true
	case connscope:
		return t.label == "" && !t.table
	}
	return false
}

// setTotals sets each tracer's total: its CPU plus what it added to the
// loop's, against the loop alone measured last before it (and, in rounds,
// the mean of that and the loop alone measured next after it).
func setTotals(runs []*result) {
	for i, r := range runs {
		if r.tracer == "none" {
			continue
		}
		var before, after *result
		for j := i - 1; j >= 0 && before == nil; j-- {
			if runs[j].tracer == "none" {
				before = runs[j]
			}
		}
		for j := i + 1; r.round > 0 && j < len(runs) && after == nil; j++ {
			if runs[j].tracer == "none" {
				after = runs[j]
			}
		}
		var base float64
		switch {
		case before != nil && after != nil:
			base = (before.loopUS + after.loopUS) / 2
		case before != nil:
			base = before.loopUS
		case after != nil:
			base = after.loopUS
		}
		r.total = r.tracerUS + r.loopUS - base
	}
}

// median is one tracer's medians over the rounds.
type median struct {
	tracer                  string
	n                       int
	tracerUS, loopUS, total float64
	only                    *result // the one run when n is 1
}

// summarize is the medians of the runs of tracer, or nil without one.
func summarize(runs []*result, tracer string) *median {
	var cpu, loop, total []float64
	m := &median{tracer: tracer}
	for _, r := range runs {
		if r.tracer != tracer {
			continue
		}
		m.n++
		m.only = r
		cpu, loop, total = append(cpu, r.tracerUS), append(loop, r.loopUS), append(total, r.total)
	}
	if m.n == 0 {
		return nil
	}
	m.tracerUS, m.loopUS, m.total = middle(cpu), middle(loop), middle(total)
	return m
}

// middle is the median of xs (the mean of the middle two for an even count).
func middle(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (m *median) row(rate int, target, verdict string) string {
	return fmt.Sprintf("| %s | **%s, median of %d** | — | %.2f | %.2f | %.2f | — | — | — | %s | %s |", rateLabel(rate), m.tracer, m.n,
		m.tracerUS, m.loopUS, m.total, target, verdict)
}

// cheaperRounds counts the rounds in which connscope's total was below
// bpftrace's.
func cheaperRounds(runs []*result) int {
	totals := map[int]map[string]float64{}
	for _, r := range runs {
		if r.round == 0 || r.closing || (r.tracer != "connscope" && r.tracer != "bpftrace") {
			continue
		}
		if totals[r.round] == nil {
			totals[r.round] = map[string]float64{}
		}
		totals[r.round][r.tracer] = r.total
	}
	n := 0
	for _, t := range totals {
		cs, ok1 := t["connscope"]
		bt, ok2 := t["bpftrace"]
		if ok1 && ok2 && cs < bt {
			n++
		}
	}
	return n
}

// lossMisses says how a run at the loss-judged rate missed: the rate,
// drops or lost events, or connects not reported exactly once.
func lossMisses(r *result, rate int) []string {
	var miss []string
	if float64(r.made) < 0.95*float64(rate)*r.wall.Seconds() {
		miss = append(miss, fmt.Sprintf("the loop reached %.0f/s of %d/s", float64(r.made)/r.wall.Seconds(), rate))
	}
	if r.drops > 0 || r.lost > 0 {
		miss = append(miss, fmt.Sprintf("%d packets dropped, %d events lost", r.drops, r.lost))
	}
	if r.once != r.made || r.dups > 0 || r.wrong > 0 {
		miss = append(miss, fmt.Sprintf("%d of %d reported once, %d duplicates, %d wrong outcomes", r.once, r.made, r.dups, r.wrong))
	}
	return miss
}

// sameRound is the run of tracer in r's round, or nil.
func sameRound(runs []*result, r *result, tracer string) *result {
	for _, x := range runs {
		if x.tracer == tracer && x.round == r.round && !x.closing {
			return x
		}
	}
	return nil
}
