package analyze

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// appProto is what the engine knows about the application protocol.
type appProto uint8

const (
	protoUnknown appProto = iota // no protocol recognised yet
	protoSession                 // a protocol plug-in's session decodes (attempt.sess)
	protoTLS                     // after an SSLRequest: opaque TLS records
	protoOther                   // another protocol (no decoding)
)

// closeKind says how a side ended the connection.
type closeKind uint8

const (
	notClosed closeKind = iota
	closedFIN
	closedRST
)

// ev is the timeline kind of a close.
func (k closeKind) ev() EventKind {
	if k == closedRST {
		return EvRST
	}
	return EvFIN
}

func (k closeKind) String() string {
	if k == closedRST {
		return "RST"
	}
	return "FIN"
}

// attempt is the state of one client 5-tuple (or one failed connect()
// without packets) until its outcome is decided and its connect reported.
type attempt struct {
	seq uint64

	// Read for every tracked attempt by every sweep (dueAt), and by most
	// packets: kept together so that this costs one or two cache lines per
	// attempt, not one per field spread over the whole struct.
	dnsFlow      *dnsTCPFlow // set instead of everything else for DNS over TCP
	final        bool        // verdict made
	keep         bool        // stays in the flow table after the verdict, until reported
	wire         bool        // a packet of this flow was seen (wire fact)
	clientClose  closeKind   // wire fact
	synAckAt     time.Time   // wire fact
	firstSrvData time.Time   // wire fact
	lastActivity time.Time   // wire fact
	kConnected   time.Time   // kernel fact
	// dueIdx is the attempt's place in Engine.due (one-based, 0: none);
	// touched says it is in Engine.touchedList (due.go).
	dueIdx  int32
	touched bool
	// listed: the attempt was put on a list that may still read it after
	// its connect is reported (Engine.unclaimed, Engine.portless): its
	// memory is then not reused for a new attempt (report).
	listed bool

	key    flowKey
	hash   uint16 // flowHash of the ports (Engine.filter)
	keyed  bool   // present in Engine.flows (until decided)
	idx    int    // position in Engine.tracked while keyed
	client netip.AddrPort
	server netip.AddrPort
	unix   string // unix socket path (kernel-only attempts)
	// srvStr and cliStr cache server.String() and client.String(): every
	// timeline step and the report name them.
	srvStr, cliStr string
	// names is the engine's text of servers (nil: format each time).
	names *endpointNames
	// clientIsA says the client is the flow key's first endpoint.
	clientIsA bool
	start     time.Time
	out       *Attempt
	// events is the timeline so far (out.Events gets a copy of its own
	// size when the attempt is reported: the buffer stays with the
	// attempt's memory when newAttempt reuses it).
	events []Event
	// outFacts and outEvents are memory for out's Facts and Events, from
	// an attempt handed out before (Options.Recycle), or nil.
	outFacts  *Facts
	outEvents []Event
	conn      *connectState

	// Wire facts.
	isn          uint32
	synCount     int
	firstSYN     time.Time
	lastSYN      time.Time
	lastSYNGap   time.Duration
	synAckRTT    time.Duration
	srvISN       uint32
	hsDoneAt     time.Time // client's ACK of the SYN-ACK (else the SYN-ACK)
	icmp         *event.ICMPError
	icmpFrom     netip.Addr
	icmpAt       time.Time
	clientGaveAt time.Time
	serverClose  closeKind
	serverGaveAt time.Time
	firstCliData time.Time
	// reqEnd is the sequence number after the client's first payload
	// segment, reqAckAt when the server acknowledged it (timing.go).
	reqEnd      uint32
	reqEndSet   bool
	reqAckAt    time.Time
	retransmits int
	// movedOn is the next attempt of the connect, started at movedOnAt
	// while this one still waited for a SYN-ACK (group.go: movedOn).
	movedOn   *attempt
	movedOnAt time.Time

	c2s, s2c stream
	proto    appProto
	sess     proto.Session   // the protocol plug-in's session (kept after it stops decoding, for its facts)
	sessOf   *proto.Protocol // the protocol of sess
	// msgs is the room for the session's steps' messages (sessConn.Msg):
	// the Attempt handed out takes it over (Attempt.msgs).
	msgs []proto.Msg
	// sc is sess's view of the attempt (its proto.Conn): in the attempt's
	// memory, not a new one per session; a report copies the decision it
	// keeps (Attempt.foundBuf).
	sc sessConn
	// cut: the snap length cut the server's bytes so that the session
	// cannot place the next message; only the client's bytes and TCP are
	// followed (the verdict is made from those, or is incomplete).
	cut      bool
	banner   string // first bytes of a server no protocol recognised, printable
	tlsTurns int
	tlsLast  bool // direction of the last TLS record: true = server
	tlsAlert string
	cutSegs  int // connection-phase segments the snap length cut

	// Kernel facts.
	cookie      uint64
	kISN        uint32 // the ISN the socket's kernel events carry (0: not known; isn.go)
	kSynSent    time.Time
	kSynRetrans int
	kLastSYN    time.Time     // last SYN (re)transmission the kernel reported
	kSynGap     time.Duration // gap before it
	kConnectRet time.Time     // a blocking connect() returned 0: the client knew it was connected
	kClosed     time.Time
	kErrno      int32 // first failure errno (connect() or socket error)
	kErrnoAt    time.Time
	kErrnoSync  bool // the failure was connect()'s own return (no SYN_SENT yet)
	kReset      bool
	kSockErrno  int32 // the last socket error reported (repeats are not shown again)
	pid         uint32
	comm        string
	fd          int32
	hasFD       bool

	// kDrops are packets of the attempt the kernel dropped (drop.go).
	kDrops []kernelDrop
	// srv is what the server's side showed of the attempt (server.go).
	srv *serverSide

	// Verdict.
	outcome  Outcome
	reason   Reason
	facts    Facts // what decide and lossVerdict add to the facts buildAttempt reads from the state
	endAt    time.Time
	decision *found // what a protocol session's verdict rests on (Conn.Decide), for its words
	notes    []note // facts kept whatever the outcome (a session's, e.g. a slow greeting; the server's PTR lookup)
	cutAt    int    // len(notes) when the snap length fact (facts.Cut) was taken

	// quietClose: the client closed at once with nothing sent either way
	// (a connect-then-close check); that ok rests on no server byte being
	// seen, so lost packets make it incomplete.
	quietClose bool
}

// maxEvents bounds an attempt's timeline.
const maxEvents = 64

// event appends a timeline step of kind k in direction d with its facts
// (the report words it).
func (a *attempt) event(t time.Time, k EventKind, d Dir, at EventAttrs) {
	if len(a.events) >= maxEvents {
		if len(a.events) == maxEvents {
			a.events = append(a.events, Event{Time: t, Kind: EvTruncated})
		}
		return
	}
	if a.events == nil {
		a.events = make([]Event, 0, 8)
	}
	a.events = append(a.events, Event{Time: t, Kind: k, Dir: d, EventAttrs: at})
}

// tlsDir is the direction of a TLS record.
func tlsDir(fromServer bool) Dir {
	if fromServer {
		return DirS2C
	}
	return DirC2S
}

// serverName is the server as ip:port ([v6]:port), or the unix socket path.
func (a *attempt) serverName() string {
	if a.unix != "" {
		return a.unix
	}
	if a.srvStr == "" {
		a.srvStr = a.names.port(a.server)
	}
	return a.srvStr
}

// endpointNames is the text of the servers (ip:port) and connect clients
// (ip) an engine named lately: a few servers and clients make most
// connects, and formatting and allocating the same text for each attempt
// and connect was a third of the engine's allocations. It forgets
// everything when it holds maxEndpointNames of a kind (a scan of many
// servers or clients just formats again).
type endpointNames struct {
	ports map[netip.AddrPort]string
	addrs map[netip.Addr]string
	// recent is a direct-mapped cache in front of ports: the map's lookup
	// (hashing the AddrPort, probing groups that were no longer cached)
	// cost about 140 ns for each attempt's server, and a few servers take
	// most attempts.
	recent [recentPorts]namedPort
}

const maxEndpointNames = 1024

// recentPorts is the size of endpointNames.recent (3 KB).
const recentPorts = 64

type namedPort struct {
	ap netip.AddrPort
	s  string
}

// port is ap.String(). A nil receiver formats it.
func (n *endpointNames) port(ap netip.AddrPort) string {
	if n == nil {
		return ap.String()
	}
	_, lo := event.AddrHalves(ap.Addr())
	r := &n.recent[((lo^uint64(ap.Port())<<48)*0x9e3779b97f4a7c15)>>58]
	if r.s != "" && r.ap == ap {
		return r.s
	}
	s, ok := n.ports[ap]
	if !ok {
		if n.ports == nil || len(n.ports) >= maxEndpointNames {
			n.ports = make(map[netip.AddrPort]string)
		}
		s = ap.String()
		n.ports[ap] = s
	}
	r.ap, r.s = ap, s
	return s
}

// addr is a.String(). A nil receiver formats it.
func (n *endpointNames) addr(a netip.Addr) string {
	if n == nil {
		return a.String()
	}
	if s, ok := n.addrs[a]; ok {
		return s
	}
	if n.addrs == nil || len(n.addrs) >= maxEndpointNames {
		n.addrs = make(map[netip.Addr]string)
	}
	s := a.String()
	n.addrs[a] = s
	return s
}

// clientName is the client as ip:port ([v6]:port).
func (a *attempt) clientName() string {
	if a.cliStr == "" {
		a.cliStr = a.client.String()
	}
	return a.cliStr
}

// connected reports whether the TCP handshake got an answer.
func (a *attempt) connected() bool { return !a.synAckAt.IsZero() || !a.kConnected.IsZero() }

// handshakeDone is when the connection counts as established for the
// greeting delay.
func (a *attempt) handshakeDone() time.Time {
	if !a.hsDoneAt.IsZero() {
		return a.hsDoneAt
	}
	if !a.synAckAt.IsZero() {
		return a.synAckAt
	}
	return a.kConnected
}

// newAttempt creates an attempt for client→server starting at t.
func (e *Engine) newAttempt(client, server netip.AddrPort, t time.Time) *attempt {
	e.seq++
	var a *attempt
	var events []Event
	var drops []kernelDrop
	if n := len(e.spare); n > 0 {
		a = e.spare[n-1]
		e.spare[n-1] = nil
		e.spare = e.spare[:n-1]
		events = a.events[:0] // not cleared: see outEvents below
		// The drops' memory serves again too (a refused connect's SYN,
		// dropped by the server's kernel: one per connect of a loop to a
		// closed port). Nothing of a reported attempt's drops is handed
		// out (fact copies one).
		drops = a.kDrops[:0]
		*a = attempt{}
	} else {
		a = new(attempt)
		if n := len(e.eventBufs); n > 0 {
			events = e.eventBufs[n-1]
			e.eventBufs[n-1] = nil
			e.eventBufs = e.eventBufs[:n-1]
		}
	}
	// Field by field into zeroed memory: `*a = attempt{...}` built the
	// 1.9 KB struct on the stack and copied it over (two more passes over
	// it for every attempt).
	a.events = events
	a.kDrops = drops
	a.seq = e.seq
	a.client, a.server = client, server
	a.start, a.lastActivity = t, t
	a.fd = -1
	a.names = &e.names
	if n := len(e.outSpare); n > 0 {
		// A handed-out attempt's memory (Options.Recycle), with its facts
		// and the backing array of its events for buildAttempt.
		out := e.outSpare[n-1]
		e.outSpare[n-1] = nil
		e.outSpare = e.outSpare[:n-1]
		// The steps a timeline buffer holds are not cleared: every step
		// is written whole (event, buildAttempt's copy), and none past
		// the timeline's length is read. Clearing a handed-out buffer,
		// long out of the caches, all at once (and through the
		// collector's write barrier) cost more than the timeline's own
		// writes to it later (live, 0.10 s of a 3.4 s connbench profile).
		a.outFacts, a.outEvents = out.Facts, out.Events
		a.msgs = out.msgs[:0] // its steps' messages: every one is written whole
		if cap(out.Events) > 0 {
			// The timeline is written into the buffer read last: OnConnect
			// has just rendered out's steps from it (spare Attempts are
			// taken newest first), so it is still in the caches, while
			// the attempt's own buffer was last written a whole attempt's
			// life ago. The other one only serves buildAttempt's
			// hand-over, which writes nothing into it.
			a.events, a.outEvents = out.Events[:0], events
		}
		*out = Attempt{}
		a.out = out
	} else {
		a.out = &Attempt{}
	}
	return a
}

// maxEventBufs bounds the spare timeline buffers (Engine.eventBufs).
const maxEventBufs = 1024

// releaseEvents takes the timeline buffer of a reported attempt whose
// memory is not reused (Engine.eventBufs), cleared, for newAttempt; the
// attempt's timeline becomes empty (nil).
func (e *Engine) releaseEvents(a *attempt) {
	if cap(a.events) > 0 && len(e.eventBufs) < maxEventBufs {
		clear(a.events)
		e.eventBufs = append(e.eventBufs, a.events[:0])
	}
	a.events = nil
}

// track puts a into the flow table under its 5-tuple.
func (e *Engine) track(a *attempt) bool {
	key, clientIsA := makeKey(a.client.Addr(), a.client.Port(), a.server.Addr(), a.server.Port())
	return e.trackAs(a, key, clientIsA)
}

// trackAs is track with a's key made already (makeKey of its client and
// server, as tcp does for each new SYN's packet).
func (e *Engine) trackAs(a *attempt, key flowKey, clientIsA bool) bool {
	if e.inFlight >= e.opts.MaxInFlight {
		e.sum.Untracked++
		return false
	}
	a.key, a.clientIsA = key, clientIsA
	a.hash = flowHash(a.client.Port(), a.server.Port())
	// A clear filter bit says no flow has these ports: the lookup for one
	// to replace is skipped (every new SYN's attempt comes here).
	if e.filter.maybe(a.hash) {
		if old := e.flows.get(a.key); old != nil && old != a {
			e.untrack(old)
		}
	}
	e.flows.set(a)
	e.filter.add(a.hash)
	a.keyed = true
	a.idx = len(e.tracked)
	e.tracked = append(e.tracked, a)
	e.inFlight++
	e.touch(a)
	return true
}

func (e *Engine) untrack(a *attempt) {
	if a.keyed {
		e.flows.remove(a)
		e.filter.remove(a.hash)
		last := e.tracked[len(e.tracked)-1]
		e.tracked[a.idx], last.idx = last, a.idx
		e.tracked[len(e.tracked)-1] = nil
		e.tracked = e.tracked[:len(e.tracked)-1]
		a.keyed = false
		e.inFlight--
		e.due.remove(a)
	}
}

// tcp handles a TCP segment. The common case — a segment of a connection
// that is not (or no longer) in its connection phase — costs one look at
// the flow filter (indexed by the ports; no map access).
func (e *Engine) tcp(p *event.Packet) {
	isSYN := p.TCPFlags&(event.TCPSyn|event.TCPAck|event.TCPRst) == event.TCPSyn
	var a *attempt
	var key flowKey
	var srcIsA, keyMade bool
	if e.filter.maybe(flowHash(p.SrcPort, p.DstPort)) {
		key, srcIsA = makeKey(p.Src, p.SrcPort, p.Dst, p.DstPort)
		keyMade = true
		a = e.flows.get(key)
	}
	if a == nil {
		if isSYN && !e.duplicate(p) {
			// The key is made once for the remembered SYNs and the new
			// attempt's flow (it was made twice more: 15 ms of a 1 s run).
			if !keyMade {
				key, srcIsA = makeKey(p.Src, p.SrcPort, p.Dst, p.DstPort)
			}
			if !e.lateRetransmit(p, key, srcIsA) {
				e.newSYN(p, key, srcIsA)
			}
		}
		return
	}
	if e.duplicate(p) {
		return
	}
	if a.dnsFlow != nil {
		e.dnsTCP(a, p, srcIsA == a.clientIsA)
		return
	}
	fromClient := srcIsA == a.clientIsA
	if isSYN && fromClient && !a.wire && a.otherConnect(p.Seq) {
		// A kernel attempt whose socket sent another ISN (isn.go): this
		// SYN is another connect on the 5-tuple. The kernel attempt goes
		// on by its socket's events (cookie).
		e.untrack(a)
		e.newSYN(p, key, srcIsA)
		return
	}
	if isSYN && fromClient && a.wire && p.Seq != a.isn {
		// Same 5-tuple, new initial sequence number: the port was reused
		// for a new connect. The old attempt ends here.
		if !a.final {
			e.decideIdle(a, true)
		}
		e.untrack(a)
		e.newSYN(p, key, srcIsA)
		return
	}
	e.segment(a, p, fromClient)
}

// rememberSYN records a reported attempt's 5-tuple and ISN, so that a late
// retransmit of its SYN is recognised. Only SYNs that got no SYN-ACK are
// remembered: a client retransmits nothing else once answered.
func (e *Engine) rememberSYN(a *attempt) {
	if a.synCount == 0 || a.unix != "" || a.connected() {
		return
	}
	e.ended.remember(a.key, a.isn, a.clientIsA, e.nowNS)
}

// lateRetransmit reports (and counts) a client SYN that retransmits the SYN
// of an attempt already reported: the same 5-tuple and ISN. The verdict
// came before the client gave up (an RST it did not accept, or a capture
// that looked idle); it is not a new attempt. A new ISN on the 5-tuple is
// a new connect and makes the old SYN forgotten.
func (e *Engine) lateRetransmit(p *event.Packet, key flowKey, srcIsA bool) bool {
	en := e.ended.find(key)
	if en == nil {
		return false
	}
	if en.isn == p.Seq && en.clientIsA == srcIsA {
		e.sum.LateRetransmits++
		return true
	}
	en.gone = true
	return false
}

// newSYN starts an attempt (or a DNS-over-TCP flow) at a client's first SYN
// (key and srcIsA: makeKey of the packet's source and destination).
func (e *Engine) newSYN(p *event.Packet, key flowKey, srcIsA bool) {
	client := netip.AddrPortFrom(p.Src, p.SrcPort)
	server := netip.AddrPortFrom(p.Dst, p.DstPort)
	if p.DstPort == 53 && (e.ports == nil || !e.ports.has(53)) {
		e.newDNSTCP(p, client, server)
		return
	}
	if !e.wantPort(p.DstPort) {
		return
	}
	if k := e.byISN(client, server, p.Seq); k != nil && !k.wire && !k.reported() && (!k.keyed || e.flows.get(k.key) != k) {
		// The kernel attempt of the socket that sent this SYN, which left
		// the 5-tuple to another connect's attempt (isn.go).
		if !e.track(k) {
			return
		}
		e.segment(k, p, true)
		return
	}
	a := e.newAttempt(client, server, p.Time)
	if !e.trackAs(a, key, srcIsA) {
		return
	}
	if e.opts.Live {
		e.noteUnclaimed(a)
	}
	if p.Process != nil {
		// Before grouping: a lookup only explains an attempt of the process
		// that made it (a pcapng written by `trace -w` names the process).
		e.attribute(a, p.Process)
	}
	e.assignConnect(a)
	e.segment(a, p, true)
}

// segment applies one TCP segment to an attempt.
func (e *Engine) segment(a *attempt, p *event.Packet, fromClient bool) {
	t := p.Time
	first := !a.wire
	a.wire = true
	a.lastActivity = t
	e.touch(a)
	if p.Process != nil {
		// `connscope trace -w` stamps every packet of a socket with the
		// process that connect()ed it.
		e.attribute(a, p.Process)
	}
	if first && t.Before(a.start) {
		a.start = t
	}
	flags := p.TCPFlags
	a.noteTiming(p, fromClient)
	if fromClient {
		switch {
		case flags&(event.TCPSyn|event.TCPAck) == event.TCPSyn:
			e.clientSYN(a, p)
		case flags&event.TCPRst != 0:
			if a.out.RSTFrom == "" {
				a.out.RSTFrom = "client"
			}
			e.clientClosed(a, t, closedRST)
		default:
			if flags&event.TCPAck != 0 && a.hsDoneAt.IsZero() && !a.synAckAt.IsZero() && p.Ack == a.srvISN+1 {
				a.hsDoneAt = t
			}
			if p.PayloadLen > 0 {
				e.clientData(a, p)
			}
			if flags&event.TCPFin != 0 {
				e.clientClosed(a, t, closedFIN)
			}
		}
		return
	}
	switch {
	case flags&(event.TCPSyn|event.TCPAck) == event.TCPSyn|event.TCPAck:
		e.synAck(a, p)
	case flags&event.TCPRst != 0:
		if a.out.RSTFrom == "" {
			a.out.RSTFrom = "server"
		}
		e.serverClosed(a, t, closedRST)
	default:
		if p.PayloadLen > 0 {
			e.serverData(a, p)
		}
		if flags&event.TCPFin != 0 {
			e.serverClosed(a, t, closedFIN)
		}
	}
}

func (e *Engine) clientSYN(a *attempt, p *event.Packet) {
	t := p.Time
	if a.synCount == 0 {
		a.isn = p.Seq
		a.firstSYN, a.lastSYN = t, t
		a.synCount = 1
		if a.kISN != p.Seq {
			e.noteISN(a, p.Seq)
		}
		e.initStream(&a.c2s, p.Seq)
		a.event(t, EvSYN, DirC2S, EventAttrs{Addr: a.serverName()})
		if p.PayloadLen > 0 {
			// TCP Fast Open: the client's first bytes ride on the SYN.
			a.event(t, EvSYNData, DirC2S, EventAttrs{Bytes: p.PayloadLen})
			a.firstCliData = t
			a.c2s.add(p.Seq+1, p.Payload, p.PayloadLen)
		}
		return
	}
	if a.final {
		a.synCount++
		a.retransmits++
		a.lastSYNGap = t.Sub(a.lastSYN)
		a.lastSYN = t
		a.event(t, EvSYNRetransmit, DirC2S, EventAttrs{Note: NoteAfterVerdict, N: a.synCount - 1, ElapsedMS: proto.MSOf(t.Sub(a.firstSYN))})
		return
	}
	if !a.synAckAt.IsZero() {
		// A SYN retransmitted after the SYN-ACK: the SYN-ACK was lost on
		// the way back (or seen only here).
		a.retransmits++
		a.synCount++
		a.event(t, EvSYNRetransmit, DirC2S, EventAttrs{Note: NoteAfterSYNACK, N: a.synCount - 1})
		return
	}
	a.synCount++
	a.retransmits++
	a.lastSYNGap = t.Sub(a.lastSYN)
	a.lastSYN = t
	a.event(t, EvSYNRetransmit, DirC2S, EventAttrs{N: a.synCount - 1, ElapsedMS: proto.MSOf(t.Sub(a.firstSYN))})
}

func (e *Engine) synAck(a *attempt, p *event.Packet) {
	t := p.Time
	if !a.synAckAt.IsZero() {
		if p.Seq == a.srvISN {
			a.retransmits++
			a.event(t, EvSYNACKRetrans, DirS2C, EventAttrs{})
		}
		return
	}
	a.synAckAt = t
	a.srvISN = p.Seq
	e.initStream(&a.s2c, p.Seq)
	ref := a.lastSYN
	if ref.IsZero() {
		ref = a.kSynSent
	}
	if !ref.IsZero() {
		a.synAckRTT = t.Sub(ref)
	}
	if a.final {
		a.event(t, EvSYNACK, DirS2C, EventAttrs{Note: NoteAfterVerdict, Addr: a.serverName()})
		return
	}
	at := EventAttrs{Addr: a.serverName(), ElapsedMS: proto.MSOf(a.synAckRTT)}
	if a.synCount > 1 {
		at.N = a.synCount
	}
	a.event(t, EvSYNACK, DirS2C, at)
}

// clientData handles payload from the client.
func (e *Engine) clientData(a *attempt, p *event.Packet) {
	t := p.Time
	if a.otherProtocolPending() {
		a.firstCliData = t
		a.event(t, EvClientData, DirC2S, EventAttrs{Note: NoteAnswersBanner, Bytes: p.PayloadLen})
		e.decide(a, ReasonServerFirstAnswered, t)
		return
	}
	if a.firstCliData.IsZero() {
		a.firstCliData = t
	}
	if !a.c2s.started {
		return
	}
	if retransmitted(&a.c2s, p) {
		a.retransmits++
	}
	if a.final {
		return
	}
	n := a.c2s.add(p.Seq, p.Payload, p.PayloadLen)
	e.noteCut(a, p, "client")
	switch a.proto {
	case protoSession:
		a.sess.Client(t)
	case protoTLS:
		if a.c2s.lost { // these bytes cannot be placed: follow the segments
			e.tlsSegment(a, &a.c2s, p, n, false, t)
		} else {
			e.decodeTLS(a, &a.c2s, false, t)
		}
	case protoUnknown:
		if a.firstSrvData.IsZero() {
			e.classifyClient(a, t, p.PayloadLen)
		}
	}
}

// serverData handles payload from the server.
func (e *Engine) serverData(a *attempt, p *event.Packet) {
	t := p.Time
	if !a.s2c.started {
		// Payload without a SYN-ACK seen (capture started late, or lost):
		// anchor the stream here.
		e.initStream(&a.s2c, p.Seq-1)
	}
	if retransmitted(&a.s2c, p) {
		a.retransmits++
	}
	if a.firstSrvData.IsZero() {
		a.firstSrvData = t
		if a.final {
			a.event(t, EvServerData, DirS2C, EventAttrs{Note: NoteAfterVerdict, Bytes: p.PayloadLen})
		}
	}
	if a.final {
		return
	}
	n := a.s2c.add(p.Seq, p.Payload, p.PayloadLen)
	e.noteCut(a, p, "server")
	switch a.proto {
	case protoUnknown:
		e.classifyServer(a, t, false)
	case protoSession:
		a.sess.Server(t, false)
	case protoTLS:
		if a.s2c.lost { // these bytes cannot be placed: follow the segments
			e.tlsSegment(a, &a.s2c, p, n, true, t)
		} else {
			e.decodeTLS(a, &a.s2c, true, t)
		}
	}
}

// noteCut counts a connection-phase segment the snap length cut and says
// so, once, in the attempt's evidence.
func (e *Engine) noteCut(a *attempt, p *event.Packet, who string) {
	if len(p.Payload) >= p.PayloadLen {
		return
	}
	a.cutSegs++
	if a.cutSegs == 1 {
		a.facts.Cut = &CutFact{From: who, AtMS: ms(p.Time.Sub(a.start)), Kept: len(p.Payload), Len: p.PayloadLen}
		a.cutAt = len(a.notes)
	}
}

// retransmitted reports whether a data segment starts before the next
// expected byte (a retransmission or overlap).
func retransmitted(s *stream, p *event.Packet) bool {
	return s.started && int32(p.Seq-s.base-s.next) < 0
}

// classifyServer decides what the server's first bytes are: the first
// server-first protocol that recognises them gets a session, else they are
// another protocol's. With final set (the server closed) it decides on
// whatever arrived.
func (e *Engine) classifyServer(a *attempt, t time.Time, final bool) {
	buf := a.s2c.buf
	noMore := final || a.s2c.partial() || a.s2c.dead
	cut := a.s2c.partial() || a.s2c.lost
	for _, p := range protocols {
		if p.SniffServer == nil {
			continue
		}
		switch sn, sniffed := p.SniffServer(buf, noMore, cut); sn {
		case proto.Wait:
			return // wait for the rest of the first message
		case proto.Yes, proto.Cut:
			e.startSession(a, p, sn, sniffed)
			a.sess.Server(t, final)
			return
		}
	}
	delay := t.Sub(a.handshakeDone())
	late := a.clientClose != notClosed
	a.proto = protoOther
	a.banner = bannerText(buf)
	e.releaseStreams(a)
	switch {
	case late:
		a.event(t, EvServerData, DirS2C, EventAttrs{Note: NoteAfterClientGaveUp, ElapsedMS: proto.MSOf(delay), Detail: &proto.Detail{Banner: a.banner}})
		a.facts.ServerFirstMS = msp(delay)
		a.facts.AfterGiveUpMS = msp(t.Sub(a.clientGaveAt))
		a.facts.ClientGaveUpMS = msp(a.clientGaveAt.Sub(a.start))
		e.decide(a, ReasonServerSpokeLate, t)
	case e.expected(a) != nil:
		p := e.expected(a)
		a.event(t, EvServerData, DirS2C, EventAttrs{Note: NoteNotExpected, Detail: &proto.Detail{Banner: a.banner, Expected: p.Name}})
		a.facts.Expected = p.Name
		e.decide(a, reasonIDs[p.WrongBanner], t)
	case a.firstCliData.IsZero():
		// Another server-first protocol. Whether the client speaks it shows
		// next: a client that answers does; one that stays silent until the
		// connection closes expected something else (a client of a
		// server-first protocol waits for a greeting).
		a.event(t, EvServerData, DirS2C, EventAttrs{Note: NoteOtherProtocol, ElapsedMS: proto.MSOf(delay), Detail: &proto.Detail{Banner: a.banner}})
	default:
		a.event(t, EvServerData, DirS2C, EventAttrs{Note: NoteAnswersClient, ElapsedMS: proto.MSOf(t.Sub(a.firstCliData)), Detail: &proto.Detail{Banner: a.banner}})
		a.facts.ClientFirstMS = msp(nonNegative(a.firstCliData.Sub(a.handshakeDone())))
		a.facts.SinceRequestMS = msp(t.Sub(a.firstCliData))
		e.decide(a, ReasonServerAnswered, t)
	}
}

// classifyClient looks at the client's first bytes, sent before the
// server spoke: the first client-first protocol that recognises them gets
// a session (one that waits for more bytes is asked again at the next
// segment). n is the length of the segment that brought them.
func (e *Engine) classifyClient(a *attempt, t time.Time, n int) {
	for _, p := range protocols {
		if p.SniffClient == nil {
			continue
		}
		if sn := p.SniffClient(a.c2s.buf); sn == proto.Yes || sn == proto.Cut {
			e.startSession(a, p, sn, nil)
			a.sess.Client(t)
			return
		}
	}
	if len(a.events) < maxEvents && a.c2s.bytes == n {
		a.event(t, EvClientData, DirC2S, EventAttrs{Note: NoteClientFirst, Bytes: n})
	}
}

// otherProtocolPending says the server spoke first with a protocol no
// plug-in recognised and the client has not answered yet.
func (a *attempt) otherProtocolPending() bool {
	return !a.final && a.proto == protoOther && !a.firstSrvData.IsZero() && a.firstCliData.IsZero()
}

// silentClient decides an attempt whose client never answered the first
// bytes of a server no protocol recognised before the connection closed.
func (e *Engine) silentClient(a *attempt, t time.Time, who string, how closeKind) {
	if a.final {
		return
	}
	a.facts.SinceServerMS = msp(t.Sub(a.firstSrvData))
	e.decide(a, ReasonClientSilentToBanner, t)
}

// bannerText renders the first bytes of a server no protocol recognised, for evidence.
func bannerText(b []byte) string {
	const max = 40
	out := make([]rune, 0, max)
	for _, c := range b {
		if len(out) >= max {
			break
		}
		if c == '\r' || c == '\n' {
			if len(out) > 0 {
				break
			}
			continue
		}
		if c < 0x20 || c >= 0x7f {
			out = append(out, '.')
			continue
		}
		out = append(out, rune(c))
	}
	return string(out)
}

// decodeTLS walks TLS record headers (bodies are skipped, never buffered)
// and decides when the handshake clearly failed or clearly went on.
func (e *Engine) decodeTLS(a *attempt, s *stream, fromServer bool, t time.Time) {
	for !a.final && len(s.buf) >= 5 {
		typ := s.buf[0]
		length := int(s.buf[3])<<8 | int(s.buf[4])
		if typ < 20 || typ > 24 || s.buf[1] != 3 || length > 18432 {
			a.event(t, EvNotDecoded, "", EventAttrs{Note: NoteNotTLS})
			a.proto = protoOther
			e.decide(a, ReasonTLSNotTLS, t)
			return
		}
		if fromServer != a.tlsLast || a.tlsTurns == 0 {
			a.tlsTurns++
			a.tlsLast = fromServer
			switch {
			case a.tlsTurns == 1 && !fromServer:
				a.event(t, EvTLSClientHello, DirC2S, EventAttrs{})
			case a.tlsTurns == 2 && fromServer && typ == 22:
				a.event(t, EvTLSServerHello, DirS2C, EventAttrs{})
			}
		}
		if typ == 21 {
			who := "client"
			if fromServer {
				who = "server"
			}
			desc, name := "", ""
			if length == 2 && len(s.buf) >= 7 {
				name = tlsAlertName(s.buf[6])
				desc = " " + name
			}
			a.tlsAlert = who + desc
			at := EventAttrs{}
			if name != "" {
				at.Detail = &proto.Detail{Alert: name}
			}
			a.event(t, EvTLSAlert, tlsDir(fromServer), at)
			e.decide(a, ReasonTLSAlert, t)
			return
		}
		s.consume(5 + length)
		if a.tlsTurns >= 4 {
			a.event(t, EvTLSEstablished, "", EventAttrs{})
			e.decide(a, ReasonTLSCompleted, t)
			return
		}
	}
}

// tlsSegment follows a TLS direction whose records can no longer be
// placed (the snap length cut one, and the next record starts in bytes
// that were not captured). Each segment of new data still says who spoke,
// which is what the turn count needs; a segment captured whole that is
// exactly a run of TLS records can still show an alert. n is the number of
// new in-order bytes the segment brought.
func (e *Engine) tlsSegment(a *attempt, s *stream, p *event.Packet, n int, fromServer bool, t time.Time) {
	if a.final || n == 0 {
		return
	}
	who := "client"
	if fromServer {
		who = "server"
	}
	if fromServer != a.tlsLast || a.tlsTurns == 0 {
		a.tlsTurns++
		a.tlsLast = fromServer
	}
	if n == p.PayloadLen && len(p.Payload) == p.PayloadLen {
		if desc, ok := tlsAlertIn(p.Payload); ok {
			a.tlsAlert = who + " " + tlsAlertName(desc)
			a.event(t, EvTLSAlert, tlsDir(fromServer), EventAttrs{Detail: &proto.Detail{Alert: tlsAlertName(desc)}})
			e.decide(a, ReasonTLSAlert, t)
			return
		}
	}
	if a.tlsTurns >= 4 {
		a.event(t, EvTLSEstablished, "", EventAttrs{})
		a.facts.TLSCutSide, a.facts.TLSCutAt = who, int(s.lostAt)
		e.decide(a, ReasonTLSCompleted, t)
	}
}

// tlsAlertIn reports the alert in b when b is exactly a run of whole TLS
// records (so its first byte is a record boundary) that holds an alert.
func tlsAlertIn(b []byte) (desc byte, ok bool) {
	found := false
	for off := 0; off < len(b); {
		if len(b)-off < 5 {
			return 0, false
		}
		typ := b[off]
		length := int(b[off+3])<<8 | int(b[off+4])
		if typ < 20 || typ > 24 || b[off+1] != 3 || length > 18432 || len(b)-off-5 < length {
			return 0, false
		}
		if typ == 21 && length == 2 && !found {
			desc, found = b[off+6], true
		}
		off += 5 + length
	}
	return desc, found
}

func tlsAlertName(d byte) string {
	switch d {
	case 0:
		return "close_notify"
	case 10:
		return "unexpected_message"
	case 20:
		return "bad_record_mac"
	case 40:
		return "handshake_failure"
	case 42:
		return "bad_certificate"
	case 43:
		return "unsupported_certificate"
	case 44:
		return "certificate_revoked"
	case 45:
		return "certificate_expired"
	case 46:
		return "certificate_unknown"
	case 47:
		return "illegal_parameter"
	case 48:
		return "unknown_ca"
	case 50:
		return "decode_error"
	case 51:
		return "decrypt_error"
	case 70:
		return "protocol_version"
	case 71:
		return "insufficient_security"
	case 80:
		return "internal_error"
	case 112:
		return "unrecognized_name"
	case 116:
		return "certificate_required"
	case 120:
		return "no_application_protocol"
	}
	return fmt.Sprintf("alert %d", d)
}

// closedAtOnce bounds "the client closed at once": a client that closes
// (FIN or RST) within this time after the handshake (or, when eBPF saw it,
// after its blocking connect() returned 0), having sent nothing
// and received nothing, did not wait for the server — a connect-then-close
// health check (load balancer, Kubernetes tcpSocket probe, nc -z) — so its
// attempt is ok, whatever the port. It is a fifth of the shortest connect
// timeout clients offer (1 s: mariadb --connect-timeout, PHP mysqli,
// libmysqlclient take whole seconds), so a client that gave up waiting for
// a greeting (no_greeting, greeting_late) is never taken for one; a
// checker closes within microseconds of the handshake.
const closedAtOnce = 200 * time.Millisecond

// clientClosed handles the client's FIN or RST.
func (e *Engine) clientClosed(a *attempt, t time.Time, how closeKind) {
	if a.clientClose != notClosed {
		return // retransmitted FIN, or RST after FIN
	}
	a.clientClose = how
	a.clientGaveAt = t
	since := t.Sub(a.start)
	if a.final {
		a.event(t, how.ev(), DirC2S, EventAttrs{})
		return
	}
	switch {
	case a.otherProtocolPending():
		a.event(t, how.ev(), DirC2S, EventAttrs{Note: NoteBannerUnanswered})
		e.silentClient(a, t, "client", how)
	case a.synAckAt.IsZero():
		a.event(t, how.ev(), DirC2S, EventAttrs{Note: NoteBeforeReply, ElapsedMS: proto.MSOf(since)})
	case a.firstSrvData.IsZero():
		if a.hsDoneAt.IsZero() && how == closedRST {
			// The client's RST answers the SYN-ACK: its socket was gone.
			a.event(t, EvRST, DirC2S, EventAttrs{Note: NoteAnswersSYNACK})
			a.facts.SYNACKMS = msp(a.synAckAt.Sub(a.start))
			e.decide(a, ReasonSYNACKAfterGiveUp, t)
			return
		}
		waited := t.Sub(a.handshakeDone())
		// The client can only have waited since it knew it was connected:
		// a blocking connect() may return well after the handshake on a
		// loaded host.
		idle := waited
		if a.kConnectRet.After(a.handshakeDone()) {
			idle = t.Sub(a.kConnectRet)
		}
		if a.firstCliData.IsZero() && idle < closedAtOnce {
			// A connect-then-close check (load balancer, probe, nc -z):
			// the client did not wait for anything, so the connect
			// succeeded and no server failed.
			a.event(t, how.ev(), DirC2S, EventAttrs{Note: NoteClosedAtOnce, ElapsedMS: proto.MSOf(waited)})
			a.quietClose = true
			a.facts.SinceHandshakeMS = msp(idle)
			e.decide(a, ReasonClientClosedNoSend, t)
			return
		}
		if !a.firstCliData.IsZero() {
			a.event(t, how.ev(), DirC2S, EventAttrs{Note: NoteNoAnswer, ElapsedMS: proto.MSOf(t.Sub(a.firstCliData))})
			return
		}
		a.event(t, how.ev(), DirC2S, EventAttrs{Note: NoteNoServerByte, ElapsedMS: proto.MSOf(waited)})
	case a.proto == protoSession && a.sess.ClientClosed(t, how.String()):
	case a.proto == protoTLS:
		a.event(t, how.ev(), DirC2S, EventAttrs{Note: NoteDuringTLS})
		e.decide(a, ReasonTLSClosed, t)
	default:
		a.event(t, how.ev(), DirC2S, EventAttrs{})
	}
}

// serverClosed handles the server's FIN or RST.
func (e *Engine) serverClosed(a *attempt, t time.Time, how closeKind) {
	if a.serverClose != notClosed {
		return
	}
	a.serverClose = how
	a.serverGaveAt = t
	if a.final {
		a.event(t, how.ev(), DirS2C, EventAttrs{})
		return
	}
	// Bytes that were waiting for the rest of a packet will get no more.
	switch {
	case !a.firstSrvData.IsZero() && a.proto == protoUnknown:
		e.classifyServer(a, t, true)
	case a.proto == protoSession:
		a.sess.Server(t, true)
	}
	if a.final {
		a.event(t, how.ev(), DirS2C, EventAttrs{})
		return
	}
	switch {
	case a.otherProtocolPending():
		a.event(t, how.ev(), DirS2C, EventAttrs{Note: NoteBannerUnanswered})
		e.silentClient(a, t, "server", how)
	case !a.firstSrvData.IsZero() && (a.proto == protoUnknown || a.proto == protoSession && a.sess.AwaitingFirst()):
		a.event(t, how.ev(), DirS2C, EventAttrs{Note: NotePartialGreeting, Bytes: a.s2c.bytes})
		e.decide(a, ReasonServerClosedPartial, t)
	case a.synAckAt.IsZero():
		if how == closedRST {
			a.event(t, EvRST, DirS2C, EventAttrs{Note: NoteAnswersSYN, Addr: a.serverName()})
			ref := a.lastSYN
			if ref.IsZero() {
				ref = a.start
			}
			a.facts.ReplyMS = msp(t.Sub(ref))
			a.facts.AnsweredSYN = a.synCount
			e.decide(a, ReasonRSTFromServer, t)
		}
	case a.firstSrvData.IsZero():
		waited := t.Sub(a.handshakeDone())
		if a.clientClose != notClosed {
			a.event(t, how.ev(), DirS2C, EventAttrs{Note: NoteAfterClientGaveUp})
			if a.clientFirst() {
				a.unanswered(a.clientGaveAt, "client_close")
				e.decide(a, ReasonRequestUnanswered, t)
				return
			}
			a.facts.Ended = "client_close"
			a.facts.SinceHandshakeMS = msp(a.clientGaveAt.Sub(a.handshakeDone()))
			e.decide(a, ReasonNoServerBytes, t)
			return
		}
		if !a.firstCliData.IsZero() {
			a.event(t, how.ev(), DirS2C, EventAttrs{Note: NoteNoAnswer})
			a.facts.SinceRequestMS = msp(t.Sub(a.firstCliData))
			a.facts.SinceHandshakeMS = msp(waited)
			e.decide(a, ReasonServerClosedSilent, t)
			return
		}
		a.event(t, how.ev(), DirS2C, EventAttrs{Note: NoteNoServerByte, ElapsedMS: proto.MSOf(waited)})
		a.facts.SinceHandshakeMS = msp(waited)
		e.decide(a, ReasonServerClosedSilent, t)
	case a.proto == protoSession && a.sess.ServerClosed(t, how.String()):
	case a.proto == protoTLS:
		a.event(t, how.ev(), DirS2C, EventAttrs{Note: NoteDuringTLS})
		e.decide(a, ReasonTLSClosed, t)
	default:
		a.event(t, how.ev(), DirS2C, EventAttrs{})
	}
}

// dueAt reports whether an undecided attempt has waited long enough on the
// event clock to be decided without further packets.
func (a *attempt) dueAt(e *Engine) bool {
	now := e.now
	switch {
	case !a.wire && a.kSynSent.IsZero():
		return now.Sub(a.start) > e.opts.IdleTimeout
	case !a.connected() && !a.kClosed.IsZero():
		return now.Sub(a.kClosed) >= kernelLinger
	case !a.connected():
		// SYN_SENT: due when the next SYN retransmission (the kernel doubles
		// the gap, 1 s initially) is well overdue.
		_, last := a.synTimes()
		return now.Sub(last) > nextRetransmitWait(a)+time.Second
	case !a.wire && !e.opts.NoPackets:
		return now.Sub(a.kConnected) > kernelConnectedWait
	case a.firstSrvData.IsZero() && a.clientClose != notClosed:
		return now.Sub(a.clientGaveAt) > e.opts.IdleTimeout
	default:
		return now.Sub(a.lastActivity) > e.opts.IdleTimeout
	}
}

// nextRetransmitWait is when the kernel sends the next SYN after the last
// one at the latest: twice the last gap (exponential backoff), or the
// initial 1 s RTO. (Linux ≥ 6.5 keeps the first tcp_syn_linear_timeouts
// retransmits 1 s apart; this bound holds for both.)
func nextRetransmitWait(a *attempt) time.Duration {
	gap := a.lastSYNGap
	if !a.wire {
		gap = a.kSynGap
	}
	if gap > 0 {
		return 2 * gap
	}
	return time.Second
}

// synTimes returns the first and last SYN: on the wire, or as the kernel
// reported them when no packet of the attempt was captured.
func (a *attempt) synTimes() (first, last time.Time) {
	if a.wire && !a.firstSYN.IsZero() {
		return a.firstSYN, a.lastSYN
	}
	first, last = a.kSynSent, a.kLastSYN
	if first.IsZero() {
		first = a.start
	}
	if last.IsZero() {
		last = first
	}
	return first, last
}

// decideIdle decides an attempt that stopped producing events: on the
// idle timer, at a port reuse, or (closing) at the end of the capture.
func (e *Engine) decideIdle(a *attempt, closing bool) {
	if a.final {
		return // its facts are its verdict's: none are added
	}
	if a.movedOn != nil && !a.connected() && !a.aliveAfter(a.movedOnAt) {
		// Nothing of this attempt after the client's next one started:
		// the client gave it up for the next address.
		e.gaveUpFor(a, a.movedOn, a.movedOnAt)
		return
	}
	now := e.now
	if closing && a.lastActivity.After(now) {
		now = a.lastActivity
	}
	switch {
	case !a.wire && a.kSynSent.IsZero():
		a.facts.Phase = "connect"
		e.decide(a, ReasonCaptureEnded, a.lastActivity)
	case !a.connected():
		e.decideSynSent(a, now, closing)
	case !a.wire && !e.opts.NoPackets:
		e.decideKernelConnected(a)
	case a.proto == protoSession && a.sess.Idle(now, closing):
	case a.firstSrvData.IsZero():
		hs := a.handshakeDone()
		if a.clientClose != notClosed {
			if a.clientFirst() {
				a.unanswered(a.clientGaveAt, "client_close")
				e.decide(a, ReasonRequestUnanswered, a.clientGaveAt)
				return
			}
			a.facts.Ended = "client_close"
			a.facts.SinceHandshakeMS = msp(a.clientGaveAt.Sub(hs))
			e.decide(a, ReasonNoServerBytes, a.clientGaveAt)
			return
		}
		if !a.firstCliData.IsZero() && (!closing || now.Sub(a.firstCliData) >= e.noGreetingAfter()) {
			// The client waited in vain as long as a client waits for a
			// greeting (or for the idle timeout): no response.
			a.unanswered(now, idleEnd(closing))
			e.decide(a, ReasonRequestUnanswered, now)
			return
		}
		if !a.firstCliData.IsZero() {
			e.decide(a, ReasonClientFirstUnanswered, a.firstCliData)
			return
		}
		waited := now.Sub(hs)
		if !closing || waited >= e.noGreetingAfter() {
			a.facts.Ended = idleEnd(closing)
			a.facts.SinceHandshakeMS = msp(waited)
			e.decide(a, ReasonNoServerBytes, now)
			return
		}
		a.facts.Phase = "connected"
		a.facts.SinceHandshakeMS = msp(waited)
		e.decide(a, ReasonCaptureEnded, now)
	case a.proto == protoTLS:
		switch {
		case a.tlsTurns >= 2 && !closing:
			// The server answered the ClientHello and nobody closed or
			// alerted; a live capture filter may simply have stopped
			// copying this connection's payload.
			e.decide(a, ReasonTLSUnderWay, a.lastActivity)
		case closing:
			a.facts.Phase = "tls"
			e.decide(a, ReasonCaptureEnded, now)
		default:
			a.facts.QuietMS = msp(now.Sub(a.lastActivity))
			e.decide(a, ReasonTLSStalled, now)
		}
	default:
		// A first payload no protocol recognised, still incomplete (e.g. a cut packet).
		e.decide(a, ReasonServerSentData, a.firstSrvData)
	}
}

func (e *Engine) noGreetingAfter() time.Duration {
	if e.opts.ClientTimeout > 0 {
		return e.opts.ClientTimeout
	}
	return noGreetingAfter
}

// decideSynSent decides an attempt whose SYNs got no reply.
func (e *Engine) decideSynSent(a *attempt, now time.Time, closing bool) {
	n := a.synCount
	if !a.wire {
		n = 1 + a.kSynRetrans
	}
	first, last := a.synTimes()
	if n > 1 {
		a.facts.SYNSpanMS = msp(last.Sub(first))
	}
	overdue := now.Sub(last) > nextRetransmitWait(a)
	if closing && n < 2 && !overdue && (e.opts.ClientTimeout == 0 || now.Sub(first) < e.opts.ClientTimeout) {
		a.facts.Phase = "syn_sent"
		a.facts.SinceLastSYNMS = msp(now.Sub(last))
		e.decide(a, ReasonCaptureEnded, now)
		return
	}
	switch {
	case !a.kClosed.IsZero():
		a.facts.Ended = "socket_close"
		a.facts.SinceFirstSYNMS = msp(a.kClosed.Sub(first))
		now = a.kClosed
	case overdue:
		a.facts.Ended = "no_retransmit"
		a.facts.RetransmitDueMS = msp(last.Add(nextRetransmitWait(a)).Sub(first))
		now = last
	case now.Sub(last) < time.Millisecond:
		a.facts.Ended = "capture_end"
	default:
		a.facts.Ended = "capture_end"
		a.facts.SinceLastSYNMS = msp(now.Sub(last))
	}
	e.decide(a, ReasonSYNUnanswered, now)
}

// gaveUpFor ends an undecided attempt because the same client moved on to
// the next address of its connect at t.
func (e *Engine) gaveUpFor(a *attempt, next *attempt, t time.Time) {
	if a.final {
		return
	}
	if a.connected() {
		// Connected but silent: the client stopped waiting for the greeting.
		if a.firstSrvData.IsZero() && a.clientFirst() {
			a.facts.NextAddress = next.serverName()
			a.unanswered(t, "next_address")
			e.decide(a, ReasonRequestUnanswered, t)
			return
		}
		if a.firstSrvData.IsZero() {
			a.facts.Ended, a.facts.NextAddress = "next_address", next.serverName()
			a.facts.SinceHandshakeMS = msp(t.Sub(a.handshakeDone()))
			e.decide(a, ReasonNoServerBytes, t)
			return
		}
		e.decideIdle(a, true)
		return
	}
	a.event(t, EvClientGaveUp, DirLocal, EventAttrs{Addr: next.serverName()})
	a.facts.Ended, a.facts.NextAddress = "next_address", next.serverName()
	e.decide(a, ReasonSYNUnanswered, t)
}

// decide records an attempt's outcome. The attempt leaves the flow table
// (its later packets are bulk traffic); its connect may now be complete
// (reportDecided, after the event, reports it).
// The outcome is the reason's (see Reason).
func (e *Engine) decide(a *attempt, r Reason, at time.Time) {
	if a.final {
		return
	}
	if len(a.kDrops) > 0 || a.srv != nil {
		r = e.dropVerdict(a, r) // drop.go
	}
	if e.loss.kernelAt|e.loss.dropsAt|e.loss.lateAt != 0 {
		r = e.lossVerdict(a, r)
	}
	e.listenerFact(a, r) // listeners.go
	o := r.Outcome()
	if decidedHook != nil {
		decidedHook(r)
	}
	if e.opts.Live {
		e.recent.add(a, e.nowNS)
	}
	a.final = true
	if a.conn != nil {
		a.conn.undecided--
		e.noteWaiting(a.conn)
	}
	a.outcome = o
	a.reason = r
	if at.Before(a.start) {
		at = a.start
	}
	a.endAt = at
	if !a.keep && (a.synCount == 0 || a.connected()) {
		// A SYN that got no SYN-ACK stays in the flow table until its
		// connect is reported: its retransmits (and a second RST or ICMP
		// error) belong to this attempt, not to a new one.
		e.untrack(a)
	}
	e.releaseStreams(a)
	if a.conn != nil && !a.conn.reported {
		// Its connect may now be complete: reportDecided looks once the
		// event has been handled (deciding never reports).
		e.decided = append(e.decided, a.conn)
	}
}

// attribute records the process behind an attempt.
func (e *Engine) attribute(a *attempt, p *event.Process) {
	if p.PID != 0 && a.pid == 0 {
		a.pid = p.PID
		a.comm = p.Comm
	}
	if p.FD >= 0 && !a.hasFD {
		a.fd, a.hasFD = p.FD, true
	}
	if a.conn != nil && a.conn.pid == 0 && a.pid != 0 {
		a.conn.pid, a.conn.comm = a.pid, a.comm
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
