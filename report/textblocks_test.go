package report

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// handConnects are connects made by hand whose blocks stress the
// scratch memory: several attempts with evidence of their own, evidence
// the connect repeats and adds, causes repeated and empty, a lookup.
func handConnects() []*analyze.Connect {
	lat := 0.8
	return []*analyze.Connect{
		{Client: "192.0.2.1", Name: "db.example", Port: 3306, Outcome: analyze.Timeout,
			Evidence: []string{"first attempt's", "the connect's own", "the connect's own"},
			Causes:   []string{"shared cause", "", "connect cause"},
			Resolution: []analyze.Query{{Name: "db.example", Type: "A", Server: "192.0.2.53:53", Rcode: "NOERROR",
				Answers: []string{"198.51.100.1", "198.51.100.2"}, LatencyMS: &lat}},
			Attempts: []*analyze.Attempt{
				{Client: "192.0.2.1:40000", Server: "198.51.100.1:3306", Outcome: analyze.Timeout, Reason: analyze.ReasonSYNUnanswered,
					Evidence: []string{"first attempt's", "another"}, Causes: []string{"shared cause", "first cause"}},
				nil,
				{Client: "192.0.2.1:40001", Server: "198.51.100.2:3306", Outcome: analyze.Refused, Errno: "ECONNREFUSED", Reason: analyze.ReasonRSTFromServer,
					Evidence: []string{"second attempt's"}, Causes: []string{"shared cause", "second cause"}, PID: 7, Comm: "mysql"},
			}},
		{Client: "192.0.2.1", Port: 3306, Outcome: analyze.Refused, Attempts: []*analyze.Attempt{
			{Client: "192.0.2.1:40002", Server: "198.51.100.3:3306", Outcome: analyze.Refused, Reason: analyze.ReasonRSTFromServer}}},
		{Name: "gone.example", Outcome: analyze.Unresolved, Evidence: []string{"NXDOMAIN"}, Causes: []string{"no such name"}},
	}
}

// TestBlockScratchReuse: a connect's block is the same whichever blocks
// were put together in the same scratch memory before it (its timeline,
// evidence groups and causes are in memory reused from one connect to
// the next): each block, in either format, in order and in reverse,
// equals the block made in fresh memory.
func TestBlockScratchReuse(t *testing.T) {
	var cs []*analyze.Connect
	for _, c := range append(labConnects(t), handConnects()...) {
		cs = append(cs, explained(c, false))
	}
	for _, style := range []textStyle{tableStyle{all: true}, markdownStyle{all: true}} {
		var shared blockScratch
		var got []byte
		for pass := range 2 {
			for k := range cs {
				i := k
				if pass == 1 {
					i = len(cs) - 1 - k
				}
				got = style.appendBlock(got[:0], &shared, i+1, cs[i], nil, nil)
				want := style.appendBlock(nil, new(blockScratch), i+1, cs[i], nil, nil)
				if !bytes.Equal(got, want) {
					t.Errorf("%T connect %d (pass %d): in reused memory\n%s\nin fresh memory\n%s", style, i+1, pass, got, want)
				}
			}
		}
	}
}

// TestBlockEvidenceAndCauses: the evidence is grouped by attempt, the
// connect's own that no attempt lists after them (each as often as the
// connect has it); the causes are the connect's then the failed attempts',
// each once, none empty.
func TestBlockEvidenceAndCauses(t *testing.T) {
	c := handConnects()[0]
	var k blockScratch
	groups := k.evidenceGroups(c, nil)
	var got [][]string
	var at []int
	for _, g := range groups {
		got = append(got, g.items)
		at = append(at, g.attempt)
	}
	want := [][]string{{"first attempt's", "another"}, {"second attempt's"}, {"the connect's own", "the connect's own"}}
	if !slices.EqualFunc(got, want, slices.Equal) || !slices.Equal(at, []int{0, 2, -1}) {
		t.Errorf("evidence groups %q of attempts %v, want %q of 0, 2, -1", got, at, want)
	}
	if causes, want := k.connectCauses(c, nil), []string{"shared cause", "connect cause", "first cause", "second cause"}; !slices.Equal(causes, want) {
		t.Errorf("causes %q, want %q", causes, want)
	}
	// Words apart from the attempts (the Writer's wordsApart) are read
	// from there, not from the attempts.
	words := []analyze.AttemptWords{{Evidence: []string{"apart"}, Causes: []string{"apart cause"}}, {}, {}}
	if groups := k.evidenceGroups(c, words); len(groups) != 2 || groups[0].items[0] != "apart" || groups[1].attempt != -1 {
		t.Errorf("evidence groups with words apart: %+v", groups)
	}
	if causes, want := k.connectCauses(c, words), []string{"shared cause", "connect cause", "apart cause"}; !slices.Equal(causes, want) {
		t.Errorf("causes with words apart %q, want %q", causes, want)
	}
}

// lookupLinesFormatted are a lookup's timeline lines as fmt made them
// before they were appended: the reference.
func lookupLinesFormatted(q analyze.Query) []string {
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
			return []string{ask + ": " + q.Error}
		}
		return []string{ask + ": no answer"}
	}
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
	return []string{ask, ans}
}

// TestLookupLines: a lookup's question and answer lines in the timeline
// read as they did when fmt made them, in every shape a lookup takes
// (server or none, over TCP, retried, unanswered with and without its
// error, answered with records, none, an error code, a note).
func TestLookupLines(t *testing.T) {
	ms := func(v float64) *float64 { return &v }
	queries := []analyze.Query{
		{Name: "db.example", Type: "A", Server: "192.0.2.53:53", Rcode: "NOERROR", Answers: []string{"192.0.2.10"}, LatencyMS: ms(0.412)},
		{Name: "db.example", Type: "AAAA", Rcode: "NOERROR", LatencyMS: ms(1500), Retries: 2, Transport: "tcp"},
		{Name: "gone.example", Type: "A", Server: "[2001:db8::53]:53", Rcode: "NXDOMAIN", LatencyMS: ms(3.25), Transport: "udp"},
		{Name: "slow.example", Type: "A", Server: "192.0.2.53:53", Retries: 1},
		{Name: "cut.example", Type: "A", Server: "192.0.2.53:53", Error: "ICMP port unreachable from 192.0.2.53", Transport: "Tcp"},
		{Name: "two.example", Type: "A", Rcode: "NOERROR", Answers: []string{"192.0.2.1", "192.0.2.2"}, LatencyMS: ms(0.05), Error: "truncated answer (retried over TCP)"},
		{Name: "ünï.example", Type: "MX", Rcode: "SERVFAIL", LatencyMS: ms(12), Transport: "dñs"},
	}
	for _, q := range queries {
		c := &analyze.Connect{Resolution: []analyze.Query{q}}
		var k blockScratch
		k.timeline(c)
		var got []string
		for _, l := range k.lines {
			got = append(got, string(appendTimelineText(nil, 1, c, &l)))
		}
		if want := lookupLinesFormatted(q); !slices.Equal(got, want) {
			t.Errorf("lookup %+v:\ngot  %q\nwant %q", q, got, want)
		}
	}
}
