package analyze

import (
	"testing"

	"github.com/connscope/connscope/analyze/dns"
)

// TestReusedAttemptNotPTRTarget: offline, a reported attempt's memory is
// reused for a new attempt (Engine.spare). A PTR query the server sent
// about the first attempt's client, answered only after that attempt was
// reported, must not land in the timeline of the attempt that now occupies
// its memory (same client and server, the query's PTR name matches both).
func TestReusedAttemptNotPTRTarget(t *testing.T) {
	const (
		dnsS = "10.0.0.53:53"
		srv  = "192.0.2.20:3306"
		ptr  = "5.0.0.10.in-addr.arpa" // 10.0.0.5, the client
	)
	s := newSim(t, Options{})
	first := s.conn("10.0.0.5:40000", srv)
	first.handshake(0, 0.2)
	s.udp(10, "192.0.2.20:5353", dnsS, dnsMsg(9, false, 0, ptr, dns.TypePTR)) // the server asks
	first.serverFIN(20)                                                       // and hangs up before greeting
	first.clientFIN(21)
	second := s.conn("10.0.0.5:40001", srv)
	second.handshake(3000, 0.2) // after the first connect was reported
	if len(s.got) != 1 {
		t.Fatalf("before the second attempt: %d connects reported, want the first one", len(s.got))
	}
	s.udp(3100, dnsS, "192.0.2.20:5353", dnsMsg(9, true, dns.RcodeNXDomain, ptr, dns.TypePTR)) // the late answer
	second.server(3200, mariadbGreeting())
	second.client(3201, handshakeResponse("app", 0x000fa685))
	second.server(3202, okPacket(2))
	second.clientFIN(3203)
	s.close()
	if len(s.got) != 2 {
		t.Fatalf("%d connects, want 2", len(s.got))
	}
	at := s.got[1].Attempts[0]
	if at.Client != "10.0.0.5:40001" {
		t.Fatalf("second connect's attempt is from %s", at.Client)
	}
	for _, ev := range at.Events {
		if ev.Kind == EvDNSAnswer || ev.Kind == EvDNSQuery {
			t.Errorf("the second attempt got the first one's PTR lookup: %+v", ev)
		}
	}
}
