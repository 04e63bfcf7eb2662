package analyze

import (
	"reflect"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// serverCut sends b from the server as one segment of which the capture
// kept only the first keep bytes (the snap length cut it).
func (k *conn) serverCut(ms float64, b []byte, keep int) {
	p := k.pkt(ms, false, event.TCPAck|event.TCPPsh, b[:keep])
	p.PayloadLen = len(b)
	k.s.feed(p)
	k.sseq += uint32(len(b))
}

// clientCut is serverCut from the client.
func (k *conn) clientCut(ms float64, b []byte, keep int) {
	p := k.pkt(ms, true, event.TCPAck|event.TCPPsh, b[:keep])
	p.PayloadLen = len(b)
	k.s.feed(p)
	k.cseq += uint32(len(b))
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// tls13Flight is a TLS 1.3 server's first flight in one segment: ServerHello,
// ChangeCipherSpec, then encrypted records (EncryptedExtensions,
// Certificate, CertificateVerify, Finished), as mariadbd sends it.
func tls13Flight() []byte {
	return cat(tlsRecord(22, 122), tlsRecord(20, 1), tlsRecord(23, 23), tlsRecord(23, 900), tlsRecord(23, 281), tlsRecord(23, 69))
}

// TestSnapLength runs connection phases whose segments the capture cut
// (captured length < wire length): the verdict comes from what was
// captured, and from TCP for the rest, never from missing bytes.
func TestSnapLength(t *testing.T) {
	const keep = 184 // a 256-byte snap length on LINUX_SLL2 with IPv4 and TCP timestamps
	tests := []struct {
		name   string
		script func(k *conn)
		want   Outcome
		check  func(t *testing.T, a *Attempt, sum Summary)
	}{
		{
			name: "TLS 1.3 login, server flight cut mid-record: ok, encrypted",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.client(0.4, sslRequest())
				k.clientCut(22, tlsRecord(22, 512), keep)                                 // ClientHello
				k.serverCut(23, tls13Flight(), keep)                                      // the next record starts in missing bytes
				k.client(24, cat(tlsRecord(20, 1), tlsRecord(23, 53), tlsRecord(23, 19))) // client Finished
				k.clientCut(24.1, tlsRecord(23, 232), keep)                               // HandshakeResponse, encrypted
				k.serverCut(24.2, tlsRecord(23, 250), keep)                               // OK, session ticket
				k.client(26, tlsRecord(23, 35))                                           // COM_QUERY
				k.server(26.2, tlsRecord(23, 93))                                         // result set
				k.client(26.3, tlsRecord(23, 22))                                         // COM_QUIT
				k.serverFIN(26.4)
				k.clientFIN(27)
			},
			want: OK,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if mysqlOf(a) == nil || !mysqlOf(a).Encrypted || !mysqlOf(a).TLSRequested {
					t.Errorf("mysql %+v, want TLS requested and encrypted", mysqlOf(a))
				}
				if f := a.Facts; f.TLSCutSide != "server" || f.TLSCutAt == 0 {
					t.Errorf("facts %+v do not say the verdict was judged around the server's cut records", f)
				}
				if f := a.Facts.Cut; f == nil || f.From != "client" || f.Kept != keep || f.Len <= keep {
					t.Errorf("cut %+v: the facts do not say the capture is truncated", f)
				}
				if sum.TruncatedSegments != 4 {
					t.Errorf("summary truncated_segments %d, want 4", sum.TruncatedSegments)
				}
			},
		},
		{
			name: "TLS, server flight cut, then a whole-segment alert: tls_failed with the alert",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.client(0.4, sslRequest())
				k.client(1, tlsRecord(22, 150))
				k.serverCut(2, tls13Flight(), keep)
				k.client(3, cat(tlsRecord(20, 1), tlsRecord(23, 53)))
				k.server(4, tlsAlert(42)) // bad_certificate, plaintext (TLS 1.2 style)
				k.serverFIN(4.1)
			},
			want: TLSFailed,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if a.Reason != ReasonTLSAlert || a.Facts.TLSAlert != "server bad_certificate" {
					t.Errorf("reason %s facts %+v lack the alert", a.Reason, a.Facts)
				}
			},
		},
		{
			name: "TLS, server flight cut, server closes before the client's Finished is answered: tls_failed, says truncated",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.client(0.4, sslRequest())
				k.client(1, tlsRecord(22, 150))
				k.serverCut(2, tls13Flight(), keep)
				k.client(3, cat(tlsRecord(20, 1), tlsRecord(23, 53)))
				k.serverFIN(4)
			},
			want: TLSFailed,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if f := a.Facts.Cut; f == nil || f.From != "server" || f.Kept != keep {
					t.Errorf("cut %+v: the facts do not say the capture is truncated", f)
				}
			},
		},
		{
			name: "greeting cut after the version, login ok",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.serverCut(0.3, mariadbGreeting(), 40)
				k.client(1, handshakeResponse("app", defaultCaps))
				k.server(2, okPacket(2))
			},
			want: OK,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if mysqlOf(a) == nil || mysqlOf(a).ServerVersion != "5.5.5-10.11.6-MariaDB-0+deb12u1" || mysqlOf(a).User != "app" {
					t.Errorf("mysql %+v", mysqlOf(a))
				}
			},
		},
		{
			name: "ERR 1045 cut in its message: code, SQLSTATE and the message so far, marked cut",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.client(1, handshakeResponse("lab", defaultCaps))
				k.serverCut(2, errPacket(2, 1045, "28000", "Access denied for user 'lab'@'192.0.2.10' (using password: YES)"), 4+9+13)
				k.serverFIN(2.1)
			},
			want: AuthFailed,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				m := mysqlOf(a)
				if m == nil || m.ErrorCode != 1045 || m.SQLState != "28000" || m.ErrorMessage != "Access denied" || !m.ErrorMessageCut {
					t.Errorf("mysql %+v, want 1045 28000 %q cut", m, "Access denied")
				}
				if !hasSubstring(a.Evidence, "message cut in the capture") {
					t.Errorf("evidence %q does not say the message was cut", a.Evidence)
				}
			},
		},
		{
			name: "ERR cut inside its SQLSTATE: the code, no SQLSTATE, no message",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.client(1, handshakeResponse("lab", defaultCaps))
				k.serverCut(2, errPacket(2, 1044, "42000", "Access denied for user 'lab' to database 'secret'"), 4+3+3)
			},
			want: AuthFailed,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				m := mysqlOf(a)
				if m == nil || m.ErrorCode != 1044 || m.SQLState != "" || m.ErrorMessage != "" || !m.ErrorMessageCut {
					t.Errorf("mysql %+v, want 1044 without SQLSTATE or message, cut", m)
				}
			},
		},
		{
			name: "ERR 1130 instead of a greeting, cut: rejected",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.serverCut(0.3, errPacket(0, 1130, "", "Host '192.0.2.13' is not allowed to connect to this MariaDB server"), 30)
				k.serverFIN(0.4)
			},
			want: Rejected,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if m := mysqlOf(a); m == nil || m.ErrorCode != 1130 || !m.ErrorMessageCut || !strings.HasPrefix(m.ErrorMessage, "Host '192.0.2.13' is") {
					t.Errorf("mysql %+v", mysqlOf(a))
				}
			},
		},
		{
			name: "ERR instead of a greeting cut before its code: rejected",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.serverCut(0.3, errPacket(0, 1040, "", "Too many connections"), 4+2)
				k.serverFIN(0.4)
			},
			want: Rejected,
		},
		{
			name: "ERR after the login cut before its code: incomplete (auth or limit is not in the capture)",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.client(1, handshakeResponse("lab", defaultCaps))
				k.serverCut(2, errPacket(2, 1045, "28000", "Access denied"), 4+2)
				k.serverFIN(2.1)
			},
			want: Incomplete,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if !hasSubstring(a.Evidence, "snap length cut") {
					t.Errorf("evidence %q", a.Evidence)
				}
			},
		},
		{
			name: "HandshakeResponse cut at 32 bytes is not an SSLRequest",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.clientCut(1, handshakeResponse("app", defaultCaps), 4+32)
				k.server(2, okPacket(2))
			},
			want: OK,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if mysqlOf(a) == nil || mysqlOf(a).TLSRequested || mysqlOf(a).Encrypted {
					t.Errorf("mysql %+v: a cut HandshakeResponse taken for an SSLRequest", mysqlOf(a))
				}
			},
		},
		{
			name: "HandshakeResponse cut in the user name: the name so far",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.clientCut(1, handshakeResponse("application_user", defaultCaps), 4+32+11)
				k.server(2, errPacket(2, 1045, "28000", "Access denied"))
			},
			want: AuthFailed,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if mysqlOf(a) == nil || mysqlOf(a).User != "application" {
					t.Errorf("mysql %+v, want user %q", mysqlOf(a), "application")
				}
				if !hasEvent(a, EvLogin, func(e *Event, _ *proto.Detail, m *proto.Msg) bool {
					return e.Proto == "MySQL" && m.Cut && m.User == "application"
				}) {
					t.Errorf("timeline does not say the HandshakeResponse was cut")
				}
			},
		},
		{
			name: "server's answer to the login lost in cut bytes, then the client's COM_QUERY: ok",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.client(1, handshakeResponse("lab", defaultCaps))
				// A long auth-more-data packet (an RSA public key) and the
				// OK after it, in one segment cut inside the first.
				k.serverCut(2, cat(myPacket(2, append([]byte{1}, make([]byte, 450)...)), okPacket(3)), keep)
				k.client(3, myPacket(0, []byte{3, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'}))
				k.server(3.2, myPacket(1, []byte{1}))
				k.clientFIN(4)
			},
			want: OK,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if !hasSubstring(a.Evidence, "COM_QUERY after its login") {
					t.Errorf("evidence %q", a.Evidence)
				}
			},
		},
		{
			name: "server's answer to the login lost in cut bytes, client closes: incomplete, not timeout",
			script: func(k *conn) {
				k.handshake(0, 0.1)
				k.server(0.3, mariadbGreeting())
				k.client(1, handshakeResponse("lab", defaultCaps))
				k.serverCut(2, cat(myPacket(2, append([]byte{1}, make([]byte, 450)...)), okPacket(3)), keep)
				k.clientFIN(4)
				k.serverFIN(4.1)
			},
			want: Incomplete,
			check: func(t *testing.T, a *Attempt, sum Summary) {
				if !hasSubstring(a.Evidence, "snap length cut the server's bytes") {
					t.Errorf("evidence %q", a.Evidence)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			tc.script(s.conn(cli, srv))
			sum := s.close()
			if got := attemptOutcomes(s.got); !reflect.DeepEqual(got, []Outcome{tc.want}) {
				t.Fatalf("outcomes = %v, want %v\n%s", got, tc.want, dumpConnects(s.got))
			}
			if tc.check != nil {
				tc.check(t, s.got[0].Attempts[0], sum)
			}
			if t.Failed() {
				t.Log(dumpConnects(s.got))
			}
		})
	}
}

// TestStreamCutOutOfOrder: a cut segment that arrives before the bytes in
// front of it is kept and delivered once they come, so the stream keeps
// counting bytes and knows where the unknown bytes start.
func TestStreamCutOutOfOrder(t *testing.T) {
	var s stream
	s.init(999) // first payload byte: sequence 1000
	second := make([]byte, 100)
	if n := s.add(1100, second[:40], 100); n != 0 {
		t.Fatalf("out-of-order segment delivered %d bytes early", n)
	}
	first := append([]byte{0, 0, 0, 0}, make([]byte, 96)...)
	n := s.add(1000, first, 100)
	if n != 200 || s.bytes != 200 || s.next != 200 {
		t.Fatalf("after the gap filled: %d new bytes, %d seen, next %d; want 200, 200, 200", n, s.bytes, s.next)
	}
	if s.cut != 1 || !s.partial() || len(s.buf) != 140 {
		t.Fatalf("cut %d, partial %v, %d bytes buffered; want 1, true, 140", s.cut, s.partial(), len(s.buf))
	}
	// The decoder's next packet would start in the missing bytes: lost there.
	s.consume(150)
	if !s.lost || s.lostAt != 140 {
		t.Fatalf("lost %v at %d, want lost at 140", s.lost, s.lostAt)
	}
	// TCP keeps counting.
	if s.add(1200, make([]byte, 10), 10); s.bytes != 210 {
		t.Fatalf("bytes %d after the loss, want 210", s.bytes)
	}
}

// TestSnapLengthDNS: a DNS answer the capture cut is neither malformed nor
// an empty answer; the records past the cut are unknown.
func TestSnapLengthDNS(t *testing.T) {
	const dnsCli = "192.0.2.10:51000"
	answer := dnsMsg(7, true, 0, "db.lab.test", dns.TypeA, ip("192.0.2.20"), ip("192.0.2.21"))
	question := len(dnsMsg(7, false, 0, "db.lab.test", dns.TypeA))
	tests := []struct {
		name      string
		keep      int
		malformed uint64
	}{
		{"cut after the question: no record decoded", question, 0},
		{"cut inside the header", 8, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			s.udp(0, dnsCli, dnsS, dnsMsg(7, false, 0, "db.lab.test", dns.TypeA))
			sa, da := ap(dnsS), ap(dnsCli)
			s.feed(&event.Packet{Time: s.at(0.4), Proto: event.ProtoUDP, Src: sa.Addr(), SrcPort: sa.Port(),
				Dst: da.Addr(), DstPort: da.Port(), Payload: answer[:tc.keep], PayloadLen: len(answer)})
			sum := s.close()
			for _, c := range s.got {
				if c.Outcome == Unresolved {
					t.Errorf("a cut answer reported as a failed lookup:\n%s", dumpConnects(s.got))
				}
			}
			if sum.MalformedDNS != tc.malformed || sum.TruncatedSegments != 1 {
				t.Errorf("summary: %d malformed DNS, %d truncated; want %d, 1", sum.MalformedDNS, sum.TruncatedSegments, tc.malformed)
			}
		})
	}
}

// TestSnapLengthFirstBytes: a server's first segment cut before it shows
// what it is (a header-only snap length) is no verdict on the protocol.
func TestSnapLengthFirstBytes(t *testing.T) {
	tests := []struct {
		name   string
		keep   int
		script func(k *conn)
		want   Outcome
	}{
		{"greeting cut to 2 bytes, login, then a client command: ok", 2, func(k *conn) {
			k.client(1, handshakeResponse("app", defaultCaps))
			k.serverCut(2, okPacket(2), 0)
			k.client(3, myPacket(0, []byte{3, 'S', 'E', 'L', 'E', 'C', 'T'}))
			k.clientFIN(4)
		}, OK},
		{"greeting cut to 0 bytes, nothing else decides: incomplete", 0, func(k *conn) {
			k.client(1, handshakeResponse("app", defaultCaps))
			k.serverFIN(2)
			k.clientFIN(2.1)
		}, Incomplete},
		{"greeting cut to 4 bytes, SSLRequest, TLS to the fourth turn: ok", 4, func(k *conn) {
			k.client(1, sslRequest())
			k.client(1.1, tlsRecord(22, 150))
			k.serverCut(2, tls13Flight(), 0)
			k.client(3, cat(tlsRecord(20, 1), tlsRecord(23, 53)))
			k.serverCut(4, tlsRecord(23, 300), 0)
		}, OK},
		{"SSH banner cut to 6 bytes is still not MySQL", 6, nil, WrongProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			k := s.conn(cli, srv)
			k.handshake(0, 0.1)
			first := mariadbGreeting()
			if tc.script == nil {
				first = []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
			}
			k.serverCut(0.3, first, tc.keep)
			if tc.script != nil {
				tc.script(k)
			} else {
				k.serverFIN(0.4)
			}
			s.close()
			if got := attemptOutcomes(s.got); !reflect.DeepEqual(got, []Outcome{tc.want}) {
				t.Fatalf("outcomes = %v, want %v\n%s", got, tc.want, dumpConnects(s.got))
			}
		})
	}
}
