package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/rollup"
)

// The traced namespace's listen queue counters are in every format's
// summary (typed in JSON), and tied to the accept_backlog pattern's
// evidence when they show drops; without counters (offline) neither
// appears.
func TestListenCountersInSummaryAndPattern(t *testing.T) {
	counters := &analyze.ListenCounters{ListenOverflows: 17, ListenDrops: 19, SyncookiesSent: 2}
	const tied = "the traced host's kernel counted 17 accept queue overflows and 19 listener drops"
	for _, f := range []Format{Table, Markdown, Line, JSON} {
		for _, live := range []bool{true, false} {
			var buf bytes.Buffer
			opt := Options{Format: f}
			if f != Line {
				opt.Rollup = &RollupOptions{}
			}
			w := NewWriter(&buf, opt)
			cs := burstConnects(30)
			for _, c := range cs {
				if err := w.Connect(c); err != nil {
					t.Fatal(err)
				}
			}
			s := fixtureSummary(cs)
			if live {
				s.Listen = counters
			}
			if err := w.Summary(s); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if f == JSON {
				var got *analyze.ListenCounters
				for _, line := range strings.Split(out, "\n") {
					if strings.HasPrefix(line, `{"kind":"summary"`) {
						var sum struct {
							Listen *analyze.ListenCounters `json:"listen_counters"`
						}
						if err := json.Unmarshal([]byte(line), &sum); err != nil {
							t.Fatal(err)
						}
						got = sum.Listen
					}
				}
				if live && (got == nil || *got != *counters) || !live && got != nil {
					t.Errorf("JSON, live %v: listen_counters %+v", live, got)
				}
			} else if strings.Contains(out, "17 accept queue overflows, 19 drops in all, 2 SYN cookies sent") != live {
				t.Errorf("%s, live %v: summary listen line shown = %v:\n%s", f, live, !live, out)
			}
			if f != Line && strings.Contains(out, tied) != live {
				t.Errorf("%s, live %v: accept_backlog evidence tied to the counters = %v:\n%s", f, live, !live, out)
			}
			if f != Line && !strings.Contains(out, rollup.AcceptBacklog) {
				t.Fatalf("%s: the fixtures no longer form accept_backlog:\n%s", f, out)
			}
		}
	}
}
