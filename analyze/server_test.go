package analyze

import (
	"strings"
	"testing"

	"github.com/connscope/connscope/event"
)

// The server's side joins its attempt by the 5-tuple: the handshake the
// server's kernel completed, the accept() that took the connection (by
// which process, after how long in the accept queue), as timeline steps, a
// fact, and evidence and a cause when the accept was slow or never came.
func TestServerSide(t *testing.T) {
	mariadbd := event.Process{PID: 812, TID: 812, Comm: "mariadbd", FD: 42}
	child := func(s *sim, ms float64) {
		s.kernel(&event.Kernel{Time: s.at(ms), Kind: event.ChildEstablished, Cookie: 9001, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(srv), Dst: ap(cli), Process: event.Process{FD: -1}, State: event.TCPEstablished})
	}
	accept := func(s *sim, ms float64) {
		s.kernel(&event.Kernel{Time: s.at(ms), Kind: event.Accepted, Cookie: 9001, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(srv), Dst: ap(cli), Process: mariadbd, State: event.TCPEstablished})
	}
	tests := []struct {
		name     string
		script   func(s *sim)
		outcome  Outcome
		steps    []EventKind // the server-side steps, in order
		fact     AcceptFact
		queuedMS float64 // want facts.accept.queued_ms (0: nil)
		evidence string  // "" : no server-side evidence
		cause    string
	}{
		{"accepted after 3 s, then the greeting", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			child(s, 0.15)
			accept(s, 3000.15)
			k.server(3000.5, mariadbGreeting())
			k.client(3001, handshakeResponse("app", defaultCaps))
			k.server(3002, okPacket(2))
		}, OK, []EventKind{EvServerHandshake, EvAccepted}, AcceptFact{By: "mariadbd[812]", PID: 812}, 3000,
			"mariadbd[812] did not accept() the connection for 3.0 s after the server's kernel completed the handshake", ""},
		{"accepted at once", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			child(s, 0.15)
			accept(s, 0.2)
			k.server(0.5, mariadbGreeting())
			k.client(1, handshakeResponse("app", defaultCaps))
			k.server(2, okPacket(2))
		}, OK, []EventKind{EvServerHandshake, EvAccepted}, AcceptFact{By: "mariadbd[812]", PID: 812}, 0.05, "", ""},
		{"never accepted: the client gives up", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			child(s, 0.15)
			k.clientFIN(3000.2)
		}, NoGreeting, []EventKind{EvServerHandshake}, AcceptFact{}, 0,
			"no process had accept()ed the connection", "never took it from the accept queue"},
		{"accepted late, after the client gave up", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			child(s, 0.15)
			k.clientFIN(3000.2)
			accept(s, 3000.4)
		}, NoGreeting, []EventKind{EvServerHandshake, EvAccepted}, AcceptFact{By: "mariadbd[812]", PID: 812}, 3000.25,
			"mariadbd[812] did not accept() the connection for 3.0 s", "took 3.0 s to accept()"},
		{"no handshake event (a pid filter): the wait from the client's ACK", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			accept(s, 3000.11)
			k.server(3000.5, mariadbGreeting())
			k.client(3001, handshakeResponse("app", defaultCaps))
			k.server(3002, okPacket(2))
		}, OK, []EventKind{EvAccepted}, AcceptFact{By: "mariadbd[812]", PID: 812}, 3000,
			"mariadbd[812] did not accept() the connection for 3.0 s after the server's kernel completed the handshake", "mariadbd[812] did not accept() the connection for 3.0 s"},
		{"no handshake event and no ACK seen: no wait", func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			k.SYNACK(0.1)
			accept(s, 3000.11)
			k.server(3000.5, mariadbGreeting())
			k.client(3001, handshakeResponse("app", defaultCaps))
			k.server(3002, okPacket(2))
		}, OK, []EventKind{EvAccepted}, AcceptFact{By: "mariadbd[812]", PID: 812}, 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			tc.script(s)
			s.close()
			if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
				t.Fatalf("want one attempt:\n%s", dumpConnects(s.got))
			}
			a := s.got[0].Attempts[0]
			if a.Outcome != tc.outcome {
				t.Errorf("outcome %s (%s), want %s", a.Outcome, a.Reason, tc.outcome)
			}
			var steps []EventKind
			for _, ev := range a.Events {
				if ev.Kind == EvServerHandshake || ev.Kind == EvAccepted {
					steps = append(steps, ev.Kind)
				}
			}
			if strings.Join(kinds(steps), ",") != strings.Join(kinds(tc.steps), ",") {
				t.Errorf("server steps %v, want %v\n%s", steps, tc.steps, dumpConnects(s.got))
			}
			f := a.Facts.Accept
			if f == nil || f.By != tc.fact.By || f.PID != tc.fact.PID {
				t.Fatalf("facts.accept %+v, want %+v", f, tc.fact)
			}
			switch {
			case tc.queuedMS == 0 && f.QueuedMS != nil:
				t.Errorf("queued_ms %v, want none", *f.QueuedMS)
			case tc.queuedMS != 0 && (f.QueuedMS == nil || *f.QueuedMS < tc.queuedMS-0.001 || *f.QueuedMS > tc.queuedMS+0.001):
				t.Errorf("queued_ms %v, want %v", f.QueuedMS, tc.queuedMS)
			}
			if tc.evidence != "" && !hasSubstring(a.Evidence, tc.evidence) {
				t.Errorf("evidence %q lacks %q", a.Evidence, tc.evidence)
			}
			if tc.evidence == "" && (hasSubstring(a.Evidence, "accept()") || hasSubstring(a.Causes, "accept()")) {
				t.Errorf("server-side words for a prompt accept: %q %q", a.Evidence, a.Causes)
			}
			if tc.cause != "" && !hasSubstring(a.Causes, tc.cause) {
				t.Errorf("causes %q lack %q", a.Causes, tc.cause)
			}
		})
	}
}

func kinds(k []EventKind) []string {
	var s []string
	for _, x := range k {
		s = append(s, string(x))
	}
	return s
}
