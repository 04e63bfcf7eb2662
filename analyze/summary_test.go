package analyze

import (
	"fmt"
	"maps"
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

// TestKeepOwnsTheCounts: a connect Options.Keep rejects is neither handed
// to OnConnect nor counted in the Summary, so the Summary's counts are those
// of the connects reported (live's process filters rely on it; nobody
// rewrites them afterwards).
func TestKeepOwnsTheCounts(t *testing.T) {
	for _, tc := range []struct {
		name              string
		keep              func(*Connect) bool
		connects, refused int
	}{
		{"no filter", nil, 3, 2},
		{"keep all", func(*Connect) bool { return true }, 3, 2},
		{"leave out refused", func(c *Connect) bool { return c.Outcome != Refused }, 1, 0},
		{"leave out all", func(*Connect) bool { return false }, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{Keep: tc.keep})
			for i, srv := range []string{"192.0.2.20:3306", "192.0.2.21:3306", "192.0.2.22:3306"} {
				k := s.conn(fmt.Sprintf("192.0.2.10:%d", 40000+i), srv)
				if i == 0 {
					k.handshake(float64(i*10), 0.1)
				} else {
					k.SYN(float64(i * 10))
					k.refuse(float64(i*10) + 0.1)
				}
			}
			sum := s.close()
			if len(s.got) != tc.connects || sum.Connects != tc.connects || sum.Attempts != tc.connects || sum.Outcomes[Refused] != tc.refused {
				t.Errorf("delivered %d connects; summary %d connects, %d attempts, %d refused; want %d, %d, %d, %d",
					len(s.got), sum.Connects, sum.Attempts, sum.Outcomes[Refused], tc.connects, tc.connects, tc.connects, tc.refused)
			}
		})
	}
}

// TestSummaryOutcomesCountEveryAttempt: Summary.Outcomes counts every
// reported attempt under its own outcome (the engine counts them in a
// short list, not a map, and makes the map at the end): several outcomes,
// each more than once, interleaved, and a second summary after Close
// gives the same counts.
func TestSummaryOutcomesCountEveryAttempt(t *testing.T) {
	s := newSim(t, Options{})
	for i := range 12 {
		k := s.conn(fmt.Sprintf("192.0.2.10:%d", 41000+i), fmt.Sprintf("192.0.2.%d:3306", 20+i))
		ms := float64(i * 50)
		switch i % 4 {
		case 0:
			k.handshake(ms, 0.1)
		case 1, 3:
			k.SYN(ms)
			k.refuse(ms + 0.1)
		case 2:
			k.SYN(ms)
			k.icmp(ms+0.2, "192.0.2.1", false, 3, 1)
		}
	}
	sum := s.close()
	want := map[Outcome]int{}
	for _, c := range s.got {
		for _, a := range c.Attempts {
			want[a.Outcome]++
		}
	}
	if len(want) < 3 {
		t.Fatalf("the connects gave outcomes %v: want three kinds or more for this test", want)
	}
	if !maps.Equal(sum.Outcomes, want) {
		t.Errorf("summary outcomes %v, want %v (the delivered attempts')", sum.Outcomes, want)
	}
	if again := s.e.Close(); !maps.Equal(again.Outcomes, want) {
		t.Errorf("second summary's outcomes %v, want %v", again.Outcomes, want)
	}
}
