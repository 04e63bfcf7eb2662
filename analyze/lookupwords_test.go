package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/event"
)

// TestLookupAndNoteWords pins the words Explain makes from the DNS
// tracker's facts (what became of each lookup, a slow resolution, the
// lookups that failed on the way) and from the notes kept whatever the
// verdict (the server's PTR lookup of the client, a slow MySQL greeting):
// the engine records them as data, the words come only at rendering.
func TestLookupAndNoteWords(t *testing.T) {
	const (
		cli  = "10.0.0.5:40000"
		dnsC = "10.0.0.5:5353"
		dnsS = "10.0.0.53:53"
		srv  = "192.0.2.20:3306"
	)
	addr := netip.MustParseAddr("192.0.2.20")
	tests := []struct {
		name    string
		script  func(s *sim)
		evident []string // in the connect's evidence (and its last attempt's, for notes)
		errors  []string // the lookups' Error, in order
	}{
		{"the server looks up the client's PTR before a slow greeting", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.2)
			s.lookup(10, 1400, "192.0.2.20:5353", dnsS, 9, "5.0.0.10.in-addr.arpa", dns.TypePTR, dns.RcodeNXDomain)
			k.server(1500, mariadbGreeting())
			k.client(1501, handshakeResponse("app", 0x000fa685))
			k.server(1502, okPacket(2))
			k.clientFIN(1503)
		}, []string{
			"the server looked up PTR 5.0.0.10.in-addr.arpa (reverse DNS of the client) 9.8 ms after the handshake",
			"the greeting took 1.5 s after the handshake",
		}, nil},
		{"a truncated answer, never retried", func(s *sim) {
			s.udp(0, dnsC, dnsS, dnsMsg(1, false, 0, "db.lab.test", dns.TypeA))
			tc := dnsMsg(1, true, 0, "db.lab.test", dns.TypeA)
			tc[2] |= 0x02 // TC
			s.udp(1, dnsS, dnsC, tc)
		}, []string{"A db.lab.test → no answer from 10.0.0.53:53: truncated answer (retried over TCP)"},
			[]string{"truncated answer (retried over TCP)"}},
		{"an answer the snap length cut, slow, then refused", func(s *sim) {
			s.udp(0, dnsC, dnsS, dnsMsg(2, false, 0, "db.lab.test", dns.TypeA))
			full := dnsMsg(2, true, 0, "db.lab.test", dns.TypeA, addr, netip.MustParseAddr("192.0.2.21"))
			cut := full[:len(full)-16] // the second record is lost
			src, dst := ap(dnsS), ap(dnsC)
			s.feed(&event.Packet{Time: s.at(600), Proto: event.ProtoUDP, Src: src.Addr(), SrcPort: src.Port(),
				Dst: dst.Addr(), DstPort: dst.Port(), Payload: cut, PayloadLen: len(full)})
			k := s.conn(cli, srv)
			k.SYN(609)
			k.refuse(610)
		}, []string{"name resolution was slow: A db.lab.test → NOERROR from 10.0.0.53:53 after 600 ms (192.0.2.20); the capture cut this answer (snap length): 1 of its 2 records decoded (0 retries in all)"},
			[]string{"the capture cut this answer (snap length): 1 of its 2 records decoded"}},
		{"search-list and AAAA lookups that failed on the way to a refusal", func(s *sim) {
			s.lookup(0, 1, dnsC, dnsS, 3, "db.corp.test", dns.TypeA, dns.RcodeNXDomain)
			s.lookup(2, 3, dnsC, dnsS, 4, "db.lab.test", dns.TypeAAAA, dns.RcodeSuccess)
			s.lookup(2, 4, dnsC, dnsS, 5, "db.lab.test", dns.TypeA, dns.RcodeSuccess, addr)
			k := s.conn(cli, srv)
			k.SYN(9)
			k.refuse(10)
		}, []string{"lookups that failed along the way: A db.corp.test → NXDOMAIN from 10.0.0.53:53 after 1.0 ms; AAAA db.lab.test → NOERROR, no records, from 10.0.0.53:53 after 1.0 ms"},
			[]string{"", "", ""}},
		{"no answer after a retry", func(s *sim) {
			s.lookup(0, -1, dnsC, dnsS, 6, "gone.lab.test", dns.TypeA, 0)
			s.lookup(1000, -1, dnsC, dnsS, 7, "gone.lab.test", dns.TypeA, 0)
		}, []string{"A gone.lab.test → no answer from 10.0.0.53:53 (1 retry over 1.0 s)"},
			[]string{"no answer"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			tc.script(s)
			s.close()
			if len(s.got) != 1 {
				t.Fatalf("want one connect:\n%s", dumpConnects(s.got))
			}
			c := s.got[0]
			for _, want := range tc.evident {
				if !slices.Contains(c.Evidence, want) {
					t.Errorf("evidence lacks %q:\n%s", want, strings.Join(c.Evidence, "\n"))
				}
			}
			var errs []string
			for _, q := range c.Resolution {
				errs = append(errs, q.Error)
			}
			if !slices.Equal(errs, tc.errors) {
				t.Errorf("lookup errors %q, want %q", errs, tc.errors)
			}
		})
	}
}
