package analyze

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/postgres"
	"github.com/connscope/connscope/analyze/proto"
)

// protocols are the application protocols the engine decodes, each a
// package under analyze/ (see package proto), asked to sniff in this
// order. Adding a protocol is one line here.
var protocols = []*proto.Protocol{
	&mysql.Protocol,
	&postgres.Protocol,
}

// reasonIDs maps every reason id (the engine's and the protocols') to
// its Reason. The protocols' reasons are registered after the engine's
// (registerProtocols depends on engineReasons, the table's length after
// the engine's own), so that the table lists the engine's first.
var reasonIDs = registerProtocols()

// serverFirstNames names the server-first protocols ("MySQL"), for the
// evidence about a server or client that speaks none of them.
var serverFirstNames = func() string {
	var names []string
	for _, p := range protocols {
		if p.ServerFirst {
			names = append(names, p.Name)
		}
	}
	return strings.Join(names, " or ")
}()

// ServerFirstProtocols names the registered server-first protocols, in
// registration order (the report names them for a server or client that
// speaks none of them).
func ServerFirstProtocols() []string {
	var names []string
	for _, p := range protocols {
		if p.ServerFirst {
			names = append(names, p.Name)
		}
	}
	return names
}

// AppendServerFirstNames appends the names of the registered server-first
// protocols joined with " or " (as strings.Join(ServerFirstProtocols(),
// " or ")) without making a list or a string: the report words a first
// payload with them for every connect to a server that is not one.
func AppendServerFirstNames(b []byte) []byte {
	first := true
	for _, p := range protocols {
		if p.ServerFirst {
			if !first {
				b = append(b, " or "...)
			}
			b = append(b, p.Name...)
			first = false
		}
	}
	return b
}

// ProtocolWords is the Words of the registered protocol named name (an
// Event's Proto): the report words the protocol's timeline steps with it.
// Nil when no protocol has that name.
func ProtocolWords(name string) func(kind string, dir proto.Dir, a *proto.Attrs) string {
	for _, p := range protocols {
		if p.Name == name {
			return p.Words
		}
	}
	return nil
}

// ProtocolAppendWords is the AppendWords of the protocol named name, nil
// when it has none (ProtocolWords words its steps then).
func ProtocolAppendWords(name string) func(b []byte, kind string, dir proto.Dir, a *proto.Attrs) []byte {
	for _, p := range protocols {
		if p.Name == name {
			return p.AppendWords
		}
	}
	return nil
}

// ProtocolPatternCauses is what the protocol registered under key (e.g.
// "mysql") adds to the causes of the incident pattern id; nil for none.
func ProtocolPatternCauses(key, pattern string) []string {
	for _, p := range protocols {
		if p.Key == key && key != "" && p.PatternCauses != nil {
			return p.PatternCauses(pattern)
		}
	}
	return nil
}

func registerProtocols() map[string]Reason {
	ids := make(map[string]Reason, engineReasons+32)
	for i := 1; i < engineReasons; i++ {
		ids[reasonTable[i].id] = Reason(i)
	}
	for _, p := range protocols {
		if err := registerProtocol(ids, p); err != nil {
			panic(err) // a plug-in's declaration is wrong: every test fails on it
		}
	}
	return ids
}

// knownOutcomes are the outcomes a protocol's reason may imply.
var knownOutcomes = []Outcome{OK, Refused, Unreachable, Timeout, NoGreeting, GreetingLate, ClosedBeforeGreeting,
	Rejected, WrongProtocol, AuthFailed, TLSFailed, Incomplete}

// registerProtocol adds p's reasons to the reason table.
func registerProtocol(reasonIDs map[string]Reason, p *proto.Protocol) error {
	if p.New == nil || (p.SniffServer == nil) == (p.SniffClient == nil) || p.ServerFirst != (p.SniffServer != nil) {
		return fmt.Errorf("protocol %q: needs New and exactly one of SniffServer (server first) or SniffClient (client first)", p.Name)
	}
	if p.Words == nil {
		return fmt.Errorf("protocol %q: needs Words (the report words its timeline steps with it)", p.Name)
	}
	for _, d := range p.Reasons {
		if _, dup := reasonIDs[d.ID]; dup {
			return fmt.Errorf("protocol %q: reason %q is declared twice", p.Name, d.ID)
		}
		if !slices.Contains(knownOutcomes, Outcome(d.Outcome)) {
			return fmt.Errorf("protocol %q: reason %q has unknown outcome %q", p.Name, d.ID, d.Outcome)
		}
		reasonIDs[d.ID] = def(d.ID, Outcome(d.Outcome), d.Meaning)
	}
	if _, ok := reasonIDs[p.WrongBanner]; p.WrongBanner != "" && !ok {
		return fmt.Errorf("protocol %q: WrongBanner reason %q is not declared", p.Name, p.WrongBanner)
	}
	if len(p.Reasons) > 0 && p.Evidence == nil {
		return fmt.Errorf("protocol %q: declares reasons but no Evidence (the report words its sessions' verdicts with it)", p.Name)
	}
	return nil
}

// Protocols are the registered protocols, in the order they are asked to
// sniff (for the report: their JSON keys, table columns and redaction
// patterns).
func Protocols() []*proto.Protocol { return slices.Clone(protocols) }

// reasonByID is the Reason with the given id (0, no reason, when there is none).
func reasonByID(id string) Reason { return reasonIDs[id] }

// protoPorts are the ports of each protocol (Engine.protoPorts), from its
// defaults or the options.
func protoPorts(opts *Options) []portSet {
	sets := make([]portSet, len(protocols))
	for i, p := range protocols {
		ports := p.Ports
		if p == &mysql.Protocol && len(opts.MySQLPorts) > 0 {
			ports = opts.MySQLPorts // Options.MySQLPorts (--mysql-port)
		}
		for _, port := range ports {
			sets[i].add(port)
		}
	}
	return sets
}

// expected is the server-first protocol the client meant to speak, when
// it can be told: the server's port is one of the protocol's, or the
// client (silent so far) is one of its known client programs.
func (e *Engine) expected(a *attempt) *proto.Protocol {
	for i, p := range protocols {
		if !p.ServerFirst || p.WrongBanner == "" {
			continue
		}
		if e.protoPorts[i].has(a.server.Port()) || a.firstCliData.IsZero() && slices.Contains(p.Clients, a.comm) {
			return p
		}
	}
	return nil
}

// protocolSocket reports whether a unix socket path is a protocol's
// server (its path names the protocol) and one of the ports filtered on is
// that protocol's.
func (e *Engine) protocolSocket(path string) bool {
	l := strings.ToLower(path)
	for i, p := range protocols {
		if !slices.ContainsFunc(p.SocketWords, func(w string) bool { return strings.Contains(l, w) }) {
			continue
		}
		for _, port := range e.opts.Ports {
			if e.protoPorts[i].has(port) {
				return true
			}
		}
	}
	return false
}

// startSession hands the attempt's bytes to protocol p (sniffed: what
// its SniffServer decoded of them, or nil).
func (e *Engine) startSession(a *attempt, p *proto.Protocol, how proto.Sniff, sniffed any) {
	a.proto = protoSession
	a.facts.Protocol = p.Name
	a.sc = sessConn{e: e, a: a, p: p}
	a.sess, a.sessOf = p.New(&a.sc, how, sniffed), p
}

// sessConn is a session's view of its attempt (proto.Conn).
type sessConn struct {
	e *Engine
	a *attempt
	p *proto.Protocol
	// dec is the attempt's decision (found) when the session gives it:
	// kept here, not allocated apart, as an attempt is decided once and
	// has one session.
	dec found
}

func (c *sessConn) Server() proto.Stream { return &c.a.s2c }
func (c *sessConn) Client() proto.Stream { return &c.a.c2s }
func (c *sessConn) Event(t time.Time, kind string, dir proto.Dir, at proto.Attrs) {
	at.Proto = c.p.Name
	c.a.event(t, EventKind(kind), Dir(dir), at)
}
func (c *sessConn) Note(n proto.Note) { c.a.notes = append(c.a.notes, note{p: c.p, n: n}) }

// Msg is m in the attempt's room for its steps' messages (attempt.msgs),
// which its report's Attempt takes over and, reused (Options.Recycle),
// gives to a later attempt; else in memory of its own.
func (c *sessConn) Msg(m proto.Msg) *proto.Msg {
	a := c.a
	n := len(a.msgs)
	if n == cap(a.msgs) {
		if a.msgs != nil || !c.e.opts.Recycle {
			p := new(proto.Msg)
			*p = m
			return p
		}
		a.msgs = make([]proto.Msg, 0, msgRoom)
	}
	a.msgs = a.msgs[:n+1]
	p := &a.msgs[n]
	*p = m
	return p
}

// msgRoom is how many messages an attempt's room holds: a MySQL login
// has three (greeting, login, the answer), a refusal one or two.
const msgRoom = 4

// Decide gives the verdict, and keeps what it rests on for the
// protocol's words (found). An id no protocol declared is a plug-in bug:
// the attempt is then incomplete, and its evidence says why.
func (c *sessConn) Decide(id string, t time.Time, f proto.Finding) {
	if c.a.final {
		return
	}
	r, ok := reasonIDs[id]
	if !ok {
		r = ReasonCaptureEnded
	}
	c.dec = found{p: c.p, reason: id, f: f, unknown: !ok}
	c.a.decision = &c.dec
	c.e.decide(c.a, r, t)
}
func (c *sessConn) Final() bool { return c.a.final }
func (c *sessConn) Abandon()    { c.a.proto = protoOther }
func (c *sessConn) StartTLS(t time.Time) {
	a := c.a
	a.proto = protoTLS
	a.tlsTurns = 0
	// Whatever follows in either direction is TLS records.
	c.e.decodeTLS(a, &a.c2s, false, t)
}
func (c *sessConn) MarkCut()                 { c.a.cut = true }
func (c *sessConn) Start() time.Time         { return c.a.start }
func (c *sessConn) HandshakeDone() time.Time { return c.a.handshakeDone() }
func (c *sessConn) ClientClosed() (string, time.Time) {
	if c.a.clientClose == notClosed {
		return "", time.Time{}
	}
	return c.a.clientClose.String(), c.a.clientGaveAt
}
func (c *sessConn) FirstServerData() time.Time { return c.a.firstSrvData }
func (c *sessConn) FirstClientData() time.Time { return c.a.firstCliData }
func (c *sessConn) LastActivity() time.Time    { return c.a.lastActivity }
func (c *sessConn) ServerName() string         { return c.a.serverName() }
func (c *sessConn) ClientAddr() string         { return c.a.client.Addr().String() }
func (c *sessConn) Comm() string {
	if c.a.comm == "" && c.a.conn != nil {
		return c.a.conn.comm
	}
	return c.a.comm
}

// The stream as a session reads it (proto.Stream).
func (s *stream) Bytes() []byte { return s.buf }
func (s *stream) Consume(n int) { s.consume(n) }
func (s *stream) Partial() bool { return s.partial() }
func (s *stream) Lost() bool    { return s.lost }
func (s *stream) LostAt() int   { return int(s.lostAt) }
func (s *stream) Dead() bool    { return s.dead }
func (s *stream) Total() int    { return s.bytes }
func (s *stream) Lose() {
	if !s.lost {
		s.lose(s.holeAt)
	}
}

// wrongBanner reports whether r is a protocol's WrongBanner reason.
func wrongBanner(r Reason) bool {
	for _, p := range protocols {
		if p.WrongBanner != "" && reasonIDs[p.WrongBanner] == r {
			return true
		}
	}
	return false
}

// ProtocolPorts lists the registered protocols' default ports, for a
// capture filter that passes payload only on some ports (capture's classic
// filter when no --port is given).
func ProtocolPorts() []uint16 {
	var ports []uint16
	for _, p := range protocols {
		for _, port := range p.Ports {
			if !slices.Contains(ports, port) {
				ports = append(ports, port)
			}
		}
	}
	return ports
}

// ServerComms lists the registered protocols' server process names
// (Protocol.Servers), for the live listener inventory.
func ServerComms() []string {
	var out []string
	for _, p := range protocols {
		out = append(out, p.Servers...)
	}
	return out
}

// serverProtocol is the registered protocol whose server process is comm.
func serverProtocol(comm string) *proto.Protocol {
	for _, p := range protocols {
		if slices.Contains(p.Servers, comm) {
			return p
		}
	}
	return nil
}

// intended is the protocol an attempt was meant for, told without its
// bytes: the server's port is one of the protocol's (Engine.protoPorts:
// its defaults or the options), else its unix socket path names the
// protocol, else the client process is one of its known clients. Nil when
// none says so.
func (e *Engine) intended(a *attempt) *proto.Protocol {
	if a.unix == "" && a.server.IsValid() {
		for i, p := range protocols {
			if i < len(e.protoPorts) && e.protoPorts[i].has(a.server.Port()) {
				return p
			}
		}
	}
	if a.unix != "" {
		l := strings.ToLower(a.unix)
		for _, p := range protocols {
			if slices.ContainsFunc(p.SocketWords, func(w string) bool { return strings.Contains(l, w) }) {
				return p
			}
		}
	}
	if a.comm != "" {
		for _, p := range protocols {
			if slices.Contains(p.Clients, a.comm) {
				return p
			}
		}
	}
	return nil
}
