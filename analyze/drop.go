package analyze

import (
	"time"

	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// Kernel drop reasons (event.PacketDrop, from skb:kfree_skb): the kernel of
// a traced host says why it dropped a packet of an attempt. They join the
// attempt's timeline, and a handshake packet dropped on a traced host turns
// "no reply" into what the kernel knows: a SYN nobody answered because this
// host's netfilter dropped it is kernel.netfilter_drop.

// maxDrops bounds the drops remembered per attempt (each is also a
// timeline step): the first ones decide, later retransmits add nothing.
const maxDrops = 8

// kernelDrop is one drop of an attempt's packet.
type kernelDrop struct {
	at       time.Time
	reason   string // the kernel's name, e.g. NETFILTER_DROP
	location string // the kernel function that dropped it, "" if unknown
	received bool   // this host received the packet (else it was sending it)
	packet   string // "SYN", "SYN-ACK", "ACK", "ICMP error"
	c2s      bool   // the packet went from the client towards the server
}

// DropFact is the kernel drop behind a verdict (facts.kernel_drop).
type DropFact struct {
	// Reason is the kernel's name for it (enum skb_drop_reason without its
	// SKB_DROP_REASON_ prefix): NETFILTER_DROP, NO_SOCKET, ...
	Reason string `json:"reason"`
	// Packet is what was dropped: "SYN", "SYN-ACK", "ACK", "ICMP error".
	Packet string `json:"packet"`
	// Received: the traced host dropped a packet it received; otherwise
	// one it was sending.
	Received bool `json:"received"`
	// Location is the kernel function that dropped it (nft_do_chain,
	// tcp_v4_rcv, ...), when known.
	Location string `json:"location,omitempty"`
	// Dir is the way the packet went: "c2s" (towards the server: the SYN,
	// the ACK) or "s2c" (the SYN-ACK, an ICMP error about the SYN).
	Dir Dir `json:"dir"`
}

// kernelDrop joins a drop to its attempt: by the sending socket's cookie,
// else by the packet's 5-tuple. It reports false when the drop concerns an
// attempt that is unknown or already reported.
func (e *Engine) kernelDrop(k *event.Kernel) bool {
	d := k.Drop
	if d == nil || !k.Src.IsValid() || !k.Dst.IsValid() || afterDelivery(d.Reason) {
		return true // nothing to join
	}
	a := e.socketAttempt(k)
	if a == nil || a.unix != "" || (a.conn != nil && a.conn.reported) {
		return false
	}
	kd := kernelDrop{at: k.Time, reason: d.Reason, location: d.Location, received: d.Incoming}
	switch {
	case d.Proto != event.ProtoTCP:
		kd.packet = "ICMP error"
	case d.TCPFlags&event.TCPSyn != 0 && d.TCPFlags&event.TCPAck != 0:
		kd.packet = "SYN-ACK"
	case d.TCPFlags&event.TCPSyn != 0:
		kd.packet = "SYN"
	default:
		kd.packet = "ACK"
	}
	// The packet's direction: for an ICMP error, the flow is the quoted
	// segment's and the error travels back towards its sender.
	towardsServer := k.Dst == a.server
	kd.c2s = towardsServer
	if d.Proto != event.ProtoTCP {
		kd.c2s = !towardsServer
	}
	if len(a.kDrops) < maxDrops {
		a.kDrops = append(a.kDrops, kd)
	}
	at := EventAttrs{Detail: e.kern.details.get(proto.Detail{DropReason: kd.reason, Packet: kd.packet, Location: kd.location})}
	if !kd.received {
		at.Note = NoteSending
	}
	a.event(k.Time, EvKernelDrop, DirLocal, at)
	if a.srv != nil {
		a.facts.Accept = a.srv.fact(a) // an ACK dropped on the server's side
	}
	if a.final && len(a.kDrops) == 1 {
		// Decided before its drop came: a SYN to a port nobody listens on
		// is answered (RST) before the kernel frees it (NO_SOCKET). The
		// verdict stands; the drop is a fact (worded as evidence).
		a.facts.KernelDrop = kd.fact()
	}
	return true
}

// afterDelivery says a drop reason frees a packet its socket had already
// received: an ICMP error left in a socket's error queue when it closes
// (QUEUE_PURGE), a segment queued to a socket that closed (SOCKET_CLOSE).
// The packet did its work; the drop says nothing about the connect.
func afterDelivery(reason string) bool {
	return reason == "QUEUE_PURGE" || reason == "SOCKET_CLOSE"
}

func (d *kernelDrop) fact() *DropFact {
	f := &DropFact{Reason: d.reason, Packet: d.packet, Received: d.received, Location: d.location, Dir: DirS2C}
	if d.c2s {
		f.Dir = DirC2S
	}
	return f
}

// handshakeDrop is the attempt's first drop of a packet of its handshake:
// its SYN, the server's SYN-ACK, the ACK completing it, or an ICMP error
// about its SYN.
func (a *attempt) handshakeDrop() *kernelDrop {
	if len(a.kDrops) == 0 {
		return nil
	}
	return &a.kDrops[0] // package bpf reports handshake packets only
}

// dropVerdict refines a verdict with the kernel's own reason for dropping a
// handshake packet of the attempt: a SYN that went unanswered because a
// traced host dropped it (or its SYN-ACK) is no longer a mystery. Other
// verdicts keep their reason; the drop is a fact either way (worded as
// evidence, words_kernel.go), as is the server side's accept.
func (e *Engine) dropVerdict(a *attempt, r Reason) Reason {
	if a.srv != nil {
		a.facts.Accept = a.srv.fact(a)
	}
	d := a.handshakeDrop()
	if d == nil {
		return r
	}
	if r == ReasonSYNUnanswered || r == ReasonETIMEDOUT {
		switch d.reason {
		case "NETFILTER_DROP":
			r = ReasonKernelNetfilterDrop
		case "TCP_LISTEN_OVERFLOW", "TCP_REQQFULLDROP":
			r = ReasonKernelListenOverflow
		default:
			r = ReasonKernelDropped
		}
	}
	a.facts.KernelDrop = d.fact()
	return r
}
