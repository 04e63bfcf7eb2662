package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/bpf"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/event"
)

// Options configure a live session.
type Options struct {
	Interface string   // "" = all interfaces
	NetNS     string   // capture in this network namespace (name in /run/netns, or a path); "" = this one
	Ports     []uint16 // target TCP ports; empty = every TCP port
	Hosts     []string // --host: IPs, prefixes or names (applied by the engine)

	PIDs           []uint32 // trace only these processes (and, with FollowChildren, their children)
	FilterPIDs     bool     // restrict to PIDs/AddPID even when PIDs is empty (run -- CMD)
	FollowChildren bool
	Comms          []string // --comm: report only connects made by processes with these names

	// Record, when set, receives every captured packet with its process (-w),
	// with credentials blanked from the client's payload (see
	// keptClientBytes) unless KeepPayload is set.
	Record      *capture.PcapngWriter
	KeepPayload bool

	// OnConnect receives each completed connect (from the pipeline's goroutine).
	OnConnect func(*analyze.Connect)
	// Recycle says that OnConnect keeps nothing of the connect it is given
	// past the call (analyze.Options.Recycle): the engine then reuses its
	// memory for the connects that follow (trace to a JSON report).
	Recycle bool
	// OnTick is called on the pipeline's goroutine after each tick has
	// delivered what it decided (trace flushes its report there).
	OnTick func()
	// Notice receives one-line notices: a source that could not open, programs
	// that did not load. Defaults to stderr.
	Notice func(string)

	// ReorderWindow is how long events are held so that packets and kernel
	// events order correctly; default 200 ms. While a source lags behind,
	// the window grows to cover its lag, up to MaxReorderWindow (default
	// 1 s); events later than that are fed as late (see analyze.Engine.LatePacket).
	ReorderWindow    time.Duration
	MaxReorderWindow time.Duration
	// ClientTimeout is the analyzer's client-timeout hint (see analyze.Options).
	ClientTimeout time.Duration
}

// The pipeline's tick while events come in, and when it is quiet.
const (
	activeTick = 100 * time.Millisecond
	idleTick   = 500 * time.Millisecond
)

// maxHeld bounds the events the reorder window holds (about 20 MB, so
// that peak memory stays bounded after a stall, when the rings are read out
// at once): half a second of 10,000 connects/s (about 6 packets and 6
// kernel events each). Beyond it events are released early; what then
// arrives older is late (counted, never a new attempt).
const maxHeld = 1 << 16

// maxPacketBatch bounds the packets the packet reader queues together.
const maxPacketBatch = 64

// sourceQueue bounds the events a source's reader queues for the pipeline
// (then it waits, and the kernel's ring takes the slack).
const sourceQueue = 8192

// kernelRingSize is the eBPF ring buffer: at 20,000 connects/s (about 700
// bytes of events each) 32 MiB holds about 2.4 s, like the packet ring
// (captureRingSize), for a pipeline another process starves of CPU for a
// while. With 16 MiB the kernel events ran out first: stopping trace for
// 4 s at 8,000 connects/s lost 65,881 of them, with 32 MiB none (what
// waited longer than the reorder window arrives late, counted).
const kernelRingSize = 32 << 20

// settle is how long Run keeps reading after it is told to stop, so that
// what the kernel already captured reaches the engine: longer than the
// packet ring's block timeout (10 ms) and the eBPF reader's poll (100 ms).
// Then it reads on until each source has read everything the kernel had
// captured when the stop came (on a loaded machine the readers may not have
// run for longer than settle), for at most maxSettle.
const (
	settle    = 250 * time.Millisecond
	maxSettle = 5 * time.Second
)

// Session is a running live trace: open sources feeding one engine.
type Session struct {
	opts    Options
	capture *packetCapture // nil when packet capture could not open
	tracer  *bpf.Tracer    // nil when eBPF could not load
	// packetRead and kernelRead tell how far each source has read (nil
	// when it does not run): see readThrough.
	packetRead, kernelRead sourceProgress
	engine                 *analyze.Engine
	merger                 *event.Merger
	procs                  *processTable

	// Sources queue what they read on these; closed when the source ends.
	packetQ *queue[*event.Packet]
	kernelQ *queue[*event.Kernel]
	// The arrays of the last batches taken, reused by the next take.
	packetBuf []*event.Packet
	kernelBuf []*event.Kernel
	// The chunks the readers copy events into come back through these
	// once the events are done with (slab.go); nil: not recycled.
	packetChunks *chunkCycle[event.Packet]
	kernelChunks *chunkCycle[event.Kernel]
	srcErr       chan error
	wg           sync.WaitGroup
	cancel       context.CancelFunc
	stopOnce     sync.Once

	ports *portCompleter
	scrub *scrubber // blanks credentials in recorded frames; nil with KeepPayload
	// onlyTraced drops packets no traced process owns before the engine
	// (run -- CMD, --pid): see feed.
	onlyTraced bool
	foreign    uint64 // packets dropped by onlyTraced
	traced     uint64 // packets fed to the engine

	// skipped counts the connects the process filters (--pid, --comm, run)
	// left out; the engine counts only the others (analyze.Options.Keep).
	skipped int
	// tracerStats are the tracer's counters read just before it closed
	// (its maps are gone afterwards).
	tracerStats event.Stats

	// listeners is the listener inventory taken at the start, then the
	// latest one (inventory.go); watch keeps it current, sending on
	// inventories (listenwatch.go).
	listeners   []event.Listener
	watch       *listenWatch
	inventories chan inventoryUpdate
	// follow is, under a pid filter, the traced processes' listeners
	// whose connects are reported too (follow.go); nil otherwise.
	follow *followed
	// listenAt are the namespace's listen counters at the start
	// (netstat.go), nil when they could not be read.
	listenAt *analyze.ListenCounters

	// clock is the wall clock (time.Now; tests drive their own).
	clock func() time.Time
	// lossCounters reads the sources' loss counters: kernel events lost in
	// the eBPF ring buffer, packets dropped by the kernel before capture.
	lossCounters func() (kernelLost, packetDrops uint64)
	seenLoss     struct{ lost, drops, late uint64 }
	// newest is the newest event time each source has delivered.
	newest struct{ packet, kernel time.Time }

	// procSlab holds the processes feed labels packets with.
	procSlab slab[event.Process]
}

// Start checks privileges and opens the sources: eBPF if it loads (else
// packets alone, said in one line), packet capture if it opens (else eBPF
// alone). It fails only when neither source can be had, or when a filter the
// user asked for (--pid, --comm) cannot be applied without eBPF.
func Start(opts Options) (*Session, error) {
	if opts.Notice == nil {
		opts.Notice = func(s string) { fmt.Fprintln(os.Stderr, "connscope: "+s) }
	}
	if opts.ReorderWindow == 0 {
		opts.ReorderWindow = 200 * time.Millisecond
	}
	if opts.MaxReorderWindow < opts.ReorderWindow {
		opts.MaxReorderWindow = max(opts.ReorderWindow, time.Second)
	}
	priv, err := CurrentPrivileges()
	if err != nil {
		return nil, err
	}
	if !priv.CanCapture() && !priv.CanTrace() {
		return nil, priv.Check()
	}
	if err := checkCaptureTarget(opts); err != nil {
		return nil, err
	}

	s := &Session{
		opts:    opts,
		merger:  &event.Merger{Window: opts.ReorderWindow, MaxWindow: opts.MaxReorderWindow, MaxHeld: maxHeld},
		procs:   newProcessTable(),
		packetQ: newQueue[*event.Packet](sourceQueue),
		kernelQ: newQueue[*event.Kernel](sourceQueue),
		srcErr:  make(chan error, 2),
		ports:   newPortCompleter(),

		packetChunks: &chunkCycle[event.Packet]{},
		kernelChunks: &chunkCycle[event.Kernel]{},
	}
	if opts.Record != nil && !opts.KeepPayload {
		s.scrub = newScrubber()
	}

	var traceErr, captureErr error
	if priv.CanTrace() {
		s.tracer, traceErr = bpf.Open(bpf.Options{
			PIDs:           opts.PIDs,
			FilterPIDs:     opts.FilterPIDs,
			FollowChildren: opts.FollowChildren,
			Ports:          opts.Ports,
			RingBufferSize: kernelRingSize,
		})
	} else {
		traceErr = priv.Check()
	}
	if traceErr != nil && (len(opts.PIDs) > 0 || len(opts.Comms) > 0) {
		return nil, fmt.Errorf("--pid and --comm need eBPF to tell processes apart, and it is not available: %v", traceErr)
	}
	// The readers run until Run stops them (after its settle time), not
	// until the caller's context ends: what the kernel captured just before
	// Ctrl-C or the command's exit must still arrive.
	readCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if priv.CanCapture() {
		s.capture, captureErr = openCapture(readCtx, opts, priv.CanTrace())
	} else {
		captureErr = priv.Check()
	}
	if s.tracer != nil {
		s.kernelRead = s.tracer
	}
	if s.capture != nil {
		s.packetRead = s.capture.reader
	}
	switch {
	case traceErr != nil && captureErr != nil:
		return nil, fmt.Errorf("neither source could be opened:\n  eBPF: %v\n  packet capture: %v", traceErr, captureErr)
	case traceErr != nil:
		what := "no process names, no failures that never reach the wire"
		if opts.FilterPIDs {
			what += ", and connects of every process in the namespace are reported, not only the command's"
		}
		opts.Notice(fmt.Sprintf("eBPF unavailable, tracing from packets alone (%s): %v", what, traceErr))
	case captureErr != nil:
		opts.Notice(fmt.Sprintf("packet capture unavailable, tracing from eBPF alone (no DNS, ICMP or MySQL details): %v", captureErr))
	}
	if s.tracer != nil {
		if un := s.tracer.Unavailable(); len(un) > 0 {
			opts.Notice("eBPF partly unavailable: " + strings.Join(un, "; "))
		}
	}
	if s.capture != nil && s.capture.filterNote != "" && s.tracer != nil {
		// Without eBPF at all the line above already says so.
		opts.Notice(s.capture.filterNote)
	}

	s.onlyTraced = s.tracer != nil && (opts.FilterPIDs || len(opts.PIDs) > 0)
	if s.onlyTraced {
		s.follow = newFollowed(opts.PIDs, opts.FollowChildren, localAddrs(opts.NetNS)) // follow.go
		if len(opts.Ports) == 0 {
			// With --port the tracer's port map filters connects too:
			// a server's port outside it stays out.
			s.follow.serverPort = s.tracer.FollowServerPort
		}
	}
	s.lossCounters = s.readLossCounters
	s.takeInventory() // inventory.go
	if c, err := listenCounters(opts.NetNS); err != nil {
		opts.Notice(fmt.Sprintf("%v (the summary will not show the listen queue counters)", err))
	} else {
		s.listenAt = &c
	}
	s.startEngine(s.capture == nil)

	if s.capture != nil {
		s.wg.Add(1)
		go s.readPackets()
	}
	if s.tracer != nil {
		s.wg.Add(1)
		go s.readKernel(readCtx)
	}
	if s.watch != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.watch.close()
			s.watch.watch(readCtx, s.inventories, s.opts.Notice)
		}()
	}
	return s, nil
}

// startEngine creates the engine and what feeds it from the merger.
func (s *Session) startEngine(noPackets bool) {
	if s.clock == nil {
		s.clock = time.Now
	}
	s.engine = analyze.NewEngine(analyze.Options{
		Ports:         s.opts.Ports,
		Hosts:         s.opts.Hosts,
		ClientTimeout: s.opts.ClientTimeout,
		NoPackets:     noPackets,
		Live:          true,
		Keep:          s.keep,
		OnConnect:     s.deliver,
		Recycle:       s.opts.Recycle,
		Listeners:     s.listeners,
	})
}

// Describe says in one line what the session reads: the capture (where,
// which kernel filter) and whether eBPF connect events come in.
func (s *Session) Describe() string {
	var parts []string
	if s.capture != nil {
		parts = append(parts, fmt.Sprintf("packets on %s (%s)", s.capture.where, s.capture.filterName()))
	} else {
		parts = append(parts, "no packet capture")
	}
	if s.tracer != nil {
		parts = append(parts, "connect() and socket events via eBPF")
	} else {
		parts = append(parts, "no eBPF events")
	}
	return strings.Join(parts, ", ")
}

// FilterReport says, after Run, what the kernel filter passed and kept back
// ("" without packet capture). The packets of untraced processes are
// counted in the summary (Summary.OtherProcesses).
func (s *Session) FilterReport() string {
	if s.capture == nil {
		return ""
	}
	var line string
	if s.capture.flowFilter == nil {
		line = "kernel filter: classic BPF filter (SYN/FIN/RST, ICMP errors, DNS, payload on the target ports)"
	} else if c, err := s.capture.flowFilter.Counters(); err != nil {
		line = fmt.Sprintf("kernel filter: eBPF flow filter (counters unreadable: %v)", err)
	} else {
		passed := c.PassedControl + c.PassedICMP + c.PassedDNS + c.PassedFlow
		line = fmt.Sprintf("kernel filter: eBPF flow filter passed %d packets (%d SYN/FIN/RST, %d ICMP errors, %d DNS, %d connection-phase segments; %d flows followed) and kept %d in the kernel (%d loopback duplicates)",
			passed, c.PassedControl, c.PassedICMP, c.PassedDNS, c.PassedFlow, c.FlowsAdded, c.Dropped+c.DroppedLoopbackOut, c.DroppedLoopbackOut)
	}
	return line
}

// AddPID adds a process to the kernel-side filter (run -- CMD). Without eBPF
// it is a no-op: packets carry no process.
func (s *Session) AddPID(pid int) error {
	if s.tracer == nil {
		return nil
	}
	if s.follow != nil {
		s.follow.addRoot(uint32(pid))
	}
	return s.tracer.AddPID(uint32(pid))
}

// HasKernelEvents reports whether the eBPF tracer is running.
func (s *Session) HasKernelEvents() bool { return s.tracer != nil }

// HasPackets reports whether packet capture is running.
func (s *Session) HasPackets() bool { return s.capture != nil }

// keep applies the process filters the engine does not know about; the
// engine neither counts nor delivers a connect they leave out.
func (s *Session) keep(c *analyze.Connect) bool {
	if !s.wanted(c) {
		s.skipped++
		return false
	}
	return true
}

// deliver hands a connect on.
func (s *Session) deliver(c *analyze.Connect) {
	if s.opts.OnConnect != nil {
		s.opts.OnConnect(c)
	}
}

// processFiltered says whether connects are filtered by process here
// (the engine knows nothing of processes it should leave out).
func (s *Session) processFiltered() bool {
	return len(s.opts.Comms) > 0 || (s.tracer != nil && (s.opts.FilterPIDs || len(s.opts.PIDs) > 0))
}

// wanted says whether a connect passes the process filters.
func (s *Session) wanted(c *analyze.Connect) bool {
	pidFilter := s.tracer != nil && (s.opts.FilterPIDs || len(s.opts.PIDs) > 0)
	if pidFilter && s.follow != nil && s.follow.connect(c) {
		pidFilter = false // a connect to a traced server (follow.go)
	}
	return wantedConnect(c, s.opts.Comms, pidFilter)
}

// wantedConnect applies --comm and, when pidFilter is set (a pid filter
// with eBPF running: --pid, run -- CMD), keeps only connects with a process.
// Under a pid filter every connect of a traced process carries its pid:
// through its attempts' kernel events, or, for a name that never resolved,
// through the DNS queries its resolver sent from a UDP socket the tracer saw
// it connect. Connects without any pid are other processes', seen because
// the capture cannot filter by process.
func wantedConnect(c *analyze.Connect, comms []string, pidFilter bool) bool {
	if len(comms) > 0 && !matchesComm(c, comms) {
		return false
	}
	if pidFilter && c.PID == 0 && !anyAttemptHasPID(c) {
		return false
	}
	return true
}

func anyAttemptHasPID(c *analyze.Connect) bool {
	for _, a := range c.Attempts {
		if a.PID != 0 {
			return true
		}
	}
	return false
}

func matchesComm(c *analyze.Connect, comms []string) bool {
	names := []string{c.Comm}
	for _, a := range c.Attempts {
		names = append(names, a.Comm)
	}
	for _, want := range comms {
		for _, n := range names {
			if n != "" && n == want {
				return true
			}
		}
	}
	return false
}

func (s *Session) readPackets() {
	defer s.wg.Done()
	defer s.packetQ.close()
	copier := packetCopier{packets: recyclingSlab[event.Packet]{cycle: s.packetChunks}}
	// What the ring holds is read, then queued together (a ring block
	// holds up to hundreds of frames): the queue's lock, which the
	// pipeline takes too, once per batch. A batch ends where Next would
	// wait (NextReady, which leaves ReadThrough behind the batch), and
	// before the copies' chunk is sealed (every copy in a sealed chunk
	// must be queued: see chunkCycle).
	var batch []*event.Packet
	for {
		p, err := s.capture.reader.Next()
		for err == nil && p != nil {
			batch = append(batch, copier.clone(p))
			if copier.packets.full() || len(batch) == maxPacketBatch {
				break
			}
			p, err = s.capture.reader.NextReady()
		}
		s.packetQ.putAll(batch)
		clear(batch)
		batch = batch[:0]
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.srcErr <- fmt.Errorf("packet capture stopped: %w", err)
			}
			return
		}
	}
}

func (s *Session) readKernel(ctx context.Context) {
	defer s.wg.Done()
	defer s.kernelQ.close()
	events := recyclingSlab[event.Kernel]{cycle: s.kernelChunks}
	var batch []*event.Kernel
	for {
		// Decoded straight into the copies the pipeline gets, as many
		// as wait (up to the rest of the chunk), queued together.
		room := events.room()
		n, err := s.tracer.NextBatch(ctx, room)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, bpf.ErrClosed) {
				s.srcErr <- fmt.Errorf("eBPF reader stopped: %w", err)
			}
			return
		}
		batch = batch[:0]
		for i := range room[:n] {
			events.note(room[i].Time)
			batch = append(batch, &room[i])
		}
		events.took(n)
		s.kernelQ.putAll(batch)
	}
}

// Run feeds the engine until ctx is done (Ctrl-C, --duration, the traced
// command exiting), reads on for a moment so that what the kernel already
// captured arrives, then stops the sources, drains what they had read, and
// returns the summary: every connect still open is decided and delivered.
// It also stops, early, when every source has ended.
func (s *Session) Run(ctx context.Context) (analyze.Summary, error) {
	// The pipeline ticks every activeTick while events come in, every
	// idleTick when nothing happened since the last tick (fewer wake-ups
	// on a quiet machine; a connect still open is then decided and printed
	// at most idleTick late).
	tick := time.NewTicker(activeTick)
	defer tick.Stop()
	idle := false
	busy := func() {
		if idle {
			idle = false
			tick.Reset(activeTick)
		}
	}
	// A source's ready channel is nil once it has ended (or when it never ran).
	packetCh, kernelCh := s.packetQ.ready, s.kernelQ.ready
	if s.capture == nil {
		packetCh = nil
	}
	if s.tracer == nil {
		kernelCh = nil
	}
	var (
		firstErr  error
		done      = ctx.Done()
		stopAt    <-chan time.Time
		stoppedAt time.Time
		behind    string // a source not caught up when maxSettle ran out
		received  bool   // since the last tick
	)
loop:
	for packetCh != nil || kernelCh != nil {
		select {
		case <-done:
			done = nil
			stoppedAt = time.Now()
			stopAt = time.After(settle)
			// Asking now wakes a reader idling in a long wait, so that
			// it has looked at its ring by the time settle is over.
			s.behind(stoppedAt, packetCh != nil, kernelCh != nil)
		case <-stopAt:
			behind = s.behind(stoppedAt, packetCh != nil, kernelCh != nil)
			if behind == "" || time.Since(stoppedAt) >= maxSettle {
				break loop
			}
			stopAt = time.After(activeTick)
		case <-packetCh:
			received = true
			busy()
			if !s.takePackets() {
				packetCh = nil
			}
		case <-kernelCh:
			received = true
			busy()
			if !s.takeKernel() {
				kernelCh = nil
			}
		case err := <-s.srcErr:
			s.opts.Notice(err.Error())
			if firstErr == nil {
				firstErr = err
			}
		case now := <-tick.C:
			// select picks among ready cases at random: take everything
			// the sources have queued before releasing, or a busy moment
			// would release items whose older neighbours are still queued.
			s.takeQueued(&packetCh, &kernelCh)
			s.noteLoss()
			s.tick(now)
			s.flushRecord()
			if s.opts.OnTick != nil {
				s.opts.OnTick()
			}
			if !received && !idle && s.merger.Len() == 0 {
				idle = true
				tick.Reset(idleTick)
			}
			received = false
		}
	}
	s.stopSources(stoppedAt)
	// Sources may have failed while stopping.
	for len(s.srcErr) > 0 {
		if err := <-s.srcErr; firstErr == nil {
			firstErr = err
		}
	}
	// Unread evidence counts like lost evidence for the attempts open when
	// the stop came: they become incomplete.
	var lost, drops uint64
	if s.capture != nil {
		st := s.capture.reader.Stats()
		drops = st.KernelDrops + st.Unread
	}
	if s.tracer != nil {
		lost = s.tracerStats.RingBufferLost + s.tracerStats.Unread
	}
	s.engine.NoteLoss(lost, drops, s.clock())
	s.merger.Flush(s.feed)
	for _, st := range s.stats() {
		s.engine.AddStats(st)
	}
	sum := s.engine.Close()
	if s.listenAt != nil {
		if end, err := listenCounters(s.opts.NetNS); err != nil {
			s.opts.Notice(err.Error())
		} else {
			sum.Listen = listenDelta(*s.listenAt, end)
		}
	}
	if s.onlyTraced {
		// The capture saw every process's packets: count the traced
		// processes' and the others' separately.
		// (Malformed and not-followed frames keep their own counters.)
		sum.OtherProcesses = s.foreign
		sum.Packets = s.traced
	}
	if s.processFiltered() && s.skipped > 0 {
		s.opts.Notice(fmt.Sprintf("%d connects of other processes were left out", s.skipped))
	}
	if behind != "" {
		sum.Errors = append(sum.Errors, fmt.Sprintf("stopped %v after the end with the %s not read to the end (a loaded machine?): the last connects may lack packets or kernel events", maxSettle, behind))
	}
	if s.opts.Record != nil {
		s.opts.Record.SetDrops(sum.KernelDrops)
	}
	return sum, firstErr
}

// behind names the running sources that have not yet read everything the
// kernel had captured at t ("" when none).
func (s *Session) behind(t time.Time, packets, kernel bool) string {
	var names []string
	if packets && !s.capture.reader.CaughtUp(t) {
		names = append(names, "packet capture")
	}
	if kernel && !s.tracer.CaughtUp(t) {
		names = append(names, "eBPF ring buffer")
	}
	return strings.Join(names, " and ")
}

// takeQueued moves what the sources have queued into the merger, without
// waiting for more.
func (s *Session) takeQueued(packetCh, kernelCh *chan struct{}) {
	if *packetCh != nil && !s.takePackets() {
		*packetCh = nil
	}
	if *kernelCh != nil && !s.takeKernel() {
		*kernelCh = nil
	}
}

// takePackets and takeKernel move everything a source has queued into the
// merger; false once the source has ended and everything it read is taken.
func (s *Session) takePackets() bool {
	s.packetChunks.collect() // before the take: their every packet is in it
	items, open := s.packetQ.take(s.packetBuf)
	now := s.clock() // when they arrived, as far as the lag goes
	for _, p := range items {
		s.addPacket(p, now)
	}
	s.packetBuf = items
	return open
}

func (s *Session) takeKernel() bool {
	s.kernelChunks.collect()
	items, open := s.kernelQ.take(s.kernelBuf)
	now := s.clock()
	for _, k := range items {
		s.addKernel(k, now)
	}
	s.kernelBuf = items
	return open
}

// addPacket and addKernel take an event from its source into the merger
// (after the port completer has seen it), noting how far behind the source
// delivers: now is when the pipeline took it (one clock read per batch).
func (s *Session) addPacket(p *event.Packet, now time.Time) {
	s.merger.NoteLag(now.Sub(p.Time))
	if p.Time.After(s.newest.packet) {
		s.newest.packet = p.Time
	}
	s.ports.packet(p)
	s.merger.Add(event.Item{Time: p.Time, Packet: p})
}

func (s *Session) addKernel(k *event.Kernel, now time.Time) {
	s.merger.NoteLag(now.Sub(k.Time))
	if k.Time.After(s.newest.kernel) {
		s.newest.kernel = k.Time
	}
	s.ports.kernel(k)
	s.merger.Add(event.Item{Time: k.Time, Kernel: k})
}

// tick releases what the reorder window no longer holds and moves the
// engine's clock to it.
//
// A source with a backlog still queued (after a stall: the pipeline starved
// of CPU, then its rings read out at once) holds the release back to the
// newest time it has delivered, so that its older events still merge in
// order instead of arriving late.
func (s *Session) tick(now time.Time) {
	if s.inventories != nil {
		s.applyInventory() // inventory.go
	}
	limit := s.merger.Limit(now)
	if s.packetQ.len() > 0 && s.newest.packet.Before(limit) {
		limit = s.newest.packet
	}
	if s.kernelQ.len() > 0 && s.newest.kernel.Before(limit) {
		limit = s.newest.kernel
	}
	limit = s.readThrough(limit)
	s.merger.ReleaseTo(limit, s.feed)
	s.ports.forget(limit)
	// Nothing refers to the events up to limit any more.
	s.packetChunks.reclaim(event.OrderKey(limit))
	s.kernelChunks.reclaim(event.OrderKey(limit))
	s.engine.Advance(limit)
}

// sourceProgress is what a running source tells of how far it has read
// (bpf.Tracer, capture.LiveReader): everything stamped before ReadThrough()
// has been read, up to a few milliseconds of skew between CPUs.
type sourceProgress interface {
	ReadThrough() time.Time
}

// readThrough caps limit at what every running source has read (less
// sourceSkew): a reader that lags (starved of CPU at a high event rate)
// holds the release and the engine's clock back, so that its events still
// merge in order, rather than arriving late for times the engine has
// already moved past and decided on. An idle reader waits without waking
// and shows no progress until woken (Wake): it is woken whenever it holds
// the release back, so that the engine's clock moves on (at most twice a
// second on a quiet machine, at the idle tick).
func (s *Session) readThrough(limit time.Time) time.Time {
	for _, src := range []struct {
		read sourceProgress
		q    interface{ ended() bool }
	}{{s.packetRead, s.packetQ}, {s.kernelRead, s.kernelQ}} {
		if src.read == nil || src.q.ended() {
			continue
		}
		if t := src.read.ReadThrough().Add(-sourceSkew); t.Before(limit) {
			limit = t
			if w, ok := src.read.(interface{ Wake() }); ok {
				w.Wake()
			}
		}
	}
	return limit
}

// sourceSkew is how much older than what a source has read its next event
// may still be (events of different CPUs; a timestamp taken just before the
// event was queued).
const sourceSkew = 10 * time.Millisecond

// noteLoss hands the sources' loss counters to the engine, so that attempts
// open while evidence was lost are not decided on what is missing.
func (s *Session) noteLoss() {
	lost, drops := s.lossCounters()
	if lost > s.seenLoss.lost || drops > s.seenLoss.drops || s.merger.Late > s.seenLoss.late {
		s.seenLoss.lost, s.seenLoss.drops, s.seenLoss.late = lost, drops, s.merger.Late
		s.ports.noGuessUntil = s.clock().Add(lossyFor)
	}
	s.engine.NoteLoss(lost, drops, s.clock())
}

// lossyFor is how long after a loss the port completer makes no guesses.
const lossyFor = 5 * time.Second

func (s *Session) readLossCounters() (lost, drops uint64) {
	if s.tracer != nil {
		lost = s.tracer.Stats().RingBufferLost
	}
	if s.capture != nil {
		drops = s.capture.reader.Stats().KernelDrops
	}
	return lost, drops
}

func (s *Session) feed(it event.Item) {
	if it.Kernel != nil {
		s.procs.observe(it.Kernel)
		if it.Late {
			s.engine.LateKernel(it.Kernel)
		} else {
			s.engine.Kernel(it.Kernel)
		}
		return
	}
	p := it.Packet
	// Label the packet with its process as a file written by -w will carry
	// it, so that live analysis and `analyze FILE.pcapng` see the same input.
	if p.Process == nil {
		if proc, ok := s.procs.lookup(p); ok {
			p.Process = s.procSlab.new()
			*p.Process = proc
		}
	}
	if s.onlyTraced && p.Process == nil && !s.follow.packet(p) {
		// The capture sees every process's packets; the tracer only the
		// traced ones' sockets (and their resolver's UDP sockets). What no
		// traced process owns is someone else's: left out, so that it can
		// neither be reported nor join a traced process's connect.
		s.foreign++
		return
	}
	if s.opts.Record != nil && p.Frame != nil && s.scrub != nil && !s.scrub.frame(p) {
		// Its payload could not be found to blank it: not written.
		if s.scrub.unwritten++; s.scrub.unwritten == 1 {
			s.opts.Notice("a captured frame's TCP payload could not be located to blank its credentials; such frames are left out of the -w file")
		}
	} else if s.opts.Record != nil && p.Frame != nil {
		if err := s.opts.Record.WriteEvent(p); err != nil {
			s.opts.Notice(fmt.Sprintf("writing the pcapng file failed, recording stopped: %v", err))
			s.opts.Record = nil
		}
	}
	s.traced++
	if it.Late {
		s.engine.LatePacket(p)
	} else {
		s.engine.Packet(p)
	}
}

func (s *Session) flushRecord() {
	if s.opts.Record == nil {
		return
	}
	if err := s.opts.Record.Flush(); err != nil {
		s.opts.Notice(fmt.Sprintf("writing the pcapng file failed, recording stopped: %v", err))
		s.opts.Record = nil
	}
}

func (s *Session) stats() []event.Stats {
	var st []event.Stats
	if s.capture != nil {
		st = append(st, s.capture.reader.Stats())
	}
	if s.tracer != nil {
		st = append(st, s.tracerStats)
	}
	return st
}

// stopSources stops the readers, moves everything they had read into the
// merger, and closes the sources. What the kernel captured before the stop
// (stoppedAt; zero when the sources ended by themselves) and no reader took,
// because the stop could wait no longer, is counted (Stats.Unread), not
// silently lost.
func (s *Session) stopSources(stoppedAt time.Time) {
	s.cancel() // each reader's Next returns: the readers end
	if s.capture != nil {
		for s.takePackets() {
			<-s.packetQ.ready
		}
	}
	if s.tracer != nil {
		for s.takeKernel() {
			<-s.kernelQ.ready
		}
	}
	if !stoppedAt.IsZero() {
		if s.capture != nil {
			s.capture.reader.DiscardUnread(stoppedAt)
		}
		if s.tracer != nil {
			s.tracer.DiscardUnread(stoppedAt)
		}
	}
	if s.capture != nil {
		s.capture.reader.Close()
	}
	if s.tracer != nil {
		s.tracerStats = s.tracer.Stats()
		s.tracer.Close()
	}
	s.wg.Wait()
}

// Close releases what Run does not: the flow filter. Call it after Run (and
// after FilterReport).
func (s *Session) Close() {
	s.stopOnce.Do(func() {
		if s.capture != nil {
			s.capture.close()
		}
	})
}
