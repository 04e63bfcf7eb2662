package postgres

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze/proto"
)

// Info is what was seen of the PostgreSQL connection phase (the report's
// "postgres" object). Passwords, SASL exchanges and salts are never kept.
type Info struct {
	User            string `json:"user,omitempty"`
	Database        string `json:"database,omitempty"`
	ApplicationName string `json:"application_name,omitempty"`
	// Protocol is the StartupMessage's protocol version ("3.0").
	Protocol string `json:"protocol,omitempty"`
	// SSLRequested: the client sent an SSLRequest; SSLAnswer is the
	// server's one-byte answer ("S": TLS follows, "N": no TLS).
	SSLRequested    bool   `json:"ssl_requested,omitempty"`
	GSSENCRequested bool   `json:"gssenc_requested,omitempty"`
	SSLAnswer       string `json:"ssl_answer,omitempty"`
	// Encrypted is set when TLS was established: the rest is not visible.
	Encrypted bool `json:"encrypted,omitempty"`
	// AuthMethod is what the server asked for: trust (AuthenticationOk
	// at once), cleartext, md5, scram-sha-256 (SASL), gss, sspi, kerberos.
	AuthMethod    string `json:"auth_method,omitempty"`
	ServerVersion string `json:"server_version,omitempty"`
	// The ErrorResponse that ended the connection phase.
	Severity        string `json:"severity,omitempty"`
	SQLState        string `json:"sqlstate,omitempty"`
	ErrorMessage    string `json:"error_message,omitempty"`
	ErrorMessageCut bool   `json:"error_message_cut,omitempty"`

	// Identifiers are the names the messages carry (Identifiers: user,
	// database, application_name, the quoted names in an error), for a
	// redactor; never written out.
	Identifiers []string `json:"-"`
}

// learn keeps m's identifying strings for a redactor.
func (i *Info) learn(m *Message) {
	for _, id := range Identifiers(*m) {
		if !slices.Contains(i.Identifiers, id) {
			i.Identifiers = append(i.Identifiers, id)
		}
	}
}

// The reasons of the PostgreSQL connection phase (ids are stable).
const (
	ReasonLoginOK           = "pg.login_ok"
	ReasonCancelRequest     = "pg.cancel_request"
	ReasonTooManyClients    = "pg.too_many_clients"
	ReasonCannotConnectNow  = "pg.cannot_connect_now"
	ReasonHBARejected       = "pg.hba_rejected"
	ReasonPasswordFailed    = "pg.password_failed"
	ReasonDatabaseMissing   = "pg.database_missing"
	ReasonProtocolViolation = "pg.protocol_violation"
	ReasonErrorAtStartup    = "pg.error_at_startup"
	ReasonSSLRefused        = "pg.ssl_refused"
	ReasonNoPassword        = "pg.no_password"
	ReasonServerClosed      = "pg.server_closed_in_startup"
	ReasonStartupUnanswered = "pg.startup_unanswered"
	ReasonClosedAfterAuthOK = "pg.closed_after_auth_ok"
	ReasonClosedAfterSSL    = "pg.client_closed_after_ssl_answer"

	reasonCaptureEnded = "capture.ended"
)

// Protocol registers PostgreSQL with the engine.
var Protocol = proto.Protocol{
	Name:        "PostgreSQL",
	Words:       words,
	AppendWords: appendWords,
	Key:         "postgres",
	Scrub:       &scrub,
	Ports:       []uint16{5432},
	Clients:     []string{"psql", "pg_dump", "pg_restore", "pg_isready", "pgbench", "postgres"},
	SocketWords: []string{".s.pgsql.", "postgresql"},
	Servers:     []string{"postgres", "postmaster"},
	NoTCP: func(who string) string {
		return "listen_addresses is empty (postgresql.conf, or -c listen_addresses on " + who + "'s command line). Set it (e.g. '*') and restart to accept TCP, or connect over the unix socket."
	},
	Reasons: []proto.ReasonDef{
		{ID: ReasonLoginOK, Outcome: "ok", Meaning: "the server sent ReadyForQuery after AuthenticationOk: logged in"},
		{ID: ReasonCancelRequest, Outcome: "ok", Meaning: "the client sent a CancelRequest (it cancels a query of another connection; no login)"},
		{ID: ReasonClosedAfterAuthOK, Outcome: "ok", Meaning: "the server sent AuthenticationOk and the connection closed before ReadyForQuery without an error"},
		{ID: ReasonTooManyClients, Outcome: "rejected", Meaning: "the server refused the connection with SQLSTATE 53300 too_many_connections (max_connections, superuser_reserved_connections, a CONNECTION LIMIT)"},
		{ID: ReasonCannotConnectNow, Outcome: "rejected", Meaning: "the server refused the connection with SQLSTATE 57P03 cannot_connect_now (starting up, shutting down, in recovery)"},
		{ID: ReasonHBARejected, Outcome: "rejected", Meaning: "the server refused the connection with SQLSTATE 28000: no pg_hba.conf entry, or a reject line"},
		{ID: ReasonPasswordFailed, Outcome: "auth_failed", Meaning: "the server answered the password with SQLSTATE 28P01 invalid_password"},
		{ID: ReasonDatabaseMissing, Outcome: "auth_failed", Meaning: "the server answered with SQLSTATE 3D000: the database asked for does not exist"},
		{ID: ReasonProtocolViolation, Outcome: "wrong_protocol", Meaning: "the server answered with SQLSTATE 08P01 protocol_violation: it could not read what the client sent"},
		{ID: ReasonErrorAtStartup, Outcome: "rejected", Meaning: "the server answered the connection phase with another ErrorResponse (facts and the postgres object give its SQLSTATE)"},
		{ID: ReasonSSLRefused, Outcome: "tls_failed", Meaning: "the server answered the SSLRequest with 'N' (no TLS) and the client closed without a StartupMessage (it requires TLS: sslmode=require); not for a program known only to check the server's answer (connscope probe, telnet, nc)"},
		{ID: ReasonClosedAfterSSL, Outcome: "ok", Meaning: "the server answered the SSLRequest and the client, a program known only to check that answer (connscope probe, nc, a health check), closed without a StartupMessage"},
		{ID: ReasonNoPassword, Outcome: "auth_failed", Meaning: "the server asked for a password and the client closed without sending one"},
		{ID: ReasonServerClosed, Outcome: "rejected", Meaning: "the server closed the connection during the startup without an ErrorResponse"},
		{ID: ReasonStartupUnanswered, Outcome: "timeout", Meaning: "the server stopped answering during the startup (SSLRequest, StartupMessage or password) before the client gave up (or for the idle timeout)"},
	},
	SniffClient: sniffClient,
	New:         newSession,
	Causes: func(reason string, info proto.Info, client proto.Client) []string {
		i, _ := info.(*Info)
		return causes(reason, i, client)
	},
	Evidence: func(reason string, info proto.Info, f *proto.Finding) []string {
		i, _ := info.(*Info)
		return evidence(reason, i, f)
	},
	NoteWords:     func(proto.Note) string { return "" },
	ConnCauses:    connCauses,
	PatternCauses: patternCauses,
	AfterTimeout:  afterTimeout,
}

// connCauses is PostgreSQL's advice on connection-level reasons (engine
// reason ids) for an attempt meant for a PostgreSQL server.
func connCauses(reason string, t proto.Target) []string {
	switch reason {
	case "tcp.rst_from_server", "kernel.rst_received", "kernel.econnrefused", "kernel.econnreset":
		return []string{"PostgreSQL: check that the server runs (pg_ctl status, systemctl status postgresql), listen_addresses (localhost only by default) and port in postgresql.conf (a change of either needs a restart)."}
	case "tcp.syn_unanswered", "kernel.etimedout":
		c := []string{"PostgreSQL clients: libpq waits for connect_timeout (seconds, per address; none by default, so the kernel's SYN retries decide): set it in the connection string or PGCONNECT_TIMEOUT."}
		if t.Comm == "php" || t.Comm == "php-fpm" || t.Comm == "php-cgi" {
			c = append(c, "PHP pdo_pgsql: connect_timeout=3 in the DSN is overridden by PDO::ATTR_TIMEOUT (default 30 s), so a dropped SYN costs 30 s and 9 SYNs (verified with PHP 8.2); set PDO::ATTR_TIMEOUT.")
		}
		return c
	case "kernel.enoent", "kernel.econnrefused_unix", "kernel.unix_other_errno":
		return []string{"PostgreSQL: the server creates its socket .s.PGSQL.<port> in unix_socket_directories (postgresql.conf; /var/run/postgresql on Debian, /tmp upstream); the client looks in its compiled-in directory unless host= names the directory (or PGHOST)."}
	}
	return nil
}

// afterTimeout is what a known PostgreSQL client was verified to do after
// an address timed out with more addresses left.
func afterTimeout(comm string) string {
	if comm == "psql" {
		return "psql tries the next address after a timeout (verified); here no attempt to the next address was seen."
	}
	return ""
}

// sniffClient recognises a client's first message.
func sniffClient(b []byte) proto.Sniff {
	if len(b) < 8 {
		return proto.Wait
	}
	if LooksLikeClientStart(b) {
		return proto.Yes
	}
	return proto.No
}

// phase is the position in the connection phase.
type phase uint8

const (
	pgStart      phase = iota // waiting for the client's first message
	pgAnswer                  // SSLRequest/GSSENCRequest sent: waiting for the one-byte answer
	pgStartupDue              // 'N' answered: the client's StartupMessage is due
	pgStartup                 // StartupMessage sent: waiting for an Authentication request
	pgAuth                    // the server asked for a password (or SASL): waiting
	pgAuthOK                  // AuthenticationOk: waiting for ReadyForQuery
)

type session struct {
	c     proto.Conn
	ph    phase
	off   bool
	info  *Info
	asked bool // the server asked for credentials (not trust)
	resp  bool // the client answered the last Authentication request
}

func newSession(c proto.Conn, _ proto.Sniff, _ any) proto.Session {
	return &session{c: c, info: &Info{}}
}

func (s *session) Info(encrypted bool) proto.Info {
	s.info.Encrypted = encrypted
	return s.info
}

// Facts: the ErrorResponse's SQLSTATE ("sqlstate").
func (i *Info) Facts() []proto.Fact {
	if i.SQLState == "" {
		return nil
	}
	return []proto.Fact{{Key: "sqlstate", Value: i.SQLState}}
}

// Names: the StartupMessage's user and database, the names the server's
// messages quoted (as users: a user or a database the StartupMessage did
// not show; addresses are left to the report's address pass), and the
// application_name.
func (i *Info) Names() []proto.Name {
	var out []proto.Name
	if i.User != "" {
		out = append(out, proto.Name{Kind: proto.User, Value: i.User})
	}
	if i.Database != "" {
		out = append(out, proto.Name{Kind: proto.Database, Value: i.Database})
	}
	for _, id := range i.Identifiers {
		if _, err := netip.ParseAddr(id); err != nil && id != i.Database && id != i.ApplicationName {
			out = append(out, proto.Name{Kind: proto.User, Value: id})
		}
	}
	if i.ApplicationName != "" {
		out = append(out, proto.Name{Kind: proto.Application, Value: i.ApplicationName})
	}
	return out
}

// Pseudonymize replaces the StartupMessage's names, which stand alone,
// unquoted.
func (i *Info) Pseudonymize(orig proto.Info, pseudo func(proto.Name) string) {
	o, ok := orig.(*Info)
	if !ok {
		return
	}
	i.User = pseudo(proto.Name{Kind: proto.User, Value: o.User})
	i.Database = pseudo(proto.Name{Kind: proto.Database, Value: o.Database})
	i.ApplicationName = pseudo(proto.Name{Kind: proto.Application, Value: o.ApplicationName})
}

// Summary: none (the table shows no PostgreSQL column; the timeline and
// the JSON object hold the facts).
func (i *Info) Summary() string { return "" }

func (s *session) AwaitingFirst() bool { return false }

func (s *session) abandon(t time.Time, dir proto.Dir, err error) {
	s.c.Event(t, "not_decoded", dir, proto.Attrs{Note: NoteNotPostgres, Msg: s.c.Msg(proto.Msg{Message: err.Error()})})
	s.off = true
	s.c.Abandon()
}

// Client decodes the client's messages.
func (s *session) Client(t time.Time) {
	c, cl := s.c, s.c.Client()
	for !c.Final() && !s.off && !cl.Dead() && len(cl.Bytes()) > 0 {
		startup := s.ph == pgStart || s.ph == pgStartupDue
		m, n, err := NextClient(cl.Bytes(), startup)
		if errors.Is(err, ErrShort) {
			if !cl.Partial() {
				return
			}
			m, err = ClientTruncated(cl.Bytes(), startup)
			n = len(cl.Bytes())
			if err != nil {
				return
			}
		} else if err != nil {
			if n > 0 {
				cl.Consume(n)
				continue
			}
			s.abandon(t, proto.C2S, err)
			return
		}
		cl.Consume(n)
		switch m.Kind {
		case KindSSLRequest:
			s.info.SSLRequested = true
			s.ph = pgAnswer
			c.Event(t, "ssl_request", proto.C2S, proto.Attrs{Note: NoteSSL})
		case KindGSSENCRequest:
			s.info.GSSENCRequested = true
			s.ph = pgAnswer
			c.Event(t, "ssl_request", proto.C2S, proto.Attrs{Note: NoteGSSENC})
		case KindCancelRequest:
			c.Event(t, "command", proto.C2S, proto.Attrs{Msg: c.Msg(proto.Msg{Command: "CancelRequest", ID: uint64(m.ProcessID)})})
			c.Decide(ReasonCancelRequest, t, proto.Finding{Step: stepOf(s.ph), Command: "CancelRequest"})
			return
		case KindStartup:
			s.info.User = m.Param("user")
			s.info.Database = m.Param("database")
			s.info.ApplicationName = m.Param("application_name")
			s.info.Protocol = fmt.Sprintf("%d.%d", m.ProtocolMajor, m.ProtocolMinor)
			s.info.learn(&m)
			s.ph = pgStartup
			c.Event(t, "login", proto.C2S, proto.Attrs{Msg: c.Msg(proto.Msg{Protocol: s.info.Protocol, User: s.info.User, Database: s.info.Database, Cut: m.Truncated})})
		case KindPassword, KindSASLInitialResponse:
			if !s.resp {
				s.resp = true
				c.Event(t, "login", proto.C2S, proto.Attrs{Note: NoteAuthResponse})
			}
		case KindTerminate:
			c.Event(t, "command", proto.C2S, proto.Attrs{Msg: c.Msg(proto.Msg{Command: "Terminate"})})
		}
	}
}

// authMethod names an Authentication request as pg_hba.conf does.
func authMethod(m *Message) string {
	switch m.Auth {
	case AuthCleartextPassword:
		return "cleartext"
	case AuthMD5Password:
		return "md5"
	case AuthSASL:
		if slices.Contains(m.Mechanisms, "SCRAM-SHA-256") {
			return "scram-sha-256"
		}
		return "sasl " + strings.Join(m.Mechanisms, ",")
	case AuthGSS:
		return "gss"
	case AuthSSPI:
		return "sspi"
	case AuthKerberosV5:
		return "kerberos"
	}
	return strings.ToLower(m.Auth.String())
}

// Server decodes the server's messages.
func (s *session) Server(t time.Time, final bool) {
	c, srv := s.c, s.c.Server()
	for !c.Final() && !s.off && !srv.Dead() && len(srv.Bytes()) > 0 {
		answer := s.ph == pgAnswer
		m, n, err := NextServer(srv.Bytes(), answer)
		if errors.Is(err, ErrShort) {
			if !final && !srv.Partial() {
				return
			}
			m, err = ServerTruncated(srv.Bytes(), answer)
			n = len(srv.Bytes())
			if err != nil {
				return
			}
		} else if err != nil {
			if n > 0 {
				srv.Consume(n)
				continue
			}
			s.abandon(t, proto.S2C, err)
			return
		}
		srv.Consume(n)
		s.serverMessage(&m, t)
	}
}

func (s *session) serverMessage(m *Message, t time.Time) {
	c := s.c
	switch m.Kind {
	case KindAnswer:
		s.info.SSLAnswer = string(m.Answer)
		switch m.Answer {
		case 'S':
			c.Event(t, "ssl_answer", proto.S2C, proto.Attrs{Note: NoteTLSAccepted})
			s.off = true
			c.StartTLS(t)
		case 'N':
			s.ph = pgStartupDue
			c.Event(t, "ssl_answer", proto.S2C, proto.Attrs{Note: NoteNoEncryption})
		default:
			c.Event(t, "ssl_answer", proto.S2C, proto.Attrs{Note: NoteGSSEncryption})
			s.off = true
			c.Abandon()
		}
	case KindAuth:
		if m.Auth == AuthOk {
			if !s.asked {
				s.info.AuthMethod = "trust"
			}
			s.ph = pgAuthOK
			c.Event(t, "auth_ok", proto.S2C, proto.Attrs{})
			return
		}
		if m.Auth == AuthSASLContinue || m.Auth == AuthSASLFinal || m.Auth == AuthGSSContinue {
			s.resp = false
			return
		}
		s.asked, s.resp = true, false
		s.info.AuthMethod = authMethod(m)
		s.ph = pgAuth
		c.Event(t, "auth_request", proto.S2C, proto.Attrs{Msg: c.Msg(proto.Msg{Auth: s.info.AuthMethod})})
	case KindError:
		s.serverError(m, t)
	case KindParameterStatus:
		if m.Name == "server_version" {
			s.info.ServerVersion = m.Value
		}
	case KindReadyForQuery:
		at := proto.Attrs{}
		if s.info.ServerVersion != "" {
			at.Msg = c.Msg(proto.Msg{Version: s.info.ServerVersion})
		}
		c.Event(t, "login_ok", proto.S2C, at)
		c.Decide(ReasonLoginOK, t, proto.Finding{Step: stepOf(s.ph), Since: t.Sub(c.Start())})
	case KindNegotiateProtocolVersion:
		c.Event(t, "server_data", proto.S2C, proto.Attrs{Note: NoteNegotiateVersion, Msg: c.Msg(proto.Msg{Protocol: "3." + strconv.Itoa(int(m.NewestMinor()))})})
	}
}

// sqlstateReasons maps the SQLSTATEs that explain a refused connect.
var sqlstateReasons = map[string]string{
	"53300": ReasonTooManyClients,
	"57P03": ReasonCannotConnectNow,
	"28000": ReasonHBARejected,
	"28P01": ReasonPasswordFailed,
	"3D000": ReasonDatabaseMissing,
	"08P01": ReasonProtocolViolation,
}

func (s *session) serverError(m *Message, t time.Time) {
	c, e := s.c, m.Error
	if e == nil {
		e = &ErrorFields{}
	}
	sev := e.SeverityV
	if sev == "" {
		sev = e.Severity
	}
	s.info.Severity, s.info.SQLState, s.info.ErrorMessage, s.info.ErrorMessageCut = sev, e.Code, e.Message, m.Truncated
	s.info.learn(m)
	c.Event(t, "pg_error", proto.S2C, proto.Attrs{Msg: c.Msg(proto.Msg{Severity: sev, SQLState: e.Code, Message: e.Message, Cut: m.Truncated})})
	r, ok := sqlstateReasons[e.Code]
	if !ok {
		r = ReasonErrorAtStartup
	}
	c.Decide(r, t, proto.Finding{Step: stepOf(s.ph)})
}

func (s *session) ClientClosed(t time.Time, how string) bool {
	if s.off {
		return false
	}
	c := s.c
	switch s.ph {
	case pgStartupDue:
		if s.info.SSLRequested {
			c.Event(t, closeKind(how), proto.C2S, proto.Attrs{Note: NoteAfterN})
			if comm := c.Comm(); proto.ChecksOnly(comm) {
				c.Decide(ReasonClosedAfterSSL, t, proto.Finding{Step: StepStartupDue, ClosedBy: "client", Close: how, Since: t.Sub(c.FirstServerData()), Checker: comm})
				return true
			}
			c.Decide(ReasonSSLRefused, t, proto.Finding{Step: StepStartupDue, ClosedBy: "client", Close: how, Since: t.Sub(c.FirstServerData())})
			return true
		}
	case pgAuth:
		if !s.resp {
			c.Event(t, closeKind(how), proto.C2S, proto.Attrs{Note: NoteAuthUnanswered})
			c.Decide(ReasonNoPassword, t, proto.Finding{Step: StepAuth, ClosedBy: "client", Close: how})
			return true
		}
		c.Event(t, closeKind(how), proto.C2S, proto.Attrs{Note: NoteAwaitingAuthResult})
		c.Decide(ReasonStartupUnanswered, t, proto.Finding{Step: StepAuth, ClosedBy: "client", Close: how})
		return true
	case pgAnswer, pgStartup:
		c.Event(t, closeKind(how), proto.C2S, proto.Attrs{Note: NoteAwaitingServer})
		c.Decide(ReasonStartupUnanswered, t, proto.Finding{Step: stepOf(s.ph), ClosedBy: "client", Close: how})
		return true
	case pgAuthOK:
		c.Event(t, closeKind(how), proto.C2S, proto.Attrs{Note: NoteAfterAuthOK})
		c.Decide(ReasonClosedAfterAuthOK, t, proto.Finding{Step: StepAuthOK, ClosedBy: "client", Close: how})
		return true
	}
	return false
}

func (s *session) ServerClosed(t time.Time, how string) bool {
	if s.off {
		return false
	}
	c := s.c
	if h, _ := c.ClientClosed(); h != "" {
		return false
	}
	switch s.ph {
	case pgAnswer, pgStartup, pgAuth:
		c.Event(t, closeKind(how), proto.S2C, proto.Attrs{Note: NoteDuringStartup})
		c.Decide(ReasonServerClosed, t, proto.Finding{Step: stepOf(s.ph), ClosedBy: "server", Close: how})
		return true
	case pgAuthOK:
		c.Event(t, closeKind(how), proto.S2C, proto.Attrs{Note: NoteAfterAuthOK})
		c.Decide(ReasonClosedAfterAuthOK, t, proto.Finding{Step: StepAuthOK, ClosedBy: "server", Close: how})
		return true
	}
	return false
}

func (s *session) Idle(now time.Time, closing bool) bool {
	if s.off || s.c.FirstServerData().IsZero() && s.ph != pgStartup && s.ph != pgAnswer {
		return false
	}
	if h, _ := s.c.ClientClosed(); h != "" {
		return false
	}
	switch s.ph {
	case pgAnswer, pgStartup, pgAuth, pgAuthOK:
		if closing {
			s.c.Decide(reasonCaptureEnded, now, proto.Finding{Step: stepOf(s.ph)})
			return true
		}
		s.c.Decide(ReasonStartupUnanswered, now, proto.Finding{Step: stepOf(s.ph), Since: now.Sub(s.c.LastActivity())})
		return true
	}
	return false
}

// closeKind is the timeline kind of a close.
func closeKind(how string) string {
	if how == "RST" {
		return "rst"
	}
	return "fin"
}

// causes explains the PostgreSQL verdicts, naming the server's settings
// (info: the session's facts, nil if none).
func causes(reason string, info *Info, client proto.Client) []string {
	switch reason {
	case ReasonTooManyClients:
		return []string{"The server is at max_connections (superuser_reserved_connections of them, and reserved_connections, are kept for privileged roles), or the role or database hit its CONNECTION LIMIT: check SELECT count(*) FROM pg_stat_activity; raise max_connections (a restart), or put a pooler (PgBouncer) in front and find the client that hoards connections."}
	case ReasonCannotConnectNow:
		return []string{"The server is starting up, shutting down, in crash recovery, or a standby with hot_standby=off: wait for it, check its log (pg_ctl status), or connect to the primary."}
	case ReasonHBARejected:
		return []string{fmt.Sprintf("pg_hba.conf has no line matching this connection (host %s, the user, the database, with or without TLS: host vs hostssl/hostnossl), or a reject line matches first: add the right line and reload (SELECT pg_reload_conf()). The server's log names the line.", client.Addr())}
	case ReasonPasswordFailed:
		return []string{"Wrong password for the role (PostgreSQL says the same for a role that does not exist), an expired VALID UNTIL, or a password stored for another method than pg_hba.conf asks (password_encryption md5 vs scram-sha-256): check the credentials (PGPASSWORD, ~/.pgpass); the server's log names the role and the pg_hba.conf line."}
	case ReasonDatabaseMissing:
		return []string{"The database the client asked for does not exist (libpq defaults dbname to the user name): create it, or fix the connection string."}
	case ReasonProtocolViolation:
		return []string{"The server could not read what the client sent: a client speaking another protocol (or protocol version) to a PostgreSQL port, a SASL mechanism the server does not offer, or a proxy that mangles the startup."}
	case ReasonErrorAtStartup:
		return []string{fmt.Sprintf("The server refused the connection with SQLSTATE %s: see its message and the server's log.", sqlstate(info))}
	case ReasonSSLRefused:
		return []string{"The client requires TLS (sslmode=require or stricter) but the server answered the SSLRequest with 'N': set ssl=on with ssl_cert_file and ssl_key_file on the server (and hostssl lines in pg_hba.conf), or lower the client's sslmode."}
	case ReasonNoPassword:
		return []string{"The server asked for a password (pg_hba.conf method scram-sha-256, md5 or password) and the client had none: set PGPASSWORD or ~/.pgpass, or give this client a trust, peer or cert line in pg_hba.conf."}
	case ReasonServerClosed:
		return []string{"The server closed the connection during the startup without an error: check its log (a crash, authentication_timeout, a pooler or proxy in front that lost its backend)."}
	case ReasonStartupUnanswered:
		return []string{"The server accepted the TCP connection but stopped answering during the startup: a hung or overloaded server, a slow authentication (LDAP, RADIUS, PAM; authentication_timeout), or a proxy whose backend is down. Check the server's log and pg_stat_activity."}
	case "tls.alert", "tls.not_tls", "tls.closed_in_handshake", "tls.stalled":
		return []string{"The TLS handshake failed: the server's certificate is not trusted or does not match the host name (sslmode=verify-ca/verify-full, sslrootcert), no common TLS version (ssl_min_protocol_version) or cipher (ssl_ciphers), or pg_hba.conf requires a client certificate (clientcert). The server's log and the client's message name the side that refused."}
	}
	return nil
}

// patternCauses: PostgreSQL's settings behind incident patterns of a
// PostgreSQL server.
func patternCauses(pattern string) []string {
	switch pattern {
	case "accept_backlog":
		return []string{"PostgreSQL: the postmaster's listen backlog is fixed (2 × max_connections, capped by net.core.somaxconn); a slow postmaster (fork cost, a loaded host) leaves connections queued."}
	case "too_many_connections":
		return []string{"PostgreSQL: max_connections minus superuser_reserved_connections (and reserved_connections) was reached, or a role's or database's CONNECTION LIMIT; see pg_stat_activity."}
	}
	return nil
}

// sqlstate is the ErrorResponse's SQLSTATE in info ("" if none).
func sqlstate(info *Info) string {
	if info == nil {
		return ""
	}
	return info.SQLState
}
