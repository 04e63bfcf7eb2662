package load

import (
	"testing"
	"time"
)

func TestCountReportedViews(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	tests := []struct {
		name               string
		m                  map[string][]Reported
		once, dups, reused int64
	}{
		{"one attempt each", map[string][]Reported{"a": {{at(0), true}}, "b": {{at(0), false}}}, 2, 0, 0},
		{"a port reused 0.2 ms later: two whole connects", map[string][]Reported{"a": {{at(200), true}, {at(0), true}}}, 2, 0, 1},
		{"one connect split: packets only, socket only", map[string][]Reported{"a": {{at(0), false}, {at(100), false}}}, 1, 1, 0},
		{"three within 0.45 ms: socket only, whole, packets only", map[string][]Reported{"a": {{at(0), false}, {at(200), true}, {at(450), false}}}, 1, 2, 0},
		{"reused much later, parts or not", map[string][]Reported{"a": {{at(0), false}, {at(6000), false}}}, 2, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			once, dups, reused := CountReportedViews(tc.m)
			if once != tc.once || dups != tc.dups || reused != tc.reused {
				t.Errorf("once %d dups %d reused %d, want %d %d %d", once, dups, reused, tc.once, tc.dups, tc.reused)
			}
		})
	}
}
