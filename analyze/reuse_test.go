package analyze

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/capture"
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

// TestRecycleSameConnects: with Options.Recycle the engine reuses the
// memory of the connects it handed out; what each connect says when it is
// handed out must be exactly what it says without reuse, over many
// connects of different shapes one after another (more and fewer events,
// facts with and without an ICMP error, a protocol's info, lookups), and
// over every lab capture.
func TestRecycleSameConnects(t *testing.T) {
	render := connectJSON(t)
	script := func(s *sim) {
		for i := 0; i < 40; i++ {
			t0 := float64(i) * 5000
			k := s.conn(fmt.Sprintf("10.0.0.5:%d", 40000+i), "192.0.2.20:3306")
			switch i % 5 {
			case 0:
				k.lookedUpLogin(uint16(i), t0)
			case 1:
				k.SYN(t0)
				k.refuse(t0 + 0.3)
			case 2:
				k.SYN(t0)
				k.icmp(t0+0.5, "10.0.0.1", false, 3, 1)
			case 3:
				k.handshake(t0, 0.2)
				k.server(t0+1, mariadbGreeting())
				k.client(t0+2, handshakeResponse("app", 0x000fa685))
				k.server(t0+3, errPacket(2, 1045, "28000", "Access denied for user 'app'"))
				k.serverFIN(t0 + 4)
			case 4:
				k.SYN(t0)
				k.SYN(t0 + 1000)
				k.SYN(t0 + 3000)
			}
		}
	}
	run := func(recycle bool) []string {
		var got []string
		s := newSim(t, Options{Recycle: recycle, OnConnect: func(c *Connect) { got = append(got, render(c)) }})
		script(s)
		s.close()
		return got
	}
	plain, reused := run(false), run(true)
	if len(plain) < 40 {
		t.Fatalf("%d connects, want 40", len(plain))
	}
	if !slices.Equal(plain, reused) {
		for i := range min(len(plain), len(reused)) {
			if plain[i] != reused[i] {
				t.Fatalf("connect %d differs with Recycle:\n%s\nwithout:\n%s", i+1, reused[i], plain[i])
			}
		}
		t.Fatalf("%d connects with Recycle, %d without", len(reused), len(plain))
	}

	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.pcap*"))
	if len(files) == 0 {
		t.Skipf("no lab captures in %s", capturesDir)
	}
	for _, f := range files {
		var lists [2][]string
		for i, recycle := range []bool{false, true} {
			r, err := capture.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			RunSource(r, Options{Recycle: recycle, OnConnect: func(c *Connect) { lists[i] = append(lists[i], render(c)) }})
			r.Close()
		}
		if !slices.Equal(lists[0], lists[1]) {
			t.Errorf("%s: the connects differ with Recycle", filepath.Base(f))
		}
	}
}
