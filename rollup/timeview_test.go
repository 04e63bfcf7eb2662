package rollup

import (
	"fmt"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
)

func TestTimeView(t *testing.T) {
	tests := []struct {
		name     string
		starts   []float64 // seconds after t0, refused when negative index is odd
		interval time.Duration
		bins     int
	}{
		{"one second", []float64{0, 0.5, 0.9}, time.Second, 1},
		{"59 s fits 1 s intervals", []float64{0, 59.5}, time.Second, 60},
		{"61 s needs 5 s", []float64{0, 61}, 5 * time.Second, 13},
		{"an hour needs 1 min", []float64{0, 1800, 3599}, time.Minute, 60},
		{"out of order", []float64{100, 0, 50}, 5 * time.Second, 21},
		{"a day", []float64{0, 86399}, 30 * time.Minute, 48},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{})
			for i, s := range tc.starts {
				reason := "mysql.login_ok"
				if i%2 == 1 {
					reason = "tcp.rst_from_server"
				}
				addAll(r, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.2.1:%d", i+1), server: db, startS: s, syns: 1, rtt: 0.1, first: 1, reason: reason}))
			}
			tv := r.Time()
			bins := tv.Bins()
			if tv.Interval() != tc.interval || len(bins) != tc.bins {
				t.Fatalf("interval %v, %d bins; want %v, %d", tv.Interval(), len(bins), tc.interval, tc.bins)
			}
			total := 0
			for i, b := range bins {
				for _, n := range b.Outcomes {
					total += n
				}
				if i > 0 && b.Start.Sub(bins[i-1].Start) != tc.interval {
					t.Fatalf("bin %d starts %v after the previous", i, b.Start.Sub(bins[i-1].Start))
				}
			}
			if total != len(tc.starts) {
				t.Fatalf("bins hold %d attempts, want %d", total, len(tc.starts))
			}
			if first := bins[0]; first.Outcomes[analyze.OK] == 0 && tc.starts[0] == 0 {
				t.Fatalf("first bin %+v", first)
			}
		})
	}
}

// Established connections count from the SYN-ACK to the FIN in the
// timeline, or to the attempt's end.
func TestTimeViewEstablished(t *testing.T) {
	r := New(Options{})
	// Three connections held 0-2.5 s (FIN at 2.5 s), one at 5 s, one refused.
	for i := 0; i < 3; i++ {
		addAll(r, connect(t, "", 3306, at{client: fmt.Sprintf("192.0.2.1:%d", i+1), server: db, startS: 0.1 * float64(i), syns: 1, rtt: 0.1, first: 20000, fin: 2500, reason: "mysql.greeting_late"}))
	}
	addAll(r, connect(t, "", 3306, at{client: "192.0.2.1:9", server: db, startS: 5, syns: 1, rtt: 0.1, first: 1, reason: "mysql.login_ok"}))
	addAll(r, connect(t, "", 3306, at{client: "192.0.2.1:10", server: "198.51.100.1:1", startS: 1, syns: 1, rtt: -1, first: -1, reason: "tcp.rst_from_server"}))
	var got []int
	for _, b := range r.Time().Bins() {
		got = append(got, b.Established[db])
	}
	want := []int{3, 3, 3, 0, 0, 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("established per second %v, want %v", got, want)
	}
	if p := r.Time().PeakEstablished(db, t0, t0.Add(10*time.Second)); p != 3 {
		t.Fatalf("peak %d", p)
	}
}
