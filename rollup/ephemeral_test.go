package rollup

import (
	"fmt"
	"slices"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// ephemeral_ports: one client address using half or more of its local
// port range towards one server endpoint within the 60 s TIME_WAIT
// window, or any connect() that failed with EADDRNOTAVAIL (direct
// evidence, live). The port range is the host's when given, else Linux's
// default, and the facts say which.
func TestEphemeralPorts(t *testing.T) {
	// every connect from 192.0.2.10 to db, n of them, step seconds apart
	seq := func(n int, step float64) func(t *testing.T) []*analyze.Connect {
		return func(t *testing.T) []*analyze.Connect {
			var cs []*analyze.Connect
			for i := 0; i < n; i++ {
				cs = append(cs, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.2.10:%d", 40000+i%4), server: db, startS: float64(i) * step, syns: 1, rtt: 0.1, first: 1, reason: "mysql.login_ok"}))
			}
			return cs
		}
	}
	narrow := [2]int{40000, 40003}
	tests := []struct {
		name      string
		portRange [2]int
		connects  func(t *testing.T) []*analyze.Connect
		want      bool
		facts     Facts // the fields checked: PortsInWindow, PortRange, PortRangeAssumed, NoLocalPort
	}{
		{"narrow range, 4 connects within 60 s", narrow, seq(4, 10), true, Facts{PortsInWindow: 4, PortRange: "40000-40003"}},
		{"narrow range, connects 30 s apart: at most 2 in a window", narrow, seq(6, 30), false, Facts{}},
		{"narrow range, 3 of 4 ports in a window: under the least count", narrow, seq(3, 1), false, Facts{}},
		{"default range assumed, 100 connects in 10 s", [2]int{}, seq(100, 0.1), false, Facts{}},
		{"default range assumed, 15000 connects in 50 s", [2]int{}, seq(15000, 50.0/15000), true,
			Facts{PortsInWindow: 15000, PortRange: "32768-60999", PortRangeAssumed: true}},
		{"the window slides: 15000 connects over 150 s", [2]int{}, seq(15000, 150.0/15000), false, Facts{}},
		{"EADDRNOTAVAIL from connect()", [2]int{}, func(t *testing.T) []*analyze.Connect {
			return []*analyze.Connect{
				connect(t, "", 3306, at{client: "192.0.2.10:40000", server: db, startS: 0, syns: 1, rtt: 0.1, first: 1, reason: "mysql.login_ok"}),
				connect(t, "", 3306, at{server: db, startS: 1, rtt: -1, first: -1, reason: "kernel.eaddrnotavail"}),
			}
		}, true, Facts{PortsInWindow: 1, PortRange: "32768-60999", PortRangeAssumed: true, NoLocalPort: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{PortRange: tc.portRange})
			addAll(r, tc.connects(t)...)
			ps := r.Patterns()
			got := slices.Contains(ids(ps), EphemeralPorts)
			if got != tc.want {
				t.Fatalf("ephemeral_ports found: %v, want %v (patterns %v)", got, tc.want, ids(ps))
			}
			if !got {
				return
			}
			p := find(ps, EphemeralPorts)
			f := p.Facts
			if f.PortsInWindow != tc.facts.PortsInWindow || f.PortRange != tc.facts.PortRange || f.PortRangeAssumed != tc.facts.PortRangeAssumed || f.NoLocalPort != tc.facts.NoLocalPort {
				t.Errorf("facts %+v, want %+v", f, tc.facts)
			}
			if p.Server != db || len(p.Numbers) == 0 {
				t.Errorf("pattern %+v", p)
			}
		})
	}
}
