package report

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
)

// TestFastJSONOnLabCaptures compares the hand-written connect encoder with
// encoding/json, byte for byte, on every connect of every lab capture
// (testdata/captures, the captures testdata/format renders), plain (its
// timeline steps worded by the encoder itself) and redacted.
func TestFastJSONOnLabCaptures(t *testing.T) {
	if !fastJSON {
		t.Fatal("analyze's model no longer matches report/jsonenc.go (see TestFastJSONMatchesEncodingJSON)")
	}
	files, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.pcap*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no lab captures in ../testdata/captures (make testdata records them): %v", err)
	}
	red := NewRedactor()
	connects := 0
	for _, path := range files {
		r, err := capture.Open(path)
		if err != nil {
			continue // a capture without packets (socket-missing) has nothing to encode
		}
		var cs []*analyze.Connect
		_, err = analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) { cs = append(cs, c) }})
		r.Close()
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		for i, c := range cs {
			// As Writer.Connect hands them over: worded by explained, the
			// timeline steps left to the encoder when not redacted.
			worded := explained(c, false)
			for _, pair := range [][2]*analyze.Connect{{worded, explained(c, true)}, {red.Connect(worded), red.Connect(worded)}} {
				c, enc := pair[0], pair[1]
				connects++
				got, want := connectLineBothWays(t, jsonConnect{Kind: "connect", Source: filepath.Base(path), Number: i + 1, Connect: enc}, c)
				if string(got) != string(want)+"\n" {
					t.Errorf("%s connect %d:\nencoding/json: %s\nappendConnect: %s", path, i+1, want, strings.TrimSuffix(string(got), "\n"))
				}
			}
		}
	}
	if connects == 0 {
		t.Fatal("the lab captures gave no connect to compare")
	}
	t.Logf("%d connects of %d captures encoded identically", connects, len(files))
}

// BenchmarkJSONConnectEncodingJSON is BenchmarkJSONConnect through
// encoding/json (the path taken when the model no longer matches the
// hand-written encoder): the figure that justifies keeping the latter.
func BenchmarkJSONConnectEncodingJSON(b *testing.B) {
	fastJSON = false
	defer func() { fastJSON = modelMatches() }()
	cs := fixtureConnects()
	w := NewWriter(io.Discard, Options{Format: JSON})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Connect(cs[i%len(cs)])
	}
}

// labConnects are the connects of every lab capture as the engine reports
// them (findings, no words yet): what the Writer renders in a real run.
func labConnects(b testing.TB) []*analyze.Connect {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.pcap*"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no lab captures in ../testdata/captures (make testdata records them): %v", err)
	}
	var cs []*analyze.Connect
	for _, path := range files {
		r, err := capture.Open(path)
		if err != nil {
			continue // a capture without packets (socket-missing)
		}
		_, err = analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) { cs = append(cs, c) }})
		r.Close()
		if err != nil {
			b.Fatalf("%s: %v", path, err)
		}
	}
	return cs
}

// BenchmarkWriterLabConnects renders the lab captures' connects in each
// format: the words (timeline, evidence, causes) and the rendering per
// connect, allocations included.
func BenchmarkWriterLabConnects(b *testing.B) {
	cs := labConnects(b)
	for _, f := range []Format{JSON, Table, Markdown} {
		b.Run(string(f), func(b *testing.B) {
			w := NewWriter(io.Discard, Options{Format: f, BatchAttempts: 1000})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				w.Connect(cs[i%len(cs)])
			}
		})
	}
}

// connectLineBothWays encodes jc's line with the hand-written encoder and,
// as the reference, with encoding/json over ref (the same connect, or its
// words as the encoder would add them) after the emptySlices transform.
func connectLineBothWays(t *testing.T, jc jsonConnect, ref *analyze.Connect) (got, want []byte) {
	t.Helper()
	norm := *ref
	transform{emptySlices: true}.apply(reflect.ValueOf(&norm).Elem())
	refLine := jc
	refLine.Connect = &norm
	want, err := json.Marshal(refLine)
	if err != nil {
		t.Fatal(err)
	}
	got, err = appendConnectLine(nil, jc)
	if err != nil {
		t.Fatal(err)
	}
	return got, want
}

// BenchmarkWriterRollup renders connects as `connscope analyze` does (the
// view for many connects on: the rollup gets every connect) in each
// format: per connect, the words, the rollup and the rendering. The
// connects are those of the lab captures, or the first 20,000 of the
// capture named by $CONNSCOPE_BENCH_CAPTURE (a connect-heavy one, e.g.
// bench/gencap's).
//
// cpu-ns/op is the process's CPU time per connect (GC included): on a
// shared machine less swayed by the load than ns/op.
func BenchmarkWriterRollup(b *testing.B) {
	cs := benchConnects(b)
	for _, f := range []Format{JSON, Table, Markdown} {
		b.Run(string(f), func(b *testing.B) {
			w := NewWriter(io.Discard, Options{Format: f, Rollup: &RollupOptions{}})
			b.ReportAllocs()
			cpu := cpuNS()
			for i := 0; b.Loop(); i++ {
				w.Connect(cs[i%len(cs)])
			}
			b.ReportMetric(float64(cpuNS()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// benchConnects are the connects BenchmarkWriterRollup renders.
func benchConnects(b *testing.B) []*analyze.Connect {
	path := os.Getenv("CONNSCOPE_BENCH_CAPTURE")
	if path == "" {
		return labConnects(b)
	}
	r, err := capture.Open(path)
	if err != nil {
		b.Fatalf("CONNSCOPE_BENCH_CAPTURE: %v", err)
	}
	defer r.Close()
	var cs []*analyze.Connect
	const most = 20000
	_, err = analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) {
		if len(cs) < most {
			cs = append(cs, c)
		}
	}})
	if err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return cs
}
