package analyze

import (
	"fmt"
	"time"

	"github.com/connscope/connscope/event"
)

// The server's side of an attempt (live, on the server's host): the server
// kernel's handshake (the child socket queued for accept()) and the accept()
// that took it, by which process, after how long. A connection that waits
// in the accept queue is the server process's delay, not the network's.

// Timeline kinds of the server's side.
const (
	// EvServerHandshake: the server's kernel completed the handshake; the
	// connection waits in the accept queue.
	EvServerHandshake EventKind = "server_handshake"
	// EvAccepted: a server process accept()ed the connection.
	EvAccepted EventKind = "accepted"
)

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
		a.addEvent(k.Time, EvServerHandshake, DirLocal, "server kernel: handshake complete, queued for accept() on %s", k.Src)
	case event.Accepted:
		if !s.accepted.IsZero() {
			return true
		}
		s.accepted, s.pid = k.Time, k.Process.PID
		s.by = fmt.Sprintf("%s[%d]", k.Process.Comm, k.Process.PID)
		wait := ""
		if !s.queued.IsZero() {
			wait = " after " + fmtDur(k.Time.Sub(s.queued)) + " in the accept queue"
		}
		a.addEvent(k.Time, EvAccepted, DirLocal, "accept() by %s (fd %d)%s", s.by, k.Process.FD, wait)
	}
	a.facts.Accept = s.fact()
	if a.final {
		// Decided before (a greeting seen, say): the accept is evidence
		// only when it was slow.
		if ev := s.evidence(a); ev != "" && k.Kind == event.Accepted {
			a.evidence = append(a.evidence, ev)
		}
	}
	return true
}

func (s *serverSide) fact() *AcceptFact {
	f := &AcceptFact{By: s.by, PID: s.pid}
	if !s.queued.IsZero() && !s.accepted.IsZero() {
		q := ms(s.accepted.Sub(s.queued))
		f.QueuedMS = &q
	}
	return f
}

// evidence says what the server's side adds to a verdict: an accept that
// came late, or none at all for a queued connection.
func (s *serverSide) evidence(a *attempt) string {
	switch {
	case s.queued.IsZero():
		return ""
	case s.accepted.IsZero():
		return fmt.Sprintf("the server's kernel completed the handshake at +%s, but no process had accept()ed the connection when it was decided", fmtDur(s.queued.Sub(a.start)))
	case s.accepted.Sub(s.queued) >= slowAccept:
		return fmt.Sprintf("%s did not accept() the connection for %s after the server's kernel completed the handshake", s.by, fmtDur(s.accepted.Sub(s.queued)))
	}
	return ""
}

// serverCauses explains an accept that never came or came late.
func serverCauses(a *attempt) []string {
	s := a.srv
	if s == nil || s.queued.IsZero() || a.reason.Outcome() == OK {
		return nil
	}
	if s.accepted.IsZero() {
		return []string{"The server's kernel accepted the TCP connection, but the server process never took it from the accept queue: the process is stopped (SIGSTOP, a debugger), hung, or too busy to call accept(); check its state (`ps -o stat`, `top`) and its log."}
	}
	if s.accepted.Sub(s.queued) >= slowAccept {
		return []string{fmt.Sprintf("%s took %s to accept() the connection: the server process was stalled or overloaded (all its threads busy, a long pause); the client's wait includes that time.", s.by, fmtDur(s.accepted.Sub(s.queued)))}
	}
	return nil
}
