package report

import (
	"bytes"
	"testing"
)

// In streaming mode each connect is written at once, unless HoldFlush: then
// it waits in the buffer for Flush (or Summary).
func TestStreamingHoldFlush(t *testing.T) {
	for _, f := range []Format{Table, Markdown, JSON, Line} {
		for _, hold := range []bool{false, true} {
			var out bytes.Buffer
			w := NewWriter(&out, Options{Format: f, Streaming: true, HoldFlush: hold})
			w.SetSource("live")
			before := out.Len()
			c := fixtureConnects()[0]
			if err := w.Connect(c); err != nil {
				t.Fatal(err)
			}
			if wrote := out.Len() > before; wrote == hold {
				t.Errorf("%s, HoldFlush %v: connect written before Flush = %v", f, hold, wrote)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.Len() == before {
				t.Errorf("%s, HoldFlush %v: nothing written after Flush", f, hold)
			}
		}
	}
}
