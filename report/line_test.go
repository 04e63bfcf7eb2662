package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
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

// TestLineColumnsAligned renders connects whose outcomes and errnos are of
// every length the analysis gives (the longest outcome, the longest errno
// name, an errno without a name) and checks that each column after them
// starts where the header's does: a value wider than its column shifts the
// rest of its line.
func TestLineColumnsAligned(t *testing.T) {
	for _, tc := range []struct {
		outcome analyze.Outcome
		errno   string
	}{
		{analyze.OK, ""},
		{analyze.ClosedBeforeGreeting, ""},
		{analyze.PermissionDenied, "EACCES"},
		{analyze.NoLocalPort, "EADDRNOTAVAIL"},
		{analyze.ClosedBeforeGreeting, "EPROTONOSUPPORT"},
		{analyze.Timeout, "errno 1234"},
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{Format: Line})
		c := &analyze.Connect{Outcome: tc.outcome, Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40001", Server: "192.0.2.10:3306", Outcome: tc.outcome, Errno: tc.errno,
			SYNCount: 1, Evidence: []string{"reason-marker"},
		}}}
		if err := w.Connect(c); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(buf.String(), "\n")
		if len(lines) < 2 {
			t.Fatalf("no connect line in %q", buf.String())
		}
		header, line := lines[0], lines[1]
		// SYN is right-aligned: its value ends where the header's does;
		// REASON is left-aligned: it starts where the header's does.
		if got, want := strings.Index(line, " 1 ")+2, strings.Index(header, "SYN")+3; got != want {
			t.Errorf("%s (%s): the SYN column ends at byte %d, the header's at %d:\n%s\n%s", tc.outcome, tc.errno, got, want, header, line)
		}
		if got, want := strings.Index(line, "reason-marker"), strings.Index(header, "REASON"); got != want {
			t.Errorf("%s (%s): the REASON column starts at byte %d, the header's at %d:\n%s\n%s", tc.outcome, tc.errno, got, want, header, line)
		}
		if tc.errno != "" && !strings.Contains(line, " "+tc.errno+" ") {
			t.Errorf("errno %s not shown: %s", tc.errno, line)
		}
	}
}

// TestLineClientFirst renders the real client-first captures of
// testdata/clientfirst (see its README for what record.sh did) in the line
// format: RESP/GREET shows the server's response time marked "r:" (the
// greeting delay is for server-first attempts), REASON starts with the
// reason id and ends with the slow part.
func TestLineClientFirst(t *testing.T) {
	for _, tc := range []struct {
		file     string
		resp     string // RESP/GREET cell, a regexp
		reasonID string
		slow     string // "" for no slow part
	}{
		// The client paused 1.35 s, the server answered at once.
		{"client-pause.pcap", `^r:0\.\d{3}ms$`, "app.server_answered", "; slow: client 1.4 s"},
		// The server waited 1 s before answering.
		{"server-slow.pcap", `^r:1\.0s$`, "app.server_answered", "; slow: server 1.0 s"},
		// The server never answered; nothing was slow before the client gave up.
		{"no-response.pcap", `^r:-$`, "app.request_unanswered", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "clientfirst", tc.file)
			r, err := capture.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var buf bytes.Buffer
			w := NewWriter(&buf, Options{Format: Line})
			if _, err := analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) {
				if err := w.Connect(c); err != nil {
					t.Fatal(err)
				}
			}}); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
				if !strings.HasPrefix(l, "#") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d connect lines, want 1:\n%s", len(lines), buf.String())
			}
			line := lines[0]
			// TIME PROCESS CLIENT → SERVER OUTCOME ERRNO SYN RTT RESP/GREET REASON...
			f := strings.Fields(line)
			if len(f) < 11 {
				t.Fatalf("%d fields, want at least 11: %s", len(f), line)
			}
			if !regexp.MustCompile(tc.resp).MatchString(f[9]) {
				t.Errorf("RESP/GREET %q, want %s: %s", f[9], tc.resp, line)
			}
			if f[10] != tc.reasonID+":" {
				t.Errorf("reason starts with %q, want %q: %s", f[10], tc.reasonID+":", line)
			}
			if tc.slow != "" && !strings.HasSuffix(line, tc.slow) {
				t.Errorf("line does not end with %q: %s", tc.slow, line)
			}
			if tc.slow == "" && strings.Contains(line, "slow:") {
				t.Errorf("slow part shown, want none: %s", line)
			}
		})
	}
}
