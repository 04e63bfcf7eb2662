package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// Findings, then words. The engine decides an attempt with a Reason and
// the Facts behind it; the sentences a person reads (Evidence, Causes) are
// made from those only when a report is rendered (Explain), by the table
// below: one entry per reason, its evidence template and its causes, each
// reading only the finding (reason, facts) and the attempt's public
// fields — never the engine's state.
//
// A protocol plug-in's verdicts and notes are findings too (found, note):
// its registered Evidence, NoteWords and Causes word them here.

// wording is a reason's words: its evidence and its causes.
type wording struct {
	evidence func(w wordCtx) []string
	causes   func(w wordCtx) []string
	// wrongBanner: a protocol's WrongBanner reason (wrongBanner), whose
	// causes are ReasonClientSilentToBanner's.
	wrongBanner bool
}

// wordCtx is what the words of one attempt are made from.
type wordCtx struct {
	at *Attempt
	f  *Facts
}

// newWordCtx is the context of at's words, f its facts (not nil). The
// server's address and port are read from at.Server by the words that
// name them (addr, port), not here: most attempts' words name neither.
func newWordCtx(at *Attempt, f *Facts) wordCtx {
	return wordCtx{at: at, f: f}
}

// serverEndpoint is at.Server parsed (ok: it is ip:port) and, when at.Server
// has it as Addr.String writes it, its address's text (else "").
func (w wordCtx) serverEndpoint() (ap netip.AddrPort, host string, ok bool) {
	if ap, host, ok := parseIPv4Port(w.at.Server); ok {
		return ap, host, true
	}
	ap, err := netip.ParseAddrPort(w.at.Server)
	return ap, "", err == nil
}

// parseIPv4Port reads s when it is an IPv4 address and port as
// AddrPort.String writes them ("10.2.0.5:3306": no leading zeros, each
// number in range): the address, its text (s up to the colon) and true;
// anything else gives false, for netip.ParseAddrPort to read. The engine
// writes every client and server so, and words read two per attempt:
// this costs a fifth of ParseAddrPort and of checking its text after
// (addrOf).
func parseIPv4Port(s string) (netip.AddrPort, string, bool) {
	var ip [4]byte
	i := 0
	for k := range ip {
		n, j := 0, i
		for j < len(s) && j-i < 4 && s[j] >= '0' && s[j] <= '9' {
			n = n*10 + int(s[j]-'0')
			j++
		}
		digits := j - i
		if digits == 0 || digits > 3 || n > 255 || (digits > 1 && s[i] == '0') || j == len(s) {
			return netip.AddrPort{}, "", false
		}
		if k == 3 && s[j] != ':' || k < 3 && s[j] != '.' {
			return netip.AddrPort{}, "", false
		}
		ip[k] = byte(n)
		i = j + 1
	}
	host := s[:i-1]
	port, digits := 0, len(s)-i
	if digits == 0 || digits > 5 || (digits > 1 && s[i] == '0') {
		return netip.AddrPort{}, "", false
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return netip.AddrPort{}, "", false
		}
		port = port*10 + int(c-'0')
	}
	if port > 65535 {
		return netip.AddrPort{}, "", false
	}
	return netip.AddrPortFrom(netip.AddrFrom4(ip), uint16(port)), host, true
}

// found is a protocol session's finding (proto.Conn.Decide): the reason
// id it decided with (unknown: no protocol declared it, so the attempt
// is left incomplete), what it gave with it, and its protocol, whose
// Evidence words it.
type found struct {
	p       *proto.Protocol
	reason  string
	f       proto.Finding
	unknown bool
}

// note is a fact kept whatever the verdict: a protocol session's
// (proto.Conn.Note; p words it) or the engine's (p nil: engineNoteWords).
type note struct {
	p *proto.Protocol
	n proto.Note
}

// words is the note in words ("" for none).
func (n note) words() string {
	if n.p == nil {
		return engineNoteWords(n.n)
	}
	if n.p.NoteWords == nil {
		return ""
	}
	return n.p.NoteWords(n.n)
}

// engineNoteWords words the engine's own notes.
func engineNoteWords(n proto.Note) string {
	switch n.Kind {
	case NotePTRForClient:
		return fmt.Sprintf("the server looked up PTR %s (reverse DNS of the client) %s after the handshake", n.Name, proto.Dur(n.After))
	}
	return ""
}

// Explain fills in the Evidence and Causes of c and of its attempts from
// their reasons and facts, where they are not worded yet (nil Evidence):
// the engine leaves them so, and the report calls Explain before it
// redacts and renders (words → redact → render). It changes c in place.
func Explain(c *Connect) {
	if c == nil {
		return
	}
	var room [4]AttemptWords
	words := explain(c, room[:0])
	for i, at := range c.Attempts {
		if at != nil && at.Evidence == nil {
			at.Evidence, at.Causes = words[i].Evidence, words[i].Causes
		}
	}
}

// AttemptWords are an attempt's evidence and causes (ExplainWords).
type AttemptWords struct {
	Evidence, Causes []string
}

// ExplainWords is Explain that leaves c's attempts as they are: it fills
// in c's own words (its Evidence and Causes, its lookups' errors) and
// appends each attempt's to words, in c.Attempts' order (an attempt's own
// where it has them; none for a nil one), returning words. A renderer
// that keeps nothing of c reads them from there, sparing a copy of every
// attempt to word (words reused from one connect to the next).
func ExplainWords(c *Connect, words []AttemptWords) []AttemptWords {
	if c == nil {
		return words
	}
	return explain(c, words)
}

// explain is ExplainWords (words appended to words[:0]).
func explain(c *Connect, words []AttemptWords) []AttemptWords {
	if c.built {
		explainLookups(c)
	}
	words = words[:0]
	worded := false // the last attempt was worded here
	for i, at := range c.Attempts {
		var aw AttemptWords
		if at != nil {
			aw = AttemptWords{at.Evidence, at.Causes}
			if at.Evidence == nil {
				aw = attemptWords(at)
				worded = i == len(c.Attempts)-1
			}
		}
		words = append(words, aw)
	}
	// A connect made by the engine (built), or whose last attempt was just
	// worded, gets its words; one that has them (or was made without) keeps them.
	if c.Evidence != nil || !c.built && !worded {
		return words
	}
	var ev, causes, after, afterCauses []string
	if c.built {
		if len(c.Attempts) == 0 {
			ev, causes = unresolvedWords(c.Name, c.Resolution)
		} else {
			after, afterCauses = lookupWords(c)
		}
	}
	var tried, lastEv, untriedEv, lastCauses, lost, untried []string
	if n := len(c.Attempts); n > 0 && c.Attempts[decisive(c.Attempts)] != nil {
		last := words[decisive(c.Attempts)]
		tried, lost = addressesTried(c.Attempts)
		lastEv, lastCauses = last.Evidence, last.Causes
		if len(c.Untried) > 0 {
			// Appended in one buffer, one string made of it (not a
			// fmt.Sprintf of a join: every such connect words this).
			var buf [128]byte
			b := append(append(buf[:0], c.Name...), " also resolved to "...)
			b = appendJoin(b, c.Untried, ", ")
			untriedEv = one(string(append(b, ", never tried"...)))
			untried = untriedCauses(c.Attempts, c.Untried)
		}
	}
	c.Evidence = concat(ev, tried, lastEv, untriedEv, after)
	if c.Evidence == nil {
		c.Evidence = []string{}
	}
	c.Causes = concat(causes, lastCauses, lost, untried, afterCauses)
	return words
}

// concat is parts one after another, nil when all are empty. When one
// part has all of it, that part is the result itself, clipped (an append
// to it copies): a connect whose words are its decisive attempt's shares
// them instead of copying them (nothing changes words in place).
func concat(parts ...[]string) []string {
	n, only := 0, -1
	for i, p := range parts {
		if len(p) > 0 {
			n += len(p)
			only = i
		}
	}
	switch {
	case n == 0:
		return nil
	case len(parts[only]) == n:
		return slices.Clip(parts[only])
	}
	out := make([]string, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// lookupWords words a connect's lookups beside its attempts: a slow
// resolution (the slowest answer, 500 ms or more, or any retry) and, for
// a failed connect, the lookups that failed on the way.
func lookupWords(c *Connect) (evidence, causes []string) {
	var slowest *Query
	retries := 0
	for i := range c.Resolution {
		q := &c.Resolution[i]
		retries += q.Retries
		if q.LatencyMS != nil && (slowest == nil || q.latency > slowest.latency) {
			slowest = q
		}
	}
	if slowest != nil && (slowest.latency >= 500*time.Millisecond || retries > 0) {
		evidence = append(evidence, fmt.Sprintf("name resolution was slow: %s (%s in all)", describeQuery(slowest), plural(retries, "retry", "retries")))
		causes = append(causes, "Slow DNS adds to every connect: the resolver in /etc/resolv.conf answered late or had to be asked again (timeout/attempts options); check the DNS server and the path to it.")
	}
	var failed []string
	for i := range c.Resolution {
		if q := &c.Resolution[i]; q.failed {
			failed = append(failed, describeQuery(q))
		}
	}
	if n := len(c.Attempts); len(failed) > 0 && c.Attempts[n-1] != nil && c.Attempts[n-1].Outcome != OK {
		evidence = append(evidence, "lookups that failed along the way: "+strings.Join(failed, "; "))
	}
	return evidence, causes
}

// explainLookups fills in the Error of the lookups of an engine-made
// connect (in a copy of its Resolution: a caller's copy of the connect
// shares the original's).
func explainLookups(c *Connect) {
	cloned := false
	for i := range c.Resolution {
		q := &c.Resolution[i]
		if q.Error != "" || q.err.kind == qerrNone {
			continue
		}
		if !cloned {
			c.Resolution, cloned = slices.Clone(c.Resolution), true
			q = &c.Resolution[i]
		}
		q.Error = queryErrWords(q.err)
	}
}

// queryErrWords words what became of a query.
func queryErrWords(e queryErr) string {
	switch e.kind {
	case qerrNoAnswer:
		return "no answer"
	case qerrTruncated:
		return "truncated answer (retried over TCP)"
	case qerrCut:
		if e.of == 0 {
			return "the capture cut this answer (snap length) before its records"
		}
		return fmt.Sprintf("the capture cut this answer (snap length): %d of its %d records decoded", e.kept, e.of)
	case qerrICMP:
		return fmt.Sprintf("%s from %s", icmpName(&event.ICMPError{V6: e.icmp.V6, Type: e.icmp.Type, Code: e.icmp.Code}), e.icmp.From)
	}
	return ""
}

// describeQuery words a lookup: "AAAA db.lab → NXDOMAIN from 10.0.0.53:53 after 0.4 ms".
func describeQuery(q *Query) string {
	// Appended in one buffer, one string made of it: every unresolved
	// connect words its lookups.
	var buf [160]byte
	return string(appendQuery(buf[:0], q))
}

// appendQuery appends describeQuery(q) to b.
func appendQuery(b []byte, q *Query) []byte {
	b = append(append(append(b, q.Type...), ' '), q.Name...)
	switch {
	case q.LatencyMS == nil:
		b = append(append(b, " → no answer from "...), q.Server...)
		if q.Retries > 0 {
			b = append(appendPlural(append(b, " ("...), q.Retries, "retry", "retries"), " over "...)
			b = append(proto.AppendMS(b, proto.MSOf(q.retrySpan)), ')')
		}
		if q.Error != "" && q.Error != "no answer" {
			b = append(append(b, ": "...), q.Error...)
		}
	case q.Rcode == dns.RcodeString(dns.RcodeSuccess) && len(q.Answers) == 0 && !q.cut:
		b = append(append(append(b, " → NOERROR, no records, from "...), q.Server...), " after "...)
		b = proto.AppendMS(b, proto.MSOf(q.latency))
	default:
		b = append(append(append(append(append(b, " → "...), q.Rcode...), " from "...), q.Server...), " after "...)
		b = proto.AppendMS(b, proto.MSOf(q.latency))
		if len(q.Answers) > 0 {
			b = append(appendJoin(append(b, " ("...), q.Answers, ", "), ')')
		}
		if q.cut {
			b = append(append(b, "; "...), q.Error...)
		}
	}
	return b
}

// addressesTried words a connect of several attempts: the addresses in
// order, and the time lost on those that never answered.
func addressesTried(attempts []*Attempt) (evidence, causes []string) {
	if len(attempts) < 2 {
		return nil, nil
	}
	// The steps appended in one buffer (one string made of it, not one
	// per step and their join).
	var buf [256]byte
	steps := buf[:0]
	var waited time.Duration
	var timedOut int
	parallel := overlapped(attempts)
	for i, a := range attempts {
		if a == nil {
			continue
		}
		if len(steps) > 0 {
			steps = append(steps, "; "...)
		}
		steps = append(append(append(append(steps, a.Server...), ' '), a.Outcome...), " after "...)
		steps = proto.AppendMS(steps, a.DurationMS)
		if i < len(attempts)-1 && (a.Outcome == Timeout || a.Outcome == NoGreeting) {
			waited += time.Duration(math.Round(a.DurationMS*1000)) * time.Microsecond
			timedOut++
		}
	}
	how := "tried in order"
	if parallel {
		how = "tried at once (the attempts overlapped)"
	}
	var head [64]byte
	h := append(append(append(strconv.AppendInt(head[:0], int64(len(attempts)), 10), " addresses "...), how...), ": "...)
	evidence = []string{string(h) + string(steps)}
	if timedOut > 0 && !parallel {
		causes = one("The client lost " + proto.Dur(waited) + " on " + plural(timedOut, "address", "addresses") + " that never answered before trying the next one: every address costs a full connect timeout (timeout × number of addresses). Fix or remove the dead address (e.g. a stale AAAA record, or a broken IPv6 path).")
	}
	return evidence, causes
}

// overlapped says whether an attempt started before the previous one
// ended: a client connecting to several addresses at once (Happy
// Eyeballs, connscope probe), not one walking its list.
func overlapped(attempts []*Attempt) bool {
	for i := 1; i < len(attempts); i++ {
		p, a := attempts[i-1], attempts[i]
		if p == nil || a == nil || p.Start.IsZero() || a.Start.IsZero() {
			continue // made without times (by hand): in order
		}
		// A microsecond's slack: DurationMS is a rounded float, and a
		// client walking its list starts the next attempt when it gives up
		// the previous one (its end).
		end := p.Start.Add(time.Duration(p.DurationMS*1e6) - time.Microsecond)
		if a.Start.Before(end) {
			return true
		}
	}
	return false
}

// decisive is the index of the attempt that decided the connect: the
// last, or (a client trying addresses at once uses the one that works)
// the first ok one.
func decisive(attempts []*Attempt) int {
	lastIdx := len(attempts) - 1
	last := attempts[lastIdx]
	for i, a := range attempts {
		if a != nil && a.Outcome == OK && (last == nil || last.Outcome != OK) {
			return i
		}
	}
	return lastIdx
}

// attemptWords is at's evidence and causes: made from its reason and
// facts, the causes at has kept (made with them, by hand).
func attemptWords(at *Attempt) AttemptWords {
	f := at.Facts
	if f == nil {
		f = &Facts{}
	}
	w := newWordCtx(at, f)
	// The reason's evidence itself (clipped: what follows, if anything,
	// is appended to a copy).
	ev := slices.Clip(evidenceFor(w, at.Reason))
	if len(ev) == 0 {
		ev = nil
	}
	ev = appendKernelEvidence(ev, w) // words_kernel.go
	for _, s := range f.SoftErrors {
		ev = append(ev, "SYN retransmit #"+strconv.Itoa(s.SYN)+" at +"+proto.MS(s.AtMS)+" got the same answer: the first error arrived while connect() held the socket (Linux then keeps it as a soft error) and this one ended the connect")
	}
	for i := 0; i <= len(at.notes); i++ {
		if i == at.cutAt && f.Cut != nil {
			ev = append(ev, "the capture is truncated (snap length): a segment from the "+f.Cut.From+" at +"+proto.MS(f.Cut.AtMS)+" kept "+
				strconv.Itoa(f.Cut.Kept)+" of its "+strconv.Itoa(f.Cut.Len)+" payload bytes; the verdict uses only the bytes captured")
		}
		if i < len(at.notes) {
			if s := at.notes[i].words(); s != "" {
				ev = append(ev, s)
			}
		}
	}
	ev = append(ev, slowWords(f)...)
	if at.Causes != nil {
		return AttemptWords{ev, at.Causes} // made with its causes (by hand): they stay
	}
	causes := causesOf(w)
	if causes == nil {
		causes = []string{}
	}
	return AttemptWords{ev, causes}
}

// evidenceFor is the evidence of reason r: the protocol's words for its
// session's finding when it decided the attempt, else the reason's
// template.
func evidenceFor(w wordCtx, r Reason) []string {
	if fd := w.at.found; fd != nil && r != ReasonEvidenceLost {
		var ev []string
		if fd.p != nil && fd.p.Evidence != nil {
			ev = fd.p.Evidence(fd.reason, protoInfoOf(w.at), &fd.f)
		}
		if fd.unknown {
			ev = append(ev, fmt.Sprintf("(the protocol decoder gave the unknown reason %q: this attempt is left undecided)", fd.reason))
		}
		if len(ev) > 0 {
			return ev
		}
	}
	if ws, ok := wordingOf(r); ok && ws.evidence != nil {
		return ws.evidence(w)
	}
	return nil
}

// wordingOf is reasonWords[r], read from reasonWordings: every attempt's
// words look their reason up two or three times, and a map keyed by a
// 16-bit Reason hashes it each time (no fast path for that key size).
func wordingOf(r Reason) (wording, bool) {
	if int(r) < len(reasonWordings) {
		return reasonWordings[r].wording, reasonWordings[r].ok
	}
	return wording{}, false
}

// reasonWordings is reasonWords as a table indexed by Reason: the map's
// words, and those init functions add (setWording). A plain table, not
// one made at the first look-up (sync.OnceValue): its call and check cost
// some 3% of wording a connect.
var reasonWordings = wordingTable(reasonWords)

// wordingEntry is a reason's words in reasonWordings (ok: it has some).
type wordingEntry struct {
	wording
	ok bool
}

// wordingTable is words as a table indexed by Reason.
func wordingTable(words map[Reason]wording) []wordingEntry {
	n := 0
	for r := range words {
		n = max(n, int(r)+1)
	}
	t := make([]wordingEntry, n)
	for r, ws := range words {
		t[r] = wordingEntry{ws, true}
	}
	return t
}

// setWording gives reason r the words ws, in reasonWords and its table:
// for init functions, which add the words of reasons the map literal
// cannot name (nothing changes either after init).
func setWording(r Reason, ws wording) {
	reasonWords[r] = ws
	if int(r) >= len(reasonWordings) {
		reasonWordings = append(reasonWordings, make([]wordingEntry, int(r)+1-len(reasonWordings))...)
	}
	reasonWordings[r] = wordingEntry{ws, true}
}

func protocolNamed(name string) *proto.Protocol {
	if name == "" {
		return nil
	}
	for _, p := range protocols {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// target is what a protocol's ConnCauses sees of the attempt.
func (w wordCtx) target() proto.Target {
	t := proto.Target{Comm: w.at.Comm}
	if w.at.Client == "unix" {
		t.Socket = w.at.Server
	} else {
		t.Server = w.at.Server
	}
	return t
}

// server is the server as ip:port, or the unix socket path.
func (w wordCtx) server() string { return w.at.Server }

// clientAddr is the client's address (without the port).
func (w wordCtx) clientAddr() string { return (*attemptClient)(w.at).Addr() }

// attemptClient is an attempt's client as a protocol's causes see it
// (proto.Client): most do not name it, so its address is parsed from
// Client only when one asks.
type attemptClient Attempt

// Addr is the client's address (without the port).
func (c *attemptClient) Addr() string {
	if _, host, ok := parseIPv4Port(c.Client); ok {
		return host
	}
	ap, _ := netip.ParseAddrPort(c.Client)
	return addrOf(c.Client, ap)
}

// addrOf is ap's address as text, ap being s parsed (the zero AddrPort if
// s did not parse). Words ask for it for every attempt: when s has the
// address as Addr.String writes it (the engine's do), the text before the
// port is returned instead of a new string.
func addrOf(s string, ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ap.Addr().String()
	}
	host := s[:strings.LastIndexByte(s, ':')]
	if ap.Addr().Is6() {
		host = host[1 : len(host)-1] // [addr]
	}
	var buf [64]byte
	if string(ap.Addr().AppendTo(buf[:0])) == host {
		return host
	}
	return ap.Addr().String()
}

// addr is the server's address (without the port).
func (w wordCtx) addr() string {
	a, _ := w.addrPort()
	return a
}

// port is the server's port (0 when Server is not ip:port).
func (w wordCtx) port() uint16 {
	_, p := w.addrPort()
	return p
}

// addrPort is addr and port, read from Server once for words that name both.
func (w wordCtx) addrPort() (string, uint16) {
	ap, host, ok := w.serverEndpoint()
	switch {
	case host != "":
		return host, ap.Port()
	case ok:
		return addrOf(w.at.Server, ap), ap.Port()
	}
	return w.at.Server, 0
}

// d renders a duration fact.
func d(p *float64) string {
	if p == nil {
		return proto.MS(0)
	}
	return proto.MS(*p)
}

func one(s string) []string { return []string{s} }

// syns is "3 SYNs over 3.0 s" (span: with the time from first to last).
func (w wordCtx) syns(span bool) string {
	var buf [48]byte
	return string(w.appendSyns(buf[:0], span))
}

// appendSyns appends w.syns(span) to b.
func (w wordCtx) appendSyns(b []byte, span bool) []byte {
	n := w.f.SYNs
	b = appendPlural(b, n, "SYN", "SYNs")
	if span && n > 1 && w.f.SYNSpanMS != nil {
		b = proto.AppendMS(append(b, " over "...), *w.f.SYNSpanMS)
	}
	return b
}

// appendJoin appends ss with sep between them (strings.Join into b).
func appendJoin(b []byte, ss []string, sep string) []byte {
	for i, x := range ss {
		if i > 0 {
			b = append(b, sep...)
		}
		b = append(b, x...)
	}
	return b
}

// appendPlural appends plural(n, one, many) to b.
func appendPlural(b []byte, n int, one, many string) []byte {
	if n == 1 {
		return append(append(b, "1 "...), one...)
	}
	return append(append(strconv.AppendInt(b, int64(n), 10), ' '), many...)
}

// appendD appends d(p) to b.
func appendD(b []byte, p *float64) []byte {
	if p == nil {
		return proto.AppendMS(b, 0)
	}
	return proto.AppendMS(b, *p)
}

// where says how a TCP connect failed with an errno.
func (w wordCtx) where() string {
	if w.f.AtOnce {
		return "connect() to " + w.server() + " failed at once with " + w.f.Errno
	}
	return "the connect to " + w.server() + " failed with " + w.f.Errno + " after " + proto.MS(w.f.ElapsedMS)
}

func (w wordCtx) noWire() string {
	if w.f.Wire {
		return " (no reply captured)"
	}
	return ""
}

// icmp is the ICMP fact (empty when the facts lack it: words never fail).
func (w wordCtx) icmp() *ICMPFact {
	if w.f.ICMP == nil {
		return &ICMPFact{}
	}
	return w.f.ICMP
}

// icmpDesc names the ICMP error in the facts.
func (w wordCtx) icmpDesc() string {
	ic := w.icmp()
	return icmpName(&event.ICMPError{V6: ic.V6, Type: ic.Type, Code: ic.Code})
}

// appendICMPDesc appends icmpDesc() to b.
func (w wordCtx) appendICMPDesc(b []byte) []byte {
	ic := w.icmp()
	return AppendICMPDescription(b, ic.V6, ic.Type, ic.Code)
}

// unanswered is the evidence of a client-first attempt whose server never
// answered.
func (w wordCtx) unanswered() string {
	f := w.f
	how := "still no answer"
	switch f.Ended {
	case "client_close":
		how = "the client gave up (" + f.ClientClose + ")"
	case "next_address":
		how = "the client moved on to " + f.NextAddress
	}
	what := fmt.Sprintf("connected; the client spoke first (%d bytes, %s after the handshake) and the server never answered; %s %s after the client's first bytes",
		f.ClientBytes, d(f.ClientFirstMS), how, d(f.SinceRequestMS))
	if f.RequestAckedMS != nil {
		what += fmt.Sprintf(" (the server's TCP acknowledged them at +%s: they arrived)", d(f.RequestAckedMS))
	}
	return what
}

// slowWords says which parts of the attempt were slow (Facts.Slow).
func slowWords(f *Facts) []string {
	var out []string
	for _, s := range f.Slow {
		dur := proto.MS(s.MS)
		switch {
		case s.Step == "handshake":
			what := "slow part: the network — the TCP handshake took " + dur + " (SYN to handshake complete"
			if f.SYNs > 1 {
				what += fmt.Sprintf(", %d SYNs: the first ones got no answer", f.SYNs)
			}
			out = append(out, what+")")
		case s.Step == "first_bytes":
			out = append(out, "slow part: the client — it sent its first bytes "+dur+" after the handshake")
		case s.Step == "ack":
			out = append(out, "slow part: the network — the server acknowledged the client's first bytes only "+dur+" after they were sent")
		case s.Step == "answer" && s.AckedMS != nil:
			out = append(out, fmt.Sprintf("slow part: the server — it answered %s after the client's first bytes had arrived (acknowledged at +%s)", dur, d(s.AckedMS)))
		case s.Step == "answer":
			out = append(out, fmt.Sprintf("slow part: the server — it answered %s after the client's first bytes (it acknowledged them only with its answer, so the network's share is not known)", dur))
		}
	}
	return out
}

// lostWhy says what was lost (capture.evidence_lost).
func lostWhy(l *LostFact) string {
	var why []string
	if l == nil {
		return ""
	}
	if l.KernelEvents > 0 {
		why = append(why, fmt.Sprintf("%d kernel events were lost (eBPF ring buffer full)", l.KernelEvents))
	}
	if l.Packets > 0 {
		why = append(why, fmt.Sprintf("%d packets were dropped by the kernel before capture", l.Packets))
	}
	if l.LateEvents > 0 {
		why = append(why, fmt.Sprintf("%d events arrived later than the reorder window", l.LateEvents))
	}
	return strings.Join(why, ", ")
}

// errnoWords is the evidence of a TCP connect that failed with an errno.
func errnoWords(tail string, wire bool) func(w wordCtx) []string {
	return func(w wordCtx) []string {
		s := w.where() + tail
		if wire {
			s += w.noWire()
		}
		return one(s)
	}
}

func unixWords(format string) func(w wordCtx) []string {
	return func(w wordCtx) []string {
		return one(strings.NewReplacer("{path}", w.server(), "{errno}", w.f.Errno).Replace(format))
	}
}

// reasonWords is the table: each engine reason's evidence and causes.
// (A protocol's reasons are worded by its session, until they move here
// through its registration; its WrongBanner reason is worded here.)
var reasonWords = map[Reason]wording{
	// TCP, on the wire.
	ReasonRSTFromServer: {
		evidence: func(w wordCtx) []string {
			// Appended in one buffer, one string made of it.
			var buf [128]byte
			b := appendD(append(append(append(buf[:0], "SYN answered by RST from "...), w.server()...), " after "...), w.f.ReplyMS)
			if w.f.AnsweredSYN > 1 {
				b = append(strconv.AppendInt(append(b, " (SYN #"...), int64(w.f.AnsweredSYN), 10), "; the earlier ones got no reply)"...)
			}
			return one(string(b))
		},
		causes: refusedCauses,
	},
	ReasonSYNUnanswered: {
		evidence: func(w wordCtx) []string {
			// Appended in one buffer, one string made of it: every
			// unanswered attempt of a big capture words this.
			f := w.f
			var buf [192]byte
			b := buf[:0]
			switch f.Ended {
			case "next_address":
				b = append(w.appendSyns(b, false), ", no reply; the client gave up after "...)
				b = append(proto.AppendMS(b, f.ElapsedMS), " and tried the next address ("...)
				b = append(append(b, f.NextAddress...), ')')
			case "socket_close":
				b = append(w.appendSyns(b, true), ", no reply; the client closed the socket after "...)
				b = appendD(b, f.SinceFirstSYNMS)
			case "no_retransmit":
				b = append(w.appendSyns(b, true), ", no reply; no further SYN by +"...)
				b = append(appendD(b, f.RetransmitDueMS), ", when the next retransmit was due at the latest: the client gave up"...)
			default:
				if f.SinceLastSYNMS == nil {
					b = append(w.appendSyns(b, true), ", no reply; the capture ends there"...)
				} else {
					b = append(w.appendSyns(b, true), ", no reply; the capture ended "...)
					b = append(appendD(b, f.SinceLastSYNMS), " after the last one"...)
				}
			}
			return one(string(b))
		},
		causes: droppedCauses,
	},
	ReasonSYNACKAfterGiveUp: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("the SYN-ACK came %s after the first SYN, after the client had given up (it answered with RST)", d(w.f.SYNACKMS)))
		},
		causes: said("The SYN-ACK came only after the client had given up: the path or the server is very slow to answer (overloaded accept queue, heavy loss). Check the RTT and the server's listen backlog."),
	},

	// ICMP.
	ReasonICMPPortUnreachable:     {evidence: icmpWords, causes: rejectCauses},
	ReasonICMPAdminProhibited:     {evidence: icmpWords, causes: rejectCauses},
	ReasonICMPProtocolUnreachable: {evidence: icmpWords, causes: rejectCauses},
	ReasonICMPHostUnreachable:     {evidence: icmpWords, causes: hostCauses},
	ReasonICMPNetUnreachable:      {evidence: icmpWords, causes: hostCauses},
	ReasonICMPTimeExceeded:        {evidence: icmpWords, causes: hostCauses},
	ReasonICMPParameterProblem:    {evidence: icmpWords, causes: hostCauses},
	ReasonICMPOther:               {evidence: icmpWords, causes: hostCauses},

	// The kernel.
	ReasonKernelRST: {
		evidence: func(w wordCtx) []string {
			return one("the kernel received an RST for the SYN to " + w.server() + " (RST not captured)")
		},
		causes: refusedCauses,
	},
	ReasonNoARPReply: {
		evidence: func(w wordCtx) []string {
			if w.f.ICMP != nil {
				return icmpWords(w)
			}
			return errnoWords(": no packet of it was captured — the SYN never left (no ARP/NDP reply for the next hop)", false)(w)
		},
		causes: hostCauses,
	},
	ReasonEHOSTUNREACH:      {evidence: errnoWords(": no ARP/NDP reply for the next hop, or an ICMP error that was not captured", false), causes: hostCauses},
	ReasonEHOSTUNREACHRoute: {evidence: errnoWords(": the routing table says unreachable", false), causes: noRouteCauses},
	ReasonENETUNREACH:       {evidence: errnoWords(": the client has no route to it", false), causes: noRouteCauses},
	ReasonEADDRNOTAVAIL:     {evidence: errnoWords(": no free local port or address for this destination", false), causes: noPortCauses},
	ReasonEADDRINUSE:        {evidence: errnoWords("", false), causes: noPortCauses},
	ReasonEACCES: {
		evidence: errnoWords(": refused by local policy before anything was sent", false),
		causes:   said("connect() was refused locally (EACCES/EPERM) before any packet: a local firewall OUTPUT rule, a cgroup/BPF connect hook, SELinux/AppArmor policy, or (with ICMPv6) an administratively-prohibited answer."),
	},
	ReasonECONNREFUSED: {evidence: errnoWords("", true), causes: refusedCauses},
	ReasonETIMEDOUT: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("%s: %s unanswered; the kernel gave up (net.ipv4.tcp_syn_retries)", w.where(), w.syns(false)))
		},
		causes: droppedCauses,
	},
	ReasonECONNRESET:          {evidence: errnoWords("", true), causes: refusedCauses},
	ReasonECONNRESETConnected: {evidence: errnoWords("", true), causes: closedSilentCauses},
	ReasonKernelOtherErrno:    {evidence: errnoWords("", false), causes: hostCauses},
	ReasonKernelConnected: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("connected to %s after %s (kernel: SYN_SENT→ESTABLISHED); without packets the greeting is not visible", w.server(), proto.MS(w.f.ElapsedMS)))
		},
	},
	ReasonConnectedNoPackets: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("connected to %s after %s (kernel: SYN_SENT→ESTABLISHED); no packets of this connection were captured (another interface, or the capture filter)", w.server(), proto.MS(w.f.ElapsedMS)))
		},
	},
	ReasonENOENT: {
		evidence: unixWords("connect() to the unix socket {path} failed with {errno}: no such socket file"),
		causes: func(w wordCtx) []string {
			return one(fmt.Sprintf("No socket file at %s: the server is not running, or it creates its socket in another directory than the client looks in; or connect over TCP instead.", w.server()))
		},
	},
	ReasonEACCESUnix: {
		evidence: unixWords("connect() to the unix socket {path} failed with {errno}: permission denied"),
		causes: func(w wordCtx) []string {
			return one(fmt.Sprintf("The process may not connect to %s: the socket's directory needs search (x) permission and the socket write (w) permission for the client's user, or an LSM (AppArmor/SELinux) denies it.", w.server()))
		},
	},
	ReasonECONNREFUSEDUnix: {
		evidence: unixWords("connect() to the unix socket {path} failed with ECONNREFUSED: the file exists but nothing accepts on it"),
		causes:   staleCauses,
	},
	ReasonEAGAINUnix: {
		evidence: unixWords("connect() to the unix socket {path} failed with EAGAIN: the server's listen backlog is full"),
		causes:   said("The server's listen backlog on the socket is full: the server is not accepting fast enough (or its backlog setting is too small)."),
	},
	ReasonUnixOtherErrno: {evidence: unixWords("connect() to the unix socket {path} failed with {errno}"), causes: staleCauses},
	ReasonUnixConnected:  {evidence: unixWords("connect() to the unix socket {path} succeeded")},

	// Application bytes.
	ReasonNoServerBytes: {
		evidence: func(w wordCtx) []string {
			// Appended in one buffer, one string made of it.
			f := w.f
			var buf [160]byte
			b := append(buf[:0], "connected, but the server sent nothing"...)
			switch f.Ended {
			case "client_close":
				b = append(append(append(b, "; the client gave up ("...), f.ClientClose...), ") after "...)
			case "next_address":
				b = append(append(append(b, "; the client moved on to "...), f.NextAddress...), " after "...)
			default:
				b = append(b, " in "...)
			}
			return one(string(appendD(b, f.SinceHandshakeMS)))
		},
		causes: said(
			"TCP connected but the server sent nothing: the server process is hung or overloaded (accept backlog, thread limits), blocked resolving the client's address (reverse DNS of the client with a slow DNS), or it is a proxy/load balancer whose backend is down.",
			"The client gave up waiting for the server's first message: its connect timeout (or read timeout) covers that wait too.",
		),
	},
	ReasonRequestUnanswered: {
		evidence: func(w wordCtx) []string { return one(w.unanswered()) },
		causes: said(
			"The server received the client's first bytes (its TCP acknowledged them when the capture shows the ACK) but its application never answered: the service is hung or overloaded (worker pool, backend it waits on), or the client spoke a protocol the server does not (a plain-text request to a TLS port, a wrong path through a proxy). Check the server's logs for this connection.",
			"If the server is merely slow, the client's read timeout decides when it gives up.",
		),
	},
	ReasonServerSpokeLate: {
		evidence: func(w wordCtx) []string {
			f := w.f
			return one(fmt.Sprintf("the server's first bytes came %s after the handshake, %s after the client gave up (%s at +%s)",
				d(f.ServerFirstMS), d(f.AfterGiveUpMS), f.ClientClose, d(f.ClientGaveUpMS)))
		},
		causes: said(
			"The server spoke only after the client had given up. Typical of a reverse DNS lookup of the client's address on the server: turn the server's reverse lookups off, or fix the PTR records/DNS the server uses. Also possible: an overloaded server (thread or process creation).",
			"If the delay is expected, raise the client's connect timeout.",
		),
	},
	ReasonServerClosedSilent: {
		evidence: func(w wordCtx) []string {
			// Appended in one buffer, one string made of it.
			f := w.f
			var buf [160]byte
			if f.SinceRequestMS != nil {
				b := appendD(append(append(append(buf[:0], "the server closed ("...), f.ServerClose...), ") "...), f.SinceRequestMS)
				b = appendD(append(b, " after the client's first bytes ("...), f.SinceHandshakeMS)
				return one(string(append(b, " after the handshake) without answering"...)))
			}
			b := appendD(append(append(append(buf[:0], "connected, then the server closed ("...), f.ServerClose...), ") "...), f.SinceHandshakeMS)
			return one(string(append(b, " after the handshake without sending a greeting"...)))
		},
		causes: closedSilentCauses,
	},
	ReasonServerClosedPartial: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("the server sent %d bytes, not a complete greeting, and closed (%s)", w.f.ServerBytes, w.f.ServerClose))
		},
		causes: closedSilentCauses,
	},
	ReasonClientClosedNoSend: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("connected; client closed without sending: %s %s after it was connected, without waiting for a byte (a connect-then-close check)", w.f.ClientClose, d(w.f.SinceHandshakeMS)))
		},
	},
	ReasonClientSilentToBanner: {
		evidence: func(w wordCtx) []string {
			f := w.f
			// Appended in one buffer (the banner quoted and the time
			// written into it), one string made of it: every connect to a
			// server that is not MySQL gets these words (live, thousands
			// a second).
			var buf [256]byte
			b := proto.AppendQuote(append(append(append(buf[:0], "the server at "...), w.server()...), " spoke first with "...), f.Banner)
			b = append(append(append(append(b, ", not a "...), serverFirstNames...), " greeting; the client never answered, and the "...), f.ClosedBy...)
			b = appendD(append(append(append(b, " closed the connection ("...), f.Close...), ") "...), f.SinceServerMS)
			return one(string(append(b, " later"...)))
		},
		causes: func(w wordCtx) []string {
			// Made once per server, banner and expected protocol (all
			// they read): every connect to a server that is not the
			// expected one words them.
			k := bannerKey{server: w.server(), banner: w.f.Banner, expected: w.f.Expected}
			h := k.hash()
			if c, ok := bannerCausesMemo.get(h, k); ok {
				return c
			}
			want := "the expected service"
			if w.f.Expected != "" {
				want = w.f.Expected
			}
			// Appended in one buffer (the banner quoted into it), one
			// string made of it.
			var buf [320]byte
			b := append(append(append(append(buf[:0], "Something other than "...), want...), " listens on "...), w.server()...)
			b = proto.AppendQuote(append(b, " (it sent "...), w.f.Banner)
			c := one(string(append(b, "): the wrong port or host in the client's configuration, or a port forward/proxy pointing at the wrong service."...)))
			bannerCausesMemo.put(h, k, c)
			return c
		},
	},
	ReasonServerFirstAnswered: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("TCP connected to %s; the server spoke first (not %s) %s after the handshake and the client answered", w.server(), serverFirstNames, d(w.f.ServerFirstMS)))
		},
	},
	ReasonServerAnswered: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("TCP connected to %s; the client spoke first %s after the handshake and the server answered %s later (not %s)",
				w.server(), d(w.f.ClientFirstMS), d(w.f.SinceRequestMS), serverFirstNames))
		},
	},
	ReasonClientFirstUnanswered: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("TCP connected to %s; the client spoke first (not %s) and the server had not answered when the capture ended", w.server(), serverFirstNames))
		},
	},
	ReasonServerSentData: {
		evidence: func(w wordCtx) []string { return one("TCP connected to " + w.server() + "; the server sent data") },
	},

	// TLS.
	ReasonTLSAlert: {
		evidence: func(w wordCtx) []string { return one("TLS alert from the " + w.f.TLSAlert + " during the handshake") },
		causes:   tlsCauses,
	},
	ReasonTLSNotTLS: {
		evidence: func(wordCtx) []string { return one("the bytes after the SSLRequest are not TLS") },
		causes:   tlsCauses,
	},
	ReasonTLSClosed: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("the %s closed (%s) during the TLS handshake", w.f.ClosedBy, w.f.Close))
		},
		causes: tlsCauses,
	},
	ReasonTLSStalled: {
		evidence: func(w wordCtx) []string {
			return one(fmt.Sprintf("the TLS handshake stalled for %s: the server never answered the ClientHello", d(w.f.QuietMS)))
		},
		causes: tlsCauses,
	},
	ReasonTLSCompleted: {
		evidence: func(w wordCtx) []string {
			if w.f.TLSCutSide != "" {
				return one(fmt.Sprintf("TLS handshake completed; the login result is encrypted (judged from the direction of the data segments: the snap length cut the %s's TLS records from byte %d on)", w.f.TLSCutSide, w.f.TLSCutAt))
			}
			return one("TLS handshake completed; the login result is encrypted")
		},
	},
	ReasonTLSUnderWay: {
		evidence: func(wordCtx) []string {
			return one("the server answered the TLS ClientHello and the connection stayed open without an alert: TLS under way, the rest is encrypted")
		},
	},

	// What the capture could not show.
	ReasonCaptureEnded: {
		evidence: func(w wordCtx) []string {
			f := w.f
			switch f.Phase {
			case "connect":
				return one("the capture ended before connect() returned")
			case "syn_sent":
				return one(fmt.Sprintf("%s, no reply yet; the capture ended %s after it", w.syns(true), d(f.SinceLastSYNMS)))
			case "connected":
				return one(fmt.Sprintf("connected; the capture ended %s later, before the server's first byte", d(f.SinceHandshakeMS)))
			case "tls":
				return one("the capture ended during the TLS handshake")
			}
			return nil
		},
	},
}

// icmpWords is the evidence of an ICMP error that answered the SYN.
func icmpWords(w wordCtx) []string {
	f := w.f
	if f.AnsweredSYN == 0 {
		return one(w.icmpDesc() + " generated by the client host itself, with no SYN on the wire: the SYN never left (no ARP/NDP reply for the next hop towards " + w.addr() + ")")
	}
	// Appended in one buffer, one string made of it.
	var buf [192]byte
	b := append(w.appendICMPDesc(append(buf[:0], "SYN answered by "...)), " from "...)
	b = appendD(append(append(b, w.icmp().From...), " after "...), f.ReplyMS)
	if f.AnsweredSYN > 1 {
		b = append(strconv.AppendInt(append(b, " (SYN #"...), int64(f.AnsweredSYN), 10), ')')
	}
	if w.icmp().Local {
		b = append(b, "; generated by the client host itself (no ARP/NDP reply for the next hop)"...)
	}
	return one(string(b))
}

// wrongBannerWords is the evidence of a protocol's WrongBanner reason.
func wrongBannerWords(w wordCtx) []string {
	// Made once per server, banner and expected protocol (all it reads).
	k := bannerKey{server: w.server(), banner: w.f.Banner, expected: w.f.Expected}
	h := k.hash()
	if ev, ok := wrongBannerMemo.get(h, k); ok {
		return ev
	}
	// Appended in one buffer (the banner quoted into it), one string made
	// of it.
	var buf [160]byte
	b := proto.AppendQuote(append(append(append(buf[:0], "the server at "...), w.server()...), " spoke first with "...), w.f.Banner)
	ev := one(string(append(append(append(b, ", not a "...), w.f.Expected...), " greeting"...)))
	wrongBannerMemo.put(h, k, ev)
	return ev
}

// bannerKey is what the words of a banner that is not the expected
// protocol's read: the server's text, the banner, the protocol expected.
type bannerKey struct{ server, banner, expected string }

func (k bannerKey) hash() uint64 {
	return memoHash(memoHash(memoHash(0, k.server), k.banner), k.expected)
}

// The banner words kept by bannerKey: wrongBannerWords, and the causes
// of ReasonClientSilentToBanner (which a WrongBanner reason shares).
var wrongBannerMemo, bannerCausesMemo wordMemo[bannerKey, []string]

func init() {
	// evidence_lost says what was lost, then the words of the verdict it would be.
	setWording(ReasonEvidenceLost, wording{evidence: func(w wordCtx) []string {
		first := fmt.Sprintf("evidence lost while this attempt was open (%s): it would be %s on what was seen, which the missing events may contradict", lostWhy(w.f.Lost), w.f.WouldBe.Outcome())
		return append(one(first), evidenceFor(w, w.f.WouldBe)...)
	}})
	for _, p := range protocols {
		if p.WrongBanner != "" {
			setWording(reasonIDs[p.WrongBanner], wording{evidence: wrongBannerWords, wrongBanner: true})
		}
	}
}
