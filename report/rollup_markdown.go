package report

import (
	"fmt"
	"strings"
)

// The Markdown format's rollup: patterns as headed lists, the groups and
// the time view as tables.

func markdownRollup(d *rollupData) string {
	var b strings.Builder
	if len(d.patterns) > 0 {
		b.WriteString("### Patterns\n\n")
		for _, p := range d.patterns {
			fmt.Fprintf(&b, "**`%s`**: %s\n\n", p.ID, mdEscape(d.red(patternTitle(p))))
			b.WriteString("Evidence:\n\n")
			for _, e := range patternEvidence(p) {
				fmt.Fprintf(&b, "- %s\n", mdEscape(d.red(e)))
			}
			b.WriteString("\nLikely causes (check these):\n\n")
			for _, c := range patternCauses(p) {
				fmt.Fprintf(&b, "- %s\n", mdEscape(c))
			}
			fmt.Fprintf(&b, "\nConnects: %s\n\n", numbersText(p.Numbers, p.More))
		}
	}
	header, rows := groupRows(d)
	for _, r := range rows {
		for i := range r {
			r[i] = mdEscape(r[i])
		}
	}
	fmt.Fprintf(&b, "### Rollup by %s (%s; failures first)\n\n", d.by, plural(d.attempts, "attempt", "attempts"))
	b.WriteString(drawTable(markdownStyle{}, header, rows, nil))
	b.WriteString("\n")
	bins := d.time.Bins()
	if len(bins) < 2 {
		return b.String()
	}
	outcomes := timeOutcomes(bins)
	var servers []string
	for _, srv := range d.time.Servers() {
		for _, bin := range bins {
			if bin.Established[srv] > 0 {
				servers = append(servers, srv)
				break
			}
		}
	}
	header = []string{"Start (UTC)"}
	for _, o := range outcomes {
		header = append(header, string(o))
	}
	for _, srv := range servers {
		header = append(header, "open to "+mdEscape(d.red(srv)))
	}
	rows = rows[:0]
	for _, bin := range bins {
		r := []string{clock(bin.Start)}
		for _, o := range outcomes {
			r = append(r, fmt.Sprint(bin.Outcomes[o]))
		}
		for _, srv := range servers {
			r = append(r, fmt.Sprint(bin.Established[srv]))
		}
		rows = append(rows, r)
	}
	fmt.Fprintf(&b, "### Time view (%s intervals; attempts by start)\n\n", intervalWords(d.time.Interval()))
	b.WriteString(drawTable(markdownStyle{}, header, rows, []string{"open: established connections, from SYN-ACK to FIN/RST as far as the capture followed them (a lower bound)"}))
	b.WriteString("\n")
	return b.String()
}
