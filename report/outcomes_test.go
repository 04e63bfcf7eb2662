package report

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// outcomeCounts counts each outcome however the connects interleave, and
// gives an empty map (connect_outcomes {}, not null) when nothing was
// counted.
func TestOutcomeCounts(t *testing.T) {
	for _, tc := range []struct {
		add  []analyze.Outcome
		want map[analyze.Outcome]int
		json string
	}{
		{nil, map[analyze.Outcome]int{}, `{}`},
		{[]analyze.Outcome{analyze.OK}, map[analyze.Outcome]int{analyze.OK: 1}, `{"ok":1}`},
		{[]analyze.Outcome{analyze.Refused, analyze.OK, analyze.Refused, analyze.Timeout, analyze.OK, analyze.Refused, ""},
			map[analyze.Outcome]int{analyze.OK: 2, analyze.Refused: 3, analyze.Timeout: 1, "": 1}, `{"":1,"ok":2,"refused":3,"timeout":1}`},
	} {
		var oc outcomeCounts
		for _, o := range tc.add {
			oc.add(o)
		}
		got := oc.m()
		if !maps.Equal(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.add, got, tc.want)
		}
		if b, _ := json.Marshal(got); string(b) != tc.json {
			t.Errorf("%v: JSON %s, want %s", tc.add, b, tc.json)
		}
	}
}
