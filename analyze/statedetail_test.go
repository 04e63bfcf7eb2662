package analyze

import (
	"testing"

	"github.com/connscope/connscope/event"
)

// TestStateDetail checks the state change steps' shared Details: each
// names its pair's states (stateName, also for a state number past the
// table), one per pair within an engine.
func TestStateDetail(t *testing.T) {
	e := NewEngine(Options{Live: true})
	for _, tc := range []struct{ from, to uint8 }{
		{event.TCPSynSent, event.TCPEstablished},
		{event.TCPEstablished, event.TCPCloseWait},
		{event.TCPSynSent, event.TCPClose},
		{event.TCPLastAck, event.TCPClose},
		{20, event.TCPClose},
		{event.TCPClose, 200},
	} {
		d := e.stateDetail(tc.from, tc.to)
		if d.StateFrom != stateName(tc.from) || d.StateTo != stateName(tc.to) || d.PID != 0 || d.Comm != "" {
			t.Errorf("%d→%d: %+v, want %s→%s", tc.from, tc.to, *d, stateName(tc.from), stateName(tc.to))
		}
		if again := e.stateDetail(tc.from, tc.to); (again == d) != (tc.from < 16 && tc.to < 16) {
			t.Errorf("%d→%d: the same Detail again: %v", tc.from, tc.to, again == d)
		}
	}
}
