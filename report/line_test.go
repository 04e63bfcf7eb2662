package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
)

// lineCaptures are lab captures (testdata/captures, recorded by make
// testdata) covering the line format's cases: an ok login by name, a
// fallback over two addresses, no SYN on the wire, a late greeting, a
// failed lookup, a server error.
var lineCaptures = []string{
	"ok-name-mariadb.any.pcap",
	"aaaa-blackhole-mariadb.any.pcap",
	"arp-fail-mariadb.any.pcap",
	"greeting-5s-mariadb.any.pcap",
	"nxdomain-mariadb.any.pcap",
	"wrong-password-php.any.pcap",
	"refused-mariadb.any.pcap",
}

// TestLineGoldenFromLab renders real lab captures in the line format, the
// way `connscope analyze --format line FILE...` does, and compares with
// testdata/golden/line-lab.line.txt.
func TestLineGoldenFromLab(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Options{Format: Line})
	total := analyze.Summary{Outcomes: map[analyze.Outcome]int{}}
	for _, name := range lineCaptures {
		path := filepath.Join("..", "testdata", "captures", name)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("lab capture missing (make testdata records it): %v", err)
		}
		r, err := capture.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.SetSource(name); err != nil {
			t.Fatal(err)
		}
		sum, err := analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) {
			if err := w.Connect(c); err != nil {
				t.Fatal(err)
			}
		}})
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		total.Connects += sum.Connects
		total.Attempts += sum.Attempts
		total.Packets += sum.Packets
		for o, n := range sum.Outcomes {
			total.Outcomes[o] += n
		}
	}
	if err := w.Summary(total); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	// One line per connect: every non-# line is a connect.
	n := 0
	for _, l := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
		if !strings.HasPrefix(l, "#") {
			n++
		}
	}
	if n != total.Connects || n < len(lineCaptures) {
		t.Errorf("%d connect lines for %d connects:\n%s", n, total.Connects, got)
	}
	checkGolden(t, filepath.Join("testdata", "golden", "line-lab.line.txt"), got)
}
