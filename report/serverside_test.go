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
	for _, f := range []Format{Table, Markdown, JSON, Line} {
		for _, side := range []bool{true, false} {
			var out bytes.Buffer
			w := NewWriter(&out, Options{Format: f})
			w.Connect(mk(side))
			if err := w.Summary(analyze.Summary{}); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			var marks []string
			switch f {
			case JSON:
				marks = []string{`"server_side":true`}
			case Line:
				// The SERVER field (the fourth after the time, the
				// process, the client and the arrow), one field.
				marks = []string{"192.0.2.2:3306(server-side)"}
				if fields := strings.Fields(lastLine(s)); len(fields) < 5 || !strings.HasPrefix(fields[4], "192.0.2.2:3306") {
					t.Errorf("line, server side %v: SERVER field not the fifth blank-separated one:\n%s", side, s)
				} else if got, want := fields[4] == "192.0.2.2:3306(server-side)", side; got != want {
					t.Errorf("line, server side %v: SERVER field %q", side, fields[4])
				}
			default:
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

// lastLine is the last line of s that is not a comment (# ...) or empty.
func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "#") {
			return lines[i]
		}
	}
	return ""
}
