package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/connscope/connscope/analyze"
)

// The table and Markdown formats print the same things for people: one
// table of attempts (offline: all of them, in bounded batches, then the
// blocks of the failed connects; streaming: a block per connect with its own
// table), a timeline with evidence and causes per failed connect, and the
// summary lines. textRenderer does that ordering once; a textStyle (table.go,
// markdown.go) says how each piece looks.

// textStyle is how one format for people draws the pieces.
type textStyle interface {
	// heading is the source heading.
	heading(source string) string
	// cell makes a cell's text safe for the format.
	cell(s string) string
	// table draws the header and rows (cells already made safe), and under
	// it the legend when legend is not empty.
	table(header []string, rows [][]string, legend []string) string
	// failedHeading introduces the offline blocks of failed connects.
	failedHeading() string
	// block renders connect n: a headline, the attempts table when table is
	// not empty (streaming), and for a failed connect its timeline,
	// resolver, evidence and likely causes.
	block(n int, c *analyze.Connect, table string) string
	// summary renders the summary's label/value lines under its heading,
	// which says why the summary is partial when partial is not empty.
	summary(partial string, lines [][2]string) string
}

// textRenderer is the renderer of the table and Markdown formats.
type textRenderer struct {
	style textStyle

	sourcePending bool // source heading not printed yet
	legendDone    bool // the column legend is printed under the first table only

	// Offline: rows of the current table and the blocks of its failed
	// connects, printed together by flush.
	rows    [][]string
	details []string
}

func (t *textRenderer) source(w *Writer, changed bool) {
	t.sourcePending = w.source != ""
	if w.opt.Streaming {
		t.writeHeading(w)
	}
}

func (t *textRenderer) writeHeading(w *Writer) {
	if t.sourcePending {
		t.sourcePending = false
		w.writeString(t.style.heading(w.shownSource()))
	}
}

func (t *textRenderer) connect(w *Writer, n int, c *analyze.Connect) {
	if w.opt.Streaming {
		w.writeString(t.style.block(n, c, t.table(w, attemptRows(n, c))))
		return
	}
	t.rows = append(t.rows, attemptRows(n, c)...)
	if failed(c) {
		t.details = append(t.details, t.style.block(n, c, ""))
	}
	if len(t.rows) >= w.opt.BatchAttempts {
		t.flush(w)
	}
}

// flush prints the offline table collected so far and the blocks of its
// failed connects.
func (t *textRenderer) flush(w *Writer) {
	if w.opt.Streaming || (len(t.rows) == 0 && len(t.details) == 0) {
		return
	}
	t.writeHeading(w)
	w.writeString(t.table(w, t.rows))
	w.writeString("\n")
	if len(t.details) > 0 {
		w.writeString(t.style.failedHeading())
		for _, d := range t.details {
			w.writeString(d)
		}
	}
	clear(t.rows)
	t.rows, t.details = t.rows[:0], t.details[:0]
}

func (t *textRenderer) summary(w *Writer, s analyze.Summary) {
	w.writeString(t.style.summary(partialWords(&s), w.summaryLines(s)))
}

// table renders attempt rows, leaving out columns that are empty in every
// row (no names without DNS, no process offline); the legend of the columns
// shown goes under the first table.
func (t *textRenderer) table(w *Writer, rows [][]string) string {
	keep := make([]bool, len(attemptHeader))
	for i := range keep {
		keep[i] = i <= 2 || i == 4 // #, client, server, outcome always
	}
	for _, r := range rows {
		for i, cell := range r {
			if cell != "" && cell != "-" {
				keep[i] = true
			}
		}
	}
	pick := func(r []string) []string {
		out := make([]string, 0, len(r))
		for i, cell := range r {
			if keep[i] {
				out = append(out, t.style.cell(strings.ReplaceAll(cell, "\n", " ")))
			}
		}
		return out
	}
	picked := make([][]string, len(rows))
	for i, r := range rows {
		picked[i] = pick(r)
	}
	var legend []string
	if !t.legendDone {
		for i, h := range attemptHeader {
			if keep[i] && columnHelp[h] != "" {
				legend = append(legend, columnHelp[h])
			}
		}
		t.legendDone = true
	}
	return t.style.table(pick(attemptHeader), picked, legend)
}

// columnHelp explains the columns whose meaning is not obvious; it is
// printed under a table for the columns it shows.
var columnHelp = map[string]string{
	"SYNs":         "SYNs = connection requests sent (1 + retransmits)",
	"RTT":          "RTT = SYN to SYN-ACK",
	"Greeting":     "Greeting = handshake to the server's first bytes",
	"Client first": "Client first = handshake to the client's first bytes (the client spoke first)",
	"Response":     "Response = the client's first bytes to the server's first (- none)",
	"Slow":         "Slow = the part that took the time: network (handshake ≥ 200 ms), client (≥ 500 ms before its first bytes) or server (≥ 500 ms to answer them)",
	"Duration":     "Duration = first SYN (or connect()) to the attempt's end",
}

// attemptHeader: after Duration, one column per registered protocol
// (headed with its name, holding its Info's Summary; left out when empty,
// as every column), then Process.
var attemptHeader = append(append([]string{"#", "Client", "Server", "Name", "Outcome", "SYNs", "RTT", "Greeting", "Client first", "Response", "Slow", "Duration"},
	protocolNames...), "Process")

// protocols and protocolNames are the registered protocols, for their
// table columns.
var (
	protocols     = analyze.Protocols()
	protocolNames = func() []string {
		var out []string
		for _, p := range protocols {
			out = append(out, p.Name)
		}
		return out
	}()
)

// appendProtocolCells appends an attempt's protocol columns: its
// protocol's summary in that protocol's column.
func appendProtocolCells(row []string, a *analyze.Attempt) []string {
	for _, p := range protocols {
		cell := ""
		if a != nil && a.App != nil && a.App.Info != nil && p.Key == string(a.App.Protocol) {
			cell = a.App.Info.Summary()
		}
		row = append(row, cell)
	}
	return row
}

// attemptRows is one table row per attempt of connect n (one row for a
// connect without attempts, e.g. an unresolved name).
func attemptRows(n int, c *analyze.Connect) [][]string {
	if len(c.Attempts) == 0 {
		row := append(make([]string, 0, len(attemptHeader)), strconv.Itoa(n), c.Client, "-", c.Name, string(c.Outcome), "", "", "", "", "", "", analyze.FormatMS(c.DurationMS))
		row = append(appendProtocolCells(row, nil), processCell(c.PID, c.Comm))
		return [][]string{row}
	}
	rows := make([][]string, 0, len(c.Attempts))
	for i, a := range c.Attempts {
		if a == nil {
			continue
		}
		syns := ""
		if a.SYNCount > 0 {
			syns = strconv.Itoa(a.SYNCount)
		}
		row := append(make([]string, 0, len(attemptHeader)),
			attemptLabel(n, i, len(c.Attempts)),
			a.Client,
			serverCell(a),
			c.Name,
			outcomeCell(a.Outcome, a.Errno),
			syns,
			fmtMSPtr(a.RTTMS),
			fmtMSPtr(a.GreetingDelayMS),
			fmtMSPtr(a.ClientFirstByteMS),
			responseCell(a),
			slowCell(a.Slow),
			analyze.FormatMS(a.DurationMS),
		)
		row = append(appendProtocolCells(row, a), attemptProcess(c, a))
		rows = append(rows, row)
	}
	return rows
}

// headline is "Connect 3: timeout (10.0.0.1 → db.example:3306, 2 attempts, 6.02 s, by mariadb[42])".
func headline(n int, c *analyze.Connect) (outcome, detail string) {
	parts := []string{}
	if c.Client != "" {
		parts = append(parts, c.Client+" → "+target(c))
	} else {
		parts = append(parts, "to "+target(c))
	}
	parts = append(parts, plural(len(c.Attempts), "attempt", "attempts"), analyze.FormatMS(c.DurationMS))
	if p := processCell(c.PID, c.Comm); p != "" {
		parts = append(parts, "by "+p)
	}
	for _, a := range c.Attempts {
		if a != nil && a.ServerSide {
			parts = append(parts, serverSideMark)
			break
		}
	}
	return string(c.Outcome), strings.Join(parts, ", ")
}

// serverSideMark marks a connect seen from its server's host (the
// listener's kernel and process were traced: Attempt.ServerSide).
const serverSideMark = "seen from the server side"

// serverCell is an attempt's Server cell: its address, marked when the
// attempt was seen from the server's host.
func serverCell(a *analyze.Attempt) string {
	if a.ServerSide {
		return a.Server + " (server side)"
	}
	return a.Server
}

// evidenceGroup is the evidence of one attempt (or of the connect).
type evidenceGroup struct {
	label string
	items []string
}

// evidenceGroups collects each attempt's evidence, then the connect's own
// evidence not already listed (e.g. the failed resolution).
func evidenceGroups(n int, c *analyze.Connect) []evidenceGroup {
	var groups []evidenceGroup
	seen := map[string]bool{}
	for i, a := range c.Attempts {
		if a == nil || len(a.Evidence) == 0 {
			continue
		}
		g := evidenceGroup{label: fmt.Sprintf("attempt %s (%s)", attemptLabel(n, i, len(c.Attempts)), a.Outcome)}
		for _, e := range a.Evidence {
			seen[e] = true
			g.items = append(g.items, e)
		}
		groups = append(groups, g)
	}
	var rest []string
	for _, e := range c.Evidence {
		if !seen[e] {
			rest = append(rest, e)
		}
	}
	if len(rest) > 0 {
		groups = append(groups, evidenceGroup{label: "connect", items: rest})
	}
	return groups
}

func connectCauses(c *analyze.Connect) []string {
	lists := [][]string{c.Causes}
	for _, a := range c.Attempts {
		if a != nil && a.Outcome != analyze.OK {
			lists = append(lists, a.Causes)
		}
	}
	return dedupe(lists...)
}

// resolverLine describes what eBPF saw of the process's resolver.
func resolverLine(r *analyze.Resolver) string {
	if r == nil {
		return ""
	}
	var parts []string
	if len(r.Servers) > 0 {
		parts = append(parts, "asked DNS servers "+strings.Join(r.Servers, ", "))
	}
	if len(r.Candidates) > 0 {
		parts = append(parts, "sorted the candidate addresses "+strings.Join(r.Candidates, ", "))
	}
	return strings.Join(parts, "; ")
}

// partialWords says, when the run lost evidence, what was lost and how
// many attempts it made incomplete: the first line of the table and
// Markdown summaries and JSON's "partial" ("" when nothing was lost).
func partialWords(s *analyze.Summary) string {
	if !s.LostEvidence() {
		return ""
	}
	var parts []string
	if s.RingBufferLost > 0 {
		parts = append(parts, thousands(s.RingBufferLost)+" kernel events lost (eBPF ring buffer full)")
	}
	if s.KernelDrops > 0 {
		parts = append(parts, thousands(s.KernelDrops)+" packets dropped by the kernel")
	}
	if s.UnreadAtStop > 0 {
		parts = append(parts, thousands(s.UnreadAtStop)+" packets and kernel events captured before the stop but never read (the stop could wait no longer)")
	}
	if s.LateEvents > 0 {
		parts = append(parts, fmt.Sprintf("%s events later than the reorder window (%s after their attempt was reported, %s of no known attempt)",
			thousands(s.LateEvents), thousands(s.LateAfterReport), thousands(s.LateUnmatched)))
	}
	if s.Untracked > 0 {
		parts = append(parts, thousands(s.Untracked)+" attempts not followed (too many at once)")
	}
	return "PARTIAL: " + strings.Join(parts, ", ") + " — " + thousands(s.IncompleteLoss) + " attempts incomplete for the lost evidence"
}

// thousands renders n with thousands separators: 2,312,345.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// summaryLines are the label/value pairs of the summary, shared by the
// table and Markdown formats.
func (w *Writer) summaryLines(s analyze.Summary) [][2]string {
	connects := countList(s.Connects, w.outcomes.m())
	if w.hidden > 0 {
		connects += fmt.Sprintf(" (%s not shown: --failed)", plural(w.hidden, "ok connect", "ok connects"))
	}
	lines := [][2]string{
		{"connects", connects},
		{"attempts", countList(s.Attempts, s.Outcomes)},
		{"packets", packetsLine(s)},
		{"drops", fmt.Sprintf("%d by the kernel, %d eBPF events lost (ring buffer full), %d attempts not followed (too many at once)",
			s.KernelDrops, s.RingBufferLost, s.Untracked)},
	}
	if l := s.Listen; l != nil {
		lines = append(lines, [2]string{"listen", listenLine(l)})
	}
	if len(s.Errors) == 0 {
		lines = append(lines, [2]string{"errors", "none"})
	}
	for _, e := range s.Errors {
		lines = append(lines, [2]string{"error", e})
	}
	return lines
}

// listenLine words the traced namespace's listen queue counters.
func listenLine(l *analyze.ListenCounters) string {
	return fmt.Sprintf("during the trace this network namespace's listeners had %d accept queue overflows, %d drops in all, %d SYN cookies sent, %d SYNs dropped with a full SYN queue (TcpExt ListenOverflows, ListenDrops, SyncookiesSent, TCPReqQFullDrop)",
		l.ListenOverflows, l.ListenDrops, l.SyncookiesSent, l.ReqQFullDrop)
}

func packetsLine(s analyze.Summary) string {
	line := fmt.Sprintf("%d read, %d malformed (skipped), %d not followed (other protocols), %d duplicate frames (ignored)",
		s.Packets, s.Malformed, s.Unsupported, s.Duplicates)
	if s.OtherProcesses > 0 {
		line = fmt.Sprintf("%d read of the traced processes, %d of other processes (left out), ", s.Packets, s.OtherProcesses) +
			fmt.Sprintf("%d malformed (skipped), %d not followed (other protocols), %d duplicate frames (ignored)", s.Malformed, s.Unsupported, s.Duplicates)
	}
	if s.MalformedDNS > 0 {
		line += ", " + plural(int(s.MalformedDNS), "malformed DNS message", "malformed DNS messages")
	}
	if s.TruncatedSegments > 0 {
		line += ", " + plural(int(s.TruncatedSegments), "segment", "segments") + " cut by the snap length (decoded as far as captured)"
	}
	if s.LateRetransmits > 0 {
		line += ", " + plural(int(s.LateRetransmits), "SYN retransmit", "SYN retransmits") + " after their attempt was reported (not new attempts)"
	}
	return line
}

// responseCell is the server's response time on a client-first attempt
// ("-" when it never answered), empty when the server spoke first.
func responseCell(a *analyze.Attempt) string {
	if a.ClientFirstByteMS == nil {
		return ""
	}
	return fmtMSPtr(a.ServerResponseMS)
}

// slowCell is "client 1.35 s": the slow part and its time.
func slowCell(s *analyze.Slow) string {
	if s == nil {
		return ""
	}
	return s.Part + " " + analyze.FormatMS(s.MS)
}
