// Package event is the vocabulary of connscope's one time-ordered event
// stream: decoded packets from package capture and kernel socket events from
// package bpf, both stamped on the same (wall) clock.
//
// It has its own home so that the sources (capture, bpf) and the consumer
// (analyze) agree on the data without importing each other: data flows
// capture/bpf → event → analyze → report, never back upstream.
//
// Values are plain data. A *Packet handed to a consumer is only valid for the
// duration of the call: sources reuse it (and its Payload) for the next
// packet, so consumers copy what they keep.
package event

import (
	"net/netip"
	"time"
)

// IP protocol numbers used in Packet.Proto.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// TCP flag bits as on the wire (Packet.TCPFlags).
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
)

// Packet is one captured frame decoded down to the transport layer.
// Application payload (DNS, MySQL) is left raw for the analyzer.
type Packet struct {
	Time   time.Time // capture timestamp (wall clock)
	Number uint64    // 1-based frame number within its source
	Offset int64     // byte offset of the frame's record in the (decompressed) file; -1 when live
	// Interface is the capture interface index within the source (pcapng IDB
	// index, or ifindex when live); frames seen on several interfaces share
	// everything but this.
	Interface int

	Src, Dst         netip.Addr // outermost IP header's addresses (after tunnels are not followed)
	Proto            uint8      // ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6
	SrcPort, DstPort uint16     // TCP/UDP ports; 0 otherwise
	IPID             uint32     // IPv4 identification, or IPv6 fragment id/flow label; helps spot duplicate frames
	HopLimit         uint8      // IPv4 TTL / IPv6 hop limit

	TCPFlags uint8  // TCPSyn|TCPAck|...
	Seq, Ack uint32 // TCP sequence and acknowledgement numbers
	Window   uint16 // TCP window

	// Payload is the transport payload as captured (may be shorter than
	// PayloadLen when the snap length cut it). For TCP and UDP it is the
	// segment/datagram data; for ICMP errors it is empty (see ICMP).
	Payload    []byte
	PayloadLen int // transport payload length according to the IP/UDP headers

	// ICMP is set for ICMP/ICMPv6 error messages (destination unreachable,
	// time exceeded, packet too big, parameter problem).
	ICMP *ICMPError

	// Process is the process the packet belongs to when the source knows it
	// (a pcapng packet comment written by `connscope trace -w`).
	Process *Process

	// Frame is the raw captured frame. Only live tracing sets it, when the
	// packets are also being recorded (-w); it is nil everywhere else.
	Frame *Frame
}

// Frame is a captured frame as it came off the wire, for recording.
type Frame struct {
	Data          []byte
	LinkType      uint16 // pcap LINKTYPE_* value
	InterfaceName string
	WireLen       int // the frame's length on the wire (Data may be cut by the snap length)
}

// ICMPError is an ICMP or ICMPv6 error and the header it quotes, so the
// analyzer can match it to the attempt it answers.
type ICMPError struct {
	V6         bool
	Type, Code uint8
	// The quoted (offending) packet: as the original sender sent it.
	QuotedSrc, QuotedDst         netip.Addr
	QuotedProto                  uint8
	QuotedSrcPort, QuotedDstPort uint16
	QuotedSeq                    uint32 // TCP sequence number of the quoted segment, when present
	QuotedHasSeq                 bool
}

// Process identifies the process behind a socket or packet.
type Process struct {
	PID  uint32
	TID  uint32
	Comm string
	FD   int32 // -1 when unknown
}

// KernelKind says what a Kernel event records.
type KernelKind uint8

const (
	// ConnectCall is the return of a connect() syscall: Ret is 0 or -errno
	// (-EINPROGRESS for a non-blocking connect in flight).
	ConnectCall KernelKind = iota + 1
	// StateChange is a TCP state change of the socket (OldState → NewState).
	StateChange
	// Retransmit is a retransmitted segment (for a SYN_SENT socket: a SYN retransmit).
	Retransmit
	// ResetReceived is an RST received by the socket.
	ResetReceived
	// SocketError is an asynchronous socket error (Errno), e.g. ECONNREFUSED, ETIMEDOUT.
	SocketError
	// PacketDrop is a packet of a followed port that the kernel dropped,
	// with the kernel's reason (skb:kfree_skb): Drop is set, Src and Dst
	// are the packet's addresses as on the wire (for an ICMP error, those
	// of the segment it quotes), Process and Cookie are set only when the
	// packet was sent by a socket the tracer bound at connect().
	PacketDrop
	// ChildEstablished is the server's side of a connect: a connection to
	// a followed port completed its handshake (the child socket
	// SYN_RECV→ESTABLISHED) and waits in the accept queue. Src is the
	// server's address, Dst the client's; Cookie is the child socket's.
	ChildEstablished
	// Accepted is accept() returning such a connection: Process is the
	// accepting process (FD the new descriptor), Src the server's address,
	// Dst the client's, Cookie the child socket's.
	Accepted
	// SYNACKRetransmit is the server's side of a handshake (a connection
	// still in SYN_RECV, tcp:tcp_retransmit_synack) sending its SYN-ACK
	// again: the client's ACK did not come, or was dropped, or the client
	// sent its SYN again. Src is the server's address, Dst the client's;
	// Retransmits counts the SYN-ACKs it had retransmitted before this one.
	SYNACKRetransmit
	// ResetSent is a RST this host's kernel sent (tcp:tcp_send_reset):
	// Src is this host's end of the flow, Dst the peer's; Reset says why;
	// State is the socket's TCP state (0: no socket, as for a SYN to a port
	// nobody listens on). Process and Cookie are set only for a socket the
	// tracer bound at connect().
	ResetSent
)

func (k KernelKind) String() string {
	switch k {
	case ConnectCall:
		return "connect"
	case StateChange:
		return "state"
	case Retransmit:
		return "retransmit"
	case ResetReceived:
		return "reset"
	case SocketError:
		return "sock_error"
	case PacketDrop:
		return "drop"
	case ChildEstablished:
		return "child_established"
	case Accepted:
		return "accept"
	case SYNACKRetransmit:
		return "synack_retransmit"
	case ResetSent:
		return "reset_sent"
	}
	return "unknown"
}

// TCP states as the kernel numbers them (include/net/tcp_states.h).
const (
	TCPEstablished = 1
	TCPSynSent     = 2
	TCPSynRecv     = 3
	TCPFinWait1    = 4
	TCPFinWait2    = 5
	TCPTimeWait    = 6
	TCPClose       = 7
	TCPCloseWait   = 8
	TCPLastAck     = 9
	TCPListen      = 10
	TCPClosing     = 11
)

// Socket families and types (as in connect()'s sockaddr and socket()).
const (
	FamilyUnix  = 1
	FamilyInet  = 2
	FamilyInet6 = 10

	SockStream = 1
	SockDgram  = 2
)

// Kernel is one socket event reported by package bpf.
type Kernel struct {
	Time time.Time // converted to the wall clock packets use
	Kind KernelKind

	Process Process // the task that called connect() (for softirq events: the task bound to the socket at connect time)
	Cookie  uint64  // the socket's identity (kernel socket cookie / address); stable for the socket's life

	Family   uint16 // FamilyInet, FamilyInet6, FamilyUnix
	SockType uint16 // SockStream, SockDgram
	Src, Dst netip.AddrPort
	UnixPath string // for FamilyUnix: the path; abstract names start with "@"

	Ret      int32 // ConnectCall: 0 or -errno
	Errno    int32 // SocketError: positive errno
	OldState uint8 // StateChange
	NewState uint8 // StateChange
	// State is the socket's TCP state when the event happened (for
	// Retransmit: TCPSynSent means a SYN retransmit; for StateChange it is
	// NewState); 0 for ConnectCall.
	State uint8
	// Entered is when the connect() syscall was entered (ConnectCall only;
	// Time is when it returned), so a blocking connect's duration is visible.
	Entered time.Time
	// Drop describes a PacketDrop (nil for every other kind).
	Drop *Drop
	// Reset describes a ResetSent (nil for every other kind).
	Reset *Reset
	// Retransmits: SYNACKRetransmit only.
	Retransmits uint8
	// ISN is the initial sequence number of the socket's connect, the Seq
	// of the SYN it sent (TCP ConnectCall, StateChange, Retransmit,
	// ResetReceived, SocketError), read from the socket once the SYN was
	// sent; 0 when unknown (the CLOSE→SYN_SENT change comes before the
	// kernel chooses it, connect() failing before the SYN, other kinds,
	// sources that cannot read it). It tells apart connects that reuse
	// one 5-tuple within moments of each other, which times cannot.
	ISN uint32
}

// Reset is a RST the kernel sent and why (tcp:tcp_send_reset).
type Reset struct {
	// Reason is the kernel's name for it (enum sk_rst_reason, Linux 6.10+,
	// read from the running kernel's BTF, without its SK_RST_REASON_
	// prefix): "NO_SOCKET", "TCP_ABORT_ON_CLOSE", ...; "" when the kernel's
	// tracepoint gives no reason. A value the enum does not name is
	// "reason N".
	Reason string
	Code   uint32 // the raw enum value (kernel-specific: compare names, not numbers)
	// Passive: the RST answers a segment this host received (Answers: its
	// TCP flags); otherwise the socket aborted its own connection.
	Passive bool
	Answers uint8
}

// Drop is a packet the kernel dropped and the reason it gives
// (enum skb_drop_reason, read from the running kernel's BTF).
type Drop struct {
	// Reason is the kernel's name without its SKB_DROP_REASON_ prefix:
	// "NETFILTER_DROP", "NO_SOCKET", "TCP_LISTEN_OVERFLOW", "NEIGH_FAILED".
	// A value the kernel's enum does not name is "reason N".
	Reason string
	Code   uint32 // the raw enum value (kernel-specific: compare names, not numbers)
	// Location is the kernel function that dropped the packet
	// ("nf_hook_slow", "tcp_v4_rcv"), "" when /proc/kallsyms cannot say.
	Location string
	// Incoming: the host received the packet (it came in on Ifindex);
	// otherwise the host was sending it (Ifindex: the output device, 0 when
	// not chosen yet).
	Incoming bool
	Ifindex  int
	Proto    uint8 // ProtoTCP, or ProtoICMP/ProtoICMPv6 for an error quoting a TCP segment
	TCPFlags uint8 // the TCP segment's flags (0 for an ICMP error)
	Seq      uint32
	// ICMPType and ICMPCode are set for an ICMP error.
	ICMPType, ICMPCode uint8
}

// Stats are the counters a source reports, so that nothing it drops is
// silently lost: they are shown in every summary.
type Stats struct {
	Source         string // e.g. file name, "afpacket", "ebpf"
	Packets        uint64 // frames read
	Malformed      uint64 // frames that could not be decoded (skipped)
	Unsupported    uint64 // frames of a link type or protocol connscope does not follow (skipped)
	KernelDrops    uint64 // packets the kernel dropped before capture (PACKET_STATISTICS)
	RingBufferLost uint64 // eBPF events lost because the ring buffer was full
	Events         uint64 // kernel events read (bpf)
	// Unread counts what the kernel captured before a live trace's stop
	// but the source never read: the stop could wait no longer (a loaded
	// machine). They are discarded, counted, and make the trace partial.
	Unread uint64
	Err    string // the error that stopped the source early, if any (with packet number and offset)
}
