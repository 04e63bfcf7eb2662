package report

import (
	"io"
	"testing"

	"github.com/connscope/connscope/rollup"
)

// TestKeepsConnects: only a Writer that writes each connect at once and
// learns nothing from it (JSON without redaction, with or without the
// rollup) lets the caller reuse a connect's memory after Connect
// (analyze.Options.Recycle); table and Markdown hold connects for the
// rollup's examples, redaction learns names from them.
func TestKeepsConnects(t *testing.T) {
	roll := &RollupOptions{GroupBy: rollup.ByServer, Examples: rollup.DefaultExamples}
	tests := []struct {
		name string
		opt  Options
		want bool
	}{
		{"json", Options{Format: JSON}, false},
		{"json with rollup", Options{Format: JSON, Rollup: roll}, false},
		{"json redacted", Options{Format: JSON, Redact: true, Rollup: roll}, true},
		{"table with rollup", Options{Format: Table, Rollup: roll}, true},
		{"markdown with rollup", Options{Format: Markdown, Rollup: roll}, true},
		{"table", Options{Format: Table}, true},
		{"line", Options{Format: Line}, true},
	}
	for _, tc := range tests {
		if got := NewWriter(io.Discard, tc.opt).KeepsConnects(); got != tc.want {
			t.Errorf("%s: KeepsConnects() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
