package report

import (
	"io"
	"testing"

	"github.com/connscope/connscope/rollup"
)

// TestKeepsConnects: a Writer that renders each connect into text at
// once and learns nothing from it (any format without redaction, unless
// the table and Markdown formats may still print the connects one by one
// or as the rollup's examples) lets the caller reuse a connect's memory
// after Connect (analyze.Options.Recycle); the table and Markdown rollup
// holds connects, redaction learns names from them.
func TestKeepsConnects(t *testing.T) {
	roll := &RollupOptions{GroupBy: rollup.ByServer, Examples: rollup.DefaultExamples}
	all := &RollupOptions{All: true, GroupBy: rollup.ByServer, Examples: rollup.DefaultExamples}
	tests := []struct {
		name string
		opt  Options
		want bool
	}{
		{"json", Options{Format: JSON}, false},
		{"json with rollup", Options{Format: JSON, Rollup: roll}, false},
		{"json redacted", Options{Format: JSON, Redact: true, Rollup: roll}, true},
		{"table with rollup (its examples are owned copies)", Options{Format: Table, Rollup: roll}, false},
		{"markdown with rollup", Options{Format: Markdown, Rollup: roll}, false},
		{"table --all", Options{Format: Table, Rollup: all}, false},
		{"markdown --all", Options{Format: Markdown, Rollup: all}, false},
		{"table --all redacted", Options{Format: Table, Redact: true, Rollup: all}, true},
		{"table streaming with rollup", Options{Format: Table, Streaming: true, Rollup: roll}, false},
		{"table", Options{Format: Table}, false},
		{"line", Options{Format: Line}, false},
		{"line with rollup", Options{Format: Line, Rollup: roll}, false},
		{"line redacted", Options{Format: Line, Redact: true}, true},
	}
	for _, tc := range tests {
		if got := NewWriter(io.Discard, tc.opt).KeepsConnects(); got != tc.want {
			t.Errorf("%s: KeepsConnects() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
