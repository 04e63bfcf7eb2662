package postgres

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// vectorNames lists the recorded scenarios (testdata/<name>.txt).
func vectorNames(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".txt")
		if name == "scenarios" || strings.HasPrefix(name, "server.log") {
			continue
		}
		names = append(names, name)
	}
	if len(names) < 15 {
		t.Fatalf("found %d vectors in testdata, want the 19 record.sh writes", len(names))
	}
	return names
}

// connPhase keeps the messages up to the first ReadyForQuery or
// ErrorResponse (included) and drops ParameterStatus, for comparison.
func connPhase(steps []step) []string {
	var out []string
	for _, s := range steps {
		if s.msg.Kind == KindParameterStatus {
			continue
		}
		out = append(out, summary(s.msg))
		if s.msg.Kind == KindReadyForQuery || s.msg.Kind == KindError {
			break
		}
	}
	return out
}

// clientPhase keeps the client messages before the first query.
func clientPhase(steps []step) []string {
	var out []string
	for _, s := range steps {
		if s.msg.Kind == KindOther || s.msg.Kind == KindTerminate {
			break
		}
		out = append(out, summary(s.msg))
	}
	return out
}

// TestVectors decodes every recorded conversation. The expectations are
// what psql and the server log said (testdata/scenarios.log,
// testdata/server.log.txt) and what tshark's pgsql dissector shows.
func TestVectors(t *testing.T) {
	scram := []string{"AuthSASL SCRAM-SHA-256", "AuthSASLContinue", "AuthSASLFinal", "AuthOk", "BackendKeyData", "ReadyForQuery I"}
	scramClient := func(user, db, app string) []string {
		return []string{"Startup 3.0 user=" + user + " database=" + db + " application_name=" + app, "SASLInitialResponse SCRAM-SHA-256", "PasswordMessage"}
	}
	fatal := func(code, msg string) string { return "ErrorResponse FATAL " + code + " " + msg }
	tests := []struct {
		name    string
		conv    int
		client  []string
		server  []string
		routine string // the server function that sent the error
	}{
		{"scram_ok", 0, scramClient("lab", "appdb", "connscope-test"), scram, ""},
		{"ssl_prefer_n", 0, append([]string{"SSLRequest"}, scramClient("lab", "appdb", "psql")...), append([]string{"Answer N"}, scram...), ""},
		{"ssl_require_n", 0, []string{"SSLRequest"}, []string{"Answer N"}, ""},
		{"md5_ok", 0, []string{"Startup 3.0 user=md5user database=appdb application_name=psql", "PasswordMessage"},
			[]string{"AuthMD5Password", "AuthOk", "BackendKeyData", "ReadyForQuery I"}, ""},
		{"cleartext_ok", 0, []string{"Startup 3.0 user=lab database=pwdb application_name=psql", "PasswordMessage"},
			[]string{"AuthCleartextPassword", "AuthOk", "BackendKeyData", "ReadyForQuery I"}, ""},
		{"trust_ok", 0, []string{"Startup 3.0 user=lab database=trustdb options=-cstatement_timeout=5s application_name=psql"},
			[]string{"AuthOk", "BackendKeyData", "ReadyForQuery I"}, ""},
		{"scram_wrong_password", 0, scramClient("lab", "appdb", "psql"),
			[]string{"AuthSASL SCRAM-SHA-256", "AuthSASLContinue", fatal("28P01", `password authentication failed for user "lab"`)}, "auth_failed"},
		{"md5_wrong_password", 0, []string{"Startup 3.0 user=md5user database=appdb application_name=psql", "PasswordMessage"},
			[]string{"AuthMD5Password", fatal("28P01", `password authentication failed for user "md5user"`)}, "auth_failed"},
		{"cleartext_wrong_password", 0, []string{"Startup 3.0 user=lab database=pwdb application_name=psql", "PasswordMessage"},
			[]string{"AuthCleartextPassword", fatal("28P01", `password authentication failed for user "lab"`)}, "auth_failed"},
		// A role that does not exist goes through a mock SCRAM exchange.
		{"scram_no_such_user", 0, scramClient("ghost", "appdb", "psql"),
			[]string{"AuthSASL SCRAM-SHA-256", "AuthSASLContinue", fatal("28P01", `password authentication failed for user "ghost"`)}, "auth_failed"},
		// The database is looked up after a successful authentication.
		{"database_missing", 0, scramClient("lab", "nosuchdb", "psql"),
			[]string{"AuthSASL SCRAM-SHA-256", "AuthSASLContinue", "AuthSASLFinal", "AuthOk", fatal("3D000", `database "nosuchdb" does not exist`)}, "InitPostgres"},
		{"hba_reject", 0, []string{"Startup 3.0 user=lab database=rejectdb application_name=psql"},
			[]string{fatal("28000", `pg_hba.conf rejects connection for host "127.0.0.1", user "lab", database "rejectdb", no encryption`)}, "ClientAuthentication"},
		{"hba_no_entry", 0, []string{"Startup 3.0 user=lab database=secretdb application_name=psql"},
			[]string{fatal("28000", `no pg_hba.conf entry for host "::1", user "lab", database "secretdb", no encryption`)}, "ClientAuthentication"},
		// No free process slot: refused before authentication.
		{"too_many_clients", 0, []string{"Startup 3.0 user=postgres database=trustdb application_name=psql"},
			[]string{fatal("53300", "sorry, too many clients already")}, "InitProcess"},
		// Only superuser slots left: refused after AuthenticationOk.
		{"slots_reserved", 0, []string{"Startup 3.0 user=lab database=trustdb application_name=psql"},
			[]string{"AuthOk", fatal("53300", "remaining connection slots are reserved for non-replication superuser connections")}, "InitPostgres"},
		{"shutting_down", 0, []string{"SSLRequest", "Startup 3.0 user=lab database=trustdb application_name=psql"},
			[]string{"Answer N", fatal("57P03", "the database system is shutting down")}, "ProcessStartupPacket"},
		// A standby with hot_standby = off: refused before authentication.
		{"standby_no_hot", 0, []string{"Startup 3.0 user=lab database=trustdb application_name=psql"},
			[]string{fatal("57P03", "the database system is not accepting connections")}, "ProcessStartupPacket"},
		{"cancel", 0, []string{"Startup 3.0 user=lab database=trustdb application_name=psql"},
			[]string{"AuthOk", "BackendKeyData", "ReadyForQuery I"}, "ProcessInterrupts"},
		{"cancel", 1, []string{"CancelRequest"}, nil, ""},
		// Debian's server is built with GSSAPI: it accepts GSSENCRequest
		// even without a keytab.
		{"raw_protocol", 0, []string{"GSSENCRequest"}, []string{"Answer G"}, ""},
		{"raw_protocol", 1, []string{"Startup 3.1 user=lab database=trustdb _pq_.connscope_test=1"},
			[]string{"NegotiateProtocolVersion 3.0 _pq_.connscope_test", "AuthOk", "BackendKeyData", "ReadyForQuery I"}, ""},
		// Protocol 2 is refused in version-2 format: no SQLSTATE on the wire.
		{"raw_protocol", 2, []string{"Startup 2.0 "},
			[]string{"ErrorResponse v2 FATAL  unsupported frontend protocol 2.0: server supports 3.0 to 3.0"}, ""},
		{"raw_protocol", 3, []string{"Startup 3.0 user=lab database=appdb", "SASLInitialResponse BOGUS-MECH"},
			[]string{"AuthSASL SCRAM-SHA-256", fatal("08P01", "client selected an invalid SASL authentication mechanism")}, "scram_init"},
		{"raw_protocol", 4, []string{"CancelRequest"}, nil, ""},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.name] = true
		t.Run(fmt.Sprintf("%s/%d", tc.name, tc.conv), func(t *testing.T) {
			convs := loadVector(t, tc.name)
			if tc.conv >= len(convs) {
				t.Fatalf("vector has %d connections", len(convs))
			}
			c := convs[tc.conv]
			ss := walkServer(t, c.server, startsWithRequest(c.client))
			cs := walkClient(t, c.client, answers(ss))
			if got := clientPhase(cs); !reflect.DeepEqual(got, tc.client) {
				t.Errorf("client:\n got %q\nwant %q", got, tc.client)
			}
			if got := connPhase(ss); !reflect.DeepEqual(got, tc.server) {
				t.Errorf("server:\n got %q\nwant %q", got, tc.server)
			}
			for _, s := range ss {
				m := s.msg
				switch {
				case m.Kind == KindError && !m.V2Error:
					if m.Error.Routine != tc.routine || m.Error.SeverityV != "FATAL" && m.Error.SeverityV != "ERROR" {
						t.Errorf("error fields %+v, want routine %q", *m.Error, tc.routine)
					}
				case m.Kind == KindParameterStatus && m.Name == "server_version":
					if !strings.HasPrefix(m.Value, "15.") {
						t.Errorf("server_version %q", m.Value)
					}
				case m.Kind == KindBackendKeyData && m.ProcessID == 0:
					t.Errorf("BackendKeyData without a process id")
				}
			}
		})
	}
	// The standby's refusal carries a DETAIL that says why.
	c := loadVector(t, "standby_no_hot")[0]
	if m, _, err := NextServer(c.server, false); err != nil || m.Error.Detail != "Hot standby mode is disabled." {
		t.Errorf("standby refusal: %v %+v", err, m.Error)
	}
	for _, name := range vectorNames(t) {
		if !seen[name] {
			t.Errorf("vector %s has no expectations in TestVectors", name)
		}
	}
}

// forEachMessage calls f with every message of every recorded conversation:
// the bytes from its start to the end of its stream, its length and the
// mode its decoder needs.
func forEachMessage(t *testing.T, f func(t *testing.T, name string, client bool, rest []byte, s step)) {
	for _, name := range vectorNames(t) {
		for i, c := range loadVector(t, name) {
			ss := walkServer(t, c.server, startsWithRequest(c.client))
			cs := walkClient(t, c.client, answers(ss))
			for _, s := range cs {
				f(t, fmt.Sprintf("%s/%d/client@%d", name, i, s.off), true, c.client[s.off:], s)
			}
			for _, s := range ss {
				f(t, fmt.Sprintf("%s/%d/server@%d", name, i, s.off), false, c.server[s.off:], s)
			}
		}
	}
}

// TestEveryPrefixIsShort: a message cut anywhere is "need more bytes",
// never an error and never another message.
func TestEveryPrefixIsShort(t *testing.T) {
	count := 0
	forEachMessage(t, func(t *testing.T, where string, client bool, rest []byte, s step) {
		for k := 0; k < s.n; k++ {
			var err error
			var m Message
			var n int
			if client {
				m, n, err = NextClient(rest[:k], s.mode)
			} else {
				m, n, err = NextServer(rest[:k], s.mode)
			}
			if err != ErrShort || n != 0 || !reflect.DeepEqual(m, Message{}) && m.Kind != s.msg.Kind {
				t.Fatalf("%s: %d of %d bytes: got %v, n=%d, %+v; want ErrShort", where, k, s.n, err, n, m)
			}
			count++
		}
	})
	t.Logf("%d prefixes", count)
}

// TestTruncated: the *Truncated decoders give the fields present before any
// cut, and mark the message.
func TestTruncated(t *testing.T) {
	forEachMessage(t, func(t *testing.T, where string, client bool, rest []byte, s step) {
		for k := 1; k <= s.n; k++ {
			var m Message
			var err error
			if client {
				m, err = ClientTruncated(rest[:k], s.mode)
			} else {
				m, err = ServerTruncated(rest[:k], s.mode)
			}
			if errors.Is(err, ErrShort) {
				if k >= 8 {
					t.Fatalf("%s: %d of %d bytes: %v", where, k, s.n, err)
				}
				continue
			}
			kind := m.Kind
			if kind == KindPassword && s.msg.Kind == KindSASLInitialResponse && k < 5+len(s.msg.Mechanism)+5 {
				kind = KindSASLInitialResponse // cut before its shape shows
			}
			if err != nil || kind != s.msg.Kind || m.Truncated != (k < s.n) {
				t.Fatalf("%s: %d of %d bytes: %v %+v, want a %s truncated=%v", where, k, s.n, err, m, s.msg.Kind, k < s.n)
			}
			if k == s.n && !reflect.DeepEqual(m, s.msg) {
				t.Fatalf("%s: whole message decoded as %+v by the truncated decoder, %+v by Next", where, m, s.msg)
			}
		}
	})

	// The cases a report needs: an ErrorResponse cut in its message text
	// keeps severity and SQLSTATE; a StartupMessage cut in the database name
	// keeps the user.
	c := loadVector(t, "too_many_clients")[0]
	cut := bytes.Index(c.server, []byte("too many"))
	m, err := ServerTruncated(c.server[:cut], false)
	if err != nil || !m.Truncated || m.Error.Severity != "FATAL" || m.Error.Code != "53300" || m.Error.Message != "sorry, " {
		t.Errorf("cut ErrorResponse: %v %+v %+v", err, m, m.Error)
	}
	if _, _, err := NextServer(c.server[:cut], false); err != ErrShort {
		t.Errorf("cut ErrorResponse via NextServer: %v, want ErrShort", err)
	}
	cut = bytes.Index(c.client, []byte("trustdb")) + 3
	m, err = ClientTruncated(c.client[:cut], true)
	if err != nil || !m.Truncated || m.Param("user") != "postgres" || m.Param("database") != "tru" {
		t.Errorf("cut StartupMessage: %v %+v", err, m)
	}
	v2 := loadVector(t, "raw_protocol")[2].server
	m, err = ServerTruncated(v2[:20], false)
	if err != nil || !m.Truncated || !m.V2Error || m.Error.Severity != "FATAL" || m.Error.Message != "unsupported" {
		t.Errorf("cut version-2 error: %v %+v %+v", err, m, m.Error)
	}
}

// TestSecretsNeverDecoded: password messages, SASL and GSS data, MD5 salts
// and cancel keys never come out. The vectors hold the cleartext password
// of the "password" method, so this test can fail.
func TestSecretsNeverDecoded(t *testing.T) {
	var secrets [][]byte
	for _, name := range vectorNames(t) {
		for _, c := range loadVector(t, name) {
			for _, pw := range []string{"scram-secret-pw", "md5-secret-pw", "wrong-secret-pw", "wrong-md5-pw", "clear-wrong-pw"} {
				if bytes.Contains(c.client, []byte(pw)) {
					secrets = append(secrets, []byte(pw))
				}
			}
			ss := walkServer(t, c.server, startsWithRequest(c.client))
			for _, s := range ss {
				if s.msg.Kind == KindAnswer || s.msg.V2Error {
					continue
				}
				body := c.server[s.off+5 : s.off+s.n]
				switch {
				case s.msg.Kind == KindBackendKeyData:
					secrets = append(secrets, []byte(fmt.Sprint(binary.BigEndian.Uint32(body[4:]))))
				case s.msg.Kind == KindAuth && s.msg.Auth == AuthMD5Password:
					secrets = append(secrets, []byte(fmt.Sprint(binary.BigEndian.Uint32(body[4:]))))
				case s.msg.Kind == KindAuth && (s.msg.Auth == AuthSASLContinue || s.msg.Auth == AuthSASLFinal):
					secrets = append(secrets, body[4:])
				}
			}
			for _, s := range walkClient(t, c.client, answers(ss)) {
				if s.mode { // untyped
					if s.msg.Kind == KindCancelRequest {
						secrets = append(secrets, []byte(fmt.Sprint(binary.BigEndian.Uint32(c.client[s.off+12:]))))
					}
					continue
				}
				body := c.client[s.off+5 : s.off+s.n]
				switch s.msg.Kind {
				case KindPassword:
					secrets = append(secrets, bytes.TrimRight(body, "\x00"))
				case KindSASLInitialResponse:
					secrets = append(secrets, body[len(s.msg.Mechanism)+5:])
				}
			}
		}
	}
	if !containsAny(secrets, []byte("scram-secret-pw")) || !containsAny(secrets, []byte("clear-wrong-pw")) {
		t.Fatal("the vectors no longer carry a cleartext password: this test would prove nothing")
	}
	var out strings.Builder
	forEachMessage(t, func(t *testing.T, where string, client bool, rest []byte, s step) {
		for k := 1; k <= s.n; k++ {
			var m Message
			if client {
				m, _ = ClientTruncated(rest[:k], s.mode)
			} else {
				m, _ = ServerTruncated(rest[:k], s.mode)
			}
			fmt.Fprintf(&out, "%+v %+v %s %q\n", m, m.Error, m.String(), Identifiers(m))
		}
	})
	for _, s := range secrets {
		if len(s) >= 4 && strings.Contains(out.String(), string(s)) {
			t.Errorf("secret %q appears in the decoded messages", s)
		}
	}
	t.Logf("%d secrets checked against %d bytes of decoded output", len(secrets), out.Len())
}

func containsAny(list [][]byte, s []byte) bool {
	for _, b := range list {
		if bytes.Contains(b, s) {
			return true
		}
	}
	return false
}

func TestIdentifiers(t *testing.T) {
	tests := []struct {
		name string
		conv int
		want []string // union over the conversation's messages, in order
	}{
		{"scram_ok", 0, []string{"lab", "appdb", "connscope-test"}},
		{"trust_ok", 0, []string{"lab", "trustdb", "-cstatement_timeout=5s", "psql"}},
		{"hba_no_entry", 0, []string{"lab", "secretdb", "psql", "::1"}},
		{"hba_reject", 0, []string{"lab", "rejectdb", "psql", "127.0.0.1"}},
		{"database_missing", 0, []string{"lab", "nosuchdb", "psql"}},
		{"scram_no_such_user", 0, []string{"ghost", "appdb", "psql"}},
		{"raw_protocol", 1, []string{"lab", "trustdb", "1"}},
		{"too_many_clients", 0, []string{"postgres", "trustdb", "psql"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := loadVector(t, tc.name)[tc.conv]
			ss := walkServer(t, c.server, startsWithRequest(c.client))
			cs := walkClient(t, c.client, answers(ss))
			var got []string
			seen := map[string]bool{}
			for _, s := range append(cs, ss...) {
				for _, id := range Identifiers(s.msg) {
					if !seen[id] {
						seen[id] = true
						got = append(got, id)
					}
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Texts this server version did not send but others do.
	for msg, want := range map[string][]string{
		`no pg_hba.conf entry for host "192.0.2.10", user "lab", database "secret", no encryption`: {"192.0.2.10", "lab", "secret"},
		`password authentication failed for user "lab"`:                                            {"lab"},
		`database "secret" does not exist`:                                                         {"secret"},
		`permission denied for database "sec`:                                                      {"sec"}, // cut by the snap length
		`sorry, too many clients already`:                                                          nil,
	} {
		got := Identifiers(Message{Kind: KindError, Error: &ErrorFields{Message: msg}})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q, want %q", msg, got, want)
		}
	}
}

func TestSQLStateInfo(t *testing.T) {
	ids := map[string]bool{}
	for _, s := range ConnectionSQLStates() {
		if len(s.Code) != 5 || s.Class != s.Code[:2] || s.ClassID == "" || classIDs[s.Class] != s.ClassID || s.ID == "" || ids[s.ID] {
			t.Errorf("bad table row %+v", s)
		}
		ids[s.ID] = true
	}
	for code, id := range map[string]string{"53300": "too_many_connections", "57P03": "cannot_connect_now", "28000": "invalid_authorization_specification",
		"28P01": "invalid_password", "3D000": "invalid_catalog_name", "08P01": "protocol_violation", "08004": "sqlserver_rejected_establishment_of_sqlconnection",
		"42501": "insufficient_privilege", "0A000": "feature_not_supported", "57P01": "admin_shutdown", "53200": "out_of_memory", "58000": "system_error", "XX000": "internal_error"} {
		if s, ok := SQLStateInfo(code); !ok || s.ID != id {
			t.Errorf("%s: %+v %v, want %s", code, s, ok, id)
		}
	}
	if s, ok := SQLStateInfo("53400"); ok || s.Class != "53" || s.ClassID != "insufficient_resources" {
		t.Errorf("unknown code of a known class: %+v %v", s, ok)
	}
	if s, ok := SQLStateInfo("5330"); ok || s != (SQLState{}) {
		t.Errorf("malformed code: %+v %v", s, ok)
	}
	// Every SQLSTATE PostgreSQL 15 sent in the recorded connects is known.
	for _, name := range vectorNames(t) {
		for _, c := range loadVector(t, name) {
			for _, s := range walkServer(t, c.server, startsWithRequest(c.client)) {
				if s.msg.Kind == KindError && !s.msg.V2Error {
					if _, ok := SQLStateInfo(s.msg.Error.Code); !ok {
						t.Errorf("%s: SQLSTATE %s not in the table", name, s.msg.Error.Code)
					}
				}
			}
		}
	}
}

func TestLooksLike(t *testing.T) {
	for _, name := range vectorNames(t) {
		for i, c := range loadVector(t, name) {
			if !LooksLikeClientStart(c.client) {
				t.Errorf("%s/%d: client start % x not recognised", name, i, c.client[:min(len(c.client), 16)])
			}
			if len(c.server) > 0 && !LooksLikeServerReply(c.server) {
				t.Errorf("%s/%d: server reply % x not recognised", name, i, c.server[:min(len(c.server), 16)])
			}
		}
	}
	mysqlGreeting := []byte("\x4a\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB\x00")
	tlsHello := []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
	for _, b := range [][]byte{
		mysqlGreeting,
		[]byte("\x52\x00\x00\x00\x0a8.0.36\x00"), // a MySQL greeting of length 'R'
		[]byte("\x45\x00\x00\x00\x0a8.0.36\x00"), // … of length 'E'
		[]byte("SSH-2.0-OpenSSH_9.2p1\r\n"),
		[]byte("HTTP/1.1 400 Bad Request\r\n"),
		[]byte("N\x00\x00\x00\x0a"),
		tlsHello,
		nil,
	} {
		if LooksLikeServerReply(b) {
			t.Errorf("server reply %q accepted", b)
		}
	}
	for _, b := range [][]byte{
		tlsHello,
		[]byte("GET / HTTP/1.1\r\n"),
		[]byte("\x00\x00\x00\x08\x04\xd2\x16\x30\x00"[:7]), // short
		[]byte("\x00\x00\x00\x09\x04\xd2\x16\x2f"),         // SSLRequest with a wrong length
		[]byte("\x00\x00\x00\x20\x00\x03\x00\x00\x01\x02"), // unprintable parameter name
		[]byte("\x00\x00\x30\x00\x00\x03\x00\x00user"),     // longer than MaxStartup
		[]byte("\x85\xa6\x03\x00\x00\x00\x00\x01\x21"),     // a MySQL HandshakeResponse payload
	} {
		if LooksLikeClientStart(b) {
			t.Errorf("client start % x accepted", b)
		}
	}
	if !LooksLikeServerReply([]byte("EFATAL:  unsupported frontend protocol 2.0")) || !LooksLikeServerReply([]byte("S\x16\x03\x03")) {
		t.Error("version-2 error or 'S' + TLS not recognised")
	}
}

// TestMalformed: bad input is an error wrapping ErrNotPostgres that says
// what is wrong, never ErrShort (which would make a caller wait forever).
func TestMalformed(t *testing.T) {
	typed := func(typ byte, body string) []byte {
		b := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
		return append(b, body...)
	}
	untyped := func(code uint32, body string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
		b = binary.BigEndian.AppendUint32(b, code)
		return append(b, body...)
	}
	server := []struct {
		name   string
		b      []byte
		answer bool
		want   string
	}{
		{"answer byte", []byte("X"), true, "answer byte 'X'"},
		{"auth length 4", typed('R', ""), false, "Authentication request shorter"},
		{"auth ok too long", typed('R', "\x00\x00\x00\x00\x00"), false, "AuthenticationOk of 9 bytes"},
		{"unknown auth", typed('R', "\x00\x00\x00\x63"), false, "unknown Authentication request type 99"},
		{"sasl list open", typed('R', "\x00\x00\x00\x0aSCRAM"), false, "mechanism list not terminated"},
		{"error without final NUL", typed('E', "SFATAL\x00C53300\x00"), false, "without its final NUL"},
		{"error field open", typed('E', "SFATAL\x00C5330"), false, "field 'C' not terminated"},
		{"error bytes after end", typed('E', "SFATAL\x00\x00xx"), false, "unexpected bytes"},
		{"key data length", typed('K', "\x00\x00\x00\x01"), false, "BackendKeyData of 8 bytes"},
		{"ready status", typed('Z', "X"), false, "ReadyForQuery status 'X'"},
		{"negotiate count", typed('v', "\x00\x00\x00\x00\xff\xff\xff\xff"), false, "lists 4294967295 options"},
		{"length under 4", []byte("Z\x00\x00\x00\x03I"), false, "announces 3 bytes"},
		{"huge status", []byte("S\x01\x00\x00\x00"), false, "announces 16777216 bytes"},
		{"v2 error unprintable", []byte("E\x01\x02\x03\x04\x05"), false, "unprintable"},
	}
	for _, tc := range server {
		t.Run("server/"+tc.name, func(t *testing.T) {
			_, _, err := NextServer(tc.b, tc.answer)
			if !errors.Is(err, ErrNotPostgres) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrNotPostgres saying %q", err, tc.want)
			}
		})
	}
	client := []struct {
		name    string
		b       []byte
		startup bool
		want    string
	}{
		{"startup too long", untyped(ProtocolV3, strings.Repeat("a", MaxStartup)), true, "announces 10008 bytes"},
		{"startup length 4", []byte("\x00\x00\x00\x04\x00\x03\x00\x00"), true, "announces 4 bytes"},
		{"ssl request length", untyped(CodeSSLRequest, "x"), true, "SSLRequest/GSSENCRequest of 9 bytes"},
		{"cancel length", untyped(CodeCancelRequest, "1234"), true, "CancelRequest of 12 bytes"},
		{"unknown code", untyped(1234<<16|9999, ""), true, "code 1234.9999"},
		{"param without value", untyped(ProtocolV3, "user\x00"), true, `parameter "user" has no terminated value`},
		{"no final NUL", untyped(ProtocolV3, "user\x00lab\x00"), true, "without its final NUL"},
		{"bytes after final NUL", untyped(ProtocolV3, "user\x00lab\x00\x00xx"), true, "after the StartupMessage's final NUL"},
		{"terminate length", typed('X', "x"), false, "Terminate announces 5 bytes"},
		{"password too long", []byte("p\x00\x10\x00\x01"), false, "announces 1048577 bytes"},
	}
	for _, tc := range client {
		t.Run("client/"+tc.name, func(t *testing.T) {
			_, _, err := NextClient(tc.b, tc.startup)
			if !errors.Is(err, ErrNotPostgres) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrNotPostgres saying %q", err, tc.want)
			}
		})
	}
}

// TestSynthetic covers messages the recorded server did not send.
func TestSynthetic(t *testing.T) {
	typed := func(typ byte, body string) []byte {
		b := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
		return append(b, body...)
	}
	notice := typed('N', "SWARNING\x00VWARNING\x00C01000\x00Mhello\x00Ddetail\x00Hhint\x00s\x00P7\x00\x00")
	m, n, err := NextServer(notice, false)
	if err != nil || n != len(notice) || m.Kind != KindNotice || m.Error.Hint != "hint" || m.Error.Detail != "detail" || m.Error.Other['P'] != "7" {
		t.Errorf("notice: %v %+v %+v", err, m, m.Error)
	}
	// An old server answering SSLRequest with a version-2 error.
	v2 := []byte("EFATAL:  unsupported frontend protocol 1234.5679: server supports 1.0 to 2.0\n\x00")
	m, n, err = NextServer(v2, true)
	if err != nil || n != len(v2) || !m.V2Error || m.Error.Severity != "FATAL" || !strings.HasPrefix(m.Error.Message, "unsupported frontend protocol 1234.5679") {
		t.Errorf("v2 answer: %v %d %+v %+v", err, n, m, m.Error)
	}
	for _, k := range []int{1, 2, 3, 4, 5, 40} {
		if _, _, err := NextServer(v2[:k], true); err != ErrShort {
			t.Errorf("v2 answer cut at %d: %v", k, err)
		}
	}
	// GSS and SSPI requests, SASL with two mechanisms.
	for body, want := range map[string]string{
		"\x00\x00\x00\x07":                 "AuthGSS",
		"\x00\x00\x00\x09":                 "AuthSSPI",
		"\x00\x00\x00\x08\x60\x82\x01\x00": "AuthGSSContinue",
		"\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00": "AuthSASL SCRAM-SHA-256-PLUS,SCRAM-SHA-256",
	} {
		m, _, err := NextServer(typed('R', body), false)
		if err != nil || summary(m) != want {
			t.Errorf("%q: %v %s, want %s", body, err, summary(m), want)
		}
	}
	// A password parameter in a StartupMessage is dropped.
	st := binary.BigEndian.AppendUint32(nil, 0)
	st = binary.BigEndian.AppendUint32(st, ProtocolV3)
	st = append(st, "user\x00lab\x00PASSWORD\x00hunter22\x00replication\x00database\x00\x00"...)
	binary.BigEndian.PutUint32(st, uint32(len(st)))
	m, _, err = NextClient(st, true)
	if err != nil || len(m.Params) != 2 || m.Param("replication") != "database" || strings.Contains(fmt.Sprintf("%+v", m), "hunter22") {
		t.Errorf("startup with password: %v %+v", err, m)
	}
	// A SASLInitialResponse without initial data, and a PasswordMessage that
	// merely contains a NUL.
	m, _, err = NextClient(typed('p', "SCRAM-SHA-256\x00\xff\xff\xff\xff"), false)
	if err != nil || m.Kind != KindSASLInitialResponse || m.Mechanism != "SCRAM-SHA-256" {
		t.Errorf("SASLInitialResponse without data: %v %+v", err, m)
	}
	m, _, err = NextClient(typed('p', "secret\x00"), false)
	if err != nil || m.Kind != KindPassword || m.Mechanism != "" {
		t.Errorf("password: %v %+v", err, m)
	}
	// Text from the peer is made printable.
	m, _, err = NextServer(typed('S', "application_name\x00a\x1b[31mb\xff\x00"), false)
	if err != nil || m.Value != "a\uFFFD[31mb\uFFFD" {
		t.Errorf("ParameterStatus: %v %q", err, m.Value)
	}
}

// addVectorSeeds adds every recorded stream, client or server side, whole
// and message by message.
func addVectorSeeds(f *testing.F, client bool) {
	for _, name := range vectorNames(f) {
		for _, c := range loadVector(f, name) {
			b := c.server
			if client {
				b = c.client
			}
			f.Add(b, true)
			f.Add(b, false)
			for len(b) > 0 {
				f.Add(b, false)
				if len(b) > 16 {
					f.Add(b[:len(b)/2], false)
				}
				var n int
				var err error
				if client {
					_, n, err = NextClient(b, false)
				} else {
					_, n, err = NextServer(b, false)
				}
				if err != nil {
					break
				}
				b = b[n:]
			}
		}
	}
}

// checkDecoded holds for any decoding: n within the input, a complete
// message is ErrShort when cut by one byte, the truncated decoder agrees on
// the whole message, text fields are bounded.
func checkDecoded(t *testing.T, b []byte, mode bool, m Message, n int, err error,
	next func([]byte, bool) (Message, int, error), truncated func([]byte, bool) (Message, error)) {
	switch {
	case err == ErrShort:
		if n != 0 || !reflect.DeepEqual(m, Message{}) {
			t.Fatalf("ErrShort with n=%d %+v", n, m)
		}
		return
	case errors.Is(err, ErrNotPostgres):
		if n < 0 || n > len(b) {
			t.Fatalf("%v with n=%d of %d bytes", err, n, len(b))
		}
		return
	case err != nil:
		t.Fatalf("error %v is neither ErrShort nor ErrNotPostgres", err)
	}
	if n <= 0 || n > len(b) || m.Truncated {
		t.Fatalf("n=%d of %d bytes, %+v", n, len(b), m)
	}
	if _, _, err := next(b[:n-1], mode); err != ErrShort && n > 1 {
		t.Fatalf("message of %d bytes: cut by one gives %v, want ErrShort", n, err)
	}
	tm, terr := truncated(b[:n], mode)
	if terr != nil || !reflect.DeepEqual(tm, m) {
		t.Fatalf("truncated decoder on the whole message: %v %+v, Next: %+v", terr, tm, m)
	}
	for _, s := range append(append([]string{m.Name, m.Value, m.Mechanism}, m.Mechanisms...), Identifiers(m)...) {
		if len(s) > 3*maxText {
			t.Fatalf("string of %d bytes kept", len(s))
		}
	}
}

// FuzzServer feeds arbitrary bytes to the server-side decoders.
func FuzzServer(f *testing.F) {
	addVectorSeeds(f, false)
	f.Add([]byte("EFATAL:  unsupported frontend protocol 1234.5679\n\x00"), true)
	f.Add([]byte("SSH-2.0-OpenSSH_9.2p1\r\n"), false)
	f.Fuzz(func(t *testing.T, b []byte, answer bool) {
		m, n, err := NextServer(b, answer)
		checkDecoded(t, b, answer, m, n, err, NextServer, ServerTruncated)
		tm, terr := ServerTruncated(b, answer)
		if terr == nil {
			Identifiers(tm)
			_ = tm.String()
		}
		LooksLikeServerReply(b)
	})
}

// FuzzClient feeds arbitrary bytes to the client-side decoders; what a
// password-family message carries must never come out.
func FuzzClient(f *testing.F) {
	addVectorSeeds(f, true)
	f.Add([]byte("p\x00\x00\x00\x0bsecret\x00"), false)
	f.Fuzz(func(t *testing.T, b []byte, startup bool) {
		m, n, err := NextClient(b, startup)
		checkDecoded(t, b, startup, m, n, err, NextClient, ClientTruncated)
		tm, terr := ClientTruncated(b, startup)
		for _, d := range []struct {
			m   Message
			err error
		}{{m, err}, {tm, terr}} {
			if d.err != nil || (d.m.Kind != KindPassword && d.m.Kind != KindSASLInitialResponse) {
				continue
			}
			// Nothing but framing (and the mechanism name) is kept.
			rest := d.m
			rest.Kind, rest.Type, rest.Length, rest.Truncated, rest.Mechanism = 0, 0, 0, false, ""
			if !reflect.DeepEqual(rest, Message{}) {
				t.Fatalf("password-family message kept %+v", d.m)
			}
		}
		LooksLikeClientStart(b)
		if terr == nil {
			Identifiers(tm)
		}
	})
}
