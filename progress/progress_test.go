package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/event"
)

func TestLine(t *testing.T) {
	tests := []struct {
		read, total, packets int64
		elapsed              time.Duration
		want                 string
	}{
		{0, 0, 0, 0, "reading 0 B, 0 packets"},
		{45_200_000, 120_000_000, 312004, 2 * time.Second, "reading 45.2 MB of 120.0 MB (37%), 312004 packets, 22.6 MB/s, 4 s left"},
		{1, 1000, 1, time.Second, "reading 1 B of 1.0 kB (0%), 1 packet, 1 B/s, 16 min 39 s left"},
		{999_999, 0, 10, time.Second, "reading 1000.0 kB, 10 packets, 1000.0 kB/s"}, // standard input: no total, no time left
		{2_000_000_000, 2_000_000_000, 5, 4 * time.Second, "reading 2.0 GB of 2.0 GB (100%), 5 packets, 500.0 MB/s"},
		{3_000, 2_000, 5, time.Second, "reading 3.0 kB of 2.0 kB (100%), 5 packets, 3.0 kB/s"}, // a file that grew while read
		{10_000_000, 7_210_000_000, 1, time.Second, "reading 10.0 MB of 7.2 GB (0%), 1 packet, 10.0 MB/s, 12 min 00 s left"},
		{1_000_000, 8_000_000_000, 1, time.Second, "reading 1.0 MB of 8.0 GB (0%), 1 packet, 1.0 MB/s, 2 h 13 min left"},
		{500, 1000, 3, 0, "reading 500 B of 1.0 kB (50%), 3 packets"}, // no time elapsed: no rate
	}
	for _, tc := range tests {
		if got := Line(tc.read, tc.total, tc.packets, tc.elapsed); got != tc.want {
			t.Errorf("Line(%d, %d, %d, %v) = %q, want %q", tc.read, tc.total, tc.packets, tc.elapsed, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "1 s"}, {time.Millisecond, "1 s"}, {time.Second, "1 s"}, {1500 * time.Millisecond, "2 s"}, {59 * time.Second, "59 s"},
		{60 * time.Second, "1 min 00 s"}, {125 * time.Second, "2 min 05 s"}, {3599 * time.Second, "59 min 59 s"},
		{3600 * time.Second, "1 h 00 min"}, {26*time.Hour + 3*time.Minute, "26 h 03 min"},
	} {
		if got := Duration(tc.d); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestShow(t *testing.T) {
	for _, tc := range []struct {
		terminal, pipe, json, want bool
	}{
		{true, false, false, true},
		{true, true, false, false},   // | less, | grep
		{true, false, true, false},   // JSON
		{false, false, false, false}, // stderr redirected to a file
		{false, true, false, false},
		{true, true, true, false},
	} {
		if got := Show(tc.terminal, tc.pipe, tc.json); got != tc.want {
			t.Errorf("Show(terminal %v, pipe %v, json %v) = %v, want %v", tc.terminal, tc.pipe, tc.json, got, tc.want)
		}
	}
}

type packets struct{ n int }

func (p *packets) Next() (*event.Packet, error) {
	if p.n == 0 {
		return nil, io.EOF
	}
	p.n--
	return &event.Packet{}, nil
}

func (p *packets) Stats() event.Stats { return event.Stats{} }

// The meter counts the bytes read through Through (again from zero when a
// file is opened again) and the packets of Source, draws at once with no
// delay, clears its line before the report writes, and leaves nothing on
// the terminal after Stop.
func TestMeter(t *testing.T) {
	var term bytes.Buffer
	m := New(&term, []int64{100, 300})
	clock := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return clock }
	m.Start(0, time.Hour)
	if got, want := term.String(), clearLine+"reading 0 B of 400 B (0%), 0 packets"; got != want {
		t.Fatalf("first draw %q, want %q", got, want)
	}
	read := func(i int, n int) {
		if _, err := io.Copy(io.Discard, m.Through(i)(strings.NewReader(strings.Repeat("x", n)))); err != nil {
			t.Fatal(err)
		}
	}
	read(0, 100)
	read(1, 50)
	read(1, 100) // file 1 opened again and read to 100
	src := m.Source(&packets{n: 7})
	for {
		if _, err := src.Next(); err != nil {
			break
		}
	}
	clock = clock.Add(2 * time.Second)
	term.Reset()
	m.draw()
	if got, want := term.String(), clearLine+"reading 200 B of 400 B (50%), 7 packets, 100 B/s, 2 s left"; got != want {
		t.Errorf("draw %q, want %q", got, want)
	}
	term.Reset()
	w := m.Writer(&term)
	io.WriteString(w, "report\n")
	io.WriteString(w, "more\n")
	if got, want := term.String(), clearLine+"report\nmore\n"; got != want {
		t.Errorf("report written as %q, want %q (the line cleared once first)", got, want)
	}
	m.draw()
	term.Reset()
	m.Stop()
	m.Stop()
	if got := term.String(); got != clearLine {
		t.Errorf("Stop wrote %q, want the line cleared once", got)
	}
}

// With a size unknown (standard input) there is no total.
func TestMeterUnknownSize(t *testing.T) {
	var term bytes.Buffer
	m := New(&term, []int64{100, -1})
	m.draw()
	if got := term.String(); !strings.HasSuffix(got, "reading 0 B, 0 packets") {
		t.Errorf("draw %q", got)
	}
}

// A nil meter (progress off) is a no-op that leaves readers and writers
// as they are.
func TestNilMeter(t *testing.T) {
	var m *Meter
	var b bytes.Buffer
	if m.Writer(&b) != io.Writer(&b) {
		t.Error("Writer wrapped")
	}
	r := strings.NewReader("x")
	if m.Through(0)(r) != io.Reader(r) {
		t.Error("Through wrapped")
	}
	src := &packets{}
	if m.Source(src) != Source(src) {
		t.Error("Source wrapped")
	}
	m.Packet()
	m.Start(0, time.Second)
	m.Stop()
}
