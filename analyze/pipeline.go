package analyze

import (
	"runtime"
	"unsafe"
)

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
// The renderer also finishes the connects (finishConnect: the clients'
// text, the steps' offsets and order, the floats the model points to),
// work that only reads and writes the handed-out Connect: on a
// bench/gencap capture of 2 M packets and 200,000 connects the engine's
// goroutine bounds the wall time while the renderer's has time to spare.
// Building the whole Attempts there (the engine's attempts held until
// their batch came back) lost: the renderer read them cold from the
// other core, and newAttempt then reused them cold. In 3 alternating runs
// on a loaded host the engine's thread CPU time did not drop (1.05-1.09 s
// before, 1.10-1.19 s after) and the renderer's rose by 0.07-0.29 s.
//
// When it pays (measured on bench/gencap captures of 2 M packets, see
// pipeMinConnects): the pipeline costs CPU time of its own — the renderer
// reads connects built on the other core (cache misses), and two
// goroutines wake each other — so it starts only with GOMAXPROCS >= 2 (a
// second core to run on: `taskset -c 0`, a cgroup quota of one CPU or
// GOMAXPROCS=1 keep one goroutine) and once connects come densely,
// pipeMinConnects of them within pipeWindow packets. Bulk traffic with few
// connects stays on one goroutine.
//
// Nor does it pay when the machine's other cores are busy with other
// work: the two goroutines then wait for each other's turn on a core
// (each hand-over a sleep and a wake-up behind the other processes). On 2
// CPUs saturated by other work (load average 5-6; bench/gencap's 2 M
// packets, 200,000 connects; medians of 15 alternating runs) the wall time
// was no better than on one goroutine (3.15 s against 3.28, both ±50%)
// and the CPU time 11% more (2.48 s against 2.24). GOMAXPROCS cannot tell:
// it counts the CPUs the process may use, not the ones it gets. So every
// pipeCheckEvery batches the engine compares the CPU time the process got
// with the wall time since the last check; below pipeMinCores cores, the
// renderer is stopped (its queue rendered first), and the density rule
// may start it again after pipeBackoff batches' worth of connects on one
// goroutine (with this check: 3.22 s, 2.27 s of CPU time, in the same
// runs). A run with the second core free gets 1.7-1.9 cores and keeps it.
// Each stop in a row doubles the wait, up to pipeMaxBackoff batches: a
// trial costs wall time on a machine that stays busy. With a busy loop on
// the second CPU (best of 7): one goroutine 1.93 s; the pipeline 2.04 s,
// 2.14 with a constant wait; without the check 2.45 s (against 2.12 in
// those runs) and 22% more CPU time.
const (
	pipeBatch = 256 // connects per hand-over
	pipeAhead = 4   // full batches the engine may be ahead of OnConnect
)

// The rules (variables: the tests start the pipeline at the first connect,
// to compare both ways on every capture, and give it clocks that say how
// many cores it got).
var (
	// pipeMinConnects connects within pipeWindow packets start the
	// pipeline: one connect per 400 packets. What the pipeline saves with
	// a free core is the rendering, ~4.5 us per connect. On bench/gencap
	// captures of 2 M packets (best of 7 alternating runs, load average
	// 1.5), its wall time against one goroutine's: 1 connect in 10 packets
	// 1.09 s against 1.89, 1 in 40 0.43 against 0.62, 1 in 100 0.33
	// against 0.41, 1 in 200 0.24 against 0.33, 1 in 400 0.215 against
	// 0.233; about the same CPU time (within 3-10%, the noise) at every
	// density. Below that the rendering is a few percent of the work.
	pipeMinConnects        = 256
	pipeWindow      uint64 = 102400
	// pipeCPUs is how many goroutines may run at once.
	pipeCPUs = func() int { return runtime.GOMAXPROCS(0) }
	// The process must have got pipeMinCores cores over the last
	// pipeCheckEvery batches (about 20 ms at full speed) for the pipeline
	// to go on; stopped, it waits pipeBackoff batches' worth of connects.
	pipeCheckEvery = 16
	pipeMinCores   = 1.3
	pipeBackoff    = 64
	pipeMaxBackoff = 1024
	// pipeClock reads the wall clock and the CPU time of the process
	// (pipeclock_*.go; zero when unknown: the pipeline is never stopped).
	pipeClock = processClock
	// pipesStarted and pipesStopped count the pipelines (the tests).
	pipesStarted, pipesStopped int
)

// connectPipe calls OnConnect on its own goroutine, in the order the
// connects were put.
type connectPipe struct {
	on    func(*Connect)
	batch []*Connect      // being filled by the engine
	full  chan []*Connect // to the renderer
	back  chan []*Connect // rendered: the engine may reuse them
	done  chan struct{}   // closed when the renderer has finished
	// touched keeps touchConnects' sum, so that its reads are not left out.
	touched uintptr
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
			for i, c := range b {
				if i%touchAhead == 0 {
					p.touched, _ = touchConnects(b[i:min(i+touchAhead, len(b))])
				}
				finishConnect(c) // here, not on the engine's goroutine
				p.on(c)
			}
		}
		select {
		case p.back <- b:
		default: // the engine has spare batches enough: this one is garbage
		}
	}
}

// touchConnects reads every cache line of connects, their attempts, facts
// and timelines before the renderer works on them one by one, touchAhead
// connects at a time. The engine wrote them on its core, and each line's
// first read from the renderer's waits for it to come over; read in a
// loop that does nothing else, many are on the way at once (as rollup's
// touchPairs), and the renderer then finds them in its caches (touchAhead
// connects are some 150 KB: a whole batch's 600 KB were partly gone again
// by the batch's last connects).
// On analyze --format json of connects.pcap (the pipeline kept on, the
// renderer's thread CPU time, 6 alternating pairs on a loaded host) the
// renderer's CPU time went down by about an eighth. It returns the sum of
// the bytes read and how many lines it read.
func touchConnects(b []*Connect) (sum uintptr, lines int) {
	for _, c := range b {
		sum, lines = touchLines(sum, lines, unsafe.Pointer(c), unsafe.Sizeof(*c))
		for _, at := range c.Attempts {
			if at == nil {
				continue
			}
			sum, lines = touchLines(sum, lines, unsafe.Pointer(at), unsafe.Sizeof(*at))
			if at.Facts != nil {
				sum, lines = touchLines(sum, lines, unsafe.Pointer(at.Facts), unsafe.Sizeof(*at.Facts))
			}
			if n := len(at.Events); n > 0 {
				sum, lines = touchLines(sum, lines, unsafe.Pointer(&at.Events[0]), uintptr(n)*unsafe.Sizeof(at.Events[0]))
			}
		}
	}
	return sum, lines
}

// touchAhead is how many connects the renderer touches at a time.
const touchAhead = 64

// touchLines adds a byte of each cache line of the size bytes at p to
// sum (one every 64 bytes, and the last byte when its line is one more),
// and how many it read to lines.
func touchLines(sum uintptr, lines int, p unsafe.Pointer, size uintptr) (uintptr, int) {
	if size == 0 {
		return sum, lines
	}
	for off := uintptr(0); off < size; off += 64 {
		sum += uintptr(*(*byte)(unsafe.Add(p, off)))
		lines++
	}
	if last := uintptr(p) + size - 1; last&^63 != (uintptr(p)+(size-1)/64*64)&^63 {
		sum += uintptr(*(*byte)(unsafe.Add(p, size-1)))
		lines++
	}
	return sum, lines
}

// considerPipe counts n connects about to be handed to OnConnect and starts
// the pipeline when they come densely enough (see above). Called by flush,
// only with Options.Pipeline and GOMAXPROCS >= 2.
func (e *Engine) considerPipe(n int) {
	if e.pipeWait > 0 {
		e.pipeWait -= n
		e.pipeSeen, e.pipeFrom = 0, e.fed
		return
	}
	e.pipeSeen += n
	if e.pipeSeen < pipeMinConnects {
		return
	}
	if e.fed-e.pipeFrom <= pipeWindow {
		e.pipe = startPipe(e.opts.OnConnect)
		e.pipeBatches = 0
		e.pipeWall, e.pipeCPU = pipeClock()
		return
	}
	e.pipeSeen, e.pipeFrom = 0, e.fed
}

// checkPipe stops the pipeline when the process got fewer than
// pipeMinCores cores since the last check (see above). Called by flush
// after every batch sent.
func (e *Engine) checkPipe() {
	if e.pipeBatches < pipeCheckEvery {
		return
	}
	e.pipeBatches = 0
	wall, cpu := pipeClock()
	if wall > e.pipeWall && float64(cpu-e.pipeCPU) < pipeMinCores*float64(wall-e.pipeWall) {
		e.closePipe()
		pipesStopped++
		e.pipeBackoff = min(max(2*e.pipeBackoff, pipeBackoff), pipeMaxBackoff)
		e.pipeWait = e.pipeBackoff * pipeBatch
		e.pipeSeen, e.pipeFrom = 0, e.fed
		return
	}
	e.pipeBackoff = 0 // enough cores: a later stop waits pipeBackoff again
	e.pipeWall, e.pipeCPU = wall, cpu
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
	e.checkPipe()
}

// sendBatch hands the batch to the renderer (waiting while pipeAhead
// batches are queued) and takes a rendered one back for the next, if there
// is one: with Options.Recycle its connects' memory is reused.
func (e *Engine) sendBatch() {
	p := e.pipe
	p.full <- p.batch
	e.pipeBatches++
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
// returned for the last connect. Then the engine calls OnConnect itself
// again.
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
	for len(p.back) > 0 {
		if b := <-p.back; e.opts.Recycle {
			e.reuse(b)
		}
	}
	e.pipe = nil
}
