package report

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/proto"
)

// The line format (--format line) prints one line per connect, like
// tcpconnect or ss: for watching a live trace or grepping a long capture.
// Columns are separated by spaces and padded; lines starting with # are the
// header, the source and the summary. A line shows the connect's last
// attempt (the one that decided its outcome); earlier attempts are named in
// the reason.
//
// RESP/GREET is the server's first answer: for a server-first attempt
// (MySQL, SSH, SMTP) the greeting delay, plain ("1.3ms"); for a
// client-first attempt (HTTP, PostgreSQL, Redis) the server's response time
// after the client's first bytes, marked "r:" ("r:60ms"; "r:-" when the
// server never answered). "-" when neither was seen. No spaces, so that
// the line still splits into fields on blanks.
//
// SERVER is the deciding attempt's server address, then the name asked for
// in parentheses ("192.0.2.2:3306(db.example)"), then "(server-side)" when
// the attempt was seen from the server's host (its listener's kernel and
// process traced).
//
// REASON is the deciding attempt's stable reason id (analyze.Reason, e.g.
// tcp.rst_from_server: greppable), then its first evidence fact as the
// engine wrote it, then the earlier attempts, and the slow part when one
// part crossed its threshold ("; slow: client 1.4 s").

// lineServerSideMark follows the SERVER field of an attempt seen from its
// server's host (Attempt.ServerSide: the table's "(server side)"), without
// a space so that the line still splits into fields on blanks.
const lineServerSideMark = "(server-side)"

// lineFormat pads each field to its column; the header uses it too. The
// OUTCOME column holds the longest outcome (closed_before_greeting); the
// errno of a failed connect() has its own column (ERRNO, "-" for none),
// sized for the longest name analyze gives one (EPROTONOSUPPORT; an errno
// it has no name for is "errno N"), so that neither shifts the columns
// after it.
const lineFormat = "%-12s  %-18s  %-22s → %-28s  %-22s  %-15s  %3s  %9s  %10s  %s\n"

// lineRenderer is the renderer of the line format.
type lineRenderer struct {
	headerDone bool     // the column header is printed
	line       []byte   // a connect's line, reused
	field      [32]byte // a right-aligned field, made before it is padded
}

func (*lineRenderer) flush(*Writer) {}

func (l *lineRenderer) writeHeader(w *Writer) {
	if l.headerDone {
		return
	}
	l.headerDone = true
	w.printf(lineFormat, "# TIME(UTC)", "PROCESS", "CLIENT", "SERVER", "OUTCOME", "ERRNO", "SYN", "RTT", "RESP/GREET", "REASON")
}

// source prints "# source: NAME" before the connects of a new source.
func (l *lineRenderer) source(w *Writer, changed bool) {
	if w.source == "" || !changed {
		return
	}
	l.writeHeader(w)
	w.printf("# source: %s\n", strings.ReplaceAll(w.shownSource(), "\n", " "))
}

// connect prints connect c as one line: lineFormat's fields appended
// rather than formatted, each after its separator, then padded from where
// it began (from) as fmt pads (padRight, padLeft).
func (l *lineRenderer) connect(w *Writer, _ int, c *analyze.Connect) {
	l.writeHeader(w)
	words := w.words.apartWords(c)
	lastAt := -1
	for i := len(c.Attempts) - 1; i >= 0; i-- {
		if c.Attempts[i] != nil {
			lastAt = i
			break
		}
	}
	b := c.Start.UTC().AppendFormat(l.line[:0], "15:04:05.000")
	b = padRight(b, 0, 12)
	var last *analyze.Attempt
	evidence := c.Evidence
	if lastAt >= 0 {
		last = c.Attempts[lastAt]
		if ev := attemptWordsOf(last, lastAt, words).Evidence; len(ev) > 0 {
			evidence = ev
		}
	}
	// PROCESS
	from := len(b) + 2
	b = appendAttemptProcess(append(b, "  "...), c, last)
	b = padRight(orDashFrom(b, from), from, 18)
	// CLIENT
	from = len(b) + 2
	if last != nil {
		b = append(append(b, "  "...), last.Client...)
	} else {
		b = append(append(b, "  "...), c.Client...)
	}
	b = padRight(orDashFrom(b, from), from, 22)
	// SERVER
	from = len(b) + len(" → ")
	if last != nil {
		b = append(append(b, " → "...), last.Server...)
		if c.Name != "" {
			b = append(append(append(b, '('), c.Name...), ')')
		}
		if last.ServerSide {
			b = append(b, lineServerSideMark...)
		}
	} else {
		b = appendTarget(append(b, " → "...), c)
	}
	b = padRight(b, from, 28)
	// OUTCOME, ERRNO
	outcome, errno := c.Outcome, "-"
	if last != nil {
		outcome = last.Outcome
		if last.Errno != "" {
			errno = last.Errno
		}
	}
	from = len(b) + 2
	b = padRight(append(append(b, "  "...), outcome...), from, 22)
	from = len(b) + 2
	b = padRight(append(append(b, "  "...), errno...), from, 15)
	// SYN, RTT, RESP/GREET: right-aligned
	b = append(b, "  "...)
	if last != nil && last.SYNCount > 0 {
		b = padLeft(b, strconv.AppendInt(l.field[:0], int64(last.SYNCount), 10), 3)
	} else {
		b = padLeft(b, dash, 3)
	}
	b = append(b, "  "...)
	if last != nil {
		b = padLeft(b, appendCompactMS(l.field[:0], last.RTTMS), 9)
		b = append(b, "  "...)
		b = padLeft(b, appendLineResponse(l.field[:0], last), 10)
	} else {
		b = padLeft(b, dash, 9)
		b = append(b, "  "...)
		b = padLeft(b, dash, 10)
	}
	// REASON
	b = append(b, "  "...)
	reason := len(b)
	b = appendLineReason(b, c, last, evidence)
	for i := reason; i < len(b); i++ {
		if b[i] == '\n' {
			b[i] = ' '
		}
	}
	l.line = append(b, '\n')
	w.write(l.line)
}

var dash = []byte("-")

// padRight pads the field b[from:] with spaces to width characters, as
// fmt's %-Ns does (it counts runes, not columns).
func padRight(b []byte, from, width int) []byte {
	return appendRepeat(b, spaceRun, 1, width-utf8.RuneCount(b[from:]))
}

// padLeft appends field right-aligned in width characters (fmt's %Ns).
func padLeft(b, field []byte, width int) []byte {
	return append(appendRepeat(b, spaceRun, 1, width-utf8.RuneCount(field)), field...)
}

// orDashFrom is b with "-" as the field b[from:] when it is empty.
func orDashFrom(b []byte, from int) []byte {
	if len(b) == from {
		return append(b, '-')
	}
	return b
}

// appendLineResponse appends the RESP/GREET cell of attempt a: the
// greeting delay of a server-first attempt, "r:" and the server's
// response time of a client-first one.
func appendLineResponse(b []byte, a *analyze.Attempt) []byte {
	if a.ClientFirstByteMS != nil {
		return appendCompactMS(append(b, "r:"...), a.ServerResponseMS)
	}
	return appendCompactMS(b, a.GreetingDelayMS)
}

// appendLineReason appends the reason id and the first evidence fact,
// preceded by the earlier attempts when there were several, followed by
// the slow part.
func appendLineReason(b []byte, c *analyze.Connect, last *analyze.Attempt, evidence []string) []byte {
	// The id comes first, whatever follows, so that it is the column's
	// first word.
	id := c.Reason
	if last != nil {
		id = last.Reason
	}
	s := id.String()
	b = append(b, s...)
	first := "-"
	if len(evidence) > 0 {
		first = evidence[0]
	}
	outcomeDiffers := last != nil && c.Outcome != last.Outcome
	switch {
	case outcomeDiffers:
		if s != "" {
			b = append(b, ": "...)
		}
		b = append(append(append(append(b, "connect "...), c.Outcome...), ": "...), first...)
	case s == "" || first != "-":
		if s != "" {
			b = append(b, ": "...)
		}
		b = append(b, first...)
	}
	sep := " (after "
	for _, a := range c.Attempts {
		if a != nil && a != last {
			b = append(append(append(append(b, sep...), a.Server...), ' '), a.Outcome...)
			sep = ", "
		}
	}
	if sep == ", " {
		b = append(b, ')')
	}
	if last != nil && last.Slow != nil {
		b = proto.AppendMS(append(append(append(b, "; slow: "...), last.Slow.Part...), ' '), last.Slow.MS)
	}
	return b
}

// summary prints the summary as # lines.
func (l *lineRenderer) summary(w *Writer, s analyze.Summary) {
	l.writeHeader(w)
	for _, l := range w.summaryLines(s) {
		w.printf("# %-9s %s\n", l[0], strings.ReplaceAll(l[1], "\n", " "))
	}
}
