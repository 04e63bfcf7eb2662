package analyze

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/postgres"
	"github.com/connscope/connscope/analyze/proto"
)

// PostgreSQL messages for the engine scenarios.
func pgTyped(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

func pgSSLRequest() []byte { return []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f} }

func pgStartup(params ...string) []byte {
	body := []byte{0, 3, 0, 0}
	for _, p := range params {
		body = append(append(body, p...), 0)
	}
	body = append(body, 0)
	b := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(b, uint32(4+len(body)))
	return append(b, body...)
}

func pgAuth(typ uint32, extra string) []byte {
	b := binary.BigEndian.AppendUint32(nil, typ)
	return pgTyped('R', append(b, extra...))
}

func pgError(code, msg string) []byte {
	body := "SFATAL\x00VFATAL\x00C" + code + "\x00M" + msg + "\x00\x00"
	return pgTyped('E', []byte(body))
}

func pgReady() []byte { return pgTyped('Z', []byte{'I'}) }

// TestPostgresScenarios drives the PostgreSQL plug-in through what the lab
// captures do not show.
func TestPostgresScenarios(t *testing.T) {
	const pgSrv = "192.0.2.20:5432"
	startup := pgStartup("user", "app", "database", "appdb", "application_name", "billing")
	tests := []struct {
		name   string
		script func(s *sim)
		want   string
		check  func(t *testing.T, a *Attempt)
	}{
		{"trust: AuthenticationOk at once, then ReadyForQuery", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, startup)
			k.server(2, append(append(pgAuth(0, ""), pgTyped('S', []byte("server_version\x0015.4\x00"))...), pgReady()...))
		}, postgres.ReasonLoginOK, func(t *testing.T, a *Attempt) {
			want := &postgres.Info{User: "app", Database: "appdb", ApplicationName: "billing", Protocol: "3.0", AuthMethod: "trust", ServerVersion: "15.4",
				Identifiers: pgOf(a).Identifiers}
			if !reflect.DeepEqual(pgOf(a), want) {
				t.Errorf("postgres %+v, want %+v", pgOf(a), want)
			}
		}},
		{"a password asked for, the client closes without one", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, startup)
			k.server(2, pgAuth(10, "SCRAM-SHA-256\x00\x00"))
			k.clientFIN(3)
		}, postgres.ReasonNoPassword, func(t *testing.T, a *Attempt) {
			if pgOf(a).AuthMethod != "scram-sha-256" {
				t.Errorf("auth method %q", pgOf(a).AuthMethod)
			}
		}},
		{"the server closes during the startup without an error", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, startup)
			k.server(2, pgAuth(5, "salt"))
			k.client(3, pgTyped('p', []byte("md5xxxx\x00")))
			k.serverFIN(4)
		}, postgres.ReasonServerClosed, nil},
		{"protocol violation", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, startup)
			k.server(2, pgError("08P01", "invalid startup packet layout"))
		}, postgres.ReasonProtocolViolation, nil},
		{"another SQLSTATE at startup", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, startup)
			k.server(2, pgAuth(0, ""))
			k.server(3, pgError("42501", `permission denied for database "appdb"`))
		}, postgres.ReasonErrorAtStartup, func(t *testing.T, a *Attempt) {
			if factOf(a.Facts, "sqlstate") != "42501" || pgOf(a).Severity != "FATAL" || len(a.Causes) != 1 || !strings.Contains(a.Causes[0], "42501") {
				t.Errorf("facts %+v, postgres %+v, causes %q", a.Facts, pgOf(a), a.Causes)
			}
		}},
		{"'S': TLS, the server alerts", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, pgSSLRequest())
			k.server(2, []byte{'S'})
			k.client(3, tlsRecord(22, 200))
			k.server(4, tlsAlert(48))
		}, "tls.alert", func(t *testing.T, a *Attempt) {
			if pgOf(a).SSLAnswer != "S" || len(a.Causes) != 1 || !strings.Contains(a.Causes[0], "sslrootcert") {
				t.Errorf("postgres %+v, causes %q: want the PostgreSQL TLS causes", pgOf(a), a.Causes)
			}
		}},
		{"'S': TLS completes", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, pgSSLRequest())
			k.server(2, []byte{'S'})
			k.client(3, tlsRecord(22, 200))
			k.server(4, tlsRecord(22, 900))
			k.client(5, tlsRecord(20, 1))
			k.server(6, tlsRecord(20, 1))
		}, "tls.completed", func(t *testing.T, a *Attempt) {
			if !pgOf(a).Encrypted {
				t.Errorf("postgres %+v: want encrypted", pgOf(a))
			}
		}},
		{"the StartupMessage unanswered until the client gives up", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, pgSSLRequest())
			k.server(2, []byte{'N'})
			k.client(3, startup)
			k.clientFIN(3000)
		}, postgres.ReasonStartupUnanswered, nil},
		{"a CancelRequest", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, []byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x30, 0x39, 1, 2, 3, 4})
			k.serverFIN(2)
		}, postgres.ReasonCancelRequest, nil},
		{"AuthenticationOk, then the server closes without ReadyForQuery", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, startup)
			k.server(2, pgAuth(0, ""))
			k.serverFIN(3)
		}, postgres.ReasonClosedAfterAuthOK, nil},
		{"not PostgreSQL: an HTTP client on 5432 is not decoded", func(s *sim) {
			k := s.conn(cli, pgSrv)
			k.handshake(0, 0.2)
			k.client(1, []byte("GET / HTTP/1.0\r\n\r\n"))
		}, "app.client_first_unanswered", func(t *testing.T, a *Attempt) {
			if pgOf(a) != nil {
				t.Errorf("postgres %+v for an HTTP client", pgOf(a))
			}
		}},
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
			if a.Reason.String() != tc.want || a.Outcome != a.Reason.Outcome() {
				t.Fatalf("reason %s (%s), want %s\n%s", a.Reason, a.Outcome, tc.want, dumpConnects(s.got))
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

// TestRegisterProtocol: a plug-in's declaration mistakes are refused with
// an error that names the protocol and the mistake.
func TestRegisterProtocol(t *testing.T) {
	sniff := func([]byte) proto.Sniff { return proto.No }
	newS := func(proto.Conn, proto.Sniff, any) proto.Session { return nil }
	words := func(string, proto.Dir, *proto.Attrs) string { return "" }
	tests := []struct {
		name string
		p    proto.Protocol
		want string
	}{
		{"no sniffer", proto.Protocol{Name: "X", New: newS}, "exactly one of SniffServer"},
		{"no Words", proto.Protocol{Name: "X", New: newS, SniffClient: sniff}, "needs Words"},
		{"a reason twice", proto.Protocol{Name: "X", New: newS, Words: words, SniffClient: sniff, Reasons: []proto.ReasonDef{{ID: "tcp.rst_from_server", Outcome: "refused"}}}, `reason "tcp.rst_from_server" is declared twice`},
		{"unknown outcome", proto.Protocol{Name: "X", New: newS, Words: words, SniffClient: sniff, Reasons: []proto.ReasonDef{{ID: "x.new", Outcome: "maybe"}}}, `unknown outcome "maybe"`},
		{"reasons but no Evidence", proto.Protocol{Name: "X", New: newS, Words: words, SniffClient: sniff, Reasons: []proto.ReasonDef{{ID: "x.new", Outcome: "ok"}}}, "declares reasons but no Evidence"},
		{"WrongBanner undeclared", proto.Protocol{Name: "X", New: newS, Words: words, SniffServer: func([]byte, bool, bool) (proto.Sniff, any) { return proto.No, nil }, ServerFirst: true, WrongBanner: "x.nope"}, `WrongBanner reason "x.nope" is not declared`},
	}
	for _, tc := range tests {
		ids := map[string]Reason{}
		for k, v := range reasonIDs {
			ids[k] = v
		}
		n := len(reasonTable)
		err := registerProtocol(ids, &tc.p)
		reasonTable = reasonTable[:n] // nothing of a refused declaration may stay (nor of an accepted one here)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"X"`) {
			t.Errorf("%s: error %v, want one naming %q and the protocol", tc.name, err, tc.want)
		}
	}
}

// TestUnknownReasonID: a session deciding with an id no protocol declared
// leaves the attempt incomplete and its evidence says why, rather than a
// verdict.
func TestUnknownReasonID(t *testing.T) {
	e := NewEngine(Options{})
	a := &attempt{out: &Attempt{}, start: time.Unix(1, 0)}
	(&sessConn{e: e, a: a, p: &postgres.Protocol}).Decide("pg.no_such_reason", time.Unix(2, 0), proto.Finding{})
	if a.reason != ReasonCaptureEnded || a.outcome != Incomplete || a.decision == nil || !a.decision.unknown {
		t.Fatalf("reason %s, outcome %s, finding %+v", a.reason, a.outcome, a.decision)
	}
	at := &Attempt{Outcome: a.outcome, Reason: a.reason, found: a.decision}
	at.Evidence = attemptWords(at).Evidence
	if len(at.Evidence) != 1 || !strings.Contains(at.Evidence[0], `"pg.no_such_reason"`) {
		t.Errorf("evidence %q, want the unknown id named", at.Evidence)
	}
}

// TestProtocolPorts: the live capture's classic filter passes payload on
// every registered protocol's port when no --port is given.
func TestProtocolPorts(t *testing.T) {
	if got := ProtocolPorts(); !reflect.DeepEqual(got, []uint16{3306, 5432}) {
		t.Errorf("ProtocolPorts() = %v, want [3306 5432]", got)
	}
}
