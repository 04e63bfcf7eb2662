package analyze

import (
	"reflect"
	"testing"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/event"
)

// TestReasonScenarios drives the engine through the situations the lab
// captures do not show, and checks the reason (and the facts it rests on)
// each verdict gets.
func TestReasonScenarios(t *testing.T) {
	proc := event.Process{PID: 4242, TID: 4242, Comm: "mariadb", FD: 3}
	kev := func(s *sim, ms float64, kind event.KernelKind, f func(k *event.Kernel)) {
		k := &event.Kernel{Time: s.at(ms), Kind: kind, Process: proc, Cookie: 77, Family: event.FamilyInet, SockType: event.SockStream}
		f(k)
		s.kernel(k)
	}
	synSent := func(s *sim, ms float64) {
		kev(s, ms, event.StateChange, func(k *event.Kernel) {
			k.Src, k.Dst = ap(cli), ap(srv)
			k.OldState, k.NewState = event.TCPClose, event.TCPSynSent
		})
	}
	sockErr := func(s *sim, ms float64, errno int32) {
		kev(s, ms, event.SocketError, func(k *event.Kernel) {
			k.Src, k.Dst = ap(cli), ap(srv)
			k.Errno = errno
		})
	}
	connectFails := func(errno int32) func(s *sim) {
		return func(s *sim) {
			kev(s, 0, event.ConnectCall, func(k *event.Kernel) {
				k.Dst = ap(srv)
				k.Ret = -errno
			})
		}
	}
	unixFails := func(errno int32) func(s *sim) {
		return func(s *sim) {
			kev(s, 0, event.ConnectCall, func(k *event.Kernel) {
				k.Family = event.FamilyUnix
				k.UnixPath = "/run/mysqld/mysqld.sock"
				k.Ret = -errno
			})
		}
	}
	greeted := func(s *sim) *conn {
		k := s.conn(cli, srv)
		k.handshake(0, 0.2)
		k.server(1, mariadbGreeting())
		return k
	}
	idle := func(s *sim, ms float64) { s.udp(ms, "192.0.2.99:1", "192.0.2.98:2", []byte("x")) }
	unresolved := func(rcode uint8) func(s *sim) {
		return func(s *sim) {
			s.lookup(0, 0.3, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, rcode)
			idle(s, 5000)
		}
	}
	tests := []struct {
		name   string
		script func(s *sim)
		want   []Reason // every attempt's (an unresolved connect: its own)
		facts  func(t *testing.T, f *Facts)
	}{
		{"the client answers the SYN-ACK with RST", func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			k.SYN(1000)
			k.SYNACK(1500)
			k.clientRST(1500.1)
		}, []Reason{ReasonSYNACKAfterGiveUp}, func(t *testing.T, f *Facts) {
			if f.SYNs != 2 || f.ClosedBy != "client" || f.Close != "RST" {
				t.Errorf("facts %+v", f)
			}
		}},
		{"kernel RST, no packet captured", func(s *sim) {
			synSent(s, 0)
			kev(s, 0.3, event.ResetReceived, func(k *event.Kernel) { k.Src, k.Dst = ap(cli), ap(srv) })
		}, []Reason{ReasonKernelRST}, nil},
		{"EHOSTUNREACH after a captured SYN", func(s *sim) {
			synSent(s, 0)
			s.conn(cli, srv).SYN(0.01)
			sockErr(s, 1500, errEHOSTUNREACH)
		}, []Reason{ReasonEHOSTUNREACH}, func(t *testing.T, f *Facts) {
			if f.Errno != "EHOSTUNREACH" || f.SYNs != 1 {
				t.Errorf("facts %+v", f)
			}
		}},
		{"unix connect() with EAGAIN", unixFails(errEAGAIN), []Reason{ReasonEAGAINUnix}, func(t *testing.T, f *Facts) {
			if f.Errno != "EAGAIN" {
				t.Errorf("facts %+v", f)
			}
		}},
		{"unix connect() with another errno", unixFails(errEPROTOTYPE), []Reason{ReasonUnixOtherErrno}, nil},
		{"connect() fails at once with EADDRINUSE", connectFails(errEADDRINUSE), []Reason{ReasonEADDRINUSE}, nil},
		{"connect() fails at once with another errno", connectFails(errEINVAL), []Reason{ReasonKernelOtherErrno}, nil},
		{"kernel ECONNRESET in SYN_SENT", func(s *sim) {
			synSent(s, 0)
			sockErr(s, 0.5, errECONNRESET)
		}, []Reason{ReasonECONNRESET}, nil},
		{"kernel ECONNRESET after the handshake, before a server byte", func(s *sim) {
			synSent(s, 0)
			s.conn(cli, srv).handshake(0.01, 0.2)
			sockErr(s, 100, errECONNRESET)
		}, []Reason{ReasonECONNRESETConnected}, nil},
		{"connect() fails at once with EHOSTUNREACH", connectFails(errEHOSTUNREACH), []Reason{ReasonEHOSTUNREACHRoute}, nil},
		{"connect() fails at once with EACCES", connectFails(errEACCES), []Reason{ReasonEACCES}, nil},
		{"kernel ECONNREFUSED, no RST captured", func(s *sim) {
			synSent(s, 0)
			sockErr(s, 0.5, errECONNREFUSED)
		}, []Reason{ReasonECONNREFUSED}, nil},
		{"kernel ETIMEDOUT", func(s *sim) {
			synSent(s, 0)
			sockErr(s, 1500, errETIMEDOUT)
		}, []Reason{ReasonETIMEDOUT}, func(t *testing.T, f *Facts) {
			if f.Errno != "ETIMEDOUT" {
				t.Errorf("facts %+v", f)
			}
		}},
		{"kernel connected, no packets captured", func(s *sim) {
			synSent(s, 0)
			kev(s, 0.4, event.StateChange, func(k *event.Kernel) {
				k.Src, k.Dst = ap(cli), ap(srv)
				k.OldState, k.NewState = event.TCPSynSent, event.TCPEstablished
			})
		}, []Reason{ReasonConnectedNoPackets}, nil},
		{"a non-MySQL banner after the client gave up", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.2)
			k.clientFIN(3000)
			k.server(3500, []byte("SSH-2.0-OpenSSH_9.2\r\n"))
		}, []Reason{ReasonServerSpokeLate}, func(t *testing.T, f *Facts) {
			if f.Banner != "SSH-2.0-OpenSSH_9.2" || f.ClosedBy != "client" {
				t.Errorf("facts %+v", f)
			}
		}},
		{"the client speaks first, no answer before the capture ends", func(s *sim) {
			k := s.conn(cli, "192.0.2.20:8080")
			k.handshake(0, 0.2)
			k.client(1, []byte("GET / HTTP/1.0\r\n\r\n"))
		}, []Reason{ReasonClientFirstUnanswered}, nil},
		{"an ERR instead of a greeting after the client gave up", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.2)
			k.clientFIN(3000)
			k.server(3500, errPacket(0, 1040, "08004", "Too many connections"))
		}, []Reason{ReasonErrLate}, func(t *testing.T, f *Facts) {
			if factOf(f, "mysql_error") != uint16(1040) {
				t.Errorf("facts %+v", f)
			}
		}},
		{"an ERR after the greeting, before the login", func(s *sim) {
			k := greeted(s)
			k.server(2, errPacket(1, 1040, "08004", "Too many connections"))
		}, []Reason{ReasonErrBeforeLogin}, nil},
		{"the login unanswered until the client closes", func(s *sim) {
			k := greeted(s)
			k.client(2, handshakeResponse("app", defaultCaps))
			k.clientFIN(5000)
		}, []Reason{ReasonLoginUnanswered}, nil},
		{"the server closes after its greeting", func(s *sim) {
			k := greeted(s)
			k.serverFIN(3)
		}, []Reason{ReasonServerClosedGreeting}, nil},
		{"the server closes after the login", func(s *sim) {
			k := greeted(s)
			k.client(2, handshakeResponse("app", defaultCaps))
			k.serverFIN(3)
		}, []Reason{ReasonServerClosedLogin}, nil},
		{"no TLS after the SSLRequest", func(s *sim) {
			k := greeted(s)
			k.client(2, sslRequest())
			k.client(3, []byte("definitely not TLS"))
		}, []Reason{ReasonTLSNotTLS}, nil},
		{"the server never answers the ClientHello", func(s *sim) {
			k := greeted(s)
			k.client(2, sslRequest())
			k.client(3, tlsRecord(22, 200))
			idle(s, 120000)
		}, []Reason{ReasonTLSStalled}, nil},
		{"TLS answered, then quiet", func(s *sim) {
			k := greeted(s)
			k.client(2, sslRequest())
			k.client(3, tlsRecord(22, 200))
			k.server(4, tlsRecord(22, 900))
			idle(s, 120000)
		}, []Reason{ReasonTLSUnderWay}, nil},
		{"a verdict resting on lost packets", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.2)
			s.e.NoteLoss(0, 5, s.at(1000))
			k.clientFIN(3000)
		}, []Reason{ReasonEvidenceLost}, func(t *testing.T, f *Facts) {
			if f.WouldBe != ReasonNoServerBytes {
				t.Errorf("would_be %v, want %v", f.WouldBe, ReasonNoServerBytes)
			}
		}},
		{"NOERROR without an address", unresolved(dns.RcodeSuccess), []Reason{ReasonNoData}, nil},
		{"SERVFAIL", unresolved(dns.RcodeServFail), []Reason{ReasonServFail}, nil},
		{"REFUSED", unresolved(dns.RcodeRefused), []Reason{ReasonRefusedDNS}, nil},
		{"ICMP protocol unreachable", func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			k.icmp(0.3, "192.0.2.1", false, 3, 2)
		}, []Reason{ReasonICMPProtocolUnreachable}, func(t *testing.T, f *Facts) {
			if f.ICMP == nil || *f.ICMP != (ICMPFact{From: "192.0.2.1", Type: 3, Code: 2}) {
				t.Errorf("icmp facts %+v", f.ICMP)
			}
		}},
		{"ICMP time exceeded", func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			k.icmp(0.3, "192.0.2.1", false, 11, 0)
		}, []Reason{ReasonICMPTimeExceeded}, nil},
		{"ICMPv6 parameter problem", func(s *sim) {
			k := s.conn(cli6, srv6)
			k.SYN(0)
			k.icmp(0.3, "2001:db8::1", true, 4, 0)
		}, []Reason{ReasonICMPParameterProblem}, nil},
		{"ICMP source route failed", func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			k.icmp(0.3, "192.0.2.1", false, 3, 5)
		}, []Reason{ReasonICMPOther}, nil},
		{"a local firewall REJECT is named by its code, not as a missing ARP reply", func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			k.icmp(0.05, "192.0.2.10", false, 3, 3)
		}, []Reason{ReasonICMPPortUnreachable}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			tc.script(s)
			s.close()
			var got []Reason
			var last *Attempt
			for _, c := range s.got {
				for _, a := range c.Attempts {
					got = append(got, a.Reason)
					last = a
					if a.Reason.Outcome() != a.Outcome {
						t.Errorf("reason %s has outcome %s, the attempt %s", a.Reason, a.Reason.Outcome(), a.Outcome)
					}
				}
				if len(c.Attempts) == 0 {
					got = append(got, c.Reason)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("reasons %v, want %v\n%s", got, tc.want, dumpConnects(s.got))
			}
			if tc.facts != nil {
				if last == nil || last.Facts == nil {
					t.Fatalf("no facts")
				}
				tc.facts(t, last.Facts)
			}
		})
	}
}

// TestEventKinds checks the kind and direction of each timeline step of a
// few typical attempts: a program can follow them without reading words.
func TestEventKinds(t *testing.T) {
	type step struct {
		kind EventKind
		dir  Dir
	}
	tests := []struct {
		name   string
		script func(s *sim)
		want   []step
	}{
		{"login", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.2)
			k.server(1, mariadbGreeting())
			k.client(2, handshakeResponse("app", defaultCaps))
			k.server(3, okPacket(2))
		}, []step{{EvSYN, DirC2S}, {EvSYNACK, DirS2C}, {EvGreeting, DirS2C}, {EvLogin, DirC2S}, {EvLoginOK, DirS2C}}},
		{"refused after a retransmit", func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			k.SYN(1000)
			k.refuse(1000.1)
		}, []step{{EvSYN, DirC2S}, {EvSYNRetransmit, DirC2S}, {EvRST, DirS2C}}},
		{"ICMP from a router", func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			k.icmp(0.3, "192.0.2.1", false, 3, 1)
		}, []step{{EvSYN, DirC2S}, {EvICMPError, DirS2C}}},
		{"no ARP reply: the client's own kernel", func(s *sim) {
			s.conn(cli, srv).icmp(0, "192.0.2.10", false, 3, 1) // the SYN never left
		}, []step{{EvICMPError, DirLocal}}},
		{"ERR at greeting", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.2)
			k.server(1, errPacket(0, 1130, "HY000", "Host is not allowed"))
		}, []step{{EvSYN, DirC2S}, {EvSYNACK, DirS2C}, {EvMySQLErr, DirS2C}}},
		{"the server closes before a byte", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.2)
			k.serverFIN(2)
		}, []step{{EvSYN, DirC2S}, {EvSYNACK, DirS2C}, {EvFIN, DirS2C}}},
		{"TLS alert", func(s *sim) {
			k := s.conn(cli, srv)
			k.handshake(0, 0.2)
			k.server(1, mariadbGreeting())
			k.client(2, sslRequest())
			k.client(3, tlsRecord(22, 200))
			k.server(4, tlsAlert(48))
		}, []step{{EvSYN, DirC2S}, {EvSYNACK, DirS2C}, {EvGreeting, DirS2C}, {EvSSLRequest, DirC2S}, {EvTLSClientHello, DirC2S}, {EvTLSAlert, DirS2C}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			tc.script(s)
			s.close()
			if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
				t.Fatalf("want one attempt:\n%s", dumpConnects(s.got))
			}
			var got []step
			for _, ev := range s.got[0].Attempts[0].Events {
				got = append(got, step{ev.Kind, ev.Dir})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("steps %v, want %v\n%s", got, tc.want, dumpConnects(s.got))
			}
		})
	}
}
