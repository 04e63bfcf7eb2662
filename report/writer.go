package report

import (
	"bufio"
	"fmt"
	"io"

	"github.com/connscope/connscope/analyze"
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

// outBufferSize is the Writer's buffer: a JSON line is written straight
// into it, flushed first when less than lineRoom is left (json.go), so
// the room left unused at each write(2) is a small part of it; a large
// buffer also makes a busy trace's one write per tick (HoldFlush) fewer
// writes when the tick's lines do not fit.
const outBufferSize = 256 << 10

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
	// HoldFlush, with Streaming, leaves the connects in the Writer's buffer
	// instead of flushing after each one: the caller calls Flush at its own
	// pace (live trace on the pipeline's tick, so that a busy trace costs
	// one write(2) per tick rather than one per connect).
	HoldFlush bool
	// BatchAttempts bounds the offline table (DefaultBatchAttempts when 0):
	// after that many rows it is printed and a new one begins.
	BatchAttempts int
	// Rollup, when set, adapts the report to many connects (streaming:
	// the patterns and the rollup come before the summary): see
	// rollupview.go.
	Rollup *RollupOptions
	// AllTimelines prints every connect's timeline, evidence and causes
	// in the table and Markdown formats, ok connects' too (connscope probe:
	// each address's timeline).
	AllTimelines bool
	// Redactor, with Redact, is the redactor to use instead of a new one:
	// output printed around the report (connscope probe's checklist) keeps
	// the same pseudonyms.
	Redactor *Redactor
}

// Writer renders connects and a final summary in one format. Call Connect
// for each finished connect, then Summary once; Summary flushes. A Writer is
// not safe for concurrent use.
//
// The Writer owns what every format shares: numbering and counting the
// connects, --failed, redaction (applied here, once, before any renderer
// sees a connect or the summary) and write errors. How a connect looks is
// its renderer's business: one per format, chosen once in NewWriter, each in
// its own file (table.go, markdown.go, json.go, line.go).
type Writer struct {
	out *bufio.Writer
	opt Options
	red *Redactor
	r   renderer
	err error // first write error; every later call returns it

	source   string
	number   int           // connects seen, shown or not: connects are numbered by it
	hidden   int           // ok connects not shown because of FailedOnly
	outcomes outcomeCounts // connects by outcome

	set       []string // the captures of a merged set (SetSources)
	interimAt int      // connects covered by the last Interim

	// command is the traced command (SetCommand), for redaction.
	command []string

	// rv is the view for many connects (Options.Rollup), nil without.
	rv *rollupView
	// words is where explained copies a connect when nothing keeps the
	// copy past Connect (JSON writes it at once): one copy reused,
	// instead of a new one per connect.
	words wordsScratch
}

// renderer prints one format. The Writer calls it with connects and a
// summary already redacted; it writes through w.printf / w.out, and w.err
// holds the first error.
type renderer interface {
	// source is called when the connects that follow come from w.source
	// (changed: it differs from the previous source).
	source(w *Writer, changed bool)
	// connect renders connect number n (it may buffer it).
	connect(w *Writer, n int, c *analyze.Connect)
	// flush prints what the renderer has buffered.
	flush(w *Writer)
	// summary prints the run's summary; what was buffered is flushed.
	summary(w *Writer, s analyze.Summary)
}

// newRenderer chooses the renderer of a format.
func newRenderer(f Format, allTimelines bool) renderer {
	switch f {
	case Markdown:
		return &textRenderer{style: markdownStyle{all: allTimelines}}
	case JSON:
		return &jsonRenderer{}
	case Line:
		return &lineRenderer{}
	default:
		return &textRenderer{style: tableStyle{all: allTimelines}}
	}
}

// NewWriter returns a Writer printing to out.
func NewWriter(out io.Writer, opt Options) *Writer {
	if opt.Format == "" {
		opt.Format = Table
	}
	if opt.BatchAttempts <= 0 {
		opt.BatchAttempts = DefaultBatchAttempts
	}
	w := &Writer{out: bufio.NewWriterSize(out, outBufferSize), opt: opt, r: newRenderer(opt.Format, opt.AllTimelines)}
	if opt.Redact {
		w.red = opt.Redactor
		if w.red == nil {
			w.red = NewRedactor()
		}
	}
	if opt.Rollup != nil && opt.Format != Line { // the line format has no rollup
		w.rv = newRollupView(opt.Format, opt.Streaming, *opt.Rollup)
	}
	return w
}

// SetSource names where the following connects come from (a file name,
// "stdin", "live"). Table and Markdown print it as a heading; JSON adds it
// to each connect as "source"; the line format prints "# source:".
func (w *Writer) SetSource(name string) error {
	w.learnSource(name)
	if w.rv != nil && w.rv.setSource(name) {
		w.source = name
		return w.err
	}
	w.r.flush(w) // what is buffered belongs to the previous source
	changed := name != w.source
	w.source = name
	w.r.source(w, changed)
	if w.opt.Streaming {
		w.flush()
	}
	return w.err
}

// Connect renders one finished connect. In streaming mode it is written and
// flushed at once (unless HoldFlush). The Writer does not keep c.
func (w *Writer) Connect(c *analyze.Connect) error {
	if w.err != nil || c == nil {
		return w.err
	}
	w.number++
	w.outcomes.add(c.Outcome)
	// The rollup reads the facts only, never the words: it gets c as it
	// is, and says whether it keeps c as an example (to print later).
	example := w.rv != nil && w.rv.add(w.number, c)
	shown := !w.opt.FailedOnly || failed(c)
	if !example && !w.wordsNeeded(shown) {
		// Nothing prints this connect, now or later (hidden by --failed,
		// or rolled up among many in the table and Markdown formats): its
		// words, the most costly part of a connect after the rollup, are
		// not made.
		if !shown {
			w.hidden++
		}
		return w.err
	}
	// Words (timeline steps, evidence and causes from the facts) before
	// redaction and rendering, and before a connect is held as an example.
	// The renderers word timeline steps themselves as they write them
	// (JSON's appendAttempt, the text formats' appendTimelineText),
	// saving a copy of every attempt's events; redaction needs the words
	// before it runs, encoding/json needs them in place.
	stepsLater := w.red == nil && w.opt.Format == JSON && fastJSON
	switch {
	case w.red == nil && !example && (w.rv == nil || !w.rv.text) && (w.opt.Format != JSON || fastJSON):
		// The connect is rendered at once and nothing keeps c (the
		// hand-written JSON encoder, the text formats and the line
		// format): the attempts' words are made apart from them (no
		// copy of each attempt to word), read by the renderer, which
		// words the timeline steps as it writes them.
		c = w.words.wordsApart(c)
	case w.opt.Format == JSON && (w.rv == nil || !w.rv.text):
		c = explainedIn(c, stepsLater, &w.words) // the JSON renderer and the rollup keep nothing of c
	default:
		// Held, kept as an example or redacted: an owned copy.
		c = explainedIn(c, stepsLater, nil)
	}
	if example {
		w.rv.keepExample(w.number, c)
	}
	if !shown {
		w.hidden++
		return nil
	}
	if w.rv != nil && w.rv.hold(w.number, c) {
		return w.err
	}
	if w.red != nil {
		c = w.red.Connect(c)
	}
	w.r.connect(w, w.number, c)
	if w.opt.Streaming && !w.opt.HoldFlush {
		w.flush()
	}
	return w.err
}

// wordsNeeded says whether the connect just given to the rollup (shown:
// not hidden by --failed) is printed now or may be later: rendered at
// once, or held while the table and Markdown formats may still print
// every connect (up to the rollup's threshold).
func (w *Writer) wordsNeeded(shown bool) bool {
	if !shown {
		return false
	}
	return w.rv == nil || !w.rv.text || !w.rv.switched
}

// KeepsConnects says whether the Writer may keep a connect (or part of
// it) past Connect: redaction learns from them. When it does not (every
// format renders a connect into text at once: the offline table's rows
// and blocks wait as text, not as connects; the connects the table and
// Markdown hold for their rollup's examples are copies, analyze.Own), the
// caller may reuse a connect's memory once Connect returned
// (analyze.Options.Recycle).
func (w *Writer) KeepsConnects() bool {
	return w.red != nil
}

// Summary prints what is still buffered and the run's summary (counts,
// drops, errors), then flushes. Drops are always printed, also when zero.
func (w *Writer) Summary(s analyze.Summary) error {
	if w.err != nil {
		return w.err
	}
	if w.rv != nil && w.rv.summary(w, s) {
		w.flush()
		return w.err
	}
	w.r.flush(w)
	if w.red != nil {
		s = w.red.Summary(s)
	}
	if s.Outcomes == nil {
		s.Outcomes = map[analyze.Outcome]int{}
	}
	w.r.summary(w, s)
	w.flush()
	return w.err
}

// Flush writes out whatever is buffered, including a partial offline table.
func (w *Writer) Flush() error {
	w.r.flush(w)
	w.flush()
	return w.err
}

// explained is c with its words: the timeline steps' (wordEvents) and the
// evidence and causes (analyze.Explain); sentences are made only here,
// from the findings, before redaction and rendering. c itself is not
// changed (a copy of it and its attempts is worded, made once for
// both). With stepsLater the timeline steps are left for the renderer to
// word (appendAttempt does).
func explained(c *analyze.Connect, stepsLater bool) *analyze.Connect {
	return explainedIn(c, stepsLater, nil)
}

// explainedIn is explained with the copy made in s (valid until the next
// call with s), or, when s is nil, an owned copy (analyze.Own): one that
// may be kept past Connect (the table's and Markdown's held connects and
// examples) while the engine reuses c's memory (KeepsConnects).
func explainedIn(c *analyze.Connect, stepsLater bool, s *wordsScratch) *analyze.Connect {
	var cc *analyze.Connect
	if s == nil {
		cc = analyze.Own(c)
	} else {
		s.apart = false
		cc = &s.c
		*cc = *c
		n := len(c.Attempts)
		if cap(s.ptrs) < n {
			s.ptrs = make([]*analyze.Attempt, n)
			s.copies = make([]analyze.Attempt, n) // one allocation for all
		}
		cc.Attempts = s.ptrs[:n:n]
		copies := s.copies[:n]
		for i, a := range c.Attempts {
			if a != nil {
				copies[i] = *a
				a = &copies[i]
			}
			cc.Attempts[i] = a
		}
	}
	if !stepsLater {
		for _, a := range cc.Attempts {
			if a != nil {
				wordEvents(a)
			}
		}
	}
	analyze.Explain(cc)
	return cc
}

// outcomeCounts counts connects by outcome: a short list (an outcome is
// one of a few) searched from its start, not a map, whose hashing of the
// outcome cost some 2% of rendering a connect (BenchmarkWriterRollup).
type outcomeCounts []outcomeCount

type outcomeCount struct {
	o analyze.Outcome
	n int
}

func (oc *outcomeCounts) add(o analyze.Outcome) {
	for i := range *oc {
		if (*oc)[i].o == o {
			(*oc)[i].n++
			return
		}
	}
	*oc = append(*oc, outcomeCount{o, 1})
}

// m is the counts as a map (empty, not nil, when none).
func (oc outcomeCounts) m() map[analyze.Outcome]int {
	m := make(map[analyze.Outcome]int, len(oc))
	for _, x := range oc {
		m[x.o] = x.n
	}
	return m
}

// wordsScratch is explained's copy of a connect and its attempts.
type wordsScratch struct {
	c      analyze.Connect
	ptrs   []*analyze.Attempt
	copies []analyze.Attempt
	// words are c's attempts' evidence and causes when apart is set
	// (wordsApart): c's attempts are then the caller's, unworded.
	words []analyze.AttemptWords
	apart bool
}

// wordsApart is c with its own words (a copy of c, valid until the next
// use of s) and its attempts' in s.words (analyze.ExplainWords): the
// attempts are not copied; their timeline steps are left to the renderer
// (as explainedIn's stepsLater). Only for a renderer that reads s.words
// (apartWords) and words the steps: the hand-written JSON encoder, the
// table, Markdown and line formats.
func (s *wordsScratch) wordsApart(c *analyze.Connect) *analyze.Connect {
	s.c = *c
	s.words = analyze.ExplainWords(&s.c, s.words)
	s.apart = true
	return &s.c
}

// apartWords are the evidence and causes of c's attempts when wordsApart
// made them (c is s's connect), else nil: c's attempts hold their own.
func (s *wordsScratch) apartWords(c *analyze.Connect) []analyze.AttemptWords {
	if s.apart && c == &s.c {
		return s.words
	}
	return nil
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

func (w *Writer) write(b []byte) {
	if w.err == nil {
		_, w.err = w.out.Write(b)
	}
}

func (w *Writer) writeString(s string) {
	if w.err == nil {
		_, w.err = w.out.WriteString(s)
	}
}
