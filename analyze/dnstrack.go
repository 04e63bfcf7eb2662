package analyze

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

const (
	// dnsQueryTimeout: a question with no answer this long after it was
	// last sent is unanswered (glibc's default is 5 s × 2 tries).
	dnsQueryTimeout = 10 * time.Second
	// dnsSettle: a failed lookup becomes an unresolved connect when nothing
	// related (another name of its search list, an attempt) followed for
	// this long.
	dnsSettle = 2 * time.Second
	// dnsMaxAge: answers older than this are not matched to attempts.
	dnsMaxAge = time.Minute
	// Bounds on DNS state.
	dnsMaxPerClient = 128
	dnsMaxPerAddr   = 8
	dnsMaxPending   = 1 << 14
)

// dnsQuery is one DNS question from a client and what became of it.
//
// The small fields sit together (idBuf, qtype and pid; the flags and
// rcode): spread between the larger ones, their padding made a query 384
// bytes, not 352 (one allocation per lookup; TestPerConnectSizes).
type dnsQuery struct {
	seq        uint64
	client     netip.AddrPort
	server     netip.AddrPort
	ids        []uint16  // the IDs it was sent with (retries may change it)
	idBuf      [1]uint16 // ids' first room: nearly every query has one ID
	qtype      uint16
	pid        uint32
	name       string
	first      time.Time
	last       time.Time
	retries    int
	answeredAt time.Time
	addrs      []netip.Addr
	answers    []string
	cnames     []string
	err        queryErr // what became of it, beside its answer (the last that applies)
	comm       string
	conn       *connectState
	rcode      uint8
	answered   bool
	truncated  bool
	cut        bool // the capture cut the answer: records past the cut are unknown
	gaveUp     bool
	overTCP    bool
	settled    bool // grouped: claimed, reported unresolved, or judged unused
	dropped    bool // removed from the indexes
	// ptrFor is the attempt whose server sent this PTR query about the
	// attempt's client (set and read by the engine only: reverseLookup).
	ptrFor *attempt
	// ptrSeq is ptrFor's seq: an attempt reported (and its memory reused
	// for a new one, Engine.spare) no longer is the one the query is for.
	ptrSeq uint64
}

type dnsKey struct {
	client netip.Addr
	qtype  uint16
	name   string
}

// dnsTracker follows DNS questions and answers, and remembers recent
// answers so attempts can be tied to the lookup that produced their address.
// It knows nothing of the engine, attempts or reporting: its methods take
// the time and return what they found (a new query, an answered one,
// failed lookups), and the engine acts on that.
type dnsTracker struct {
	pending  map[dnsKey]*dnsQuery
	byClient map[netip.Addr][]*dnsQuery
	byAddr   map[netip.Addr][]*dnsQuery
	// unsettled lists the queries not yet settled, in the order they were
	// first sent (settled and dropped ones are compacted out by sweep).
	unsettled []*dnsQuery
	// aging lists settled queries in the order they settled, for dropping
	// once older than dnsMaxAge.
	aging   []*dnsQuery
	scratch []*dnsQuery // group's result, reused
	seq     uint64
	// msg is dnsUDP's decoded datagram, reused: nothing keeps its
	// Questions or Answers slices (only copies of their values).
	msg dns.Message
	// names is the engine's text of addresses, for the answers' (a few
	// servers make most answers); nil formats each.
	names *endpointNames
}

func (d *dnsTracker) init() {
	d.pending = make(map[dnsKey]*dnsQuery)
	d.byClient = make(map[netip.Addr][]*dnsQuery)
	d.byAddr = make(map[netip.Addr][]*dnsQuery)
}

// dnsUDP handles a DNS datagram.
func (e *Engine) dnsUDP(p *event.Packet) {
	m := &e.dns.msg
	err := dns.ParseInto(p.Payload, m)
	cut := err != nil && len(p.Payload) < p.PayloadLen // the snap length, not the sender, ended it
	if err != nil && len(m.Questions) == 0 {
		if !cut {
			e.sum.MalformedDNS++
		} else if b := p.Payload; len(b) >= 4 && b[2]&0x80 != 0 { // a response: ID and rcode were captured
			e.dns.cutAnswer(netip.AddrPortFrom(p.Dst, p.DstPort), netip.AddrPortFrom(p.Src, p.SrcPort), binary.BigEndian.Uint16(b), b[3]&0xf, p.Time)
		}
		return
	}
	e.dnsMessage(m, netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort), p.Time, false, cut, p.Process)
}

// cutAnswer applies an answer the capture cut before its question: it is
// matched by client, server and ID. Its rcode is known; its records are not.
func (d *dnsTracker) cutAnswer(client, server netip.AddrPort, id uint16, rcode uint8, t time.Time) {
	for _, q := range d.byClient[client.Addr()] {
		if q.answered || q.dropped || q.client != client || q.server.Addr() != server.Addr() || !slices.Contains(q.ids, id) {
			continue
		}
		if d.pending[dnsKey{client: client.Addr(), qtype: q.qtype, name: q.name}] == q {
			delete(d.pending, dnsKey{client: client.Addr(), qtype: q.qtype, name: q.name})
		}
		q.answered, q.answeredAt, q.rcode, q.cut = true, t, rcode, true
		q.err = queryErr{kind: qerrCut} // before its records: their count is unknown
		return
	}
}

// dnsMessage applies a decoded DNS message from src to dst.
// cut says the capture cut the message: answers past the cut are unknown.
func (e *Engine) dnsMessage(m *dns.Message, src, dst netip.AddrPort, t time.Time, overTCP, cut bool, proc *event.Process) {
	if m.Opcode != 0 || len(m.Questions) == 0 {
		return
	}
	if !m.Response {
		if q := e.dns.query(src, dst, m.ID, m.Questions[0], t, overTCP, proc); q != nil {
			if q.pid == 0 {
				if pr, ok := e.kern.udpOwner(src); ok {
					q.pid, q.comm = pr.PID, pr.Comm
				}
			}
			if q.qtype == dns.TypePTR {
				e.reverseLookup(q, t)
			}
		}
		return
	}
	if q := e.dns.response(dst, src, m, t, cut); q != nil {
		if a := q.ptrFor; a != nil && a.seq == q.ptrSeq && !a.final {
			a.event(t, EvDNSAnswer, "", EventAttrs{Note: NotePTRForClient, ElapsedMS: proto.MSOf(t.Sub(q.first)), Detail: &proto.Detail{Name: q.name, QType: "PTR", Rcode: dns.RcodeString(q.rcode)}})
		}
	}
}

// query records a question from client to server. It returns the new
// query, or nil when the question repeats one still unanswered (a retry)
// or the tracker is full. The process is proc's when it names one.
func (d *dnsTracker) query(client, server netip.AddrPort, id uint16, question dns.Question, t time.Time, overTCP bool, proc *event.Process) *dnsQuery {
	key := dnsKey{client: client.Addr(), qtype: question.Type, name: question.Name}
	if q := d.pending[key]; q != nil {
		// The same question again before an answer: a retry (same or new
		// ID, same or another server, or over TCP after a truncated answer).
		if !q.truncated || !overTCP {
			q.retries++
		}
		q.last = t
		if overTCP {
			q.overTCP = true
		}
		if len(q.ids) < 8 {
			q.ids = append(q.ids, id)
		}
		return nil
	}
	if len(d.pending) >= dnsMaxPending {
		return nil
	}
	d.seq++
	q := &dnsQuery{
		seq:     d.seq,
		client:  client,
		server:  server,
		qtype:   question.Type,
		name:    question.Name,
		first:   t,
		last:    t,
		overTCP: overTCP,
	}
	q.idBuf[0] = id
	q.ids = q.idBuf[:]
	if proc != nil && proc.PID != 0 {
		q.pid, q.comm = proc.PID, proc.Comm
	}
	d.pending[key] = q
	list := d.byClient[client.Addr()]
	if len(list) >= dnsMaxPerClient {
		d.drop(list[0])
		list = d.byClient[client.Addr()]
	}
	d.byClient[client.Addr()] = append(list, q)
	d.unsettled = append(d.unsettled, q)
	return q
}

// reverseLookup notes a server looking up the PTR of a client it is about
// to greet: the classic cause of a late greeting (skip_name_resolve off).
func (e *Engine) reverseLookup(q *dnsQuery, t time.Time) {
	addr, ok := dns.ReverseAddr(q.name)
	if !ok {
		return
	}
	for _, a := range e.tracked {
		if a.dnsFlow != nil || a.final || !a.connected() || !a.firstSrvData.IsZero() {
			continue
		}
		if a.client.Addr() == addr && a.server.Addr() == q.client.Addr() {
			a.event(t, EvDNSQuery, "", EventAttrs{Note: NotePTRForClient, Addr: q.server.String(), Detail: &proto.Detail{Name: q.name, QType: "PTR"}})
			a.notes = append(a.notes, note{n: proto.Note{Kind: NotePTRForClient, After: t.Sub(a.handshakeDone()), Name: q.name}})
			q.ptrFor, q.ptrSeq = a, a.seq
			return
		}
	}
}

// response applies an answer from server to client. It returns the query
// it answered, or nil when it answered none (unsolicited, a duplicate, a
// wrong ID) or only said to retry over TCP (truncated).
func (d *dnsTracker) response(client, server netip.AddrPort, m *dns.Message, t time.Time, cut bool) *dnsQuery {
	question := m.Questions[0]
	key := dnsKey{client: client.Addr(), qtype: question.Type, name: question.Name}
	q := d.pending[key]
	if q == nil {
		return nil // unsolicited, or a duplicate answer
	}
	idOK := false
	for _, id := range q.ids {
		if id == m.ID {
			idOK = true
		}
	}
	if !idOK {
		return nil
	}
	if m.Truncated && len(m.Answers) == 0 {
		q.truncated = true
		q.err = queryErr{kind: qerrTruncated}
		return nil
	}
	delete(d.pending, key)
	q.answered = true
	q.answeredAt = t
	q.rcode = m.Rcode
	if cut && len(m.Answers) < m.AnswerCount {
		q.cut = true
		q.err = queryErr{kind: qerrCut, kept: len(m.Answers), of: m.AnswerCount}
	}
	if q.server.Addr() != server.Addr() {
		q.server = server // answered by another server of the list
	}
	for _, r := range m.Answers {
		switch r.Type {
		case dns.TypeA, dns.TypeAAAA:
			if len(q.addrs) < 32 {
				q.addrs = append(q.addrs, r.Addr)
				q.answers = append(q.answers, d.names.addr(r.Addr))
			}
		case dns.TypeCNAME:
			if len(q.cnames) < 8 {
				q.cnames = append(q.cnames, r.Target)
				q.answers = append(q.answers, "CNAME "+r.Target)
			}
		case dns.TypePTR:
			if len(q.answers) < 8 {
				q.answers = append(q.answers, r.Target)
			}
		}
	}
	for _, addr := range q.addrs {
		list := d.byAddr[addr]
		if len(list) >= dnsMaxPerAddr {
			list = append(list[:0], list[1:]...)
		}
		d.byAddr[addr] = append(list, q)
	}
	return q
}

// icmpError records an ICMP error about a DNS query (server port closed or
// unreachable).
func (d *dnsTracker) icmpError(p *event.Packet) {
	ic := p.ICMP
	client := ic.QuotedSrc
	for _, q := range d.byClient[client] {
		if !q.answered && q.client.Port() == ic.QuotedSrcPort && q.server.Addr() == ic.QuotedDst {
			q.err = queryErr{kind: qerrICMP, icmp: &ICMPFact{From: p.Src.String(), V6: ic.V6, Type: ic.Type, Code: ic.Code}}
		}
	}
}

// lookupFor finds the most recent answer that gave the attempt its server
// address, from the attempt's client (or, for a dual-stack client, from its
// other-family address, or from a local stub resolver on loopback).
func (d *dnsTracker) lookupFor(a *attempt) *dnsQuery {
	list := d.byAddr[a.server.Addr()]
	var fallback *dnsQuery
	ac := a.client.Addr()
	for i := len(list) - 1; i >= 0; i-- {
		q := list[i]
		// The client first: a query of another client that cannot be the
		// fallback is passed over without reading the rest of it (with many
		// clients of one server, most of the list).
		qc := q.client.Addr()
		same := qc == ac
		if !same && (fallback != nil || qc.Is4() == ac.Is4() && (!qc.IsLoopback() || ac.IsLoopback())) {
			continue
		}
		if q.answeredAt.After(a.start) || a.start.Sub(q.answeredAt) > dnsMaxAge {
			continue
		}
		if q.pid != 0 && a.pid != 0 && q.pid != a.pid {
			continue
		}
		if same {
			return q
		}
		fallback = q
	}
	return fallback
}

// claim returns, for a connect started at start, the query that produced
// its address and every related, unclaimed query of the same client, in
// the order they were sent, and settles them (the engine ties them to the
// connect: connectState.addLookups):
// the same name (the other address family), the names its answer's CNAMEs
// point to, and the names of the search list that failed before it. A
// successful lookup of another name is another connect's, even when it
// shares the first label (db.lab.test and db.backup.test).
func (d *dnsTracker) claim(q *dnsQuery, start time.Time) []*dnsQuery {
	return d.claimInto(q, start, nil)
}

// claimInto is claim appending to out (the lookups' array of a reported
// connect whose memory serves the new one: newConnect).
func (d *dnsTracker) claimInto(q *dnsQuery, start time.Time, out []*dnsQuery) []*dnsQuery {
	label := firstLabel(q.name)
	for _, o := range d.byClient[q.client.Addr()] {
		if o.conn != nil || o.settled && o != q {
			continue
		}
		if o != q && !contains(q.cnames, o.name) {
			if firstLabel(o.name) != label || o.first.After(start.Add(time.Second)) || q.first.Sub(o.first) > 30*time.Second {
				continue
			}
			if !strings.EqualFold(o.name, q.name) && (!o.failed() || !o.first.Before(q.first)) {
				continue // not a search-list name that failed on the way to q
			}
		}
		if o.qtype != dns.TypeA && o.qtype != dns.TypeAAAA && o != q {
			continue
		}
		d.settle(o)
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(x, y *dnsQuery) int { return x.first.Compare(y.first) })
	return out
}

// drop removes a query from every index.
func (d *dnsTracker) drop(q *dnsQuery) {
	q.dropped = true
	key := dnsKey{client: q.client.Addr(), qtype: q.qtype, name: q.name}
	if d.pending[key] == q {
		delete(d.pending, key)
	}
	list := d.byClient[q.client.Addr()]
	for i, o := range list {
		if o == q {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(d.byClient, q.client.Addr())
	} else {
		d.byClient[q.client.Addr()] = list
	}
	for _, addr := range q.addrs {
		l := d.byAddr[addr]
		for i, o := range l {
			if o == q {
				l = append(l[:i], l[i+1:]...)
				break
			}
		}
		if len(l) == 0 {
			delete(d.byAddr, addr)
		} else {
			d.byAddr[addr] = l
		}
	}
}

// failedLookup is what the DNS tracker found in a sweep: a client's
// lookup of a name (its search list's names, both address families)
// failed, and no attempt followed it. The engine reports it as an
// unresolved connect (unresolvedConnect).
type failedLookup struct {
	name  string
	start time.Time
	// queries are its address queries (A, AAAA, ANY), in the order they
	// were sent.
	queries []*dnsQuery
}

// sweep gives up on unanswered questions, returns the failed lookups that
// no attempt followed (in the order they were sent), and ages out old
// answers. It runs every 100 ms of event time, so it only walks what can
// change: the unanswered questions, the unsettled ones, and the oldest
// settled ones.
func (d *dnsTracker) sweep(now time.Time, closing bool) []failedLookup {
	for key, q := range d.pending {
		if closing || now.Sub(q.last) > dnsQueryTimeout {
			q.gaveUp = true
			if q.err.kind == qerrNone {
				q.err = queryErr{kind: qerrNoAnswer}
			}
			delete(d.pending, key)
		}
	}
	var failed []failedLookup
	kept := d.unsettled[:0]
	for _, q := range d.unsettled {
		if q.settled || q.dropped {
			continue
		}
		if !closing && (!q.answered && !q.gaveUp || now.Sub(q.end()) < dnsSettle) {
			// q is in its own group (its client's list holds it, and it is
			// unsettled), so the group below would not be ready, or would
			// have ended too recently: the answer without walking it.
			kept = append(kept, q)
			continue
		}
		group := d.group(d.byClient[q.client.Addr()], q)
		ready := true
		var lastEnd time.Time
		success, addressQuery := false, false
		for _, g := range group {
			if !g.answered && !g.gaveUp {
				ready = false
				break
			}
			if g.end().After(lastEnd) {
				lastEnd = g.end()
			}
			if len(g.addrs) > 0 || g.cut && g.rcode == dns.RcodeSuccess {
				success = true // (a cut answer's records are unknown, not missing)
			}
			if g.qtype == dns.TypeA || g.qtype == dns.TypeAAAA || g.qtype == dns.TypeANY {
				addressQuery = true
			}
		}
		if !ready || !closing && now.Sub(lastEnd) < dnsSettle {
			kept = append(kept, q)
			continue
		}
		for _, g := range group {
			d.settle(g)
		}
		if success || !addressQuery {
			continue // an answer nobody used here, or not an address lookup
		}
		f := failedLookup{name: group[0].name, start: group[0].first}
		for _, g := range group {
			if g.qtype == dns.TypeA || g.qtype == dns.TypeAAAA || g.qtype == dns.TypeANY {
				f.queries = append(f.queries, g)
			}
		}
		failed = append(failed, f)
	}
	for i := len(kept); i < len(d.unsettled); i++ {
		d.unsettled[i] = nil
	}
	d.unsettled = kept
	// Age out answers, oldest first. The queue is in settling order, which
	// is nearly the order of the queries' ends: an entry waits at most as
	// long as the one in front of it.
	for len(d.aging) > 0 {
		q := d.aging[0]
		if !q.dropped {
			if !closing && now.Sub(q.end()) <= dnsMaxAge {
				break
			}
			d.drop(q)
		}
		d.aging[0] = nil
		d.aging = d.aging[1:]
	}
	if len(failed) > 1 {
		slices.SortFunc(failed, func(x, y failedLookup) int { return cmp.Compare(x.queries[0].seq, y.queries[0].seq) })
	}
	return failed
}

// unresolvedConnect is the connect of a failed lookup no attempt followed.
func (e *Engine) unresolvedConnect(f failedLookup) *connectState {
	c := e.newConnect()
	c.client, c.name, c.start, c.queries = f.queries[0].client.Addr(), f.name, f.start, f.queries
	for _, q := range f.queries {
		q.conn = c
		if c.pid == 0 && q.pid != 0 {
			c.pid, c.comm = q.pid, q.comm
		}
	}
	if c.pid != 0 {
		c.resolver = e.kern.resolverFor(c.pid, c.start)
	}
	return c
}

// group returns the unsettled queries in list related to q (same first
// label: the names of one search list, both address families).
// The result is valid until the next call.
func (d *dnsTracker) group(list []*dnsQuery, q *dnsQuery) []*dnsQuery {
	label := firstLabel(q.name)
	out := d.scratch[:0]
	for _, o := range list {
		if !o.settled && firstLabel(o.name) == label {
			out = append(out, o)
		}
	}
	d.scratch = out
	return out
}

// settle marks a query as grouped and queues it for aging out.
func (d *dnsTracker) settle(q *dnsQuery) {
	if !q.settled {
		q.settled = true
		d.aging = append(d.aging, q)
	}
}

// end is when the query was last active.
func (q *dnsQuery) end() time.Time {
	if q.answered {
		return q.answeredAt
	}
	return q.last
}

// failed reports whether the question got no usable answer.
func (q *dnsQuery) failed() bool {
	if !q.answered || q.rcode != dns.RcodeSuccess {
		return true
	}
	// A cut answer with records past the cut is not known to be empty.
	return (q.qtype == dns.TypeA || q.qtype == dns.TypeAAAA) && len(q.addrs) == 0 && !q.cut
}

// queryErr is what became of a query beside its answer: no answer,
// a truncated answer (retried over TCP), an answer the capture cut (kept
// of its of records decoded; of 0: cut before its records), or an ICMP
// error about it. Explain words it as Query.Error.
type queryErr struct {
	kind     qerrKind
	kept, of int
	icmp     *ICMPFact
}

type qerrKind uint8

const (
	qerrNone qerrKind = iota
	qerrNoAnswer
	qerrTruncated
	qerrCut
	qerrICMP
)

// render builds the model's Query; names gives the server's text (the
// same few servers answer most queries: formatted once, not per query).
func (q *dnsQuery) render(names *endpointNames) Query {
	out := Query{
		Name:   q.name,
		Type:   dns.TypeString(q.qtype),
		Server: names.port(q.server),
		// Shared, not copied: made once and never changed (nor can a
		// reader append into the query's).
		Answers:   q.answers[:len(q.answers):len(q.answers)],
		Retries:   q.retries,
		Start:     q.first,
		err:       q.err,
		Transport: "udp",
		retrySpan: q.last.Sub(q.first),
		failed:    q.failed(),
		cut:       q.cut,
	}
	if out.Answers == nil {
		out.Answers = []string{} // none (JSON [], not null)
	}
	if q.overTCP {
		out.Transport = "tcp"
	}
	if q.answered {
		out.Rcode = dns.RcodeString(q.rcode)
		out.latency, out.answered = q.answeredAt.Sub(q.first), true // LatencyMS: finishConnect
		if q.err.kind == qerrNoAnswer {
			out.err = queryErr{}
		}
	}
	return out
}

func firstLabel(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return name
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// dnsTCPFlow is a DNS-over-TCP connection: both directions reassembled
// and split on the 2-byte length prefix.
type dnsTCPFlow struct {
	c2s, s2c stream
}

func (e *Engine) newDNSTCP(p *event.Packet, client, server netip.AddrPort) {
	a := e.newAttempt(client, server, p.Time)
	a.dnsFlow = &dnsTCPFlow{}
	a.dnsFlow.c2s.init(p.Seq)
	if !e.track(a) {
		return
	}
}

// dnsTCP handles a segment of a DNS-over-TCP flow.
func (e *Engine) dnsTCP(a *attempt, p *event.Packet, fromClient bool) {
	f := a.dnsFlow
	a.lastActivity = p.Time
	e.touch(a)
	if p.TCPFlags&(event.TCPFin|event.TCPRst) != 0 {
		e.untrack(a)
		return
	}
	s := &f.c2s
	src, dst := a.client, a.server
	if !fromClient {
		s = &f.s2c
		src, dst = a.server, a.client
		if p.TCPFlags&event.TCPSyn != 0 {
			s.init(p.Seq)
			return
		}
	}
	if p.PayloadLen == 0 || !s.started {
		return
	}
	s.add(p.Seq, p.Payload, p.PayloadLen)
	for len(s.buf) >= 2 && !s.dead {
		n := int(s.buf[0])<<8 | int(s.buf[1])
		if len(s.buf) < 2+n {
			if s.partial() && len(s.buf) > 2+dns.HeaderLen {
				if m, err := dns.Parse(s.buf[2:]); err == nil || len(m.Questions) > 0 {
					e.dnsMessage(&m, src, dst, p.Time, true, true, p.Process)
				}
				s.consume(2 + n)
			}
			return
		}
		m, err := dns.Parse(s.buf[2 : 2+n])
		if err != nil && len(m.Questions) == 0 {
			e.sum.MalformedDNS++
		} else {
			e.dnsMessage(&m, src, dst, p.Time, true, false, p.Process)
		}
		s.consume(2 + n)
	}
}
