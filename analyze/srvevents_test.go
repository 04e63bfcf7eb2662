package analyze

import (
	"testing"

	"github.com/connscope/connscope/event"
)

// The server's SYN-ACK retransmits and the resets a traced host's kernel
// sends join their attempt by flow: timeline steps, facts (accept's
// syn_ack_retransmits and ack_dropped, rst_sent), the server-side mark, and
// evidence and causes that say what they mean.
func TestServerSYNACKAndResets(t *testing.T) {
	mariadbd := event.Process{PID: 812, TID: 812, Comm: "mariadbd", FD: 42}
	synackRetrans := func(s *sim, ms float64, before uint8) {
		s.kernel(&event.Kernel{Time: s.at(ms), Kind: event.SYNACKRetransmit, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(srv), Dst: ap(cli), Process: event.Process{FD: -1}, State: event.TCPSynRecv, Retransmits: before})
	}
	ackOverflow := func(s *sim, ms float64) {
		s.kernel(&event.Kernel{Time: s.at(ms), Kind: event.PacketDrop, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(cli), Dst: ap(srv), Process: event.Process{FD: -1},
			Drop: &event.Drop{Reason: "TCP_LISTEN_OVERFLOW", Incoming: true, Proto: event.ProtoTCP, TCPFlags: event.TCPAck}})
	}
	child := func(s *sim, ms float64) {
		s.kernel(&event.Kernel{Time: s.at(ms), Kind: event.ChildEstablished, Cookie: 9001, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(srv), Dst: ap(cli), Process: event.Process{FD: -1}, State: event.TCPEstablished})
	}
	accept := func(s *sim, ms float64) {
		s.kernel(&event.Kernel{Time: s.at(ms), Kind: event.Accepted, Cookie: 9001, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(srv), Dst: ap(cli), Process: mariadbd, State: event.TCPEstablished})
	}
	reset := func(s *sim, ms float64, src, dst string, r event.Reset) {
		s.kernel(&event.Kernel{Time: s.at(ms), Kind: event.ResetSent, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(src), Dst: ap(dst), Process: event.Process{FD: -1}, Reset: &r})
	}
	tests := []struct {
		name       string
		script     func(s *sim)
		outcome    Outcome
		serverSide bool
		steps      []EventKind // the new kernel steps, in order
		retrans    int         // want facts.accept.syn_ack_retransmits
		ackDropped string
		rst        *RSTFact
		evidence   string
		cause      string // "": none of the new causes
	}{
		{"ACK dropped by a full accept queue, SYN-ACK retransmitted, accepted late", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			ackOverflow(s, 0.12)
			synackRetrans(s, 1000.1, 0)
			synackRetrans(s, 3000.1, 1)
			child(s, 3000.2)
			accept(s, 3000.3)
			k.server(3000.5, mariadbGreeting())
			k.client(3001, handshakeResponse("app", defaultCaps))
			k.server(3002, okPacket(2))
		}, OK, true, []EventKind{EvKernelDrop, EvKernelSYNACKRetrans, EvKernelSYNACKRetrans}, 2, "TCP_LISTEN_OVERFLOW", nil,
			"the server's kernel retransmitted its SYN-ACK 2 times because it dropped the client's ACK completing the handshake: the accept queue was full (TCP_LISTEN_OVERFLOW)", ""},
		{"ACK dropped by a full accept queue, the client gives up", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			ackOverflow(s, 0.12)
			synackRetrans(s, 1000.1, 0)
			k.clientFIN(2500)
		}, NoGreeting, true, []EventKind{EvKernelDrop, EvKernelSYNACKRetrans}, 1, "TCP_LISTEN_OVERFLOW", nil,
			"retransmitted its SYN-ACK 1 time because it dropped the client's ACK", "had a full accept queue when the client's ACK came"},
		{"SYN-ACK retransmitted, no drop seen", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			synackRetrans(s, 1000.1, 0)
			child(s, 1000.3)
			accept(s, 1000.4)
			k.server(1000.5, mariadbGreeting())
			k.client(1001, handshakeResponse("app", defaultCaps))
			k.server(1002, okPacket(2))
		}, OK, true, []EventKind{EvKernelSYNACKRetrans}, 1, "", nil,
			"the client's ACK completing the handshake did not reach it (lost, or dropped because the accept queue was full)", ""},
		{"SYN to a closed port: the server's kernel answers NO_SOCKET", func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			reset(s, 0.05, srv, cli, event.Reset{Reason: "NO_SOCKET", Passive: true, Answers: event.TCPSyn})
			k.refuse(0.06)
		}, Refused, true, []EventKind{EvKernelRSTSent}, 0, "", &RSTFact{From: "server", Reason: "NO_SOCKET", Answers: "SYN"},
			"the kernel of this host (the server) sent the RST answering the SYN: NO_SOCKET", ""},
		{"the client's socket aborts (no reason from an older kernel)", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			reset(s, 50, cli, srv, event.Reset{})
			k.clientRST(50.01)
		}, OK, false, []EventKind{EvKernelRSTSent}, 0, "", &RSTFact{From: "client"},
			"the kernel of this host (the client) reset the connection (its socket aborted it)", ""},
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
			if a.Outcome != tc.outcome || a.ServerSide != tc.serverSide {
				t.Errorf("outcome %s (%s) server_side=%v, want %s server_side=%v", a.Outcome, a.Reason, a.ServerSide, tc.outcome, tc.serverSide)
			}
			var steps []EventKind
			for _, ev := range a.Events {
				switch ev.Kind {
				case EvKernelDrop, EvKernelSYNACKRetrans, EvKernelRSTSent:
					steps = append(steps, ev.Kind)
				}
			}
			if len(steps) != len(tc.steps) {
				t.Errorf("kernel steps %v, want %v\n%s", steps, tc.steps, dumpConnects(s.got))
			}
			for i := range min(len(steps), len(tc.steps)) {
				if steps[i] != tc.steps[i] {
					t.Errorf("step %d: %s, want %s", i, steps[i], tc.steps[i])
				}
			}
			f := a.Facts.Accept
			switch {
			case tc.retrans == 0 && f != nil && f.SYNACKRetransmits != 0:
				t.Errorf("syn_ack_retransmits %d, want 0", f.SYNACKRetransmits)
			case tc.retrans != 0 && (f == nil || f.SYNACKRetransmits != tc.retrans || f.ACKDropped != tc.ackDropped):
				t.Errorf("facts.accept %+v, want %d SYN-ACK retransmits, ack_dropped %q", f, tc.retrans, tc.ackDropped)
			}
			switch r := a.Facts.RSTSent; {
			case tc.rst == nil && r != nil:
				t.Errorf("facts.rst_sent %+v, want none", r)
			case tc.rst != nil && (r == nil || *r != *tc.rst):
				t.Errorf("facts.rst_sent %+v, want %+v", r, tc.rst)
			}
			if !hasSubstring(a.Evidence, tc.evidence) {
				t.Errorf("evidence %q lacks %q", a.Evidence, tc.evidence)
			}
			if tc.cause != "" && !hasSubstring(a.Causes, tc.cause) {
				t.Errorf("causes %q lack %q", a.Causes, tc.cause)
			}
			if tc.cause == "" && hasSubstring(a.Causes, "when the client's ACK came") {
				t.Errorf("overflow cause without a failure: %q", a.Causes)
			}
		})
	}
}
