package analyze

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// The server's side of an attempt (live, on the server's host): the server
// kernel's handshake (the child socket queued for accept()) and the accept()
// that took it, by which process, after how long. A connection that waits
// in the accept queue is the server process's delay, not the network's.

// slowAccept is the accept-queue wait worth stating as evidence.
const slowAccept = 500 * time.Millisecond

// AcceptFact is the server side's accept() of the attempt (facts.accept).
type AcceptFact struct {
	// By is the accepting process, "comm[pid]"; "" when the connection was
	// queued but no process had accepted it when the attempt was decided.
	By  string `json:"by,omitempty"`
	PID uint32 `json:"pid,omitempty"`
	// QueuedMS is the time in the accept queue (handshake complete to
	// accept()), nil when either end was not seen.
	QueuedMS *float64 `json:"queued_ms,omitempty"`
	// HandshakeMS is when the server's kernel completed the handshake
	// (queued the connection for accept()), since the attempt's start; nil
	// when that was not seen.
	HandshakeMS *float64 `json:"handshake_ms,omitempty"`
	// SYNACKRetransmits counts the SYN-ACKs the server's kernel sent again
	// for the connection (tcp:tcp_retransmit_synack): the client's ACK
	// completing the handshake did not come, or was dropped.
	SYNACKRetransmits int `json:"syn_ack_retransmits,omitempty"`
	// ACKDropped is the server kernel's reason for dropping the client's
	// ACK that completed the handshake (TCP_LISTEN_OVERFLOW: the accept
	// queue was full), "" when it dropped none.
	ACKDropped string `json:"ack_dropped,omitempty"`
}

// RSTFact is the first RST a traced host's kernel sent for the attempt
// (facts.rst_sent, from tcp:tcp_send_reset).
type RSTFact struct {
	// From is the attempt's end that sent it: "server" or "client".
	From string `json:"from"`
	// Reason is the kernel's (enum sk_rst_reason without its
	// SK_RST_REASON_ prefix: NO_SOCKET, TCP_ABORT_ON_CLOSE, ...), "" when
	// the kernel's tracepoint gives none (before Linux 6.10).
	Reason string `json:"reason,omitempty"`
	// Answers is the segment the RST answered ("SYN", "ACK", ...), "" when
	// the socket aborted its connection on its own (close with unread
	// data, SO_LINGER 0, a timeout).
	Answers string `json:"answers,omitempty"`
}

// serverSide is what the server's side showed of an attempt.
type serverSide struct {
	queued, accepted time.Time
	by               string
	pid              uint32
	synackRetrans    int
	// out is the attempt's accept fact (fact), with the times it points
	// to: made again in place at each server-side event, which stop once
	// the attempt is reported.
	out                   AcceptFact
	handshakeMS, queuedMS float64
}

// sideKind says the kernel event is a drop or one of the server's side
// (drop.go, server.go): joined to its attempt by flow, never a new one.
func sideKind(k event.KernelKind) bool {
	switch k {
	case event.PacketDrop, event.ChildEstablished, event.Accepted, event.SYNACKRetransmit, event.ResetSent:
		return true
	}
	return false
}

// kernelSide joins a drop or server-side event to its attempt, and reports
// whether it could (false: the attempt is unknown or already reported).
func (e *Engine) kernelSide(k *event.Kernel) bool {
	switch k.Kind {
	case event.PacketDrop:
		return e.kernelDrop(k)
	case event.ResetSent:
		return e.kernelReset(k)
	}
	return e.kernelServer(k)
}

// kernelReset joins a RST this host's kernel sent to its attempt: by the
// socket's cookie when the tracer bound it (a client's connect), else by
// the flow. A RST from the server's end makes the attempt one seen from
// the server's side.
func (e *Engine) kernelReset(k *event.Kernel) bool {
	r := k.Reset
	if r == nil || !k.Src.IsValid() || !k.Dst.IsValid() {
		return true // nothing to join
	}
	a := e.socketAttempt(k)
	if a == nil || a.unix != "" || (a.conn != nil && a.conn.reported) {
		return false
	}
	from := "client"
	if k.Src.Port() == a.server.Port() && k.Src.Addr().Unmap() == a.server.Addr().Unmap() {
		from = "server"
		if a.srv == nil {
			a.srv = &serverSide{}
		}
	}
	f := &RSTFact{From: from, Reason: r.Reason}
	at := EventAttrs{Addr: a.endpointText(k.Dst)}
	if r.Passive {
		f.Answers = segmentName(r.Answers)
	} else {
		at.Note = NoteAborted
	}
	at.Detail = e.kern.details.get(proto.Detail{RSTReason: r.Reason, Packet: f.Answers})
	a.event(k.Time, EvKernelRSTSent, DirLocal, at)
	if a.facts.RSTSent == nil {
		a.facts.RSTSent = f
	}
	return true
}

// endpointText is ap as text: the attempt's own text of its client or
// server when ap is one of them (made once per attempt, and used again by
// its report), else formatted.
func (a *attempt) endpointText(ap netip.AddrPort) string {
	switch {
	case ap == a.client:
		return a.clientName()
	case ap == a.server && a.unix == "":
		return a.serverName()
	}
	return ap.String()
}

// acceptorName is "comm[pid]" for an accepting process: the one made last
// for its PID (modulo synSentWays) while it has that name, else a new one
// (a server's every accept, thousands a second under a connect storm).
func (e *Engine) acceptorName(p *event.Process) string {
	way := &e.kern.acceptedBy[p.PID%synSentWays]
	if way.name == "" || way.pid != p.PID || way.comm != p.Comm {
		*way = acceptor{pid: p.PID, comm: p.Comm, name: p.Comm + "[" + strconv.FormatUint(uint64(p.PID), 10) + "]"} // not fmt.Sprintf
	}
	return way.name
}

// acceptedDetail is the Detail of an accepted step of process p: the last
// one made for its PID (modulo synSentWays) while it has p's name and
// file descriptor (a server that closes each connection before it
// accepts the next gets the same one again), else a new one. Shared is
// safe, as for stateDetail.
func (e *Engine) acceptedDetail(p *event.Process) *proto.Detail {
	way := &e.kern.acceptedBy[p.PID%synSentWays]
	if d := way.detail; d != nil && d.PID == p.PID && d.Comm == p.Comm && d.FD == p.FD {
		return d
	}
	way.detail = &proto.Detail{PID: p.PID, Comm: p.Comm, FD: p.FD}
	return way.detail
}

// segmentName names a TCP segment by its flags, as the timeline does.
func segmentName(flags uint8) string {
	switch {
	case flags&event.TCPSyn != 0 && flags&event.TCPAck != 0:
		return "SYN-ACK"
	case flags&event.TCPSyn != 0:
		return "SYN"
	case flags&event.TCPFin != 0:
		return "FIN"
	case flags&event.TCPRst != 0:
		return "RST"
	}
	return "ACK"
}

// kernelServer joins a server-side event to its attempt by the 5-tuple (the
// child socket's cookie is not the client socket's). It reports false when
// the attempt is unknown or already reported.
func (e *Engine) kernelServer(k *event.Kernel) bool {
	byTuple := *k
	byTuple.Cookie = 0
	a := e.socketAttempt(&byTuple)
	if a == nil || a.unix != "" || (a.conn != nil && a.conn.reported) {
		return false
	}
	if a.srv == nil {
		a.srv = &serverSide{}
	}
	s := a.srv
	switch k.Kind {
	case event.ChildEstablished:
		if !s.queued.IsZero() {
			return true
		}
		s.queued = k.Time
		a.event(k.Time, EvServerHandshake, DirLocal, EventAttrs{Addr: a.endpointText(k.Src)})
	case event.Accepted:
		if !s.accepted.IsZero() {
			return true
		}
		if s.queued.IsZero() && !a.hsDoneAt.IsZero() && !a.hsDoneAt.After(k.Time) {
			// No handshake event (a pid filter without a port filter
			// leaves the server's softirq side out): the client's ACK
			// completing the handshake, captured on this host, is when
			// the kernel queued the connection.
			s.queued = a.hsDoneAt
		}
		s.accepted, s.pid = k.Time, k.Process.PID
		s.by = e.acceptorName(&k.Process)
		at := EventAttrs{Detail: e.acceptedDetail(&k.Process)}
		if !s.queued.IsZero() {
			at.ElapsedMS = ms(k.Time.Sub(s.queued))
		}
		a.event(k.Time, EvAccepted, DirLocal, at)
	case event.SYNACKRetransmit:
		s.synackRetrans++
		a.event(k.Time, EvKernelSYNACKRetrans, DirLocal, EventAttrs{N: int(k.Retransmits) + 1, Addr: k.Dst.String()})
	}
	// The fact, worded as evidence (a late or missing accept) when the
	// report is rendered (words_kernel.go).
	a.facts.Accept = s.fact(a)
	return true
}

// fact is the attempt's accept fact as things stand: s.out, made again
// (an accepted connect has two server-side events, and one fact).
func (s *serverSide) fact(a *attempt) *AcceptFact {
	f := &s.out
	*f = AcceptFact{By: s.by, PID: s.pid}
	if !s.queued.IsZero() {
		s.handshakeMS = ms(s.queued.Sub(a.start))
		f.HandshakeMS = &s.handshakeMS
	}
	if !s.queued.IsZero() && !s.accepted.IsZero() {
		s.queuedMS = ms(s.accepted.Sub(s.queued))
		f.QueuedMS = &s.queuedMS
	}
	f.SYNACKRetransmits = s.synackRetrans
	for i := range a.kDrops {
		if d := &a.kDrops[i]; d.packet == "ACK" && d.received && d.c2s {
			f.ACKDropped = d.reason
			break
		}
	}
	return f
}
