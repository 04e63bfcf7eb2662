package proto

import "time"

// Attrs are the facts of one timeline step, beside its kind and direction:
// the engine and the protocol sessions record them, and the report makes
// the step's words from them when it renders (report/eventwords.go; a
// protocol's own steps through its Protocol.Words). Each field has one
// meaning whatever the kind; a kind sets only those that apply, the rest
// stay zero and are left out of the JSON (so a zero count or duration is
// absent, not 0). The JSON keys are stable.
type Attrs struct {
	// Proto is the protocol whose session recorded the step ("MySQL",
	// "PostgreSQL"); empty for the engine's own (TCP, ICMP, kernel, DNS,
	// TLS) steps.
	Proto string `json:"proto,omitempty"`
	// Note says which of its kind's situations the step is, a stable
	// snake_case id listed with each kind (e.g. "after_verdict"); empty for
	// the plain one.
	Note string `json:"note,omitempty"`
	// Addr is the address (ip:port, [v6]:port) or unix socket path the step
	// names: the server (SYN, SYN-ACK, RST), the next address
	// (client_gave_up), the socket (kernel_connect), the DNS server
	// (dns_query).
	Addr string `json:"addr,omitempty"`
	// N is the step's ordinal: the retransmit number (syn_retransmit,
	// kernel_retransmit), the SYN a SYN-ACK answered (when not the first).
	N int `json:"n,omitempty"`
	// Bytes is a byte count: the payload of the segment, the bytes seen
	// before a close, the offset where decoding stopped.
	Bytes int `json:"bytes,omitempty"`
	// ElapsedMS is the duration the step is measured by, in milliseconds:
	// since the first SYN (syn_retransmit), the round trip (syn_ack),
	// since the handshake or the client's first bytes (server_data, fin,
	// rst, greeting), the answer's latency (dns_answer).
	ElapsedMS float64 `json:"elapsed_ms,omitempty"`
	// Errno is a symbolic errno: connect()'s return ("" for 0) or the
	// socket error.
	Errno string `json:"errno,omitempty"`
	// Detail holds the facts only a few of the engine's kinds have; nil
	// for most steps.
	*Detail
	// Msg holds a protocol message's facts; nil for the engine's steps
	// and for messages without any.
	*Msg
}

// Detail are the timeline facts of the engine's rarer kinds: ICMP errors,
// kernel socket states, DNS lookups, TLS alerts and a server's
// unrecognised first bytes. Its fields are flattened into the step's JSON
// object.
type Detail struct {
	// ICMP is an icmp_error's message.
	ICMP *ICMP `json:"icmp,omitempty"`
	// StateFrom and StateTo are a kernel_state step's socket states
	// ("CLOSE", "SYN_SENT", "ESTABLISHED", ...); PID and Comm the process
	// that moved the socket into SYN_SENT.
	StateFrom string `json:"state_from,omitempty"`
	StateTo   string `json:"state_to,omitempty"`
	PID       uint32 `json:"pid,omitempty"`
	Comm      string `json:"comm,omitempty"`
	// Name, QType and Rcode are a DNS step's question and answer code
	// ("NOERROR", "NXDOMAIN", ...).
	Name  string `json:"name,omitempty"`
	QType string `json:"qtype,omitempty"`
	Rcode string `json:"rcode,omitempty"`
	// Alert is a tls_alert's description ("handshake_failure"), empty
	// when the record did not show it.
	Alert string `json:"alert,omitempty"`
	// Banner is the printable start of a server's first bytes no protocol
	// recognised; Expected the protocol that was expected instead
	// (its default port), empty when none was.
	Banner   string `json:"banner,omitempty"`
	Expected string `json:"expected,omitempty"`
	// DropReason, Packet and Location are a kernel_drop's: the kernel's
	// reason (enum skb_drop_reason without its prefix: "NETFILTER_DROP"),
	// the packet dropped ("SYN", "SYN-ACK", "ACK", "ICMP error") and the
	// kernel function that dropped it (empty when unknown).
	DropReason string `json:"drop_reason,omitempty"`
	Packet     string `json:"packet,omitempty"`
	Location   string `json:"location,omitempty"`
	// FD is the descriptor accept() returned (accepted; PID and Comm are
	// the accepting process).
	FD int32 `json:"fd,omitempty"`
	// RSTReason is a kernel_rst_sent's reason (enum sk_rst_reason without
	// its prefix: "NO_SOCKET"), empty when the kernel gives none; Packet
	// is then the segment the RST answered.
	RSTReason string `json:"rst_reason,omitempty"`
}

// Msg are the facts of a protocol message (a greeting, a login, an error),
// flattened into the step's JSON object.
type Msg struct {
	// Code is an error code, SQLState its SQLSTATE,
	// Severity its severity, Message its text; Cut says the capture cut
	// the message. Version is the server's version, Protocol the protocol
	// version ("10", "3.0"), ID the server's id for the connection or the
	// backend a request names, Auth the authentication plugin or method,
	// TLS what a greeting said of TLS ("offered", "not_offered",
	// "unknown"), User and Database what the client logged in as, Command
	// the client's command.
	Code     int    `json:"code,omitempty"`
	SQLState string `json:"sqlstate,omitempty"`
	Severity string `json:"severity,omitempty"`
	Message  string `json:"message,omitempty"`
	Cut      bool   `json:"cut,omitempty"`
	Version  string `json:"version,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	ID       uint64 `json:"id,omitempty"`
	Auth     string `json:"auth,omitempty"`
	TLS      string `json:"tls,omitempty"`
	User     string `json:"user,omitempty"`
	Database string `json:"database,omitempty"`
	Command  string `json:"command,omitempty"`
}

// ICMP is an ICMP error as a timeline step has it: who sent it, its type
// and code, and, when it quoted a SYN other than the attempt's, that
// sequence number beside the attempt's ISN.
type ICMP struct {
	From      string `json:"from"`
	V6        bool   `json:"v6"`
	Type      uint8  `json:"type"`
	Code      uint8  `json:"code"`
	QuotedSeq uint32 `json:"quoted_seq,omitempty"`
	ISN       uint32 `json:"isn,omitempty"`
}

// MSOf is a duration in milliseconds, as ElapsedMS holds it (Dur of the
// duration and MS of this are the same words).
func MSOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
