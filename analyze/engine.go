package analyze

import (
	"cmp"
	"errors"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// Options configure an Engine. The zero value follows every TCP connect.
type Options struct {
	// Ports limits attempts to these server ports (empty: every port).
	// Failed name lookups are reported whatever the port filter (they have
	// no port yet); narrow them with Hosts. A unix socket has no port:
	// with Ports set, unix-socket connects are followed only when Hosts
	// names their path, or when the path names mysql/mariadb and Ports
	// includes one of MySQLPorts.
	Ports []uint16
	// Hosts limits connects to those touching one of these: an IP address,
	// a CIDR prefix, or a name (matched, case-insensitively, against the
	// connect's resolved name and every name it looked up).
	Hosts []string
	// MySQLPorts are the ports where a server that speaks first with
	// something other than MySQL is a wrong_protocol finding rather than
	// just another TCP service. Default: 3306. MySQL is recognised by
	// content on every port.
	MySQLPorts []uint16
	// ClientTimeout is a hint: the client's connect timeout, when known. A
	// capture that ends after an attempt waited this long for a SYN-ACK or
	// a greeting gets timeout/no_greeting instead of incomplete.
	ClientTimeout time.Duration
	// IdleTimeout ends an attempt that has been silent this long on the
	// event clock (default 30 s).
	IdleTimeout time.Duration
	// FallbackWindow is how long after a failed attempt the engine waits for
	// the client to try the next resolved address before reporting the
	// connect (default 1 s).
	FallbackWindow time.Duration
	// MaxInFlight caps the attempts tracked at once (default 65536);
	// attempts beyond it are counted in Summary.Untracked.
	MaxInFlight int
	// NoPackets says packet capture is unavailable: attempts are decided
	// from kernel events alone (a connected socket is ok; greetings are not
	// visible).
	NoPackets bool
	// Live says events may arrive late or be lost (live tracing): decided
	// attempts are remembered for a while, so that a late event of theirs is
	// told apart from one of an unknown attempt (see LatePacket).
	Live bool
	// OnConnect receives each connect as soon as it is complete, in
	// completion order. The *Connect is the receiver's to keep.
	OnConnect func(*Connect)
	// Keep, when set, chooses the complete connects that are reported: one
	// it rejects is neither counted in the Summary nor handed to OnConnect
	// (a filter the engine cannot apply itself, e.g. live's by process).
	// The Summary's connect and attempt counts are thus those of the
	// connects reported, and only the engine keeps them.
	Keep func(*Connect) bool
	// Listeners is the listener inventory of the traced host when the
	// trace started (live): the causes of a refused connect name who
	// listens on its port, and on which addresses (listeners.go). Later
	// inventories come through Engine.SetListeners.
	Listeners []event.Listener
	// Recycle says that OnConnect (and Keep) keep nothing of the *Connect
	// they are given past the call: not the Connect, its Attempts, their
	// Facts or Events. The engine then reuses that memory for the connects
	// that follow (a report that writes each connect at once and forgets
	// it, e.g. analyze --format json, allocates half as much).
	Recycle bool
	// Pipeline lets the engine call OnConnect on a goroutine of its own
	// when that pays: with GOMAXPROCS >= 2, once connects come densely
	// (pipeline.go). OnConnect is then called in the same order, one call
	// at a time, in batches some connects behind the engine; it must not
	// touch the engine. Close returns after its last call. With Recycle, a
	// connect's memory is reused only after OnConnect returned. For
	// analysis of files: connects wait for their batch, which a live
	// stream's reader would notice.
	Pipeline bool
}

const (
	defaultIdleTimeout    = 30 * time.Second
	defaultFallbackWindow = time.Second
	defaultMaxInFlight    = 1 << 16
	// sweepEvery is how often (event clock) idle attempts, DNS queries and
	// connects waiting for a fallback are examined.
	sweepEvery = 100 * time.Millisecond
	// kernelLinger keeps a decided attempt's connect open this long for the
	// kernel events that trail the packets (the socket error after an RST,
	// connect()'s return).
	kernelLinger = 20 * time.Millisecond
	// noGreetingAfter is how long a connected attempt must have waited for
	// the server's first byte, without the client giving up, to be
	// no_greeting rather than incomplete when the capture ends.
	noGreetingAfter = 10 * time.Second
)

// Engine correlates packets and kernel events into attempts and connects.
// It is not safe for concurrent use: feed it from one goroutine, in time
// order (a live merger's reorder window is enough).
type Engine struct {
	opts       Options
	ports      *portSet
	protoPorts []portSet // each protocol's ports (protocols order)
	hosts      hostFilter

	flows   flowTable           // attempts (and DNS-over-TCP flows) in their connection phase, by flow key
	tracked []*attempt          // the same attempts, for the sweep to walk without a map iteration
	filter  flowFilter          // which hash buckets flows occupies (the hot path's only check)
	cookies map[uint64]*attempt // kernel socket cookie → attempt, until its connect is reported
	dns     dnsTracker
	kern    kernelState
	open    []*connectState // connects not yet reported, in creation order (and reported ones until openDropAt)
	// waiting lists the open connects none of whose attempts is undecided
	// (noteWaiting), and some that have one again or were reported since
	// (the sweep drops those): the connects the sweep asks whether they
	// are complete. It asked every open connect, nearly all of which were
	// waiting for an attempt's verdict (137 of 160 a sweep on
	// connects.pcap): a cache miss each, 2.7 M a run.
	waiting []*connectState
	// openDropAt is the length of open at which the sweep drops the
	// reported connects from it (and makes them spare): twice the
	// connects it kept the last time, so that each is looked at a few
	// times in its life, not at every sweep.
	openDropAt int
	readyBuf   []*connectState // sweep's scratch list of complete connects
	// decided lists the connects an attempt of which was decided during the
	// event being handled: reportDecided reports those complete after it.
	decided []*connectState
	ready   []*Connect // reported but not yet handed to OnConnect
	dd      dedup
	dueBuf  []*attempt // sweep's scratch list
	idleBuf []*attempt // sweep's scratch list of idle DNS flows
	// due schedules the tracked attempts for the sweep, touchedList the
	// attempts whose state changed since it last did (due.go).
	due         dueHeap
	touchedList []*attempt
	// names is the text of servers and clients (attempt.serverName,
	// buildConnect).
	names endpointNames
	// streamBufs are released streams' buffers, for the next connection
	// phases (initStream).
	streamBufs [][]byte
	// done lists the attempts of the connects reported since the last
	// flush; once their connects are handed out, nothing refers to them
	// any more and they become spare: newAttempt reuses their memory
	// (offline, an attempt's 2 KB were a third of what analyze allocated;
	// live, a fresh 2 KB for every connect was a tenth of trace's CPU).
	// Not an attempt on the lists of kernel attempts waiting for their port
	// and their SYNs (portless, unclaimed: attempt.listed), which keep
	// decided attempts a while.
	done, spare []*attempt
	// eventBufs are the timeline buffers of reported attempts that do not
	// become spare (listed): buildAttempt copied the steps out, nothing reads
	// a reported attempt's timeline again, and newAttempt gives the buffer
	// to the next attempt instead of growing a new one (live tracing made
	// 1.5 to 4.5 KB of garbage per attempt).
	eventBufs [][]Event
	// outSpare and connSpare are handed-out attempts and connects whose
	// memory is reused (Options.Recycle).
	outSpare  []*Attempt
	connSpare []*Connect
	// spareConnects are reported connects whose memory newConnect reuses
	// (spareConnect); reportedConnect is what their attempts and lookups
	// point at instead: a connect reported.
	spareConnects   []*connectState
	reportedConnect connectState
	// wrongBanners are the protocols' wrong-banner reasons (wrongBanner,
	// without its lookups by name for every attempt built).
	wrongBanners []Reason
	// stateDetails are the Details of the state change steps, by old and
	// new state (stateDetail).
	stateDetails [16][16]*proto.Detail
	// icmpDetails are the icmp_error steps' Details (icmp.go).
	icmpDetails icmpDetails
	// ended remembers the client SYN of reported attempts for a while,
	// so that a late SYN retransmit is not taken for a new attempt.
	ended endedSYNs
	// loss is what the sources lost (NoteLoss, late events); recent the
	// attempts decided lately, for late events (Options.Live).
	loss   lossState
	recent recentMemory
	// isns finds attempts by 5-tuple and ISN (live only; isn.go).
	isns isnIndex
	// portless lists, by server, kernel attempts whose SYN_SENT came
	// without the local port (see adoptPortless).
	portless map[netip.AddrPort][]*attempt
	// unclaimed lists, by server, attempts started by a SYN that no kernel
	// socket has claimed yet (live only; see adoptPortless).
	unclaimed map[netip.AddrPort]*unclaimedSYNs
	// inventories are the listener inventories after the first
	// (Options.Listeners), by the time taken (SetListeners, listeners.go).
	inventories []inventory

	// now is the event clock: the latest time of any event (nowNS: the same
	// in Unix nanoseconds, what the per-packet path compares).
	now       time.Time
	nowNS     int64
	nextSweep int64 // Unix ns: the next sweep is due with the first event at or after it
	seq       uint64
	inFlight  int

	fed        uint64
	kernelSeen bool
	sum        Summary
	// outcomes counts the reported attempts by outcome, in the order each
	// outcome first came (summary makes Summary.Outcomes of it): a dozen
	// outcomes at most, so a scan comparing the constants' strings (the
	// same pointer: equal at once) costs less per attempt than hashing the
	// string into a map.
	outcomes   []outcomeCount
	stats      map[string]event.Stats
	statsOrder []string
	closed     bool

	// pipe, when not nil, calls OnConnect on its own goroutine
	// (Options.Pipeline, pipeline.go); pipeOK says it may start, pipeSeen
	// counts the connects handed out since fed was pipeFrom, pipeWait the
	// connects still to wait after a stop (pipeBackoff batches' worth, the
	// last wait, doubled by each stop in a row); pipeBatches counts the
	// batches sent since the clocks read pipeWall and pipeCPU.
	pipe                            *connectPipe
	pipeOK                          bool
	pipeSeen, pipeWait, pipeBackoff int
	pipeFrom                        uint64
	pipeBatches                     int
	pipeWall, pipeCPU               time.Duration
}

// NewEngine returns an engine ready for events.
func NewEngine(opts Options) *Engine {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = defaultIdleTimeout
	}
	if opts.FallbackWindow <= 0 {
		opts.FallbackWindow = defaultFallbackWindow
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = defaultMaxInFlight
	}
	e := &Engine{
		opts:      opts,
		cookies:   make(map[uint64]*attempt),
		stats:     make(map[string]event.Stats),
		hosts:     parseHosts(opts.Hosts),
		nowNS:     math.MinInt64,
		nextSweep: math.MinInt64,
	}
	e.reportedConnect.reported = true
	if len(opts.Ports) > 0 {
		e.ports = new(portSet)
		for _, p := range opts.Ports {
			e.ports.add(p)
		}
	}
	e.protoPorts = protoPorts(&opts)
	for _, p := range protocols {
		if p.WrongBanner != "" {
			e.wrongBanners = append(e.wrongBanners, reasonIDs[p.WrongBanner])
		}
	}
	e.pipeOK = opts.Pipeline && pipeCPUs() >= 2
	e.dns.init()
	e.dns.names = &e.names
	e.kern.init()
	return e
}

// Packet feeds one captured packet. p is only read during the call.
func (e *Engine) Packet(p *event.Packet) {
	if e.passing(p) {
		return
	}
	e.packet(p)
}

// passing handles, and reports, the common packet in one short test: a
// TCP segment (not a client's first SYN) of a connection the engine does
// not follow, which only moves the event clock — unless that makes a
// sweep due, which packet does. Bulk traffic is nearly every packet of a
// big capture: it costs no more than this check (the same checks as
// packet and tcp make, in the order that rules it out soonest).
func (e *Engine) passing(p *event.Packet) bool {
	if p.Proto != event.ProtoTCP || p.TCPFlags&(event.TCPSyn|event.TCPAck|event.TCPRst) == event.TCPSyn ||
		e.filter.maybe(flowHash(p.SrcPort, p.DstPort)) || e.closed || len(p.Payload) < p.PayloadLen {
		return false
	}
	if t := unixNanos(p.Time); t > e.nowNS {
		if t >= e.nextSweep {
			return false
		}
		e.nowNS, e.now = t, p.Time
	}
	e.fed++
	return true
}

// packet is Packet for every packet passing does not handle.
func (e *Engine) packet(p *event.Packet) {
	if e.closed {
		return
	}
	e.fed++
	if len(p.Payload) < p.PayloadLen {
		e.sum.TruncatedSegments++
	}
	if t := unixNanos(p.Time); t > e.nowNS {
		e.nowNS, e.now = t, p.Time
		if t >= e.nextSweep {
			// Decide what went idle up to now before this packet counts.
			e.sweep(false)
		}
	}
	switch p.Proto {
	case event.ProtoTCP:
		e.tcp(p) // checks for duplicates itself, after the hot path
	case event.ProtoUDP:
		if (p.SrcPort == 53 || p.DstPort == 53) && !e.duplicate(p) {
			e.dnsUDP(p)
		}
	case event.ProtoICMP, event.ProtoICMPv6:
		if p.ICMP != nil && !e.duplicate(p) {
			e.icmp(p)
		}
	}
	if len(e.decided) > 0 {
		e.reportDecided()
	}
	if len(e.ready) > 0 {
		e.flush()
	}
}

// duplicate reports (and counts) a frame seen twice. Only packets the
// analysis uses are checked: bulk segments of connections past their
// connection phase are dropped before, at the cost of one flow-filter check.
func (e *Engine) duplicate(p *event.Packet) bool {
	if e.dd.seen(p) {
		e.sum.Duplicates++
		return true
	}
	return false
}

// Kernel feeds one kernel socket event. k is only read during the call.
func (e *Engine) Kernel(k *event.Kernel) {
	if e.closed {
		return
	}
	e.kernelSeen = true
	if t := unixNanos(k.Time); t > e.nowNS {
		e.nowNS, e.now = t, k.Time
	}
	if e.nowNS >= e.nextSweep {
		e.sweep(false)
	}
	e.kernel(k)
	if len(e.decided) > 0 {
		e.reportDecided()
	}
	if len(e.ready) > 0 {
		e.flush()
	}
}

// Advance moves the event clock to now without an event, so attempts that
// are idle or done get decided and their connects reported (live tracing
// calls it when no event arrived for a while).
func (e *Engine) Advance(now time.Time) {
	if e.closed {
		return
	}
	if t := unixNanos(now); t > e.nowNS {
		e.nowNS, e.now = t, now
	}
	e.sweep(false)
	e.flush()
}

// AddStats records a source's counters. Counters are cumulative per
// Source: a later call for the same Source replaces the earlier one.
func (e *Engine) AddStats(s event.Stats) {
	if _, ok := e.stats[s.Source]; !ok {
		e.statsOrder = append(e.statsOrder, s.Source)
	}
	e.stats[s.Source] = s
}

// Close decides every attempt still open (a capture that ended
// mid-attempt gives incomplete, or timeout/no_greeting when it waited long
// enough), reports the remaining connects and returns the summary.
func (e *Engine) Close() Summary {
	if e.closed {
		return e.summary()
	}
	e.sweep(true)
	e.flush()
	e.closePipe()
	e.closed = true
	return e.summary()
}

func (e *Engine) summary() Summary {
	s := e.sum
	s.Outcomes = make(map[Outcome]int, len(e.outcomes))
	for _, oc := range e.outcomes {
		s.Outcomes[oc.outcome] += oc.n
	}
	s.Errors = append([]string(nil), e.sum.Errors...)
	var frames uint64
	for _, name := range e.statsOrder {
		st := e.stats[name]
		frames += st.Packets
		s.Malformed += st.Malformed
		s.Unsupported += st.Unsupported
		s.KernelDrops += st.KernelDrops
		s.RingBufferLost += st.RingBufferLost
		s.UnreadAtStop += st.Unread
		if st.Err != "" {
			s.Errors = append(s.Errors, sourceError(st))
		}
	}
	s.Packets = e.fed
	if frames > s.Packets {
		s.Packets = frames
	}
	return s
}

// sourceError is a source's stopping error as the summary lists it: named
// by its source, unless the message already names it (a capture.Error
// reads "capture: FILE: packet N at byte offset X: …").
func sourceError(st event.Stats) string {
	src := st.Source
	if src == "" {
		src = "input"
	}
	if strings.HasPrefix(st.Err, src+":") || strings.Contains(st.Err, " "+src+":") {
		return st.Err
	}
	return src + ": " + st.Err
}

// Run is the offline loop: it feeds every packet next returns until io.EOF,
// then closes the engine. Any other error from next is recorded in the
// summary and returned, with the results so far reported.
func Run(next func() (*event.Packet, error), opts Options) (Summary, error) {
	e := NewEngine(opts)
	runErr := e.feed(nextFunc(next))
	if runErr != nil {
		e.sum.Errors = append(e.sum.Errors, runErr.Error())
	}
	return e.Close(), runErr
}

// feed hands every packet src returns to the engine until io.EOF (nil)
// or another error (returned). It calls src.Next directly: RunSource's
// source costs one indirect call per packet, not two (a method value).
func (e *Engine) feed(src interface{ Next() (*event.Packet, error) }) error {
	for {
		p, err := src.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if p != nil && !e.passing(p) {
			e.packet(p)
		}
	}
}

// nextFunc is Run's next function as a source for feed.
type nextFunc func() (*event.Packet, error)

func (f nextFunc) Next() (*event.Packet, error) { return f() }

// PacketSource is a packet source with counters, such as a capture.Reader.
type PacketSource interface {
	// Next returns the next packet (reused by the following call), io.EOF
	// at the end, or the error that stopped the source.
	Next() (*event.Packet, error)
	Stats() event.Stats
}

// RunSource is Run for a source with counters: the source's Stats (packets,
// malformed, unsupported, and the error that stopped it, with its packet
// number and offset) go into the summary. The error that stopped the source
// early is also returned; the results before it have been reported.
func RunSource(src PacketSource, opts Options) (Summary, error) {
	e := NewEngine(opts)
	runErr := e.feed(src)
	st := src.Stats()
	if runErr != nil && st.Err == "" {
		st.Err = runErr.Error()
	}
	e.AddStats(st)
	return e.Close(), runErr
}

// assignConnect places a new attempt in a connect (group), from the lookup
// that gave its address (the DNS tracker's lookupFor), and applies what
// that implies: a new connect claims that lookup and its related ones from
// the DNS tracker and gets its process's resolver evidence; the connect's
// previous attempt, when the client moved on from it undecided, ends now
// (gaveUpFor).
func (e *Engine) assignConnect(a *attempt) {
	var q *dnsQuery
	if a.unix == "" && a.server.Addr().IsValid() {
		q = e.dns.lookupFor(a)
	}
	c, created, movedOn := e.group(a, q)
	if created {
		if q != nil && q.conn == nil {
			c.addLookups(e.dns.claimInto(q, c.start, c.queries[:0]))
		}
		if c.pid != 0 {
			c.resolver = e.kern.resolverFor(c.pid, a.start)
		}
	}
	if movedOn != nil {
		e.movedOn(movedOn, a)
	}
}

// reportDecided reports the connects an attempt of which was decided while
// the last event was handled (or in the sweep's idle decisions), in the
// order the decisions came, if they are now complete.
func (e *Engine) reportDecided() {
	for i, c := range e.decided {
		if !c.reported && e.connectComplete(c, false) {
			e.report(c)
		}
		e.decided[i] = nil
	}
	e.decided = e.decided[:0]
}

// flush hands reported connects to OnConnect, outside the engine's state
// changes.
func (e *Engine) flush() {
	if e.pipe == nil && e.pipeOK {
		e.considerPipe(len(e.ready))
	}
	if e.pipe != nil {
		e.flushPiped()
		e.spareDone()
		return
	}
	ready := e.ready
	e.ready = nil
	for _, c := range ready {
		if e.opts.OnConnect != nil {
			e.opts.OnConnect(c)
		}
	}
	if e.opts.Recycle {
		for i, c := range ready {
			for _, at := range c.Attempts {
				if at != nil {
					e.outSpare = append(e.outSpare, at)
				}
			}
			e.connSpare = append(e.connSpare, c)
			ready[i] = nil
		}
		if e.ready == nil {
			e.ready = ready[:0]
		}
	}
	e.spareDone()
}

// spareDone makes the attempts of the connects handed out spare: the
// public Connect and Attempt share no memory with them (buildAttempt
// hands the timeline over and leaves the attempt a buffer of an Attempt
// OnConnect returned; the other slices it takes over are dropped, not
// reused, by newAttempt), so this is also right while a pipeline's
// OnConnect still reads those connects.
func (e *Engine) spareDone() {
	for i, a := range e.done {
		if spareCheck != nil {
			spareCheck(e, a)
		}
		if len(e.spare) < maxSpare {
			e.spare = append(e.spare, a)
		}
		e.done[i] = nil
	}
	e.done = e.done[:0]
}

// maxSpare bounds Engine.spare: a burst of connects reported at once (a
// stall's backlog decided in one sweep, the end of a capture) leaves the
// attempts beyond it to the collector, rather than keeping their memory
// (2 KB and a timeline each) for as long as the engine lives. A sweep's
// worth of connects at 10,000/s is about 1,000.
const maxSpare = 4096

// sweep decides idle attempts, ages DNS state and reports connects that are
// complete. With closing set, everything still open is decided.
//
// The engine is the one coordinator of its trackers: the attempt handlers
// decide (decide), the DNS tracker (dnsTracker) and the grouping of
// attempts into connects (group) only return what they found (failed
// lookups, an attempt the client moved on from), and only the engine acts
// on it. Connects are reported here and in reportDecided, after an event
// has been handled, never from inside a tracker.
func (e *Engine) sweep(closing bool) {
	e.nextSweep = e.nowNS + int64(sweepEvery)
	due, idle := e.dueBuf[:0], e.idleBuf[:0]
	if closing {
		for _, a := range e.tracked {
			if a.dnsFlow != nil {
				idle = append(idle, a)
			} else if !a.final {
				due = append(due, a)
			}
		}
	} else {
		due, idle = e.dueTracked(due, idle) // due.go
		if dueCheck != nil {
			dueCheck(e, due, idle)
		}
	}
	for i, a := range idle {
		e.untrack(a)
		idle[i] = nil
	}
	e.idleBuf = idle[:0]
	if len(e.portless) > 0 {
		e.adoptPortless(closing)
	}
	for _, a := range e.cookies {
		// Kernel attempts without a 5-tuple (no local port yet).
		if !a.keyed && !a.final && (closing || a.dueAt(e)) {
			due = append(due, a)
		}
	}
	if len(due) > 1 {
		slices.SortFunc(due, func(x, y *attempt) int { return cmp.Compare(x.seq, y.seq) })
	}
	for i, a := range due {
		e.decideIdle(a, closing)
		due[i] = nil
	}
	e.dueBuf = due[:0]
	e.reportDecided()
	for _, f := range e.dns.sweep(e.now, closing) {
		c := e.unresolvedConnect(f)
		e.report(c)
		e.spareConnect(c) // never on open
	}
	e.kern.sweep(e.now)
	e.ended.expire(e.nowNS)
	e.recent.expire(e.nowNS)
	e.isns.expire(e.nowNS)
	// Report complete connects in creation order; keep the rest.
	if !closing {
		e.reportWaiting()
		if len(e.open) < e.openDropAt {
			return
		}
	} else {
		// Every open connect is asked below.
		for i, c := range e.waiting {
			c.waiting, e.waiting[i] = false, nil
		}
		e.waiting = e.waiting[:0]
	}
	kept := e.open[:0]
	for i, c := range e.open {
		if closing && !c.reported && e.connectComplete(c, closing) {
			e.report(c)
		}
		if !c.reported {
			kept = append(kept, c)
		} else {
			e.open[i] = nil // before spareConnect: nothing may hold it
			e.spareConnect(c)
		}
	}
	for i := len(kept); i < len(e.open); i++ {
		e.open[i] = nil
	}
	e.open = kept
	e.openDropAt = 2*len(kept) + minOpenDrop
}

// minOpenDrop is the least number of connects the sweep lets open grow by
// before it drops the reported ones.
const minOpenDrop = 256

// reportWaiting reports the waiting connects that are complete, in
// creation order (as the sweep did walking all the open connects), and
// drops from the list those reported or with an undecided attempt again.
func (e *Engine) reportWaiting() {
	ready, kept := e.readyBuf[:0], e.waiting[:0]
	for _, c := range e.waiting {
		switch {
		case c.reported || c.undecided > 0:
			c.waiting = false
		case e.connectComplete(c, false):
			c.waiting = false
			ready = append(ready, c)
		default:
			kept = append(kept, c)
		}
	}
	for i := len(kept); i < len(e.waiting); i++ {
		e.waiting[i] = nil
	}
	e.waiting = kept
	if len(ready) > 1 {
		slices.SortFunc(ready, func(x, y *connectState) int { return cmp.Compare(x.seq, y.seq) })
	}
	for i, c := range ready {
		e.report(c)
		ready[i] = nil
	}
	e.readyBuf = ready[:0]
}

// spareCheck, set by tests, sees each attempt as it becomes spare, before
// newAttempt may reuse its memory; keepReported, set by tests, makes none
// spare (the reports with and without reuse are compared).
var (
	spareCheck     func(e *Engine, a *attempt)
	connSpareCheck func(e *Engine, c *connectState)
	keepReported   bool
)

// unixNanos is t in Unix nanoseconds, saturated outside the years
// 1678–2262 (a corrupt timestamp must not wrap around).
func unixNanos(t time.Time) int64 {
	const maxSec = math.MaxInt64/int64(time.Second) - 1
	sec := t.Unix()
	switch {
	case sec > maxSec:
		return math.MaxInt64
	case sec < -maxSec:
		return math.MinInt64 + 1
	}
	return sec*int64(time.Second) + int64(t.Nanosecond())
}

// portSet is a bitmap of TCP ports.
type portSet [1024]uint64

func (s *portSet) add(p uint16)      { s[p>>6] |= 1 << (p & 63) }
func (s *portSet) has(p uint16) bool { return s[p>>6]&(1<<(p&63)) != 0 }

// wantPort reports whether attempts to this server port are followed.
func (e *Engine) wantPort(p uint16) bool { return e.ports == nil || e.ports.has(p) }

// hostFilter matches connects against --host values.
type hostFilter struct {
	addrs    []netip.Addr
	prefixes []netip.Prefix
	names    []string
}

func parseHosts(hosts []string) hostFilter {
	var f hostFilter
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			f.addrs = append(f.addrs, a.Unmap())
			continue
		}
		if p, err := netip.ParsePrefix(h); err == nil {
			f.prefixes = append(f.prefixes, p.Masked())
			continue
		}
		f.names = append(f.names, normName(h))
	}
	return f
}

func (f *hostFilter) empty() bool {
	return len(f.addrs) == 0 && len(f.prefixes) == 0 && len(f.names) == 0
}

func (f *hostFilter) matchAddr(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, x := range f.addrs {
		if x == a {
			return true
		}
	}
	for _, p := range f.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (f *hostFilter) matchName(n string) bool {
	if n == "" {
		return false
	}
	n = normName(n)
	for _, x := range f.names {
		if x == n || strings.HasPrefix(n, x+".") {
			return true
		}
	}
	return false
}

// normName lower-cases a DNS name and drops the trailing dot.
func normName(s string) string {
	return strings.TrimSuffix(strings.ToLower(s), ".")
}
