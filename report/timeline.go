package report

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/proto"
)

// timelineLine is one line of a connect's timeline: a lookup's question
// or answer (lookup its index in the connect's Resolution), or an
// attempt's head (event -1) or one of its events; its words are appended
// when the line is (appendTimelineText).
type timelineLine struct {
	offset  time.Duration
	lookup  int // -1: an attempt's line
	answer  bool
	attempt int
	event   int
}

// timelineItem is a unit that keeps its lines together when the items are
// ordered by time (a DNS question, a DNS answer, a whole attempt):
// lines[from:to] of its timeline.
type timelineItem struct {
	start    time.Duration
	from, to int
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
func eventOffset(e *analyze.Event, a *analyze.Attempt, origin time.Time) time.Duration {
	if !e.Time.IsZero() && !origin.IsZero() {
		return e.Time.Sub(origin)
	}
	return since(a.Start, origin) + msDuration(e.TMS)
}

// attemptLabel numbers attempt i (0-based) of connect n: "3" when the
// connect has one attempt, "3.1", "3.2", ... otherwise.
func attemptLabel(n, i, count int) string {
	var buf [24]byte
	return string(appendAttemptLabel(buf[:0], n, i, count))
}

// appendAttemptLabel appends attemptLabel(n, i, count).
func appendAttemptLabel(b []byte, n, i, count int) []byte {
	b = strconv.AppendInt(b, int64(n), 10)
	if count != 1 {
		b = strconv.AppendInt(append(b, '.'), int64(i+1), 10)
	}
	return b
}

// appendTimeline appends connect n's timeline: its DNS questions and
// answers and each attempt with its events, ordered by time, relative to
// the connect's first step, offsets right-aligned, each line after indent.
func (k *blockScratch) appendTimeline(b []byte, n int, c *analyze.Connect, indent string) []byte {
	k.timeline(c)
	k.offsets, k.ends = k.offsets[:0], k.ends[:0]
	width, end := 0, 0
	for _, l := range k.lines {
		k.offsets = appendOffset(k.offsets, l.offset)
		width = max(width, len(k.offsets)-end)
		end = len(k.offsets)
		k.ends = append(k.ends, end)
	}
	for _, it := range k.items {
		for i := it.from; i < it.to; i++ {
			l := &k.lines[i]
			off := k.offsets[k.offsetStart(i):k.ends[i]]
			b = appendRepeat(append(b, indent...), spaceRun, 1, width-len(off))
			b = append(append(b, off...), "  "...)
			b = append(appendTimelineText(b, n, c, l), '\n')
		}
	}
	return b
}

// offsetStart is where line i's offset starts in k.offsets.
func (k *blockScratch) offsetStart(i int) int {
	if i == 0 {
		return 0
	}
	return k.ends[i-1]
}

// appendTimelineText appends the words of a timeline line, an event's
// indented under its attempt's head. An event not worded yet (the Writer
// leaves them to here) is worded as it is appended.
func appendTimelineText(b []byte, n int, c *analyze.Connect, l *timelineLine) []byte {
	if l.lookup >= 0 {
		q := &c.Resolution[l.lookup]
		if l.answer {
			return appendAnswerWords(b, q)
		}
		return appendQuestionWords(b, q)
	}
	a := c.Attempts[l.attempt]
	if l.event < 0 {
		b = appendAttemptLabel(append(b, "attempt "...), n, l.attempt, len(c.Attempts))
		b = append(append(append(append(append(b, ": "...), orDash(a.Client)...), " → "...), orDash(a.Server)...), ": "...)
		b = appendOutcome(b, a.Outcome, a.Errno)
		if a.PID != 0 || a.Comm != "" {
			b = appendProcess(append(b, " by "...), a.PID, a.Comm)
		}
		return b
	}
	e := &a.Events[l.event]
	b = append(b, "  "...)
	if e.What != "" {
		return append(b, e.What...)
	}
	return appendEventWords(b, e)
}

// timeline puts c's timeline in k.lines, in k.items ordered by time.
func (k *blockScratch) timeline(c *analyze.Connect) {
	k.lines, k.items = k.lines[:0], k.items[:0]
	origin := connectOrigin(c)
	item := func(start time.Duration, from int) {
		k.items = append(k.items, timelineItem{start: start, from: from, to: len(k.lines)})
	}
	lookup := func(at time.Duration, i int, answer bool) {
		k.lines = append(k.lines, timelineLine{offset: at, lookup: i, answer: answer})
		item(at, len(k.lines)-1)
	}
	for i := range c.Resolution {
		q := &c.Resolution[i]
		start := since(q.Start, origin)
		lookup(start, i, false)
		if q.LatencyMS != nil {
			lookup(start+msDuration(*q.LatencyMS), i, true)
		}
	}
	for i, a := range c.Attempts {
		if a == nil {
			continue
		}
		start, from := since(a.Start, origin), len(k.lines)
		k.lines = append(k.lines, timelineLine{offset: start, lookup: -1, attempt: i, event: -1})
		for j := range a.Events {
			k.lines = append(k.lines, timelineLine{offset: eventOffset(&a.Events[j], a, origin), lookup: -1, attempt: i, event: j})
		}
		item(start, from)
	}
	slices.SortStableFunc(k.items, func(x, y timelineItem) int { return cmp.Compare(x.start, y.start) })
}

// appendQuestionWords appends a lookup's question: "DNS query A db.example
// to 192.0.2.53:53 over TCP (sent 2 times)", then ": no answer" (or what
// became of it) when it got none.
func appendQuestionWords(b []byte, q *analyze.Query) []byte {
	b = append(append(append(append(b, "DNS query "...), q.Type...), ' '), q.Name...)
	if q.Server != "" {
		b = append(append(b, " to "...), q.Server...)
	}
	if q.Transport != "" && q.Transport != "udp" {
		b = appendUpper(append(b, " over "...), q.Transport)
	}
	if q.Retries > 0 {
		b = append(strconv.AppendInt(append(b, " (sent "...), int64(q.Retries+1), 10), " times)"...)
	}
	if q.LatencyMS == nil {
		if q.Error != "" {
			return append(append(b, ": "...), q.Error...)
		}
		return append(b, ": no answer"...)
	}
	return b
}

// appendAnswerWords appends a lookup's answer: "DNS answer A db.example:
// NOERROR 192.0.2.10 after 0.412 ms".
func appendAnswerWords(b []byte, q *analyze.Query) []byte {
	b = append(append(append(append(b, "DNS answer "...), q.Type...), ' '), q.Name...)
	b = append(append(b, ": "...), q.Rcode...)
	if len(q.Answers) > 0 {
		b = appendJoin(append(b, ' '), q.Answers, ", ")
	} else if q.Rcode == "NOERROR" {
		b = append(b, " (no records)"...)
	}
	b = proto.AppendMS(append(b, " after "...), *q.LatencyMS)
	if q.Error != "" {
		b = append(append(append(b, " ("...), q.Error...), ')')
	}
	return b
}

// appendUpper appends strings.ToUpper(s), without making it when s is
// ASCII.
func appendUpper(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToUpper(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
