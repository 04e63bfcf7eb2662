package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/rollup"
)

// renderConnects writes cs (from sources, switching source every perSource
// connects when perSource > 0) through a Writer with opt.
func renderConnects(t *testing.T, opt Options, cs []*analyze.Connect, perSource int) string {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, opt)
	for i, c := range cs {
		if i == 0 || (perSource > 0 && i%perSource == 0) {
			if err := w.SetSource(fmt.Sprintf("lab-%d.pcap", i/max(perSource, 1))); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Connect(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Summary(fixtureSummary(cs)); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// repeated is n connects cycling through the fixtures (fresh copies).
func repeated(n int) []*analyze.Connect {
	var out []*analyze.Connect
	for len(out) < n {
		for _, c := range fixtureConnects() {
			if len(out) < n {
				out = append(out, c)
			}
		}
	}
	return out
}

// Up to the threshold the report is byte for byte what it was without the
// rollup view, in every format, with --redact, --failed and several sources.
func TestRollupViewUnchangedUpToThreshold(t *testing.T) {
	for _, n := range []int{1, len(fixtureConnects()), DefaultRollupThreshold} {
		for _, f := range Formats {
			for _, variant := range []struct {
				name      string
				redact    bool
				failed    bool
				perSource int
			}{{"plain", false, false, 0}, {"redact", true, false, 0}, {"failed", false, true, 0}, {"sources", false, false, 7}, {"redact-failed-sources", true, true, 5}} {
				t.Run(fmt.Sprintf("%d/%s/%s", n, f, variant.name), func(t *testing.T) {
					opt := Options{Format: f, Redact: variant.redact, FailedOnly: variant.failed}
					want := renderConnects(t, opt, repeated(n), variant.perSource)
					opt.Rollup = &RollupOptions{}
					got := renderConnects(t, opt, repeated(n), variant.perSource)
					if got != want {
						t.Fatalf("differs with the rollup view on:\n%s", firstDiff(want, got))
					}
				})
			}
		}
	}
}

func TestRollupViewMany(t *testing.T) {
	const n = 3*DefaultRollupThreshold + 1
	cs := repeated(n)
	failing := map[analyze.Outcome]bool{}
	for _, c := range cs {
		if c.Outcome != analyze.OK {
			failing[c.Outcome] = true
		}
	}
	t.Run("table", func(t *testing.T) {
		out := renderConnects(t, Options{Format: Table, Rollup: &RollupOptions{Examples: 2}}, repeated(n), 0)
		lines := strings.Split(out, "\n")
		if !strings.HasPrefix(lines[0], "Source: lab-0.pcap") || !strings.HasPrefix(lines[2], "Summary") {
			t.Fatalf("does not start with the source and the summary:\n%s", strings.Join(lines[:5], "\n"))
		}
		// Every failing outcome is on the first screen (40 lines), in the rollup.
		first := strings.Join(lines[:min(40, len(lines))], "\n")
		for o := range failing {
			if !strings.Contains(first, "│ "+string(o)+" ") {
				t.Errorf("failing outcome %s not in the first 40 lines:\n%s", o, first)
			}
		}
		// At most 2 examples per failing group, and not every connect.
		blocks := strings.Count(out, "\nConnect ")
		groups := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "│ ") && !strings.Contains(l, "│ ok ") && !strings.HasPrefix(l, "│ Server") {
				groups++
			}
		}
		if blocks == 0 || blocks > 2*groups || blocks >= n {
			t.Fatalf("%d example blocks for %d failing groups (%d connects)", blocks, groups, n)
		}
		if !strings.Contains(out, "Examples (the worst 2 connects of each failing group") {
			t.Fatal("no examples heading")
		}
	})
	t.Run("markdown", func(t *testing.T) {
		out := renderConnects(t, Options{Format: Markdown, Rollup: &RollupOptions{}}, repeated(n), 0)
		for _, want := range []string{"### Rollup by server", "| Server ", "### Examples"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in:\n%s", want, out)
			}
		}
	})
	t.Run("all", func(t *testing.T) {
		out := renderConnects(t, Options{Format: Table, Rollup: &RollupOptions{All: true}}, repeated(n), 0)
		plain := renderConnects(t, Options{Format: Table}, repeated(n), 0)
		// Every connect as ever, then the rollup, then the summary.
		i := strings.Index(out, "Rollup by server")
		s := strings.Index(out, "\nSummary")
		if i < 0 || s < i || !strings.HasPrefix(out, plain[:strings.Index(plain, "\nSummary")]) {
			t.Fatalf("--all: not every connect then the rollup:\n%s", out)
		}
	})
	t.Run("json", func(t *testing.T) {
		out := renderConnects(t, Options{Format: JSON, Rollup: &RollupOptions{}}, repeated(n), 0)
		kinds := []string{}
		sum := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			k := rec["kind"].(string)
			if len(kinds) == 0 || kinds[len(kinds)-1] != k {
				kinds = append(kinds, k)
			}
			if k == "group" {
				sum += int(rec["count"].(float64))
				for _, f := range []string{"server", "outcome", "reason", "share", "clients", "syns", "rtt", "connect", "first_byte", "examples", "first", "last"} {
					if _, ok := rec[f]; !ok {
						t.Errorf("group without %q: %s", f, l)
					}
				}
			}
		}
		// (the fixtures' no_local_port connects, EADDRNOTAVAIL from one
		// client to one server, are the ephemeral_ports pattern)
		if strings.Join(kinds, ",") != "connect,pattern,group,timeseries,summary" {
			t.Fatalf("record kinds in order: %v", kinds)
		}
		attempts := 0
		for _, c := range repeated(n) {
			attempts += max(len(c.Attempts), 1)
		}
		if sum != attempts {
			t.Fatalf("groups count %d attempts, want %d", sum, attempts)
		}
		// The connect lines are those of the plain JSON output.
		plain := renderConnects(t, Options{Format: JSON}, repeated(n), 0)
		pl := strings.Split(plain, "\n")
		if !strings.HasPrefix(out, strings.Join(pl[:n], "\n")) {
			t.Fatal("connect records changed")
		}
	})
	t.Run("line unchanged", func(t *testing.T) {
		if renderConnects(t, Options{Format: Line, Rollup: &RollupOptions{}}, repeated(n), 0) != renderConnects(t, Options{Format: Line}, repeated(n), 0) {
			t.Fatal("the line format changed")
		}
	})
	t.Run("redact", func(t *testing.T) {
		for _, f := range []Format{Table, Markdown, JSON} {
			out := renderConnects(t, Options{Format: f, Redact: true, Rollup: &RollupOptions{}}, repeated(n), 0)
			for _, secret := range []string{"192.0.2.", "198.51.100.", "2001:db8", "db.example", "lab-0.pcap"} {
				if strings.Contains(out, secret) {
					i := strings.Index(out, secret)
					t.Errorf("%s --redact shows %q: …%s…", f, secret, out[max(0, i-200):min(len(out), i+100)])
				}
			}
		}
	})
}

// burstConnects is the slow-accept burst as the engine reports it, with
// the per-connect cause the engine gives a late greeting (reverse DNS).
func burstConnects(n int) []*analyze.Connect {
	var out []*analyze.Connect
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		s := start.Add(time.Duration(i) * 2 * time.Millisecond)
		syns := 2
		if i < 2 {
			syns = 1
		}
		hs := float64(syns-1)*1000 + 0.1
		greet := float64(i+1)*500 - hs
		a := &analyze.Attempt{Client: fmt.Sprintf("192.0.2.10:%d", 40000+i), Server: "198.51.100.10:3306", SYNCount: syns, Start: s,
			RTTMS: ms(0.1), GreetingDelayMS: ms(greet), Outcome: analyze.OK, DurationMS: hs + greet}
		a.Events = append(a.Events, analyze.Event{Kind: analyze.EvSYN, What: "SYN", Time: s})
		if syns == 2 {
			a.Events = append(a.Events, analyze.Event{TMS: 1000, Kind: analyze.EvSYNRetransmit, What: "SYN retransmit #1", Time: s.Add(time.Second)})
		}
		a.Events = append(a.Events, analyze.Event{TMS: hs, Kind: analyze.EvSYNACK, What: "SYN-ACK", Time: s.Add(time.Duration(hs * 1e6))})
		if hs+greet > 10000 {
			a.Outcome = analyze.GreetingLate
			a.Reason.UnmarshalText([]byte("mysql.greeting_late"))
			a.Events = append(a.Events, analyze.Event{TMS: 10000, Kind: analyze.EvFIN, Dir: analyze.DirC2S, What: "FIN from the client", Time: s.Add(10 * time.Second)})
			a.Causes = []string{"The server greeted only after the client had given up. Typical of a reverse DNS lookup of the client's address on the server: set skip_name_resolve=ON"}
		}
		a.Events = append(a.Events, analyze.Event{TMS: hs + greet, Kind: analyze.EvGreeting, Dir: analyze.DirS2C, What: "greeting", Time: s.Add(time.Duration((hs + greet) * 1e6))})
		out = append(out, &analyze.Connect{Client: "192.0.2.10", Port: 3306, Outcome: a.Outcome, Reason: a.Reason, Start: s, DurationMS: a.DurationMS,
			Attempts: []*analyze.Attempt{a}, Causes: a.Causes})
	}
	return out
}

// Under accept_backlog a late greeting is not blamed on reverse DNS: the
// examples get the pattern's cause instead of their own.
func TestRollupViewPatternExplainsExamples(t *testing.T) {
	for _, f := range []Format{Table, Markdown} {
		out := renderConnects(t, Options{Format: f, Rollup: &RollupOptions{}}, burstConnects(30), 0)
		if !strings.Contains(out, rollup.AcceptBacklog) {
			t.Fatalf("%s: no accept_backlog:\n%s", f, out)
		}
		ex := out[strings.Index(out, "Examples ("):]
		if strings.Contains(ex, "reverse DNS lookup of the client") {
			t.Errorf("%s: an example still blames reverse DNS:\n%s", f, ex)
		}
		if !strings.Contains(ex, "Part of the accept_backlog pattern of 198.51.100.10:3306") {
			t.Errorf("%s: examples do not name the pattern:\n%s", f, ex)
		}
	}
	// The same connects without the pattern keep their cause (the view
	// replaces only what the pattern explains): ≤ 20 connects.
	out := renderConnects(t, Options{Format: Table, Rollup: &RollupOptions{}}, burstConnects(30)[10:30], 0)
	if !strings.Contains(out, "reverse DNS lookup") {
		t.Fatal("≤ 20 connects: the engine's causes are gone")
	}
}

// Streaming (live trace): every connect as it completes, as ever; with
// more than the threshold, the rollup before the summary at the end.
func TestRollupViewStreaming(t *testing.T) {
	for _, f := range []Format{Table, Markdown, JSON} {
		for _, n := range []int{DefaultRollupThreshold, 3 * DefaultRollupThreshold} {
			plain := renderConnects(t, Options{Format: f, Streaming: true}, repeated(n), 0)
			out := renderConnects(t, Options{Format: f, Streaming: true, Rollup: &RollupOptions{}}, repeated(n), 0)
			if n <= DefaultRollupThreshold {
				if out != plain {
					t.Fatalf("%s, %d connects: streaming output changed:\n%s", f, n, firstDiff(plain, out))
				}
				continue
			}
			marker := "Rollup by server"
			if f == JSON {
				marker = `"kind":"group"`
			}
			i := strings.Index(out, marker)
			if i < 0 || !strings.HasPrefix(out, plain[:strings.LastIndex(plain[:len(plain)-1], "\n{")+1]) && f == JSON {
				t.Fatalf("%s, %d connects: no rollup, or the connects changed:\n%s", f, n, out)
			}
			if f != JSON && !strings.HasPrefix(out, plain[:strings.Index(plain, "Summary")]) {
				t.Fatalf("%s: the streamed connects changed", f)
			}
		}
	}
}

// The connects kept as examples stay bounded by the failing groups'
// examples: every kept one is some group's example after a pruning, and a
// long run of failures keeps no more than twice those.
func TestRollupViewExamplesBounded(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Options{Format: Table, Rollup: &RollupOptions{Examples: 2}})
	w.SetSource("many.pcap")
	for i := 0; i < 5000; i++ {
		c := fixtureConnects()[1] // refused
		c.Attempts[0].DurationMS = float64(i % 97)
		c.Attempts[0].Server = fmt.Sprintf("192.0.2.%d:3307", i%40) // 40 failing groups
		w.Connect(c)
	}
	kept := len(w.rv.examples)
	if kept > 2*max(minPruneAt, 2*40*2) {
		t.Fatalf("%d connects kept for 40 groups × 2 examples", kept)
	}
	w.rv.pruneExamples()
	if len(w.rv.examples) != 40*2 {
		t.Fatalf("%d kept after pruning, want 80", len(w.rv.examples))
	}
	w.Summary(analyze.Summary{})
	if n := strings.Count(buf.String(), "\nConnect "); n != 80 {
		t.Fatalf("%d examples printed, want 80", n)
	}
}
