package report

import (
	"testing"

	"github.com/connscope/connscope/analyze"
)

// TestWordsOnlyWhenPrinted: the Writer words a connect only when it is
// printed now or may be later (not when --failed hides it, nor when the
// table and Markdown rollup views only count it). The report of the lab
// captures' connects as the engine gives them (no words yet) must be byte
// for byte the report of the same connects worded beforehand, in every
// format and with the options that decide what is printed: the rollup's
// examples, the connects held up to the threshold, --failed, --all,
// --redact, streaming (trace).
func TestWordsOnlyWhenPrinted(t *testing.T) {
	raw := labConnects(t)
	if len(raw) <= DefaultRollupThreshold {
		t.Fatalf("%d lab connects: too few for the rollup view", len(raw))
	}
	worded := make([]*analyze.Connect, len(raw))
	for i, c := range raw {
		worded[i] = explained(c, false)
	}
	for _, f := range Formats {
		for _, v := range []struct {
			name                           string
			failed, all, redact, streaming bool
			n                              int // connects given (all of them when 0)
		}{
			{name: "plain"}, {name: "streaming", streaming: true}, {name: "streaming-failed", streaming: true, failed: true}, {name: "failed", failed: true}, {name: "all", all: true}, {name: "redact-failed", redact: true, failed: true},
			{name: "threshold", n: DefaultRollupThreshold}, {name: "threshold-failed", n: DefaultRollupThreshold + 5, failed: true},
		} {
			t.Run(string(f)+"/"+v.name, func(t *testing.T) {
				n := len(raw)
				if v.n > 0 {
					n = v.n
				}
				opt := Options{Format: f, FailedOnly: v.failed, Redact: v.redact, Streaming: v.streaming, Rollup: &RollupOptions{All: v.all}}
				got, want := renderConnects(t, opt, raw[:n], 0), renderConnects(t, opt, worded[:n], 0)
				if got != want {
					t.Errorf("the report of unworded connects differs from that of connects worded first:\n%s", firstDiff(want, got))
				}
			})
		}
	}
}
