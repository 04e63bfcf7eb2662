package analyze

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/connscope/connscope/capture"
)

// capturesDir holds the lab's recorded captures and their manifest
// (lab/record.sh, `make testdata`). CONNSCOPE_CAPTURES points the golden
// tests at another recording.
var capturesDir = func() string {
	if d := os.Getenv("CONNSCOPE_CAPTURES"); d != "" {
		return d
	}
	return "../testdata/captures"
}()

type manifestFile struct {
	Scenarios []manifestEntry `json:"scenarios"`
}

type manifestEntry struct {
	Scenario   string `json:"scenario"`
	Client     string `json:"client"`
	Command    string `json:"command"`
	ErrorText  string `json:"error_text"`
	ExitCode   int    `json:"exit_code"`
	ElapsedMS  int64  `json:"elapsed_ms"`
	Any        string `json:"any"`
	Veth       string `json:"veth"`
	Snaplen    int    `json:"snaplen"` // 0: whole packets
	Reproduced bool   `json:"reproduced"`
	Why        string `json:"why"`
	Protocol   string `json:"protocol"` // "" (MySQL) or "postgres"
	Expected   struct {
		Outcome        string   `json:"outcome"`
		Attempts       []string `json:"attempts"`
		MySQLErrorCode int      `json:"mysql_error_code"`
		ServerVersion  string   `json:"server_version"`
		Notes          string   `json:"notes"`
		PGSQLState     string   `json:"pgsql_state"`
	} `json:"expected"`
}

func loadManifest(t *testing.T) []manifestEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(capturesDir, "manifest.json"))
	if os.IsNotExist(err) {
		t.Skipf("no lab captures in %s (make testdata records them)", capturesDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var m manifestFile
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return m.Scenarios
}

// analyzeFile runs the engine over a capture file with default options, as
// `connscope analyze FILE` does.
func analyzeFile(t *testing.T, path string) ([]*Connect, Summary) {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer r.Close()
	var got []*Connect
	sum, err := RunSource(r, Options{OnConnect: func(c *Connect) { Explain(c); got = append(got, c) }})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return got, sum
}

// greetingDelays are the greeting delays the lab sets on purpose (ms). The
// fake server sleeps exactly, then relays mariadbd's greeting: a few ms on
// top. Behind a PTR answered after 2 s, mariadbd's own work (the forward
// lookup that confirms the name, thread start) adds more, so that bound is
// looser. (ptr-never has no bound above: the server's resolver gives up
// after at least 10 s, and recordings have shown up to ~29 s.)
var greetingDelays = map[string]struct{ min, max float64 }{
	"greeting-2s": {2000, 2020},
	"greeting-5s": {5000, 5020},
	"ptr-slow":    {2000, 2500},
	"ptr-never":   {10000, 60000},
}

// TestLabCaptures checks every lab capture (the client's -i any pcap and the
// veth pcapng) against the lab's manifest: each attempt's outcome, the
// connect's outcome, the MySQL error code and server version, and the
// greeting delay where the scenario sets one.
func TestLabCaptures(t *testing.T) {
	entries := loadManifest(t)
	for _, m := range entries {
		if !m.Reproduced {
			continue
		}
		for _, file := range []string{m.Any, m.Veth} {
			if file == "" {
				continue
			}
			m, file := m, file
			t.Run(file, func(t *testing.T) {
				cs, sum := analyzeFile(t, filepath.Join(capturesDir, file))
				checkCapture(t, m, file, cs, sum)
				if t.Failed() {
					t.Logf("%s (%s): client said %q, exit %d after %d ms\n%s", m.Scenario, m.Client, m.ErrorText, m.ExitCode, m.ElapsedMS, dumpConnects(cs))
				}
			})
		}
	}
}

func checkCapture(t *testing.T, m manifestEntry, file string, cs []*Connect, sum Summary) {
	exp := m.Expected
	var attempts []*Attempt
	for _, c := range cs {
		attempts = append(attempts, c.Attempts...)
	}
	got := make([]string, len(attempts))
	for i, a := range attempts {
		got[i] = string(a.Outcome)
	}
	want := exp.Attempts
	if want == nil {
		want = []string{}
	}
	// The veth sees only what leaves the client: a SYN that never left
	// (no ARP/NDP reply) is only in the client's own capture, as the ICMP
	// error its kernel sends itself on lo.
	if strings.HasSuffix(file, ".veth.pcapng") && (m.Scenario == "arp-fail" || m.Scenario == "ndp-fail") {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("attempt outcomes %v, want %v", got, want)
	}
	// The connect's outcome, when the wire can show it.
	switch {
	case len(want) > 0:
		last := cs[len(cs)-1]
		if string(last.Outcome) != exp.Outcome {
			t.Errorf("connect outcome %s, want %s", last.Outcome, exp.Outcome)
		}
		connects := 0
		for _, c := range cs {
			if len(c.Attempts) > 0 {
				connects++
			}
		}
		if connects != 1 {
			t.Errorf("%d connects with attempts, want 1 (the attempts belong to one connect)", connects)
		}
	case exp.Outcome == string(Unresolved):
		if len(cs) == 0 || cs[len(cs)-1].Outcome != Unresolved {
			t.Errorf("no unresolved connect")
		}
	}
	if exp.MySQLErrorCode != 0 {
		found := false
		for _, a := range attempts {
			if mysqlOf(a) != nil && int(mysqlOf(a).ErrorCode) == exp.MySQLErrorCode {
				found = true
			}
		}
		if !found {
			t.Errorf("no attempt with MySQL error %d", exp.MySQLErrorCode)
		}
	}
	if exp.PGSQLState != "" {
		found := false
		for _, a := range attempts {
			if pgOf(a) != nil && pgOf(a).SQLState == exp.PGSQLState {
				found = true
			}
		}
		if !found {
			t.Errorf("no attempt with PostgreSQL SQLSTATE %s", exp.PGSQLState)
		}
	}
	if exp.ServerVersion != "" {
		found := false
		for _, a := range attempts {
			if mysqlOf(a) != nil && mysqlOf(a).ServerVersion == exp.ServerVersion {
				found = true
			}
		}
		if !found {
			t.Errorf("no greeting from server version %q", exp.ServerVersion)
		}
	}
	for i, a := range attempts {
		allowed := []int{1}
		if n, ok := synCounts[m.Scenario]; ok && i == 0 {
			allowed = n
		}
		if !containsInt(allowed, a.SYNCount) {
			t.Errorf("attempt %d: %d SYNs, want one of %v", i+1, a.SYNCount, allowed)
		}
	}
	if d, ok := greetingDelays[m.Scenario]; ok && len(attempts) > 0 {
		a := attempts[len(attempts)-1]
		if a.GreetingDelayMS == nil || *a.GreetingDelayMS < d.min || *a.GreetingDelayMS > d.max {
			t.Errorf("greeting delay %v ms, want %v–%v", fmtPtr(a.GreetingDelayMS), d.min, d.max)
		}
	}
	for _, a := range attempts {
		if len(a.Evidence) == 0 || (a.Outcome != OK && len(a.Causes) == 0) {
			t.Errorf("attempt %s→%s (%s) lacks evidence or causes", a.Client, a.Server, a.Outcome)
		}
	}
	if sum.Malformed != 0 || len(sum.Errors) != 0 {
		t.Errorf("summary: %d malformed, errors %q", sum.Malformed, sum.Errors)
	}
	// Whole-packet captures have nothing cut; at a 256-byte snap length the
	// TLS login's ClientHello and certificate flight are cut, and the
	// attempt says its capture was truncated.
	switch {
	case m.Snaplen == 0 && sum.TruncatedSegments != 0:
		t.Errorf("summary: %d truncated segments in a whole-packet capture", sum.TruncatedSegments)
	case m.Snaplen > 0 && m.Scenario == "tls-ok":
		if sum.TruncatedSegments == 0 {
			t.Errorf("summary: no truncated segments at snap length %d", m.Snaplen)
		}
		for _, a := range attempts {
			if !hasSubstring(a.Evidence, "capture is truncated (snap length)") {
				t.Errorf("attempt %s→%s: evidence %q does not say the capture was truncated", a.Client, a.Server, a.Evidence)
			}
		}
	}
}

// synCounts are the SYNs the lab's design puts on the wire for the first
// attempt (every other attempt: 1). A dropped SYN is retransmitted 1 s later
// and again at 2 s (Linux ≥ 6.5, tcp_syn_linear_timeouts) or at 3 s (older
// kernels, racing the clients' 3 s timeout). An ICMPv6 error to the first SYN
// is kept as a soft error (see the manifest notes): the retransmit gets the
// deciding one. ARP/NDP failures keep the SYN from ever leaving.
var synCounts = map[string][]int{
	"drop":           {2, 3},
	"pg-drop":        {2, 3},
	"aaaa-blackhole": {2, 3},
	"reject-port6":   {1, 2},
	"reject-admin6":  {1, 2},
	"host-unreach6":  {1, 2},
	"arp-fail":       {0},
	"ndp-fail":       {0},
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func fmtPtr(p *float64) any {
	if p == nil {
		return "null"
	}
	return *p
}

// TestTruncatedCapture cuts a lab capture in the middle of a record: the
// connects before the cut are still reported, and the error names the
// packet and offset.
func TestTruncatedCapture(t *testing.T) {
	entries := loadManifest(t)
	var path string
	for _, m := range entries {
		if m.Scenario == "aaaa-blackhole" && m.Client == "mariadb" {
			path = filepath.Join(capturesDir, m.Any)
		}
	}
	if path == "" {
		t.Skip("aaaa-blackhole capture not recorded")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)-30], 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := capture.Open(cut)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []*Connect
	sum, err := RunSource(r, Options{OnConnect: func(c *Connect) { Explain(c); got = append(got, c) }})
	if err == nil || len(sum.Errors) != 1 || !strings.Contains(sum.Errors[0], "packet") {
		t.Fatalf("err %v, summary errors %q", err, sum.Errors)
	}
	if n := strings.Count(sum.Errors[0], cut); n != 1 {
		t.Errorf("summary error names the file %d times, want once: %q", n, sum.Errors[0])
	}
	if len(got) != 1 || len(got[0].Attempts) != 2 || got[0].Attempts[0].Outcome != Timeout {
		t.Fatalf("results before the cut are missing:\n%s", dumpConnects(got))
	}
}
