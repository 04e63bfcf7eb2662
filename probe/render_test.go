package probe

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/capture"
)

func sampleResult() *Result {
	g := mysql.Greeting{Protocol: 10, ServerVersion: "5.5.5-10.11.6-MariaDB", ConnectionID: 9, AuthPlugin: "mysql_native_password", CapsKnown: true}
	return &Result{
		Target:  Target{Protocol: MySQL, Host: "db.example", Port: 3306, User: "app"},
		Timeout: 3 * time.Second,
		Resolution: &Resolution{Name: "db.example", Names: []string{"db.example"}, Sources: []string{"files", "dns"},
			Queries: []Query{{Name: "db.example", Type: "A", Server: "192.0.2.53", Try: 1, Rcode: "NOERROR", Answers: nil, Time: time.Millisecond}}},
		Attempts: []Attempt{
			{Network: "tcp", Addr: ap("[2001:db8::5]:3306"), Outcome: OutcomeTimeout, Detail: "no answer | within 3.0 s", Connect: 3 * time.Second, SYNRetrans: -1},
			{Network: "tcp", Addr: ap("192.0.2.5:3306"), Local: ap("192.0.2.10:40000"), Outcome: OutcomeOK, Connect: time.Millisecond, Greeting: &Greeting{MySQL: &g}, SYNRetrans: 0},
		},
		Login:   &Login{User: "app", PasswordFrom: "MYSQL_PWD", Outcome: OutcomeAuthFailed, Code: 1045, SQLState: "28000", Message: "Access denied for user 'app'@'192.0.2.10' (using password: YES)"},
		LoginAt: "192.0.2.5:3306",
		Checks: []Check{
			{ID: "resolve", Title: "db.example resolves", Status: Pass, Evidence: []string{"2001:db8::5, 192.0.2.5"}},
			{ID: "login", Title: "login as app", Status: Fail, Evidence: []string{"auth_failed: ERROR 1045 (28000): Access denied for user 'app'@'192.0.2.10' (using password: YES)"}, Fix: "wrong password"},
			{ID: "process", Title: "a mysqld/mariadbd process runs", Status: Skip, Evidence: []string{"the server is not on this host"}},
		},
		Findings: []string{"a client that tries only the first address fails: [2001:db8::5]:3306 timeout"},
	}
}

func TestWriteFormats(t *testing.T) {
	r := sampleResult()
	var table, md, js bytes.Buffer
	if err := Write(&table, r, FormatTable, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CHECKLIST", "✓ db.example resolves", "✗ login as app", "fix: wrong password", "– a mysqld/mariadbd process runs", "not checked: the server is not on this host", "ADDRESSES (in the order a client tries them)", "FINDINGS"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	// The checklist comes first, then the addresses, then the findings.
	if i, j, k := strings.Index(table.String(), "CHECKLIST"), strings.Index(table.String(), "ADDRESSES"), strings.Index(table.String(), "FINDINGS"); !(i < j && j < k) {
		t.Errorf("sections out of order: %d %d %d", i, j, k)
	}
	if err := Write(&md, r, FormatMarkdown, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| | check | evidence | fix |") || !strings.Contains(md.String(), `no answer \| within 3.0 s`) {
		t.Errorf("markdown table or | escaping:\n%s", md.String())
	}
	if err := Write(&js, r, FormatJSON, false); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(js.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		kinds[rec["kind"].(string)]++
	}
	if kinds["check"] != 3 || kinds["address"] != 2 || kinds["query"] != 1 || kinds["probe"] != 1 {
		t.Errorf("records %v, want one per check, per address, per query, and the probe", kinds)
	}
	if err := Write(&js, r, "xml", false); err == nil {
		t.Error("unknown format: no error")
	}
}

func TestWriteRedacted(t *testing.T) {
	for _, f := range []string{FormatTable, FormatMarkdown, FormatJSON} {
		var b bytes.Buffer
		if err := Write(&b, sampleResult(), f, true); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, leak := range []string{"db.example", "192.0.2.5", "192.0.2.10", "2001:db8::5", "'app'", "as app"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s: redacted output contains %q:\n%s", f, leak, out)
			}
		}
		for _, keep := range []string{"1045", "3306"} {
			if !strings.Contains(out, keep) {
				t.Errorf("%s: redacted output lost %q", f, keep)
			}
		}
	}
}

// tracedResult is a probe of the lab's AAAA blackhole with the trace the
// live pipeline recorded of it (testdata/probe, analyzed as live does).
func tracedResult(t *testing.T) *Result {
	t.Helper()
	r, err := capture.Open("../testdata/probe/probe-aaaa-blackhole.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var cs []*analyze.Connect
	sum, err := analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) { cs = append(cs, c) }})
	if err != nil {
		t.Fatal(err)
	}
	return &Result{
		Target:  Target{Protocol: MySQL, Host: "blackhole6.connscope.test", Port: 3306},
		Timeout: 2 * time.Second,
		Attempts: []Attempt{
			{Network: "tcp", Addr: ap("[2001:db8:5::10]:3306"), Local: ap("[2001:db8:1::10]:44198"), Outcome: OutcomeTimeout, Connect: 2 * time.Second, SYNRetrans: -1},
			{Network: "tcp", Addr: ap("198.51.100.10:3306"), Local: ap("192.0.2.10:54344"), Outcome: OutcomeOK, Connect: time.Millisecond},
		},
		Findings: []string{"a client that tries only the first address fails"},
		Tracing:  "traced",
		Trace:    &Trace{Connects: cs, Summary: sum},
	}
}

// TestWriteTraced: the traced reasons per address and run's connect records
// come after the checklist and the addresses, before the findings; redacted,
// the trace uses the checklist's pseudonyms.
func TestWriteTraced(t *testing.T) {
	r := tracedResult(t)
	var table, js, red bytes.Buffer
	if err := Write(&table, r, FormatTable, false); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	for _, want := range []string{"1 [2001:db8:5::10]:3306 timeout tcp.syn_unanswered", "2 198.51.100.10:3306    ok      mysql.client_closed_after_greeting", "Timeline:", "SYN retransmit #1"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if i, j, k := strings.Index(out, "ADDRESSES"), strings.Index(out, "TRACED"), strings.Index(out, "FINDINGS"); !(i < j && j < k) {
		t.Errorf("sections out of order: addresses %d, traced %d, findings %d", i, j, k)
	}
	if err := Write(&js, r, FormatJSON, false); err != nil {
		t.Fatal(err)
	}
	traced := map[string]string{}
	connects := 0
	for _, line := range strings.Split(strings.TrimSpace(js.String()), "\n") {
		var rec struct {
			Kind   string
			Server string
			Traced *struct{ Outcome, Reason string }
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		switch {
		case rec.Kind == "address" && rec.Traced != nil:
			traced[rec.Server] = rec.Traced.Outcome + " " + rec.Traced.Reason
		case rec.Kind == "connect":
			connects++
		}
	}
	want := map[string]string{"[2001:db8:5::10]:3306": "timeout tcp.syn_unanswered", "198.51.100.10:3306": "ok mysql.client_closed_after_greeting"}
	if len(traced) != 2 || traced["[2001:db8:5::10]:3306"] != want["[2001:db8:5::10]:3306"] || traced["198.51.100.10:3306"] != want["198.51.100.10:3306"] || connects != 1 {
		t.Errorf("traced %v, %d connect records; want %v and 1", traced, connects, want)
	}
	if err := Write(&red, r, FormatTable, true); err != nil {
		t.Fatal(err)
	}
	ro := red.String()
	for _, leak := range []string{"2001:db8:5::10", "198.51.100.10", "blackhole6"} {
		if strings.Contains(ro, leak) {
			t.Errorf("redacted output contains %q", leak)
		}
	}
	// Each address's pseudonym in the TRACED table names the same address
	// in the trace's timeline.
	rows := 0
	for _, line := range strings.Split(ro, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || (f[3] != "tcp.syn_unanswered" && f[3] != "mysql.client_closed_after_greeting") {
			continue
		}
		rows++
		if !strings.Contains(ro, "SYN to "+f[1]) {
			t.Errorf("the TRACED row's address %s is not the timeline's:\n%s", f[1], ro)
		}
	}
	if rows != 2 {
		t.Errorf("%d TRACED rows, want 2:\n%s", rows, ro)
	}
}
