package analyze_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/report"
	"github.com/connscope/connscope/rollup"
)

// reportOf runs analyze.RunSource on the capture at path into a report
// written as `connscope analyze` writes it (report.Writer with its rollup;
// connects recycled when the writer keeps none), with or without
// Options.Pipeline. It returns the report, the error's text ("" for none),
// whether a pipeline was started and the number of connects.
func reportOf(t *testing.T, path string, ropts report.Options, pipeline bool) (out, errText string, piped bool, connects int) {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	w := report.NewWriter(&buf, ropts)
	if err := w.SetSource(path); err != nil {
		t.Fatal(err)
	}
	var writeErr error
	opts := analyze.Options{
		OnConnect: func(c *analyze.Connect) {
			connects++
			if err := w.Connect(c); err != nil && writeErr == nil {
				writeErr = err
			}
		},
		Recycle:  !w.KeepsConnects(),
		Pipeline: pipeline,
	}
	before := analyze.PipelinesStarted()
	sum, runErr := analyze.RunSource(r, opts)
	if writeErr != nil {
		t.Fatalf("%s: writing the report: %v", path, writeErr)
	}
	if err := w.Summary(sum); err != nil {
		t.Fatal(err)
	}
	if runErr != nil {
		errText = runErr.Error()
	}
	return buf.String(), errText, analyze.PipelinesStarted() > before, connects
}

// reportModes are the report options compared: every format, redaction
// (a writer that keeps its connects), --all, --group-by and --failed.
var reportModes = []struct {
	name string
	opts report.Options
}{
	{"json", report.Options{Format: report.JSON, Rollup: &report.RollupOptions{}}},
	{"table", report.Options{Format: report.Table, Rollup: &report.RollupOptions{}}},
	{"markdown", report.Options{Format: report.Markdown, Rollup: &report.RollupOptions{}}},
	{"line", report.Options{Format: report.Line, Rollup: &report.RollupOptions{}}},
	{"json --redact", report.Options{Format: report.JSON, Redact: true, Rollup: &report.RollupOptions{}}},
	{"table --redact", report.Options{Format: report.Table, Redact: true, Rollup: &report.RollupOptions{}}},
	{"table --all --group-by client", report.Options{Format: report.Table, Rollup: &report.RollupOptions{All: true, GroupBy: rollup.ByClient}}},
	{"json --group-by outcome --failed", report.Options{Format: report.JSON, FailedOnly: true, Rollup: &report.RollupOptions{GroupBy: rollup.ByOutcome}}},
	{"markdown --group-by process", report.Options{Format: report.Markdown, Rollup: &report.RollupOptions{GroupBy: rollup.ByProcess}}},
}

// sameBothWays fails when the report or the error of path differs with the
// pipeline on (wantPiped: it must have started; nil: if there are
// connects) from one goroutine.
func sameBothWays(t *testing.T, path string, wantPiped *bool) {
	t.Helper()
	for _, m := range reportModes {
		serial, serialErr, piped, connects := reportOf(t, path, m.opts, false)
		if piped {
			t.Fatalf("%s, %s: a pipeline started without Options.Pipeline", filepath.Base(path), m.name)
		}
		want := connects > 0
		if wantPiped != nil {
			want = *wantPiped
		}
		out, outErr, piped, _ := reportOf(t, path, m.opts, true)
		if piped != want {
			t.Fatalf("%s, %s: pipeline started %v, want %v", filepath.Base(path), m.name, piped, want)
		}
		if out != serial {
			t.Errorf("%s, %s: the report differs with the pipeline:\n%s", filepath.Base(path), m.name, firstDiff(serial, out))
		}
		if outErr != serialErr {
			t.Errorf("%s, %s: error %q on one goroutine, %q with the pipeline", filepath.Base(path), m.name, serialErr, outErr)
		}
	}
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  one goroutine: " + x + "\n  pipeline:      " + y
		}
	}
	return "(the same lines)"
}

// TestPipelineSameReportLab: every lab capture gives the same report, byte
// for byte, whether its connects are rendered on the engine's goroutine or
// on their own (the pipeline started at the first connect), in every
// format and mode. Run with -race: the renderer reads connects while the
// engine goes on.
func TestPipelineSameReportLab(t *testing.T) {
	files, _ := filepath.Glob("../testdata/captures/*.pcap*")
	if len(files) == 0 {
		t.Skip("no lab captures in ../testdata/captures (make testdata records them)")
	}
	sort.Strings(files)
	analyze.PipelineAtOnce(t)
	for _, f := range files {
		sameBothWays(t, f, nil)
	}
}

// gencap writes a capture with bench/gencap (the benchmarks' generator:
// connects of every outcome, DNS, duplicate frames, bulk traffic).
func gencap(t *testing.T, packets, connects int) string {
	t.Helper()
	if testing.Short() {
		t.Skip("generates captures with bench/gencap (-short)")
	}
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	path := filepath.Join(t.TempDir(), "gen-"+strconv.Itoa(connects)+".pcap")
	cmd := exec.Command(gotool, "run", "../bench/gencap", "-packets", strconv.Itoa(packets), "-connects", strconv.Itoa(connects), "-o", path)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./bench/gencap: %v\n%s", err, out)
	}
	return path
}

// TestPipelineGenerated: a generated connect-heavy capture (many batches,
// so rendered connects come back to the engine and are reused) gives the
// same report both ways, with the pipeline started by the density rule
// (after its first connects, rendered on the engine's goroutine) and at
// once; a capture cut inside a record gives the same partial report and
// the same error naming the packet and byte offset. The rules themselves:
// a sparse capture, or GOMAXPROCS=1, stays on one goroutine; a process
// that gets two cores keeps the pipeline; one that gets one core (a busy
// machine) stops it, starts it again later, and so on, the report the
// same.
func TestPipelineGenerated(t *testing.T) {
	dense := gencap(t, 60000, 6000)  // one connect per 10 packets
	sparse := gencap(t, 300000, 400) // one per 750: 400 connects, but never 256 within 102,400 packets
	yes, no := true, false
	t.Run("rule", func(t *testing.T) {
		analyze.PipelineCores(t, 1.8, false)
		stopped := analyze.PipelinesStopped()
		sameBothWays(t, dense, &yes)
		if n := analyze.PipelinesStopped() - stopped; n != 0 {
			t.Errorf("the pipeline was stopped %d times with 1.8 cores in use", n)
		}
		sameBothWays(t, sparse, &no)
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		sameBothWays(t, dense, &no)
	})
	t.Run("cut", func(t *testing.T) {
		data, err := os.ReadFile(dense)
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(t.TempDir(), "cut.pcap")
		if err := os.WriteFile(cut, data[:len(data)*2/3+7], 0o644); err != nil {
			t.Fatal(err)
		}
		sameBothWays(t, cut, &yes)
		out, errText, _, _ := reportOf(t, cut, report.Options{Format: report.JSON}, true)
		if !strings.Contains(errText, "at byte offset") {
			t.Errorf("cut capture: error %q, want one naming the packet and byte offset", errText)
		}
		if n := strings.Count(out, `{"kind":"connect",`); n < 1000 {
			t.Errorf("cut capture: %d connects reported before the damage, want the results up to it", n)
		}
	})
	t.Run("busy machine", func(t *testing.T) {
		stops := func(doubling bool) int {
			analyze.PipelineCores(t, 1, doubling)
			stopped := analyze.PipelinesStopped()
			sameBothWays(t, dense, &yes)
			return analyze.PipelinesStopped() - stopped
		}
		// 6000 connects: 23 batches, stopped at each first batch, started
		// again two batches' worth of connects later.
		constant := stops(false)
		if constant < 3*len(reportModes) {
			t.Errorf("the pipeline was stopped %d times in %d runs with one core in use, want it stopped again and again", constant, len(reportModes))
		}
		// The wait doubled by each stop in a row: fewer trials.
		if doubled := stops(true); doubled >= constant {
			t.Errorf("the pipeline was stopped %d times with the wait doubled after each stop, %d times with a constant wait; want fewer", doubled, constant)
		}
	})
	t.Run("at once", func(t *testing.T) {
		analyze.PipelineAtOnce(t)
		sameBothWays(t, dense, &yes)
	})
}
