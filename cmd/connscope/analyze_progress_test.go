package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/progress"
)

// Progress goes to standard error only when it is a terminal, the report
// does not go into a pipe and the format is not JSON (the decisions
// injected); it names the files' total, and leaves nothing behind: the
// line is cleared before the report's end, and the report itself carries
// no escape sequence.
func TestAnalyzeProgress(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	oldTerm, oldPipe, oldDelay, oldEvery := isTerminal, isPipe, progressDelay, progressEvery
	t.Cleanup(func() { isTerminal, isPipe, progressDelay, progressEvery = oldTerm, oldPipe, oldDelay, oldEvery })
	progressDelay, progressEvery = 0, time.Hour // one line at once, no other

	busy := filepath.Join("testdata", "volume", "busy.any.pcap")
	scan := filepath.Join("testdata", "volume", "port-scan.any.pcap")
	size := func(names ...string) int64 {
		var n int64
		for _, name := range names {
			st, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			n += st.Size()
		}
		return n
	}
	const clear = "\r\x1b[K"
	tests := []struct {
		name           string
		terminal, pipe bool
		args           []string
		total          int64 // 0: no progress expected
	}{
		{"terminal", true, false, []string{busy}, size(busy)},
		{"terminal, two files: their total", true, false, []string{busy, scan}, size(busy, scan)},
		{"terminal, markdown", true, false, []string{"--format", "markdown", busy}, size(busy)},
		{"terminal, report into a pipe", true, true, []string{busy}, 0},
		{"terminal, report into a pipe but -o FILE", true, true, []string{"-o", filepath.Join(t.TempDir(), "out.txt"), busy}, size(busy)},
		{"terminal, JSON", true, false, []string{"--format", "json", busy}, 0},
		{"standard error not a terminal", false, false, []string{busy}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isTerminal = func(io.Writer) bool { return tc.terminal }
			isPipe = func(io.Writer) bool { return tc.pipe }
			out, errOut, code := run(nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Contains(out, "\x1b") || strings.Contains(out, "reading ") {
				t.Errorf("progress in the report: %q", out[:min(len(out), 200)])
			}
			if tc.total == 0 {
				if errOut != "" {
					t.Errorf("standard error %q, want nothing", errOut)
				}
				return
			}
			want := clear + "reading 0 B of " + progress.Bytes(tc.total) + " (0%), 0 packets" + clear
			if errOut != want {
				t.Errorf("standard error %q, want %q", errOut, want)
			}
		})
	}
}
