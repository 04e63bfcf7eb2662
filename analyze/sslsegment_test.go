package analyze

import (
	"testing"
)

// TestMySQLSSLRequestWithClientHello runs a MySQL client's SSLRequest and
// its TLS ClientHello, in one segment (as clients that write both at once
// send them) or in two, whole or cut by the snap length: the SSLRequest
// asks for TLS, the bytes after it are TLS records (never a
// HandshakeResponse, so never a login or a user), and the TLS rules give
// the verdict.
func TestMySQLSSLRequestWithClientHello(t *testing.T) {
	hello := tlsRecord(22, 300) // ClientHello
	both := cat(sslRequest(), hello)
	serverFlight := func(k *conn, ms float64) { // ServerHello … Finished
		k.server(ms, cat(tlsRecord(22, 90), tlsRecord(20, 1)))
		k.server(ms+0.1, tlsRecord(23, 1500))
	}
	finishTLS := func(k *conn, ms float64) { // the client's Finished, the server's next record
		k.client(ms, cat(tlsRecord(20, 1), tlsRecord(23, 60)))
		k.server(ms+1, tlsRecord(23, 40))
	}
	// quiet: a packet of another flow two minutes on, past the idle timeout.
	quiet := func(k *conn) { k.s.udp(120000, "192.0.2.99:1", "192.0.2.98:2", []byte("x")) }
	tests := []struct {
		name       string
		script     func(k *conn)
		want       Outcome
		reason     Reason
		encrypted  bool
		helloEvent bool // the ClientHello was placed (not cut inside its record header)
	}{
		{
			name: "one segment, whole: TLS completes",
			script: func(k *conn) {
				k.client(1, both)
				serverFlight(k, 2)
				finishTLS(k, 3)
			},
			want: OK, reason: ReasonTLSCompleted, encrypted: true, helloEvent: true,
		},
		{
			name: "one segment cut inside the ClientHello's body: TLS completes",
			script: func(k *conn) {
				k.clientCut(1, both, 60)
				serverFlight(k, 2)
				finishTLS(k, 3)
			},
			want: OK, reason: ReasonTLSCompleted, encrypted: true, helloEvent: true,
		},
		{
			name: "one segment, the server's TLS answer, then quiet",
			script: func(k *conn) {
				k.client(1, both)
				serverFlight(k, 2)
				quiet(k)
			},
			want: OK, reason: ReasonTLSUnderWay, encrypted: true, helloEvent: true,
		},
		{
			name: "one segment, no answer, the client closes",
			script: func(k *conn) {
				k.client(1, both)
				k.clientFIN(3)
			},
			want: TLSFailed, reason: ReasonTLSClosed, helloEvent: true,
		},
		{
			name: "one segment cut inside the ClientHello's record header",
			script: func(k *conn) {
				k.clientCut(1, both, len(sslRequest())+2)
				serverFlight(k, 2)
				finishTLS(k, 3)
			},
			want: Incomplete, reason: ReasonCaptureEnded,
		},
		{
			name: "SSLRequest alone, then the ClientHello: TLS completes",
			script: func(k *conn) {
				k.client(1, sslRequest())
				k.client(1.1, hello)
				serverFlight(k, 2)
				finishTLS(k, 3)
			},
			want: OK, reason: ReasonTLSCompleted, encrypted: true, helloEvent: true,
		},
		{
			name: "SSLRequest alone, then the ClientHello, the server's TLS answer, then quiet",
			script: func(k *conn) {
				k.client(1, sslRequest())
				k.client(1.1, hello)
				serverFlight(k, 2)
				quiet(k)
			},
			want: OK, reason: ReasonTLSUnderWay, encrypted: true, helloEvent: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			k := s.conn("10.0.0.1:40000", "10.0.0.2:3306")
			k.handshake(0, 0.1)
			k.server(0.5, mariadbGreeting())
			tc.script(k)
			s.close()
			if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
				t.Fatalf("got %d connects, want 1 with 1 attempt", len(s.got))
			}
			a := s.got[0].Attempts[0]
			if a.Outcome != tc.want || a.Reason != tc.reason {
				t.Errorf("outcome %s (%s), want %s (%s); evidence %q", a.Outcome, a.Reason, tc.want, tc.reason, a.Evidence)
			}
			if testing.Verbose() {
				t.Logf("%s (%s): %q", a.Outcome, a.Reason, a.Evidence)
			}
			m := mysqlOf(a)
			if m == nil || !m.TLSRequested || m.User != "" || m.Encrypted != tc.encrypted {
				t.Errorf("mysql %+v, want TLS requested, no user, encrypted %v", m, tc.encrypted)
			}
			hellos := 0
			for _, ev := range a.Events {
				switch ev.Kind {
				case "login", "command", "not_decoded":
					t.Errorf("event %s %+v: the bytes after the SSLRequest were read as MySQL", ev.Kind, ev.EventAttrs)
				case EvTLSClientHello:
					hellos++
				}
			}
			if want := map[bool]int{true: 1}[tc.helloEvent]; hellos != want {
				t.Errorf("%d ClientHello events, want %d", hellos, want)
			}
		})
	}
}
