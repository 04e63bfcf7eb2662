package analyze

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// kernelState keeps what kernel events say outside of attempts: which
// process owns a UDP socket (to attribute DNS queries) and each process's
// recent resolver activity (glibc's UDP connect()s).
type kernelState struct {
	udp       map[netip.AddrPort]procAt
	resolvers map[uint32]*resolverRec
	// synSent holds the Detail of the last →SYN_SENT step of each of a few
	// processes, by PID (see synSentDetail).
	synSent [synSentWays]*proto.Detail
	// acceptedBy holds the last "comm[pid]" made for an accepting process,
	// by PID (see acceptorName).
	acceptedBy [synSentWays]acceptor
	// details are the Details of drop and RST steps made last (see
	// detailCache.get).
	details detailCache
}

// detailCache holds the last few Details of kernel steps whose every field
// comes from a small set — a drop's reason, packet and kernel function, a
// RST's reason and the segment it answered — so that steps alike share one
// (a connect loop's every refused connect has the same drop and RST).
// Shared is safe, as for stateDetail.
type detailCache [4]*proto.Detail

// get is a Detail equal to want: one held, else a new one (held from now,
// in place of the least recently made). The new one is a copy: taking
// want's address would put every call's want on the heap, a hit's too.
func (c *detailCache) get(want proto.Detail) *proto.Detail {
	for _, d := range c {
		if d != nil && *d == want {
			return d
		}
	}
	d := new(proto.Detail)
	*d = want
	copy(c[1:], c[:len(c)-1])
	c[0] = d
	return d
}

type acceptor struct {
	pid  uint32
	comm string
	name string // comm[pid]
	// detail is the last accepted step's Detail of a process of this way
	// (acceptedDetail).
	detail *proto.Detail
}

// synSentWays is how many processes' →SYN_SENT Details synSentDetail
// keeps (by PID modulo): a pool of workers (PHP-FPM, a load generator's
// processes) takes turns connecting, and with one Detail for the last
// process only, every connect of theirs allocated its own.
const synSentWays = 16

type procAt struct {
	event.Process
	at time.Time
}

type resolverRec struct {
	at      time.Time
	servers []string
	cands   []string
	claimed bool
}

const (
	resolverMaxAge  = 30 * time.Second
	resolverMaxRecs = 4096
)

func (k *kernelState) init() {
	k.udp = make(map[netip.AddrPort]procAt)
	k.resolvers = make(map[uint32]*resolverRec)
}

func (k *kernelState) udpOwner(local netip.AddrPort) (event.Process, bool) {
	p, ok := k.udp[local]
	return p.Process, ok
}

// resolverFor hands a connect the resolver evidence its process produced
// just before it.
func (k *kernelState) resolverFor(pid uint32, t time.Time) *Resolver {
	r := k.resolvers[pid]
	if r == nil || r.claimed || t.Sub(r.at) > resolverMaxAge || r.at.After(t.Add(time.Second)) {
		return nil
	}
	r.claimed = true
	return &Resolver{Servers: r.servers, Candidates: r.cands}
}

func (k *kernelState) sweep(now time.Time) {
	if len(k.udp) == 0 && len(k.resolvers) == 0 {
		return
	}
	for addr, p := range k.udp {
		if now.Sub(p.at) > dnsMaxAge {
			delete(k.udp, addr)
		}
	}
	for pid, r := range k.resolvers {
		if now.Sub(r.at) > resolverMaxAge {
			delete(k.resolvers, pid)
		}
	}
}

// kernel dispatches one kernel event.
func (e *Engine) kernel(k *event.Kernel) {
	switch {
	case sideKind(k.Kind):
		e.kernelSide(k) // drop.go, server.go
	case k.Family == event.FamilyUnix:
		if k.Kind == event.ConnectCall && k.SockType == event.SockStream {
			e.kernelUnix(k)
		}
	case k.SockType == event.SockDgram:
		if k.Kind == event.ConnectCall {
			e.kernelUDP(k)
		}
	default:
		e.kernelTCP(k)
	}
}

// kernelUDP records glibc's resolver connect()s: to a DNS server (port 53),
// and to each candidate address for RFC 6724 sorting. They are resolution
// evidence, never attempts.
func (e *Engine) kernelUDP(k *event.Kernel) {
	if k.Ret < 0 && k.Ret != -errEINPROGRESS {
		return
	}
	pid := k.Process.PID
	r := e.kern.resolvers[pid]
	if r == nil || k.Time.Sub(r.at) > 5*time.Second || r.claimed {
		if r == nil && len(e.kern.resolvers) >= resolverMaxRecs {
			return
		}
		r = &resolverRec{}
		e.kern.resolvers[pid] = r
	}
	r.at = k.Time
	if k.Dst.Port() == 53 {
		if k.Src.IsValid() && k.Src.Port() != 0 {
			e.kern.udp[k.Src] = procAt{Process: k.Process, at: k.Time}
		}
		s := k.Dst.String()
		if !contains(r.servers, s) && len(r.servers) < 8 {
			r.servers = append(r.servers, s)
		}
		return
	}
	s := k.Dst.Addr().String()
	if k.Dst.Addr().IsValid() && !contains(r.cands, s) && len(r.cands) < 32 {
		r.cands = append(r.cands, s)
	}
}

// connectEntered is when the connect() call began (its return when the
// source does not say).
func connectEntered(k *event.Kernel) time.Time {
	if !k.Entered.IsZero() && !k.Entered.After(k.Time) {
		return k.Entered
	}
	return k.Time
}

// nscdSocket reports a path glibc tries before every lookup: it is
// resolution plumbing, not a connect the user made.
func nscdSocket(path string) bool {
	return strings.HasSuffix(path, "/nscd/socket")
}

// wantUnix reports whether a unix-socket connect to path is followed under a
// port filter. A unix socket has no port, so with --port it is followed only
// when --host names its path, or when its path names a protocol's server
// (proto.Protocol.SocketWords) and one of the filtered ports is that
// protocol's (proto.Protocol.Ports, Options.MySQLPorts): the client
// that uses /run/mysqld/mysqld.sock for "localhost" is then part of the
// picture, while --port 28001 shows no unix sockets at all.
func (e *Engine) wantUnix(path string) bool {
	if e.hosts.matchName(path) {
		return true
	}
	return e.protocolSocket(path)
}

// kernelUnix turns a unix stream socket connect() into an attempt: the
// failures never reach any wire.
func (e *Engine) kernelUnix(k *event.Kernel) {
	path := k.UnixPath
	if nscdSocket(path) {
		return
	}
	if e.ports != nil && !e.wantUnix(path) {
		return
	}
	if path == "" {
		path = "(unnamed)"
	}
	a := e.newAttempt(netip.AddrPort{}, netip.AddrPort{}, connectEntered(k))
	a.unix = path
	a.cookie = k.Cookie
	e.attribute(a, &k.Process)
	a.event(k.Time, EvKernelConnect, DirLocal, EventAttrs{Addr: path, Errno: retErrno(k.Ret)})
	e.assignConnect(a)
	if k.Cookie != 0 {
		e.cookies[k.Cookie] = a
	}
	if k.Ret == 0 {
		e.decide(a, ReasonUnixConnected, k.Time)
		return
	}
	if interruptedOrPending(k.Ret) {
		// In progress is not expected for unix sockets, and a blocking
		// connect to a full backlog that a signal interrupted has not
		// failed: wait for a socket error or the next connect().
		return
	}
	a.kErrno = -k.Ret
	a.kErrnoAt = k.Time
	a.kErrnoSync = true
	e.decideErrno(a, k.Time)
}

// kernelTCP binds TCP socket events to attempts by socket cookie, or by the
// 5-tuple for the state change that starts the connect.
func (e *Engine) kernelTCP(k *event.Kernel) {
	if e.reportedISN(k.Src, k.Dst, k.ISN) {
		// The kernel's view of a connect already reported from its
		// packets (isn.go): it joins nothing and starts nothing.
		e.sum.KernelAfterReport++
		return
	}
	a := e.socketAttempt(k)
	if a != nil && e.opts.Live {
		a = e.claim(a, k)
	}
	if a != nil && k.ISN != 0 && e.opts.Live {
		e.learnISN(a, k)
	}
	if a != nil {
		e.touch(a) // its state may change: the sweep schedules it anew (due.go)
	}
	t := k.Time
	switch k.Kind {
	case event.StateChange:
		e.kernelStateChange(a, k)
	case event.ConnectCall:
		if a == nil {
			if interruptedOrPending(k.Ret) || k.ISN != 0 {
				return // the socket's SYN_SENT (and SYN: an ISN) was not seen (filtered or lost)
			}
			if !k.Dst.IsValid() || !e.wantPort(k.Dst.Port()) {
				return
			}
			// connect() failed before SYN_SENT: no route, a local policy, no
			// local address. Nothing reaches the wire.
			a = e.newAttempt(k.Src, k.Dst, connectEntered(k))
			a.cookie = k.Cookie
			e.attribute(a, &k.Process)
			a.event(t, EvKernelConnect, DirLocal, EventAttrs{Errno: retErrno(k.Ret)})
			a.kErrno = -k.Ret
			a.kErrnoAt = t
			a.kErrnoSync = true
			e.assignConnect(a)
			if k.Cookie != 0 {
				e.cookies[k.Cookie] = a
			}
			e.decideErrno(a, t)
			return
		}
		e.attribute(a, &k.Process)
		a.event(t, EvKernelConnect, DirLocal, EventAttrs{Errno: retErrno(k.Ret)})
		if k.Ret == 0 {
			a.kConnectRet = t
		}
		if k.Ret < 0 && !interruptedOrPending(k.Ret) {
			if a.kErrno == 0 {
				a.kErrno, a.kErrnoAt = -k.Ret, t
				a.kErrnoSync = a.kSynSent.IsZero()
			}
			if !a.final {
				e.decideErrno(a, t)
			}
		}
	case event.SocketError:
		if a == nil {
			return
		}
		// Linux may report one error twice (6.18: before and after
		// SYN_SENT→CLOSE for an ICMP error): show it once.
		if k.Errno != a.kSockErrno {
			a.kSockErrno = k.Errno
			a.event(t, EvKernelError, DirLocal, EventAttrs{Errno: errnoName(k.Errno)})
		}
		if a.kErrno == 0 {
			a.kErrno, a.kErrnoAt = k.Errno, t
		}
		if !a.final {
			e.decideErrno(a, t)
		}
	case event.Retransmit:
		if a == nil {
			return
		}
		if !a.connected() {
			a.kSynRetrans++
			if !a.kLastSYN.IsZero() {
				a.kSynGap = t.Sub(a.kLastSYN)
			}
			a.kLastSYN = t
			a.event(t, EvKernelRetrans, DirLocal, EventAttrs{N: a.kSynRetrans})
		} else {
			a.event(t, EvKernelRetrans, DirLocal, EventAttrs{})
		}
	case event.ResetReceived:
		if a == nil {
			return
		}
		a.kReset = true
		a.event(t, EvKernelRST, DirLocal, EventAttrs{})
		if !a.final && !a.connected() && !a.wire {
			e.decide(a, ReasonKernelRST, t)
		}
	}
}

func stateName(s uint8) string {
	switch s {
	case event.TCPEstablished:
		return "ESTABLISHED"
	case event.TCPSynSent:
		return "SYN_SENT"
	case event.TCPSynRecv:
		return "SYN_RECV"
	case event.TCPFinWait1:
		return "FIN_WAIT1"
	case event.TCPFinWait2:
		return "FIN_WAIT2"
	case event.TCPTimeWait:
		return "TIME_WAIT"
	case event.TCPClose:
		return "CLOSE"
	case event.TCPCloseWait:
		return "CLOSE_WAIT"
	case event.TCPLastAck:
		return "LAST_ACK"
	case event.TCPListen:
		return "LISTEN"
	case event.TCPClosing:
		return "CLOSING"
	}
	return fmt.Sprintf("state%d", s)
}

// stateDetail is the Detail of a state change step from one state to
// another (not to SYN_SENT, whose step names the process): one per pair,
// made once and shared by every step of that change (an attempt has four
// or five; live tracing records thousands a second). Shared is safe:
// nothing changes an event's Detail once the step is recorded (redaction
// works on copies).
func (e *Engine) stateDetail(from, to uint8) *proto.Detail {
	if int(from) >= len(e.stateDetails) || int(to) >= len(e.stateDetails[0]) {
		return &proto.Detail{StateFrom: stateName(from), StateTo: stateName(to)}
	}
	d := e.stateDetails[from][to]
	if d == nil {
		d = &proto.Detail{StateFrom: stateName(from), StateTo: stateName(to)}
		e.stateDetails[from][to] = d
	}
	return d
}

// synSentDetail is the Detail of k's step to SYN_SENT, which names the
// process: the last one made for k's PID (modulo synSentWays) while it
// has k's process and the same old state (a connect loop's every connect,
// a worker pool's; live tracing records thousands a second), else a new
// one. Shared is safe, as for stateDetail.
func (e *Engine) synSentDetail(k *event.Kernel) *proto.Detail {
	from := stateName(k.OldState)
	way := &e.kern.synSent[k.Process.PID%synSentWays]
	if d := *way; d != nil && d.PID == k.Process.PID && d.Comm == k.Process.Comm && d.StateFrom == from {
		return d
	}
	d := &proto.Detail{StateFrom: from, StateTo: "SYN_SENT", PID: k.Process.PID, Comm: k.Process.Comm}
	*way = d
	return d
}

// kernelStateChange handles a TCP state change.
func (e *Engine) kernelStateChange(a *attempt, k *event.Kernel) {
	t := k.Time
	if k.NewState == event.TCPSynSent {
		exact := a != nil && k.ISN != 0 && a.socketISN() == k.ISN // isn.go
		if a != nil && a.final && a.cookie != k.Cookie && !exact {
			a = nil // an older attempt on the same 5-tuple
		}
		if a != nil && e.opts.Live && a.cookie != 0 && a.cookie != k.Cookie && !exact {
			// Another socket has the 5-tuple of an attempt still open
			// (one waiting for late packets, or one whose port was taken
			// from a SYN by time): that attempt leaves the flow table and
			// goes on by its own socket's events (cookie).
			e.untrack(a)
			a = nil
		}
		if a == nil {
			if !k.Dst.IsValid() || !e.wantPort(k.Dst.Port()) {
				return
			}
			a = e.newAttempt(k.Src, k.Dst, t)
			a.kSynSent = t
			a.kLastSYN = t
			a.cookie = k.Cookie
			a.kISN = k.ISN
			e.attribute(a, &k.Process)
			if f := e.flowOf(k); f != nil && k.ISN != 0 && f.otherConnect(k.ISN) && !f.final {
				// The 5-tuple is another connect's, still open: this one
				// goes by its cookie and its ISN (isn.go), and its SYN,
				// if it comes, finds it by the ISN.
				e.noteISN(a, k.ISN)
			} else if k.Src.Port() != 0 {
				if !e.track(a) {
					return
				}
				e.noteISN(a, k.ISN)
			} else {
				e.notePortless(a)
			}
			e.assignConnect(a)
		} else {
			a.kSynSent = t
			a.kLastSYN = t
			if t.Before(a.start) {
				a.start = t
			}
			e.attribute(a, &k.Process)
		}
		if exact && a.cookie != k.Cookie {
			if old := e.cookies[a.cookie]; old == a {
				delete(e.cookies, a.cookie) // a socket paired with it by time, contradicted
			}
		}
		a.cookie = k.Cookie
		if k.Cookie != 0 {
			e.cookies[k.Cookie] = a
		}
		a.event(t, EvKernelState, DirLocal, EventAttrs{Detail: e.synSentDetail(k)})
		return
	}
	if a == nil {
		return
	}
	a.event(t, EvKernelState, DirLocal, EventAttrs{Detail: e.stateDetail(k.OldState, k.NewState)})
	switch {
	case k.OldState == event.TCPSynSent && k.NewState == event.TCPEstablished:
		a.kConnected = t
		if !a.final && !a.wire {
			if e.opts.NoPackets {
				e.decide(a, ReasonKernelConnected, t)
			} else if !e.opts.Live {
				e.decideKernelConnected(a)
			}
			// Live, its packets may still come, late: the sweep decides
			// (see kernelConnectedWait).
		}
	case k.OldState == event.TCPSynSent && k.NewState == event.TCPClose:
		a.kClosed = t
		if a.final {
			return
		}
		if a.kErrno != 0 {
			e.decideErrno(a, t)
			return
		}
		// Closed in SYN_SENT without an error yet: either connect() is
		// about to return its error (EADDRNOTAVAIL closes the socket before
		// connect() returns), or the client gave up (its connect timeout)
		// and closed the socket, which puts nothing on the wire. The sweep
		// decides after kernelLinger.
	}
}

// decideErrno decides an attempt from a kernel errno, when the wire has not
// already decided it.
func (e *Engine) decideErrno(a *attempt, t time.Time) {
	if a.final {
		return
	}
	errno := a.kErrno
	// The facts the words need: the errno (buildFacts), whether connect()
	// itself returned it, and whether packets of the attempt were captured
	// by then.
	a.facts.AtOnce = a.kErrnoSync
	a.facts.Wire = a.wire
	if a.unix != "" {
		switch errno {
		case errENOENT, errENOTDIR:
			e.decide(a, ReasonENOENT, t)
		case errEACCES, errEPERM:
			e.decide(a, ReasonEACCESUnix, t)
		case errECONNREFUSED:
			e.decide(a, ReasonECONNREFUSEDUnix, t)
		case errEAGAIN:
			e.decide(a, ReasonEAGAINUnix, t)
		default:
			e.decide(a, ReasonUnixOtherErrno, t)
		}
		return
	}
	switch errno {
	case errECONNREFUSED:
		e.decide(a, ReasonECONNREFUSED, t)
	case errETIMEDOUT:
		e.decide(a, ReasonETIMEDOUT, t)
	case errENETUNREACH, errENETDOWN, errEAFNOSUPPORT:
		e.decide(a, ReasonENETUNREACH, t)
	case errEHOSTUNREACH, errEHOSTDOWN:
		switch {
		case a.kErrnoSync:
			e.decide(a, ReasonEHOSTUNREACHRoute, t)
		case !a.wire && e.fed > 0 && !e.opts.NoPackets:
			e.decide(a, ReasonNoARPReply, t)
		default:
			e.decide(a, ReasonEHOSTUNREACH, t)
		}
	case errEADDRNOTAVAIL:
		e.decide(a, ReasonEADDRNOTAVAIL, t)
	case errEACCES, errEPERM:
		e.decide(a, ReasonEACCES, t)
	case errECONNRESET, errECONNABORTED:
		if a.connected() {
			e.decide(a, ReasonECONNRESETConnected, t)
		} else {
			e.decide(a, ReasonECONNRESET, t)
		}
	case errEADDRINUSE:
		e.decide(a, ReasonEADDRINUSE, t)
	default:
		e.decide(a, ReasonKernelOtherErrno, t)
	}
}

// socketAttempt is the attempt a TCP socket event belongs to: by socket
// cookie, else by the 5-tuple of a flow in its connection phase (nil when
// neither knows it).
//
// An event that carries its connect's ISN (isn.go) finds the attempt of
// that ISN, and never one known to be another connect: the socket's
// earlier connect (same cookie), or another socket's on the same 5-tuple.
func (e *Engine) socketAttempt(k *event.Kernel) *attempt {
	if k.Cookie != 0 {
		if a := e.cookies[k.Cookie]; a != nil && !a.otherConnect(k.ISN) {
			return a
		}
	}
	if k.ISN != 0 && k.Src.IsValid() && k.Dst.IsValid() && k.Src.Port() != 0 {
		if a := e.byISN(k.Src, k.Dst, k.ISN); a != nil {
			return a
		}
	}
	if f := e.flowOf(k); f != nil && !f.otherConnect(k.ISN) {
		return f
	}
	return nil
}

// flowOf is the attempt in the flow table under the event's 5-tuple (nil
// for none, or a DNS flow).
func (e *Engine) flowOf(k *event.Kernel) *attempt {
	// A clear filter bit says no flow has these ports (flow.go): the key
	// and the map lookup are skipped, as for packets (a new socket's
	// SYN_SENT asks twice).
	if k.Src.IsValid() && k.Dst.IsValid() && k.Src.Port() != 0 && e.filter.maybe(flowHash(k.Src.Port(), k.Dst.Port())) {
		key, _ := makeKey(k.Src.Addr(), k.Src.Port(), k.Dst.Addr(), k.Dst.Port())
		if f := e.flows.get(key); f != nil && f.dnsFlow == nil {
			return f
		}
	}
	return nil
}
