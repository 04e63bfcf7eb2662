package analyze

import (
	"testing"

	"github.com/connscope/connscope/event"
)

// TestSummaryErrors: a source's error is listed under its name, once.
func TestSummaryErrors(t *testing.T) {
	for _, tc := range []struct {
		source, err, want string
	}{
		{"/tmp/cut.pcap", "capture: /tmp/cut.pcap: packet 2 at byte offset 104: record cut short", "capture: /tmp/cut.pcap: packet 2 at byte offset 104: record cut short"},
		{"stdin", "capture: stdin: packet 9 at byte offset 900: bad block", "capture: stdin: packet 9 at byte offset 900: bad block"},
		{"/tmp/b.pcap", "/tmp/b.pcap: unexpected EOF", "/tmp/b.pcap: unexpected EOF"},
		{"afpacket", "read: socket closed", "afpacket: read: socket closed"},
		{"a", "capture: a.pcap: packet 1", "a: capture: a.pcap: packet 1"},
		{"", "broken", "input: broken"},
	} {
		e := NewEngine(Options{})
		e.AddStats(event.Stats{Source: tc.source, Err: tc.err})
		sum := e.Close()
		if len(sum.Errors) != 1 || sum.Errors[0] != tc.want {
			t.Errorf("source %q, error %q: summary errors %q, want %q", tc.source, tc.err, sum.Errors, tc.want)
		}
	}
}
