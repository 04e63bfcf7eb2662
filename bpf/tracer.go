package bpf

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/connscope/connscope/event"
)

// Options select what the tracer reports.
type Options struct {
	// PIDs restricts tracing to these processes (tgids). Empty: every
	// process, unless FilterPIDs is set.
	PIDs []uint32
	// FilterPIDs restricts tracing to PIDs and processes added later with
	// AddPID even when PIDs is empty: `run -- CMD` opens the tracer, starts
	// the command held at a barrier, adds its pid, then releases it.
	FilterPIDs bool
	// FollowChildren also traces the children (and their children) that
	// traced processes fork from the moment they are traced.
	FollowChildren bool
	// Ports restricts TCP connects to these destination ports. Connects to
	// port 53 (the resolver's DNS server, over UDP or TCP), UDP connects to
	// port 0 (glibc sorting candidate addresses without a service) and
	// unix-socket connects are always reported. Empty: every port.
	Ports []uint16
	// RingBufferSize is the ring buffer size in bytes, rounded up to a power
	// of two of at least one page. Zero: 8 MiB (at 20,000 connects/s a
	// connect costs about 700 bytes, so about half a second of slack for a
	// stalled reader).
	RingBufferSize int

	// clock forces the kernel clock (tests); zero: TAI when the kernel has it.
	clock kernelClock
	// breakPrograms names programs to point at a nonexistent attach point
	// (tests of partial loading).
	breakPrograms []string
}

const defaultRingBufferSize = 8 << 20

// The programs submit events without waking the reader (a wakeup per event
// costs more than the event), except once 1/wakeupFraction of the ring is
// pending, and for a CPU's first event after quietWakeup without one. While
// events come in, the reader polls every pollInterval: the latency of an
// event under light traffic, inside the live pipeline's 200 ms reorder
// window. Once it has found the ring empty for quietWakeup (plus a margin),
// the next event anywhere wakes it, so it waits idlePoll instead: an idle
// tracer then barely wakes (a 100 ms poll cost 0.2–0.3% of a core here, a
// third of `trace`'s CPU under bulk traffic). idlePoll only bounds the harm
// should a wakeup ever be missed; ctx, Close and CaughtUp interrupt it.
const (
	wakeupFraction = 16
	pollInterval   = 100 * time.Millisecond
	quietWakeup    = 50 * time.Millisecond
	idleAfter      = quietWakeup + 25*time.Millisecond
	idlePoll       = 5 * time.Second
)

// Tracer reads connect() and socket events from the kernel. Next must be
// called from one goroutine at a time; Stats, AddPID, Unavailable and Close
// may be called from any goroutine.
type Tracer struct {
	opts  Options
	maps  map[string]*ebpf.Map
	progs map[string]*ebpf.Program
	links []link.Link

	ring  *eventRing
	clock *wallClock

	unavailable []string
	// skip holds the programs that cannot work here, with why (decided
	// before loading: a missing BTF enum).
	skip map[string]error

	drops *dropReasons  // enum skb_drop_reason; nil when kfree_skb is not loaded
	rsts  *resetReasons // tcp_send_reset's reason; nil when it is not loaded
	syms  *symbolizer

	events    atomic.Uint64
	malformed atomic.Uint64
	unread    atomic.Uint64 // DiscardUnread's count
	comms     map[[16]int8]string
	// lastComm is the task name comm converted last (Next's own).
	lastComm struct {
		raw  [16]int8
		name string
	}

	mu        sync.RWMutex // guards closed against Next's unlocked reader use
	closed    bool
	closeOnce sync.Once
	closeErr  error

	// For CaughtUp (unix ns): when Next last found the ring empty, and the
	// time of the last event it returned.
	emptyAt, lastAt atomic.Int64

	// Next's own (one goroutine): records read, and when it first found
	// the ring empty after reading the last of them (quietSince; zero
	// before) with the count then.
	records, recordsAtEmpty uint64
	quietSince              time.Time
	// idleWaits counts Next's waits of idlePoll (tests).
	idleWaits atomic.Uint64
}

var pastDeadline = time.Unix(1, 0)

// program describes one program of connscope.bpf.c: how it attaches and
// what is missing when it cannot.
type program struct {
	name    string // function name in connscope.bpf.c
	attach  string // for messages: "tracepoint syscalls/sys_enter_connect"
	missing string // what the user loses without it
	needed  func(Options) bool
}

var programs = []program{
	{tracerProgSysEnterConnect, "tracepoint syscalls/sys_enter_connect", "no connect() calls (errno, unix sockets, resolver connects)", always},
	{tracerProgSysExitConnect, "tracepoint syscalls/sys_exit_connect", "no connect() calls (errno, unix sockets, resolver connects)", always},
	{tracerProgInetSockSetState, "tp_btf inet_sock_set_state", "no TCP state changes and no socket attribution for retransmits, resets and errors", always},
	{tracerProgTcpRetransmitSkb, "tp_btf tcp_retransmit_skb", "no SYN retransmits", always},
	{tracerProgTcpReceiveReset, "tp_btf tcp_receive_reset", "no received resets", always},
	{tracerProgInetSkErrorReport, "tp_btf inet_sk_error_report", "no asynchronous socket errors", always},
	{tracerProgSysExitAccept4, "tracepoint syscalls/sys_exit_accept4", "no accept4() calls (which process accepted a connection, after how long)", always},
	{tracerProgSysExitAccept, "tracepoint syscalls/sys_exit_accept", "no accept() calls (which process accepted a connection, after how long)", always},
	{tracerProgKfreeSkb, "tp_btf kfree_skb", "no kernel drop reasons (why a SYN or RST of a followed port was dropped)", always},
	{tracerProgTcpRetransmitSynack, "tp_btf tcp_retransmit_synack", "no SYN-ACK retransmits of this host's listeners", always},
	{tracerProgTcpSendReset, "tp_btf tcp_send_reset", "no resets sent by this host's kernel (and why)", always},
	{tracerProgSchedProcessFork, "tp_btf sched_process_fork", "children of traced processes not followed", func(o Options) bool { return o.pidFilter() && o.FollowChildren }},
	{tracerProgSchedProcessExit, "tp_btf sched_process_exit", "exited pids stay in the filter (a recycled pid could be traced)", func(o Options) bool { return o.pidFilter() }},
}

func always(Options) bool { return true }

func (o Options) pidFilter() bool { return o.FilterPIDs || len(o.PIDs) > 0 }

// Open loads and attaches the tracer. It fails with an error wrapping
// ErrPermission, ErrNoBTF or ErrNoBPF when eBPF cannot be used at all, and
// when no program could be attached; programs that fail alone are listed by
// Unavailable and the tracer works with the rest.
func Open(opts Options) (*Tracer, error) {
	if err := CheckSupport(); err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	spec, err := loadTracer()
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}

	clock := opts.clock
	if clock == 0 {
		clock = clockMonotonic
		if features.HaveProgramHelper(ebpf.TracePoint, asm.FnKtimeGetTaiNs) == nil {
			clock = clockTAI
		}
	}
	var key [8]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("bpf: random key: %w", err)
	}
	vars := map[string]any{
		tracerVarFilterPids:     boolByte(opts.pidFilter()),
		tracerVarFollowChildren: boolByte(opts.FollowChildren),
		tracerVarFilterPorts:    boolByte(len(opts.Ports) > 0),
		tracerVarUseTai:         boolByte(clock == clockTAI),
		tracerVarAddrKey:        binary.LittleEndian.Uint64(key[:]),
	}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("bpf: setting %s: %w", name, err)
		}
	}
	slots := inflightSlots()
	spec.Maps[tracerMapInflight].MaxEntries = slots
	if err := spec.Variables[tracerVarSlotMask].Set(slots - 1); err != nil {
		return nil, fmt.Errorf("bpf: setting %s: %w", tracerVarSlotMask, err)
	}
	t := &Tracer{opts: opts, progs: map[string]*ebpf.Program{}, comms: map[[16]int8]string{}, skip: map[string]error{}, syms: newSymbolizer()}
	if drops, err := loadDropReasons(); err != nil {
		t.skip[tracerProgKfreeSkb] = err
	} else {
		t.drops = drops
		for name, v := range map[string]uint32{tracerVarDropNotSpecified: drops.notSpecified, tracerVarDropListenOverflow: drops.listenOverflow} {
			if err := spec.Variables[name].Set(v); err != nil {
				return nil, fmt.Errorf("bpf: setting %s: %w", name, err)
			}
		}
	}
	if rsts, err := loadResetReasons(); err != nil {
		t.skip[tracerProgTcpSendReset] = err
	} else {
		t.rsts = rsts
		if err := spec.Variables[tracerVarRstHasReason].Set(boolByte(rsts.hasReason)); err != nil {
			return nil, fmt.Errorf("bpf: setting %s: %w", tracerVarRstHasReason, err)
		}
	}
	ring := ringSize(opts.RingBufferSize)
	spec.Maps[tracerMapEvents].MaxEntries = ring
	if err := spec.Variables[tracerVarWakeupBytes].Set(uint64(ring / wakeupFraction)); err != nil {
		return nil, fmt.Errorf("bpf: setting %s: %w", tracerVarWakeupBytes, err)
	}
	if err := spec.Variables[tracerVarQuietWakeupNs].Set(uint64(quietWakeup)); err != nil {
		return nil, fmt.Errorf("bpf: setting %s: %w", tracerVarQuietWakeupNs, err)
	}

	if err := t.load(spec); err != nil {
		t.Close()
		return nil, fmt.Errorf("bpf: %w", err)
	}
	if t.progs[tracerProgTcpSendReset] != nil && !t.rsts.hasReason {
		t.unavailable = append(t.unavailable, "tp_btf tcp_send_reset's reason argument: not in this kernel (Linux 6.10+, enum sk_rst_reason); resets are reported without the kernel's reason")
	}
	if t.ring, err = openEventRing(t.maps[tracerMapEvents]); err != nil {
		t.Close()
		return nil, fmt.Errorf("bpf: ring buffer reader: %w", err)
	}
	t.clock = newWallClock(clock)
	return t, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// inflightSlots is the number of per-thread slots for connect() calls in
// flight (indexed by tid modulo the count): enough for every tid when
// pid_max allows (then two threads never share a slot), at most 65536
// (4 MiB); a power of two.
func inflightSlots() uint32 {
	pidMax := uint64(1 << 22) // the kernel's limit, if pid_max is unreadable
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
			pidMax = n
		}
	}
	slots := uint32(1024)
	for uint64(slots) < pidMax && slots < 1<<16 {
		slots <<= 1
	}
	return slots
}

// ringSize rounds n up to a power of two of at least a page.
func ringSize(n int) uint32 {
	if n <= 0 {
		n = defaultRingBufferSize
	}
	size := uint32(os.Getpagesize())
	for int(size) < n && size < 1<<30 {
		size <<= 1
	}
	return size
}

// load creates the maps, fills the filters, then loads and attaches each
// program on its own.
func (t *Tracer) load(spec *ebpf.CollectionSpec) error {
	// Maps first (all of them, including the frozen .rodata with the
	// settings), so that every program shares them and the filters are in
	// place before the first program runs.
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	cache := btf.NewCache()
	coll, err := ebpf.NewCollectionWithOptions(mapsOnly, ebpf.CollectionOptions{Cache: cache})
	if err != nil {
		return fmt.Errorf("creating maps: %w", err)
	}
	t.maps = coll.Maps
	one := uint8(1)
	for _, pid := range t.opts.PIDs {
		if err := t.maps[tracerMapPids].Put(pid, one); err != nil {
			return fmt.Errorf("adding pid %d to the filter: %w", pid, err)
		}
	}
	for _, port := range t.opts.Ports {
		if err := t.maps[tracerMapPorts].Put(port, one); err != nil {
			return fmt.Errorf("adding port %d to the filter: %w", port, err)
		}
	}

	tracefsErr := ensureTracefs()
	var failures []string
	for _, p := range programs {
		if !p.needed(t.opts) {
			continue
		}
		if err := t.skip[p.name]; err != nil {
			t.unavailable = append(t.unavailable, fmt.Sprintf("%s: %v; %s", p.attach, err, p.missing))
			continue
		}
		if err := t.loadProgram(spec, p, cache, tracefsErr); err != nil {
			t.unavailable = append(t.unavailable, fmt.Sprintf("%s: %v; %s", p.attach, err, p.missing))
			failures = append(failures, fmt.Sprintf("%s: %v", p.attach, err))
		}
	}
	if len(t.links) == 0 {
		return fmt.Errorf("%w: no program could be loaded and attached: %s", ErrNoBPF, strings.Join(failures, "; "))
	}
	return nil
}

func (t *Tracer) loadProgram(spec *ebpf.CollectionSpec, p program, cache *btf.Cache, tracefsErr error) error {
	ps := spec.Programs[p.name]
	if ps == nil {
		return fmt.Errorf("program %s missing from the object (regenerate with make generate)", p.name)
	}
	if slices.Contains(t.opts.breakPrograms, p.name) {
		ps = ps.Copy()
		ps.AttachTo = "csbpf_no_such_tracepoint"
		ps.SectionName = "tracepoint/csbpf/no_such_tracepoint"
	}
	one := spec.Copy()
	one.Programs = map[string]*ebpf.ProgramSpec{p.name: ps}
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: t.maps, Cache: cache})
	if err != nil {
		return fmt.Errorf("load: %s", shortLoadError(err))
	}
	prog := coll.DetachProgram(p.name)
	coll.Close() // the map clones; t.maps stay

	var l link.Link
	switch {
	case ps.Type == ebpf.TracePoint:
		if tracefsErr != nil {
			prog.Close()
			return tracefsErr
		}
		group, name, ok := strings.Cut(strings.TrimPrefix(ps.SectionName, "tracepoint/"), "/")
		if !ok {
			prog.Close()
			return fmt.Errorf("bad section %q", ps.SectionName)
		}
		l, err = link.Tracepoint(group, name, prog, nil)
	case ps.Type == ebpf.Tracing && ps.AttachType == ebpf.AttachTraceRawTp:
		l, err = link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	default:
		err = fmt.Errorf("unexpected program type %s", ps.Type)
	}
	if err != nil {
		prog.Close()
		return fmt.Errorf("attach: %v", err)
	}
	t.progs[p.name] = prog
	t.links = append(t.links, l)
	return nil
}

// shortLoadError keeps a load error to one line: the verifier's log is long,
// its last line usually names the problem.
func shortLoadError(err error) string {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) && len(ve.Log) > 0 {
		last := ""
		for i := len(ve.Log) - 1; i >= 0 && last == ""; i-- {
			last = strings.TrimSpace(ve.Log[i])
		}
		return fmt.Sprintf("%v (verifier: %s)", ve.Cause, last)
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// Unavailable lists the programs that could not be loaded or attached, one
// line each: what, why, and what the user loses. Empty when all work.
func (t *Tracer) Unavailable() []string {
	return append([]string(nil), t.unavailable...)
}

// Clock names the kernel clock events are stamped with ("CLOCK_TAI" or
// "CLOCK_MONOTONIC") and the current error bound of their conversion to the
// wall clock.
func (t *Tracer) Clock() (name string, bound time.Duration) {
	return t.clock.kind.String(), time.Duration(t.clock.bound.Load())
}

// AddPID adds a process (tgid) to the filter. With FollowChildren its
// future children are traced too.
func (t *Tracer) AddPID(pid uint32) error {
	if err := t.maps[tracerMapPids].Put(pid, uint8(1)); err != nil {
		return fmt.Errorf("bpf: adding pid %d to the filter: %w", pid, err)
	}
	return nil
}

// FollowServerPort makes the server side's events of a traced server's
// listen port pass a pid filter without a port filter (Options.Ports
// empty): its handshakes (SYN_RECV->ESTABLISHED), SYN-ACK retransmits,
// and the drops and resets of its port's segments, which happen in softirq
// with no process to filter by. The connect side is not widened: without a
// port filter it never consults the port map. With Options.Ports set the
// map is the connect filter, so it refuses (a port outside --port stays
// out).
func (t *Tracer) FollowServerPort(port uint16) error {
	if len(t.opts.Ports) > 0 {
		return fmt.Errorf("bpf: following server port %d: the tracer filters connects by port (Options.Ports), which the port would widen", port)
	}
	if err := t.maps[tracerMapPorts].Put(port, uint8(1)); err != nil {
		return fmt.Errorf("bpf: following server port %d: %w", port, err)
	}
	return nil
}

// Stats returns the tracer's counters: events read, records that could not be
// decoded, and events lost because the ring buffer was full.
func (t *Tracer) Stats() event.Stats {
	s := event.Stats{
		Source:    "ebpf",
		Events:    t.events.Load(),
		Malformed: t.malformed.Load(),
		Unread:    t.unread.Load(),
	}
	var perCPU []uint64
	if err := t.maps[tracerMapLost].Lookup(uint32(0), &perCPU); err != nil {
		s.Err = fmt.Sprintf("reading the lost-events counter: %v", err)
	}
	for _, n := range perCPU {
		s.RingBufferLost += n
	}
	return s
}

// ErrClosed is returned by Next once the tracer is closed.
var ErrClosed = errors.New("bpf: tracer closed")

// Next returns the next kernel event, blocking until one arrives, ctx is
// done (ctx.Err()) or the tracer is closed (ErrClosed). Events come in the
// order the kernel committed them; events from different CPUs may be out of
// timestamp order by a few microseconds.
func (t *Tracer) Next(ctx context.Context) (event.Kernel, error) {
	var k event.Kernel
	if _, err := t.NextBatch(ctx, unsafe.Slice(&k, 1)); err != nil {
		return event.Kernel{}, err
	}
	return k, nil
}

// NextBatch is Next for several events: it decodes the events waiting in
// the ring into ks (each overwritten whole), as many as are there up to
// len(ks), blocking only while none is, and returns how many it wrote
// (at least one unless err is set; ks[n:] may be garbage). The live reader
// decodes straight into the copies it hands on, and reads what piled up
// since its last poll (up to thousands of events at 10,000 connects/s) at
// once: the lock, the ring's release, the counters and the reader's queue
// are paid per batch rather than per event. A batch spans at most
// maxBatchSpan of event time.
func (t *Tracer) NextBatch(ctx context.Context, ks []event.Kernel) (int, error) {
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := t.read(ks)
		if n > 0 || err != nil {
			return n, err
		}
		// Every event reserved before now has been read.
		now := time.Now()
		t.emptyAt.Store(now.UnixNano())
		// About to block: poll again after pollInterval (events are mostly
		// submitted without wakeups), or after idlePoll when the next event
		// will wake the reader, and let ctx interrupt the wait.
		var stop func() bool
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, t.ring.wake)
		}
		err = t.ring.wait(t.waitFor(now))
		if stop != nil {
			stop()
		}
		if err != nil {
			t.mu.RLock()
			closed := t.closed
			t.mu.RUnlock()
			if closed {
				return 0, ErrClosed
			}
			return 0, fmt.Errorf("bpf: waiting for the ring buffer: %w", err)
		}
	}
}

// maxBatchSpan bounds the event time a batch of NextBatch spans (Unix
// ns): ReadThrough moves to its newest event before the caller has handed
// the batch on, so a consumer that trusts ReadThrough less a margin (live:
// 10 ms) must not find an event of the batch older than that. With one
// event per call that held by itself; a ring read out after a stall or a
// slow poll holds events of 100 ms and more.
const maxBatchSpan = int64(2 * time.Millisecond)

// read decodes the events waiting in the ring into ks, up to len(ks) and
// maxBatchSpan (0 when the ring is empty), skipping records that do not
// decode (counted). The records it read go back to the kernel together,
// when it returns.
func (t *Tracer) read(ks []event.Kernel) (int, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return 0, ErrClosed
	}
	// The records decoded (or skipped) go back to the kernel, also when
	// the ring ends in discarded records next skipped.
	defer t.ring.release()
	n := 0
	var first, newest int64
	for n < len(ks) {
		mark := t.ring.pending
		raw, err := t.ring.next()
		if err != nil {
			t.noteRead(n, newest)
			if n > 0 {
				return n, nil // the record is still there: the next read fails on it
			}
			return 0, fmt.Errorf("bpf: reading the ring buffer: %w", err)
		}
		if raw == nil {
			break
		}
		t.records++
		k := &ks[n]
		if !t.decodeInto(raw, k) {
			t.malformed.Add(1)
			continue
		}
		ns := k.Time.UnixNano()
		if n == 0 {
			first = ns
		} else if ns-first >= maxBatchSpan {
			// The next batch's first: left in the ring, read again.
			t.ring.pending = mark
			t.records--
			break
		}
		newest = max(newest, ns)
		n++
	}
	t.noteRead(n, newest)
	return n, nil
}

// noteRead counts n events read, the newest stamped newest (Unix ns).
func (t *Tracer) noteRead(n int, newest int64) {
	if n == 0 {
		return
	}
	t.events.Add(uint64(n))
	if newest > t.lastAt.Load() {
		t.lastAt.Store(newest)
	}
}

// ReadThrough returns a time up to which Next has returned every event the
// kernel recorded: CaughtUp holds for it (zero before Next first ran).
// Events from different CPUs may be out of order by microseconds: a
// consumer keeps a small margin. A reader idling in a long wait shows no
// progress: Wake makes it look at the ring again.
func (t *Tracer) ReadThrough() time.Time {
	n := max(t.emptyAt.Load(), t.lastAt.Load())
	if n <= 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Wake interrupts Next's wait, so that it looks at the ring again (and
// ReadThrough moves on) even when no event woke it.
func (t *Tracer) Wake() {
	t.mu.RLock()
	if !t.closed {
		t.ring.wake()
	}
	t.mu.RUnlock()
}

// waitFor returns how long Next, finding the ring empty at now, may wait
// for a wakeup. Every reservation before an empty check had been read by
// then, so when no record was read between the first empty check after the
// last record (quietSince) and now, no CPU has submitted since quietSince.
// Once that is at least quietWakeup ago, the programs wake the reader for
// the next event (see submit in connscope.bpf.c): Next may wait idlePoll.
func (t *Tracer) waitFor(now time.Time) time.Duration {
	if t.records != t.recordsAtEmpty || t.quietSince.IsZero() {
		t.recordsAtEmpty, t.quietSince = t.records, now
	}
	if now.Sub(t.quietSince) >= idleAfter {
		t.idleWaits.Add(1)
		return idlePoll
	}
	return pollInterval
}

// CaughtUp reports whether Next has read every event the kernel recorded
// before t: it found the ring buffer empty at t or later, or returned an
// event stamped t or later. A reader that has not been scheduled since (a
// loaded machine) is not caught up, however long ago t was. When it is not,
// CaughtUp interrupts Next's wait, so that a reader idling in a long wait
// looks at the ring again: a later call then has the answer.
func (t *Tracer) CaughtUp(at time.Time) bool {
	n := at.UnixNano()
	if t.emptyAt.Load() >= n || t.lastAt.Load() >= n {
		return true
	}
	t.Wake()
	return false
}

// DiscardUnread empties the ring without returning what it holds and
// counts the events stamped before `before` (Stats.Unread): the evidence a
// stop that could not wait any longer leaves unanalysed. Events after it
// are not counted: nobody asked for them. Call it after the last Next has
// returned (never concurrently with Next), before Close.
func (t *Tracer) DiscardUnread(before time.Time) uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return 0
	}
	var n uint64
	for {
		raw, err := t.ring.next()
		if raw == nil || err != nil {
			break
		}
		// Only the stamp is needed: no decoding (names, drop locations).
		if len(raw) >= eventSize && t.clock.toWall((*tracerEvent)(unsafe.Pointer(&raw[0])).Ts).Before(before) {
			n++
		}
	}
	t.ring.release()
	t.unread.Add(n)
	return n
}

// Close detaches the programs and frees everything. It interrupts Next.
func (t *Tracer) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		t.mu.Unlock()
		var errs []error
		for _, l := range t.links {
			errs = append(errs, l.Close())
		}
		if t.ring != nil {
			errs = append(errs, t.ring.close())
		}
		for _, p := range t.progs {
			errs = append(errs, p.Close())
		}
		for _, m := range t.maps {
			errs = append(errs, m.Close())
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}
