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
	seq    uint64
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
	// clientIsA says the client is the flow key's first endpoint.
	clientIsA bool
	start     time.Time
	out       *Attempt
	conn      *connectState
	dnsFlow   *dnsTCPFlow // set instead of everything else for DNS over TCP

	// Wire facts.
	wire         bool // a packet of this flow was seen
	isn          uint32
	synCount     int
	firstSYN     time.Time
	lastSYN      time.Time
	lastSYNGap   time.Duration
	synAckAt     time.Time
	synAckRTT    time.Duration
	srvISN       uint32
	hsDoneAt     time.Time // client's ACK of the SYN-ACK (else the SYN-ACK)
	icmp         *event.ICMPError
	icmpFrom     netip.Addr
	icmpAt       time.Time
	clientClose  closeKind
	clientGaveAt time.Time
	serverClose  closeKind
	serverGaveAt time.Time
	firstSrvData time.Time
	firstCliData time.Time
	// reqEnd is the sequence number after the client's first payload
	// segment, reqAckAt when the server acknowledged it (timing.go).
	reqEnd       uint32
	reqEndSet    bool
	reqAckAt     time.Time
	retransmits  int
	lastActivity time.Time

	c2s, s2c stream
	proto    appProto
	sess     proto.Session // the protocol plug-in's session (kept after it stops decoding, for its facts)
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
	kSynSent    time.Time
	kSynRetrans int
	kLastSYN    time.Time     // last SYN (re)transmission the kernel reported
	kSynGap     time.Duration // gap before it
	kConnected  time.Time
	kConnectRet time.Time // a blocking connect() returned 0: the client knew it was connected
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
	final    bool
	keep     bool // stays in the flow table after the verdict, until reported
	outcome  Outcome
	reason   Reason
	facts    Facts // what decide and lossVerdict add to the facts buildAttempt reads from the state
	endAt    time.Time
	evidence []string
	notes    []string // extra evidence kept whatever the outcome (e.g. a slow greeting)

	// quietClose: the client closed at once with nothing sent either way
	// (a connect-then-close check); that ok rests on no server byte being
	// seen, so lost packets make it incomplete.
	quietClose bool
}

// maxEvents bounds an attempt's timeline.
const maxEvents = 64

// addEvent appends a timeline step of kind k in direction d.
func (a *attempt) addEvent(t time.Time, k EventKind, d Dir, format string, args ...any) {
	if len(a.out.Events) >= maxEvents {
		a.event(t, k, d, "")
		return
	}
	what := format
	if len(args) > 0 {
		what = fmt.Sprintf(format, args...)
	}
	a.event(t, k, d, what)
}

// event appends a timeline step that is already text (the common steps
// are built without fmt: they are most of the engine's per-attempt work).
func (a *attempt) event(t time.Time, k EventKind, d Dir, what string) {
	if len(a.out.Events) >= maxEvents {
		if len(a.out.Events) == maxEvents {
			a.out.Events = append(a.out.Events, Event{Time: t, Kind: EvTruncated, What: "… further events not recorded"})
		}
		return
	}
	if a.out.Events == nil {
		a.out.Events = make([]Event, 0, 8)
	}
	a.out.Events = append(a.out.Events, Event{Time: t, Kind: k, Dir: d, What: what})
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
		a.srvStr = a.server.String()
	}
	return a.srvStr
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
	a := &attempt{
		seq:          e.seq,
		client:       client,
		server:       server,
		start:        t,
		lastActivity: t,
		fd:           -1,
		out:          &Attempt{},
	}
	return a
}

// track puts a into the flow table under its 5-tuple.
func (e *Engine) track(a *attempt) bool {
	if e.inFlight >= e.opts.MaxInFlight {
		e.sum.Untracked++
		return false
	}
	a.key, a.clientIsA = makeKey(a.client.Addr(), a.client.Port(), a.server.Addr(), a.server.Port())
	a.hash = flowHash(a.client.Port(), a.server.Port())
	if old := e.flows[a.key]; old != nil && old != a {
		e.untrack(old)
	}
	e.flows[a.key] = a
	e.filter.add(a.hash)
	a.keyed = true
	a.idx = len(e.tracked)
	e.tracked = append(e.tracked, a)
	e.inFlight++
	return true
}

func (e *Engine) untrack(a *attempt) {
	if a.keyed {
		if e.flows[a.key] == a {
			delete(e.flows, a.key)
		}
		e.filter.remove(a.hash)
		last := e.tracked[len(e.tracked)-1]
		e.tracked[a.idx], last.idx = last, a.idx
		e.tracked[len(e.tracked)-1] = nil
		e.tracked = e.tracked[:len(e.tracked)-1]
		a.keyed = false
		e.inFlight--
	}
}

// tcp handles a TCP segment. The common case — a segment of a connection
// that is not (or no longer) in its connection phase — costs one look at
// the flow filter (indexed by the ports; no map access).
func (e *Engine) tcp(p *event.Packet) {
	isSYN := p.TCPFlags&(event.TCPSyn|event.TCPAck|event.TCPRst) == event.TCPSyn
	var a *attempt
	var srcIsA bool
	if e.filter.maybe(flowHash(p.SrcPort, p.DstPort)) {
		var key flowKey
		key, srcIsA = makeKey(p.Src, p.SrcPort, p.Dst, p.DstPort)
		a = e.flows[key]
	}
	if a == nil {
		if isSYN && !e.duplicate(p) && !e.lateRetransmit(p) {
			e.newSYN(p)
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
	if isSYN && fromClient && a.wire && p.Seq != a.isn {
		// Same 5-tuple, new initial sequence number: the port was reused
		// for a new connect. The old attempt ends here.
		if !a.final {
			e.decideIdle(a, true)
		}
		e.untrack(a)
		e.newSYN(p)
		return
	}
	e.segment(a, p, fromClient)
}

// endedTTL is how long a reported attempt's SYN is remembered: longer than
// any client retransmits one (Linux gives up after about 127 s).
const endedTTL = 3 * time.Minute

// maxEnded bounds the reported SYNs remembered.
const maxEnded = 1 << 14

// endedSYN is a reported attempt's client SYN.
type endedSYN struct {
	isn       uint32
	clientIsA bool
	at        int64 // event clock (Unix ns) when it was reported
}

type endedKey struct {
	key flowKey
	at  int64
}

// rememberSYN records a reported attempt's 5-tuple and ISN, so that a late
// retransmit of its SYN is recognised. Only SYNs that got no SYN-ACK are
// remembered: a client retransmits nothing else once answered.
func (e *Engine) rememberSYN(a *attempt) {
	if a.synCount == 0 || a.unix != "" || a.connected() {
		return
	}
	if len(e.endedQ) >= maxEnded {
		e.forgetSYN()
	}
	e.ended[a.key] = endedSYN{isn: a.isn, clientIsA: a.clientIsA, at: e.nowNS}
	e.endedQ = append(e.endedQ, endedKey{key: a.key, at: e.nowNS})
}

// forgetSYN drops the oldest remembered SYN.
func (e *Engine) forgetSYN() {
	k := e.endedQ[0]
	if en, ok := e.ended[k.key]; ok && en.at == k.at {
		delete(e.ended, k.key)
	}
	e.endedQ[0] = endedKey{}
	e.endedQ = e.endedQ[1:]
}

// expireSYNs forgets reported SYNs older than endedTTL.
func (e *Engine) expireSYNs() {
	for len(e.endedQ) > 0 && e.nowNS-e.endedQ[0].at > int64(endedTTL) {
		e.forgetSYN()
	}
}

// lateRetransmit reports (and counts) a client SYN that retransmits the SYN
// of an attempt already reported: the same 5-tuple and ISN. The verdict
// came before the client gave up (an RST it did not accept, or a capture
// that looked idle); it is not a new attempt. A new ISN on the 5-tuple is
// a new connect and makes the old SYN forgotten.
func (e *Engine) lateRetransmit(p *event.Packet) bool {
	if len(e.ended) == 0 {
		return false
	}
	key, srcIsA := makeKey(p.Src, p.SrcPort, p.Dst, p.DstPort)
	en, ok := e.ended[key]
	if !ok {
		return false
	}
	if en.isn == p.Seq && en.clientIsA == srcIsA {
		e.sum.LateRetransmits++
		return true
	}
	delete(e.ended, key)
	return false
}

// newSYN starts an attempt (or a DNS-over-TCP flow) at a client's first SYN.
func (e *Engine) newSYN(p *event.Packet) {
	client := netip.AddrPortFrom(p.Src, p.SrcPort)
	server := netip.AddrPortFrom(p.Dst, p.DstPort)
	if p.DstPort == 53 && (e.ports == nil || !e.ports.has(53)) {
		e.newDNSTCP(p, client, server)
		return
	}
	if !e.wantPort(p.DstPort) {
		return
	}
	a := e.newAttempt(client, server, p.Time)
	if !e.track(a) {
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
		a.c2s.init(p.Seq)
		a.event(t, EvSYN, DirC2S, "SYN to "+a.serverName())
		if p.PayloadLen > 0 {
			// TCP Fast Open: the client's first bytes ride on the SYN.
			a.addEvent(t, EvSYNData, DirC2S, "SYN carries %d bytes of data (TCP Fast Open)", p.PayloadLen)
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
		a.addEvent(t, EvSYNRetransmit, DirC2S, "SYN retransmit #%d (+%s) after the verdict", a.synCount-1, fmtDur(t.Sub(a.firstSYN)))
		return
	}
	if !a.synAckAt.IsZero() {
		// A SYN retransmitted after the SYN-ACK: the SYN-ACK was lost on
		// the way back (or seen only here).
		a.retransmits++
		a.synCount++
		a.addEvent(t, EvSYNRetransmit, DirC2S, "SYN retransmit #%d (after the SYN-ACK)", a.synCount-1)
		return
	}
	a.synCount++
	a.retransmits++
	a.lastSYNGap = t.Sub(a.lastSYN)
	a.lastSYN = t
	a.addEvent(t, EvSYNRetransmit, DirC2S, "SYN retransmit #%d (+%s)", a.synCount-1, fmtDur(t.Sub(a.firstSYN)))
}

func (e *Engine) synAck(a *attempt, p *event.Packet) {
	t := p.Time
	if !a.synAckAt.IsZero() {
		if p.Seq == a.srvISN {
			a.retransmits++
			a.addEvent(t, EvSYNACKRetrans, DirS2C, "SYN-ACK retransmit")
		}
		return
	}
	a.synAckAt = t
	a.srvISN = p.Seq
	a.s2c.init(p.Seq)
	ref := a.lastSYN
	if ref.IsZero() {
		ref = a.kSynSent
	}
	if !ref.IsZero() {
		a.synAckRTT = t.Sub(ref)
	}
	if a.final {
		a.event(t, EvSYNACK, DirS2C, "SYN-ACK from "+a.serverName()+" (after the attempt was decided)")
		return
	}
	if a.synCount > 1 {
		a.event(t, EvSYNACK, DirS2C, "SYN-ACK from "+a.serverName()+" (RTT "+fmtDur(a.synAckRTT)+", answering SYN #"+strconv.Itoa(a.synCount)+")")
	} else {
		a.event(t, EvSYNACK, DirS2C, "SYN-ACK from "+a.serverName()+" (RTT "+fmtDur(a.synAckRTT)+")")
	}
}

// clientData handles payload from the client.
func (e *Engine) clientData(a *attempt, p *event.Packet) {
	t := p.Time
	if a.otherProtocolPending() {
		a.firstCliData = t
		a.addEvent(t, EvClientData, DirC2S, "client answers (%d bytes)", p.PayloadLen)
		e.decide(a, ReasonServerFirstAnswered, t, fmt.Sprintf("TCP connected to %s; the server spoke first (not %s) %s after the handshake and the client answered",
			a.serverName(), serverFirstNames, fmtDur(a.firstSrvData.Sub(a.handshakeDone()))))
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
		a.s2c.init(p.Seq - 1)
	}
	if retransmitted(&a.s2c, p) {
		a.retransmits++
	}
	if a.firstSrvData.IsZero() {
		a.firstSrvData = t
		if a.final {
			a.addEvent(t, EvServerData, DirS2C, "server's first payload (%d bytes) after the attempt was decided", p.PayloadLen)
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
		a.notes = append(a.notes, fmt.Sprintf("the capture is truncated (snap length): a segment from the %s at +%s kept %d of its %d payload bytes; the verdict uses only the bytes captured",
			who, fmtDur(p.Time.Sub(a.start)), len(p.Payload), p.PayloadLen))
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
		switch sn := p.SniffServer(buf, noMore, cut); sn {
		case proto.Wait:
			return // wait for the rest of the first message
		case proto.Yes, proto.Cut:
			e.startSession(a, p, sn)
			a.sess.Server(t, final)
			return
		}
	}
	delay := t.Sub(a.handshakeDone())
	late := a.clientClose != notClosed
	a.proto = protoOther
	a.banner = bannerText(buf)
	a.s2c.release()
	a.c2s.release()
	switch {
	case late:
		a.addEvent(t, EvServerData, DirS2C, "server's first payload %q (%s after the handshake), after the client gave up", a.banner, fmtDur(delay))
		e.decide(a, ReasonServerSpokeLate, t, fmt.Sprintf("the server's first bytes came %s after the handshake, %s after the client gave up (%s at +%s)",
			fmtDur(delay), fmtDur(t.Sub(a.clientGaveAt)), a.clientClose, fmtDur(a.clientGaveAt.Sub(a.start))))
	case e.expected(a) != nil:
		p := e.expected(a)
		a.addEvent(t, EvServerData, DirS2C, "server's first payload is not %s: %q", p.Name, a.banner)
		e.decide(a, reasonIDs[p.WrongBanner], t, fmt.Sprintf("the server at %s spoke first with %q, not a %s greeting", a.serverName(), a.banner, p.Name))
	case a.firstCliData.IsZero():
		// Another server-first protocol. Whether the client speaks it shows
		// next: a client that answers does; one that stays silent until the
		// connection closes expected something else (a client of a
		// server-first protocol waits for a greeting).
		a.addEvent(t, EvServerData, DirS2C, "server's first payload (%s after the handshake), not %s: %q", fmtDur(delay), serverFirstNames, a.banner)
	default:
		a.addEvent(t, EvServerData, DirS2C, "server's first payload, %s after the client's first bytes: %q", fmtDur(t.Sub(a.firstCliData)), a.banner)
		e.decide(a, ReasonServerAnswered, t, answeredEvidence(a, t))
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
			e.startSession(a, p, sn)
			a.sess.Client(t)
			return
		}
	}
	if len(a.out.Events) < maxEvents && a.c2s.bytes == n {
		a.addEvent(t, EvClientData, DirC2S, "client sends first (%d bytes) — not a %s client", n, serverFirstNames)
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
	e.decide(a, ReasonClientSilentToBanner, t, fmt.Sprintf("the server at %s spoke first with %q, not a %s greeting; the client never answered, and the %s closed the connection (%s) %s later",
		a.serverName(), a.banner, serverFirstNames, who, how, fmtDur(t.Sub(a.firstSrvData))))
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
			a.addEvent(t, EvNotDecoded, "", "bytes after the SSLRequest are not TLS records")
			a.proto = protoOther
			e.decide(a, ReasonTLSNotTLS, t, "the bytes after the SSLRequest are not TLS")
			return
		}
		if fromServer != a.tlsLast || a.tlsTurns == 0 {
			a.tlsTurns++
			a.tlsLast = fromServer
			switch {
			case a.tlsTurns == 1 && !fromServer:
				a.addEvent(t, EvTLSClientHello, DirC2S, "TLS ClientHello")
			case a.tlsTurns == 2 && fromServer && typ == 22:
				a.addEvent(t, EvTLSServerHello, DirS2C, "TLS handshake from the server")
			}
		}
		if typ == 21 {
			who := "client"
			if fromServer {
				who = "server"
			}
			desc := ""
			if length == 2 && len(s.buf) >= 7 {
				desc = " " + tlsAlertName(s.buf[6])
			}
			a.tlsAlert = who + desc
			a.addEvent(t, EvTLSAlert, tlsDir(fromServer), "TLS alert from the %s%s", who, desc)
			e.decide(a, ReasonTLSAlert, t, fmt.Sprintf("TLS alert from the %s%s during the handshake", who, desc))
			return
		}
		s.consume(5 + length)
		if a.tlsTurns >= 4 {
			a.addEvent(t, EvTLSEstablished, "", "TLS established (the rest is encrypted)")
			e.decide(a, ReasonTLSCompleted, t, "TLS handshake completed; the login result is encrypted")
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
			a.addEvent(t, EvTLSAlert, tlsDir(fromServer), "TLS alert from the %s %s", who, tlsAlertName(desc))
			e.decide(a, ReasonTLSAlert, t, fmt.Sprintf("TLS alert from the %s %s during the handshake", who, tlsAlertName(desc)))
			return
		}
	}
	if a.tlsTurns >= 4 {
		a.addEvent(t, EvTLSEstablished, "", "TLS established (the rest is encrypted)")
		e.decide(a, ReasonTLSCompleted, t, fmt.Sprintf("TLS handshake completed; the login result is encrypted (judged from the direction of the data segments: the snap length cut the %s's TLS records from byte %d on)", who, s.lostAt))
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
		a.addEvent(t, how.ev(), DirC2S, "%s from the client", how)
		return
	}
	switch {
	case a.otherProtocolPending():
		a.addEvent(t, how.ev(), DirC2S, "%s from the client, which never answered the server's first bytes", how)
		e.silentClient(a, t, "client", how)
	case a.synAckAt.IsZero():
		a.addEvent(t, how.ev(), DirC2S, "%s from the client before any reply (+%s)", how, fmtDur(since))
	case a.firstSrvData.IsZero():
		if a.hsDoneAt.IsZero() && how == closedRST {
			// The client's RST answers the SYN-ACK: its socket was gone.
			a.addEvent(t, EvRST, DirC2S, "RST from the client answering the SYN-ACK: it had given up")
			e.decide(a, ReasonSYNACKAfterGiveUp, t, fmt.Sprintf("the SYN-ACK came %s after the first SYN, after the client had given up (it answered with RST)", fmtDur(a.synAckAt.Sub(a.start))))
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
			a.addEvent(t, how.ev(), DirC2S, "%s from the client %s after the handshake: client closed without sending", how, fmtDur(waited))
			a.quietClose = true
			e.decide(a, ReasonClientClosedNoSend, t, fmt.Sprintf("connected; client closed without sending: %s %s after it was connected, without waiting for a byte (a connect-then-close check)", how, fmtDur(idle)))
			return
		}
		if !a.firstCliData.IsZero() {
			a.addEvent(t, how.ev(), DirC2S, "%s from the client: gave up waiting for an answer to its first bytes after %s", how, fmtDur(t.Sub(a.firstCliData)))
			return
		}
		a.addEvent(t, how.ev(), DirC2S, "%s from the client: gave up waiting for the server's first byte after %s", how, fmtDur(waited))
	case a.proto == protoSession && a.sess.ClientClosed(t, how.String()):
	case a.proto == protoTLS:
		a.addEvent(t, how.ev(), DirC2S, "%s from the client during the TLS handshake", how)
		e.decide(a, ReasonTLSClosed, t, fmt.Sprintf("the client closed (%s) during the TLS handshake", how))
	default:
		a.addEvent(t, how.ev(), DirC2S, "%s from the client", how)
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
		a.addEvent(t, how.ev(), DirS2C, "%s from the server", how)
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
		a.addEvent(t, how.ev(), DirS2C, "%s from the server", how)
		return
	}
	switch {
	case a.otherProtocolPending():
		a.addEvent(t, how.ev(), DirS2C, "%s from the server; the client never answered its first bytes", how)
		e.silentClient(a, t, "server", how)
	case !a.firstSrvData.IsZero() && (a.proto == protoUnknown || a.proto == protoSession && a.sess.AwaitingFirst()):
		a.addEvent(t, how.ev(), DirS2C, "%s from the server after %d bytes that are not a complete greeting", how, a.s2c.bytes)
		e.decide(a, ReasonServerClosedPartial, t, fmt.Sprintf("the server sent %d bytes, not a complete greeting, and closed (%s)", a.s2c.bytes, how))
	case a.synAckAt.IsZero():
		if how == closedRST {
			a.event(t, EvRST, DirS2C, "RST from "+a.serverName())
			ref := a.lastSYN
			if ref.IsZero() {
				ref = a.start
			}
			ev := "SYN answered by RST from " + a.serverName() + " after " + fmtDur(t.Sub(ref))
			if a.synCount > 1 {
				ev += fmt.Sprintf(" (SYN #%d; the earlier ones got no reply)", a.synCount)
			}
			e.decide(a, ReasonRSTFromServer, t, ev)
		}
	case a.firstSrvData.IsZero():
		waited := t.Sub(a.handshakeDone())
		if a.clientClose != notClosed {
			a.addEvent(t, how.ev(), DirS2C, "%s from the server (after the client gave up)", how)
			if a.clientFirst() {
				e.decide(a, ReasonRequestUnanswered, t, unansweredEvidence(a, a.clientGaveAt, fmt.Sprintf("the client gave up (%s)", a.clientClose)))
				return
			}
			e.decide(a, ReasonNoServerBytes, t, fmt.Sprintf("connected, but the server sent nothing; the client gave up (%s) after %s", a.clientClose, fmtDur(a.clientGaveAt.Sub(a.handshakeDone()))))
			return
		}
		if !a.firstCliData.IsZero() {
			a.addEvent(t, how.ev(), DirS2C, "%s from the server without a reply to the client's data", how)
			e.decide(a, ReasonServerClosedSilent, t, fmt.Sprintf("the server closed (%s) %s after the client's first bytes (%s after the handshake) without answering", how, fmtDur(t.Sub(a.firstCliData)), fmtDur(waited)))
			return
		}
		a.addEvent(t, how.ev(), DirS2C, "%s from the server before any payload (%s after the handshake)", how, fmtDur(waited))
		e.decide(a, ReasonServerClosedSilent, t, fmt.Sprintf("connected, then the server closed (%s) %s after the handshake without sending a greeting", how, fmtDur(waited)))
	case a.proto == protoSession && a.sess.ServerClosed(t, how.String()):
	case a.proto == protoTLS:
		a.addEvent(t, how.ev(), DirS2C, "%s from the server during the TLS handshake", how)
		e.decide(a, ReasonTLSClosed, t, fmt.Sprintf("the server closed (%s) during the TLS handshake", how))
	default:
		a.addEvent(t, how.ev(), DirS2C, "%s from the server", how)
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
	now := e.now
	if closing && a.lastActivity.After(now) {
		now = a.lastActivity
	}
	switch {
	case !a.wire && a.kSynSent.IsZero():
		e.decide(a, ReasonCaptureEnded, a.lastActivity, "the capture ended before connect() returned")
	case !a.connected():
		e.decideSynSent(a, now, closing)
	case !a.wire && !e.opts.NoPackets:
		e.decideKernelConnected(a)
	case a.proto == protoSession && a.sess.Idle(now, closing):
	case a.firstSrvData.IsZero():
		hs := a.handshakeDone()
		if a.clientClose != notClosed {
			if a.clientFirst() {
				e.decide(a, ReasonRequestUnanswered, a.clientGaveAt, unansweredEvidence(a, a.clientGaveAt, fmt.Sprintf("the client gave up (%s)", a.clientClose)))
				return
			}
			e.decide(a, ReasonNoServerBytes, a.clientGaveAt, fmt.Sprintf("connected, but the server sent nothing; the client gave up (%s) after %s", a.clientClose, fmtDur(a.clientGaveAt.Sub(hs))))
			return
		}
		if !a.firstCliData.IsZero() && (!closing || now.Sub(a.firstCliData) >= e.noGreetingAfter()) {
			// The client waited in vain as long as a client waits for a
			// greeting (or for the idle timeout): no response.
			e.decide(a, ReasonRequestUnanswered, now, unansweredEvidence(a, now, "still no answer"))
			return
		}
		if !a.firstCliData.IsZero() {
			e.decide(a, ReasonClientFirstUnanswered, a.firstCliData, fmt.Sprintf("TCP connected to %s; the client spoke first (not %s) and the server had not answered when the capture ended", a.serverName(), serverFirstNames))
			return
		}
		waited := now.Sub(hs)
		if !closing || waited >= e.noGreetingAfter() {
			e.decide(a, ReasonNoServerBytes, now, fmt.Sprintf("connected, but the server sent nothing in %s", fmtDur(waited)))
			return
		}
		e.decide(a, ReasonCaptureEnded, now, fmt.Sprintf("connected; the capture ended %s later, before the server's first byte", fmtDur(waited)))
	case a.proto == protoTLS:
		switch {
		case a.tlsTurns >= 2 && !closing:
			// The server answered the ClientHello and nobody closed or
			// alerted; a live capture filter may simply have stopped
			// copying this connection's payload.
			e.decide(a, ReasonTLSUnderWay, a.lastActivity, "the server answered the TLS ClientHello and the connection stayed open without an alert: TLS under way, the rest is encrypted")
		case closing:
			e.decide(a, ReasonCaptureEnded, now, "the capture ended during the TLS handshake")
		default:
			e.decide(a, ReasonTLSStalled, now, fmt.Sprintf("the TLS handshake stalled for %s: the server never answered the ClientHello", fmtDur(now.Sub(a.lastActivity))))
		}
	default:
		// A first payload no protocol recognised, still incomplete (e.g. a cut packet).
		e.decide(a, ReasonServerSentData, a.firstSrvData, "TCP connected to "+a.serverName()+"; the server sent data")
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
	syns := plural(n, "SYN", "SYNs")
	if n > 1 {
		syns += " over " + fmtDur(last.Sub(first))
	}
	overdue := now.Sub(last) > nextRetransmitWait(a)
	if closing && n < 2 && !overdue && (e.opts.ClientTimeout == 0 || now.Sub(first) < e.opts.ClientTimeout) {
		e.decide(a, ReasonCaptureEnded, now, fmt.Sprintf("%s, no reply yet; the capture ended %s after it", syns, fmtDur(now.Sub(last))))
		return
	}
	var ev string
	switch {
	case !a.kClosed.IsZero():
		ev = fmt.Sprintf("%s, no reply; the client closed the socket after %s", syns, fmtDur(a.kClosed.Sub(first)))
		now = a.kClosed
	case overdue:
		ev = fmt.Sprintf("%s, no reply; no further SYN by +%s, when the next retransmit was due at the latest: the client gave up",
			syns, fmtDur(last.Add(nextRetransmitWait(a)).Sub(first)))
		now = last
	case now.Sub(last) < time.Millisecond:
		ev = fmt.Sprintf("%s, no reply; the capture ends there", syns)
	default:
		ev = fmt.Sprintf("%s, no reply; the capture ended %s after the last one", syns, fmtDur(now.Sub(last)))
	}
	e.decide(a, ReasonSYNUnanswered, now, ev)
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
			e.decide(a, ReasonRequestUnanswered, t, unansweredEvidence(a, t, "the client moved on to "+next.serverName()))
			return
		}
		if a.firstSrvData.IsZero() {
			e.decide(a, ReasonNoServerBytes, t, fmt.Sprintf("connected, but the server sent nothing; the client moved on to %s after %s", next.serverName(), fmtDur(t.Sub(a.handshakeDone()))))
			return
		}
		e.decideIdle(a, true)
		return
	}
	n := a.synCount
	if !a.wire {
		n = 1 + a.kSynRetrans
	}
	a.addEvent(t, EvClientGaveUp, DirLocal, "client moved on to the next address (%s)", next.serverName())
	e.decide(a, ReasonSYNUnanswered, t, fmt.Sprintf("%s, no reply; the client gave up after %s and tried the next address (%s)",
		plural(n, "SYN", "SYNs"), fmtDur(t.Sub(a.start)), next.serverName()))
}

// decide records an attempt's outcome. The attempt leaves the flow table
// (its later packets are bulk traffic); its connect may now be complete.
// The outcome is the reason's (see Reason).
func (e *Engine) decide(a *attempt, r Reason, at time.Time, evidence ...string) {
	if a.final {
		return
	}
	if len(a.kDrops) > 0 || a.srv != nil {
		r, evidence = e.dropVerdict(a, r, evidence) // drop.go
	}
	if e.loss.kernelAt|e.loss.dropsAt|e.loss.lateAt != 0 {
		r, evidence = e.lossVerdict(a, r, evidence)
	}
	o := r.Outcome()
	if decidedHook != nil {
		decidedHook(r)
	}
	if e.opts.Live {
		e.recent.add(a, e.nowNS)
	}
	a.final = true
	a.outcome = o
	a.reason = r
	if at.Before(a.start) {
		at = a.start
	}
	a.endAt = at
	a.evidence = append(a.evidence, evidence...)
	if !a.keep && (a.synCount == 0 || a.connected()) {
		// A SYN that got no SYN-ACK stays in the flow table until its
		// connect is reported: its retransmits (and a second RST or ICMP
		// error) belong to this attempt, not to a new one.
		e.untrack(a)
	}
	a.c2s.release()
	a.s2c.release()
	if a.conn != nil && !a.conn.reported && e.connectComplete(a.conn, false) {
		e.report(a.conn)
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
	return fmt.Sprintf("%d %s", n, many)
}

// fmtDur renders a duration for evidence: FormatDuration.
func fmtDur(d time.Duration) string { return FormatDuration(d) }
