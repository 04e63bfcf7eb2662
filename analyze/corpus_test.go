package analyze

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/connscope/connscope/capture"
)

// corpusDir is the third-party capture corpus (real and deliberately
// malformed files), next to the repository: ../shared/corpus/tcpdump from
// the module root.
const corpusDir = "../../shared/corpus/tcpdump"

// TestCorpus runs the engine over every corpus file: whatever the packets,
// no panic, no hang, and consistent reports.
func TestCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*"))
	if err != nil || len(files) == 0 {
		t.Skipf("capture corpus not found at %s (from the module root: ../shared/corpus/tcpdump)", corpusDir)
	}
	var packets, connects uint64
	for _, path := range files {
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
			continue
		}
		r, err := capture.Open(path)
		if err != nil {
			continue // not a capture the reader accepts: its own tests cover that
		}
		var got []*Connect
		sum, _ := RunSource(r, Options{OnConnect: func(c *Connect) { Explain(c); got = append(got, c) }})
		r.Close()
		checkInvariants(t, got, sum)
		packets += sum.Packets
		connects += uint64(len(got))
	}
	t.Logf("%d files, %d packets, %d connects", len(files), packets, connects)
}
