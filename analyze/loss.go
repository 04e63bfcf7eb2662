package analyze

import (
	"net/netip"
	"slices"
	"time"

	"github.com/connscope/connscope/event"
	"github.com/connscope/connscope/internal/seqring"
)

// Loss: a live trace can lose evidence (eBPF ring-buffer overruns, packets
// the kernel dropped before capture, events that arrived later than the
// reorder window). The engine is told (NoteLoss, LatePacket, LateKernel) and
// then never invents an outcome from what is missing:
//
//   - a late event joins its attempt when that attempt is still known (in
//     the flow table, by socket cookie, or decided a moment ago); otherwise
//     it is counted (Summary.LateUnmatched), never made a new attempt;
//   - a verdict that rests on the absence of something (timeout, no_greeting,
//     a connected socket without a single packet) is incomplete instead,
//     with the loss named in its evidence, when evidence of the kind it lacks
//     was lost during the attempt (Summary.IncompleteLoss).

// lossSlack widens an attempt's exposure to loss noted before it started:
// a counter is read up to one tick (plus the reorder window) after the
// events it counts were lost.
const lossSlack int64 = 2e9 // 2 s in ns

// recentTTL and maxRecent bound the memory of decided attempts that late
// events may still belong to. It only tells a late event of a reported
// attempt from one of an unknown attempt (neither starts an attempt), and
// a kernel view of a connect whose packets were just decided: a second or
// two of decisions is enough, and it stays small at any rate.
const (
	recentTTL int64 = 5e9 // 5 s in ns
	maxRecent       = 1 << 14
)

// lossState is what the engine was told about lost evidence.
type lossState struct {
	kernelLost, packetDrops uint64 // cumulative, as the sources count them
	// The span (Unix ns) in which each kind was lost: from the reading
	// before a counter grew to the reading that saw it grow (late events:
	// their own times); to is 0 when none was.
	kernelFrom, kernelAt int64
	dropsFrom, dropsAt   int64
	lateFrom, lateAt     int64
	lastRead             int64 // the previous NoteLoss
}

// lossGap: a loss this long after the previous one starts a new span.
const lossGap int64 = 10e9

func extendSpan(from, to *int64, a, b int64) {
	if *to == 0 || a-*to > lossGap {
		*from = a
	}
	if b > *to {
		*to = b
	}
}

// recentMemory remembers decided attempts (by 5-tuple and by socket
// cookie) for late events, oldest first, bounded in size and age. The
// entries are a ring, grown by doubling up to maxRecent: live tracing adds
// and expires one per decision, and a slice advanced by queue[1:]
// reallocated and copied itself every few thousand of them.
//
// The look-ups go through hash chains threaded through the ring, not maps:
// every decision adds an entry and (once full) drops the oldest, while only
// late events look anything up. With two maps each decision paid two
// inserts, two look-ups and two deletes in tables of 16,384 entries (cache
// misses nearly every time, 4% of live tracing's CPU); a chain costs two
// writes to add and nothing to drop (internal/seqring).
//
// The entries are linked into their chains only when a look-up comes (link):
// a decision just writes its entry, the next slot of the ring, while the
// chains' two heads are random places in 256 KB each, cache misses at every
// decision (recentMemory.add was 0.08 s of a 3.1 s connbench profile),
// for look-ups that a trace without loss or portless sockets never makes.
// A look-up first links what was added since the last one, in order, so
// the chains come out as if each entry had been linked when added; an
// entry dropped before any look-up is never linked.
type recentMemory struct {
	seqring.Ring[recentEntry]          // at most maxRecent entries
	keyHead                   []uint64 // per bucket of recentHash: 1 + seq of its newest linked entry with a key
	cookieHead                []uint64 // per bucket of cookieHash: 1 + seq of its newest linked entry with a cookie
	linked                    uint64   // the entries below this seq are linked into their chains (or dropped)
}

type recentEntry struct {
	key                 flowKey
	cookie              uint64
	keyed               bool
	at                  int64
	keyNext, cookieNext uint64 // links to the next older entry of the same bucket
}

// recentBuckets is the number of buckets of each chain table (twice
// maxRecent: chains of one entry or none, mostly).
const recentBuckets = 2 * maxRecent

// recentHash is a flow key's chain bucket.
func recentHash(k flowKey) uint64 {
	return (k.a0 ^ k.a1 ^ k.b0 ^ k.b1<<1 ^ k.ports) * 0x9E3779B97F4A7C15 >> 32 & (recentBuckets - 1)
}

// cookieHash is a socket cookie's chain bucket.
func cookieHash(c uint64) uint64 { return c * 0x9E3779B97F4A7C15 >> 32 & (recentBuckets - 1) }

func (r *recentMemory) add(a *attempt, now int64) {
	if r.Len() >= maxRecent {
		r.Pop() // the ring, doubling from a power of two, stays within maxRecent
	}
	r.Push(recentEntry{key: a.key, cookie: a.cookie, keyed: a.key != (flowKey{}), at: now})
}

// link threads the entries added since the last look-up into their chains.
func (r *recentMemory) link() {
	end := r.Tail() + uint64(r.Len())
	if r.linked >= end {
		return
	}
	if r.keyHead == nil {
		r.keyHead = make([]uint64, recentBuckets)
		r.cookieHead = make([]uint64, recentBuckets)
	}
	for s := max(r.linked, r.Tail()); s < end; s++ {
		en := r.At(s + 1)
		if en.keyed {
			h := recentHash(en.key)
			en.keyNext, r.keyHead[h] = r.keyHead[h], s+1
		}
		if en.cookie != 0 {
			h := cookieHash(en.cookie)
			en.cookieNext, r.cookieHead[h] = r.cookieHead[h], s+1
		}
	}
	r.linked = end
}

// keyAt is when the newest entry held with this flow key was added.
func (r *recentMemory) keyAt(key flowKey) (int64, bool) {
	if r.Len() == 0 {
		return 0, false
	}
	r.link()
	for en := r.At(r.keyHead[recentHash(key)]); en != nil; en = r.At(en.keyNext) {
		if en.key == key {
			return en.at, true
		}
	}
	return 0, false
}

// hasCookie says whether an entry held has this socket cookie.
func (r *recentMemory) hasCookie(c uint64) bool {
	if r.Len() == 0 || c == 0 {
		return false
	}
	r.link()
	for en := r.At(r.cookieHead[cookieHash(c)]); en != nil; en = r.At(en.cookieNext) {
		if en.cookie == c {
			return true
		}
	}
	return false
}

// hasKey says whether an entry held has this flow key.
func (r *recentMemory) hasKey(key flowKey) bool {
	_, ok := r.keyAt(key)
	return ok
}

func (r *recentMemory) expire(now int64) {
	for r.Len() > 0 && now-r.Oldest().at > recentTTL {
		r.Pop()
	}
}

// NoteLoss tells the engine the sources' cumulative loss counters: kernel
// events lost (eBPF ring buffer full) and packets dropped by the kernel
// before capture, as read at wall time at. Call it whenever they may have
// grown (live tracing: every tick, before releasing events); attempts open
// while a counter grew lose the verdicts that rest on missing evidence.
func (e *Engine) NoteLoss(kernelLost, packetDrops uint64, at time.Time) {
	l := &e.loss
	now := unixNanos(at)
	prev := l.lastRead
	if prev == 0 || prev > now {
		prev = now - lossSlack
	}
	l.lastRead = now
	if kernelLost > l.kernelLost {
		l.kernelLost = kernelLost
		extendSpan(&l.kernelFrom, &l.kernelAt, prev, now)
	}
	if packetDrops > l.packetDrops {
		l.packetDrops = packetDrops
		extendSpan(&l.dropsFrom, &l.dropsAt, prev, now)
	}
}

// noteLate records a late event stamped t.
func (e *Engine) noteLate(t time.Time) {
	ns := unixNanos(t)
	extendSpan(&e.loss.lateFrom, &e.loss.lateAt, ns, ns)
}

// LatePacket feeds a packet that arrived after the stream had moved past
// its time (event.Item.Late). It joins its attempt if that is still in the
// flow table, and is otherwise counted: it never starts an attempt.
func (e *Engine) LatePacket(p *event.Packet) {
	if e.closed {
		return
	}
	e.fed++
	e.sum.LateEvents++
	e.noteLate(p.Time)
	switch p.Proto {
	case event.ProtoTCP:
		key, srcIsA := makeKey(p.Src, p.SrcPort, p.Dst, p.DstPort)
		a := e.flows.get(key)
		if a == nil {
			e.lateUnmatched(e.recent.hasKey(key))
			return
		}
		if e.duplicate(p) {
			return
		}
		if a.dnsFlow != nil {
			e.dnsTCP(a, p, srcIsA == a.clientIsA)
		} else {
			e.segment(a, p, srcIsA == a.clientIsA)
		}
	case event.ProtoICMP, event.ProtoICMPv6:
		// ICMP errors only ever join attempts (or queries) already known.
		if p.ICMP != nil && !e.duplicate(p) {
			e.icmp(p)
		}
	default:
		// A late DNS message could start a lookup of its own: counted.
		e.lateUnmatched(false)
	}
	if len(e.decided) > 0 {
		e.reportDecided()
	}
	if len(e.ready) > 0 {
		e.flush()
	}
}

// LateKernel feeds a kernel event that arrived after the stream had moved
// past its time. It joins its attempt (by socket cookie or 5-tuple) if that
// is still known, and is otherwise counted: it never starts an attempt.
func (e *Engine) LateKernel(k *event.Kernel) {
	if e.closed {
		return
	}
	e.kernelSeen = true
	e.sum.LateEvents++
	e.noteLate(k.Time)
	switch {
	case k.Family == event.FamilyUnix:
		e.lateUnmatched(e.recent.hasCookie(k.Cookie))
		return
	case k.SockType == event.SockDgram:
		e.kernel(k) // resolver evidence, never an attempt
		return
	case sideKind(k.Kind):
		// drop.go, server.go: joins an attempt not yet reported, never starts one
		if !e.kernelSide(k) && k.Src.IsValid() && k.Dst.IsValid() {
			key, _ := makeKey(k.Src.Addr(), k.Src.Port(), k.Dst.Addr(), k.Dst.Port())
			e.lateUnmatched(e.recent.hasKey(key))
		}
		if len(e.ready) > 0 {
			e.flush()
		}
		return
	}
	if e.reportedISN(k.Src, k.Dst, k.ISN) {
		// isn.go: the socket's connect was reported from its packets. Its
		// SYN_SENT, which came without the port (Linux picks it after),
		// may hold an attempt of its own by the cookie: the same connect,
		// as claim finds it when the event is not late.
		if a := e.cookies[k.Cookie]; a != nil && k.Cookie != 0 && !a.wire && a.client.Port() != k.Src.Port() && (a.conn == nil || !a.conn.reported) {
			e.untrack(a)
			e.dropKernelView(a)
		}
		e.lateUnmatched(true)
		return
	}
	a := e.socketAttempt(k)
	exact := a != nil && k.ISN != 0 && a.socketISN() == k.ISN // isn.go
	if a == nil || (k.Kind == event.StateChange && k.NewState == event.TCPSynSent && a.final && a.cookie != k.Cookie && !exact) {
		known := e.recent.hasCookie(k.Cookie)
		if !known && k.Src.IsValid() && k.Src.Port() != 0 {
			key, _ := makeKey(k.Src.Addr(), k.Src.Port(), k.Dst.Addr(), k.Dst.Port())
			known = e.recent.hasKey(key)
		}
		e.lateUnmatched(known)
		return
	}
	e.kernelTCP(k)
	if len(e.decided) > 0 {
		e.reportDecided()
	}
	if len(e.ready) > 0 {
		e.flush()
	}
}

// lateUnmatched counts a late event that joined no open attempt: its
// attempt was already reported (known) or is unknown.
func (e *Engine) lateUnmatched(known bool) {
	if known {
		e.sum.LateAfterReport++
	} else {
		e.sum.LateUnmatched++
	}
}

// portlessSYNWindow is how long after a socket's SYN_SENT its SYN may be
// stamped (the kernel sends it within the same connect() call).
const portlessSYNWindow = 5 * time.Millisecond

// maxPortless bounds the kernel attempts waiting for their port.
const maxPortless = 1 << 14

// notePortless records a kernel attempt whose SYN_SENT came without the
// local port: Linux sets SYN_SENT before it picks the port, and the live
// pipeline fills the port in only when the socket's next event, or an
// unambiguous SYN, arrives within the reorder window. Under load and loss
// it may not; the attempt's SYN then still finds it here instead of
// starting a second attempt for the same connect.
func (e *Engine) notePortless(a *attempt) {
	if e.portless == nil {
		e.portless = make(map[netip.AddrPort][]*attempt)
	}
	dst := netip.AddrPortFrom(a.server.Addr().Unmap(), a.server.Port())
	list := e.portless[dst]
	// Drop those decided, adopted, or too old for their SYN.
	kept := list[:0]
	for _, x := range list {
		if !x.final && !x.keyed && e.now.Sub(x.kSynSent) <= portlessSYNWindow+e.opts.IdleTimeout {
			kept = append(kept, x)
		}
	}
	clear(list[len(kept):])
	if len(kept) >= maxPortless {
		kept = kept[1:]
	}
	a.listed = true
	e.portless[dst] = append(kept, a)
}

// claim ties a kernel event's socket to the attempt found for it: a wire
// attempt found by 5-tuple is claimed by the socket (its cookie), and a
// kernel attempt still without its local port learns it from the event,
// joining the wire attempt of that 5-tuple if the SYN started one (the
// returned attempt is then that one).
func (e *Engine) claim(a *attempt, k *event.Kernel) *attempt {
	if k.Cookie == 0 || a.unix != "" {
		return a
	}
	if k.ISN != 0 && a.socketISN() == k.ISN && e.cookies[k.Cookie] != a {
		// Found by its ISN (isn.go): the socket is this attempt's, whatever
		// held its cookie or the attempt's cookie by time.
		if a.cookie != 0 && a.cookie != k.Cookie && e.cookies[a.cookie] == a {
			delete(e.cookies, a.cookie)
		}
		e.takeSocket(a, k)
		return a
	}
	if a.cookie == 0 {
		a.cookie = k.Cookie
		if e.cookies[k.Cookie] == nil {
			e.cookies[k.Cookie] = a
		}
		return a
	}
	if a.cookie != k.Cookie || k.Src.Port() == 0 || !k.Src.IsValid() || a.client.Port() == k.Src.Port() {
		return a
	}
	// The socket names its local port, and the attempt has none, or one
	// taken from a SYN by time that the socket now contradicts.
	if a.conn != nil && a.conn.reported {
		return a
	}
	addr := a.client.Addr()
	if !addr.IsValid() || addr.IsUnspecified() {
		addr = k.Src.Addr()
	}
	client := netip.AddrPortFrom(addr, k.Src.Port())
	key, _ := makeKey(client.Addr(), client.Port(), a.server.Addr(), a.server.Port())
	if e.reportedISN(client, a.server, k.ISN) {
		// The socket's connect, reported from its packets (isn.go).
		e.untrack(a)
		e.dropKernelView(a)
		e.sum.KernelAfterReport++
		return a
	}
	if w := e.byISN(client, a.server, k.ISN); w != nil && w != a {
		// The attempt of the socket's SYN, by its ISN (isn.go).
		e.untrack(a)
		e.mergeKernel(w, a)
		return w
	}
	if w := e.flows.get(key); w != nil && w != a && !w.otherConnect(k.ISN) {
		if w.dnsFlow == nil && w.cookie == 0 && (w.conn == nil || !w.conn.reported) {
			e.untrack(a)
			e.mergeKernel(w, a)
			return w
		}
		return a
	}
	if at, ok := e.recent.keyAt(key); ok && k.ISN == 0 && at >= unixNanos(a.kSynSent) && (a.client.Port() == 0 || !a.wire) {
		// The socket's packets made an attempt of their own that is
		// already decided: this is the same connect, seen from the kernel.
		e.untrack(a)
		e.dropKernelView(a)
		return a
	}
	if a.wire {
		return a // its packets are its own: keep them under their 5-tuple
	}
	e.untrack(a)
	a.client, a.cliStr = client, ""
	if w := e.flows.get(key); w != nil && w.otherConnect(k.ISN) && !w.final {
		return a // the 5-tuple is another connect's, still open: a goes by its cookie and ISN
	}
	if !a.final || !a.connected() {
		e.track(a)
	}
	return a
}

// unclaimedSYNs are one server's attempts started by a SYN that no kernel
// socket has claimed yet, in SYN order.
type unclaimedSYNs struct {
	list []*attempt
	// swept is len(list) after the last full sweep.
	swept int
}

// noteUnclaimed records a live attempt started by a SYN, for a kernel
// attempt without its port to find (adoptPortless). What expired leaves
// from the front; what was claimed or reported is swept out only once the
// list has doubled since the last sweep: a sweep per SYN made a connect loop
// to one server quadratic (10,000 SYNs a second, each scanning the second's
// SYNs before it).
func (e *Engine) noteUnclaimed(a *attempt) {
	if e.unclaimed == nil {
		e.unclaimed = make(map[netip.AddrPort]*unclaimedSYNs)
	}
	dst := netip.AddrPortFrom(a.server.Addr().Unmap(), a.server.Port())
	u := e.unclaimed[dst]
	if u == nil {
		u = &unclaimedSYNs{}
		e.unclaimed[dst] = u
	}
	expired := 0
	for expired < len(u.list) && a.start.Sub(u.list[expired].start) > unclaimedFor {
		expired++
	}
	if expired > 0 {
		clear(u.list[:expired])
		u.list = u.list[expired:]
		u.swept = max(u.swept-expired, 0)
	}
	if len(u.list) >= 2*u.swept+64 || len(u.list) >= maxPortless {
		kept := u.list[:0]
		for _, x := range u.list {
			if x.unclaimed(a.start) {
				kept = append(kept, x)
			}
		}
		clear(u.list[len(kept):])
		u.list, u.swept = kept, len(kept)
		if len(u.list) >= maxPortless {
			u.list[0] = nil
			u.list = u.list[1:]
		}
	}
	a.listed = true
	u.list = append(u.list, a)
}

// unclaimed reports whether x, an attempt started by a SYN, may still be
// claimed by a kernel attempt at now.
func (x *attempt) unclaimed(now time.Time) bool {
	return x.cookie == 0 && (x.conn == nil || !x.conn.reported) && now.Sub(x.start) <= unclaimedFor
}

// unclaimedFor is how long a SYN's attempt waits to be claimed; portlessWait
// how long a kernel attempt without its port waits for its own events
// before it is paired with a SYN by time alone.
const (
	unclaimedFor = time.Second
	portlessWait = kernelLinger / 2
)

// adoptPortless pairs each kernel attempt that never learned its local port
// (its later events lost or late) with the SYN that started an attempt no
// socket claimed: same server and client address, stamped within
// portlessSYNWindow after SYN_SENT. Only a pairing without an alternative
// is made; otherwise the kernel attempt stays as it is (port 0).
func (e *Engine) adoptPortless(closing bool) {
	for dst, list := range e.portless {
		kept := list[:0]
		for _, p := range list {
			if p.final || p.keyed || (p.conn != nil && p.conn.reported) {
				continue
			}
			if !closing && e.now.Sub(p.kSynSent) < portlessWait {
				kept = append(kept, p)
				continue
			}
			var match *attempt
			n := 0
			var syns []*attempt
			if u := e.unclaimed[dst]; u != nil {
				syns = u.list
			}
			for _, w := range syns {
				if w.cookie != 0 || w.conn == nil || w.conn.reported || w.firstSYN.Before(p.kSynSent) || w.firstSYN.Sub(p.kSynSent) > portlessSYNWindow {
					continue
				}
				if ca := p.client.Addr().Unmap(); ca.IsValid() && !ca.IsUnspecified() && ca != w.client.Addr().Unmap() {
					continue
				}
				match = w
				n++
			}
			if n == 1 {
				e.mergeKernel(match, p)
				continue
			}
			if !closing && e.now.Sub(p.kSynSent) < unclaimedFor {
				kept = append(kept, p)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(e.portless, dst)
		} else {
			e.portless[dst] = kept
		}
	}
}

// mergeKernel moves what kernel attempt k knows of its socket into w, the
// attempt of the same socket seen on the wire, and drops k (and its
// connect, if k was all of it).
func (e *Engine) mergeKernel(w, k *attempt) {
	e.touch(w)
	w.cookie = k.cookie
	if k.cookie != 0 {
		e.cookies[k.cookie] = w
	}
	if w.kSynSent.IsZero() || k.kSynSent.Before(w.kSynSent) {
		w.kSynSent = k.kSynSent
	}
	w.kSynRetrans += k.kSynRetrans
	if k.kLastSYN.After(w.kLastSYN) {
		w.kLastSYN, w.kSynGap = k.kLastSYN, k.kSynGap
	}
	if w.kConnected.IsZero() {
		w.kConnected = k.kConnected
	}
	if w.kClosed.IsZero() {
		w.kClosed = k.kClosed
	}
	if w.kErrno == 0 {
		w.kErrno, w.kErrnoAt, w.kErrnoSync = k.kErrno, k.kErrnoAt, k.kErrnoSync
	}
	w.kReset = w.kReset || k.kReset
	fd := int32(-1)
	if k.hasFD {
		fd = k.fd
	}
	e.attribute(w, &event.Process{PID: k.pid, Comm: k.comm, FD: fd})
	for _, ev := range k.events {
		w.event(ev.Time, ev.Kind, ev.Dir, ev.EventAttrs)
	}
	if k.start.Before(w.start) {
		w.start = k.start
	}
	e.dropKernelView(k)
	e.sum.PortsPaired++
}

// dropKernelView ends kernel attempt k, whose socket is an attempt seen on
// the wire: it is no attempt of its own (and its connect, if k was all of
// it, is none either).
func (e *Engine) dropKernelView(k *attempt) {
	if e.cookies[k.cookie] == k {
		delete(e.cookies, k.cookie)
	}
	k.final, k.outcome, k.reason = true, Incomplete, ReasonCaptureEnded
	if c := k.conn; c != nil {
		c.attempts = slices.DeleteFunc(c.attempts, func(x *attempt) bool { return x == k })
		if len(c.attempts) == 0 {
			c.reported = true // nothing to report: its one attempt is on the wire
		}
	}
}

// kernelConnectedWait is how long, live, a socket the kernel saw connect
// waits for its packets (which may come later than the reorder window)
// before it is decided on the kernel's word alone.
const kernelConnectedWait = 2 * time.Second

// decideKernelConnected decides a connected attempt none of whose packets
// were captured: ok on the kernel's word (incomplete if packets were lost
// meanwhile, see lostEvidence).
func (e *Engine) decideKernelConnected(a *attempt) {
	e.decide(a, ReasonConnectedNoPackets, a.kConnected)
}

// lostEvidence says what was lost that could contradict verdict r for a
// (nil when nothing could): the kinds of evidence r rests on the absence
// of (Reason.restsOnAbsence), lost while a was open.
func (e *Engine) lostEvidence(a *attempt, r Reason) *LostFact {
	l := &e.loss
	if l.kernelAt == 0 && l.dropsAt == 0 && l.lateAt == 0 {
		return nil
	}
	kinds := r.restsOnAbsence()
	if kinds == 0 {
		return nil
	}
	if r.Outcome() == Timeout && !a.connected() && (a.synCount > 1 || a.kSynRetrans > 0 || a.kErrno == errETIMEDOUT) {
		// The silence itself was seen: retransmits, or the kernel's
		// ETIMEDOUT. (A socket closed in SYN_SENT is no proof: the RST or
		// error that closed it may be among the lost events.)
		return nil
	}
	// Exposed: the attempt started before the loss span ended and was
	// still open when it began.
	start := unixNanos(a.start)
	in := func(from, to int64) bool {
		return to != 0 && start <= to+lossSlack && e.nowNS >= from-lossSlack
	}
	var lost LostFact
	if kinds&lostKernel != 0 && in(l.kernelFrom, l.kernelAt) {
		lost.KernelEvents = l.kernelLost
	}
	if kinds&lostPackets != 0 && in(l.dropsFrom, l.dropsAt) {
		lost.Packets = l.packetDrops
	}
	if kinds&lostLate != 0 && in(l.lateFrom, l.lateAt) {
		lost.LateEvents = e.sum.LateEvents
	}
	if lost == (LostFact{}) {
		return nil
	}
	return &lost
}

// lossVerdict turns a verdict that rests on missing evidence into
// capture.evidence_lost when evidence was lost meanwhile (see
// lostEvidence); the verdict it would have been is facts.would_be.
func (e *Engine) lossVerdict(a *attempt, r Reason) Reason {
	lost := e.lostEvidence(a, r)
	if lost == nil {
		return r
	}
	e.sum.IncompleteLoss++
	a.facts.WouldBe = r
	a.facts.Lost = lost
	return ReasonEvidenceLost
}

// LostEvidence reports whether the run lost evidence (kernel events,
// packets, late events, attempts not followed, events unread at the stop):
// its report is partial. The counts are the fields named; the words are the
// report's.
func (s *Summary) LostEvidence() bool {
	return s.RingBufferLost > 0 || s.KernelDrops > 0 || s.LateEvents > 0 || s.Untracked > 0 || s.UnreadAtStop > 0
}
