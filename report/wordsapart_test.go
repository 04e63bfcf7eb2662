package report

import (
	"bufio"
	"bytes"
	"slices"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// The JSON Writer words a connect's attempts apart from them
// (wordsScratch.wordsApart): its lines are those of the connect worded
// in a copy (explained), and the caller's attempts keep no words.
func TestJSONWordsApart(t *testing.T) {
	if !fastJSON {
		t.Skip("the hand-written encoder is off (the model changed)")
	}
	cs := labConnects(t)
	// Made by hand: an attempt with its own words (kept), one with its
	// own causes only, a nil attempt, a connect with its own words.
	cs = append(cs,
		&analyze.Connect{Client: "192.0.2.1", Port: 3306, Outcome: analyze.Refused, Attempts: []*analyze.Attempt{
			{Client: "192.0.2.1:40000", Server: "198.51.100.1:3306", Outcome: analyze.Timeout, Reason: analyze.ReasonSYNUnanswered,
				Evidence: []string{"given by hand"}, Causes: []string{"a cause by hand"}},
			nil,
			{Client: "192.0.2.1:40001", Server: "198.51.100.2:3306", Outcome: analyze.Refused, Reason: analyze.ReasonRSTFromServer,
				Causes: []string{"only the causes by hand"}},
		}},
		&analyze.Connect{Client: "192.0.2.1", Port: 3306, Outcome: analyze.Refused, Evidence: []string{"the connect's own"}, Attempts: []*analyze.Attempt{
			{Client: "192.0.2.1:40002", Server: "198.51.100.3:3306", Outcome: analyze.Refused, Reason: analyze.ReasonRSTFromServer}}})
	multi := 0
	for _, c := range cs {
		if len(c.Attempts) > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Fatal("no connect of several attempts to check")
	}
	// What each attempt had before, to see the Writer left it so.
	type lists struct{ evidence, causes []string }
	before := make([][]lists, len(cs))
	for i, c := range cs {
		for _, a := range c.Attempts {
			var l lists
			if a != nil {
				l = lists{a.Evidence, a.Causes}
			}
			before[i] = append(before[i], l)
		}
	}
	var out bytes.Buffer
	w := NewWriter(&out, Options{Format: JSON})
	for _, c := range cs {
		if err := w.Connect(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for i, c := range cs {
		if !sc.Scan() {
			t.Fatalf("%d lines for %d connects", i, len(cs))
		}
		want, err := appendConnectLine(nil, jsonConnect{Kind: "connect", Number: i + 1, Connect: explained(c, true)})
		if err != nil {
			t.Fatal(err)
		}
		if got := append(sc.Bytes(), '\n'); !bytes.Equal(got, want) {
			t.Errorf("connect %d: the Writer wrote\n%s\nwant (worded in a copy)\n%s", i+1, got, want)
		}
		for j, a := range c.Attempts {
			if a != nil && (!slices.Equal(a.Evidence, before[i][j].evidence) || !slices.Equal(a.Causes, before[i][j].causes) ||
				(a.Evidence == nil) != (before[i][j].evidence == nil)) {
				t.Errorf("connect %d attempt %d: the Writer changed the caller's words: %q %q", i+1, j, a.Evidence, a.Causes)
			}
		}
	}
}
