package analyze

import "runtime"

// Options.Pipeline: the connects of a connect-heavy capture are handed to
// OnConnect on a goroutine of its own, so that rendering them (a report's
// JSON line, rollup and words: about as much CPU time as the engine's
// per-packet work on one connect per 10 packets) runs on a second core
// while the engine goes on with the packets that follow.
//
// Connects cross in batches of pipeBatch, so that the hand-over costs a
// channel operation per batch, not per connect; at most pipeAhead full
// batches wait for the renderer (the engine blocks beyond that: the
// memory held is bounded whatever the capture). Rendered batches come back
// to the engine: with Options.Recycle their connects' memory serves the
// connects that follow, as it does without the pipeline — only after
// OnConnect returned for every connect of the batch.
//
// When it pays (measured on bench/gencap captures of 2 M packets, see
// pipeMinConnects): the pipeline costs CPU time of its own — the renderer
// reads connects built on the other core (cache misses), and two
// goroutines wake each other — so it starts only with GOMAXPROCS >= 2 (a
// second core to run on: `taskset -c 0` or GOMAXPROCS=1 keeps one
// goroutine) and once connects come densely, pipeMinConnects of them within
// pipeWindow packets. Bulk traffic with few connects stays on one
// goroutine. Once started it stays on until Close.
const (
	pipeBatch = 256 // connects per hand-over
	pipeAhead = 4   // full batches the engine may be ahead of OnConnect
)

// The density rule (variables: the tests start the pipeline at the first
// connect, to compare both ways on every capture).
var (
	// pipeMinConnects connects within pipeWindow packets start the
	// pipeline: one connect per 100 packets.
	pipeMinConnects        = 256
	pipeWindow      uint64 = 25600
	// pipeCPUs is how many goroutines may run at once.
	pipeCPUs = func() int { return runtime.GOMAXPROCS(0) }
	// pipesStarted counts the pipelines started (the tests).
	pipesStarted int
)

// connectPipe calls OnConnect on its own goroutine, in the order the
// connects were put.
type connectPipe struct {
	on    func(*Connect)
	batch []*Connect      // being filled by the engine
	full  chan []*Connect // to the renderer
	back  chan []*Connect // rendered: the engine may reuse them
	done  chan struct{}   // closed when the renderer has finished
}

func startPipe(on func(*Connect)) *connectPipe {
	p := &connectPipe{
		on:    on,
		batch: make([]*Connect, 0, pipeBatch),
		full:  make(chan []*Connect, pipeAhead),
		back:  make(chan []*Connect, pipeAhead+2),
		done:  make(chan struct{}),
	}
	pipesStarted++
	go p.render()
	return p
}

// render is the renderer's goroutine.
func (p *connectPipe) render() {
	defer close(p.done)
	for b := range p.full {
		if p.on != nil {
			for _, c := range b {
				p.on(c)
			}
		}
		select {
		case p.back <- b:
		default: // the engine has spare batches enough: this one is garbage
		}
	}
}

// considerPipe counts n connects about to be handed to OnConnect and starts
// the pipeline when they come densely enough (see above). Called by flush,
// only with Options.Pipeline and GOMAXPROCS >= 2.
func (e *Engine) considerPipe(n int) {
	e.pipeSeen += n
	if e.pipeSeen < pipeMinConnects {
		return
	}
	if e.fed-e.pipeFrom <= pipeWindow {
		e.pipe = startPipe(e.opts.OnConnect)
		return
	}
	e.pipeSeen, e.pipeFrom = 0, e.fed
}

// flushPiped is flush with the pipeline on: the ready connects join the
// batch; a full batch goes to the renderer.
func (e *Engine) flushPiped() {
	p := e.pipe
	for i, c := range e.ready {
		p.batch = append(p.batch, c)
		e.ready[i] = nil
		if len(p.batch) == pipeBatch {
			e.sendBatch()
		}
	}
	e.ready = e.ready[:0]
}

// sendBatch hands the batch to the renderer (waiting while pipeAhead
// batches are queued) and takes a rendered one back for the next, if there
// is one: with Options.Recycle its connects' memory is reused.
func (e *Engine) sendBatch() {
	p := e.pipe
	p.full <- p.batch
	select {
	case b := <-p.back:
		if e.opts.Recycle {
			e.reuse(b)
		}
		clear(b)
		p.batch = b[:0]
	default:
		p.batch = make([]*Connect, 0, pipeBatch)
	}
}

// reuse takes handed-out connects back (Options.Recycle): their memory, and
// their attempts', serves the connects that follow.
func (e *Engine) reuse(cs []*Connect) {
	for _, c := range cs {
		for _, at := range c.Attempts {
			if at != nil {
				e.outSpare = append(e.outSpare, at)
			}
		}
		e.connSpare = append(e.connSpare, c)
	}
}

// closePipe hands over what is queued and waits until OnConnect has
// returned for the last connect.
func (e *Engine) closePipe() {
	p := e.pipe
	if p == nil {
		return
	}
	if len(p.batch) > 0 {
		p.full <- p.batch
	}
	p.batch = nil
	close(p.full)
	<-p.done
	e.pipe = nil
}
