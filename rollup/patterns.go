package rollup

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/connscope/connscope/analyze"
)

// Pattern ids: stable, documented in the README; consumers match on them.
const (
	// AcceptBacklog: handshakes to one server completed (often only after
	// SYN retransmits) but the server's first bytes came late, spread out
	// one after the other: the application is not accepting fast enough.
	AcceptBacklog = "accept_backlog"
	// SYNLoss: a share of attempts to one server needed SYN retransmits
	// while the others were answered at once and first bytes came
	// promptly: a lossy or rate-limiting path, not the server application.
	SYNLoss = "syn_loss"
	// TooManyConnections: the server refused logins with MySQL 1040 or
	// PostgreSQL 53300.
	TooManyConnections = "too_many_connections"
	// HostBlocked: MySQL 1129 (host blocked after aborted connects).
	HostBlocked = "host_blocked"
	// AddressAlwaysFails: one address of a name failed in every connect
	// that tried it while another address of the name worked.
	AddressAlwaysFails = "address_always_fails"
	// PortScan: one client, many distinct ports of one host refused.
	PortScan = "port_scan"
	// RetryStorm: one client reconnecting to one server at a high rate
	// right after failures.
	RetryStorm = "retry_storm"
	// EphemeralPorts: one client address used a large share of its local
	// port range towards one server endpoint within the TIME_WAIT window,
	// or connect() failed with EADDRNOTAVAIL (no free local port).
	EphemeralPorts = "ephemeral_ports"
)

// Thresholds of the detectors (facts, so the renderers can say them).
const (
	minServerAttempts   = 5               // accept_backlog, syn_loss: attempts to the server
	lateFirstByteMS     = 100.0           // first bytes later than this are "late"
	backlogLateShare    = 0.5             // accept_backlog: share of handshakes with late (or no) first bytes
	backlogRetransShare = 0.2             // accept_backlog: share of handshakes after a SYN retransmit…
	backlogSpread       = 3.0             // …or first-byte p90 ≥ this × p10 (served one by one)
	synLossMinAttempts  = 2               // syn_loss: attempts needing a retransmit
	synLossMinShare     = 0.03            // syn_loss: their least share
	synLossPromptShare  = 0.5             // syn_loss: share answered by the first SYN
	scanMinPorts        = 10              // port_scan: distinct ports refused
	stormMinRetries     = 10              // retry_storm: failed attempts right after a failure
	stormRetryWithin    = 5 * time.Second // …"right after": within this of the failure's end
	stormMinRate        = 1.0             // …per second over the storm's span
	stormMinSpan        = 2 * time.Second // …lasting at least this long (a burst of many clients that fail at once is not one client retrying)
	maxPatternNumbers   = 20              // attempt numbers kept per pattern
	maxServersFollowed  = 1000            // servers followed for patterns
	maxPairsFollowed    = 4096            // client/server (or client/host) pairs followed
	maxNamesFollowed    = 256             // names followed for address_always_fails
	maxArrivals         = 512             // first-byte arrival times kept per server
	timeWaitSeconds     = 60              // ephemeral_ports: Linux's TIME_WAIT (TCP_TIMEWAIT_LEN), the window a closed connection holds its local port
	ephemeralShare      = 0.5             // ephemeral_ports: share of the port range used in one window
	ephemeralMinPorts   = 4               // …and at least this many attempts
)

// DefaultPortRange is Linux's default net.ipv4.ip_local_port_range, what
// ephemeral_ports assumes when Options.PortRange is not set.
var DefaultPortRange = [2]int{32768, 60999}

// Facts are the numbers behind a pattern; a field is set when it applies.
type Facts struct {
	Attempts         int        `json:"attempts"`                        // attempts the pattern looked at
	Connected        int        `json:"connected,omitempty"`             // of them, handshakes completed
	SYNRetransmitted int        `json:"syn_retransmitted,omitempty"`     // needed 2 or more SYNs
	SYNs3Plus        int        `json:"syns_3_plus,omitempty"`           // needed 3 or more
	FirstSYN         int        `json:"first_syn,omitempty"`             // answered at the first SYN
	LateFirstBytes   int        `json:"late_first_bytes,omitempty"`      // first bytes ≥ 100 ms, or none before the client gave up
	FirstByte        *Quantiles `json:"first_byte,omitempty"`            // greeting delay / server response
	RetransConnect   *Quantiles `json:"retransmitted_connect,omitempty"` // first SYN to SYN-ACK of the attempts that needed a retransmit
	RTT              *Quantiles `json:"rtt,omitempty"`
	ArrivalGapMS     *float64   `json:"arrival_gap_ms,omitempty"` // median gap between consecutive first-byte arrivals
	Failures         int        `json:"failures,omitempty"`
	Ports            int        `json:"ports,omitempty"`            // distinct ports (port_scan)
	SpanMS           float64    `json:"span_ms"`                    // first to last attempt start
	Retries          int        `json:"retries,omitempty"`          // failed attempts within 5 s after a failed one (retry_storm)
	RatePerS         float64    `json:"rate_per_s,omitempty"`       // retries per second over the span
	ErrorCode        string     `json:"error_code,omitempty"`       // "1040", "53300", "1129"
	PeakEstablished  int        `json:"peak_established,omitempty"` // too_many_connections: most connections open in one interval then (lower bound)
	Address          string     `json:"address,omitempty"`          // address_always_fails: the failing address
	Outcome          string     `json:"outcome,omitempty"`          // its outcome (the most frequent)
	Working          []string   `json:"working,omitempty"`          // the name's addresses that worked
	Connects         int        `json:"connects,omitempty"`         // connects that tried the address
	Cost             *Quantiles `json:"cost,omitempty"`             // time each connect lost to it
	Name             string     `json:"name,omitempty"`
	PortsInWindow    int        `json:"ports_in_window,omitempty"`    // ephemeral_ports: most attempts (each its own local port) in one TIME_WAIT window
	PortRange        string     `json:"port_range,omitempty"`         // ephemeral_ports: the local port range, "first-last"
	PortRangeAssumed bool       `json:"port_range_assumed,omitempty"` // …Linux's default, not read from the traced host
	NoLocalPort      int        `json:"no_local_port,omitempty"`      // ephemeral_ports: connects that failed with EADDRNOTAVAIL
	// host_blocked: attempts from the client that completed the handshake
	// and were closed by the client without a login (aborted handshakes,
	// which the server counts towards max_connect_errors), since its last
	// successful login and before the first 1129; their numbers (at most 20).
	Aborted        int   `json:"aborted,omitempty"`
	AbortedNumbers []int `json:"aborted_attempts,omitempty"`
	// Listen: accept_backlog, live: the traced namespace's listen queue
	// counters over the trace, when they show drops (WithListenCounters).
	Listen *analyze.ListenCounters `json:"listen_counters,omitempty"`
}

// WithListenCounters ties the traced namespace's listen queue counters
// (analyze.Summary.Listen, live) to the accept_backlog patterns when they
// show connections a listener turned away: the kernel's own count of what
// the pattern infers. ps is modified in place and returned.
func WithListenCounters(ps []Pattern, c *analyze.ListenCounters) []Pattern {
	if !c.Dropped() {
		return ps
	}
	for i := range ps {
		if ps[i].ID == AcceptBacklog {
			cp := *c
			ps[i].Facts.Listen = &cp
		}
	}
	return ps
}

// Pattern is a finding over many attempts.
type Pattern struct {
	ID     string `json:"id"`
	Server string `json:"server,omitempty"` // endpoint, "host:*" (port_scan), or name:port (address_always_fails)
	Client string `json:"client,omitempty"` // client address (port_scan, retry_storm, host_blocked)
	// Numbers are connect numbers of attempts in the pattern (at most 20,
	// the first seen); More says that there were more.
	Numbers []int     `json:"attempts"`
	More    bool      `json:"attempts_more,omitempty"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Facts   Facts     `json:"facts"`
	// Protocol is the registered key (e.g. "mysql") of the application
	// protocol the server's attempts spoke, "" when none was recognised:
	// the protocol adds its own settings to the pattern's causes.
	Protocol string `json:"protocol,omitempty"`
}

type numbers struct {
	v    []int
	more bool // numbers were left out (more than maxPatternNumbers)
	// unordered: a number was added below the last one. Until then v is
	// ascending (connects come in number order), and a number above the
	// last is new without a search.
	unordered bool
}

func (n *numbers) add(x int) {
	if n.more {
		return // full: nothing can change (and v need not be read)
	}
	if k := len(n.v); k > 0 && (n.unordered || x <= n.v[k-1]) {
		if slices.Contains(n.v, x) {
			return
		}
		n.unordered = true // (x is below the last: it was not equal)
	}
	if len(n.v) >= maxPatternNumbers {
		n.more = true
		return
	}
	if n.v == nil {
		n.v = make([]int, 0, 4) // most lists are short: one allocation, not three
	}
	n.v = append(n.v, x)
}

type span struct{ first, last time.Time }

func (s *span) add(t time.Time) {
	if t.IsZero() {
		return
	}
	if s.first.IsZero() || t.Before(s.first) {
		s.first = t
	}
	if t.After(s.last) {
		s.last = t
	}
}

func (s span) ms() float64 { return float64(s.last.Sub(s.first)) / float64(time.Millisecond) }

// serverStats are per server endpoint, for accept_backlog, syn_loss and
// too_many_connections.
type serverStats struct {
	proto                                                  string // the first application protocol key seen
	attempts, connected, retrans, retrans3, firstSYN, late int
	firstByte, retransConnect, rtt                         Sketch
	arrivals                                               []time.Time
	nums                                                   numbers
	retransNums                                            numbers
	when                                                   span

	tooMany     int
	tooManyCode string
	tooManyNums numbers
	tooManyWhen span
}

type pairKey struct{ client, server string }

// pairBytes is a pair's key held in the pairs map itself: the lengths of
// the client and the server, then their bytes (zero-padded). Most keys
// fit (an IPv4 client and server take at most 36 bytes); finding a pair
// then hashes and compares bytes in the map's own memory, not two strings
// lying wherever the pair's first connect was, which on the bench capture
// (1,876 pairs, met in no order) were cache misses on most attempts.
// Longer keys go to detector.longPairs.
type pairBytes [48]byte

// bytesOf is the pairBytes of client and server, false when they do not fit.
func bytesOf(client, server string) (k pairBytes, ok bool) {
	if 2+len(client)+len(server) > len(k) {
		return k, false
	}
	k[0], k[1] = byte(len(client)), byte(len(server))
	copy(k[2+copy(k[2:], client):], server)
	return k, true
}

// pairStats are per client address and server. The fields every attempt
// updates come first, together.
type pairStats struct {
	attempts int
	// rare is what few pairs ever see (host_blocked, EADDRNOTAVAIL):
	// allocated when first needed, so that the many pairs stay small.
	rare *pairRare
	// ephemeral_ports: the attempts in the TIME_WAIT window ending at
	// second winSec, their number and its peak. While they are at most
	// maxRecent (most pairs: a few attempts a minute), each is its second
	// in recent, as the seconds before winSec; beyond that they are
	// counted per second in a ring (win, made then).
	win     *[timeWaitSeconds]uint32
	winSec  int64
	winSum  int
	winPeak int
	recent  [maxRecent]uint8
	when    span
	winNums numbers

	failures, retries int
	lastFailEnd       time.Time
	nums              numbers
	retryWhen         span
	winPeakAt         time.Time
	key               pairKey
}

// pairRare is the part of pairStats few pairs need.
type pairRare struct {
	blocked   int
	blockNums numbers
	blockWhen span
	// host_blocked: aborted handshakes since the last login (the run the
	// server counts), and that run frozen at the first 1129
	abortRun, aborted       int
	abortRunNums, abortNums numbers
	noPort                  int
	noPortNums              numbers
	noPortWhen              span
}

func (p *pairStats) rareStats() *pairRare {
	if p.rare == nil {
		p.rare = new(pairRare)
	}
	return p.rare
}

// scanStats are per client and host, for port_scan: the distinct
// refused ports.
type scanStats struct {
	scanPorts []uint16
	scanBits  []uint64
	scanN     int
	scanNums  numbers
	scanWhen  span
}

// maxRecent is how many attempts a pair's TIME_WAIT window holds before
// they are counted in a ring. A ring is 240 bytes of its own, most of a
// pair's cache misses when a pair's attempts come seconds apart (on the
// bench captures, a median of 5 attempts in a pair's window, 9 at the
// 90th percentile), and moving it on cleared a slot per second passed.
const maxRecent = 16

// addWindow counts an attempt that started at t in the sliding TIME_WAIT
// window (attempts more than a window older than the newest are left out).
func (p *pairStats) addWindow(t time.Time) {
	if t.IsZero() {
		return
	}
	sec := t.Unix()
	var in bool
	if p.win != nil {
		in = p.addRing(sec)
	} else {
		in = p.addRecent(sec)
	}
	if !in {
		return
	}
	p.winSum++
	if p.winSum > p.winPeak {
		p.winPeak, p.winPeakAt = p.winSum, t
	}
}

// addRecent is addWindow's window while it has no ring: the attempts in
// it are winSum seconds, recent[:winSum], each as the seconds before
// winSec. It reports whether the attempt is in the window; the ring is
// made when a maxRecent+1st is.
func (p *pairStats) addRecent(sec int64) bool {
	switch {
	case p.winSum == 0 && p.winSec == 0:
		p.winSec = sec
	case sec >= p.winSec+timeWaitSeconds:
		p.winSum, p.winSec = 0, sec // the whole window has passed
	case sec > p.winSec:
		// The window moves on: every attempt is that much older, and
		// those a window old leave it.
		by, kept := sec-p.winSec, 0
		for _, back := range p.recent[:p.winSum] {
			if age := int64(back) + by; age < timeWaitSeconds {
				p.recent[kept] = uint8(age)
				kept++
			}
		}
		p.winSum, p.winSec = kept, sec
	case sec <= p.winSec-timeWaitSeconds:
		return false
	}
	if p.winSum < maxRecent {
		p.recent[p.winSum] = uint8(p.winSec - sec)
		return true
	}
	// One attempt too many: the ring takes over (the attempt itself is
	// counted in it here, and in winSum by addWindow).
	p.win = new([timeWaitSeconds]uint32)
	for _, back := range p.recent {
		p.win[(p.winSec-int64(back))%timeWaitSeconds]++
	}
	p.win[sec%timeWaitSeconds]++
	return true
}

// addRing is addWindow's window with its ring: attempts per second of
// the window, winSum their sum. It reports whether the attempt is in the
// window (counted in the ring here, in winSum by addWindow).
func (p *pairStats) addRing(sec int64) bool {
	switch {
	case sec >= p.winSec+timeWaitSeconds:
		// The whole window has passed: every second of it is dropped.
		*p.win = [timeWaitSeconds]uint32{}
		p.winSum, p.winSec = 0, sec
	case sec > p.winSec:
		p.leaveWindow(int((p.winSec+1)%timeWaitSeconds), int(sec-p.winSec))
		p.winSec = sec
	case sec <= p.winSec-timeWaitSeconds:
		return false
	}
	p.win[sec%timeWaitSeconds]++
	return true
}

// leaveWindow drops n seconds (fewer than a window) from the ring, from
// its slot from on: at most two runs of the ring, each summed and cleared
// in one loop, not a slot index (a division) per second.
func (p *pairStats) leaveWindow(from, n int) {
	ring := p.win[:]
	for n > 0 {
		run := ring[from:min(from+n, len(ring))]
		for _, c := range run {
			p.winSum -= int(c)
		}
		clear(run)
		n -= len(run)
		from = 0
	}
}

func (p *scanStats) addPort(port uint16) {
	if p.scanBits != nil {
		if p.scanBits[port/64]&(1<<(port%64)) == 0 {
			p.scanBits[port/64] |= 1 << (port % 64)
			p.scanN++
		}
		return
	}
	if slices.Contains(p.scanPorts, port) {
		return
	}
	if len(p.scanPorts) < 16 {
		p.scanPorts = append(p.scanPorts, port)
		p.scanN++
		return
	}
	p.scanBits = make([]uint64, 1024)
	for _, q := range p.scanPorts {
		p.scanBits[q/64] |= 1 << (q % 64)
	}
	p.scanPorts = nil
	p.addPort(port)
}

type addrStats struct {
	tried, failed, ok int
	outcomes          map[analyze.Outcome]int
	cost              Sketch
	nums              numbers
	when              span
}

type nameStats struct {
	addrs map[string]*addrStats
	order []string
}

// detector follows what the patterns need, bounded by the caps above.
type detector struct {
	servers map[string]*serverStats
	pairs   map[pairBytes]*pairStats
	// longPairs are the pairs whose key does not fit in pairBytes.
	longPairs map[pairKey]*pairStats
	hosts     map[pairKey]*scanStats // client, host: port_scan
	names     map[string]*nameStats
	// NotFollowed counts attempts whose server, pair or name came after
	// the caps were reached (not in any pattern).
	notFollowed int

	// The last server's and pair's stats (attempts come in runs).
	lastServer      string
	lastServerStats *serverStats
	lastPair        pairKey
	lastPairStats   *pairStats
	touched         int // (touchPairs)
}

func newDetector() *detector {
	return &detector{servers: map[string]*serverStats{}, pairs: map[pairBytes]*pairStats{}, longPairs: map[pairKey]*pairStats{},
		hosts: map[pairKey]*scanStats{}, names: map[string]*nameStats{}}
}

// pair is the stats of k, made when missing and fewer than
// maxPairsFollowed pairs are followed; nil when not followed.
func (d *detector) pair(k pairKey) *pairStats {
	b, short := bytesOf(k.client, k.server)
	var p *pairStats
	if short {
		p = d.pairs[b]
	} else {
		p = d.longPairs[k]
	}
	if p != nil || len(d.pairs)+len(d.longPairs) >= maxPairsFollowed {
		return p
	}
	p = &pairStats{key: k}
	if short {
		d.pairs[b] = p
	} else {
		d.longPairs[k] = p
	}
	return p
}

// pairOf is the stats of o's client and server (nil when not followed),
// made when missing (as pair).
func (d *detector) pairOf(o *obs) *pairStats {
	if o.server == "" {
		return nil // (attempt follows no pattern of it)
	}
	pk := pairKey{o.client, o.server}
	if d.lastPairStats != nil && d.lastPair == pk {
		return d.lastPairStats
	}
	p := d.pair(pk)
	if p != nil {
		d.lastPair, d.lastPairStats = pk, p
	}
	return p
}

// touchPairs reads the pending attempts' pair stats, the parts attempt
// updates, before they are added. A pair's stats are mostly out of the
// CPU's caches (thousands of pairs, met in no order) and attempt waited
// for each in turn; this loop has little else to do, so the CPU has many
// of them on the way at once and attempt then finds them in the caches.
// The sum is kept (touched) only so that the reads are not left out.
func (d *detector) touchPairs(pending []obs) {
	sum := 0
	for i := range pending {
		if p := pending[i].pair; p != nil {
			sum += p.attempts + p.failures + len(p.winNums.v)
		}
	}
	d.touched = sum
}

// eachPair calls fn with every pair followed, in no order.
func (d *detector) eachPair(fn func(p *pairStats)) {
	for _, p := range d.pairs {
		fn(p)
	}
	for _, p := range d.longPairs {
		fn(p)
	}
}

func failedOutcome(o analyze.Outcome) bool { return o != analyze.OK }

func (d *detector) attempt(o *obs) {
	if o.server == "" {
		return
	}
	// Per server (the last one cached: attempts come in runs).
	var s *serverStats
	g := o.group
	if g != nil && g.srvStats != nil && g.srvOf == o.server {
		s = g.srvStats
	} else if d.lastServerStats != nil && d.lastServer == o.server {
		s = d.lastServerStats
	} else {
		s = d.servers[o.server]
		if s == nil && len(d.servers) < maxServersFollowed {
			s = &serverStats{}
			d.servers[o.server] = s
		}
		if s != nil {
			d.lastServer, d.lastServerStats = o.server, s
		}
	}
	if s != nil && g != nil {
		g.srvOf, g.srvStats = o.server, s
	}
	if s != nil {
		if s.proto == "" {
			s.proto = o.proto
		}
		s.attempts++
		s.nums.add(o.number)
		s.when.add(o.start)
		if o.syns >= 2 {
			s.retrans++
			s.retransNums.add(o.number)
			if o.syns >= 3 {
				s.retrans3++
			}
			if o.hasConnect {
				s.retransConnect.Add(o.connect)
			}
		}
		if !o.synAck.IsZero() {
			s.connected++
			if o.syns == 1 {
				s.firstSYN++
			}
			if o.hasRTT {
				s.rtt.Add(o.rtt)
			}
			switch {
			case o.hasFirst:
				s.firstByte.Add(o.firstByte)
				if o.firstByte >= lateFirstByteMS {
					s.late++
				}
			case o.outcome == analyze.GreetingLate || o.outcome == analyze.NoGreeting:
				s.late++
			}
			if !o.firstAt.IsZero() && len(s.arrivals) < maxArrivals {
				s.arrivals = append(s.arrivals, o.firstAt)
			}
		} else if o.syns == 1 && !failedOutcome(o.outcome) {
			s.firstSYN++
		}
		code := ""
		switch {
		case o.mysqlErr == 1040:
			code = "1040"
		case o.sqlState == "53300":
			code = "53300"
		}
		if code != "" {
			s.tooMany++
			s.tooManyCode = code
			s.tooManyNums.add(o.number)
			s.tooManyWhen.add(o.start)
		}
	} else {
		d.notFollowed++
	}
	// Per client and server: retry_storm, host_blocked.
	if p := o.pair; p != nil {
		p.attempts++
		p.when.add(o.start)
		// A retry of a storm: a failed attempt that started within
		// stormRetryWithin after the end of an earlier failed one (a
		// client that reconnects and succeeds is not storming).
		if failedOutcome(o.outcome) && !p.lastFailEnd.IsZero() && !o.start.Before(p.lastFailEnd) && o.start.Sub(p.lastFailEnd) <= stormRetryWithin {
			p.retries++
			p.nums.add(o.number)
			p.retryWhen.add(o.start)
		}
		if failedOutcome(o.outcome) {
			p.failures++
			if o.end.After(p.lastFailEnd) {
				p.lastFailEnd = o.end
			}
		}
		p.addWindow(o.start)
		p.winNums.add(o.number)
		if o.outcome == analyze.NoLocalPort {
			r := p.rareStats()
			r.noPort++
			r.noPortNums.add(o.number)
			r.noPortWhen.add(o.start)
		}
		switch {
		case o.aborted:
			r := p.rareStats()
			r.abortRun++
			r.abortRunNums.add(o.number)
		case o.login && o.outcome == analyze.OK && p.rare != nil:
			// a successful login resets the server's count of the host
			p.rare.abortRun, p.rare.abortRunNums = 0, numbers{}
		}
		if o.mysqlErr == 1129 {
			r := p.rareStats()
			if r.blocked == 0 {
				r.aborted, r.abortNums = r.abortRun, r.abortRunNums
				r.abortNums.v = slices.Clone(r.abortNums.v)
			}
			r.blocked++
			r.blockNums.add(o.number)
			r.blockWhen.add(o.start)
		}
	}
	// Per client and host: port_scan.
	if o.outcome == analyze.Refused && o.port >= 0 {
		hk := pairKey{o.client, o.host}
		h := d.hosts[hk]
		if h == nil && len(d.hosts) < maxPairsFollowed {
			h = &scanStats{}
			d.hosts[hk] = h
		}
		if h != nil {
			h.addPort(uint16(o.port))
			h.scanNums.add(o.number)
			h.scanWhen.add(o.start)
		}
	}
}

// connect follows, per resolved name, how each of its addresses fared in
// a connect that had attempts (all its attempts), key being its
// name:port (address_always_fails).
func (d *detector) connect(key string, all []obs) {
	n := d.names[key]
	if n == nil {
		if len(d.names) >= maxNamesFollowed {
			return
		}
		n = &nameStats{addrs: map[string]*addrStats{}}
		d.names[key] = n
	}
	// One verdict per address per connect: ok if any attempt to it was.
	type per struct {
		ok      bool
		outcome analyze.Outcome
		cost    float64
		start   time.Time
		number  int
	}
	// Few attempts per connect: a slice, not a map.
	var seen [4]per
	pers := seen[:0]
	var addrs [4]string
	order := addrs[:0]
	for _, o := range all {
		i := slices.Index(order, o.server)
		if i < 0 {
			pers = append(pers, per{start: o.start, number: o.number})
			order = append(order, o.server)
			i = len(order) - 1
		}
		p := &pers[i]
		if !failedOutcome(o.outcome) {
			p.ok = true
		}
		p.outcome = o.outcome
		p.cost += o.duration
	}
	for i, addr := range order {
		p := &pers[i]
		a := n.addrs[addr]
		if a == nil {
			if len(n.addrs) >= 8 {
				continue
			}
			a = &addrStats{outcomes: map[analyze.Outcome]int{}}
			n.addrs[addr] = a
			n.order = append(n.order, addr)
		}
		a.tried++
		a.when.add(p.start)
		if p.ok {
			a.ok++
		} else {
			a.failed++
			a.outcomes[p.outcome]++
			a.cost.Add(p.cost)
			a.nums.add(p.number)
		}
	}
}

// Patterns returns the patterns found so far, in a stable order (by id,
// then server and client). It does not change r (but adds the pending
// attempts' figures).
func (r *Rollup) Patterns() []Pattern {
	r.flush()
	var out []Pattern
	d := r.patterns
	for server, s := range d.servers {
		out = append(out, serverPatterns(server, s, r.time)...)
	}
	d.eachPair(func(p *pairStats) {
		k := p.key
		if p.retries >= stormMinRetries {
			sp := p.retryWhen.ms()
			rate := float64(p.retries)
			if sp > 0 {
				rate = float64(p.retries) / (sp / 1000)
			}
			if rate >= stormMinRate && p.retryWhen.last.Sub(p.retryWhen.first) >= stormMinSpan {
				out = append(out, Pattern{ID: RetryStorm, Server: k.server, Client: k.client, Numbers: p.nums.v, More: p.nums.more,
					First: p.retryWhen.first, Last: p.retryWhen.last,
					Facts: Facts{Attempts: p.attempts, Failures: p.failures, Retries: p.retries, RatePerS: rate, SpanMS: sp}})
			}
		}
		if r := p.rare; r != nil && r.blocked > 0 {
			out = append(out, Pattern{ID: HostBlocked, Server: k.server, Client: k.client, Numbers: r.blockNums.v, More: r.blockNums.more,
				First: r.blockWhen.first, Last: r.blockWhen.last,
				Facts: Facts{Attempts: p.attempts, Failures: r.blocked, ErrorCode: "1129", SpanMS: r.blockWhen.ms(),
					Aborted: r.aborted, AbortedNumbers: r.abortNums.v}})
		}
	})
	d.eachPair(func(p *pairStats) {
		if pt, ok := ephemeralPattern(p.key, p, r.opt.PortRange); ok {
			out = append(out, pt)
		}
	})
	for k, h := range d.hosts {
		if h.scanN >= scanMinPorts {
			out = append(out, Pattern{ID: PortScan, Server: hostStar(k.server), Client: k.client, Numbers: h.scanNums.v, More: h.scanNums.more,
				First: h.scanWhen.first, Last: h.scanWhen.last,
				Facts: Facts{Attempts: h.scanN, Ports: h.scanN, SpanMS: h.scanWhen.ms()}})
		}
	}
	for name, n := range d.names {
		out = append(out, namePatterns(name, n)...)
	}
	for i := range out {
		if s := d.servers[out[i].Server]; s != nil {
			out[i].Protocol = s.proto
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if a.Server != b.Server {
			return a.Server < b.Server
		}
		return a.Client < b.Client
	})
	return out
}

func quantilesPtr(s *Sketch) *Quantiles {
	if s.Count() == 0 {
		return nil
	}
	q := s.Summary()
	return &q
}

// medianGap is the median gap between consecutive arrivals (sorted), in ms.
func medianGap(ts []time.Time) *float64 {
	if len(ts) < 3 {
		return nil
	}
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	gaps := make([]float64, 0, len(s)-1)
	for i := 1; i < len(s); i++ {
		gaps = append(gaps, float64(s[i].Sub(s[i-1]))/float64(time.Millisecond))
	}
	slices.Sort(gaps)
	m := gaps[len(gaps)/2]
	return &m
}

func serverPatterns(server string, s *serverStats, tv *TimeView) []Pattern {
	var out []Pattern
	base := Facts{Attempts: s.attempts, Connected: s.connected, SYNRetransmitted: s.retrans, SYNs3Plus: s.retrans3,
		FirstSYN: s.firstSYN, LateFirstBytes: s.late, FirstByte: quantilesPtr(&s.firstByte),
		RetransConnect: quantilesPtr(&s.retransConnect), RTT: quantilesPtr(&s.rtt), SpanMS: s.when.ms()}
	backlog := false
	if s.connected >= minServerAttempts && float64(s.late) >= backlogLateShare*float64(s.connected) {
		spread := false
		if p10, ok := s.firstByte.Quantile(0.1); ok && s.firstByte.Count() >= minServerAttempts {
			p90, _ := s.firstByte.Quantile(0.9)
			spread = p90 >= backlogSpread*p10 && p90 >= lateFirstByteMS
		}
		if float64(s.retrans) >= backlogRetransShare*float64(s.connected) || spread {
			backlog = true
			f := base
			f.ArrivalGapMS = medianGap(s.arrivals)
			out = append(out, Pattern{ID: AcceptBacklog, Server: server, Numbers: s.nums.v, More: s.nums.more, First: s.when.first, Last: s.when.last, Facts: f})
		}
	}
	if !backlog && s.attempts >= minServerAttempts && s.retrans >= synLossMinAttempts &&
		float64(s.retrans) >= synLossMinShare*float64(s.attempts) &&
		float64(s.firstSYN) >= synLossPromptShare*float64(s.attempts) &&
		float64(s.late) < backlogLateShare*float64(max(s.connected, 1)) {
		out = append(out, Pattern{ID: SYNLoss, Server: server, Numbers: s.retransNums.v, More: s.retransNums.more, First: s.when.first, Last: s.when.last, Facts: base})
	}
	if s.tooMany > 0 {
		f := Facts{Attempts: s.attempts, Failures: s.tooMany, ErrorCode: s.tooManyCode, SpanMS: s.tooManyWhen.ms(),
			PeakEstablished: tv.PeakEstablished(server, s.tooManyWhen.first, s.tooManyWhen.last)}
		out = append(out, Pattern{ID: TooManyConnections, Server: server, Numbers: s.tooManyNums.v, More: s.tooManyNums.more,
			First: s.tooManyWhen.first, Last: s.tooManyWhen.last, Facts: f})
	}
	return out
}

func namePatterns(name string, n *nameStats) []Pattern {
	var working []string
	for _, addr := range n.order {
		if n.addrs[addr].ok > 0 {
			working = append(working, addr)
		}
	}
	if len(working) == 0 {
		return nil
	}
	var out []Pattern
	for _, addr := range n.order {
		a := n.addrs[addr]
		if a.tried < 2 || a.failed != a.tried {
			continue
		}
		top, topN := analyze.Outcome(""), 0
		for _, o := range sortedOutcomes(a.outcomes) {
			if a.outcomes[o] > topN {
				top, topN = o, a.outcomes[o]
			}
		}
		out = append(out, Pattern{ID: AddressAlwaysFails, Server: name, Numbers: a.nums.v, More: a.nums.more, First: a.when.first, Last: a.when.last,
			Facts: Facts{Attempts: a.tried, Failures: a.failed, Connects: a.tried, Address: addr, Outcome: string(top),
				Working: working, Cost: quantilesPtr(&a.cost), SpanMS: a.when.ms(), Name: name}})
	}
	return out
}

// ephemeralPattern is ephemeral_ports for one client address and server
// endpoint: connects that failed with EADDRNOTAVAIL (direct evidence), or
// at least half the local port range used within one TIME_WAIT window
// (each attempt takes a local port that stays in TIME_WAIT for 60 s when
// the client closes first).
func ephemeralPattern(k pairKey, p *pairStats, portRange [2]int) (Pattern, bool) {
	assumed := portRange[0] <= 0 || portRange[1] < portRange[0]
	if assumed {
		portRange = DefaultPortRange
	}
	size := portRange[1] - portRange[0] + 1
	heavy := p.winPeak >= ephemeralMinPorts && float64(p.winPeak) >= ephemeralShare*float64(size)
	var r pairRare
	if p.rare != nil {
		r = *p.rare
	}
	if r.noPort == 0 && !heavy {
		return Pattern{}, false
	}
	pt := Pattern{ID: EphemeralPorts, Server: k.server, Client: k.client,
		Facts: Facts{Attempts: p.attempts, PortsInWindow: p.winPeak, PortRange: fmt.Sprintf("%d-%d", portRange[0], portRange[1]),
			PortRangeAssumed: assumed, NoLocalPort: r.noPort, SpanMS: p.when.ms()}}
	if r.noPort > 0 {
		pt.Numbers, pt.More, pt.First, pt.Last = r.noPortNums.v, r.noPortNums.more, r.noPortWhen.first, r.noPortWhen.last
	} else {
		pt.Numbers, pt.More, pt.First, pt.Last = p.winNums.v, p.winNums.more, p.when.first, p.winPeakAt
	}
	return pt, true
}
