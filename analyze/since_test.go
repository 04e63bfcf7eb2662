package analyze

import (
	"testing"
	"time"
)

// TestSinceStart: an attempt's steps' offsets (finishAttempt) are t.Sub
// of its start for every t: before and after it, with and without
// monotonic clock readings on either, zero times, and differences too
// large for a Duration (Sub's saturated ones).
func TestSinceStart(t *testing.T) {
	wall := time.Date(2025, 3, 14, 9, 0, 1, 611000, time.UTC)
	mono := time.Now()
	var times []time.Time
	for _, base := range []time.Time{wall, mono, mono.Round(0), {}, wall.In(time.FixedZone("x", 3600))} {
		for _, d := range []time.Duration{0, 1, -1, 323 * time.Microsecond, -2 * time.Second, 90 * time.Minute, 1<<63 - 1, -1 << 63} {
			times = append(times, base.Add(d))
		}
		times = append(times, base.AddDate(300, 0, 0), base.AddDate(-300, 0, 0), base.AddDate(60, 0, 0), base.AddDate(-60, 0, 0))
	}
	// Clock readings of their own: their wall clocks and monotonic clocks
	// are read apart, and the two differences of two readings are most
	// often not the same (Sub takes the monotonic one).
	for range 50 {
		times = append(times, time.Now())
	}
	for _, start := range times {
		since := sinceOf(start)
		for _, x := range times {
			if got, want := since.to(x), x.Sub(start); got != want {
				t.Fatalf("%v since %v: %v, want %v", x, start, got, want)
			}
		}
	}
}
