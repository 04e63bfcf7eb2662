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
	pid      uint32
	comm     string
	resolver *Resolver
	reported bool
	start    time.Time
}

// assignConnect places a new attempt in a connect.
func (e *Engine) assignConnect(a *attempt) {
	var q *dnsQuery
	if a.unix == "" && a.server.Addr().IsValid() {
		q = e.dns.lookupFor(a)
	}
	if q != nil && q.conn != nil && !q.conn.reported {
		if c := q.conn; e.joinable(c, a) {
			e.movedOn(c.attempts[len(c.attempts)-1], a)
			c.attempts = append(c.attempts, a)
			a.conn = c
			if c.pid == 0 && a.pid != 0 {
				c.pid, c.comm = a.pid, a.comm
			}
			return
		}
	}
	e.seq++
	c := &connectState{
		seq:    e.seq,
		client: a.client.Addr(),
		port:   a.server.Port(),
		pid:    a.pid,
		comm:   a.comm,
		start:  a.start,
	}
	if q != nil {
		c.name = q.name
		if q.conn == nil {
			c.queries = e.dns.claim(q, c)
			for _, cq := range c.queries {
				c.addrs = append(c.addrs, cq.addrs...)
				if cq.first.Before(c.start) {
					c.start = cq.first
				}
			}
		} else {
			// The answers were already used by an earlier connect (a cached
			// lookup): name the connect, show the lookup once.
			c.addrs = append(c.addrs, q.addrs...)
		}
	}
	c.attempts = []*attempt{a}
	a.conn = c
	if c.pid != 0 {
		c.resolver = e.kern.resolverFor(c.pid, a.start)
	}
	e.open = append(e.open, c)
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
	for _, a := range c.attempts {
		if !a.final {
			return false
		}
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
	}
	out := e.buildConnect(c)
	if !e.hostMatch(c, out) || (e.opts.Keep != nil && !e.opts.Keep(out)) {
		return
	}
	e.sum.Connects++
	e.sum.Attempts += len(out.Attempts)
	for _, a := range out.Attempts {
		e.sum.Outcomes[a.Outcome]++
	}
	e.ready = append(e.ready, out)
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
	out := &Connect{
		Name:       c.name,
		Port:       c.port,
		Start:      c.start,
		Resolution: make([]Query, 0, len(c.queries)),
		Attempts:   make([]*Attempt, 0, len(c.attempts)),
		Resolver:   c.resolver,
		PID:        c.pid,
		Comm:       c.comm,
	}
	if c.client.IsValid() {
		out.Client = c.client.String()
	}
	end := c.start
	for _, q := range c.queries {
		out.Resolution = append(out.Resolution, q.render())
		if qe := q.end(); qe.After(end) {
			end = qe
		}
		if out.PID == 0 && q.pid != 0 {
			out.PID, out.Comm = q.pid, q.comm
		}
	}
	for _, a := range c.attempts {
		at := e.buildAttempt(a)
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
			out.Client = "unix"
		}
	}
	out.DurationMS = ms(end.Sub(out.Start))
	if len(c.attempts) == 0 {
		out.Outcome = Unresolved
		out.Reason = unresolvedReason(c)
		out.Evidence, out.Causes = unresolvedExplanation(c)
		if out.Name == "" && len(c.queries) > 0 {
			out.Name = c.queries[0].name
		}
		return out
	}
	last := out.Attempts[len(out.Attempts)-1]
	// A client that connects to several addresses at once (Happy Eyeballs,
	// connscope probe) uses the one that works: an ok attempt decides the
	// connect. (A client walking its list stops at its ok attempt, the last.)
	parallel := false
	for i, a := range c.attempts {
		if i > 0 && a.start.Before(c.attempts[i-1].endAt) {
			parallel = true
		}
		if out.Attempts[i].Outcome == OK && last.Outcome != OK {
			last = out.Attempts[i]
		}
	}
	out.Outcome = last.Outcome
	out.Reason = last.Reason
	out.Evidence = append(out.Evidence, last.Evidence...)
	out.Causes = append(out.Causes, last.Causes...)
	if len(c.attempts) > 1 {
		var steps []string
		var waited time.Duration
		var timedOut int
		for _, a := range c.attempts {
			steps = append(steps, fmt.Sprintf("%s %s after %s", a.serverName(), a.outcome, fmtDur(a.endAt.Sub(a.start))))
			if a != c.attempts[len(c.attempts)-1] && (a.outcome == Timeout || a.outcome == NoGreeting) {
				waited += a.endAt.Sub(a.start)
				timedOut++
			}
		}
		how := "tried in order"
		if parallel {
			how = "tried at once (the attempts overlapped)"
		}
		out.Evidence = append([]string{fmt.Sprintf("%d addresses %s: %s", len(c.attempts), how, strings.Join(steps, "; "))}, out.Evidence...)
		if timedOut > 0 && !parallel {
			out.Causes = append(out.Causes, fmt.Sprintf("The client lost %s on %s that never answered before trying the next one: every address costs a full connect timeout (timeout × number of addresses). Fix or remove the dead address (e.g. a stale AAAA record, or a broken IPv6 path).",
				fmtDur(waited), plural(timedOut, "address", "addresses")))
		}
	}
	if last.Outcome != OK && len(c.queries) > 0 {
		if untried := c.untriedAddrs(); len(untried) > 0 {
			out.Evidence = append(out.Evidence, fmt.Sprintf("%s also resolved to %s, never tried", c.name, strings.Join(untried, ", ")))
			out.Causes = append(out.Causes, e.untriedCauses(c, untried)...)
		}
	}
	if len(c.queries) > 0 {
		var slowest *dnsQuery
		retries := 0
		for _, q := range c.queries {
			retries += q.retries
			if q.answered && (slowest == nil || q.answeredAt.Sub(q.first) > slowest.answeredAt.Sub(slowest.first)) {
				slowest = q
			}
		}
		if slowest != nil && (slowest.answeredAt.Sub(slowest.first) >= 500*time.Millisecond || retries > 0) {
			out.Evidence = append(out.Evidence, fmt.Sprintf("name resolution was slow: %s (%s in all)", slowest.describe(), plural(retries, "retry", "retries")))
			out.Causes = append(out.Causes, "Slow DNS adds to every connect: the resolver in /etc/resolv.conf answered late or had to be asked again (timeout/attempts options); check the DNS server and the path to it.")
		}
	}
	if len(c.queries) > 0 {
		var failed []string
		for _, q := range c.queries {
			if q.failed() {
				failed = append(failed, q.describe())
			}
		}
		if len(failed) > 0 && last.Outcome != OK {
			out.Evidence = append(out.Evidence, "lookups that failed along the way: "+strings.Join(failed, "; "))
		}
	}
	return out
}

// buildAttempt renders an attempt's final model.
func (e *Engine) buildAttempt(a *attempt) *Attempt {
	at := a.out
	at.Client = a.clientName()
	if a.unix != "" {
		at.Client = "unix"
		at.Server = a.unix
	} else {
		at.Server = a.serverName()
	}
	if !a.client.IsValid() {
		at.Client = ""
		if a.unix != "" {
			at.Client = "unix"
		}
	}
	at.Outcome = a.outcome
	at.Reason = a.reason
	at.Facts = a.buildFacts()
	at.Start = a.start
	at.SYNCount = a.synCount
	if !a.wire && !a.kSynSent.IsZero() {
		at.SYNCount = 1 + a.kSynRetrans
	}
	at.Retransmits = a.retransmits
	if a.synAckRTT > 0 || !a.synAckAt.IsZero() {
		v := ms(a.synAckRTT)
		at.RTTMS = &v
	} else if !a.wire && !a.kConnected.IsZero() && !a.kSynSent.IsZero() {
		v := ms(a.kConnected.Sub(a.kSynSent))
		at.RTTMS = &v
	}
	a.timing(at)
	slow, slowWords := a.slowParts()
	if len(slow) > 0 {
		at.Slow = &slow[0]
	}
	at.DurationMS = ms(a.endAt.Sub(a.start))
	if !slices.IsSortedFunc(at.Events, compareEventTime) {
		slices.SortStableFunc(at.Events, compareEventTime)
	}
	for i := range at.Events {
		at.Events[i].TMS = ms(at.Events[i].Time.Sub(a.start))
	}
	if at.Events == nil {
		at.Events = []Event{}
	}
	if a.sess != nil {
		protoInfo(at, a.sess.Info(a.proto == protoTLS && a.outcome == OK))
	}
	at.Evidence = append(append(append([]string{}, a.evidence...), a.notes...), slowWords...)
	at.Causes = causesFor(e, a)
	if at.Causes == nil {
		at.Causes = []string{}
	}
	at.PID = a.pid
	at.Comm = a.comm
	if a.hasFD {
		fd := a.fd
		at.FD = &fd
	}
	if a.kErrno != 0 {
		at.Errno = errnoName(a.kErrno)
	}
	return at
}

func compareEventTime(x, y Event) int { return x.Time.Compare(y.Time) }

// ms converts a duration to float milliseconds rounded to microseconds.
func ms(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// untriedCauses explains a failed connect that left resolved addresses
// untried: what the wire shows (which attempt failed how, how many
// addresses were left), and a client's behaviour only where it is
// verified: after a refusal every client verified so far tries the next
// address; after a timeout it depends on the client (the protocol's
// AfterTimeout, for a known client process).
func (e *Engine) untriedCauses(c *connectState, untried []string) []string {
	last := c.attempts[len(c.attempts)-1]
	how := "failed (" + string(last.outcome) + ")"
	switch last.outcome {
	case Refused:
		how = "was refused"
	case Timeout:
		how = "timed out"
	case NoGreeting:
		how = "connected but never answered"
	case Unreachable, NoRoute:
		how = "was unreachable"
	}
	more := plural(len(untried), "more address", "more addresses")
	out := []string{fmt.Sprintf("The client stopped after the %s address (%s) %s; it had %s (%s) it never tried.",
		ordinal(len(c.attempts)), last.server.Addr(), how, more, strings.Join(untried, ", "))}
	switch last.outcome {
	case Refused:
		out = append(out, "After a refusal the clients verified so far all try the next address: this client stopped on its own (it tries one address only, or was given one). Fix or remove the refused address's record, or the listener there.")
	case Timeout:
		said := false
		if p := e.intended(last); p != nil && p.AfterTimeout != nil && last.comm != "" {
			if v := p.AfterTimeout(last.comm); v != "" {
				out = append(out, v)
				said = true
			}
		}
		if !said {
			out = append(out, "Clients differ after a timeout: some try the next address, some stop. Fix or remove the address that does not answer (e.g. a stale AAAA record, or a broken IPv6 path).")
		}
	default:
		out = append(out, "Fix or remove the failing address's record, or what makes it fail.")
	}
	return out
}

// ordinal is "first", "second", … for a 1-based position.
func ordinal(n int) string {
	if n >= 1 && n <= 5 {
		return []string{"first", "second", "third", "fourth", "fifth"}[n-1]
	}
	return fmt.Sprintf("%dth", n)
}
