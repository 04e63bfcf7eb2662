package analyze

import (
	"testing"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// TestSYNRetransmitAfterVerdict: a SYN retransmit (same 5-tuple, same ISN)
// that arrives after the attempt was decided belongs to that attempt; only
// a SYN with a new ISN on a reused 5-tuple starts a new attempt.
func TestSYNRetransmitAfterVerdict(t *testing.T) {
	other := func(s *sim, ms float64) { s.udp(ms, "192.0.2.99:1", "192.0.2.98:2", []byte("x")) }
	t.Run("after an idle timeout was reported", func(t *testing.T) {
		s := newSim(t, Options{})
		k := s.conn(cli, srv)
		k.SYN(0)
		k.SYN(1000)
		other(s, 5000) // the clock runs on: the attempt looks abandoned
		if len(s.got) != 1 || s.got[0].Outcome != Timeout {
			t.Fatalf("not decided on the event clock\n%s", dumpConnects(s.got))
		}
		k.SYN(5500) // the client had not given up after all
		sum := s.close()
		if len(s.got) != 1 || sum.Attempts != 1 {
			t.Fatalf("the retransmit started a new attempt\n%s", dumpConnects(s.got))
		}
		if sum.LateRetransmits != 1 {
			t.Errorf("late retransmits %d, want 1", sum.LateRetransmits)
		}
	})
	t.Run("after an RST the client did not take", func(t *testing.T) {
		s := newSim(t, Options{})
		k := s.conn(cli, srv)
		k.SYN(0)
		k.refuse(0.1)
		k.SYN(1000)
		k.refuse(1000.1)
		sum := s.close()
		if len(s.got) != 1 || sum.Attempts != 1 || s.got[0].Outcome != Refused {
			t.Fatalf("want one refused attempt\n%s", dumpConnects(s.got))
		}
		if sum.LateRetransmits != 1 {
			t.Errorf("late retransmits %d, want 1", sum.LateRetransmits)
		}
	})
	t.Run("before the connect is reported it joins the timeline", func(t *testing.T) {
		// The connect waits for the next resolved address (fallback
		// window), so the attempt is still open for its retransmit.
		s := newSim(t, Options{})
		s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, ip("192.0.2.20"), ip("192.0.2.21"))
		k := s.conn(cli, srv)
		k.SYN(1)
		k.refuse(1.1)
		k.SYN(500)
		sum := s.close()
		if len(s.got) != 1 || sum.Attempts != 1 {
			t.Fatalf("want one attempt\n%s", dumpConnects(s.got))
		}
		a := s.got[0].Attempts[0]
		if a.Outcome != Refused || a.SYNCount != 2 || !hasEvent(a, EvSYNRetransmit, func(e *Event, _ *proto.Detail, _ *proto.Msg) bool { return e.N == 1 }) {
			t.Errorf("attempt %s, %d SYNs, events %v", a.Outcome, a.SYNCount, a.Events)
		}
		if sum.LateRetransmits != 0 {
			t.Errorf("late retransmits %d, want 0", sum.LateRetransmits)
		}
	})
	t.Run("a new ISN on the reused 5-tuple is a new attempt", func(t *testing.T) {
		s := newSim(t, Options{})
		k := s.conn(cli, srv)
		k.SYN(0)
		k.refuse(0.1)
		k2 := s.conn(cli, srv)
		k2.cisn = 777000
		k2.SYN(2000)
		k2.refuse(2000.1)
		sum := s.close()
		if len(s.got) != 2 || sum.Attempts != 2 || sum.LateRetransmits != 0 {
			t.Fatalf("want two refused attempts\n%s", dumpConnects(s.got))
		}
	})
	t.Run("a duplicate frame after the verdict is not a retransmit", func(t *testing.T) {
		s := newSim(t, Options{})
		k := s.conn(cli, srv)
		syn := func(ms float64) {
			p := k.pkt(ms, true, event.TCPSyn, nil)
			p.Seq, p.Ack, p.IPID = k.cisn, 0, 4711
			s.feed(p)
		}
		syn(0)
		k.refuse(0.1)
		syn(0.5) // the same frame seen on a second interface
		sum := s.close()
		if len(s.got) != 1 || sum.Attempts != 1 || s.got[0].Attempts[0].SYNCount != 1 {
			t.Fatalf("%s", dumpConnects(s.got))
		}
		if sum.Duplicates != 1 || sum.LateRetransmits != 0 {
			t.Errorf("duplicates %d, late retransmits %d; want 1, 0", sum.Duplicates, sum.LateRetransmits)
		}
	})
}
