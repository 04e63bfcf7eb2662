// Package proto is the interface between connscope's TCP engine (package
// analyze) and its application protocol plug-ins. The engine owns TCP,
// the two byte streams, timing and the verdict; a plug-in owns what the
// bytes mean. Each protocol is a package under analyze/ that declares one
// Protocol value; analyze registers it with one line (analyze/protocols.go).
//
// The engine asks each registered protocol to sniff a connection's first
// bytes (the server's for a server-first protocol, the client's for a
// client-first one). The first that answers Yes (or Cut) gets a Session
// for the attempt: from then on the engine hands it every new byte in
// either direction (Server, Client), tells it about closes and idleness,
// and the session emits timeline events and decides the attempt with a
// reason id through its Conn. A session that asks for TLS (StartTLS) hands
// both streams to the engine's TLS record walker.
package proto

import (
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"time"
)

// Sniff is a protocol's answer to a connection's first bytes.
type Sniff uint8

const (
	No   Sniff = iota // not this protocol
	Wait              // too few bytes to tell: ask again with more
	Yes               // this protocol
	// Cut: the capture's snap length cut the bytes before they say what
	// they are, but they may be this protocol's; the session follows what
	// it still can (typically the client's packets).
	Cut
)

// Dir is a timeline step's direction.
type Dir string

const (
	C2S Dir = "c2s"
	S2C Dir = "s2c"
)

// ReasonDef declares a reason a protocol decides with: a stable,
// namespaced id (e.g. "pg.hba_rejected"), the outcome it implies (an
// analyze.Outcome value: "rejected", "auth_failed", ...) and a one-line
// meaning (listed in the README).
type ReasonDef struct {
	ID, Outcome, Meaning string
}

// Stream is one direction's reassembled connection-phase bytes.
type Stream interface {
	// Bytes are the in-order bytes not yet consumed. The slice (and any
	// slice of it) is valid only until Consume: decode a packet before
	// consuming it.
	Bytes() []byte
	// Consume drops the first n bytes; it reuses the buffer Bytes returned
	// for the bytes after them.
	Consume(n int)
	// Partial: the bytes stop at a hole the snap length made (what
	// follows is not coming).
	Partial() bool
	// Lost: the bytes from LostAt on can no longer be placed.
	Lost() bool
	LostAt() int
	// Dead: the stream gave up buffering.
	Dead() bool
	// Lose gives up placing the bytes from the first hole on.
	Lose()
}

// Conn is what a session sees of its attempt, and how it reports.
type Conn interface {
	Server() Stream
	Client() Stream
	// Event adds a timeline step (kind: a stable id, e.g. "greeting")
	// with its facts; the report words it with the Protocol's Words.
	Event(t time.Time, kind string, dir Dir, a Attrs)
	// Msg is a copy of m for one step's Attrs.Msg, in memory the engine
	// may reuse for a later attempt once the report is done with this
	// one's: the session gives it to one Event and keeps no pointer to it
	// (a new Msg for every greeting, login and ERR was a fifth of the
	// bytes an offline analysis allocated).
	Msg(m Msg) *Msg
	// Note keeps a fact whatever the verdict (e.g. a slow greeting); the
	// report words it with the Protocol's NoteWords.
	Note(n Note)
	// Decide gives the attempt its verdict: reason is a registered id, f
	// what it rests on beside the session's Info (the report words both
	// with the Protocol's Evidence).
	Decide(reason string, t time.Time, f Finding)
	// Final: the attempt is decided.
	Final() bool
	// Abandon: the bytes are not this protocol after all; the engine
	// follows TCP only (the session stays for its facts and causes).
	Abandon()
	// StartTLS hands both streams to the engine's TLS record walker
	// (after an SSLRequest the server accepted or will answer in TLS).
	StartTLS(t time.Time)
	// MarkCut: the snap length made the server's bytes undecodable from
	// Server().LostAt() on (a fact of the verdict).
	MarkCut()
	Start() time.Time
	// HandshakeDone is when TCP counted as established.
	HandshakeDone() time.Time
	// ClientClosed is how ("FIN", "RST") and when the client closed; ""
	// when it did not.
	ClientClosed() (how string, at time.Time)
	FirstServerData() time.Time
	FirstClientData() time.Time
	// LastActivity is the attempt's last packet or kernel event.
	LastActivity() time.Time
	// ServerName is ip:port; ClientAddr the client's address.
	ServerName() string
	ClientAddr() string
	// Comm is the client process name ("" when not known: a capture
	// without process records).
	Comm() string
}

// checkOnly are programs that open a connection to look at the server's
// first bytes and close without logging in: connscope's own probe (without
// --user), telnet, netcat and the like, port scanners, HAProxy's checks.
var checkOnly = []string{"connscope", "telnet", "nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "socat", "nmap", "haproxy"}

// ChecksOnly reports whether the client process comm is known not to log
// in (see checkOnly): its hang-up after the server's first answer is no
// client-side failure (such as a TLS requirement the server did not meet).
func ChecksOnly(comm string) bool {
	for _, c := range checkOnly {
		if comm == c {
			return true
		}
	}
	return false
}

// Session follows one attempt's connection phase.
type Session interface {
	// Server: new server bytes are in Conn.Server() (final: the server
	// closed, no more will come).
	Server(t time.Time, final bool)
	// Client: new client bytes are in Conn.Client().
	Client(t time.Time)
	// AwaitingFirst: the server's first message is not complete yet.
	AwaitingFirst() bool
	// ClientClosed and ServerClosed report a close (how: "FIN" or "RST")
	// after the server spoke; they return false to leave it to the engine.
	ClientClosed(t time.Time, how string) bool
	ServerClosed(t time.Time, how string) bool
	// Idle decides an attempt that stopped producing events (closing: the
	// capture ended); false leaves it to the engine.
	Idle(now time.Time, closing bool) bool
	// Info is the protocol's facts for the report (nil for none);
	// encrypted says TLS was established.
	Info(encrypted bool) Info
}

// Finding is what a session's verdict rests on beside its reason and its
// Info: the times, the close and the place in the connection phase that
// its evidence words (Protocol.Evidence). Each reason's words say which
// fields they read; the others stay zero. Durations are exact (the words
// round them).
type Finding struct {
	// Step is where in the connection phase the verdict came: a stable id
	// of the protocol's (e.g. MySQL's "after_login").
	Step string
	// ClosedBy is the side whose close decided the attempt ("client",
	// "server"; "" when none did), Close how it closed ("FIN", "RST").
	ClosedBy, Close string
	// Delay is from the handshake to the server's first message (a
	// greeting, or an error instead of one).
	Delay time.Duration
	// Since is from the moment the verdict waited from (per reason: the
	// first SYN, the server's first message, the client's first bytes,
	// the client's give-up, the last activity) to the verdict.
	Since time.Duration
	// GaveUp is from the attempt's start to the client's close, for an
	// answer that came after it.
	GaveUp time.Duration
	// Command is the command a client sent (e.g. MySQL's "COM_QUERY").
	Command string
	// LostAt is the server stream byte from which the snap length made it
	// undecodable.
	LostAt int
	// Checker is the client process when the verdict rests on its being a
	// program that only checks the server (ChecksOnly: it hangs up after
	// the first answer), "" otherwise. Unnamed says the capture named no
	// client process, so a checker cannot be told from a real client.
	Checker string
	Unnamed bool
}

// Note is a fact a session keeps whatever the verdict: its kind (a stable
// id of the protocol's, e.g. MySQL's "greeting_slow"), a duration and a
// name where the kind has them.
type Note struct {
	Kind  string
	After time.Duration
	Name  string
}

// Client is an attempt's client as Protocol.Causes sees it. Addr is its
// address (without the port), worked out only when asked: most causes do
// not name the client, and its text costs a parse of the endpoint.
type Client interface {
	Addr() string
}

// ClientAddr is a Client of a given address (for tests and callers that
// have the address already).
type ClientAddr string

func (a ClientAddr) Addr() string { return string(a) }

// Info is what a session saw of the connection phase, for the report: a
// pointer to the protocol's struct, written in JSON (encoding/json) as an
// object under the protocol's Key. The report knows it only through
// these methods.
type Info interface {
	// Facts are the facts a verdict rests on that programs read among the
	// attempt's facts (analyze.Facts), only those set: e.g. MySQL's ERR
	// code as {"mysql_error", uint16(1045)}. Values are strings or
	// integers.
	Facts() []Fact
	// Names lists the names it holds, or that the server's messages
	// quoted, that identify people or places (users, databases,
	// applications, hosts), for redaction: each gets a pseudonym,
	// replaced wherever the report shows it.
	Names() []Name
	// Pseudonymize sets each of its fields that holds a name on its own
	// (not inside a message: the user, the database) to pseudo of that
	// name as orig holds it. orig is the same Info before redaction; the
	// receiver is its copy, whose strings redaction has already rewritten
	// as text.
	Pseudonymize(orig Info, pseudo func(Name) string)
	// Summary is a table cell's worth of it ("" for none): the column is
	// headed with the protocol's Name.
	Summary() string
}

// Fact is one fact of an Info: a JSON member of the attempt's facts.
type Fact struct {
	Key   string
	Value any // a string or an integer
}

// NameKind says what a Name names.
type NameKind uint8

const (
	User NameKind = iota + 1
	Database
	Application
	Host
)

// Name is a name an Info holds (Info.Names), for redaction.
type Name struct {
	Kind  NameKind
	Value string
}

// Protocol registers an application protocol.
type Protocol struct {
	// Name is the protocol's name in words ("MySQL").
	Name string
	// Key names its Info in the JSON report ("mysql"): a stable id.
	Key string
	// Quoted are patterns of the server messages that quote names between
	// single quotes ('user'@'host'), for redaction: the named groups
	// "user", "host" and "database" are learned as such, in the order of
	// the patterns, then of the matches.
	Quoted []*regexp.Regexp
	// ServerFirst: the server speaks first (a greeting).
	ServerFirst bool
	// Ports are its default ports: a server that speaks first with
	// something else there is a wrong_protocol finding (WrongBanner).
	Ports []uint16
	// Clients are process names (comm) of its clients.
	Clients []string
	// SocketWords: a unix socket path holding one of them is its server's.
	SocketWords []string
	// Reasons are the reasons its sessions decide with.
	Reasons []ReasonDef
	// WrongBanner is the reason when the server spoke first with
	// something else where this protocol was expected ("" for none).
	WrongBanner string
	// SniffServer looks at the server's first bytes (noMore: no more will
	// come; cut: the snap length cut them). Nil for a client-first protocol.
	// With Yes or Cut it may also return what it decoded of them (sniffed,
	// the protocol's own, opaque to the engine; nil for nothing), which the
	// engine hands to New: the session need not decode the same bytes again.
	SniffServer func(b []byte, noMore, cut bool) (how Sniff, sniffed any)
	// SniffClient looks at the client's first bytes, sent before the
	// server spoke. Nil for a server-first protocol.
	SniffClient func(b []byte) Sniff
	// New starts a session on the sniff's answer (Yes or Cut) and what
	// SniffServer returned with it (nil from SniffClient); the engine then
	// hands it the bytes that were sniffed.
	New func(c Conn, how Sniff, sniffed any) Session
	// Causes explains a verdict (by reason id: the protocol's own, or a
	// TLS reason after its hand-off) of an attempt its session decoded, in
	// the protocol's terms, from what the report holds: the session's Info
	// (as Session.Info gave it; nil if none) and the attempt's client. It
	// is called when the report is worded, never by the engine; nil leaves
	// the causes to the engine's table.
	Causes func(reason string, info Info, client Client) []string
	// Evidence words a verdict its session decided (reason: the id it gave
	// Conn.Decide; f: what it gave with it; info: the session's Info, nil
	// if none), when the report is worded, never by the engine.
	Evidence func(reason string, info Info, f *Finding) []string
	// NoteWords words a note its session kept (Conn.Note), when the
	// report is worded.
	NoteWords func(n Note) string
	// ConnCauses adds the protocol's advice to the engine's neutral causes
	// for a connection-level reason (an engine reason id such as
	// "tcp.rst_from_server", "tcp.syn_unanswered", "kernel.enoent") on an
	// attempt meant for this protocol: its server port is one of Ports, or
	// its client is one of Clients, or its unix socket path holds one of
	// SocketWords. Nil, or a nil answer: nothing to add. The caller only
	// reads the slice (it may be the same one each time).
	ConnCauses func(reason string, t Target) []string
	// Words makes the words of a timeline step the protocol's sessions
	// recorded (kind, direction and attributes whose Proto is Name), when the report
	// is rendered; the engine never calls it.
	Words func(kind string, dir Dir, a *Attrs) string
	// AppendWords, optional, appends what Words returns to b (nothing when
	// Words gives ""), for the JSON report to write a step's words into
	// its line without a string per step. Words is then AppendWords'
	// result as a string: the words are written once, in AppendWords.
	AppendWords func(b []byte, kind string, dir Dir, a *Attrs) []byte
	// PatternCauses adds the protocol's own settings and checks to an
	// incident pattern's causes (pattern: its id, e.g. "accept_backlog",
	// "too_many_connections", "host_blocked"), when the pattern's server
	// spoke this protocol; nil for none. The report calls it.
	PatternCauses func(pattern string) []string
	// AfterTimeout is a known client's verified behaviour once an address
	// timed out while more addresses were left (comm: the client process
	// name); "" when not verified for that client.
	AfterTimeout func(comm string) string
	// Servers are process names (comm) of its servers: one running with no
	// TCP listener at all (the live listener inventory) explains a refused
	// connect to its port.
	Servers []string
	// NoTCP words, as a cause, its server (who: "comm[pid]", comm one of
	// Servers) listening on unix sockets only: the setting that does it,
	// and what to do. Nil for none.
	NoTCP func(who string) string
	// Scrub, when set, says which of its client bytes a `trace -w`
	// recording keeps (what the analysis reads); without it a recording
	// keeps only the first few client bytes of its connections.
	Scrub *Scrub
}

// Target is what is known of an attempt's intended service before (or
// without) any of its bytes.
type Target struct {
	// Comm is the client process name ("" when not known).
	Comm string
	// Server is the server as ip:port ("" for a unix socket); Socket the
	// unix socket path ("" over TCP). Port reads the server's port.
	Server string
	Socket string
}

// Port is the server's port (0 for a unix socket, or a Server that is
// not ip:port): read from Server when asked, as most advice names none.
func (t Target) Port() uint16 {
	ap, err := netip.ParseAddrPort(t.Server)
	if err != nil {
		return 0
	}
	return ap.Port()
}

// Dur renders a duration for people, the one way connscope writes
// durations everywhere (analyze.FormatDuration is this function): below a
// millisecond it keeps microseconds ("0.037 ms": what a LAN round trip
// needs), above about two significant digits ("4.5 ms", "250 ms", "3.0 s").
// A negative duration (timestamps out of order) keeps its sign.
func Dur(d time.Duration) string {
	return MS(float64(d) / float64(time.Millisecond))
}

// MS is Dur for a duration in milliseconds, as the model's *_ms fields hold them.
func MS(ms float64) string {
	var buf [32]byte
	return string(AppendMS(buf[:0], ms))
}

// AppendMS appends MS(ms) to b.
func AppendMS(b []byte, ms float64) []byte {
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	// The thresholds are where the rounded value reaches the next unit, so
	// that 999.7 ms is "1.0 s", not "1000 ms".
	switch {
	case ms < 0.9995:
		b = append(appendFixed(b, ms, 3), " ms"...)
	case ms < 9.95:
		b = append(appendFixed(b, ms, 1), " ms"...)
	case ms < 999.5:
		b = append(appendFixed(b, ms, 0), " ms"...)
	default:
		b = append(appendFixed(b, ms/1000, 1), " s"...)
	}
	return b
}

var pow10 = [...]uint64{1, 10, 100, 1000}

// appendFixed is strconv.AppendFloat(b, v, 'f', prec, 64) for prec 0 to
// 3, with integer arithmetic where it can (every timeline step and most
// evidence has a duration; strconv's fixed-precision path costs several
// times more): v's exact binary value m × 2^e, times 10^prec, rounded to
// an integer half to even, as strconv rounds. That needs m × 10^prec to
// fit 64 bits (m < 2^53) and e <= 0 (v < 2^53); v negative (or -0), NaN
// and Inf go to strconv. TestAppendMSMatchesStrconv compares the two.
func appendFixed(b []byte, v float64, prec int) []byte {
	bits := math.Float64bits(v)
	exp, m := int(bits>>52), bits&(1<<52-1)
	switch {
	case exp >= 1075 || prec < 0 || prec >= len(pow10): // negative (sign bit in exp), >= 2^53, NaN, Inf
		return strconv.AppendFloat(b, v, 'f', prec, 64)
	case exp == 0: // subnormal, or 0
		exp = 1
	default:
		m |= 1 << 52
	}
	shift := uint(1075 - exp) // v = m / 2^shift
	m *= pow10[prec]
	var q uint64 // round(m / 2^shift), half to even
	if shift < 64 {
		q = m >> shift
		if shift > 0 {
			r, half := m&(1<<shift-1), uint64(1)<<(shift-1)
			if r > half || r == half && q&1 == 1 {
				q++
			}
		}
	} // else m < 2^63 <= half: q = 0
	whole, frac := q/pow10[prec], q%pow10[prec]
	b = strconv.AppendUint(b, whole, 10)
	if prec == 0 {
		return b
	}
	b = append(b, '.')
	for p := prec - 1; p >= 0; p-- {
		b = append(b, byte('0'+frac/pow10[p]%10))
	}
	return b
}
