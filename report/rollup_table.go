package report

import (
	"fmt"
	"strings"

	"github.com/connscope/connscope/rollup"
)

// The table format's rollup: patterns as indented blocks, the groups as a
// box-drawn table, the time view as one sparkline per outcome and per
// server's established connections.

func examplesHeading(f Format, n int) string {
	words := fmt.Sprintf("Examples (the worst %s of each failing group; --all shows every connect)", plural(n, "connect", "connects"))
	if f == Markdown {
		return "### " + words + "\n\n"
	}
	return words + "\n\n"
}

func tableRollup(d *rollupData) string {
	var b strings.Builder
	if len(d.patterns) > 0 {
		b.WriteString("Patterns\n")
		for _, p := range d.patterns {
			writeTablePattern(&b, d, p)
		}
		b.WriteString("\n")
	}
	header, rows := groupRows(d)
	fmt.Fprintf(&b, "Rollup by %s (%s; failures first)\n", d.by, plural(d.attempts, "attempt", "attempts"))
	b.WriteString(drawTable(tableStyle{}, header, rows, nil))
	b.WriteString("\n")
	writeTableTime(&b, d)
	return b.String()
}

func writeTablePattern(b *strings.Builder, d *rollupData, p rollup.Pattern) {
	fmt.Fprintf(b, "  %s: %s\n", p.ID, d.red(patternTitle(p)))
	b.WriteString("    Evidence:\n")
	for _, e := range patternEvidence(p) {
		fmt.Fprintf(b, "      - %s\n", d.red(e))
	}
	b.WriteString("    Likely causes (check these):\n")
	for _, c := range patternCauses(p) {
		fmt.Fprintf(b, "      - %s\n", c)
	}
	fmt.Fprintf(b, "    Connects: %s\n", numbersText(p.Numbers, p.More))
}

func numbersText(ns []int, more bool) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprint(n)
	}
	s := strings.Join(parts, ", ")
	if more {
		s += ", …"
	}
	return s
}

const sparks = "▁▂▃▄▅▆▇█"

// sparkline draws one character per interval: '.' for none, else a bar of
// eight heights relative to the largest.
func sparkline(vals []int) (string, int) {
	peak := 0
	for _, v := range vals {
		peak = max(peak, v)
	}
	var b strings.Builder
	bars := []rune(sparks)
	for _, v := range vals {
		if v == 0 {
			b.WriteByte('.')
			continue
		}
		level := (v*len(bars) + peak - 1) / peak
		b.WriteRune(bars[max(level, 1)-1])
	}
	return b.String(), peak
}

func writeTableTime(b *strings.Builder, d *rollupData) {
	bins := d.time.Bins()
	if len(bins) < 2 {
		return
	}
	iv := d.time.Interval()
	fmt.Fprintf(b, "Time view (one character per %s, %s–%s UTC; attempts by start)\n", intervalWords(iv), clock(bins[0].Start), clock(bins[len(bins)-1].Start.Add(iv)))
	type line struct{ label, spark, peak string }
	var lines []line
	for _, o := range timeOutcomes(bins) {
		vals := make([]int, len(bins))
		for i, bin := range bins {
			vals[i] = bin.Outcomes[o]
		}
		s, peak := sparkline(vals)
		lines = append(lines, line{string(o), s, fmt.Sprintf("max %d", peak)})
	}
	open := false
	for _, srv := range d.time.Servers() {
		vals := make([]int, len(bins))
		for i, bin := range bins {
			vals[i] = bin.Established[srv]
		}
		s, peak := sparkline(vals)
		if peak > 0 {
			open = true
			lines = append(lines, line{"open to " + d.red(srv), s, fmt.Sprintf("max %d", peak)})
		}
	}
	width := 0
	for _, l := range lines {
		width = max(width, cellWidth(l.label))
	}
	for _, l := range lines {
		b.WriteString("  ")
		b.WriteString(l.label)
		b.WriteString(strings.Repeat(" ", width-cellWidth(l.label)))
		fmt.Fprintf(b, "  %s  %s\n", l.spark, l.peak)
	}
	if open {
		b.WriteString("  (open: established connections, from SYN-ACK to FIN/RST as far as the capture followed them: a lower bound)\n")
	}
	b.WriteString("\n")
}
