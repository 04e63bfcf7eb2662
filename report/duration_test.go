package report

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
)

// TestTableAndTimelineAgreeOnDurations: on every lab capture, the RTT and
// Greeting cells of an attempt's table row appear verbatim in the timeline
// events the engine wrote for the same values ("(RTT 0.044 ms)", "(5.0 s
// after the handshake)"): one duration formatter for both. Before it the
// table said "0.044 ms" and the timeline "RTT 0.04 ms".
func TestTableAndTimelineAgreeOnDurations(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.pcap*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no lab captures in ../testdata/captures (make testdata records them): %v", err)
	}
	const rttCol, greetingCol = 6, 7
	if attemptHeader[rttCol] != "RTT" || attemptHeader[greetingCol] != "Greeting" {
		t.Fatalf("attemptHeader moved its columns: %q", attemptHeader)
	}
	rtts, greetings := 0, 0
	for _, path := range files {
		r, err := capture.Open(path)
		if err != nil {
			continue // a capture without packets (socket-missing) has no attempt
		}
		var cs []*analyze.Connect
		_, err = analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) { cs = append(cs, c) }})
		r.Close()
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		for n, c := range cs {
			var rows textTable
			rows.reset(attemptHeader)
			(&textRenderer{style: tableStyle{}}).addAttemptRows(&rows, n+1, c)
			cell := func(r, col int) string { text, _ := rows.cell(r+1, col); return string(text) }
			for i, a := range c.Attempts {
				if a == nil || i >= rows.rows() {
					continue
				}
				for _, e := range a.Events {
					e.What = EventWords(&e)
					if a.RTTMS != nil && strings.Contains(e.What, "SYN-ACK") && strings.Contains(e.What, "(RTT ") {
						rtts++
						if want := "(RTT " + cell(i, rttCol); !strings.Contains(e.What, want) {
							t.Errorf("%s connect %d: RTT cell %q, timeline %q", filepath.Base(path), n+1, cell(i, rttCol), e.What)
						}
					}
					if a.GreetingDelayMS != nil && strings.HasPrefix(e.What, "greeting:") {
						greetings++
						if want := "(" + cell(i, greetingCol) + " after the handshake"; !strings.Contains(e.What, want) {
							t.Errorf("%s connect %d: Greeting cell %q, timeline %q", filepath.Base(path), n+1, cell(i, greetingCol), e.What)
						}
					}
				}
			}
		}
	}
	if rtts == 0 || greetings == 0 {
		t.Fatalf("the lab captures gave %d RTT and %d greeting events to compare: the event texts changed?", rtts, greetings)
	}
}

// fmtOffset writes what fmt's "%+.3f ms" / "%+.3f s " wrote before it was
// made without fmt: the sign always, rounding at the microsecond, the unit
// switch at a second, negative offsets.
func TestFmtOffsetAsFmt(t *testing.T) {
	ref := func(d time.Duration) string {
		ms := float64(d) / float64(time.Millisecond)
		if ms < 1000 && ms > -1000 {
			return fmt.Sprintf("%+.3f ms", ms)
		}
		return fmt.Sprintf("%+.3f s ", ms/1000)
	}
	ds := []time.Duration{0, 1, -1, 499, 500, 501, -500, 999, 1000, -1000, 999999, 999999500, 999999499, 999999999, time.Second,
		-time.Second, -999999999, 1500 * time.Millisecond, 1234567891, time.Hour, -time.Hour, 1 << 62, -1 << 62}
	for i := range 5000 {
		ds = append(ds, time.Duration(i)*997, time.Duration(-i)*1234567, time.Duration(i)*999999937)
	}
	for _, d := range ds {
		if got, want := fmtOffset(d), ref(d); got != want {
			t.Errorf("fmtOffset(%d) = %q, want %q", d, got, want)
		}
	}
}
