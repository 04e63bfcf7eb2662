package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// An attempt seen from its server's host is marked as such in the table and
// Markdown formats (headline and Server cell) and typed in JSON
// (server_side); an attempt seen from the client only is not.
func TestServerSideMarked(t *testing.T) {
	mk := func(serverSide bool) *analyze.Connect {
		return &analyze.Connect{Client: "192.0.2.1", Port: 3306, Outcome: analyze.Refused, Attempts: []*analyze.Attempt{{
			Client: "192.0.2.1:40000", Server: "192.0.2.2:3306", Outcome: analyze.Refused, Reason: analyze.ReasonRSTFromServer,
			Events: []analyze.Event{}, ServerSide: serverSide,
		}}}
	}
	for _, f := range []Format{Table, Markdown, JSON} {
		for _, side := range []bool{true, false} {
			var out bytes.Buffer
			w := NewWriter(&out, Options{Format: f})
			w.Connect(mk(side))
			if err := w.Summary(analyze.Summary{}); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			var marks []string
			if f == JSON {
				marks = []string{`"server_side":true`}
			} else {
				marks = []string{serverSideMark, "192.0.2.2:3306 (server side)"}
			}
			for _, m := range marks {
				if strings.Contains(s, m) != side {
					t.Errorf("%v, server side %v: %q shown = %v:\n%s", f, side, m, !side, s)
				}
			}
		}
	}
}
