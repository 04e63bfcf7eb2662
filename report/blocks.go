package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/proto"
)

// The table and Markdown formats print the same things for people: one
// table of attempts (offline: all of them, in bounded batches, then the
// blocks of the failed connects; streaming: a block per connect with its own
// table), a timeline with evidence and causes per failed connect, and the
// summary lines. textRenderer does that ordering once; a textStyle (table.go,
// markdown.go) says how each piece looks.

// textStyle is how one format for people draws the pieces. The pieces of
// every connect are appended to a buffer the renderer reuses (no string
// per cell, line or block); those printed once (headings, summary) are
// strings.
type textStyle interface {
	// heading is the source heading.
	heading(source string) string
	// safeCell makes the cell appended to b from from on safe for the
	// format.
	safeCell(b []byte, from int) []byte
	// appendTable draws t's shown columns (cells already made safe), and
	// under it the legend when legend is not empty.
	appendTable(b []byte, t *textTable, legend []string) []byte
	// failedHeading introduces the offline blocks of failed connects.
	failedHeading() string
	// appendBlock appends connect n's block: a headline, the attempts
	// table when table is not empty (streaming), and for a failed connect
	// its timeline, resolver, evidence and likely causes. words are its
	// attempts' evidence and causes when the Writer made them apart from
	// the attempts (nil: in the attempts); k is scratch memory.
	appendBlock(b []byte, k *blockScratch, n int, c *analyze.Connect, words []analyze.AttemptWords, table []byte) []byte
	// summary renders the summary's label/value lines under its heading,
	// which says why the summary is partial when partial is not empty.
	summary(partial string, lines [][2]string) string
}

// textRenderer is the renderer of the table and Markdown formats.
type textRenderer struct {
	style textStyle

	sourcePending bool // source heading not printed yet
	legendDone    bool // the column legend is printed under the first table only

	// Offline: the rows of the current table and the blocks of its failed
	// connects, printed together by flush.
	rows    textTable
	details []byte

	// Streaming: a connect's own table, drawn, and its block; reused.
	connectRows textTable
	drawn       []byte
	block       []byte

	scratch blockScratch
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
	words := w.words.apartWords(c)
	if w.opt.Streaming {
		t.connectRows.reset(attemptHeader)
		t.addAttemptRows(&t.connectRows, n, c)
		t.drawn = t.drawAttempts(t.drawn[:0], &t.connectRows)
		t.block = t.style.appendBlock(t.block[:0], &t.scratch, n, c, words, t.drawn)
		w.write(t.block)
		return
	}
	t.addAttemptRows(t.offlineRows(), n, c)
	if failed(c) {
		t.details = t.style.appendBlock(t.details, &t.scratch, n, c, words, nil)
	}
	if t.rows.rows() >= w.opt.BatchAttempts {
		t.flush(w)
	}
}

// flush prints the offline table collected so far and the blocks of its
// failed connects.
func (t *textRenderer) flush(w *Writer) {
	if w.opt.Streaming || (t.rows.rows() == 0 && len(t.details) == 0) {
		return
	}
	t.writeHeading(w)
	t.drawn = append(t.drawAttempts(t.drawn[:0], t.offlineRows()), '\n')
	w.write(t.drawn)
	if len(t.details) > 0 {
		w.writeString(t.style.failedHeading())
		w.write(t.details)
	}
	t.rows.reset(attemptHeader)
	t.details = t.details[:0]
}

// offlineRows is the offline table being filled, started with its
// header the first time.
func (t *textRenderer) offlineRows() *textTable {
	if len(t.rows.widths) == 0 {
		t.rows.reset(attemptHeader)
	}
	return &t.rows
}

func (t *textRenderer) summary(w *Writer, s analyze.Summary) {
	w.writeString(t.style.summary(partialWords(&s), w.summaryLines(s)))
}

// drawAttempts draws a table of attempt rows, leaving out columns that
// are empty in every row (no names without DNS, no process offline); the
// legend of the columns shown goes under the first table.
func (t *textRenderer) drawAttempts(b []byte, rows *textTable) []byte {
	rows.showFilled(func(col int) bool { return col <= 2 || col == 4 }) // #, client, server, outcome always
	var legend []string
	if !t.legendDone {
		for i, h := range attemptHeader {
			if rows.shown[i] && columnHelp[h] != "" {
				legend = append(legend, columnHelp[h])
			}
		}
		t.legendDone = true
	}
	return t.style.appendTable(b, rows, legend)
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

// addAttemptRows adds a row per attempt of connect n to rows (one row for
// a connect without attempts, e.g. an unresolved name), each cell made
// safe for the format as it is added.
func (t *textRenderer) addAttemptRows(rows *textTable, n int, c *analyze.Connect) {
	end := func() { rows.endCell(t.style) }
	add := func(s string) {
		rows.text = append(rows.text, s...)
		end()
	}
	if len(c.Attempts) == 0 {
		rows.text = strconv.AppendInt(rows.text, int64(n), 10)
		end()
		add(c.Client)
		add("-")
		add(c.Name)
		add(string(c.Outcome))
		for range 6 { // SYNs to Slow
			add("")
		}
		rows.text = proto.AppendMS(rows.text, c.DurationMS)
		end()
		for range protocols {
			add("")
		}
		rows.text = appendProcess(rows.text, c.PID, c.Comm)
		end()
		return
	}
	for i, a := range c.Attempts {
		if a == nil {
			continue
		}
		rows.text = appendAttemptLabel(rows.text, n, i, len(c.Attempts))
		end()
		add(a.Client)
		rows.text = appendServerCell(rows.text, a)
		end()
		add(c.Name)
		rows.text = appendOutcome(rows.text, a.Outcome, a.Errno)
		end()
		if a.SYNCount > 0 {
			rows.text = strconv.AppendInt(rows.text, int64(a.SYNCount), 10)
		}
		end()
		rows.text = appendMSOrDash(rows.text, a.RTTMS)
		end()
		rows.text = appendMSOrDash(rows.text, a.GreetingDelayMS)
		end()
		rows.text = appendMSOrDash(rows.text, a.ClientFirstByteMS)
		end()
		if a.ClientFirstByteMS != nil { // Response: only for a client-first attempt
			rows.text = appendMSOrDash(rows.text, a.ServerResponseMS)
		}
		end()
		if a.Slow != nil {
			rows.text = proto.AppendMS(append(append(rows.text, a.Slow.Part...), ' '), a.Slow.MS)
		}
		end()
		rows.text = proto.AppendMS(rows.text, a.DurationMS)
		end()
		for _, p := range protocols {
			if a.App != nil && a.App.Info != nil && p.Key == string(a.App.Protocol) {
				rows.text = append(rows.text, a.App.Info.Summary()...)
			}
			end()
		}
		rows.text = appendAttemptProcess(rows.text, c, a)
		end()
	}
}

// appendHeadline appends a connect's headline after its outcome:
// "10.0.0.1 → db.example:3306, 2 attempts, 6.02 s, by mariadb[42]".
func appendHeadline(b []byte, c *analyze.Connect) []byte {
	if c.Client != "" {
		b = append(append(b, c.Client...), " → "...)
	} else {
		b = append(b, "to "...)
	}
	b = appendTarget(b, c)
	b = strconv.AppendInt(append(b, ", "...), int64(len(c.Attempts)), 10)
	if len(c.Attempts) == 1 {
		b = append(b, " attempt, "...)
	} else {
		b = append(b, " attempts, "...)
	}
	b = proto.AppendMS(b, c.DurationMS)
	if c.PID != 0 || c.Comm != "" {
		b = appendProcess(append(b, ", by "...), c.PID, c.Comm)
	}
	for _, a := range c.Attempts {
		if a != nil && a.ServerSide {
			b = append(append(b, ", "...), serverSideMark...)
			break
		}
	}
	return b
}

// serverSideMark marks a connect seen from its server's host (the
// listener's kernel and process were traced: Attempt.ServerSide).
const serverSideMark = "seen from the server side"

// appendServerCell appends an attempt's Server cell: its address, marked
// when the attempt was seen from the server's host.
func appendServerCell(b []byte, a *analyze.Attempt) []byte {
	b = append(b, a.Server...)
	if a.ServerSide {
		b = append(b, " (server side)"...)
	}
	return b
}

// blockScratch is the memory a connect's block is put together in (its
// timeline's lines, its evidence groups, its causes), reused from one
// connect to the next.
type blockScratch struct {
	lines   []timelineLine
	items   []timelineItem
	offsets []byte // the lines' offsets as text, one after another
	ends    []int  // where each line's offset ends in offsets
	groups  []evidenceGroup
	rest    []string
	causes  []string
}

// evidenceGroup is the evidence of one attempt (or of the connect).
type evidenceGroup struct {
	attempt int // its index in the connect's attempts; -1: the connect's own
	items   []string
}

// evidenceGroups collects each attempt's evidence, then the connect's own
// evidence not already listed (e.g. the failed resolution). The groups
// are valid until the next call.
func (k *blockScratch) evidenceGroups(c *analyze.Connect, words []analyze.AttemptWords) []evidenceGroup {
	k.groups, k.rest = k.groups[:0], k.rest[:0]
	for i, a := range c.Attempts {
		if ev := attemptWordsOf(a, i, words).Evidence; len(ev) > 0 {
			k.groups = append(k.groups, evidenceGroup{attempt: i, items: ev})
		}
	}
	for _, e := range c.Evidence {
		if !k.listed(e) {
			k.rest = append(k.rest, e)
		}
	}
	if len(k.rest) > 0 {
		k.groups = append(k.groups, evidenceGroup{attempt: -1, items: k.rest})
	}
	return k.groups
}

// listed says whether an attempt's group lists e.
func (k *blockScratch) listed(e string) bool {
	for _, g := range k.groups {
		if g.attempt >= 0 && slices.Contains(g.items, e) {
			return true
		}
	}
	return false
}

// appendGroupLabel appends the label of an evidence group:
// "attempt 3.1 (timeout)", or "connect".
func appendGroupLabel(b []byte, n int, c *analyze.Connect, g evidenceGroup) []byte {
	if g.attempt < 0 {
		return append(b, "connect"...)
	}
	b = appendAttemptLabel(append(b, "attempt "...), n, g.attempt, len(c.Attempts))
	return append(append(append(b, " ("...), c.Attempts[g.attempt].Outcome...), ')')
}

// attemptWordsOf is attempt i's (a's) evidence and causes: from words
// when the Writer made them apart from the attempts, else a's own.
func attemptWordsOf(a *analyze.Attempt, i int, words []analyze.AttemptWords) analyze.AttemptWords {
	switch {
	case a == nil:
		return analyze.AttemptWords{}
	case words != nil:
		return words[i]
	}
	return analyze.AttemptWords{Evidence: a.Evidence, Causes: a.Causes}
}

// connectCauses are the connect's causes, then its failed attempts', each
// once (empty ones left out); valid until the next call.
func (k *blockScratch) connectCauses(c *analyze.Connect, words []analyze.AttemptWords) []string {
	k.causes = appendOnce(k.causes[:0], c.Causes)
	for i, a := range c.Attempts {
		if a != nil && a.Outcome != analyze.OK {
			k.causes = appendOnce(k.causes, attemptWordsOf(a, i, words).Causes)
		}
	}
	return k.causes
}

// appendOnce appends the strings of add that out does not hold yet,
// leaving out empty ones (a connect has a handful: a search is cheaper
// than a map).
func appendOnce(out, add []string) []string {
	for _, s := range add {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
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

// slowCell is "client 1.35 s": the slow part and its time.
func slowCell(s *analyze.Slow) string {
	if s == nil {
		return ""
	}
	return s.Part + " " + analyze.FormatMS(s.MS)
}
