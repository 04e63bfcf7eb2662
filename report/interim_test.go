package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/rollup"
)

// Interim (trace --interval) prints the rollup and patterns of the connects
// so far between streamed connects: headed by the time and count, covering
// every connect so far, nothing when no connect came since the last one,
// nothing in the line format; the connects and the final rollup stay as
// they were.
func TestInterim(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 30, 0, time.UTC)
	cs := burstConnects(30)
	tests := []struct {
		format  Format
		heading string // what starts an interim (%d: the connects so far)
		pattern string
	}{
		{Table, "Rollup at 12:00:30 UTC: %d connects so far", rollup.AcceptBacklog},
		{Markdown, "### Rollup at 12:00:30 UTC: %d connects so far", rollup.AcceptBacklog},
		{JSON, `{"kind":"interval","time":"2026-12-06T12:00:30Z","connects":%d}`, `"id":"` + rollup.AcceptBacklog + `"`},
		{Line, "", ""},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{Format: tc.format, Streaming: true, Rollup: &RollupOptions{}})
		w.SetSource("lab-0.pcap") // as renderConnects names it
		var marks []int           // output length after each interim
		var spans [][2]int        // where each interim is in the output
		for i, c := range cs {
			if err := w.Connect(c); err != nil {
				t.Fatal(err)
			}
			if i == 2 || i == 29 {
				before := buf.Len()
				w.Interim(at)
				marks = append(marks, buf.Len())
				spans = append(spans, [2]int{before, buf.Len()})
				w.Interim(at) // nothing new: nothing printed
				if buf.Len() != marks[len(marks)-1] {
					t.Errorf("%s: a second interim without new connects printed:\n%s", tc.format, buf.String()[marks[len(marks)-1]:])
				}
			}
		}
		if err := w.Summary(fixtureSummary(cs)); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		plain := renderConnects(t, Options{Format: tc.format, Streaming: true, Rollup: &RollupOptions{}}, cs, 0)
		if tc.format == Line {
			if out != plain {
				t.Errorf("line: the interim changed the output:\n%s", firstDiff(plain, out))
			}
			continue
		}
		if n := strings.Count(out, strings.SplitN(tc.heading, "%d", 2)[0]); n != 2 {
			t.Errorf("%s: %d interim headings, want 2:\n%s", tc.format, n, out)
		}
		for _, want := range []string{fmt.Sprintf(tc.heading, 3), fmt.Sprintf(tc.heading, 30)} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q", tc.format, want)
			}
		}
		// The second interim covers all 30 connects and names the pattern
		// they form; the first (3 connects) is too early for it.
		second := out[strings.Index(out, fmt.Sprintf(tc.heading, 30)):]
		first := out[strings.Index(out, fmt.Sprintf(tc.heading, 3)):strings.Index(out, fmt.Sprintf(tc.heading, 30))]
		if !strings.Contains(second, tc.pattern) || strings.Contains(first, tc.pattern) {
			t.Errorf("%s: the pattern should be in the second interim only:\n%s", tc.format, out)
		}
		// Taking the interims out leaves the output as without them.
		stripped := out[:spans[0][0]] + out[spans[0][1]:spans[1][0]] + out[spans[1][1]:]
		if stripped != plain {
			t.Errorf("%s: the connects or the final report changed:\n%s", tc.format, firstDiff(plain, stripped))
		}
		if tc.format == JSON {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if !json.Valid([]byte(line)) {
					t.Errorf("json: invalid line %s", line)
				}
			}
		}
	}
}
