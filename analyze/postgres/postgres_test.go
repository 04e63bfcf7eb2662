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
