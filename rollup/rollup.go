// Package rollup summarises many finished connects (analyze.Connect, as the
// engine emits them) at incident scale: groups of attempts by server (or
// client, process, outcome), outcome and reason with counts, percentiles and
// the numbers of the worst examples (Group); counts by outcome over time
// and concurrent established connections per server (TimeView); and named
// patterns over many attempts (Pattern: accept_backlog, syn_loss, …).
//
// It consumes only the engine's finished records, never its state, and keeps
// no attempt beyond a batch of figures (see Rollup.Add): every figure is a
// counter, a bounded set or a fixed-size Sketch, and the number of groups, servers and client pairs followed is
// capped (the excess goes to an "other" group or is counted as not
// followed). Words are the renderers' business (package report): a Group or
// a Pattern holds facts only.
package rollup

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze"
)

// GroupBy chooses the first part of a group's key (outcome and reason are
// always part of it).
type GroupBy string

const (
	ByServer  GroupBy = "server"  // server endpoint, or name:port when the name was resolved
	ByClient  GroupBy = "client"  // client address
	ByProcess GroupBy = "process" // process name (comm), "-" when unknown
	ByOutcome GroupBy = "outcome" // outcome and reason only
)

// ParseGroupBy parses a --group-by value.
func ParseGroupBy(s string) (GroupBy, bool) {
	switch g := GroupBy(s); g {
	case ByServer, ByClient, ByProcess, ByOutcome:
		return g, true
	}
	return "", false
}

// Defaults of Options.
const (
	DefaultMaxGroups = 1000
	DefaultExamples  = 3
	// setCap is how many distinct clients, processes or addresses a group
	// remembers; beyond it, Distinct stops growing and More is set.
	setCap = 64
)

// Options configure a Rollup.
type Options struct {
	GroupBy   GroupBy // ByServer when empty
	MaxGroups int     // groups kept before new keys go to the "other" group (DefaultMaxGroups when 0)
	Examples  int     // worst examples' numbers kept per group (DefaultExamples when 0)
	// PortRange is the clients' net.ipv4.ip_local_port_range (first, last)
	// when known (live, read from the host); zero: Linux's default is
	// assumed (DefaultPortRange), and ephemeral_ports says so.
	PortRange [2]int
}

// Key identifies a group. Only the field chosen by GroupBy is set among
// Server, Client and Process.
type Key struct {
	Server  string          `json:"server,omitempty"`
	Client  string          `json:"client,omitempty"`
	Process string          `json:"process,omitempty"`
	Outcome analyze.Outcome `json:"outcome"`
	Reason  string          `json:"reason"`
}

// Set is a bounded set of distinct strings: the first setCap values seen.
type Set struct {
	Values []string `json:"values"`
	More   bool     `json:"more,omitempty"` // more distinct values were seen than kept
	// index finds a value among many (made at setIndexAt values).
	index map[string]struct{}
}

// setIndexAt is how many values a Set scans before it keeps an index.
const setIndexAt = 8

func (s *Set) has(v string) bool {
	if s.index != nil {
		_, ok := s.index[v]
		return ok
	}
	return slices.Contains(s.Values, v)
}

func (s *Set) add(v string) {
	if v == "" || s.More || (len(s.Values) > 0 && s.Values[len(s.Values)-1] == v) || s.has(v) {
		return // once More is set, nothing can change
	}
	if len(s.Values) >= setCap {
		s.More = true
		s.index = nil // no more look-ups
		return
	}
	s.Values = append(s.Values, v)
	if len(s.Values) == setIndexAt {
		s.index = make(map[string]struct{}, setCap)
		for _, x := range s.Values {
			s.index[x] = struct{}{}
		}
	} else if s.index != nil {
		s.index[v] = struct{}{}
	}
}

func (s *Set) merge(o Set) {
	for _, v := range o.Values {
		s.add(v)
	}
	s.More = s.More || o.More
}

// Example is an attempt kept as one of a group's worst: its connect's
// number and its duration (first SYN or connect() to the attempt's end).
type Example struct {
	Number     int     `json:"number"`
	DurationMS float64 `json:"duration_ms"`
}

// Group is the rollup of the attempts that share a Key.
type Group struct {
	Key
	// Other is set on the group that collects attempts whose key came
	// after MaxGroups groups existed.
	Other bool `json:"other,omitempty"`
	// Ports is set when Fold merged the groups of several ports of one
	// host into this one ("host:*"): how many ports.
	Ports int `json:"ports,omitempty"`

	Count     int       `json:"count"`
	Clients   Set       `json:"clients"`
	Processes Set       `json:"processes"`
	Addresses Set       `json:"addresses"` // server endpoints (for a group keyed by name, client or process)
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	// SYNs counts attempts by SYNs sent: [0] none (kernel only), [1] one,
	// [2] two, [3] three or more.
	SYNs [4]int `json:"-"`
	// RTT is SYN to SYN-ACK; Connect is first SYN to SYN-ACK (with the
	// retransmits' cost); FirstByte the greeting delay (server first) or
	// the server's response time (client first).
	RTT       Sketch `json:"-"`
	Connect   Sketch `json:"-"`
	FirstByte Sketch `json:"-"`
	// Examples are the worst attempts (longest first), at most
	// Options.Examples.
	Examples []Example `json:"examples"`

	// The server of the group's last attempt with the patterns' stats of
	// it and its place in the time view (its index + 1; 0: not yet): a
	// group's attempts go to one server, or to a few of a name's, while
	// the attempts around them go to others, so a group finds these
	// without a look-up by the server's string.
	srvOf    string
	srvStats *serverStats
	concOf   string
	concAt   int
}

// Label is what a renderer shows as the group's first column.
func (g *Group) Label(by GroupBy) string {
	if g.Other {
		return "other"
	}
	switch by {
	case ByClient:
		return g.Client
	case ByProcess:
		return g.Process
	case ByOutcome:
		return ""
	}
	return g.Server
}

// Failed reports whether the group's outcome is a failure.
func (g *Group) Failed() bool { return g.Outcome != analyze.OK }

func (g *Group) addExample(ex Example, limit int) bool {
	if n := len(g.Examples); n >= limit && limit > 0 && g.Examples[limit-1].DurationMS >= ex.DurationMS {
		// Not longer than the shortest kept (most attempts of a busy
		// group): no search.
		return false
	}
	i := sort.Search(len(g.Examples), func(i int) bool { return g.Examples[i].DurationMS < ex.DurationMS })
	if i >= limit {
		return false
	}
	if len(g.Examples) < limit {
		g.Examples = append(g.Examples, Example{})
	}
	copy(g.Examples[i+1:], g.Examples[i:])
	g.Examples[i] = ex
	return true
}

func (g *Group) merge(o *Group, limit int) {
	g.Count += o.Count
	g.Clients.merge(o.Clients)
	g.Processes.merge(o.Processes)
	g.Addresses.merge(o.Addresses)
	if g.First.IsZero() || (!o.First.IsZero() && o.First.Before(g.First)) {
		g.First = o.First
	}
	if o.Last.After(g.Last) {
		g.Last = o.Last
	}
	for i := range g.SYNs {
		g.SYNs[i] += o.SYNs[i]
	}
	g.RTT.Merge(&o.RTT)
	g.Connect.Merge(&o.Connect)
	g.FirstByte.Merge(&o.FirstByte)
	for _, ex := range o.Examples {
		g.addExample(ex, limit)
	}
}

// obs is what the rollup reads from one attempt (or an attempt-less connect).
type obs struct {
	number     int
	name       string // the connect's resolved name
	label      string // name:port when the name is known (the group's server)
	server     string // endpoint, or socket path
	host       string // server address without port
	port       int    // -1 when none
	client     string // client address without port
	process    string
	outcome    analyze.Outcome
	reason     analyze.Reason // (its id made only for a new group's key)
	start      time.Time
	end        time.Time
	syns       int
	rtt        float64 // when hasRTT
	hasRTT     bool
	connect    float64 // first SYN to SYN-ACK, ms (when hasConnect)
	hasConnect bool
	synAck     time.Time
	closed     time.Time // first FIN/RST after the SYN-ACK, zero when none in the timeline
	firstByte  float64   // when hasFirst
	hasFirst   bool
	firstAt    time.Time // the server's first bytes
	duration   float64
	mysqlErr   uint16
	proto      string // the application protocol's key, "" when none
	sqlState   string
	gaveUp     bool // the client closed or moved on before the server spoke
	aborted    bool // handshake completed, then the client closed without a login (host_blocked)
	login      bool // the client sent its login

	// Set by Rollup.add (at Add, or at flush after AddFigures: nil until
	// then): the attempt's group, and whether its example was decided then
	// (a failing or "other" group's: what Add reports).
	group    *Group
	exampled bool
	// Set by flush before the figures are added: the client and server's
	// pattern stats (nil when not followed).
	pair *pairStats
}

// Rollup accumulates connects. Not safe for concurrent use.
type Rollup struct {
	opt Options
	// groups finds a group by the part of its key GroupBy chose (its
	// label: server, client or process; "" by outcome), then by outcome
	// and reason among the few groups of that label: hashing one short
	// string, not a Key of five.
	groups map[string][]groupRef
	order  []*Group
	other  *Group

	connects int
	attempts int
	outcomes []ocount // attempts by outcome (few outcomes: a list, not a map)
	first    time.Time
	last     time.Time

	time     *TimeView
	patterns *detector
	// pending are the attempts added since the last flush, in order, with
	// their group made and a failing group's example decided (what Add
	// reports); names are the name keys of their connects that had
	// attempts, in order, each with its part of pending. See Add.
	pending []obs
	names   []pendingName
	// The last name key made (name:port): connects come in runs to one
	// name, and each needs its key up to three times.
	lastName     string
	lastNamePort int
	lastNameKey  string
	// lastGroup is the group of the last attempt (not "other"), with
	// the label, outcome and reason that found it: attempts come in runs
	// to one server, and a run's attempts find their group by comparing
	// these, not a Key of five fields built for each.
	lastGroup   *Group
	lastLabel   string
	lastOutcome analyze.Outcome
	lastReason  analyze.Reason
}

// groupRef is a group among those of one label, with the rest of its key
// beside it: finding a group compares the keys in one short array, not in
// each group's own memory (a Group is some 1,300 bytes, wherever it was
// made; a label has a group for each outcome and reason it saw).
type groupRef struct {
	outcome analyze.Outcome
	reason  analyze.Reason // (reason ids are unique: the same group as comparing Key.Reason)
	g       *Group
}

// New returns an empty Rollup.
func New(opt Options) *Rollup {
	if opt.GroupBy == "" {
		opt.GroupBy = ByServer
	}
	if opt.MaxGroups <= 0 {
		opt.MaxGroups = DefaultMaxGroups
	}
	if opt.Examples <= 0 {
		opt.Examples = DefaultExamples
	}
	return &Rollup{opt: opt, groups: map[string][]groupRef{},
		time: newTimeView(), patterns: newDetector()}
}

// GroupBy is the grouping in use.
func (r *Rollup) GroupBy() GroupBy { return r.opt.GroupBy }

// Connects and Attempts count what was added (an attempt-less connect,
// e.g. unresolved, counts as one attempt row).
func (r *Rollup) Connects() int { return r.connects }
func (r *Rollup) Attempts() int { return r.attempts }

// Outcomes counts the attempt rows by outcome.
func (r *Rollup) Outcomes() map[analyze.Outcome]int {
	r.flush()
	m := make(map[analyze.Outcome]int, len(r.outcomes))
	for _, oc := range r.outcomes {
		m[oc.o] = oc.n
	}
	return m
}

// Span is the first and last attempt start seen.
func (r *Rollup) Span() (first, last time.Time) { r.flush(); return r.first, r.last }

// pendingName is a connect's name key and its attempts, pending[from:to].
type pendingName struct {
	key      string
	from, to int
}

// batchSize is how many attempts Add collects before it adds their figures
// (flush). Between two connects the engine reads hundreds of packets,
// which evict the rollup's code and data from the CPU's caches: adding a
// batch at once runs that code, and touches the groups' and servers'
// figures, while they are in the caches. On the bench capture (6,032
// connects among 1.2 M packets) the rollup's CPU time per connect went
// down by about a seventh with 1,024 (less with 256, not measurably with
// 64). The pending figures take 400 bytes an attempt: a full batch about
// 410 KB, made at the first attempt, its pages touched as it fills.
const batchSize = 1024

// Add takes connect number n (its number in the run). r keeps nothing of
// c but its attempts' figures; it reports whether one of c's attempts is
// now among a failing group's worst examples (a renderer that prints
// examples keeps c then; see ExampleNumbers).
//
// Add makes the attempts' groups and decides a failing group's examples at
// once; the rest of their figures (counts, sets, sketches, the time view,
// the patterns' state) are added batchSize attempts at a time, in the
// order they came (flush), or when an accessor of r is called: the result
// is that of adding them one by one.
func (r *Rollup) Add(n int, c *analyze.Connect) (example bool) {
	return r.addConnect(n, c, true)
}

// AddFigures is Add for a caller that keeps no examples (it does not ask
// whether c is one): the attempts' groups are made and their examples
// decided with the rest of their figures, in the batch (see Add), where
// the groups are still in the CPU's caches from the attempts before. In
// the order the attempts came, as Add would: the groups, examples and
// every figure are those Add gives. A Rollup is given its connects by
// one of the two, Add or AddFigures.
func (r *Rollup) AddFigures(n int, c *analyze.Connect) {
	r.addConnect(n, c, false)
}

// addConnect is Add; with now false the attempts' groups are left for
// flush (an obs without a group).
func (r *Rollup) addConnect(n int, c *analyze.Connect, now bool) (example bool) {
	if c == nil {
		return false
	}
	r.connects++
	if len(c.Attempts) == 0 {
		o := r.next()
		*o = obs{number: n, name: c.Name, server: c.Name, port: int(c.Port), client: c.Client, process: c.Comm,
			outcome: c.Outcome, reason: c.Reason, start: c.Start, duration: c.DurationMS}
		if c.Port != 0 && c.Name != "" {
			o.server = r.nameKey(c.Name, int(c.Port))
		}
		o.end = c.Start.Add(msDur(c.DurationMS))
		r.attempts++
		if now {
			example = r.add(o)
		}
		// No attempt: nothing for address_always_fails (detector.connect).
		r.flushIfFull()
		return example
	}
	from := len(r.pending)
	label, labelPort := "", -1 // name:port, made once per connect
	for _, a := range c.Attempts {
		if a == nil {
			continue
		}
		o := r.next()
		observe(o, n, c, a)
		if o.name != "" && o.port >= 0 {
			if o.port != labelPort {
				label, labelPort = r.nameKey(o.name, o.port), o.port
			}
			o.label = label
		}
		r.attempts++
		if now && r.add(o) {
			example = true
		}
	}
	if c.Name != "" {
		r.names = append(r.names, pendingName{key: r.nameKey(c.Name, int(c.Port)), from: from, to: len(r.pending)})
	}
	r.flushIfFull()
	return example
}

func (r *Rollup) flushIfFull() {
	if len(r.pending) >= batchSize {
		r.flush()
	}
}

// flush adds the figures of the pending attempts, in order, then the
// pending connects' verdicts per name (address_always_fails), in order:
// only detector.connect reads or writes the names' state, so doing them
// after the batch's attempts gives what doing each after its own
// attempts gave.
func (r *Rollup) flush() {
	// The client/server pairs' stats first, all of them: thousands of
	// pairs, met in no order, are mostly out of the CPU's caches, and
	// independent look-ups one after the other wait for memory together,
	// not each in turn between the rest of an attempt's figures. Pairs
	// are made in the attempts' order, as apply would make them.
	for i := range r.pending {
		o := &r.pending[i]
		if o.group == nil { // (AddFigures)
			r.add(o)
		}
		o.pair = r.patterns.pairOf(o)
	}
	r.patterns.touchPairs(r.pending)
	for i := range r.pending {
		r.apply(&r.pending[i])
	}
	for _, pn := range r.names {
		r.patterns.connect(pn.key, r.pending[pn.from:pn.to])
	}
	clear(r.pending) // drop the strings (they belong to the connects)
	r.pending = r.pending[:0]
	clear(r.names)
	r.names = r.names[:0]
}

// nameKey is joinHostPort(name, port), made once for a run of connects to
// one name and port.
func (r *Rollup) nameKey(name string, port int) string {
	if r.lastNameKey == "" || name != r.lastName || port != r.lastNamePort {
		r.lastName, r.lastNamePort, r.lastNameKey = name, port, joinHostPort(name, port)
	}
	return r.lastNameKey
}

// ExampleNumbers calls fn with the number of every worst example of a
// failing group.
func (r *Rollup) ExampleNumbers(fn func(n int)) {
	for _, g := range r.Groups() {
		if g.Failed() || g.Other {
			for _, ex := range g.Examples {
				fn(ex.Number)
			}
		}
	}
}

func msDur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// hostStar is "host:*" ("[v6]:*"): every port of host.
func hostStar(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:*"
	}
	return host + ":*"
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// splitEndpoint splits "ip:port" / "[v6]:port" as the engine writes them
// (port -1 for a unix socket path or a bare name). It does not allocate.
func splitEndpoint(s string) (string, int) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || strings.HasPrefix(s, "/") {
		return s, -1
	}
	port := 0
	for j := i + 1; j < len(s); j++ { // bytes, not runes: a non-ASCII byte is no digit either
		c := s[j]
		if c < '0' || c > '9' || port > 65535 {
			return s, -1
		}
		port = port*10 + int(c-'0')
	}
	if port > 65535 {
		return s, -1
	}
	host := s[:i]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host[1 : len(host)-1], port
	}
	if strings.Contains(host, ":") {
		return s, -1 // a bare IPv6 address, no port
	}
	return host, port
}

// observe fills o (a zero obs: see next) with what the rollup reads from attempt a
// of connect number n.
func observe(o *obs, n int, c *analyze.Connect, a *analyze.Attempt) {
	// Field by field: o is zero, and a composite literal would be built
	// whole and copied.
	o.number, o.name, o.server, o.outcome, o.reason = n, c.Name, a.Server, a.Outcome, a.Reason
	o.start, o.syns, o.duration = a.Start, a.SYNCount, a.DurationMS
	if a.RTTMS != nil { // a value, not the pointer: a recycled attempt's memory is reused (analyze.Options.Recycle)
		o.rtt, o.hasRTT = *a.RTTMS, true
	}
	o.host, o.port = splitEndpoint(a.Server)
	o.client, _ = splitEndpoint(a.Client)
	if o.client == "" {
		o.client = c.Client
	}
	o.process = a.Comm
	if o.process == "" {
		o.process = c.Comm
	}
	o.end = a.Start.Add(msDur(a.DurationMS))
	if a.App != nil {
		o.proto = string(a.App.Protocol)
	}
	if a.Facts != nil {
		// The protocols' facts, by their stable JSON keys.
		for _, f := range a.Facts.App {
			switch v := f.Value.(type) {
			case uint16:
				if f.Key == "mysql_error" {
					o.mysqlErr = v
				}
			case int:
				if f.Key == "mysql_error" && v > 0 && v < 1<<16 {
					o.mysqlErr = uint16(v)
				}
			case string:
				if f.Key == "sqlstate" {
					o.sqlState = v
				}
			}
		}
	}
	at := func(e *analyze.Event) time.Time {
		if !e.Time.IsZero() {
			return e.Time
		}
		return a.Start.Add(msDur(e.TMS))
	}
	for i := range a.Events {
		e := &a.Events[i] // by pointer: an Event is 184 bytes
		switch e.Kind {
		case analyze.EvSYNACK:
			if o.synAck.IsZero() {
				o.synAck = at(e)
				o.connect = float64(o.synAck.Sub(a.Start)) / float64(time.Millisecond)
				o.hasConnect = true
			}
		case analyze.EvFIN, analyze.EvRST, analyze.EvClientGaveUp:
			if !o.synAck.IsZero() && o.closed.IsZero() {
				o.closed = at(e)
			}
			if o.firstAt.IsZero() && e.Dir != analyze.DirS2C {
				o.gaveUp = true
			}
		case analyze.EvServerData, analyze.EvGreeting, analyze.EvMySQLErr, analyze.EvPGError, analyze.EvSSLAnswer, analyze.EvTLSServerHello:
			if o.firstAt.IsZero() {
				o.firstAt = at(e)
			}
		case analyze.EvLogin:
			o.login = true
		}
	}
	o.aborted = !o.login && !o.synAck.IsZero() && o.mysqlErr == 0 && a.Facts != nil && a.Facts.ClosedBy == "client"
	switch {
	case a.GreetingDelayMS != nil:
		o.firstByte, o.hasFirst = *a.GreetingDelayMS, true
	case a.ServerResponseMS != nil:
		o.firstByte, o.hasFirst = *a.ServerResponseMS, true
	}
}

// label is the part of o's group key GroupBy chooses: its server (name:port
// when the name is known), client or process ("-" when unknown); "" by
// outcome.
func (r *Rollup) label(o *obs) string {
	switch r.opt.GroupBy {
	case ByClient:
		return o.client
	case ByProcess:
		if o.process == "" {
			return "-"
		}
		return o.process
	case ByOutcome:
		return ""
	}
	if o.label != "" {
		return o.label
	}
	return o.server
}

// key is the Key of a group of label (see label), outcome and reason.
func (r *Rollup) key(label string, o *obs) Key {
	k := Key{Outcome: o.outcome, Reason: o.reason.String()}
	switch r.opt.GroupBy {
	case ByClient:
		k.Client = label
	case ByProcess:
		k.Process = label
	case ByOutcome:
	default:
		k.Server = label
	}
	return k
}

// add finds (or makes) o's group and decides o's example when the group
// is a failing one or "other" (what Add reports); o is already queued for
// flush (made by next: the last of pending for Add, any for flush).
func (r *Rollup) add(o *obs) (example bool) {
	label := r.label(o)
	var g *Group
	if r.lastGroup != nil && r.lastOutcome == o.outcome && r.lastReason == o.reason && r.lastLabel == label {
		g = r.lastGroup // attempts come in runs to one server: no hashing
	} else {
		for _, x := range r.groups[label] {
			if x.outcome == o.outcome && x.reason == o.reason {
				g = x.g
				break
			}
		}
		if g == nil && len(r.order) < r.opt.MaxGroups {
			g = &Group{Key: r.key(label, o)}
			r.groups[label] = append(r.groups[label], groupRef{o.outcome, o.reason, g})
			r.order = append(r.order, g)
		}
		if g != nil {
			r.lastGroup, r.lastLabel, r.lastOutcome, r.lastReason = g, label, o.outcome, o.reason
		}
	}
	if g == nil {
		if r.other == nil {
			r.other = &Group{Other: true}
		}
		g = r.other
	}
	o.group = g
	if g.Failed() || g.Other {
		example = g.addExample(Example{Number: o.number, DurationMS: o.duration}, r.opt.Examples)
		o.exampled = true
	}
	return example
}

// next is a new zero obs at the end of pending, for Add to fill in place
// and give to add: an obs is 400 bytes, and made in place it is not
// copied from the stack into the batch.
func (r *Rollup) next() *obs {
	if r.pending == nil {
		// The whole batch at once, not grown by doubling (which copies and
		// touches twice the memory); its pages are touched as it fills.
		r.pending = make([]obs, 0, batchSize)
	}
	if n := len(r.pending); n < cap(r.pending) {
		// Past len the batch is zero (new, or cleared by flush): no
		// zeroing again.
		r.pending = r.pending[:n+1]
	} else {
		r.pending = append(r.pending, obs{}) // a connect of many attempts
	}
	return &r.pending[len(r.pending)-1]
}

// apply adds the figures of o, a pending attempt (attempts in the order
// they came).
func (r *Rollup) apply(o *obs) {
	r.countOutcome(o.outcome)
	if !o.start.IsZero() {
		if r.first.IsZero() || o.start.Before(r.first) {
			r.first = o.start
		}
		if o.start.After(r.last) {
			r.last = o.start
		}
	}
	g := o.group
	g.Count++
	g.Clients.add(o.client)
	g.Processes.add(o.process)
	g.Addresses.add(o.server)
	if !o.start.IsZero() {
		if g.First.IsZero() || o.start.Before(g.First) {
			g.First = o.start
		}
		if o.start.After(g.Last) {
			g.Last = o.start
		}
	}
	g.SYNs[min(o.syns, 3)]++
	if o.hasRTT {
		g.RTT.Add(o.rtt)
	}
	if o.hasConnect {
		g.Connect.Add(o.connect)
	}
	if o.hasFirst {
		g.FirstByte.Add(o.firstByte)
	}
	if !o.exampled {
		g.addExample(Example{Number: o.number, DurationMS: o.duration}, r.opt.Examples)
	}
	r.time.add(o)
	r.patterns.attempt(o)
}

// countOutcome counts an attempt row of outcome o.
func (r *Rollup) countOutcome(o analyze.Outcome) {
	for i := range r.outcomes {
		if r.outcomes[i].o == o {
			r.outcomes[i].n++
			return
		}
	}
	r.outcomes = append(r.outcomes, ocount{o, 1})
}

// Groups returns the groups: failures first (a rare failure must not hide
// below many successful groups), each part largest first, ties by key; the
// "other" group last. It does not change r (but adds the pending attempts'
// figures).
func (r *Rollup) Groups() []*Group {
	r.flush()
	out := slices.Clone(r.order)
	sortGroups(out)
	if r.other != nil {
		out = append(out, r.other)
	}
	return out
}

func sortGroups(gs []*Group) {
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.Failed() != b.Failed() {
			return a.Failed()
		}
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return compareKeys(a.Key, b.Key) < 0
	})
}

// compareKeys orders keys by server, client, process, outcome and reason:
// the order of their fields joined by NUL bytes, without joining them (a
// sort compares each group many times).
func compareKeys(a, b Key) int {
	if c := strings.Compare(a.Server, b.Server); c != 0 {
		return c
	}
	if c := strings.Compare(a.Client, b.Client); c != 0 {
		return c
	}
	if c := strings.Compare(a.Process, b.Process); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Outcome), string(b.Outcome)); c != 0 {
		return c
	}
	return strings.Compare(a.Reason, b.Reason)
}

// Fold merges, for rendering, the groups (by server) that differ only in
// the port of one host when at least minPorts ports of that host share an
// outcome and reason — a port scan's hundreds of one-attempt groups become
// one "host:*" row with Ports set. Groups of fewer ports, and groups by
// name, are returned as they are. The input is not changed.
func Fold(gs []*Group, minPorts, examples int) []*Group {
	type fk struct {
		host    string
		outcome analyze.Outcome
		reason  string
	}
	byHost := map[fk][]*Group{}
	for _, g := range gs {
		if g.Other || g.Server == "" {
			continue
		}
		host, port := splitEndpoint(g.Server)
		if port < 0 || host == g.Server {
			continue
		}
		if _, err := netip.ParseAddr(host); err != nil {
			continue // a name: keep its rows
		}
		k := fk{host, g.Outcome, g.Reason}
		byHost[k] = append(byHost[k], g)
	}
	folded := map[*Group]*Group{} // first member → merged group
	skip := map[*Group]bool{}
	for k, members := range byHost {
		if len(members) < minPorts {
			continue
		}
		m := &Group{Key: Key{Server: hostStar(k.host), Outcome: k.outcome, Reason: k.reason}, Ports: len(members)}
		for _, g := range members {
			m.merge(g, examples)
			skip[g] = true
		}
		folded[members[0]] = m
	}
	if len(folded) == 0 {
		return gs
	}
	var out []*Group
	var other *Group
	for _, g := range gs {
		if m, ok := folded[g]; ok {
			out = append(out, m)
			continue
		}
		if skip[g] {
			continue
		}
		if g.Other {
			other = g
			continue
		}
		out = append(out, g)
	}
	sortGroups(out)
	if other != nil {
		out = append(out, other)
	}
	return out
}
