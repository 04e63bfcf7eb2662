package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/rollup"
)

// The view for many connects (analyze): up to RollupOptions.Threshold
// connects the report is the same as ever; above it the table and Markdown
// formats print the summary and the patterns first, then the rollup, the
// time view, and at most Examples examples per failing group (worst
// first) instead of every connect, and JSON adds group, pattern and
// timeseries records before its summary line. The line format is not
// changed. The rollup (package rollup) keeps no connect; this view keeps
// the first Threshold connects (to print them as ever if no more come) and
// the connects that are a failing group's worst examples. Streaming (live
// trace), every connect is printed as it completes, as ever, and with more
// than Threshold connects the patterns, rollup and time view come before
// the summary at the end.

// DefaultRollupThreshold is the most connects printed one by one by default.
const DefaultRollupThreshold = 20

// RollupOptions configure the view for many connects.
type RollupOptions struct {
	Threshold int            // DefaultRollupThreshold when 0
	All       bool           // also print every connect as ever (then the rollup)
	GroupBy   rollup.GroupBy // rollup.ByServer when empty
	Examples  int            // examples per failing group (rollup.DefaultExamples when 0)
	PortRange [2]int         // the clients' local port range when known (rollup.Options.PortRange)
}

// foldPorts is how many ports of one host with the same outcome and reason
// become one "host:*" row.
const foldPorts = 5

type heldItem struct {
	source string // a SetSource, when c is nil
	n      int
	c      *analyze.Connect
}

type rollupView struct {
	opt      RollupOptions
	roll     *rollup.Rollup
	text     bool // table or Markdown: connects are held, then printed or rolled up
	held     []heldItem
	switched bool // more than Threshold connects: the rollup view
	sources  []string
	examples map[int]*analyze.Connect // unredacted; numbers in some failing group's examples
	pruneAt  int                      // prune examples when there are this many (twice what the last pruning kept)
}

func newRollupView(f Format, streaming bool, opt RollupOptions) *rollupView {
	if opt.Threshold <= 0 {
		opt.Threshold = DefaultRollupThreshold
	}
	if opt.Examples <= 0 {
		opt.Examples = rollup.DefaultExamples
	}
	if opt.GroupBy == "" {
		opt.GroupBy = rollup.ByServer
	}
	return &rollupView{opt: opt, roll: rollup.New(rollup.Options{GroupBy: opt.GroupBy, Examples: opt.Examples, PortRange: opt.PortRange}),
		text: (f == Table || f == Markdown) && !opt.All && !streaming, examples: map[int]*analyze.Connect{}, pruneAt: minPruneAt}
}

// setSource holds a source change while connects are held; it reports
// whether it did (the Writer then does nothing else with it).
func (v *rollupView) setSource(name string) bool {
	if !slices.Contains(v.sources, name) {
		v.sources = append(v.sources, name)
	}
	if !v.text {
		return false
	}
	if !v.switched {
		v.held = append(v.held, heldItem{source: name})
	}
	return true
}

// add gives connect n to the rollup (every connect, also those --failed
// hides); it reports whether the view keeps c as a failing group's worst
// example (the Writer then words c and gives it to keepExample).
func (v *rollupView) add(n int, c *analyze.Connect) (example bool) {
	if v.text {
		example = v.roll.Add(n, c)
	} else {
		v.roll.AddFigures(n, c) // nothing keeps examples: no answer needed
	}
	if n > v.opt.Threshold && !v.switched {
		v.switched = true
		clear(v.held)
		v.held = nil
	}
	return example
}

// keepExample keeps connect n, worded, as an example add reported.
func (v *rollupView) keepExample(n int, c *analyze.Connect) {
	v.examples[n] = c
	if len(v.examples) >= v.pruneAt {
		v.pruneExamples()
	}
}

// pruneExamples drops the connects that are no longer anyone's example.
func (v *rollupView) pruneExamples() {
	keep := map[int]bool{}
	v.roll.ExampleNumbers(func(n int) { keep[n] = true })
	for n := range v.examples {
		if !keep[n] {
			delete(v.examples, n)
		}
	}
	// Amortised: the next pruning when the kept ones have doubled (the
	// examples themselves are bounded by groups × Examples).
	v.pruneAt = max(minPruneAt, 2*len(v.examples))
}

// minPruneAt is the fewest kept connects that start a pruning.
const minPruneAt = 256

// hold keeps a connect to be shown (after --failed) while the view may
// still be the ordinary one; it reports whether the Writer must not
// render it now.
func (v *rollupView) hold(n int, c *analyze.Connect) bool {
	if !v.text {
		return false
	}
	if !v.switched {
		v.held = append(v.held, heldItem{n: n, c: c})
	}
	return true
}

// replay renders the held connects as the Writer would have.
func (v *rollupView) replay(w *Writer) {
	w.source = "" // as before the first SetSource
	for _, it := range v.held {
		if it.c == nil {
			w.r.flush(w)
			changed := it.source != w.source
			w.source = it.source
			w.r.source(w, changed)
			continue
		}
		c := it.c
		if w.red != nil {
			c = w.red.Connect(c)
		}
		w.r.connect(w, it.n, c)
	}
	v.held = nil
}

// rollupData is what the renderers of the rollup print, redacted.
type rollupData struct {
	by       rollup.GroupBy
	attempts int
	groups   []*rollup.Group
	patterns []rollup.Pattern
	time     *rollup.TimeView
	red      func(string) string
}

func (w *Writer) rollupData(v *rollupView) *rollupData {
	d := &rollupData{by: v.roll.GroupBy(), attempts: v.roll.Attempts(), groups: v.roll.Groups(), patterns: v.roll.Patterns(), time: v.roll.Time(),
		red: func(s string) string { return s }}
	if v.roll.GroupBy() == rollup.ByServer {
		d.groups = rollup.Fold(d.groups, foldPorts, v.opt.Examples)
	}
	if w.red != nil {
		for _, g := range d.groups {
			w.red.learnName(nameOf(g.Server))
		}
		for _, p := range d.patterns {
			w.red.learnName(nameOf(p.Server))
		}
		d.red = w.red.Text
	}
	return d
}

// nameOf is the host part of name:port (or name:*), "" for an address.
func nameOf(s string) string {
	if i := strings.LastIndexByte(s, ':'); i > 0 && !strings.Contains(s[:i], ":") && !strings.HasPrefix(s, "[") {
		return s[:i]
	}
	return ""
}

// summary prints what the view adds at the end of the run. It reports
// whether it printed the summary too (the rollup view of the table and
// Markdown formats); otherwise the Writer prints what is buffered and the
// summary as ever.
func (v *rollupView) summary(w *Writer, s analyze.Summary) bool {
	if v.text && !v.switched {
		v.replay(w)
		return false
	}
	if w.number <= v.opt.Threshold {
		return false
	}
	w.r.flush(w)
	d := w.rollupData(v)
	d.patterns = rollup.WithListenCounters(d.patterns, s.Listen)
	switch {
	case w.opt.Format == JSON:
		w.rollupJSON(d)
		return false
	case w.opt.Format == Line:
		return false
	case !v.text: // --all: every connect was printed; the rollup follows
		w.writeString(w.rollupText(d))
		return false
	}
	t, ok := w.r.(*textRenderer)
	if !ok {
		return false
	}
	if w.red != nil {
		s = w.red.Summary(s)
	}
	if s.Outcomes == nil {
		s.Outcomes = map[analyze.Outcome]int{}
	}
	shown := make([]string, len(v.sources))
	for i, src := range v.sources {
		w.source = src
		shown[i] = w.shownSource()
	}
	if len(shown) > 0 {
		w.writeString(t.style.heading(strings.Join(shown, ", ")))
	}
	w.writeString(t.style.summary(partialWords(&s), w.summaryLines(s)))
	w.writeString("\n")
	w.writeString(w.rollupText(d))
	w.writeString(w.examplesText(t, v, d))
	return true
}

// rollupText is the patterns, the rollup and the time view in the table or
// Markdown format.
func (w *Writer) rollupText(d *rollupData) string {
	if w.opt.Format == Markdown {
		return markdownRollup(d)
	}
	return tableRollup(d)
}

// examplesText prints at most Examples connects per failing group, worst
// first, each once; a connect a pattern explains gets the pattern's cause
// instead of its own (which would contradict it).
func (w *Writer) examplesText(t *textRenderer, v *rollupView, d *rollupData) string {
	explains := map[string]rollup.Pattern{}
	for _, p := range d.patterns {
		if patternCauseForConnect(p) != "" {
			explains[p.Server] = p
		}
	}
	var b strings.Builder
	done := map[int]bool{}
	for _, g := range d.groups {
		if !g.Failed() && !g.Other {
			continue
		}
		for _, ex := range g.Examples {
			c := v.examples[ex.Number]
			if c == nil || done[ex.Number] {
				continue
			}
			done[ex.Number] = true
			c = patternExplained(c, explains)
			c = abortedExplained(ex.Number, c, d.patterns)
			if w.red != nil {
				c = w.red.Connect(c)
			}
			if b.Len() == 0 {
				b.WriteString(examplesHeading(w.opt.Format, v.opt.Examples))
			}
			b.Write(t.style.appendBlock(nil, &t.scratch, ex.Number, c, nil, nil))
		}
	}
	return b.String()
}

// patternExplained returns c with the causes of its attempts to a server that a
// pattern explains replaced by the pattern's (a copy; c is not changed).
func patternExplained(c *analyze.Connect, explains map[string]rollup.Pattern) *analyze.Connect {
	var out *analyze.Connect
	for i, a := range c.Attempts {
		p, ok := explains[a.Server]
		if a == nil || !ok {
			continue
		}
		if out == nil {
			cp := *c
			cp.Attempts = slices.Clone(c.Attempts)
			out = &cp
		}
		ac := *a
		ac.Causes = []string{patternCauseForConnect(p)}
		// The handshake was slow because the server dropped its SYNs (the
		// pattern), not because of the network: the engine's "slow part:
		// the network" would contradict it.
		if ac.Slow != nil && ac.Slow.Part == analyze.SlowNetwork {
			ac.Slow = nil
		}
		ac.Evidence = patternEvidenceFor(p, a.Evidence)
		out.Attempts[i] = &ac
		if i == len(c.Attempts)-1 {
			out.Causes = ac.Causes
			out.Evidence = patternEvidenceFor(p, c.Evidence)
		}
	}
	if out == nil {
		return c
	}
	return out
}

// Cells shared by the table and Markdown rollups.

func countCell(n, total int) (string, string) {
	share := 0.0
	if total > 0 {
		share = 100 * float64(n) / float64(total)
	}
	return fmt.Sprint(n), fmt.Sprintf("%.1f%%", share)
}

func synsCell(s [4]int) string {
	if s[1]+s[2]+s[3] == 0 {
		return "-"
	}
	c := fmt.Sprintf("%d/%d/%d", s[1], s[2], s[3])
	if s[0] > 0 {
		c += fmt.Sprintf(" (+%d none)", s[0])
	}
	return c
}

func quantCell(s *rollup.Sketch) string {
	q := s.Summary()
	if q.P50 == nil {
		return "-"
	}
	vals := []string{analyze.FormatMS(*q.P50), analyze.FormatMS(*q.P90), analyze.FormatMS(*q.P99), analyze.FormatMS(*q.Max)}
	// One unit for the cell when the four share it: "0.2/0.4/0.5/0.5 ms".
	if i := strings.LastIndexByte(vals[0], ' '); i > 0 {
		unit := vals[0][i:]
		same := true
		for _, v := range vals {
			same = same && strings.HasSuffix(v, unit)
		}
		if same {
			for j, v := range vals {
				vals[j] = strings.TrimSuffix(v, unit)
			}
			return strings.Join(vals, "/") + unit
		}
	}
	return strings.Join(vals, " / ")
}

func setCell(s rollup.Set, red func(string) string) string {
	n := fmt.Sprint(len(s.Values))
	if s.More {
		n += "+"
	}
	switch {
	case len(s.Values) == 0:
		return "-"
	case len(s.Values) == 1 && !s.More:
		return red(s.Values[0])
	case len(s.Values) <= 3 && !s.More:
		vals := make([]string, len(s.Values))
		for i, x := range s.Values {
			vals[i] = red(x)
		}
		return strings.Join(vals, ", ")
	}
	return n + " (" + red(s.Values[0]) + ", …)"
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func spanCell(first, last time.Time) string {
	if first.IsZero() {
		return "-"
	}
	if last.Sub(first) < time.Millisecond {
		return clock(first)
	}
	return clock(first) + "–" + clock(last)
}

func examplesCell(exs []rollup.Example) string {
	parts := make([]string, len(exs))
	for i, e := range exs {
		parts[i] = fmt.Sprint(e.Number)
	}
	return strings.Join(parts, ", ")
}

var groupHeader = []string{"", "Outcome", "Reason", "Count", "Share", "SYNs 1/2/3+", "RTT p50/p90/p99/max", "Connect p50/p90/p99/max", "First byte p50/p90/p99/max", "Clients", "Processes", "Time (UTC)", "Examples"}

func groupTitle(by rollup.GroupBy) string {
	switch by {
	case rollup.ByClient:
		return "Client"
	case rollup.ByProcess:
		return "Process"
	case rollup.ByOutcome:
		return "-"
	}
	return "Server"
}

// groupRows are the rollup's rows, cells not yet made safe for the format.
func groupRows(d *rollupData) (header []string, rows [][]string) {
	header = slices.Clone(groupHeader)
	header[0] = groupTitle(d.by)
	for _, g := range d.groups {
		label := d.red(g.Label(d.by))
		if g.Ports > 0 {
			label += fmt.Sprintf(" (%d ports)", g.Ports)
		}
		n, share := countCell(g.Count, d.attempts)
		rows = append(rows, []string{label, string(g.Outcome), g.Reason, n, share, synsCell(g.SYNs),
			quantCell(&g.RTT), quantCell(&g.Connect), quantCell(&g.FirstByte),
			setCell(g.Clients, d.red), setCell(g.Processes, func(s string) string { return s }),
			spanCell(g.First, g.Last), examplesCell(g.Examples)})
	}
	if d.by == rollup.ByOutcome {
		header = header[1:]
		for i := range rows {
			rows[i] = rows[i][1:]
		}
	}
	return dropEmptyColumns(header, rows)
}

// dropEmptyColumns leaves out the columns that are "-" or empty in every row.
func dropEmptyColumns(header []string, rows [][]string) ([]string, [][]string) {
	keep := make([]bool, len(header))
	for _, r := range rows {
		for i, c := range r {
			if c != "" && c != "-" {
				keep[i] = true
			}
		}
	}
	pick := func(r []string) []string {
		var out []string
		for i, c := range r {
			if keep[i] {
				out = append(out, c)
			}
		}
		return out
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = pick(r)
	}
	return pick(header), out
}

// timeOutcomes are the outcomes present in the time view, in report order.
func timeOutcomes(bins []rollup.Bin) []analyze.Outcome {
	all := map[analyze.Outcome]int{}
	for _, b := range bins {
		for o, n := range b.Outcomes {
			all[o] += n
		}
	}
	return sortedOutcomes(all)
}

func intervalWords(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return fmt.Sprintf("%d s", int(d/time.Second))
}
