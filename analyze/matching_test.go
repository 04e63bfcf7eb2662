package analyze

import (
	"testing"

	"github.com/connscope/connscope/analyze/dns"
)

// TestAttemptJoinsOnlyItsLookup: an attempt continues a resolved connect
// only when its server is among the answers of the name that connect
// resolved. Two connects of one host close together stay two connects.
func TestAttemptJoinsOnlyItsLookup(t *testing.T) {
	s1, s2 := ip("192.0.2.20"), ip("192.0.2.21")
	t.Run("another name with the same first label", func(t *testing.T) {
		s := newSim(t, Options{})
		s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, s1)
		s.lookup(0.2, 0.6, "192.0.2.10:5354", dnsS, 2, "db.other.test", dns.TypeA, 0, s2)
		k1 := s.conn("192.0.2.10:40000", "192.0.2.20:3306")
		k1.SYN(1)
		k1.refuse(1.1)
		k2 := s.conn("192.0.2.10:40001", "192.0.2.21:3306")
		k2.handshake(300, 0.1)
		k2.server(301, mariadbGreeting())
		s.close()
		if len(s.got) != 2 {
			t.Fatalf("%d connects, want 2\n%s", len(s.got), dumpConnects(s.got))
		}
		c1, c2 := s.got[0], s.got[1]
		if c1.Name != "db.lab.test" || len(c1.Attempts) != 1 || c1.Outcome != Refused || len(c1.Resolution) != 1 {
			t.Errorf("first connect:\n%s", dumpConnects(s.got[:1]))
		}
		if c2.Name != "db.other.test" || len(c2.Attempts) != 1 || c2.Outcome != OK || len(c2.Resolution) != 1 || c2.Resolution[0].Name != "db.other.test" {
			t.Errorf("second connect:\n%s", dumpConnects(s.got[1:]))
		}
	})
	t.Run("a server no lookup of the connect returned", func(t *testing.T) {
		// db.lab.test resolves to s1 only; the same host's connect to s2
		// right after (its address from an older lookup of another name)
		// is not db.lab.test's next address.
		s := newSim(t, Options{})
		s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "cache.lab.test", dns.TypeA, 0, s2)
		k0 := s.conn("192.0.2.10:39999", "192.0.2.21:3306")
		k0.handshake(1, 0.1)
		k0.server(2, mariadbGreeting())
		k0.client(3, handshakeResponse("app", defaultCaps))
		k0.server(4, okPacket(2))
		s.lookup(5000, 5000.4, "192.0.2.10:5353", dnsS, 2, "db.lab.test", dns.TypeA, 0, s1)
		k1 := s.conn("192.0.2.10:40000", "192.0.2.20:3306")
		k1.SYN(5001)
		k1.refuse(5001.1)
		k2 := s.conn("192.0.2.10:40001", "192.0.2.21:3306")
		k2.SYN(5300)
		k2.refuse(5300.1)
		s.close()
		if len(s.got) != 3 {
			t.Fatalf("%d connects, want 3\n%s", len(s.got), dumpConnects(s.got))
		}
		for _, c := range s.got {
			if len(c.Attempts) != 1 {
				t.Errorf("connect %s (%s) has %d attempts", c.Name, c.Outcome, len(c.Attempts))
			}
		}
		if s.got[1].Name != "db.lab.test" {
			t.Errorf("second connect:\n%s", dumpConnects(s.got[1:2]))
		}
	})
	t.Run("parallel connects to one name", func(t *testing.T) {
		// Two workers of one host connect to db.lab.test at once; the first
		// is already greeted when the second starts: not a fallback.
		s := newSim(t, Options{})
		s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, s1, s2)
		k1 := s.conn("192.0.2.10:40000", "192.0.2.20:3306")
		k1.handshake(1, 0.1)
		k1.server(2, mariadbGreeting())
		k2 := s.conn("192.0.2.10:40001", "192.0.2.21:3306")
		k2.handshake(3, 0.1)
		k2.server(4, mariadbGreeting())
		k1.client(5, handshakeResponse("app", defaultCaps))
		k1.server(6, okPacket(2))
		k2.client(7, handshakeResponse("app", defaultCaps))
		k2.server(8, okPacket(2))
		s.close()
		if len(s.got) != 2 || s.got[0].Outcome != OK || s.got[1].Outcome != OK {
			t.Fatalf("want two ok connects\n%s", dumpConnects(s.got))
		}
	})
	t.Run("the next address of the same lookup still joins", func(t *testing.T) {
		s := newSim(t, Options{})
		s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, s1, s2)
		k1 := s.conn("192.0.2.10:40000", "192.0.2.20:3306")
		k1.SYN(1)
		k1.refuse(1.1)
		k2 := s.conn("192.0.2.10:40001", "192.0.2.21:3306")
		k2.SYN(2)
		k2.refuse(2.1)
		s.close()
		if len(s.got) != 1 || len(s.got[0].Attempts) != 2 {
			t.Fatalf("want one connect with two attempts\n%s", dumpConnects(s.got))
		}
	})
}
