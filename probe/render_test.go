package probe

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/mysql"
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
