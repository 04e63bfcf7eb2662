package analyze

import (
	"net/netip"
	"time"

	"github.com/connscope/connscope/analyze/proto"
)

// Outcome names how one attempt (or a whole connect) ended. Exactly one per attempt.
type Outcome string

const (
	OK                   Outcome = "ok"
	Refused              Outcome = "refused"
	Unreachable          Outcome = "unreachable"
	Timeout              Outcome = "timeout"
	NoGreeting           Outcome = "no_greeting"
	GreetingLate         Outcome = "greeting_late"
	ClosedBeforeGreeting Outcome = "closed_before_greeting"
	Rejected             Outcome = "rejected"
	WrongProtocol        Outcome = "wrong_protocol"
	AuthFailed           Outcome = "auth_failed"
	TLSFailed            Outcome = "tls_failed"
	Incomplete           Outcome = "incomplete"
	// Unresolved is a connect whose name resolution failed (no attempts).
	Unresolved Outcome = "unresolved"

	// Outcomes only eBPF can see (the failure never reaches the wire).
	SocketMissing    Outcome = "socket_missing"    // ENOENT on a unix socket
	PermissionDenied Outcome = "permission_denied" // EACCES / EPERM
	NoRoute          Outcome = "no_route"          // ENETUNREACH, or EHOSTUNREACH with no reply on the wire
	NoLocalPort      Outcome = "no_local_port"     // EADDRNOTAVAIL
)

// Connect is one logical connection attempt by a client: the name lookups
// that preceded it, then each address attempt in order.
type Connect struct {
	Client  string  `json:"client"`         // client IP (or "unix" / process for unix sockets)
	Name    string  `json:"name,omitempty"` // the name that was resolved, if seen
	Port    uint16  `json:"port"`
	Outcome Outcome `json:"outcome"`
	// Reason is what decided Outcome: the deciding attempt's (the last, or
	// the ok one of attempts that overlapped), or the resolution's for an
	// unresolved connect.
	Reason     Reason     `json:"reason"`
	Start      time.Time  `json:"start"`
	DurationMS float64    `json:"duration_ms"`
	Resolution []Query    `json:"resolution"`
	Attempts   []*Attempt `json:"attempts"`
	// Evidence and Causes explain Outcome in plain words (for a connect: its
	// last attempt's, or the resolution's).
	Evidence []string `json:"evidence"`
	Causes   []string `json:"causes"`
	PID      uint32   `json:"pid,omitempty"`
	built    bool     // made by the engine (buildConnect): Explain words it
	Comm     string   `json:"comm,omitempty"`
	// Resolver is what eBPF saw of the process's resolver (glibc's UDP
	// connect()s): which DNS servers and, for RFC 6724 address sorting,
	// which candidate addresses in which order. Nil without eBPF.
	Resolver *Resolver `json:"resolver,omitempty"`
	// Untried are the addresses the name resolved to that no attempt went
	// to, when the connect failed.
	Untried []string `json:"untried,omitempty"`
	// clientOfFirst: Client is the address of the first Attempt's client,
	// whose text finishConnect makes, as DurationMS from Start to endAt
	// when hasEnd is set.
	clientOfFirst, hasEnd bool
	endAt                 time.Time
}

// Resolver is resolution evidence from the kernel: glibc's resolver
// connect()s UDP sockets to the DNS server, and to each candidate address
// (sending nothing) to sort them by RFC 6724. They are never attempts.
type Resolver struct {
	Servers    []string `json:"servers,omitempty"`    // ip:port of DNS servers the process connected to
	Candidates []string `json:"candidates,omitempty"` // addresses probed for sorting, in probe order
}

// Query is one DNS question and what became of it.
type Query struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"`   // "A", "AAAA", "PTR", ...
	Server    string    `json:"server"` // ip:port of the DNS server
	Rcode     string    `json:"rcode"`  // "NOERROR", "NXDOMAIN", "SERVFAIL", ... or "" when unanswered
	Answers   []string  `json:"answers"`
	LatencyMS *float64  `json:"latency_ms"` // nil when unanswered
	Retries   int       `json:"retries"`    // queries re-sent for the same question
	Start     time.Time `json:"start"`
	// Error is what became of a query that got no DNS answer ("no answer",
	// "ICMP port unreachable from 192.0.2.53"), or "truncated" notes: words
	// the report makes from the engine's facts (Explain), like Evidence.
	Error string `json:"error,omitempty"`
	// Transport is "udp" or "tcp".
	Transport string `json:"transport"`

	// What the connect's words read beside the fields above (Explain):
	// the exact time from the question to its answer and from its first
	// send to its last, whether it got no usable answer, and whether the
	// capture cut the answer (records past the cut unknown).
	latency, retrySpan time.Duration
	failed, cut        bool
	answered           bool     // LatencyMS is latency's (finishConnect)
	err                queryErr // Error's fact
}

// Attempt is one client 5-tuple, from its first SYN (or connect() call) to its fate.
type Attempt struct {
	Client  string  `json:"client"` // ip:port, [v6]:port
	Server  string  `json:"server"` // ip:port, [v6]:port, or a unix socket path
	Outcome Outcome `json:"outcome"`
	// Reason is what decided Outcome (a stable id, see Reasons), Facts the
	// numbers and names behind it.
	Reason   Reason `json:"reason"`
	Facts    *Facts `json:"facts,omitempty"`
	SYNCount int    `json:"syn_count"`
	// Retransmits counts retransmitted segments seen while the attempt was
	// followed (SYN, SYN-ACK and connection-phase data), duplicates excluded.
	Retransmits int `json:"retransmits"`
	// RSTFrom says who sent the first RST while the attempt was followed:
	// "server", "client", or "" when none.
	RSTFrom         string    `json:"rst_from,omitempty"`
	RTTMS           *float64  `json:"rtt_ms"`
	GreetingDelayMS *float64  `json:"greeting_delay_ms"`
	DurationMS      float64   `json:"duration_ms"`
	Start           time.Time `json:"start"`
	Events          []Event   `json:"events"`
	// App is what the application protocol's decoder saw of the
	// connection phase, written in JSON as an object here, under the
	// protocol's key (see App); nil when no protocol decoded it.
	App      *App     `json:"-"`
	Evidence []string `json:"evidence"`
	Causes   []string `json:"causes"`

	// Process attribution (eBPF or pcapng comments).
	PID   uint32 `json:"pid,omitempty"`
	Comm  string `json:"comm,omitempty"`
	FD    *int32 `json:"fd,omitempty"`
	Errno string `json:"errno,omitempty"` // symbolic, e.g. "ECONNREFUSED"

	// What a protocol session's verdict rests on and the facts kept
	// whatever the verdict (with the place of the snap length fact among
	// them), for Explain (words.go).
	found    *found
	foundBuf found // what found points at (buildAttempt's copy)
	// msgs holds messages of Events (sessConn.Msg), for a later attempt
	// when this one is reused (Options.Recycle).
	msgs  []proto.Msg
	notes []note
	cutAt int

	// Which side spoke first and which part was slow (timing.go).
	// GreetingDelayMS is set only when the server spoke first;
	// ClientFirstByteMS (handshake → the client's first payload) and
	// ServerResponseMS (the client's first payload → the server's first;
	// nil when it never answered) only when the client did. Slow names
	// the part over its threshold (see SlowHandshake), nil when none was.
	ClientFirstByteMS *float64 `json:"client_first_byte_ms,omitempty"`
	ServerResponseMS  *float64 `json:"server_response_ms,omitempty"`
	Slow              *Slow    `json:"slow,omitempty"`

	// ServerSide: the attempt was seen from its server's host (live): that
	// host's kernel queued the connection for accept(), retransmitted its
	// SYN-ACK, or sent a RST from the server's address, and a process there
	// accepted it or not. The client may be on the same host.
	ServerSide bool `json:"server_side,omitempty"`

	// unfinished: the steps' offsets and order, the client's text when
	// clientAddr is valid, App when appOf is set, and RTTMS when hasRTT is
	// are still to be made (finishConnect).
	unfinished bool
	clientAddr netip.AddrPort
	appOf      *proto.Protocol
	appInfo    proto.Info
	hasRTT     bool          // RTTMS is rtt's
	rtt        time.Duration // (finishAttempt)
	delays     attemptDelays // the delays' *MS (timing)
}

// Event is one step of an attempt's timeline: its kind, direction, time
// and facts (EventAttrs, flattened into its JSON object). The engine
// records no words: What is empty in what analyze reports, and the report
// fills it when it renders (report/eventwords.go), e.g. "SYN retransmit #2
// (+2.0 s)", "ICMP port unreachable (type 3 code 3) from 10.0.0.1".
type Event struct {
	TMS  float64   `json:"t_ms"` // milliseconds since the attempt (or connect) started
	Kind EventKind `json:"kind"` // what happened, as a stable id
	Dir  Dir       `json:"dir,omitempty"`
	What string    `json:"what"` // the step in words: set by the report only
	Time time.Time `json:"-"`
	EventAttrs
}

// EventAttrs are a timeline step's facts (see proto.Attrs for each field's
// meaning and JSON key).
type EventAttrs = proto.Attrs

// EventKind is a timeline step's kind, a stable id.
type EventKind string

const (
	EvSYN            EventKind = "syn"
	EvSYNData        EventKind = "syn_data" // TCP Fast Open data on the SYN
	EvSYNRetransmit  EventKind = "syn_retransmit"
	EvSYNACK         EventKind = "syn_ack"
	EvSYNACKRetrans  EventKind = "syn_ack_retransmit"
	EvRST            EventKind = "rst"
	EvFIN            EventKind = "fin"
	EvICMPError      EventKind = "icmp_error"
	EvClientData     EventKind = "client_data"
	EvServerData     EventKind = "server_data"
	EvClientGaveUp   EventKind = "client_gave_up" // moved on to the next address
	EvKernelConnect  EventKind = "kernel_connect" // connect() returned
	EvKernelState    EventKind = "kernel_state"
	EvKernelError    EventKind = "kernel_error"
	EvKernelRetrans  EventKind = "kernel_retransmit"
	EvKernelRST      EventKind = "kernel_rst"
	EvDNSQuery       EventKind = "dns_query"
	EvDNSAnswer      EventKind = "dns_answer"
	EvGreeting       EventKind = "greeting"
	EvMySQLErr       EventKind = "mysql_err"
	EvMySQLOK        EventKind = "mysql_ok" // an OK outside the login (unexpected)
	EvLogin          EventKind = "login"    // HandshakeResponse
	EvLoginOK        EventKind = "login_ok"
	EvAuthSwitch     EventKind = "auth_switch"
	EvAuthMoreData   EventKind = "auth_more_data"
	EvCommand        EventKind = "command"
	EvSSLRequest     EventKind = "ssl_request"
	EvSSLAnswer      EventKind = "ssl_answer"   // PostgreSQL: the server's 'S' or 'N'
	EvAuthRequest    EventKind = "auth_request" // PostgreSQL: the server asks for a password (or SASL)
	EvAuthOK         EventKind = "auth_ok"      // PostgreSQL: AuthenticationOk
	EvPGError        EventKind = "pg_error"     // PostgreSQL: ErrorResponse
	EvTLSClientHello EventKind = "tls_client_hello"
	EvTLSServerHello EventKind = "tls_server_hello"
	EvTLSAlert       EventKind = "tls_alert"
	EvTLSEstablished EventKind = "tls_established"
	EvNotDecoded     EventKind = "not_decoded" // bytes that stop the decoding (cut, malformed, not the protocol)
	EvTruncated      EventKind = "truncated"   // further events not recorded
)

// The timeline kinds of a traced host's kernel drops (drop.go) and of the
// server's side (server.go).
const (
	EvKernelDrop      EventKind = "kernel_drop"      // the traced host's kernel dropped a handshake packet
	EvServerHandshake EventKind = "server_handshake" // the server's kernel completed the handshake: queued for accept()
	EvAccepted        EventKind = "accepted"         // a server process accept()ed the connection
	// The server's kernel sent its SYN-ACK again (N: the retransmit's
	// number; Addr: the client).
	EvKernelSYNACKRetrans EventKind = "kernel_syn_ack_retransmit"
	// This host's kernel sent a RST (Addr: to whom; rst_reason: why;
	// packet: the segment it answered, or note "aborted").
	EvKernelRSTSent EventKind = "kernel_rst_sent"
)

// The notes (EventAttrs.Note) of the engine's steps: which situation of
// its kind a step is. Each is a stable id; the kinds it applies to are in
// brackets.
const (
	NoteAfterVerdict      = "after_verdict"        // came after the attempt was decided [syn_retransmit, syn_ack, server_data]
	NoteAfterSYNACK       = "after_syn_ack"        // the SYN-ACK was already seen: it was lost on the way back [syn_retransmit]
	NoteAnswersBanner     = "answers_banner"       // the client answered a server no protocol recognised [client_data]
	NoteClientFirst       = "client_first"         // the client spoke first, which no server-first protocol's client does [client_data]
	NoteAfterClientGaveUp = "after_client_gave_up" // the server's first bytes or close came after the client had closed [server_data, fin, rst]
	NoteNotExpected       = "not_expected"         // the server spoke first with something else than Expected [server_data]
	NoteOtherProtocol     = "other_protocol"       // the server spoke first, no registered protocol [server_data]
	NoteAnswersClient     = "answers_client"       // the server's first bytes answer the client's [server_data]
	NoteNotTLS            = "not_tls"              // the bytes after an SSLRequest are not TLS records [not_decoded]
	NoteBannerUnanswered  = "banner_unanswered"    // the client never answered the server's unrecognised first bytes [fin, rst]
	NoteBeforeReply       = "before_reply"         // the client closed before any reply to its SYN [fin, rst]
	NoteAnswersSYNACK     = "answers_syn_ack"      // the client's RST answered the SYN-ACK: its socket was gone [rst]
	NoteAnswersSYN        = "answers_syn"          // the server's RST answered the SYN [rst]
	NoteClosedAtOnce      = "closed_at_once"       // the client closed right after the handshake without sending [fin, rst]
	NoteNoAnswer          = "no_answer"            // no answer to the client's first bytes [fin, rst]
	NoteNoServerByte      = "no_server_byte"       // closed before the server's first byte [fin, rst]
	NoteDuringTLS         = "during_tls"           // closed during the TLS handshake [fin, rst]
	NotePartialGreeting   = "partial_greeting"     // the server closed after Bytes that are not a complete first message [fin, rst]
	NoteAboutServer       = "about_server"         // the ICMP error is about a packet of the server [icmp_error]
	NoteOtherSYN          = "other_syn"            // the ICMP error quotes another SYN than the attempt's (ignored) [icmp_error]
	NotePTRForClient      = "ptr_for_client"       // the server looks up the client's name [dns_query, dns_answer]
	NoteSending           = "sending"              // the traced host was sending the packet it dropped (else it received it) [kernel_drop]
	NoteAborted           = "aborted"              // the socket aborted its connection (the RST answers no segment) [kernel_rst_sent]
)

// Dir is a timeline step's direction: client to server, server to client,
// or local (the client host's kernel); empty when it is neither.
type Dir string

const (
	DirC2S   Dir = "c2s"
	DirS2C   Dir = "s2c"
	DirLocal Dir = "local"
)

// App is an application protocol's facts about an attempt: its Info (a
// pointer to the protocol's struct, e.g. the MySQL greeting's version and
// the login's user) under its registered key. The JSON report writes Info
// as the attempt's member Protocol ("mysql": {...}, "postgres": {...}).
// Passwords, auth scrambles and SASL exchanges are never kept.
type App struct {
	Protocol AppKey
	Info     proto.Info
}

// AppKey is a protocol's key (proto.Protocol.Key, e.g. "mysql"):
// vocabulary, not data (redaction keeps it).
type AppKey string

// protoInfo puts a protocol session's facts (proto.Session.Info) into
// the attempt's report.
func protoInfo(at *Attempt, p *proto.Protocol, info proto.Info) {
	if info == nil {
		return
	}
	at.App = &App{Protocol: AppKey(p.Key), Info: info}
	at.Facts.App = info.Facts()
}

// protoInfoOf is the protocol facts protoInfo put into the report, for
// the protocol's causes (nil when none).
func protoInfoOf(at *Attempt) proto.Info {
	if at.App == nil {
		return nil
	}
	return at.App.Info
}

// Summary counts what a run saw, including everything dropped or skipped.
type Summary struct {
	Connects    int             `json:"connects"`
	Attempts    int             `json:"attempts"`
	Outcomes    map[Outcome]int `json:"outcomes"` // attempts by outcome
	Packets     uint64          `json:"packets"`
	Malformed   uint64          `json:"malformed"`
	Unsupported uint64          `json:"unsupported"` // frames of link types/protocols not followed (skipped)
	Duplicates  uint64          `json:"duplicates"`  // duplicate frames ignored (same packet on two interfaces)
	// OtherProcesses counts captured packets left out because no traced
	// process owned them (run -- CMD, trace --pid); Packets counts the rest.
	OtherProcesses uint64 `json:"other_processes"`
	MalformedDNS   uint64 `json:"malformed_dns,omitempty"`
	Untracked      uint64 `json:"untracked,omitempty"` // attempts not followed because MaxInFlight was reached
	// LateRetransmits counts client SYN retransmits (same 5-tuple and ISN)
	// that arrived after their attempt had been reported: part of that
	// attempt, not new ones; its verdict came before the client gave up.
	LateRetransmits uint64 `json:"late_retransmits,omitempty"`
	KernelDrops     uint64 `json:"kernel_drops"`
	RingBufferLost  uint64 `json:"ring_buffer_lost"`
	// UnreadAtStop counts packets and kernel events captured before a live
	// trace's stop that no reader took before the stop gave up waiting (a
	// loaded machine): discarded, counted, and the trace is partial.
	UnreadAtStop uint64   `json:"unread_at_stop,omitempty"`
	Errors       []string `json:"errors,omitempty"`

	// TruncatedSegments counts TCP segments and UDP datagrams whose payload
	// the capture's snap length cut (captured length < length on the wire).
	// The analysis decodes only what was captured and follows TCP for the rest.
	TruncatedSegments uint64 `json:"truncated_segments,omitempty"`

	// LateEvents counts events (live) that arrived later than the reorder
	// window; each joined its attempt when that was still open, else it is
	// in LateAfterReport (its attempt was already decided) or LateUnmatched
	// (no attempt known): never a new attempt.
	LateEvents      uint64 `json:"late_events,omitempty"`
	LateAfterReport uint64 `json:"late_after_report,omitempty"`
	LateUnmatched   uint64 `json:"late_unmatched,omitempty"`
	// IncompleteLoss counts attempts that are incomplete because evidence
	// was lost while they were open (kernel events lost, packets dropped,
	// events late) and their verdict would have rested on what was missing.
	IncompleteLoss uint64 `json:"incomplete_loss,omitempty"`
	// PortsPaired counts kernel connects whose SYN_SENT came without the
	// local port and whose port was learned later than the reorder window
	// (from the socket's own later event, or its SYN by time), so that the
	// socket and its packets are one attempt, not two.
	PortsPaired uint64 `json:"ports_paired,omitempty"`
	// KernelAfterReport counts kernel events (live) of a connect already
	// reported from its packets, known by the ISN they carry: they came
	// after its kernel linger and join nothing (never a second attempt).
	KernelAfterReport uint64 `json:"kernel_after_report,omitempty"`
	// Listen is how much the traced network namespace's listen and accept
	// queue counters grew during the trace (live; nil offline or when
	// /proc/net/netstat could not be read).
	Listen *ListenCounters `json:"listen_counters,omitempty"`
}

// ListenCounters are the kernel's listen and accept queue counters
// (/proc/net/netstat, TcpExt) of a network namespace: over a trace, how
// much each grew.
type ListenCounters struct {
	// ListenOverflows (TcpExtListenOverflows): SYNs and handshake-completing
	// ACKs a listener dropped because its accept queue was full.
	ListenOverflows uint64 `json:"listen_overflows"`
	// ListenDrops (TcpExtListenDrops): every SYN or ACK a listener dropped,
	// overflows included.
	ListenDrops uint64 `json:"listen_drops"`
	// SyncookiesSent (TcpExtSyncookiesSent): SYN cookies sent because a
	// listener's SYN queue was full.
	SyncookiesSent uint64 `json:"syncookies_sent"`
	// ReqQFullDrop (TcpExtTCPReqQFullDrop): SYNs dropped because a SYN
	// queue was full and SYN cookies were off.
	ReqQFullDrop uint64 `json:"req_q_full_drop"`
}

// Dropped says the counters show connections a listener turned away.
func (c *ListenCounters) Dropped() bool {
	return c != nil && c.ListenOverflows+c.ListenDrops+c.ReqQFullDrop > 0
}
