package analyze

import (
	"fmt"
	"time"

	"github.com/connscope/connscope/event"
)

// Kernel drop reasons (event.PacketDrop, from skb:kfree_skb): the kernel of
// a traced host says why it dropped a packet of an attempt. They join the
// attempt's timeline, and a handshake packet dropped on a traced host turns
// "no reply" into what the kernel knows: a SYN nobody answered because this
// host's netfilter dropped it is kernel.netfilter_drop.

// EvKernelDrop is a packet of the attempt that the kernel of the traced host
// dropped, with the kernel's reason.
const EvKernelDrop EventKind = "kernel_drop"

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
	a.addEvent(k.Time, EvKernelDrop, DirLocal, "kernel dropped the %s %s: %s%s", kd.packet, kd.how(), kd.reason, kd.where())
	if a.final && len(a.kDrops) == 1 {
		// Decided before its drop came: a SYN to a port nobody listens on
		// is answered (RST) before the kernel frees it (NO_SOCKET). The
		// verdict stands; the drop is evidence and a fact.
		a.evidence = append(a.evidence, dropEvidence(a, &a.kDrops[0]))
	}
	return true
}

// dropEvidence records d as the verdict's fact and says it in words.
func dropEvidence(a *attempt, d *kernelDrop) string {
	a.facts.KernelDrop = d.fact()
	return fmt.Sprintf("the kernel of this host dropped the %s %s: %s%s", d.packet, d.how(), d.reason, d.where())
}

// afterDelivery says a drop reason frees a packet its socket had already
// received: an ICMP error left in a socket's error queue when it closes
// (QUEUE_PURGE), a segment queued to a socket that closed (SOCKET_CLOSE).
// The packet did its work; the drop says nothing about the connect.
func afterDelivery(reason string) bool {
	return reason == "QUEUE_PURGE" || reason == "SOCKET_CLOSE"
}

// how says whether the traced host was receiving or sending the packet.
func (d *kernelDrop) how() string {
	if d.received {
		return "it received"
	}
	return "it was sending"
}

func (d *kernelDrop) where() string {
	if d.location == "" {
		return ""
	}
	return " (in " + d.location + ")"
}

func (d *kernelDrop) fact() *DropFact {
	return &DropFact{Reason: d.reason, Packet: d.packet, Received: d.received, Location: d.location}
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
// verdicts keep their reason; the drop is evidence and a fact either way.
func (e *Engine) dropVerdict(a *attempt, r Reason, evidence []string) (Reason, []string) {
	if a.srv != nil && (r.Outcome() != OK || !a.srv.accepted.IsZero()) {
		if ev := a.srv.evidence(a); ev != "" {
			evidence = append(evidence, ev) // server.go
		}
	}
	d := a.handshakeDrop()
	if d == nil {
		return r, evidence
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
	return r, append(evidence, dropEvidence(a, d))
}

// dropCauses explains the drop reasons.
func dropCauses(a *attempt) []string {
	d := a.handshakeDrop()
	if d == nil {
		// Not expected (the reasons come from a drop): speak of the SYN.
		d = &kernelDrop{packet: "SYN", c2s: true, received: true, reason: "(unknown)"}
	}
	server := a.serverName()
	port := a.server.Port()
	switch a.reason {
	case ReasonKernelNetfilterDrop:
		switch {
		case d.c2s && d.received:
			return []string{fmt.Sprintf("A netfilter rule (nftables/iptables) on this host drops the SYNs it receives for %s: check `nft list ruleset` (or `iptables -S`) here for a drop rule matching port %d or the client %s.", server, port, a.client.Addr())}
		case d.c2s:
			return []string{fmt.Sprintf("A netfilter output rule on this host (the client) drops its own SYNs to %s: check `nft list ruleset` (or `iptables -S OUTPUT`) here for a rule matching port %d or %s.", server, port, a.server.Addr())}
		case d.received:
			return []string{fmt.Sprintf("A netfilter rule on this host drops the SYN-ACK coming back from %s: an input rule that accepts no replies (no `ct state established,related accept`) or that drops traffic from %s. Check `nft list ruleset` here.", server, a.server.Addr())}
		default:
			return []string{fmt.Sprintf("A netfilter output rule on this host (the server) drops its own SYN-ACKs to %s: check `nft list ruleset` here for a rule matching source port %d.", a.client.Addr(), port)}
		}
	case ReasonKernelListenOverflow:
		return []string{fmt.Sprintf("The listener on %s had a full accept queue (%s): the server process does not accept() fast enough, or its listen backlog (the listen() argument, capped by net.core.somaxconn) is too small for the burst. Compare Recv-Q with Send-Q in `ss -ltn` on the server.", server, d.reason)}
	case ReasonKernelDropped:
		return []string{fmt.Sprintf("The kernel of this host dropped the %s with reason %s (enum skb_drop_reason, include/net/dropreason-core.h in the kernel sources, says what it checks).", d.packet, d.reason)}
	}
	return nil
}
