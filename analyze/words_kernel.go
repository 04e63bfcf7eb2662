package analyze

import (
	"fmt"
	"strings"

	"github.com/connscope/connscope/analyze/proto"
)

// The words of what a traced host's kernel and its server side showed
// (facts.kernel_drop, facts.accept, facts.listeners): evidence and causes
// made from those facts only, when the report is rendered.

func init() {
	// A SYN nobody answered because a traced host dropped it: the words of
	// what was seen (the SYNs, or the kernel's ETIMEDOUT), the drop is its
	// own evidence (appendKernelEvidence).
	unanswered := func(w wordCtx) []string {
		r := ReasonSYNUnanswered
		if w.f.Errno == "ETIMEDOUT" {
			r = ReasonETIMEDOUT
		}
		ws, _ := wordingOf(r)
		return ws.evidence(w)
	}
	for _, r := range []Reason{ReasonKernelNetfilterDrop, ReasonKernelListenOverflow, ReasonKernelDropped} {
		setWording(r, wording{evidence: unanswered, causes: dropCauses})
	}
}

// appendKernelEvidence appends to ev what the server side and the
// kernel's drops add to any verdict: an accept that came late or never,
// the drop behind it.
//
// The evidence that comes with every live connect (a drop, an accept, a
// RST the kernel sent) is joined rather than made with fmt.Sprintf, and
// appended to the attempt's (not a list of its own, then copied there):
// live tracing words thousands of connects a second.
func appendKernelEvidence(ev []string, w wordCtx) []string {
	if s := acceptEvidence(w); s != "" {
		ev = append(ev, s)
	}
	if d := w.f.KernelDrop; d != nil {
		ev = append(ev, dropEvidence(d))
	}
	if s := synackEvidence(w.f.Accept); s != "" {
		ev = append(ev, s)
	}
	if s := rstSentEvidence(w.f.RSTSent); s != "" {
		ev = append(ev, s)
	}
	return ev
}

// synackEvidence says what the server's SYN-ACK retransmits mean: the
// client's ACK completing the handshake did not reach the accept queue,
// and why when the kernel said so.
func synackEvidence(f *AcceptFact) string {
	if f == nil || f.SYNACKRetransmits == 0 {
		return ""
	}
	n := plural(f.SYNACKRetransmits, "time", "times")
	switch f.ACKDropped {
	case "":
		return "the server's kernel retransmitted its SYN-ACK " + n + ": the client's ACK completing the handshake did not reach it (lost, or dropped because the accept queue was full), or the client sent its SYN again"
	case "TCP_LISTEN_OVERFLOW":
		return "the server's kernel retransmitted its SYN-ACK " + n + " because it dropped the client's ACK completing the handshake: the accept queue was full (TCP_LISTEN_OVERFLOW)"
	}
	return "the server's kernel retransmitted its SYN-ACK " + n + " because it dropped the client's ACK completing the handshake (" + f.ACKDropped + ")"
}

// dropEvidence says what the kernel dropped, and why: made once per drop
// fact (dropMemo), which is all it reads.
func dropEvidence(d *DropFact) string {
	h := memoHash(memoHash(memoHash(b2u(d.Received), d.Reason), d.Packet), d.Location)
	if s, ok := dropMemo.get(h, *d); ok {
		return s
	}
	s := "the kernel of this host dropped the " + d.Packet + " " + dropHow(d) + ": " + d.Reason + dropWhere(d.Location)
	dropMemo.put(h, *d, s)
	return s
}

// rstSentEvidence says which end's kernel sent the attempt's RST, and why:
// made once per fact (rstSentMemo), which is all it reads.
func rstSentEvidence(f *RSTFact) string {
	if f == nil {
		return ""
	}
	h := memoHash(memoHash(memoHash(0, f.From), f.Answers), f.Reason)
	if s, ok := rstSentMemo.get(h, *f); ok {
		return s
	}
	s := "the kernel of this host (the " + f.From + ") "
	if f.Answers != "" {
		s += "sent the RST answering the " + f.Answers
	} else {
		s += "reset the connection (its socket aborted it)"
	}
	if f.Reason != "" {
		s += ": " + f.Reason
	}
	rstSentMemo.put(h, *f, s)
	return s
}

// The kernel's sentences kept by their facts.
var (
	dropMemo    wordMemo[DropFact, string]
	rstSentMemo wordMemo[RSTFact, string]
)

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// kernelCauses are the causes from the server side and the listener
// inventory, after the reason's own.
func kernelCauses(w wordCtx) []string {
	return append(append(serverCauses(w), overflowCauses(w)...), listenerCauses(w)...)
}

func dropHow(d *DropFact) string {
	if d.Received {
		return "it received"
	}
	return "it was sending"
}

func dropWhere(location string) string {
	if location == "" {
		return ""
	}
	return " (in " + location + ")"
}

// dropCauses explains the drop reasons.
func dropCauses(w wordCtx) []string {
	d := w.f.KernelDrop
	if d == nil {
		// Not expected (the reasons come from a drop): speak of the SYN.
		d = &DropFact{Packet: "SYN", Dir: DirC2S, Received: true, Reason: "(unknown)"}
	}
	server, port := w.server(), w.port()
	switch w.at.Reason {
	case ReasonKernelNetfilterDrop:
		c2s := d.Dir == DirC2S
		switch {
		case c2s && d.Received:
			return one(fmt.Sprintf("A netfilter rule (nftables/iptables) on this host drops the SYNs it receives for %s: check `nft list ruleset` (or `iptables -S`) here for a drop rule matching port %d or the client %s.", server, port, w.clientAddr()))
		case c2s:
			return one(fmt.Sprintf("A netfilter output rule on this host (the client) drops its own SYNs to %s: check `nft list ruleset` (or `iptables -S OUTPUT`) here for a rule matching port %d or %s.", server, port, w.addr()))
		case d.Received:
			return one(fmt.Sprintf("A netfilter rule on this host drops the SYN-ACK coming back from %s: an input rule that accepts no replies (no `ct state established,related accept`) or that drops traffic from %s. Check `nft list ruleset` here.", server, w.addr()))
		default:
			return one(fmt.Sprintf("A netfilter output rule on this host (the server) drops its own SYN-ACKs to %s: check `nft list ruleset` here for a rule matching source port %d.", w.clientAddr(), port))
		}
	case ReasonKernelListenOverflow:
		return one(fmt.Sprintf("The listener on %s had a full accept queue (%s): the server process does not accept() fast enough, or its listen backlog (the listen() argument, capped by net.core.somaxconn) is too small for the burst. Compare Recv-Q with Send-Q in `ss -ltn` on the server.", server, d.Reason))
	case ReasonKernelDropped:
		return one(fmt.Sprintf("The kernel of this host dropped the %s with reason %s (enum skb_drop_reason, include/net/dropreason-core.h in the kernel sources, says what it checks).", d.Packet, d.Reason))
	}
	return nil
}

// acceptEvidence says what the server's side adds to a verdict: an accept
// that came late, or none at all for a queued connection of a failed
// attempt.
func acceptEvidence(w wordCtx) string {
	f := w.f.Accept
	switch {
	case f == nil || f.HandshakeMS == nil:
		return ""
	case f.By == "":
		if w.at.Outcome == OK {
			return ""
		}
		return "the server's kernel completed the handshake at +" + d(f.HandshakeMS) + ", but no process had accept()ed the connection when it was decided"
	case slowQueued(f):
		return f.By + " did not accept() the connection for " + d(f.QueuedMS) + " after the server's kernel completed the handshake"
	case w.at.Outcome != OK && f.QueuedMS != nil:
		// Who took the failed attempt's connection, and when: a server
		// that refuses (1040, 1130) does so itself, after a prompt accept.
		// Appended in one buffer, one string made of it (no string of the
		// time): every such live connect words this.
		var buf [128]byte
		b := appendD(append(append(buf[:0], f.By...), " accept()ed the connection "...), f.QueuedMS)
		return string(append(b, " after the server's kernel completed the handshake"...))
	}
	return ""
}

func slowQueued(f *AcceptFact) bool {
	return f.QueuedMS != nil && *f.QueuedMS >= proto.MSOf(slowAccept)
}

// acceptExplainsFirst says the server's first bytes came late because its
// process accept()ed the connection late: the accept wait was slow, and the
// greeting followed the accept within lateFirstMS.
func acceptExplainsFirst(f *Facts) bool {
	a := f.Accept
	return a != nil && slowQueued(a) && f.ServerFirstMS != nil && *f.ServerFirstMS-*a.QueuedMS < lateFirstMS
}

// lateFirstMS is the delay of a server's first bytes worth a cause.
const lateFirstMS = 1000

// serverCauses explains an accept that never came or came late.
func serverCauses(w wordCtx) []string {
	f := w.f.Accept
	if f == nil || f.HandshakeMS == nil {
		return nil
	}
	if w.at.Outcome == OK {
		if acceptExplainsFirst(w.f) {
			return one(fmt.Sprintf("%s did not accept() the connection for %s after the server's kernel completed the handshake, and spoke %s after it did: the server process was stopped (SIGSTOP, a debugger), stalled or overloaded (all its threads busy, a long pause), not the network or a lookup; the client's wait includes that time.",
				f.By, d(f.QueuedMS), proto.MS(*w.f.ServerFirstMS-*f.QueuedMS)))
		}
		return nil
	}
	if f.By == "" {
		return one("The server's kernel accepted the TCP connection, but the server process never took it from the accept queue: the process is stopped (SIGSTOP, a debugger), hung, or too busy to call accept(); check its state (`ps -o stat`, `top`) and its log.")
	}
	if slowQueued(f) {
		return one(fmt.Sprintf("%s took %s to accept() the connection: the server process was stalled or overloaded (all its threads busy, a long pause); the client's wait includes that time.", f.By, d(f.QueuedMS)))
	}
	return nil
}

// overflowCauses explains a handshake the server's full accept queue held
// back: its kernel dropped the client's ACK and retransmitted its SYN-ACK.
func overflowCauses(w wordCtx) []string {
	f := w.f.Accept
	if f == nil || f.SYNACKRetransmits == 0 || f.ACKDropped != "TCP_LISTEN_OVERFLOW" || w.at.Outcome == OK ||
		w.at.Reason == ReasonKernelListenOverflow { // dropCauses says it
		return nil
	}
	return one(fmt.Sprintf("The listener on %s had a full accept queue when the client's ACK came: the server's kernel dropped it (TCP_LISTEN_OVERFLOW) and retransmitted its SYN-ACK %s until there was room. The server process does not accept() fast enough, or its listen backlog (the listen() argument, capped by net.core.somaxconn) is too small for the burst: compare Recv-Q with Send-Q in `ss -ltn` on the server.", w.server(), plural(f.SYNACKRetransmits, "time", "times")))
}

// listenerCauses names who listened on the attempt's port, and where, when
// that explains a refusal or a timeout.
func listenerCauses(w wordCtx) []string {
	lf := w.f.Listeners
	if lf == nil {
		return nil
	}
	var match *ListenerEntry
	for i := range lf.Listeners {
		if lf.Listeners[i].Serves {
			match = &lf.Listeners[i]
			break
		}
	}
	kd := w.f.KernelDrop
	noSocket := kd != nil && kd.Reason == "NO_SOCKET" && kd.Received
	switch w.at.Reason {
	case ReasonRSTFromServer, ReasonKernelRST, ReasonECONNREFUSED:
	case ReasonSYNUnanswered, ReasonETIMEDOUT, ReasonKernelListenOverflow, ReasonSYNACKAfterGiveUp:
		if match != nil && match.Backlog > 0 && match.AcceptQueue >= match.Backlog {
			return one(fmt.Sprintf("Before this attempt (listener inventory), %s's accept queue on %s was already full (%d waiting, limit %d): it does not accept() fast enough, or its listen backlog is too small.",
				listenerName(match), match.Addr, match.AcceptQueue, match.Backlog))
		}
		return nil
	default:
		return nil
	}
	if match != nil {
		return nil // someone listened there before: it went away since, or a firewall reset
	}
	if len(lf.Listeners) == 0 {
		if !noSocket {
			return nil // this host may not be the server
		}
		if len(lf.NoTCP) > 0 {
			return noTCPCauses(lf)
		}
		return one(fmt.Sprintf("Nothing listened on port %d of this host before this attempt (listener inventory), and the kernel dropped the SYN with NO_SOCKET: the server is not running, listens on another port, or accepts only on a unix socket.", lf.Port))
	}
	var addrs []string
	for _, l := range lf.Listeners {
		addrs = append(addrs, l.Addr)
	}
	first := &lf.Listeners[0]
	c := fmt.Sprintf("%s listens on %s only; this SYN came to %s, where nothing listens, hence the RST", listenerName(first), strings.Join(addrs, " and "), w.server())
	if noSocket {
		c += " (the kernel: NO_SOCKET)"
	}
	c += ": the server is bound to other addresses (its bind or listen address setting), or the client uses the wrong address."
	if len(first.UnixSockets) > 0 {
		c += fmt.Sprintf(" It also listens on the unix socket %s.", strings.Join(first.UnixSockets, " and "))
	}
	return one(c)
}

func listenerName(l *ListenerEntry) string {
	if l.Process == "" {
		return "a process not found"
	}
	return l.Process
}

// noTCPCauses: nothing listened on the port, and a server of this host
// listened on no TCP socket at all.
func noTCPCauses(lf *ListenerFact) []string {
	var c []string
	for i := range lf.NoTCP {
		l := &lf.NoTCP[i]
		s := fmt.Sprintf("Nothing listens on port %d of this host, hence the RST (the kernel: NO_SOCKET); %s runs here with no TCP listener at all", lf.Port, listenerName(l))
		if len(l.UnixSockets) > 0 {
			s += ", only the unix socket " + strings.Join(l.UnixSockets, " and ")
		}
		comm, _, _ := strings.Cut(l.Process, "[")
		if p := serverProtocol(comm); p != nil && p.NoTCP != nil {
			s += ": " + p.NoTCP(listenerName(l))
		} else {
			s += ": it is configured for local connections only."
		}
		c = append(c, s)
	}
	return c
}
