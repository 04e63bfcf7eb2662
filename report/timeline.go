package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze"
)

// timelineLine is one line of a connect's timeline.
type timelineLine struct {
	offset time.Duration
	indent int
	text   string
}

// timelineItem is a unit that keeps its lines together when the items are
// ordered by time (a DNS question, a DNS answer, a whole attempt).
type timelineItem struct {
	start time.Duration
	lines []timelineLine
}

// connectOrigin is the instant a connect's timeline counts from: the
// connect's start, or else its earliest query or attempt.
func connectOrigin(c *analyze.Connect) time.Time {
	origin := c.Start
	consider := func(t time.Time) {
		if !t.IsZero() && (origin.IsZero() || t.Before(origin)) {
			origin = t
		}
	}
	for _, q := range c.Resolution {
		consider(q.Start)
	}
	for _, a := range c.Attempts {
		if a != nil {
			consider(a.Start)
		}
	}
	return origin
}

func since(t, origin time.Time) time.Duration {
	if t.IsZero() || origin.IsZero() {
		return 0
	}
	return t.Sub(origin)
}

func msDuration(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}

// eventOffset places an attempt's event on the connect's timeline: by its
// own timestamp when it has one, else by its t_ms from the attempt's start.
func eventOffset(e analyze.Event, a *analyze.Attempt, origin time.Time) time.Duration {
	if !e.Time.IsZero() && !origin.IsZero() {
		return e.Time.Sub(origin)
	}
	return since(a.Start, origin) + msDuration(e.TMS)
}

// attemptLabel numbers attempt i (0-based) of connect n: "3" when the
// connect has one attempt, "3.1", "3.2", ... otherwise.
func attemptLabel(n, i, count int) string {
	if count == 1 {
		return strconv.Itoa(n)
	}
	return strconv.Itoa(n) + "." + strconv.Itoa(i+1)
}

// timeline builds a connect's timeline: its DNS questions and answers and
// each attempt with its events, ordered by time, relative to the connect's
// first step.
func timeline(n int, c *analyze.Connect) []timelineLine {
	origin := connectOrigin(c)
	var items []timelineItem
	for _, q := range c.Resolution {
		start := since(q.Start, origin)
		ask := fmt.Sprintf("DNS query %s %s", q.Type, q.Name)
		if q.Server != "" {
			ask += " to " + q.Server
		}
		if q.Transport != "" && q.Transport != "udp" {
			ask += " over " + strings.ToUpper(q.Transport)
		}
		if q.Retries > 0 {
			ask += fmt.Sprintf(" (sent %d times)", q.Retries+1)
		}
		if q.LatencyMS == nil {
			if q.Error != "" {
				ask += ": " + q.Error
			} else {
				ask += ": no answer"
			}
			items = append(items, timelineItem{start, []timelineLine{{start, 0, ask}}})
			continue
		}
		items = append(items, timelineItem{start, []timelineLine{{start, 0, ask}}})
		at := start + msDuration(*q.LatencyMS)
		ans := fmt.Sprintf("DNS answer %s %s: %s", q.Type, q.Name, q.Rcode)
		if len(q.Answers) > 0 {
			ans += " " + strings.Join(q.Answers, ", ")
		} else if q.Rcode == "NOERROR" {
			ans += " (no records)"
		}
		ans += fmt.Sprintf(" after %s", analyze.FormatMS(*q.LatencyMS))
		if q.Error != "" {
			ans += " (" + q.Error + ")"
		}
		items = append(items, timelineItem{at, []timelineLine{{at, 0, ans}}})
	}
	for i, a := range c.Attempts {
		if a == nil {
			continue
		}
		start := since(a.Start, origin)
		head := "attempt " + attemptLabel(n, i, len(c.Attempts)) + ": " + orDash(a.Client) + " → " + orDash(a.Server) + ": " + outcomeCell(a.Outcome, a.Errno)
		if p := processCell(a.PID, a.Comm); p != "" {
			head += " by " + p
		}
		lines := []timelineLine{{start, 0, head}}
		for _, e := range a.Events {
			lines = append(lines, timelineLine{eventOffset(e, a, origin), 1, e.What})
		}
		items = append(items, timelineItem{start, lines})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].start < items[j].start })
	var out []timelineLine
	for _, it := range items {
		out = append(out, it.lines...)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeTimeline renders lines with right-aligned offsets, each line prefixed
// by indent.
func writeTimeline(b *strings.Builder, lines []timelineLine, indent string) {
	offs := make([]string, len(lines))
	width := 0
	for i, l := range lines {
		offs[i] = fmtOffset(l.offset)
		width = max(width, len(offs[i]))
	}
	for i, l := range lines {
		b.WriteString(indent)
		for range width - len(offs[i]) {
			b.WriteByte(' ')
		}
		b.WriteString(offs[i])
		b.WriteString("  ")
		for range l.indent {
			b.WriteString("  ")
		}
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
}
