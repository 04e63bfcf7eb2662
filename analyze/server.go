package analyze

import (
	"fmt"
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
}

// serverSide is what the server's side showed of an attempt.
type serverSide struct {
	queued, accepted time.Time
	by               string
	pid              uint32
}

// kernelSide joins a drop or server-side event to its attempt, and reports
// whether it could (false: the attempt is unknown or already reported).
func (e *Engine) kernelSide(k *event.Kernel) bool {
	if k.Kind == event.PacketDrop {
		return e.kernelDrop(k)
	}
	return e.kernelServer(k)
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
		a.event(k.Time, EvServerHandshake, DirLocal, EventAttrs{Addr: k.Src.String()})
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
		s.by = fmt.Sprintf("%s[%d]", k.Process.Comm, k.Process.PID)
		at := EventAttrs{Detail: &proto.Detail{PID: k.Process.PID, Comm: k.Process.Comm, FD: k.Process.FD}}
		if !s.queued.IsZero() {
			at.ElapsedMS = ms(k.Time.Sub(s.queued))
		}
		a.event(k.Time, EvAccepted, DirLocal, at)
	}
	// The fact, worded as evidence (a late or missing accept) when the
	// report is rendered (words_kernel.go).
	a.facts.Accept = s.fact(a)
	return true
}

func (s *serverSide) fact(a *attempt) *AcceptFact {
	f := &AcceptFact{By: s.by, PID: s.pid}
	if !s.queued.IsZero() {
		f.HandshakeMS = msp(s.queued.Sub(a.start))
	}
	if !s.queued.IsZero() && !s.accepted.IsZero() {
		q := ms(s.accepted.Sub(s.queued))
		f.QueuedMS = &q
	}
	return f
}
