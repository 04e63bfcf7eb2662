package analyze

import (
	"slices"
	"testing"
)

// TestConcatShares checks concat, which gives a connect its words from
// its attempts': the parts in order, nil when all are empty, and a result
// that shares one part's memory is clipped, so that appending to it (as
// probe does to a connect's evidence) never writes into that part.
func TestConcatShares(t *testing.T) {
	roomy := make([]string, 1, 4) // room after its one word: an append would write there
	roomy[0] = "login OK"
	for _, tc := range []struct {
		name  string
		parts [][]string
		want  []string
	}{
		{name: "all empty", parts: [][]string{nil, {}, nil}, want: nil},
		{name: "one part", parts: [][]string{nil, roomy, nil}, want: []string{"login OK"}},
		{name: "several parts", parts: [][]string{{"a"}, nil, roomy, {"b", "c"}}, want: []string{"a", "login OK", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := concat(tc.parts...)
			if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Fatalf("concat = %q, want %q", got, tc.want)
			}
			_ = append(got, "appended by a caller")
			if full := roomy[:cap(roomy)]; full[1] != "" {
				t.Errorf("appending to the result wrote %q into a part's memory", full[1])
			}
		})
	}
}
