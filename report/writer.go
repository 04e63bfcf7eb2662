package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/connscope/connscope/analyze"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Format is an output format.
type Format string

const (
	// Table is an aligned text table for the terminal (the default).
	Table Format = "table"
	// Markdown is GitHub-flavoured Markdown for tickets: tables, and
	// timelines in code fences.
	Markdown Format = "markdown"
	// JSON is JSON Lines: one {"kind":"connect"} object per connect and a
	// final {"kind":"summary"} object.
	JSON Format = "json"
	// Line is one line per connect (time, process, client → server,
	// outcome, SYNs, RTT, greeting, reason), like tcpconnect: see line.go.
	Line Format = "line"
)

// Formats lists the formats ParseFormat accepts.
var Formats = []Format{Table, Markdown, JSON, Line}

// ParseFormat parses a --format value.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown format %q: use table, markdown, json or line", s)
}

// DefaultBatchAttempts is how many attempt rows the offline table collects
// before it prints them, so that memory stays bounded on huge captures.
const DefaultBatchAttempts = 1000

// Options choose what a Writer prints and how.
type Options struct {
	Format Format // Table when empty
	// Redact replaces addresses, names and user names with stable
	// pseudonyms (see Redactor).
	Redact bool
	// FailedOnly prints only connects whose outcome is not ok; the summary
	// still counts every connect.
	FailedOnly bool
	// Streaming prints each connect as a self-contained block as soon as
	// Connect is called (for live tracing). Otherwise the table and Markdown
	// formats print one table of all attempts first, then the timelines of
	// the failed connects. JSON always streams.
	Streaming bool
	// BatchAttempts bounds the offline table (DefaultBatchAttempts when 0):
	// after that many rows it is printed and a new one begins.
	BatchAttempts int
}

// Writer renders connects and a final summary in one format. Call Connect
// for each finished connect, then Summary once; Summary flushes. A Writer is
// not safe for concurrent use.
type Writer struct {
	out *bufio.Writer
	opt Options
	red *Redactor
	err error // first write error; every later call returns it

	source        string
	sourcePending bool // source heading not printed yet (offline table/markdown)
	number        int  // connects seen, shown or not: connects are numbered by it
	hidden        int  // ok connects not shown because of FailedOnly
	outcomes      map[analyze.Outcome]int

	// Offline table/markdown: rows of the current table and the detail
	// blocks of its failed connects, printed together by flushBatch.
	rows    [][]string
	details []string

	line       []byte // JSON line buffer, reused
	legendDone bool   // the column legend is printed under the first table only

	lineHeaderDone bool // the line format's column header is printed
	// command is the traced command (SetCommand), for redaction.
	command []string
}

// NewWriter returns a Writer printing to out.
func NewWriter(out io.Writer, opt Options) *Writer {
	if opt.Format == "" {
		opt.Format = Table
	}
	if opt.BatchAttempts <= 0 {
		opt.BatchAttempts = DefaultBatchAttempts
	}
	w := &Writer{out: bufio.NewWriterSize(out, 64<<10), opt: opt, outcomes: map[analyze.Outcome]int{}}
	if opt.Redact {
		w.red = NewRedactor()
	}
	return w
}

// SetSource names where the following connects come from (a file name,
// "stdin", "live"). Table and Markdown print it as a heading; JSON adds it
// to each connect as "source".
func (w *Writer) SetSource(name string) error {
	w.learnSource(name)
	if w.opt.Format == Line {
		w.lineSource(name)
		return w.err
	}
	if w.opt.Format != JSON {
		w.flushBatch()
		w.source = name
		w.sourcePending = name != ""
		if w.opt.Streaming {
			w.writeSourceHeading()
		}
		return w.err
	}
	w.source = name
	return w.err
}

func (w *Writer) writeSourceHeading() {
	if !w.sourcePending {
		return
	}
	w.sourcePending = false
	if w.opt.Format == Markdown {
		w.printf("## %s\n\n", mdEscape(w.shownSource()))
	} else {
		w.printf("Source: %s\n\n", w.shownSource())
	}
}

// Connect renders one finished connect. In streaming mode (and for JSON) it
// is written and flushed at once. The Writer does not keep c.
func (w *Writer) Connect(c *analyze.Connect) error {
	if w.err != nil || c == nil {
		return w.err
	}
	w.number++
	w.outcomes[c.Outcome]++
	if w.opt.FailedOnly && !failed(c) {
		w.hidden++
		return nil
	}
	if w.red != nil {
		c = w.red.Connect(c)
	}
	switch {
	case w.opt.Format == Line:
		w.writeLine(c)
	case w.opt.Format == JSON:
		var err error
		w.line, err = appendConnectLine(w.line[:0], jsonConnect{Kind: "connect", Source: w.shownSource(), Number: w.number, Connect: c})
		if err != nil {
			w.err = fmt.Errorf("report: encoding JSON: %w", err)
			return w.err
		}
		_, w.err = w.out.Write(w.line)
		if w.opt.Streaming {
			w.flush()
		}
	case w.opt.Streaming:
		w.printf("%s", w.block(w.number, c, true))
		w.flush()
	default:
		w.rows = append(w.rows, attemptRows(w.number, c)...)
		if failed(c) {
			w.details = append(w.details, w.block(w.number, c, false))
		}
		if len(w.rows) >= w.opt.BatchAttempts {
			w.flushBatch()
		}
	}
	return w.err
}

// Summary prints what is still buffered and the run's summary (counts,
// drops, errors), then flushes. Drops are always printed, also when zero.
func (w *Writer) Summary(s analyze.Summary) error {
	if w.err != nil {
		return w.err
	}
	w.flushBatch()
	if w.red != nil {
		s = w.red.Summary(s)
	}
	if s.Connects < w.number {
		s.Connects = w.number
	}
	if s.Outcomes == nil {
		s.Outcomes = map[analyze.Outcome]int{}
	}
	switch w.opt.Format {
	case JSON:
		w.writeJSON(jsonSummary{Kind: "summary", Summary: s, ConnectOutcomes: w.outcomes,
			MalformedDNS: s.MalformedDNS, Untracked: s.Untracked, LateRetransmits: s.LateRetransmits})
	case Markdown:
		w.writeMarkdownSummary(s)
	case Line:
		w.writeLineSummary(s)
	default:
		w.writeTextSummary(s)
	}
	w.flush()
	return w.err
}

// Flush writes out whatever is buffered, including a partial offline table.
func (w *Writer) Flush() error {
	w.flushBatch()
	w.flush()
	return w.err
}

func (w *Writer) flush() {
	if w.err == nil {
		w.err = w.out.Flush()
	}
}

func (w *Writer) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.out, format, args...)
	}
}

// jsonConnect is one JSON line for a connect: the analyze model's fields
// (their JSON names are the documented, stable ones) plus kind, source and
// the connect's number in this run.
type jsonConnect struct {
	Kind   string `json:"kind"`
	Source string `json:"source,omitempty"`
	Number int    `json:"number"`
	*analyze.Connect
}

// jsonSummary is the final JSON line.
type jsonSummary struct {
	Kind string `json:"kind"`
	analyze.Summary
	// ConnectOutcomes counts connects (not attempts) by outcome.
	ConnectOutcomes map[analyze.Outcome]int `json:"connect_outcomes"`
	// These counters are always present, also when 0 (the README promises
	// every counter): they shadow analyze.Summary's omitempty fields of the
	// same JSON names.
	MalformedDNS    uint64 `json:"malformed_dns"`
	Untracked       uint64 `json:"untracked"`
	LateRetransmits uint64 `json:"late_retransmits"`
}

func (w *Writer) writeJSON(v any) {
	if w.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		w.err = fmt.Errorf("report: encoding JSON: %w", err)
		return
	}
	b = append(b, '\n')
	_, w.err = w.out.Write(b)
}

// flushBatch prints the offline table collected so far and the detail
// blocks of its failed connects.
func (w *Writer) flushBatch() {
	if w.opt.Format == JSON || w.opt.Format == Line || w.opt.Streaming {
		return
	}
	if len(w.rows) == 0 && len(w.details) == 0 {
		return
	}
	w.writeSourceHeading()
	w.printf("%s\n", w.renderTable(w.rows))
	if len(w.details) > 0 {
		if w.opt.Format == Markdown {
			w.printf("### Failed connects\n\n")
		} else {
			w.printf("Failed connects\n\n")
		}
		for _, d := range w.details {
			w.printf("%s", d)
		}
	}
	w.rows, w.details = w.rows[:0], w.details[:0]
}

// columnHelp explains the columns whose meaning is not obvious; it is
// printed under a table for the columns it shows.
var columnHelp = map[string]string{
	"SYNs":     "SYNs = connection requests sent (1 + retransmits)",
	"RTT":      "RTT = SYN to SYN-ACK",
	"Greeting": "Greeting = handshake to the server's first bytes",
	"Duration": "Duration = first SYN (or connect()) to the attempt's end",
}

var attemptHeader = []string{"#", "Client", "Server", "Name", "Outcome", "SYNs", "RTT", "Greeting", "Duration", "MySQL", "Process"}

// attemptRows is one table row per attempt of connect n (one row for a
// connect without attempts, e.g. an unresolved name).
func attemptRows(n int, c *analyze.Connect) [][]string {
	if len(c.Attempts) == 0 {
		return [][]string{{fmt.Sprint(n), c.Client, "-", c.Name, string(c.Outcome), "", "", "", fmtMS(c.DurationMS), "", processCell(c.PID, c.Comm)}}
	}
	rows := make([][]string, 0, len(c.Attempts))
	for i, a := range c.Attempts {
		if a == nil {
			continue
		}
		syns := ""
		if a.SYNCount > 0 {
			syns = fmt.Sprint(a.SYNCount)
		}
		rows = append(rows, []string{
			attemptLabel(n, i, len(c.Attempts)),
			a.Client,
			a.Server,
			c.Name,
			outcomeCell(a.Outcome, a.Errno),
			syns,
			fmtMSPtr(a.RTTMS),
			fmtMSPtr(a.GreetingDelayMS),
			fmtMS(a.DurationMS),
			mysqlCell(a.MySQL),
			attemptProcess(c, a),
		})
	}
	return rows
}

// renderTable renders attempt rows with tablewriter, leaving out columns
// that are empty in every row (no names without DNS, no process offline).
func (w *Writer) renderTable(rows [][]string) string {
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
				cell = strings.ReplaceAll(cell, "\n", " ")
				if w.opt.Format == Markdown {
					cell = mdEscape(cell)
				}
				out = append(out, cell)
			}
		}
		return out
	}
	var b strings.Builder
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithTrimSpace(tw.Off),
	}
	if w.opt.Format == Markdown {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	t := tablewriter.NewTable(&b, opts...)
	t.Header(pick(attemptHeader))
	for _, r := range rows {
		if err := t.Append(pick(r)); err != nil && w.err == nil {
			w.err = fmt.Errorf("report: table row: %w", err)
		}
	}
	if err := t.Render(); err != nil && w.err == nil {
		w.err = fmt.Errorf("report: rendering table: %w", err)
	}
	if !w.legendDone {
		var help []string
		for i, h := range attemptHeader {
			if keep[i] && columnHelp[h] != "" {
				help = append(help, columnHelp[h])
			}
		}
		if len(help) > 0 {
			if w.opt.Format == Markdown {
				fmt.Fprintf(&b, "\n_%s._\n", mdEscape(strings.Join(help, "; ")))
			} else {
				fmt.Fprintf(&b, "%s.\n", strings.Join(help, "; "))
			}
		}
		w.legendDone = true
	}
	return b.String()
}

// mdEscape keeps text from breaking Markdown tables and markup.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// headline is "Connect 3: timeout (10.0.0.1 → db.example:3306, 2 attempts, 6.02 s, by mariadb[42])".
func headline(n int, c *analyze.Connect) (outcome, detail string) {
	parts := []string{}
	if c.Client != "" {
		parts = append(parts, c.Client+" → "+target(c))
	} else {
		parts = append(parts, "to "+target(c))
	}
	parts = append(parts, plural(len(c.Attempts), "attempt", "attempts"), fmtMS(c.DurationMS))
	if p := processCell(c.PID, c.Comm); p != "" {
		parts = append(parts, "by "+p)
	}
	return string(c.Outcome), strings.Join(parts, ", ")
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

// block renders one connect for people: a headline, (when withTable) its
// attempts table, and for a failed connect its timeline, evidence and likely
// causes.
func (w *Writer) block(n int, c *analyze.Connect, withTable bool) string {
	var b strings.Builder
	outcome, detail := headline(n, c)
	md := w.opt.Format == Markdown
	if md {
		fmt.Fprintf(&b, "#### Connect %d: %s\n\n%s", n, outcome, mdEscape(detail))
	} else {
		fmt.Fprintf(&b, "Connect %d: %s (%s)\n", n, outcome, detail)
	}
	if meaning := connectMeaning(c); meaning != "" && failed(c) {
		if md {
			fmt.Fprintf(&b, " — %s.", meaning)
		} else {
			fmt.Fprintf(&b, "  %s%s.\n", strings.ToUpper(meaning[:1]), meaning[1:])
		}
	}
	if md {
		b.WriteString("\n\n")
	}
	if withTable {
		b.WriteString(w.renderTable(attemptRows(n, c)))
		if md {
			b.WriteString("\n")
		}
	}
	if !failed(c) {
		if !md {
			b.WriteString("\n")
		}
		return b.String()
	}
	lines := timeline(n, c)
	resolver := resolverLine(c.Resolver)
	groups := evidenceGroups(n, c)
	causes := connectCauses(c)
	if md {
		b.WriteString("```text\n")
		writeTimeline(&b, lines, "")
		b.WriteString("```\n\n")
		if resolver != "" {
			fmt.Fprintf(&b, "Resolver: %s\n\n", mdEscape(resolver))
		}
		if len(groups) > 0 {
			b.WriteString("**Evidence**\n\n")
			for _, g := range groups {
				if len(groups) > 1 {
					fmt.Fprintf(&b, "- %s:\n", g.label)
					for _, e := range g.items {
						fmt.Fprintf(&b, "  - %s\n", mdEscape(e))
					}
				} else {
					for _, e := range g.items {
						fmt.Fprintf(&b, "- %s\n", mdEscape(e))
					}
				}
			}
			b.WriteString("\n")
		}
		if len(causes) > 0 {
			b.WriteString("**Likely causes (check these)**\n\n")
			for _, s := range causes {
				fmt.Fprintf(&b, "- %s\n", mdEscape(s))
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	b.WriteString("  Timeline:\n")
	writeTimeline(&b, lines, "    ")
	if resolver != "" {
		fmt.Fprintf(&b, "  Resolver: %s\n", resolver)
	}
	if len(groups) > 0 {
		b.WriteString("  Evidence:\n")
		for _, g := range groups {
			if len(groups) > 1 {
				fmt.Fprintf(&b, "    %s:\n", g.label)
				for _, e := range g.items {
					fmt.Fprintf(&b, "      - %s\n", e)
				}
			} else {
				for _, e := range g.items {
					fmt.Fprintf(&b, "    - %s\n", e)
				}
			}
		}
	}
	if len(causes) > 0 {
		b.WriteString("  Likely causes (check these):\n")
		for _, s := range causes {
			fmt.Fprintf(&b, "    - %s\n", s)
		}
	}
	b.WriteString("\n")
	return b.String()
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

// summaryLines are the label/value pairs of the summary, shared by the
// table and Markdown formats.
func (w *Writer) summaryLines(s analyze.Summary) [][2]string {
	connects := countList(s.Connects, w.outcomes)
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
	if len(s.Errors) == 0 {
		lines = append(lines, [2]string{"errors", "none"})
	}
	for _, e := range s.Errors {
		lines = append(lines, [2]string{"error", e})
	}
	return lines
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

func (w *Writer) writeTextSummary(s analyze.Summary) {
	if s.Partial != "" {
		w.printf("Summary — %s\n", s.Partial)
	} else {
		w.printf("Summary\n")
	}
	for _, l := range w.summaryLines(s) {
		w.printf("  %-9s %s\n", l[0], l[1])
	}
}

func (w *Writer) writeMarkdownSummary(s analyze.Summary) {
	if s.Partial != "" {
		w.printf("### Summary — %s\n\n| | |\n|:--|:--|\n", mdEscape(s.Partial))
	} else {
		w.printf("### Summary\n\n| | |\n|:--|:--|\n")
	}
	for _, l := range w.summaryLines(s) {
		w.printf("| %s | %s |\n", l[0], mdEscape(l[1]))
	}
}
