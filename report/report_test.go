package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/mysql"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden/")

// render writes the fixtures through a Writer with opt.
func render(t *testing.T, opt Options) []byte {
	t.Helper()
	cs := fixtureConnects()
	var buf bytes.Buffer
	w := NewWriter(&buf, opt)
	if err := w.SetSource("lab.pcap"); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if err := w.Connect(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Summary(fixtureSummary(cs)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		opt  Options
	}{
		{"table", Options{Format: Table}},
		{"table-redacted", Options{Format: Table, Redact: true}},
		{"table-streaming", Options{Format: Table, Streaming: true}},
		{"table-failed", Options{Format: Table, FailedOnly: true}},
		{"table-batch3", Options{Format: Table, FailedOnly: true, BatchAttempts: 3}},
		{"markdown", Options{Format: Markdown}},
		{"markdown-redacted", Options{Format: Markdown, Redact: true}},
		{"markdown-streaming", Options{Format: Markdown, Streaming: true}},
		{"json", Options{Format: JSON}},
		{"json-redacted", Options{Format: JSON, Redact: true}},
		{"line", Options{Format: Line}},
		{"line-redacted", Options{Format: Line, Redact: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.opt)
			ext := map[Format]string{Table: ".txt", Markdown: ".md", JSON: ".jsonl", Line: ".line.txt"}[tc.opt.Format]
			checkGolden(t, filepath.Join("testdata", "golden", tc.name+ext), got)
		})
	}
}

// checkGolden compares got with the golden file at path (rewrites it with
// -update).
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./report -update' to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run 'go test ./report -update' and review the diff):\n%s", path, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first differing line.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + w + "\ngot:  " + g
		}
	}
	return ""
}

// sensitive lists every address, name and user in the fixtures.
var sensitive = []string{
	"198.51.100.7", "192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14", "192.0.2.15",
	"192.0.2.53", "192.0.2.54", "192.0.2.99", "192.0.2.1", "2001:db8::7", "2001:db8::10", "2001:db8::53",
	"db.example", "dual.example", "nosuch.example", "client.example", "'app'", "reporting",
}

func TestRedactedOutputHidesEverything(t *testing.T) {
	for _, f := range Formats {
		for _, streaming := range []bool{false, true} {
			out := string(render(t, Options{Format: f, Redact: true, Streaming: streaming}))
			for _, s := range sensitive {
				if strings.Contains(out, s) {
					t.Errorf("%s (streaming %v): redacted output contains %q", f, streaming, s)
				}
			}
			for _, keep := range []string{"3306", "ERR 1130", "mariadb[4243]", "/run/mysqld/mysqld.sock"} {
				if f != JSON && !strings.Contains(out, keep) {
					t.Errorf("%s: redacted output lost %q, which is not sensitive", f, keep)
				}
			}
		}
	}
}

func TestRedactorLeavesInputAlone(t *testing.T) {
	cs := fixtureConnects()
	orig := fixtureConnects()
	r := NewRedactor()
	for _, c := range cs {
		r.Connect(c)
	}
	if !reflect.DeepEqual(cs, orig) {
		t.Fatal("Redactor.Connect modified its input")
	}
}

func TestRedactorStable(t *testing.T) {
	r := NewRedactor()
	c := fixtureConnects()[0]
	a, b := r.Connect(c), r.Connect(c)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same connect redacted twice differs")
	}
	if a.Name != "name-1.example" || a.Client != "ip4-1" || a.Attempts[0].Server != a.Resolution[0].Answers[0]+":3306" || a.Resolution[0].Answers[0] != "ip4-3" || mysqlOf(a.Attempts[0]).User != "user-1" {
		t.Fatalf("unexpected pseudonyms: name %q client %q server %q user %q", a.Name, a.Client, a.Attempts[0].Server, mysqlOf(a.Attempts[0]).User)
	}
}

func TestRedactText(t *testing.T) {
	r := NewRedactor()
	r.learnName("db.example")
	r.learnUser("app")
	cases := []struct{ in, want string }{
		{"SYN to 10.0.0.1:3306", "SYN to ip4-1:3306"},
		{"from 10.0.0.1.", "from ip4-1."},
		{"[fd00::2]:3306 and fd00::2", "[ip6-1]:3306 and ip6-1"},
		{"::ffff:10.0.0.1", "ip4-1"},
		{"fe80::1%eth0", "ip6-2%eth0"},
		{"Host '10.0.0.9' is not allowed to connect", "Host 'ip4-2' is not allowed to connect"},
		{"Access denied for user 'app'@'10.0.0.1' (using password: YES)", "Access denied for user 'user-1'@'ip4-1' (using password: YES)"},
		{"login of user app", "login of user user-1"},
		{"resolved DB.Example. to 10.0.0.1", "resolved name-1.example. to ip4-1"},
		{"db.example:3306", "name-1.example:3306"},
		{"version 10.11.6-MariaDB, std::map, 12:30:45, sha256:abc", "version 10.11.6-MariaDB, std::map, 12:30:45, sha256:abc"},
		{"application app-server", "application app-server"},
		{"x10.0.0.1", "x10.0.0.1"},
	}
	for _, tc := range cases {
		if got := r.Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactLearnsFromServerMessages(t *testing.T) {
	r := NewRedactor()
	c := &analyze.Connect{Attempts: []*analyze.Attempt{{
		App:    mysqlApp(&mysql.Info{ErrorCode: 1045, ErrorMessage: "Access denied for user 'bob'@'laptop.corp' (using password: NO)"}),
		Events: []analyze.Event{{What: "bob connected from laptop.corp"}},
	}}}
	got := r.Connect(c)
	if msg := mysqlOf(got.Attempts[0]).ErrorMessage; msg != "Access denied for user 'user-1'@'name-1.example' (using password: NO)" {
		t.Errorf("message = %q", msg)
	}
	if w := got.Attempts[0].Events[0].What; strings.Contains(w, "laptop.corp") {
		t.Errorf("event text keeps the host: %q", w)
	}
}

func TestJSONLines(t *testing.T) {
	out := render(t, Options{Format: JSON})
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var kinds []string
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		kinds = append(kinds, m["kind"].(string))
		if m["kind"] != "connect" {
			for _, k := range []string{"connects", "attempts", "outcomes", "packets", "malformed", "duplicates", "kernel_drops", "ring_buffer_lost", "connect_outcomes"} {
				if _, ok := m[k]; !ok {
					t.Errorf("summary lacks %q", k)
				}
			}
			continue
		}
		for _, k := range []string{"client", "port", "outcome", "resolution", "attempts", "number", "source"} {
			if _, ok := m[k]; !ok {
				t.Errorf("connect %v lacks %q", m["number"], k)
			}
		}
		atts, _ := m["attempts"].([]any)
		for _, a := range atts {
			am := a.(map[string]any)
			for _, k := range []string{"client", "server", "outcome", "syn_count", "rtt_ms", "greeting_delay_ms", "duration_ms", "events"} {
				if _, ok := am[k]; !ok {
					t.Errorf("attempt of connect %v lacks %q", m["number"], k)
				}
			}
		}
	}
	want := len(fixtureConnects()) + 1
	if len(kinds) != want || kinds[len(kinds)-1] != "summary" {
		t.Fatalf("got %d lines ending in %q, want %d ending in a summary", len(kinds), kinds[len(kinds)-1], want)
	}
}

func TestFailedOnlyCountsEverything(t *testing.T) {
	out := string(render(t, Options{Format: Table, FailedOnly: true}))
	if strings.Contains(out, "Connect 1:") || strings.Contains(out, "40001") {
		t.Error("--failed output shows the ok connect")
	}
	if !strings.Contains(out, "connects  19: ok 1,") || !strings.Contains(out, "1 ok connect not shown") {
		t.Errorf("--failed summary does not count all connects:\n%s", out)
	}
}

func TestDropsAlwaysShown(t *testing.T) {
	for _, f := range Formats {
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{Format: f})
		if err := w.Summary(analyze.Summary{}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		want := []string{"0 by the kernel", "0 eBPF events lost", "0 attempts not followed"}
		if f == JSON {
			want = []string{`"kernel_drops":0`, `"ring_buffer_lost":0`, `"malformed_dns":0`, `"untracked":0`, `"late_retransmits":0`, `"other_processes":0`}
		}
		for _, s := range want {
			if !strings.Contains(out, s) {
				t.Errorf("%s summary without drops lacks %q:\n%s", f, s, out)
			}
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"table", "markdown", "json"} {
		if f, err := ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Error("ParseFormat(yaml) succeeded")
	}
}

// errWriter fails every write.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteErrorIsReported(t *testing.T) {
	w := NewWriter(errWriter{}, Options{Format: JSON, Streaming: true})
	if err := w.Connect(fixtureConnects()[0]); err == nil {
		t.Fatal("Connect on a failing writer returned no error")
	}
	if err := w.Summary(analyze.Summary{}); err == nil {
		t.Fatal("Summary after a write error returned no error")
	}
}

// TestFastJSONMatchesEncodingJSON checks the hand-written connect encoder
// against encoding/json, byte for byte, on every fixture and on a connect
// with every field set (including strings that need escaping).
func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	if !fastJSON {
		for _, ty := range modelTypes() {
			if got := describeFields(ty); got != jsonFields[ty] {
				t.Errorf("analyze.%s changed:\n  model:   %s\n  encoder: %s", ty.Name(), got, jsonFields[ty])
			}
		}
		t.Fatal("analyze's model no longer matches report/jsonenc.go: JSON falls back to encoding/json (slow); update appendConnectLine and jsonFields")
	}
	cs := fixtureConnects()
	full := fullConnect()
	cs = append(cs, full, &analyze.Connect{}, &analyze.Connect{Attempts: []*analyze.Attempt{nil, {App: mysqlApp(&mysql.Info{})}}})
	for i, c := range cs {
		got, want := connectLineBothWays(t, jsonConnect{Kind: "connect", Source: "a \"file\"", Number: i + 1, Connect: c}, c)
		if string(got) != string(want)+"\n" {
			t.Errorf("connect %d:\nencoding/json: %s\nappendConnect: %s", i+1, want, got)
		}
	}
}

// fullConnect sets every field of the model, by reflection, to a value
// that is not the zero value, so a field the encoder skips shows.
func fullConnect() *analyze.Connect {
	var c analyze.Connect
	fill(reflect.ValueOf(&c).Elem(), 0)
	return &c
}

func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x<&>\"\\\n\t\x01é\u2028" + strconv.Itoa(depth) + "\xff")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(7 + depth))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(9 + depth))
	case reflect.Float64:
		v.SetFloat(0.0000001234 + float64(depth)*1e22)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600))))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				fill(v.Field(i), depth)
			}
		}
	}
}

// TestJSONFallbackSameOutput runs the encoding/json path the Writer takes
// when the model has changed under the hand-written encoder.
func TestJSONFallbackSameOutput(t *testing.T) {
	fast := render(t, Options{Format: JSON})
	fastJSON = false
	defer func() { fastJSON = modelMatches() }()
	slow := render(t, Options{Format: JSON})
	if !bytes.Equal(fast, slow) {
		t.Errorf("the encoding/json fallback writes different JSON:\n%s", firstDiff(string(slow), string(fast)))
	}
}

func BenchmarkJSONConnect(b *testing.B) {
	cs := fixtureConnects()
	w := NewWriter(io.Discard, Options{Format: JSON})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Connect(cs[i%len(cs)])
	}
}

func BenchmarkTableConnect(b *testing.B) {
	cs := fixtureConnects()
	w := NewWriter(io.Discard, Options{Format: Table})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Connect(cs[i%len(cs)])
	}
}

func BenchmarkRedactConnect(b *testing.B) {
	cs := fixtureConnects()
	r := NewRedactor()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Connect(cs[i%len(cs)])
	}
}

// TestPacketsOfOtherProcesses: when run or trace --pid left other
// processes' packets out, the summary counts the traced processes' packets
// and the others' separately.
func TestPacketsOfOtherProcesses(t *testing.T) {
	tests := []struct {
		sum  analyze.Summary
		want string
	}{
		{analyze.Summary{Packets: 37, OtherProcesses: 12679, Unsupported: 4}, "packets   37 read of the traced processes, 12679 of other processes (left out), 0 malformed (skipped), 4 not followed"},
		{analyze.Summary{Packets: 37}, "packets   37 read, 0 malformed (skipped)"},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		if err := NewWriter(&buf, Options{Format: Table}).Summary(tc.sum); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("summary of %+v:\n%s\nwant %q", tc.sum, buf.String(), tc.want)
		}
	}
}

// TestPartialSummaryHeading: when evidence was lost the summary's first
// line says so, in every format for people (JSON carries "partial").
func TestPartialSummaryHeading(t *testing.T) {
	lossy := analyze.Summary{RingBufferLost: 3, KernelDrops: 1200, UnreadAtStop: 5, LateEvents: 4, LateAfterReport: 3, LateUnmatched: 1, IncompleteLoss: 2}
	const why = "PARTIAL: 3 kernel events lost (eBPF ring buffer full), 1,200 packets dropped by the kernel, " +
		"5 packets and kernel events captured before the stop but never read (the stop could wait no longer), " +
		"4 events later than the reorder window (3 after their attempt was reported, 1 of no known attempt) — 2 attempts incomplete for the lost evidence"
	for _, c := range []struct {
		f    Format
		want string
	}{
		{Table, "Summary — " + why + "\n"},
		{Markdown, "### Summary — " + why + "\n"},
		{JSON, `"partial":"` + why + `"`},
	} {
		var buf bytes.Buffer
		if err := NewWriter(&buf, Options{Format: c.f}).Summary(lossy); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), c.want) {
			t.Errorf("%s summary lacks %q:\n%s", c.f, c.want, buf.String())
		}
		buf.Reset()
		if err := NewWriter(&buf, Options{Format: c.f}).Summary(analyze.Summary{}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "PARTIAL") {
			t.Errorf("%s summary says PARTIAL without loss:\n%s", c.f, buf.String())
		}
	}
}

// TestSummaryCountsAreTheEngines: the summary's connect and attempt counts
// are printed as the engine gave them (it alone owns them: filters that
// leave connects out do so in the engine); the Writer adds only what it
// counted itself, connect_outcomes.
func TestSummaryCountsAreTheEngines(t *testing.T) {
	cs := fixtureConnects()[:2]
	for _, connects := range []int{1, 2, 7} {
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{Format: JSON})
		for _, c := range cs {
			if err := w.Connect(c); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Summary(analyze.Summary{Connects: connects}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		var sum struct {
			Connects        int            `json:"connects"`
			ConnectOutcomes map[string]int `json:"connect_outcomes"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range sum.ConnectOutcomes {
			n += v
		}
		if sum.Connects != connects || n != len(cs) {
			t.Errorf("engine counted %d connects, Writer printed %d: summary says connects %d, connect_outcomes %v", connects, len(cs), sum.Connects, sum.ConnectOutcomes)
		}
	}
}
