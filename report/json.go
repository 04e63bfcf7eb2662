package report

import (
	"encoding/json"
	"fmt"

	"github.com/connscope/connscope/analyze"
)

// The JSON format is JSON Lines: one {"kind":"connect"} object per connect
// and a final {"kind":"summary"} object. The field names are analyze's
// model's JSON names (documented in README.md).
type jsonRenderer struct{}

// jsonConnect is one JSON line for a connect: the analyze model's fields
// (their JSON names are the documented, stable ones) plus kind, source and
// the connect's number in this run.
type jsonConnect struct {
	Kind   string `json:"kind"`
	Source string `json:"source,omitempty"`
	Number int    `json:"number"`
	*analyze.Connect
	// words, when set, are the attempts' evidence and causes, made apart
	// from them (analyze.ExplainWords; the hand-written encoder only).
	words []analyze.AttemptWords
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
	// Partial is partialWords: what was lost, when evidence was.
	Partial string `json:"partial,omitempty"`
}

func (*jsonRenderer) source(*Writer, bool) {}

func (*jsonRenderer) flush(*Writer) {}

// lineRoom is the room a connect line is written into in the Writer's
// buffer: most lines take 1 to 4 KB; a longer one is written elsewhere.
const lineRoom = 16 << 10

func (j *jsonRenderer) connect(w *Writer, n int, c *analyze.Connect) {
	if w.err != nil {
		return
	}
	// The line is written straight into the Writer's buffer, after what
	// it holds (flushed first when the room left is short): the buffer's
	// Write then finds it in place, instead of copying it there from a
	// buffer of its own.
	if w.out.Available() < lineRoom {
		if w.flush(); w.err != nil {
			return
		}
	}
	room := w.out.AvailableBuffer()
	jc := jsonConnect{Kind: "connect", Source: w.shownSource(), Number: n, Connect: c}
	jc.words = w.words.apartWords(c) // c was worded by wordsApart, or nil
	line, err := appendConnectLine(room, jc)
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("report: encoding JSON: %w", err)
		}
		return
	}
	w.write(line)
}

func (j *jsonRenderer) summary(w *Writer, s analyze.Summary) {
	b, err := json.Marshal(jsonSummary{Kind: "summary", Summary: s, ConnectOutcomes: w.outcomes.m(),
		MalformedDNS: s.MalformedDNS, Untracked: s.Untracked, LateRetransmits: s.LateRetransmits, Partial: partialWords(&s)})
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("report: encoding JSON: %w", err)
		}
		return
	}
	w.write(append(b, '\n'))
}
