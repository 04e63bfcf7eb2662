package report

import (
	"fmt"
	"strings"

	"github.com/connscope/connscope/analyze"
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
	headerDone bool // the column header is printed
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

// connect prints connect c as one line.
func (l *lineRenderer) connect(w *Writer, _ int, c *analyze.Connect) {
	l.writeHeader(w)
	var last *analyze.Attempt
	for i := len(c.Attempts) - 1; i >= 0 && last == nil; i-- {
		last = c.Attempts[i]
	}
	client, server := c.Client, target(c)
	syns, rtt, greeting := "-", "-", "-"
	proc := processCell(c.PID, c.Comm)
	evidence := c.Evidence
	if last != nil {
		client, server = last.Client, last.Server
		if c.Name != "" {
			server += "(" + c.Name + ")"
		}
		if last.ServerSide {
			server += lineServerSideMark
		}
		if last.SYNCount > 0 {
			syns = fmt.Sprint(last.SYNCount)
		}
		rtt, greeting = compactMS(last.RTTMS), lineResponse(last)
		proc = attemptProcess(c, last)
		if len(last.Evidence) > 0 {
			evidence = last.Evidence
		}
	}
	if client == "" {
		client = "-"
	}
	if proc == "" {
		proc = "-"
	}
	outcome, errno := c.Outcome, "-"
	if last != nil {
		outcome = last.Outcome
		if last.Errno != "" {
			errno = last.Errno
		}
	}
	w.printf(lineFormat, c.Start.UTC().Format("15:04:05.000"), proc, client, server, outcome, errno, syns, rtt, greeting, lineReason(c, last, evidence))
}

// lineResponse is the RESP/GREET cell of attempt a: the greeting delay of
// a server-first attempt, "r:" and the server's response time of a
// client-first one.
func lineResponse(a *analyze.Attempt) string {
	if a.ClientFirstByteMS != nil {
		return "r:" + compactMS(a.ServerResponseMS)
	}
	return compactMS(a.GreetingDelayMS)
}

// lineReason is the reason id and the first evidence fact, preceded by the
// earlier attempts when there were several, followed by the slow part.
func lineReason(c *analyze.Connect, last *analyze.Attempt, evidence []string) string {
	reason := "-"
	if len(evidence) > 0 {
		reason = evidence[0]
	}
	if last != nil && c.Outcome != last.Outcome {
		reason = fmt.Sprintf("connect %s: %s", c.Outcome, reason)
	}
	// The id comes first, whatever follows, so that it is the column's
	// first word.
	id := c.Reason
	if last != nil {
		id = last.Reason
	}
	if s := id.String(); s != "" {
		if reason == "-" {
			reason = s
		} else {
			reason = s + ": " + reason
		}
	}
	var earlier []string
	for _, a := range c.Attempts {
		if a != nil && a != last {
			earlier = append(earlier, fmt.Sprintf("%s %s", a.Server, a.Outcome))
		}
	}
	if len(earlier) > 0 {
		reason = fmt.Sprintf("%s (after %s)", reason, strings.Join(earlier, ", "))
	}
	if last != nil && last.Slow != nil {
		reason += "; slow: " + slowCell(last.Slow)
	}
	return strings.ReplaceAll(reason, "\n", " ")
}

// summary prints the summary as # lines.
func (l *lineRenderer) summary(w *Writer, s analyze.Summary) {
	l.writeHeader(w)
	for _, l := range w.summaryLines(s) {
		w.printf("# %-9s %s\n", l[0], strings.ReplaceAll(l[1], "\n", " "))
	}
}
