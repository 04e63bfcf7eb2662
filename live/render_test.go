package live

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/report"
)

// The renderer writes exactly what the same calls on the writer, made in
// the pipeline's order, write: connects in order, flushes, interim
// rollups between the batches they followed, then the caller's summary.
func TestRendererWritesWhatTheWriterWould(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	connect := func(i int) *analyze.Connect {
		outcome, reason := analyze.Refused, analyze.ReasonECONNREFUSED
		if i%3 == 0 {
			outcome, reason = analyze.OK, analyze.Reason(0)
		}
		start := t0.Add(time.Duration(i) * time.Millisecond)
		return &analyze.Connect{Client: "127.0.0.1", Port: 3306, Outcome: outcome, Reason: reason, Start: start, Attempts: []*analyze.Attempt{{
			Client: fmt.Sprintf("127.0.0.1:%d", 40000+i), Server: "127.0.0.1:3306", Outcome: outcome, Reason: reason, Start: start,
			Events: []analyze.Event{{Kind: analyze.EvSYN, Dir: analyze.DirC2S, Time: start}},
		}}}
	}
	// step: connects decided, then what the tick does.
	type step struct {
		connects []int
		flush    bool
		interim  time.Duration // > 0: interim at t0 + this
	}
	steps := []step{
		{connects: []int{1, 2, 3}, flush: true},
		{flush: true},
		{connects: []int{4}, interim: time.Second},
		{connects: []int{5, 6}},
		{connects: []int{7}}, // left for finish
	}
	for _, f := range []report.Format{report.JSON, report.Table} {
		t.Run(string(f), func(t *testing.T) {
			opts := report.Options{Format: f, Streaming: true, HoldFlush: true, Rollup: &report.RollupOptions{}}
			var direct, viaRenderer bytes.Buffer
			w := report.NewWriter(&direct, opts)
			for _, s := range steps {
				for _, i := range s.connects {
					w.Connect(connect(i))
				}
				if s.flush {
					w.Flush()
				}
				if s.interim > 0 {
					w.Interim(t0.Add(s.interim))
				}
			}
			w.Summary(analyze.Summary{Connects: 7})

			w2 := report.NewWriter(&viaRenderer, opts)
			r := newRenderer(w2, func(err error) { t.Errorf("write error: %v", err) })
			for i, s := range steps {
				for _, c := range s.connects {
					r.connect(connect(c))
				}
				if i == len(steps)-1 {
					break // finish writes the rest
				}
				r.tick(s.flush)
				if s.interim > 0 {
					r.interim(t0.Add(s.interim))
				}
			}
			r.finish()
			w2.Summary(analyze.Summary{Connects: 7})
			if direct.String() != viaRenderer.String() {
				t.Errorf("through the renderer:\n%s\nwant (the writer's own):\n%s", viaRenderer.String(), direct.String())
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A write error reaches onErr (trace notices it and exits 1), and the
// renderer goes on taking batches (the pipeline never blocks on it).
func TestRendererReportsWriteErrors(t *testing.T) {
	w := report.NewWriter(failingWriter{}, report.Options{Format: report.JSON, Streaming: true, HoldFlush: true})
	var errs []error
	r := newRenderer(w, func(err error) { errs = append(errs, err) })
	for i := range 3 * renderQueue {
		r.connect(&analyze.Connect{Client: "127.0.0.1", Port: 3306, Outcome: analyze.Refused, Attempts: []*analyze.Attempt{{Client: fmt.Sprintf("127.0.0.1:%d", 40000+i), Server: "127.0.0.1:3306", Outcome: analyze.Refused}}})
		r.tick(true)
	}
	r.finish()
	if len(errs) == 0 {
		t.Fatal("no write error reported")
	}
	for _, err := range errs {
		if !bytes.Contains([]byte(err.Error()), []byte("disk full")) {
			t.Errorf("error %q does not say what failed", err)
		}
	}
}
