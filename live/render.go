package live

import (
	"sync"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/report"
)

// renderer writes trace's report on a goroutine of its own, so that the
// pipeline (merger, engine) and the report's wording and encoding — about
// 40% of the work per connect — use both cores: at a high connect rate, or
// on a machine other processes keep busy, the pipeline then keeps up where
// it alone would fall behind and the kernel would drop. The pipeline hands
// over what each tick decided, in one batch; the renderer writes the
// batches in order, then flushes or prints the interim rollup as the tick
// asked.
//
// The report.Writer is only used under mu: by the renderer's goroutine,
// by notices being redacted (the pseudonyms are the writer's), and by the
// caller once finish has returned.
type renderer struct {
	w     *report.Writer
	mu    sync.Mutex
	jobs  chan renderJob
	done  chan struct{}
	batch []*analyze.Connect // decided since the last tick (pipeline's goroutine)
	// onErr receives each write error, outside mu (it may notice, and
	// notices take mu to be redacted).
	onErr func(error)
}

type renderJob struct {
	connects []*analyze.Connect
	flush    bool
	interim  time.Time // non-zero: print the interim rollup at this time
}

// renderQueue bounds the ticks' batches waiting to be written: when the
// renderer is that far behind, the pipeline waits (and the sources' queues
// and the kernel's rings take the slack).
const renderQueue = 16

func newRenderer(w *report.Writer, onErr func(error)) *renderer {
	r := &renderer{w: w, jobs: make(chan renderJob, renderQueue), done: make(chan struct{}), onErr: onErr}
	go r.run()
	return r
}

func (r *renderer) run() {
	defer close(r.done)
	for j := range r.jobs {
		var errs []error
		r.mu.Lock()
		for _, c := range j.connects {
			if err := r.w.Connect(c); err != nil {
				errs = append(errs, err)
			}
		}
		if j.flush {
			if err := r.w.Flush(); err != nil {
				errs = append(errs, err)
			}
		}
		if !j.interim.IsZero() {
			if err := r.w.Interim(j.interim); err != nil {
				errs = append(errs, err)
			}
		}
		r.mu.Unlock()
		for _, err := range errs {
			r.onErr(err)
		}
	}
}

// connect takes a decided connect (the session's OnConnect).
func (r *renderer) connect(c *analyze.Connect) { r.batch = append(r.batch, c) }

// tick hands over what was decided since the last tick; flush also
// flushes the output after it.
func (r *renderer) tick(flush bool) {
	if len(r.batch) == 0 && !flush {
		return
	}
	r.jobs <- renderJob{connects: r.batch, flush: flush}
	r.batch = nil
}

// interim asks for the interim rollup after what was handed over so far.
func (r *renderer) interim(now time.Time) {
	r.jobs <- renderJob{connects: r.batch, interim: now}
	r.batch = nil
}

// finish writes what is left and waits for the renderer to end; the
// writer is then the caller's again.
func (r *renderer) finish() {
	if len(r.batch) > 0 {
		r.jobs <- renderJob{connects: r.batch}
		r.batch = nil
	}
	close(r.jobs)
	<-r.done
}

// redactText redacts a notice with the writer's pseudonyms.
func (r *renderer) redactText(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.RedactText(s)
}
