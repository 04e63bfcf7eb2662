package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// connectState groups the attempts of one logical connect: the lookups
// that preceded it and each address tried in order.
//
// Grouping rule: when DNS is seen, an attempt joins the connect whose
// lookup returned its server address (from the same client; a dual-stack
// client's IPv6 attempt may follow a lookup sent over IPv4) as long as the
// previous attempt of that connect failed (or is still waiting for a
// SYN-ACK or the server's first byte) and the new one starts within
// FallbackWindow of that failure — that is how clients walk the address
// list. The new server must be among the answers of the connect's name.
// Without DNS (or outside those rules) every attempt is its own connect. A
// failed lookup that no attempt follows is a connect of its own, with no
// attempts: unresolved.
type connectState struct {
	seq      uint64
	attempts []*attempt
	queries  []*dnsQuery
	name     string
	addrs    []netip.Addr // every address the lookups returned
	client   netip.Addr
	port     uint16
	reported bool // beside port: in the padding before pid
	waiting  bool // on Engine.waiting (noteWaiting)
	pid      uint32
	comm     string
	resolver *Resolver
	// undecided counts the attempts not final yet (added by group while
	// undecided, taken off by decide): connectComplete reads it, not every
	// attempt's verdict — the sweep asks it of every open connect each
	// time, and the attempts' memory was a cache miss each.
	undecided int
	start     time.Time
	// first backs attempts while the connect has one (most connects):
	// no allocation of its own.
	first [1]*attempt
}

// group places a new attempt in a connect: the open connect of q, the
// lookup that gave its address (nil: none seen), when a continues it
// (joinable), else a new one (created). It asks no other tracker and
// decides and reports nothing: when a continues a connect whose previous
// attempt is still undecided (the client moved on from it), it returns
// that attempt; the engine decides it, and gives a new connect its lookups
// and resolver evidence (assignConnect).
func (e *Engine) group(a *attempt, q *dnsQuery) (c *connectState, created bool, movedOn *attempt) {
	if q != nil && q.conn != nil && !q.conn.reported {
		if c := q.conn; e.joinable(c, a) {
			prev := c.attempts[len(c.attempts)-1]
			c.attempts = append(c.attempts, a)
			a.conn = c
			if !a.final {
				c.undecided++
			}
			if c.pid == 0 && a.pid != 0 {
				c.pid, c.comm = a.pid, a.comm
			}
			if !prev.final {
				return c, false, prev
			}
			return c, false, nil
		}
	}
	c = e.newConnect()
	c.client, c.port, c.pid, c.comm, c.start = a.client.Addr(), a.server.Port(), a.pid, a.comm, a.start
	if q != nil {
		c.name = q.name
		if q.conn != nil {
			// The answers were already used by an earlier connect (a cached
			// lookup): name the connect, show the lookup once.
			c.addrs = append(c.addrs, q.addrs...)
		}
	}
	c.attempts = append(c.first[:0], a)
	a.conn = c
	if !a.final {
		c.undecided++
	}
	e.open = append(e.open, c)
	e.noteWaiting(c)
	return c, true, nil
}

// noteWaiting puts connect c on Engine.waiting once none of its attempts
// is undecided (and it is not reported): the sweep asks only those
// whether they are complete. A connect an attempt joins later stays on
// the list, which the sweep drops it from while it has undecided attempts.
func (e *Engine) noteWaiting(c *connectState) {
	if c.undecided == 0 && !c.waiting && !c.reported {
		c.waiting = true
		e.waiting = append(e.waiting, c)
	}
}

// newConnect is a new connect: the memory of a reported one when there is
// one spare (spareConnect), with its addresses' and its lookups' arrays
// (assignConnect claims the lookups into it).
func (e *Engine) newConnect() *connectState {
	e.seq++
	var c *connectState
	if n := len(e.spareConnects); n > 0 {
		c = e.spareConnects[n-1]
		e.spareConnects[n-1] = nil
		e.spareConnects = e.spareConnects[:n-1]
		addrs, queries := c.addrs[:0], c.queries[:0]
		clear(queries[:cap(queries)]) // the lookups of a reported connect
		*c = connectState{addrs: addrs, queries: queries}
	} else {
		c = new(connectState)
	}
	c.seq = e.seq
	return c
}

// spareConnect makes a reported connect's memory spare for newConnect,
// once nothing reads it: the engine's lists no longer hold it (the sweep
// dropped it from open; decided is empty), and its attempts and lookups,
// which the engine may still look at (an attempt until newAttempt reuses
// it, a lookup until the DNS tracker drops it), are pointed at
// reportedConnect, which reads as reported as it did. Only offline
// without kernel events: live, and with kernel attempts, lists keep
// reported attempts that name their connect (attempt.listed, the ISN
// index, dropKernelView's attempts no longer among their connect's). A
// connect a new lookup or attempt (nearly every one) was 192 bytes
// allocated per connect.
func (e *Engine) spareConnect(c *connectState) {
	if e.opts.Live || e.kernelSeen || keepReported || len(e.decided) > 0 || len(e.spareConnects) >= maxSpare {
		return
	}
	for _, a := range c.attempts {
		if a.conn == c {
			a.conn = &e.reportedConnect
		}
	}
	for _, q := range c.queries {
		if q.conn == c {
			q.conn = &e.reportedConnect
		}
	}
	if connSpareCheck != nil {
		connSpareCheck(e, c)
	}
	e.spareConnects = append(e.spareConnects, c)
}

// addLookups gives a new connect the lookups that produced its address
// (dnsTracker.claim): their addresses, and its start when they came first.
func (c *connectState) addLookups(qs []*dnsQuery) {
	c.queries = qs
	for _, q := range qs {
		q.conn = c
		c.addrs = append(c.addrs, q.addrs...)
		if q.first.Before(c.start) {
			c.start = q.first
		}
	}
}

// joinable says whether attempt a continues connect c (the client trying
// the next address).
func (e *Engine) joinable(c *connectState, a *attempt) bool {
	if len(c.attempts) == 0 || c.port != a.server.Port() {
		return false
	}
	if c.pid != 0 && a.pid != 0 && c.pid != a.pid {
		return false
	}
	if !slices.Contains(c.addrs, a.server.Addr()) {
		// Not an address the connect's lookup returned: another connect
		// of the same client (its address from another lookup).
		return false
	}
	prev := c.attempts[len(c.attempts)-1]
	for _, p := range c.attempts {
		if p.server == a.server {
			return false // the same address again is a new connect (a retry loop)
		}
	}
	if !prev.final && !prev.firstSrvData.IsZero() {
		// The server already spoke on the previous attempt: a client does
		// not move on to the next address after that; this is a connect
		// of its own running in parallel.
		return false
	}
	if prev.client.Addr() != a.client.Addr() && prev.client.Addr().Is4() == a.client.Addr().Is4() {
		return false
	}
	if !prev.final {
		// Still waiting for a SYN-ACK or a greeting: the client moved on.
		return true
	}
	if prev.outcome == OK {
		return false
	}
	return a.start.Sub(prev.endAt) <= e.opts.FallbackWindow
}

// movedOn handles the start of attempt next while the connect's previous
// attempt prev is undecided. A client that walks its address list closes
// the previous socket before the next connect(); one that connects to
// several addresses at once (Happy Eyeballs, connscope probe) keeps it:
// the next attempt alone decides nothing about an attempt still open.
//   - prev waits for a SYN-ACK: a closed socket is silent, so whether the
//     client gave it up shows only later. It is decided when due
//     (decideIdle): given up for next unless a SYN retransmit, an answer or
//     the kernel's close after next's start shows it still open.
//   - prev connected and the client closed it: given up for next.
//   - prev connected and still open (the greeting not yet there): it runs
//     on in parallel and is decided by what it sees.
func (e *Engine) movedOn(prev, next *attempt) {
	switch {
	case prev.final:
	case !prev.connected():
		prev.movedOn, prev.movedOnAt = next, next.start
	case prev.clientClose != notClosed:
		e.gaveUpFor(prev, next, next.start)
	}
}

// aliveAfter says whether attempt a showed any sign of its socket after t:
// a packet (a SYN retransmit, an answer, an ICMP error), the kernel's SYN
// retransmit or its close.
func (a *attempt) aliveAfter(t time.Time) bool {
	return a.lastActivity.After(t) || a.kLastSYN.After(t) || a.kClosed.After(t)
}

// connectComplete reports whether every attempt of c is decided and no
// further address is expected.
func (e *Engine) connectComplete(c *connectState, closing bool) bool {
	if c.undecided > 0 {
		return false
	}
	if closing {
		return true
	}
	if len(c.attempts) == 0 {
		return true
	}
	last := c.attempts[len(c.attempts)-1]
	since := e.now.Sub(last.endAt)
	if last.outcome != OK && c.untried() && since <= e.opts.FallbackWindow {
		return false
	}
	if e.kernelSeen && since < kernelLinger {
		return false
	}
	if last.keep && last.kClosed.IsZero() && last.kErrno == 0 && since <= nextRetransmitWait(last)+200*time.Millisecond {
		// Decided by an ICMP error the kernel may have kept as a soft
		// error: wait for a SYN retransmit before reporting.
		return false
	}
	return true
}

// tried says whether an attempt went to addr.
func (c *connectState) tried(addr netip.Addr) bool {
	for _, a := range c.attempts {
		if a.server.Addr() == addr {
			return true
		}
	}
	return false
}

// untriedAddrs lists the resolved addresses no attempt went to.
func (c *connectState) untriedAddrs() []string {
	var out []string
	for _, addr := range c.addrs {
		if !c.tried(addr) && !contains(out, addr.String()) {
			out = append(out, addr.String())
		}
	}
	return out
}

// untried says whether some resolved address has not been attempted yet.
func (c *connectState) untried() bool {
	for _, addr := range c.addrs {
		if !c.tried(addr) {
			return true
		}
	}
	return false
}

// report builds the Connect, counts it and queues it for OnConnect.
func (e *Engine) report(c *connectState) {
	c.reported = true
	for _, a := range c.attempts {
		if a.cookie != 0 && e.cookies[a.cookie] == a {
			delete(e.cookies, a.cookie)
		}
		e.untrack(a)
		e.rememberSYN(a)
		e.isnReported(a)
	}
	out := e.buildConnect(c)
	if e.pipe == nil || e.opts.Keep != nil {
		// Finished now, while its attempts are in the caches; a
		// pipeline's renderer finishes it otherwise (connectPipe.render),
		// unless Keep reads all of it first.
		finishConnect(out)
	}
	for _, a := range c.attempts {
		if a.listed || keepReported {
			// A list may read it a while yet (adoptPortless): it stays
			// as it is, garbage once the list lets it go.
			e.releaseEvents(a)
		} else {
			e.done = append(e.done, a)
		}
	}
	if !e.hostMatch(c, out) {
		return
	}
	if e.opts.Keep != nil && !e.opts.Keep(out) {
		return
	}
	e.sum.Connects++
	e.sum.Attempts += len(out.Attempts)
	for _, a := range out.Attempts {
		e.countOutcome(a.Outcome)
	}
	e.ready = append(e.ready, out)
}

// outcomeCount is how many reported attempts had outcome (Engine.outcomes).
type outcomeCount struct {
	outcome Outcome
	n       int
}

// countOutcome counts one reported attempt's outcome.
func (e *Engine) countOutcome(o Outcome) {
	for i := range e.outcomes {
		if e.outcomes[i].outcome == o {
			e.outcomes[i].n++
			return
		}
	}
	e.outcomes = append(e.outcomes, outcomeCount{outcome: o, n: 1})
}

func (e *Engine) hostMatch(c *connectState, out *Connect) bool {
	if e.hosts.empty() {
		return true
	}
	if e.hosts.matchName(c.name) {
		return true
	}
	for _, q := range c.queries {
		if e.hosts.matchName(q.name) {
			return true
		}
	}
	for _, a := range c.attempts {
		if e.hosts.matchAddr(a.server.Addr()) || e.hosts.matchAddr(a.client.Addr()) {
			return true
		}
		if a.unix != "" && e.hosts.matchName(a.unix) {
			return true
		}
	}
	return e.hosts.matchAddr(c.client)
}

// buildConnect renders a connect's final model.
func (e *Engine) buildConnect(c *connectState) *Connect {
	var (
		out         *Connect
		resolution  []Query
		outAttempts []*Attempt
	)
	if n := len(e.connSpare); n > 0 {
		// A handed-out connect's memory (Options.Recycle).
		out = e.connSpare[n-1]
		e.connSpare[n-1] = nil
		e.connSpare = e.connSpare[:n-1]
		resolution, outAttempts = out.Resolution[:0], out.Attempts[:0]
		clear(resolution[:cap(resolution)])
		clear(outAttempts[:cap(outAttempts)])
	} else {
		out = new(Connect)
	}
	if resolution == nil || cap(resolution) < len(c.queries) {
		resolution = make([]Query, 0, len(c.queries))
	}
	if outAttempts == nil || cap(outAttempts) < len(c.attempts) {
		outAttempts = make([]*Attempt, 0, len(c.attempts))
	}
	*out = Connect{
		built:      true,
		Name:       c.name,
		Port:       c.port,
		Start:      c.start,
		Resolution: resolution,
		Attempts:   outAttempts,
		Resolver:   c.resolver,
		PID:        c.pid,
		Comm:       c.comm,
	}
	if c.client.IsValid() {
		if len(c.attempts) > 0 && c.attempts[0].client.Addr() == c.client && c.attempts[0].cliStr == "" {
			// The address part of the first attempt's client text, which
			// is not made yet (buildAttemptUnfinished).
			out.clientOfFirst = true
		} else {
			out.Client = e.connectClient(c)
		}
	}
	end := c.start
	for _, q := range c.queries {
		out.Resolution = append(out.Resolution, q.render(&e.names))
		if qe := q.end(); qe.After(end) {
			end = qe
		}
		if out.PID == 0 && q.pid != 0 {
			out.PID, out.Comm = q.pid, q.comm
		}
	}
	for _, a := range c.attempts {
		at := e.buildAttemptUnfinished(a)
		out.Attempts = append(out.Attempts, at)
		if a.endAt.After(end) {
			end = a.endAt
		}
		if a.start.Before(out.Start) {
			out.Start = a.start
		}
		if out.PID == 0 && a.pid != 0 {
			out.PID, out.Comm = a.pid, a.comm
		}
		if a.unix != "" {
			out.Client, out.clientOfFirst = "unix", false
		}
	}
	out.endAt, out.hasEnd = end, true // DurationMS: finishConnect
	if len(c.attempts) == 0 {
		out.Outcome = Unresolved
		out.Reason = unresolvedReason(c)
		if out.Name == "" && len(c.queries) > 0 {
			out.Name = c.queries[0].name
		}
		return out
	}
	last := out.Attempts[len(out.Attempts)-1]
	// A client that connects to several addresses at once (Happy Eyeballs,
	// connscope probe) uses the one that works: an ok attempt decides the
	// connect. (A client walking its list stops at its ok attempt, the last.)
	for i := range c.attempts {
		if out.Attempts[i].Outcome == OK && last.Outcome != OK {
			last = out.Attempts[i]
		}
	}
	out.Outcome = last.Outcome
	out.Reason = last.Reason
	// The addresses tried, the time lost, the addresses left untried and
	// the lookups (slow, failed) are worded from the attempts, Untried and
	// Resolution (Explain).
	if last.Outcome != OK && len(c.queries) > 0 {
		out.Untried = c.untriedAddrs()
	}
	return out
}

// connectClient is the text of c's client address. When c's first
// attempt has that address, it is the address part of the attempt's
// client ip:port text (which buildAttempt names anyway): no lookup, no
// allocation; else the names cache's.
func (e *Engine) connectClient(c *connectState) string {
	if len(c.attempts) > 0 && c.attempts[0].client.Addr() == c.client {
		return addrPart(c.attempts[0].clientName())
	}
	return e.names.addr(c.client)
}

// addrPart is the address of a netip.AddrPort's text, as its
// netip.Addr's String: "1.2.3.4:80" → "1.2.3.4", "[v6%zone]:80" → "v6%zone".
func addrPart(s string) string {
	i := strings.LastIndexByte(s, ':')
	if i > 0 && s[0] == '[' {
		return s[1 : i-1]
	}
	if i < 0 {
		return s
	}
	return s[:i]
}

// buildAttempt renders an attempt's final model.
func (e *Engine) buildAttempt(a *attempt) *Attempt {
	at := e.buildAttemptUnfinished(a)
	finishAttempt(at)
	return at
}

// buildAttemptUnfinished is buildAttempt but for what finishAttempt makes
// from the Attempt alone: with the pipeline, the engine reports a connect
// with its Attempts unfinished, and the renderer, which has time to spare
// while the engine's goroutine bounds the wall time of a connect-heavy
// capture, finishes them before OnConnect.
func (e *Engine) buildAttemptUnfinished(a *attempt) *Attempt {
	at := a.out
	switch {
	case a.unix != "":
		at.Client, at.Server = "unix", a.unix
	case !a.client.IsValid():
		at.Client, at.Server = "", a.serverName()
	case a.cliStr != "":
		at.Client, at.Server = a.cliStr, a.serverName()
	default:
		at.Client, at.clientAddr, at.Server = "", a.client, a.serverName()
	}
	at.Outcome = a.outcome
	at.Reason = a.reason
	at.Facts = e.buildFacts(a)
	at.Start = a.start
	at.SYNCount = a.synCount
	if !a.wire && !a.kSynSent.IsZero() {
		at.SYNCount = 1 + a.kSynRetrans
	}
	at.Retransmits = a.retransmits
	if a.synAckRTT > 0 || !a.synAckAt.IsZero() {
		at.rtt, at.hasRTT = a.synAckRTT, true // RTTMS: finishAttempt
	} else if !a.wire && !a.kConnected.IsZero() && !a.kSynSent.IsZero() {
		at.rtt, at.hasRTT = a.kConnected.Sub(a.kSynSent), true
	}
	a.timing(at)
	if slow := at.Facts.Slow; len(slow) > 0 {
		at.Slow = &Slow{Part: slow[0].Part, MS: slow[0].MS}
	}
	at.DurationMS = at.Facts.ElapsedMS // ms(a.endAt.Sub(a.start)), made by buildFacts
	at.Events = nil
	switch {
	case len(a.events) == 0:
	case cap(a.outEvents) >= len(a.events):
		// The timeline is handed over, not copied: nothing reads a
		// reported attempt's timeline again. The attempt keeps, for its
		// memory's next attempt, the buffer of the Attempt it reuses
		// (Options.Recycle: OnConnect returned it; newAttempt cleared
		// it), large enough for a timeline like this one. (Asking it to
		// be as large as the attempt's own buffer copied nearly every
		// timeline once the buffers were of two sizes: the copies below
		// are exactly as long as their timeline.)
		at.Events = a.events
		a.events = a.outEvents[:0]
		a.outEvents = nil
	default:
		// A copy, into that buffer when it is large enough; the
		// attempt's buffer serves again (newAttempt, releaseEvents).
		buf := a.outEvents[:0]
		if cap(buf) < len(a.events) {
			buf = make([]Event, 0, len(a.events))
		}
		at.Events = append(buf, a.events...)
	}
	at.unfinished = true // the steps' offsets and order: finishAttempt
	if at.Events == nil {
		at.Events = []Event{}
	}
	if a.sess != nil {
		// App and its facts: finishAttempt.
		at.appOf, at.appInfo = a.sessOf, a.sess.Info(a.proto == protoTLS && a.outcome == OK)
	}
	// The words come from the reason and the facts (Explain), a protocol
	// session's from its finding and notes.
	at.msgs, a.msgs = a.msgs, nil // the timeline's messages are in it
	at.found, at.notes, at.cutAt = nil, a.notes, a.cutAt
	if a.decision != nil {
		// A copy: the decision is in the attempt's memory (sessConn),
		// which a new attempt reuses once the connect is handed out.
		at.foundBuf = *a.decision
		at.found = &at.foundBuf
	}
	at.Evidence, at.Causes = nil, nil
	at.PID = a.pid
	at.Comm = a.comm
	if a.hasFD {
		fd := a.fd
		at.FD = &fd
	}
	if a.kErrno != 0 {
		at.Errno = errnoName(a.kErrno)
	}
	at.ServerSide = a.srv != nil
	return at
}

// finishAttempt makes what buildAttemptUnfinished left: the client's
// text, the protocol's App and facts, RTTMS, the delays (timing) and the
// facts' ServerFirstMS, each step's offset, and the steps in time order.
func finishAttempt(at *Attempt) {
	if !at.unfinished {
		return
	}
	at.unfinished = false
	if at.clientAddr.IsValid() {
		at.Client, at.clientAddr = at.clientAddr.String(), netip.AddrPort{}
	}
	if at.appOf != nil {
		protoInfo(at, at.appOf, at.appInfo)
		at.appOf, at.appInfo = nil, nil
	}
	if at.hasRTT {
		v := ms(at.rtt)
		at.RTTMS, at.hasRTT = &v, false
	}
	if at.delays.has != 0 {
		at.delays.fill(at)
	}
	if f := at.Facts; f != nil && f.hasServerFirst {
		f.ServerFirstMS, f.hasServerFirst = msp(f.serverFirst), false
	}
	// Each step's offset, and whether the steps are in time order (nearly
	// always), in one pass: the timeline was walked once to check the
	// order, then again for the offsets (which sorting moves with their
	// steps).
	sorted := true
	since := sinceOf(at.Start)
	for i := range at.Events {
		ev := &at.Events[i]
		ev.TMS = ms(since.to(ev.Time))
		if i > 0 && ev.Time.Before(at.Events[i-1].Time) {
			sorted = false
		}
	}
	if !sorted {
		slices.SortStableFunc(at.Events, compareEventTime)
	}
}

// sinceStart is t.Sub(start) for many t (an attempt's steps), made
// without Sub's check for an overflowing difference (an Add and an Equal
// per step, two thirds of its cost) where that cannot happen: start has
// no monotonic clock reading (a capture's or the kernel's times; Sub then
// subtracts the wall clocks, as here) and t is within 68 years of it.
type sinceStart struct {
	start     time.Time
	sec, nsec int64
	wallOnly  bool
}

func sinceOf(start time.Time) sinceStart {
	return sinceStart{start: start, sec: start.Unix(), nsec: int64(start.Nanosecond()), wallOnly: start == start.Round(0)}
}

// to is t.Sub(s.start).
func (s *sinceStart) to(t time.Time) time.Duration {
	if sec := t.Unix() - s.sec; s.wallOnly && sec > -1<<31 && sec < 1<<31 {
		return time.Duration(sec*1e9 + int64(t.Nanosecond()) - s.nsec)
	}
	return t.Sub(s.start)
}

// finishConnect finishes a reported connect's Attempts (finishAttempt)
// and then its client's text, DurationMS and its lookups' LatencyMS,
// before anything reads them (Engine.report, connectPipe.render).
func finishConnect(c *Connect) {
	for _, at := range c.Attempts {
		if at != nil {
			finishAttempt(at)
		}
	}
	if c.clientOfFirst {
		c.Client, c.clientOfFirst = addrPart(c.Attempts[0].Client), false
	}
	if c.hasEnd {
		c.DurationMS, c.hasEnd = ms(c.endAt.Sub(c.Start)), false
	}
	for i := range c.Resolution {
		if q := &c.Resolution[i]; q.answered {
			q.LatencyMS, q.answered = msp(q.latency), false
		}
	}
}

func compareEventTime(x, y Event) int { return x.Time.Compare(y.Time) }

// ms converts a duration to float milliseconds rounded to microseconds.
func ms(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// ordinal is "first", "second", … for a 1-based position.
func ordinal(n int) string {
	if n >= 1 && n <= 5 {
		return []string{"first", "second", "third", "fourth", "fifth"}[n-1]
	}
	return fmt.Sprintf("%dth", n)
}
