package analyze

import (
	"fmt"
	"slices"
	"time"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/analyze/proto"
)

// Reason names precisely what the wire or the kernel showed that decided
// an attempt (or a connect): a stable, namespaced string id (tcp.*, icmp.*,
// kernel.*, dns.*, tls.*, mysql.*, app.*, capture.*), as written in JSON.
// Each reason is declared once, below (the engine's) or in its protocol's
// registration (proto.Protocol.Reasons, e.g. mysql.*), with the one
// Outcome it implies and a one-line meaning (listed in the README): an attempt's outcome is its
// reason's, so the two can never disagree.
type Reason uint16

type reasonInfo struct {
	id      string
	outcome Outcome
	meaning string
	// absent: the verdict rests on absence — it is true only if nothing
	// was missed — and these kinds of lost evidence could have held what
	// would contradict it (loss.go). By outcome (restsOn), and per reason
	// below where it differs.
	absent lossKinds
}

// lossKinds are kinds of evidence a live trace can lose.
type lossKinds uint8

const (
	lostKernel  lossKinds = 1 << iota // kernel events (eBPF ring buffer full)
	lostPackets                       // packets dropped before capture
	lostLate                          // events later than the reorder window

	lostAny = lostKernel | lostPackets | lostLate
)

// restsOn is what an outcome's verdicts rest on by default: a timeout on
// no answer having come (any lost event may have been it), a greeting
// verdict on the server's bytes (in the packets), a late greeting also on
// the order of events.
func restsOn(o Outcome) lossKinds {
	switch o {
	case Timeout, GreetingLate:
		return lostAny
	case NoGreeting, ClosedBeforeGreeting:
		return lostPackets | lostLate
	}
	return 0
}

// The ok verdicts that rest on what the packets did not show: no server
// byte (a connect-then-close check), no answer or close after the first
// bytes (the idle verdicts), a connect whose packets were not captured.
func init() {
	for _, r := range []Reason{ReasonClientClosedNoSend, ReasonServerSentData, ReasonClientFirstUnanswered, ReasonConnectedNoPackets} {
		reasonTable[r].absent = lostPackets | lostLate
	}
}

// restsOnAbsence says which kinds of lost evidence could contradict r.
func (r Reason) restsOnAbsence() lossKinds {
	if int(r) >= len(reasonTable) {
		return 0
	}
	return reasonTable[r].absent
}

// reasonTable holds every reason in declaration order; index 0 is "no
// reason" (an attempt not decided).
var reasonTable = []reasonInfo{{}}

func def(id string, o Outcome, meaning string) Reason {
	reasonTable = append(reasonTable, reasonInfo{id, o, meaning, restsOn(o)})
	return Reason(len(reasonTable) - 1)
}

// The reasons. Keep ids stable: consumers match on them.
var (
	// TCP, as seen on the wire.
	ReasonRSTFromServer           = def("tcp.rst_from_server", Refused, "the SYN was answered by an RST (closed port, or a firewall's reject with tcp reset)")
	ReasonSYNUnanswered           = def("tcp.syn_unanswered", Timeout, "the SYNs got no reply and the client gave up (next address, closed socket, no retransmit when due, or the capture ended after it waited)")
	ReasonSYNACKAfterGiveUp       = def("tcp.syn_ack_after_give_up", Timeout, "the SYN-ACK came after the client had given up: the client answered it with an RST")
	ReasonKernelRST               = def("kernel.rst_received", Refused, "the kernel reported an RST for the SYN that the capture did not hold")
	ReasonICMPPortUnreachable     = def("icmp.port_unreachable", Unreachable, "the SYN was answered by an ICMP/ICMPv6 port unreachable (a firewall REJECT)")
	ReasonICMPAdminProhibited     = def("icmp.admin_prohibited", Unreachable, "the SYN was answered by an ICMP/ICMPv6 administratively prohibited (or policy/reject-route) error (a firewall REJECT)")
	ReasonICMPHostUnreachable     = def("icmp.host_unreachable", Unreachable, "the SYN was answered by an ICMP host (ICMPv6 address) unreachable from a router")
	ReasonICMPNetUnreachable      = def("icmp.net_unreachable", Unreachable, "the SYN was answered by an ICMP network unreachable (ICMPv6 no route) from a router")
	ReasonICMPProtocolUnreachable = def("icmp.protocol_unreachable", Unreachable, "the SYN was answered by an ICMP protocol unreachable (a firewall's reject with icmp prot-unreachable)")
	ReasonICMPTimeExceeded        = def("icmp.time_exceeded", Unreachable, "the SYN was answered by an ICMP time exceeded (a routing loop, or a TTL too low)")
	ReasonICMPParameterProblem    = def("icmp.parameter_problem", Unreachable, "the SYN was answered by an ICMP parameter problem")
	ReasonICMPOther               = def("icmp.unreachable_other", Unreachable, "the SYN was answered by another ICMP destination unreachable (source route failed, beyond scope, …)")

	// The kernel (eBPF), for what never reaches the wire.
	ReasonNoARPReply          = def("kernel.no_arp_reply", Unreachable, "the SYN never left: no ARP/NDP reply for the next hop (the client's own kernel reported it, or EHOSTUNREACH with no packet captured)")
	ReasonEHOSTUNREACH        = def("kernel.ehostunreach", Unreachable, "the connect failed with EHOSTUNREACH after SYN_SENT: no ARP/NDP reply, or an ICMP error that was not captured")
	ReasonEHOSTUNREACHRoute   = def("kernel.ehostunreach_route", NoRoute, "connect() failed at once with EHOSTUNREACH: the routing table says unreachable")
	ReasonENETUNREACH         = def("kernel.enetunreach", NoRoute, "connect() failed with ENETUNREACH (or ENETDOWN, EAFNOSUPPORT): no route to the server")
	ReasonEADDRNOTAVAIL       = def("kernel.eaddrnotavail", NoLocalPort, "connect() failed with EADDRNOTAVAIL: no free local port or address for this destination")
	ReasonEADDRINUSE          = def("kernel.eaddrinuse", NoLocalPort, "connect() failed with EADDRINUSE")
	ReasonEACCES              = def("kernel.eacces", PermissionDenied, "connect() failed with EACCES/EPERM before anything was sent (local firewall, cgroup/BPF hook, LSM)")
	ReasonECONNREFUSED        = def("kernel.econnrefused", Refused, "the kernel reported ECONNREFUSED with no RST captured")
	ReasonETIMEDOUT           = def("kernel.etimedout", Timeout, "the kernel gave up on the unanswered SYNs (ETIMEDOUT, net.ipv4.tcp_syn_retries)")
	ReasonECONNRESET          = def("kernel.econnreset", Refused, "the connect failed with ECONNRESET/ECONNABORTED before it was established")
	ReasonECONNRESETConnected = def("kernel.econnreset_connected", ClosedBeforeGreeting, "an established connection failed with ECONNRESET/ECONNABORTED before any server byte was captured")
	ReasonKernelOtherErrno    = def("kernel.other_errno", Unreachable, "the connect failed with another errno (in facts)")
	ReasonKernelConnected     = def("kernel.connected", OK, "the kernel saw the socket connect (SYN_SENT→ESTABLISHED) and packets were not traced")
	ReasonConnectedNoPackets  = def("kernel.connected_no_packets", OK, "the kernel saw the socket connect, but no packet of it was captured (another interface, or the capture filter)")
	ReasonENOENT              = def("kernel.enoent", SocketMissing, "connect() to a unix socket failed with ENOENT/ENOTDIR: no socket file")
	ReasonEACCESUnix          = def("kernel.eacces_unix", PermissionDenied, "connect() to a unix socket failed with EACCES/EPERM")
	ReasonECONNREFUSEDUnix    = def("kernel.econnrefused_unix", Refused, "connect() to a unix socket failed with ECONNREFUSED: the file exists but nothing accepts on it (stale socket)")
	ReasonEAGAINUnix          = def("kernel.eagain_unix", Rejected, "connect() to a unix socket failed with EAGAIN: the server's listen backlog is full")
	ReasonUnixOtherErrno      = def("kernel.unix_other_errno", Refused, "connect() to a unix socket failed with another errno (in facts)")
	ReasonUnixConnected       = def("kernel.unix_connected", OK, "connect() to a unix socket succeeded")
	// Drop reasons (skb:kfree_skb) of a traced host, for handshake packets.
	ReasonKernelNetfilterDrop  = def("kernel.netfilter_drop", Timeout, "the SYN got no reply because the kernel of this host dropped the SYN (or the SYN-ACK) in netfilter (NETFILTER_DROP: an nftables/iptables drop rule)")
	ReasonKernelListenOverflow = def("kernel.listen_overflow", Timeout, "the SYN got no reply because the kernel of this host dropped a handshake packet for a full accept or SYN queue (TCP_LISTEN_OVERFLOW, TCP_REQQFULLDROP)")
	ReasonKernelDropped        = def("kernel.packet_dropped", Timeout, "the SYN got no reply because the kernel of this host dropped the SYN (or the SYN-ACK) for another reason (in facts.kernel_drop)")

	// Application bytes, any protocol.
	ReasonNoServerBytes         = def("app.no_server_bytes", NoGreeting, "connected, the server sent nothing, and the client gave up (or the capture ended after it waited the client timeout)")
	ReasonServerClosedSilent    = def("app.server_closed_silent", ClosedBeforeGreeting, "connected, then the server closed (FIN/RST) without sending a byte")
	ReasonServerClosedPartial   = def("app.server_closed_partial", ClosedBeforeGreeting, "the server sent some bytes that are not a complete greeting, then closed")
	ReasonClientClosedNoSend    = def("app.client_closed_without_sending", OK, "the client closed right after the handshake with nothing sent either way (a connect-then-close check)")
	ReasonServerSpokeLate       = def("app.server_spoke_late", GreetingLate, "the server's first bytes (of no registered protocol) came after the client had given up")
	ReasonClientSilentToBanner  = def("app.client_silent_to_banner", WrongProtocol, "the server spoke first with something no registered protocol recognised (e.g. not a MySQL greeting) and the client never answered before the connection closed")
	ReasonServerFirstAnswered   = def("app.server_first_client_answered", OK, "another server-first protocol: the server spoke first and the client answered")
	ReasonServerAnswered        = def("app.server_answered", OK, "the client spoke first (no registered protocol recognised it) and the server answered")
	ReasonClientFirstUnanswered = def("app.client_first_unanswered", OK, "the client spoke first (no registered protocol recognised it); the server had not answered when the capture ended, less than the client timeout (10 s) after the client's first bytes")
	ReasonServerSentData        = def("app.server_sent_data", OK, "connected and the server sent data that is not (yet) a complete first message")
	// ReasonRequestUnanswered: for a client-first service the outcome
	// no_greeting means "no response": the server never answered the
	// client's first bytes.
	ReasonRequestUnanswered = def("app.request_unanswered", NoGreeting, "the client spoke first (no registered protocol recognised it), the server never answered, and the client gave up (closed, or moved on to the next address) or the capture ended at least the client timeout (10 s) after the client's first bytes, or the connection stayed silent for the idle timeout")

	// TLS after an SSLRequest (the engine's TLS record walker; a protocol
	// hands over to it).
	ReasonTLSAlert     = def("tls.alert", TLSFailed, "a TLS alert during the handshake (facts name the side and the alert)")
	ReasonTLSNotTLS    = def("tls.not_tls", TLSFailed, "the bytes after the SSLRequest are not TLS records")
	ReasonTLSClosed    = def("tls.closed_in_handshake", TLSFailed, "a side closed (FIN/RST) during the TLS handshake")
	ReasonTLSStalled   = def("tls.stalled", TLSFailed, "the server never answered the TLS ClientHello")
	ReasonTLSCompleted = def("tls.completed", OK, "the TLS handshake completed; the login result is encrypted")
	ReasonTLSUnderWay  = def("tls.under_way", OK, "the server answered the ClientHello and the connection stayed open without an alert")

	// What the capture could not show.
	ReasonCaptureEnded = def("capture.ended", Incomplete, "the capture ended before the attempt could be decided")
	ReasonEvidenceLost = def("capture.evidence_lost", Incomplete, "evidence was lost while the attempt was open (kernel events, dropped or late packets) and the verdict would rest on it (facts.would_be)")
	ReasonSnaplenCut   = def("capture.snaplen_cut", Incomplete, "the snap length cut the server's bytes so that what followed cannot be decoded")

	// Name resolution (connects without attempts).
	ReasonNXDomain   = def("dns.nxdomain", Unresolved, "the name does not exist (NXDOMAIN)")
	ReasonNoData     = def("dns.no_data", Unresolved, "the name exists but has no address record of the type asked (NOERROR, no data)")
	ReasonServFail   = def("dns.servfail", Unresolved, "the DNS server failed to resolve the name (SERVFAIL)")
	ReasonRefusedDNS = def("dns.refused", Unresolved, "the DNS server refused to answer (REFUSED)")
	ReasonNoAnswer   = def("dns.no_answer", Unresolved, "the DNS server never answered (or only with an ICMP error)")
)

// engineReasons is the table's length after the engine's own reasons; the
// protocols' reasons follow (protocols.go).
var engineReasons = len(reasonTable)

// String is the reason's stable id, e.g. "tcp.rst_from_server" ("" for none).
func (r Reason) String() string {
	if int(r) >= len(reasonTable) {
		return fmt.Sprintf("reason(%d)", r)
	}
	return reasonTable[r].id
}

// Outcome is the outcome the reason implies.
func (r Reason) Outcome() Outcome {
	if int(r) >= len(reasonTable) {
		return ""
	}
	return reasonTable[r].outcome
}

// Meaning is a one-line description of the reason.
func (r Reason) Meaning() string {
	if int(r) >= len(reasonTable) {
		return ""
	}
	return reasonTable[r].meaning
}

// MarshalText writes the reason's id.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a reason id.
func (r *Reason) UnmarshalText(b []byte) error {
	s := string(b)
	for i, ri := range reasonTable {
		if ri.id == s {
			*r = Reason(i)
			return nil
		}
	}
	return fmt.Errorf("unknown reason id %q", s)
}

// Reasons lists every reason, in declaration order.
func Reasons() []Reason {
	out := make([]Reason, 0, len(reasonTable)-1)
	for i := 1; i < len(reasonTable); i++ {
		out = append(out, Reason(i))
	}
	return out
}

// Facts are the numbers and names behind an attempt's verdict, for
// programs (the evidence says the same in words). Only what applies is set.
type Facts struct {
	// SYNs counts the client's SYNs (the kernel's count when none was captured).
	SYNs int `json:"syns,omitempty"`
	// ElapsedMS is from the attempt's start to its verdict.
	ElapsedMS float64 `json:"elapsed_ms"`
	// ClosedBy says who closed first ("client" or "server") and Close how ("FIN" or "RST").
	ClosedBy string `json:"closed_by,omitempty"`
	Close    string `json:"close,omitempty"`
	// ServerBytes and ClientBytes count connection-phase payload bytes seen.
	ServerBytes int `json:"server_bytes,omitempty"`
	ClientBytes int `json:"client_bytes,omitempty"`
	// ICMP is the error that decided the attempt.
	ICMP *ICMPFact `json:"icmp,omitempty"`
	// Errno is the kernel's errno (symbolic).
	Errno string `json:"errno,omitempty"`
	// App are the application protocol's facts (proto.Info.Facts, e.g.
	// the server's error code), written in JSON as members here: a MySQL
	// ERR code as "mysql_error", a PostgreSQL SQLSTATE as "sqlstate".
	App []proto.Fact `json:"-"`
	// Banner is a non-MySQL server's first bytes, printable.
	Banner string `json:"banner,omitempty"`
	// TLSAlert is "server handshake_failure" and the like.
	TLSAlert string `json:"tls_alert,omitempty"`
	// LostAt is the server stream byte from which the snap length made it undecodable.
	LostAt int `json:"lost_at,omitempty"`
	// WouldBe is the verdict lost evidence kept from being given (capture.evidence_lost).
	WouldBe Reason `json:"would_be,omitempty"`

	// The facts below carry what the reason's words say (report.Explain
	// renders them; see words.go). Durations are milliseconds; a duration
	// is nil when it does not apply.

	// ReplyMS is from the last SYN to the RST or ICMP error that answered it.
	ReplyMS *float64 `json:"reply_ms,omitempty"`
	// SYNSpanMS is from the first SYN to the last.
	SYNSpanMS *float64 `json:"syn_span_ms,omitempty"`
	// AnsweredSYN is the SYN (1 = the first) the RST or ICMP error answered
	// (0: an ICMP error with no SYN on the wire).
	AnsweredSYN int `json:"answered_syn,omitempty"`
	// SinceFirstSYNMS is from the first SYN to the client's close of its
	// socket (Ended "socket_close").
	SinceFirstSYNMS *float64 `json:"since_first_syn_ms,omitempty"`
	// AfterGiveUpMS is from the client's give-up to the server's first bytes.
	AfterGiveUpMS *float64 `json:"after_give_up_ms,omitempty"`
	// QuietMS is how long nothing happened before the verdict (tls.stalled).
	QuietMS *float64 `json:"quiet_ms,omitempty"`
	// Phase is where an attempt was when the capture ended
	// (capture.ended): "connect" (connect() had not returned), "syn_sent",
	// "connected" (waiting for the server's first byte), "tls".
	Phase string `json:"phase,omitempty"`
	// SoftErrors are SYN retransmits answered again by the ICMP error after
	// the first one (Linux kept that as a soft error; this one ended the connect).
	SoftErrors []SoftErrorFact `json:"soft_errors,omitempty"`
	// SYNACKMS is from the attempt's start to the SYN-ACK.
	SYNACKMS *float64 `json:"syn_ack_ms,omitempty"`
	// SinceLastSYNMS is from the last SYN to the verdict (the capture's end).
	SinceLastSYNMS *float64 `json:"since_last_syn_ms,omitempty"`
	// RetransmitDueMS is from the first SYN to when the next SYN
	// retransmit was due at the latest (it did not come: the client gave up).
	RetransmitDueMS *float64 `json:"retransmit_due_ms,omitempty"`
	// SinceHandshakeMS is from the handshake (or, for a client that closed
	// at once, from its connect() returning) to the verdict's moment: the
	// close, the give-up or the capture's end.
	SinceHandshakeMS *float64 `json:"since_handshake_ms,omitempty"`
	// SinceRequestMS is from the client's first bytes to the verdict's moment.
	SinceRequestMS *float64 `json:"since_request_ms,omitempty"`
	// SinceServerMS is from the server's first bytes to the verdict's moment.
	SinceServerMS *float64 `json:"since_server_ms,omitempty"`
	// ServerFirstMS is from the handshake to the server's first bytes.
	ServerFirstMS *float64 `json:"server_first_ms,omitempty"`
	// ClientFirstMS is from the handshake to the client's first bytes (0
	// when they came with or before it).
	ClientFirstMS *float64 `json:"client_first_ms,omitempty"`
	// RequestAckedMS is from the attempt's start to the server's TCP
	// acknowledgment of the client's first bytes.
	RequestAckedMS *float64 `json:"request_acked_ms,omitempty"`
	// ClientGaveUpMS is from the attempt's start to the client's close.
	ClientGaveUpMS *float64 `json:"client_gave_up_ms,omitempty"`
	// ClientClose and ServerClose say how each side closed ("FIN", "RST").
	ClientClose string `json:"client_close,omitempty"`
	ServerClose string `json:"server_close,omitempty"`
	// Ended says what ended the wait the verdict rests on:
	// "client_close" (FIN or RST), "socket_close" (close() in SYN_SENT,
	// kernel), "next_address" (the client tried NextAddress),
	// "no_retransmit" (no SYN retransmit when due), "capture_end",
	// "idle" (no packet for the idle timeout).
	Ended string `json:"ended,omitempty"`
	// NextAddress is the address the client moved on to.
	NextAddress string `json:"next_address,omitempty"`
	// AtOnce: connect() itself returned the errno (nothing was sent).
	AtOnce bool `json:"at_once,omitempty"`
	// Wire: packets of the attempt were captured.
	Wire bool `json:"wire,omitempty"`
	// Expected is the protocol the server was expected to speak (its port
	// or client), Intended the protocol whose advice applies (its port,
	// client or unix socket).
	Expected string `json:"expected,omitempty"`
	Intended string `json:"intended,omitempty"`
	// Protocol is the protocol whose plug-in decoded the connection
	// (its session; it explains its own verdicts).
	Protocol string `json:"protocol,omitempty"`
	// TLSCutSide is the side whose TLS records the snap length cut
	// ("client", "server") from byte TLSCutAt of its stream on.
	TLSCutSide string `json:"tls_cut_side,omitempty"`
	TLSCutAt   int    `json:"tls_cut_at,omitempty"`
	// Cut is the first connection-phase segment the snap length cut.
	Cut *CutFact `json:"cut,omitempty"`
	// Slow lists the slow parts (largest first), with what each one
	// measured; Attempt.Slow is the first.
	Slow []SlowFact `json:"slow,omitempty"`
	// Lost counts what was lost while the attempt was open (capture.evidence_lost).
	Lost *LostFact `json:"lost,omitempty"`
	// KernelDrop is the kernel's reason for dropping a handshake packet of
	// the attempt on a traced host (drop.go).
	KernelDrop *DropFact `json:"kernel_drop,omitempty"`
	// Accept is the server side's accept() of the attempt (server.go).
	Accept *AcceptFact `json:"accept,omitempty"`
	// Listeners is what the listener inventory (live, at the trace's
	// start) showed on the attempt's port, for a failed attempt
	// (listeners.go).
	Listeners *ListenerFact `json:"listeners,omitempty"`
	// RSTSent is the first RST a traced host's kernel sent for the
	// attempt, and why (server.go).
	RSTSent *RSTFact `json:"rst_sent,omitempty"`

	// ServerFirstMS is serverFirst's when hasServerFirst is set
	// (buildFacts leaves it to finishAttempt).
	hasServerFirst bool
	serverFirst    time.Duration
}

// SoftErrorFact is a SYN retransmit (SYN = its number) at AtMS since the
// attempt's start that got the same ICMP error again.
type SoftErrorFact struct {
	SYN  int     `json:"syn"`
	AtMS float64 `json:"at_ms"`
}

// CutFact is a segment the snap length cut: from which side, when (since
// the attempt's start), and how many payload bytes it kept of how many.
type CutFact struct {
	From string  `json:"from"`
	AtMS float64 `json:"at_ms"`
	Kept int     `json:"kept"`
	Len  int     `json:"len"`
}

// SlowFact is one slow part: Part (network, client, server), Step what
// was slow ("handshake", "first_bytes", "ack", "answer") and MS how long
// it took; for "answer", AckedMS is when (since the start) the server
// acknowledged the client's first bytes (nil: only with its answer).
type SlowFact struct {
	Part    string   `json:"part"`
	Step    string   `json:"step"`
	MS      float64  `json:"ms"`
	AckedMS *float64 `json:"acked_ms,omitempty"`
}

// LostFact counts the losses that made a verdict incomplete (zero: that
// kind was not lost while the attempt was open).
type LostFact struct {
	KernelEvents uint64 `json:"kernel_events,omitempty"`
	Packets      uint64 `json:"packets,omitempty"`
	LateEvents   uint64 `json:"late_events,omitempty"`
}

// ICMPFact is an ICMP/ICMPv6 error and its sender.
type ICMPFact struct {
	From string `json:"from"`
	V6   bool   `json:"v6"`
	Type uint8  `json:"type"`
	Code uint8  `json:"code"`
	// Local: the client host itself generated the error about its own SYN
	// (no ARP/NDP reply for the next hop).
	Local bool `json:"local,omitempty"`
	// FromClient: the error came from the client's own address.
	FromClient bool `json:"from_client,omitempty"`
}

// icmpReason names an ICMP error that aborts a connect.
func icmpReason(v6 bool, typ, code uint8) Reason {
	if v6 {
		switch typ {
		case 1:
			switch code {
			case 0:
				return ReasonICMPNetUnreachable
			case 1, 5, 6:
				return ReasonICMPAdminProhibited
			case 3:
				return ReasonICMPHostUnreachable
			case 4:
				return ReasonICMPPortUnreachable
			}
			return ReasonICMPOther
		case 3:
			return ReasonICMPTimeExceeded
		case 4:
			return ReasonICMPParameterProblem
		}
		return ReasonICMPOther
	}
	switch typ {
	case 3:
		switch code {
		case 2:
			return ReasonICMPProtocolUnreachable
		case 0, 6, 11:
			return ReasonICMPNetUnreachable
		case 1, 7, 12:
			return ReasonICMPHostUnreachable
		case 3:
			return ReasonICMPPortUnreachable
		case 9, 10, 13:
			return ReasonICMPAdminProhibited
		}
		return ReasonICMPOther
	case 11:
		return ReasonICMPTimeExceeded
	case 12:
		return ReasonICMPParameterProblem
	}
	return ReasonICMPOther
}

// decidedHook, when set (by the package's tests), sees every reason given
// to an attempt or connect.
var decidedHook func(Reason)

// buildFacts collects the facts behind a's verdict from its state.
func (e *Engine) buildFacts(a *attempt) *Facts {
	f := a.outFacts
	if f == nil {
		f = new(Facts)
	}
	*f = a.facts
	f.ElapsedMS = ms(a.endAt.Sub(a.start))
	f.SYNs = a.synCount
	if !a.wire && !a.kSynSent.IsZero() {
		f.SYNs = 1 + a.kSynRetrans
	}
	switch {
	case a.clientClose != notClosed && (a.serverClose == notClosed || !a.serverGaveAt.Before(a.clientGaveAt)):
		f.ClosedBy, f.Close = "client", a.clientClose.String()
	case a.serverClose != notClosed:
		f.ClosedBy, f.Close = "server", a.serverClose.String()
	}
	f.ServerBytes, f.ClientBytes = a.s2c.bytes, a.c2s.bytes
	if a.icmp != nil {
		local := f.ICMP != nil && f.ICMP.Local
		f.ICMP = &ICMPFact{From: a.icmpFrom.String(), V6: a.icmp.V6, Type: a.icmp.Type, Code: a.icmp.Code,
			Local: local, FromClient: a.icmpFrom == a.icmp.QuotedSrc}
	}
	if a.clientClose != notClosed {
		f.ClientClose = a.clientClose.String()
	}
	if a.serverClose != notClosed {
		f.ServerClose = a.serverClose.String()
	}
	if a.connected() && !a.firstSrvData.IsZero() && f.ServerFirstMS == nil {
		f.serverFirst, f.hasServerFirst = a.firstSrvData.Sub(a.handshakeDone()), true
	}
	if f.Expected == "" && (a.reason == ReasonClientSilentToBanner || slices.Contains(e.wrongBanners, a.reason)) {
		if p := e.expected(a); p != nil {
			f.Expected = p.Name
		}
	}
	if p := e.intended(a); p != nil {
		f.Intended = p.Name
	}
	f.Slow = a.slowParts()
	if a.kErrno != 0 {
		f.Errno = errnoName(a.kErrno)
	}
	f.Banner = a.banner
	f.TLSAlert = a.tlsAlert
	if a.cut {
		f.LostAt = int(a.s2c.lostAt)
	}
	return f
}

// unresolvedReason names why a connect's lookups all failed: the first
// that applies of NXDOMAIN, no data, SERVFAIL, REFUSED, else no answer (the
// order its causes are given in).
func unresolvedReason(c *connectState) Reason {
	f := lookupFailuresOf(c)
	r := ReasonNoAnswer
	switch {
	case f.nx:
		r = ReasonNXDomain
	case f.nodata:
		r = ReasonNoData
	case f.servfail:
		r = ReasonServFail
	case f.refused:
		r = ReasonRefusedDNS
	}
	if decidedHook != nil {
		decidedHook(r)
	}
	return r
}

// lookupFailures says which ways a connect's lookups failed: what both its
// reason and its causes are chosen from.
type lookupFailures struct {
	nx, nodata, servfail, refused, unanswered bool
}

func lookupFailuresOf(c *connectState) lookupFailures {
	var f lookupFailures
	for _, q := range c.queries {
		switch {
		case !q.answered:
			f.unanswered = true
		case q.rcode == dns.RcodeNXDomain:
			f.nx = true
		case q.rcode == dns.RcodeServFail:
			f.servfail = true
		case q.rcode == dns.RcodeRefused:
			f.refused = true
		case q.rcode == dns.RcodeSuccess:
			f.nodata = true
		}
	}
	return f
}
