package analyze

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/event"
)

var (
	httpGET = []byte("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	httpOK  = []byte("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
)

// serverACK is the server's pure ACK of everything the client sent so far.
func (k *conn) serverACK(ms float64) { k.s.feed(k.pkt(ms, false, event.TCPAck, nil)) }

// TestClientFirstTiming: which side spoke first decides the delays, and the
// slow part is the network, the client or the server by its threshold.
func TestClientFirstTiming(t *testing.T) {
	type want struct {
		reason      Reason
		greeting    float64 // -1: nil
		clientFirst float64 // -1: nil
		response    float64 // -1: nil
		slow        string  // "" none
		slowMS      float64
		step        string // the largest slow part's facts.slow step ("" none)
		ended       string // facts.ended
	}
	tests := []struct {
		name   string
		script func(k *conn)
		want   want
	}{
		{"client pauses 1.35 s before its request; the server answers in 60 ms", func(k *conn) {
			k.handshake(0, 0.2)
			k.client(1350.21, httpGET)
			k.serverACK(1350.3)
			k.server(1410.21, httpOK)
			k.clientFIN(1411)
		}, want{ReasonServerAnswered, -1, 1350, 60, SlowPartClient, 1350, "first_bytes", ""}},
		{"a SYN-ACK after 878 ms is the network", func(k *conn) {
			k.handshake(0, 878)
			k.client(878.5, httpGET)
			k.serverACK(878.6)
			k.server(890, httpOK)
		}, want{ReasonServerAnswered, -1, 0.49, 11.5, SlowNetwork, 878.01, "handshake", ""}},
		{"a dropped SYN retransmitted after 1 s is the network", func(k *conn) {
			k.SYN(0)
			k.SYN(1000)
			k.SYNACK(1000.1)
			k.ACK(1000.2)
			k.client(1000.3, httpGET)
			k.server(1001, httpOK)
		}, want{ReasonServerAnswered, -1, 0.1, 0.7, SlowNetwork, 1000.2, "handshake", ""}},
		{"the server waits 1 s after acknowledging the request", func(k *conn) {
			k.handshake(0, 0.2)
			k.client(0.5, httpGET)
			k.serverACK(0.6)
			k.server(1000.6, httpOK)
		}, want{ReasonServerAnswered, -1, 0.29, 1000.1, SlowPartServer, 1000, "answer", ""}},
		{"the request is acknowledged only after 700 ms: the network", func(k *conn) {
			k.handshake(0, 0.2)
			k.client(0.5, httpGET)
			k.serverACK(700.5)
			k.server(750.5, httpOK)
		}, want{ReasonServerAnswered, -1, 0.29, 750, SlowNetwork, 700, "ack", ""}},
		{"a fast client-first exchange is not slow", func(k *conn) {
			k.handshake(0, 0.2)
			k.client(0.5, httpGET)
			k.server(2, httpOK)
		}, want{ReasonServerAnswered, -1, 0.29, 1.5, "", 0, "", ""}},
		{"the server never answers the request; the client gives up, then the server closes", func(k *conn) {
			k.handshake(0, 0.2)
			k.client(0.5, httpGET)
			k.serverACK(0.6)
			k.clientFIN(2000.5)
			k.serverFIN(3000)
		}, want{ReasonRequestUnanswered, -1, 0.29, -1, "", 0, "", "client_close"}},
		{"the server never answers the request; the client gives up, the capture ends", func(k *conn) {
			k.handshake(0, 0.2)
			k.client(0.5, httpGET)
			k.clientFIN(2000.5)
		}, want{ReasonRequestUnanswered, -1, 0.29, -1, "", 0, "", "client_close"}},
		{"the server closes after the request without answering", func(k *conn) {
			k.handshake(0, 0.2)
			k.client(0.5, httpGET)
			k.serverFIN(30.5)
		}, want{ReasonServerClosedSilent, -1, 0.29, -1, "", 0, "", ""}},
		{"the server never answers; the client still waits when the capture ends 10 s later", func(k *conn) {
			k.handshake(0, 0.2)
			k.client(0.5, httpGET)
			k.serverACK(0.6)
			k.s.udp(10000.5, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
		}, want{ReasonRequestUnanswered, -1, 0.29, -1, "", 0, "", "capture_end"}},
		{"the capture ends 2 s after an unanswered request: ok so far", func(k *conn) {
			k.handshake(0, 0.2)
			k.client(0.5, httpGET)
			k.s.udp(2000.5, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
		}, want{ReasonClientFirstUnanswered, -1, 0.29, -1, "", 0, "", ""}},
		{"server-first: a greeting after 2 ms has a greeting delay and no client timings", func(k *conn) {
			k.handshake(0, 0.2)
			k.server(2.21, mariadbGreeting())
			k.client(3, handshakeResponse("app", 0x000fa68d))
			k.server(4, okPacket(2))
		}, want{ReasonLoginOK, 2, -1, -1, "", 0, "", ""}},
		{"server-first: a greeting after 900 ms is in greeting_delay_ms, no client timings", func(k *conn) {
			k.handshake(0, 0.2)
			k.server(900.21, mariadbGreeting())
			k.client(901, handshakeResponse("app", 0x000fa68d))
			k.server(902, okPacket(2))
		}, want{ReasonLoginOK, 900, -1, -1, "", 0, "", ""}},
		{"server-first: a SYN-ACK after 300 ms is the network", func(k *conn) {
			k.handshake(0, 300)
			k.server(301, mariadbGreeting())
			k.client(302, handshakeResponse("app", 0x000fa68d))
			k.server(303, okPacket(2))
		}, want{ReasonLoginOK, 0.99, -1, -1, SlowNetwork, 300.01, "handshake", ""}},
		{"server-first: nothing from the server and the client gives up is still no server bytes", func(k *conn) {
			k.handshake(0, 0.2)
			k.clientFIN(3000)
			k.serverFIN(3001)
		}, want{ReasonNoServerBytes, -1, -1, -1, "", 0, "", "client_close"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			port := "8080"
			if tc.want.reason == ReasonLoginOK || tc.want.reason == ReasonNoServerBytes {
				port = "3306"
			}
			k := s.conn(cli, "198.51.100.10:"+port)
			tc.script(k)
			s.close()
			if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
				t.Fatalf("want 1 connect of 1 attempt, got %d", len(s.got))
			}
			a := s.got[0].Attempts[0]
			if a.Reason != tc.want.reason {
				t.Errorf("reason %s (%s), want %s; evidence %q", a.Reason, a.Outcome, tc.want.reason, a.Evidence)
			}
			checkMS(t, "greeting_delay_ms", a.GreetingDelayMS, tc.want.greeting)
			checkMS(t, "client_first_byte_ms", a.ClientFirstByteMS, tc.want.clientFirst)
			checkMS(t, "server_response_ms", a.ServerResponseMS, tc.want.response)
			switch {
			case tc.want.slow == "" && a.Slow != nil:
				t.Errorf("slow %+v, want none", *a.Slow)
			case tc.want.slow != "" && a.Slow == nil:
				t.Errorf("slow: none, want %s", tc.want.slow)
			case tc.want.slow != "" && (a.Slow.Part != tc.want.slow || math.Abs(a.Slow.MS-tc.want.slowMS) > 0.02):
				t.Errorf("slow %+v, want %s %.3f ms", *a.Slow, tc.want.slow, tc.want.slowMS)
			}
			f := a.Facts
			switch {
			case tc.want.step == "" && len(f.Slow) != 0:
				t.Errorf("facts.slow %+v, want none", f.Slow)
			case tc.want.step != "" && (len(f.Slow) == 0 || f.Slow[0].Step != tc.want.step || f.Slow[0].Part != a.Slow.Part):
				t.Errorf("facts.slow %+v, want %s first", f.Slow, tc.want.step)
			}
			if f.Ended != tc.want.ended {
				t.Errorf("facts.ended %q, want %q", f.Ended, tc.want.ended)
			}
		})
	}
}

func checkMS(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	switch {
	case want < 0 && got != nil:
		t.Errorf("%s = %.3f, want null", name, *got)
	case want >= 0 && got == nil:
		t.Errorf("%s = null, want %.3f", name, want)
	case want >= 0 && math.Abs(*got-want) > 0.02:
		t.Errorf("%s = %.3f, want %.3f", name, *got, want)
	}
}

// TestClientFirstCaptures checks the real loopback captures of
// testdata/clientfirst (record.sh) against what their script did: a 1.35 s
// client pause, a 1 s server pause, a server that never answers, and a SYN
// dropped by a full accept queue (retransmitted 1 s later).
func TestClientFirstCaptures(t *testing.T) {
	type want struct {
		reason   Reason
		slow     string
		lo, hi   float64 // the slow part's ms
		response bool    // server_response_ms set
	}
	tests := map[string]want{
		"client-pause.pcap": {ReasonServerAnswered, SlowPartClient, 1350, 1450, true},
		"server-slow.pcap":  {ReasonServerAnswered, SlowPartServer, 1000, 1100, true},
		"no-response.pcap":  {ReasonRequestUnanswered, "", 0, 0, false},
		"backlog-full.pcap": {ReasonServerAnswered, SlowNetwork, 1000, 1100, true},
	}
	for file, w := range tests {
		t.Run(file, func(t *testing.T) {
			cs, _ := analyzeFile(t, filepath.Join("..", "testdata", "clientfirst", file))
			// backlog-full.pcap also holds the connection that filled the
			// accept queue; the client's is the one that sent data.
			var a *Attempt
			for _, c := range cs {
				for _, at := range c.Attempts {
					if at.ClientFirstByteMS != nil {
						a = at
					}
				}
			}
			if a == nil {
				t.Fatalf("no client-first attempt in %d connects", len(cs))
			}
			if a.Reason != w.reason {
				t.Errorf("reason %s, want %s; evidence %q", a.Reason, w.reason, a.Evidence)
			}
			if a.GreetingDelayMS != nil {
				t.Errorf("greeting_delay_ms = %.3f on a client-first attempt, want null", *a.GreetingDelayMS)
			}
			if (a.ServerResponseMS != nil) != w.response {
				t.Errorf("server_response_ms = %v, want set: %v", a.ServerResponseMS, w.response)
			}
			switch {
			case w.slow == "" && a.Slow != nil:
				t.Errorf("slow %+v, want none", *a.Slow)
			case w.slow != "" && (a.Slow == nil || a.Slow.Part != w.slow || a.Slow.MS < w.lo || a.Slow.MS > w.hi):
				t.Errorf("slow %v, want %s in [%.0f, %.0f] ms", a.Slow, w.slow, w.lo, w.hi)
			}
		})
	}
}

// TestClientFirstMovedOn: a client-first client whose request got no answer
// and that moved on to the name's next address: the first attempt is
// app.request_unanswered (gaveUpFor), not "the server sent nothing".
func TestClientFirstMovedOn(t *testing.T) {
	v4 := ip("192.0.2.20")
	v6 := ip("2001:db8::20")
	s := newSim(t, Options{})
	s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "web.lab.test", dns.TypeA, 0, v4)
	s.lookup(0.1, 0.5, "192.0.2.10:5353", dnsS, 2, "web.lab.test", dns.TypeAAAA, 0, v6)
	k6 := s.conn("[2001:db8::10]:40000", "[2001:db8::20]:8080")
	k6.handshake(1, 0.2)
	k6.client(1.5, httpGET)
	k6.serverACK(1.6)
	// A client that moves on closes the socket first (without the FIN the
	// socket is still open: a connect in parallel, TestConcurrentAttempts).
	k6.clientFIN(2001)
	k4 := s.conn("192.0.2.10:40001", "192.0.2.20:8080")
	k4.handshake(2001.5, 0.2)
	k4.client(2002, httpGET)
	k4.server(2010, httpOK)
	s.close()
	if len(s.got) != 1 || len(s.got[0].Attempts) != 2 {
		t.Fatalf("want 1 connect of 2 attempts:\n%s", dumpConnects(s.got))
	}
	first, second := s.got[0].Attempts[0], s.got[0].Attempts[1]
	if f := first.Facts; first.Reason != ReasonRequestUnanswered || f.Ended != "next_address" || f.NextAddress != "192.0.2.20:8080" || !near(f.SinceRequestMS, 2000, 1) {
		t.Errorf("first attempt: %s %+v", first.Reason, f)
	}
	if second.Reason != ReasonServerAnswered || second.ServerResponseMS == nil {
		t.Errorf("second attempt: %s, server_response_ms %v", second.Reason, second.ServerResponseMS)
	}
}
