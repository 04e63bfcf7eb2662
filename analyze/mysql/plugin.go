package mysql

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze/proto"
)

// Info is what was seen of the MySQL/MariaDB connection phase (the
// report's "mysql" object). Auth scrambles and passwords are never kept.
type Info struct {
	Protocol      uint8  `json:"protocol,omitempty"`
	ServerVersion string `json:"server_version,omitempty"`
	ConnectionID  uint32 `json:"connection_id,omitempty"`
	AuthPlugin    string `json:"auth_plugin,omitempty"`
	TLSOffered    *bool  `json:"tls_offered,omitempty"`
	TLSRequested  bool   `json:"tls_requested,omitempty"`
	// Encrypted is set when TLS was established: the login result is not visible.
	Encrypted    bool   `json:"encrypted,omitempty"`
	User         string `json:"user,omitempty"`
	ErrorCode    uint16 `json:"error_code,omitempty"`
	SQLState     string `json:"sqlstate,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`

	// ErrorMessageCut: the capture's snap length cut the ERR packet, so
	// ErrorMessage is only its beginning (the code and SQLSTATE are whole).
	ErrorMessageCut bool `json:"error_message_cut,omitempty"`
}

// The reasons of the MySQL connection phase (ids are stable).
const (
	ReasonLoginOK              = "mysql.login_ok"
	ReasonCommandAfterLogin    = "mysql.command_after_login"
	ReasonGreetingNoLogin      = "mysql.greeting_no_login"
	ReasonClosedAfterGreeting  = "mysql.client_closed_after_greeting"
	ReasonGreetingLate         = "mysql.greeting_late"
	ReasonErrLate              = "mysql.err_late"
	ReasonErrAtGreeting        = "mysql.err_at_greeting"
	ReasonErrAtGreetingCut     = "mysql.err_at_greeting_cut"
	ReasonErrBeforeLogin       = "mysql.err_before_login"
	ReasonErrAfterLogin        = "mysql.err_after_login"
	ReasonAccessDenied         = "mysql.access_denied"
	ReasonErrCut               = "mysql.err_cut"
	ReasonLoginUnanswered      = "mysql.login_unanswered"
	ReasonServerClosedGreeting = "mysql.server_closed_after_greeting"
	ReasonServerClosedLogin    = "mysql.server_closed_after_login"
	ReasonNotMySQLBanner       = "app.not_mysql_banner"
	ReasonTLSNotOffered        = "tls.not_offered"

	// Engine reasons the MySQL session decides with.
	reasonCaptureEnded = "capture.ended"
	reasonSnaplenCut   = "capture.snaplen_cut"
)

// Protocol registers MySQL/MariaDB with the engine.
var Protocol = proto.Protocol{
	Name:        "MySQL",
	Words:       words,
	AppendWords: appendWords,
	Key:         "mysql",
	Scrub:       &scrub,
	Quoted: []*regexp.Regexp{
		// 'user'@'host' as MySQL/MariaDB print it in 1044, 1045, 1142, ...
		regexp.MustCompile(`'(?P<user>[^'\n]*)'@'(?P<host>[^'\n]*)'`),
		// Host 'host' as in 1129/1130 ("Host '10.0.0.1' is not allowed to
		// connect to this MariaDB server").
		regexp.MustCompile(`(?i)\bhost '(?P<host>[^'\n]*)'`),
	},
	ServerFirst: true,
	Ports:       []uint16{3306},
	Clients:     []string{"mysql", "mariadb", "mysqladmin", "mariadb-admin", "mysqldump", "mariadb-dump", "php", "php-fpm", "php-cgi", "mysqlsh", "mysqlcheck", "mariadb-check"},
	SocketWords: []string{"mysql", "mariadb"},
	Servers:     []string{"mysqld", "mariadbd"},
	NoTCP: func(who string) string {
		return "skip_networking is on (skip-networking in " + who + "'s option files or on its command line). Turn it off and restart to accept TCP, or connect over the unix socket."
	},
	WrongBanner: ReasonNotMySQLBanner,
	Reasons: []proto.ReasonDef{
		{ID: ReasonNotMySQLBanner, Outcome: "wrong_protocol", Meaning: "the server spoke first with something that is not a MySQL greeting, where MySQL was expected"},
		{ID: ReasonLoginOK, Outcome: "ok", Meaning: "the server answered the login with OK"},
		{ID: ReasonCommandAfterLogin, Outcome: "ok", Meaning: "the client sent a command after its login, which it does only after the server's OK (the OK was not captured whole)"},
		{ID: ReasonGreetingNoLogin, Outcome: "ok", Meaning: "a fine greeting; no login was seen"},
		{ID: ReasonClosedAfterGreeting, Outcome: "ok", Meaning: "a fine greeting; the client closed without logging in (it offered TLS, the client is a program that only reads the greeting: connscope probe, telnet, nc, a health check, or it reset the connection without reading all of the greeting: a port check or an aborted connect)"},
		{ID: ReasonGreetingLate, Outcome: "greeting_late", Meaning: "the MySQL greeting came after the client had given up"},
		{ID: ReasonErrLate, Outcome: "greeting_late", Meaning: "the server's ERR instead of a greeting came after the client had given up"},
		{ID: ReasonErrAtGreeting, Outcome: "rejected", Meaning: "the server answered the connect with an ERR instead of a greeting (1040 too many connections, 1129 host blocked, 1130 host not allowed, …)"},
		{ID: ReasonErrAtGreetingCut, Outcome: "rejected", Meaning: "an ERR instead of a greeting whose code the snap length cut"},
		{ID: ReasonErrBeforeLogin, Outcome: "rejected", Meaning: "the server sent an ERR after its greeting, before the client logged in"},
		{ID: ReasonErrAfterLogin, Outcome: "rejected", Meaning: "the server answered the login with an ERR that is not an authentication error (e.g. 1040)"},
		{ID: ReasonAccessDenied, Outcome: "auth_failed", Meaning: "the server answered with an authentication ERR (1044, 1045, 1251, 1275, 1524, 1698, 1820, 1862, 3118, 4151)"},
		{ID: ReasonErrCut, Outcome: "incomplete", Meaning: "the server answered the login with an ERR whose code the snap length cut"},
		{ID: ReasonLoginUnanswered, Outcome: "timeout", Meaning: "the login got no answer before the client gave up (or for the idle timeout)"},
		{ID: ReasonServerClosedGreeting, Outcome: "rejected", Meaning: "the server closed the connection after its greeting, before the client logged in"},
		{ID: ReasonServerClosedLogin, Outcome: "rejected", Meaning: "the server closed the connection after the login without an OK or ERR"},
		{ID: ReasonTLSNotOffered, Outcome: "tls_failed", Meaning: "the greeting did not offer TLS (no CLIENT_SSL) and the client, having read it, closed (FIN) without logging in (it requires TLS); not for a program known only to read the greeting (connscope probe, telnet, nc)"},
	},
	SniffServer: sniffServer,
	New:         newSession,
	Causes: func(reason string, info proto.Info, client proto.Client) []string {
		i, _ := info.(*Info)
		return causes(reason, i, client)
	},
	Evidence: func(reason string, info proto.Info, f *proto.Finding) []string {
		i, _ := info.(*Info)
		return evidence(reason, i, f)
	},
	NoteWords:     noteWords,
	ConnCauses:    connCauses,
	PatternCauses: patternCauses,
	AfterTimeout:  afterTimeout,
}

// phpClients are PHP's process names: its MySQL driver is mysqlnd.
var phpClients = []string{"php", "php-fpm", "php-cgi"}

// misleadingErrno: what the MariaDB client library prints for a failed
// non-blocking connect.
const misleadingErrno = "Trust the wire over the client's message: MariaDB's client library reports 115 (EINPROGRESS) for a refused or timed-out non-blocking connect."

// The advice connCauses gives on refused and unanswered connects, made
// once: every such attempt meant for MySQL gets it, and a new slice each
// time was an allocation per attempt. Callers only read it
// (proto.Protocol.ConnCauses); a PHP client's is the first sentence alone,
// clipped, so that an append copies.
var (
	refusedAdvice = []string{"MySQL/MariaDB: check bind_address (127.0.0.1 only?), skip_networking (no TCP at all) and port in the server's configuration ([mysqld]), or that mysqld/mariadbd runs.", misleadingErrno}
	timeoutAdvice = []string{"MySQL/MariaDB clients: set the connect timeout: --connect-timeout (mariadb/mysql CLI), MYSQLI_OPT_CONNECT_TIMEOUT or mysqlnd.net_connect_timeout (PHP), connect_timeout (Connector/Python, PyMySQL).", misleadingErrno}
)

// connCauses is MySQL's advice on connection-level reasons (engine reason
// ids) for an attempt meant for a MySQL server.
func connCauses(reason string, t proto.Target) []string {
	php := slices.Contains(phpClients, t.Comm)
	switch reason {
	case "tcp.rst_from_server", "kernel.rst_received", "kernel.econnrefused", "kernel.econnreset":
		if !php {
			return refusedAdvice
		}
		return refusedAdvice[:1:1]
	case "tcp.syn_unanswered", "kernel.etimedout":
		if !php {
			return timeoutAdvice
		}
		return timeoutAdvice[:1:1]
	case "app.no_server_bytes":
		return []string{"MySQL/MariaDB: a server resolving the client's address (skip_name_resolve=OFF) waits on DNS before its greeting; clients report the wait as \"Lost connection ... at 'reading initial communication packet'\" (error 2013)."}
	case "kernel.enoent", "kernel.econnrefused_unix", "kernel.unix_other_errno":
		return []string{"MySQL/MariaDB: the socket path is socket= in [mysqld] and in [client] (/run/mysqld vs /var/run/mysqld; clients report a missing socket as error 2002); or connect over TCP (-h 127.0.0.1)."}
	case "kernel.eagain_unix":
		return []string{"MySQL/MariaDB: the listen backlog is back_log."}
	}
	return nil
}

// afterTimeout is what a known MySQL client was verified to do after an
// address timed out with more addresses left.
func afterTimeout(comm string) string {
	switch {
	case slices.Contains(phpClients, comm):
		return "PHP mysqlnd stops after a timeout (verified with PHP 8.2): it never tries the next address. Fix or remove the address that does not answer (e.g. a stale AAAA record), or name a single reachable address."
	case comm == "mariadb" || comm == "mysql":
		return "The mariadb CLI tries the next address after a timeout (verified); here no attempt to the next address was seen."
	}
	return ""
}

// sniffServer recognises a greeting (or an ERR instead of one). A whole
// greeting it recognises is decoded once: it hands newSession a session
// holding it (sniffed), which serverPacket takes instead of decoding the
// greeting again.
func sniffServer(b []byte, noMore, cut bool) (proto.Sniff, any) {
	ok, g, isGreeting, err := looksLikeGreeting(b, true)
	if err == ErrShort {
		if !noMore {
			return proto.Wait, nil // wait for the rest of the first packet
		}
		ok = LooksLikeGreetingPrefix(b)
	}
	if !ok && cut && MaybeGreetingPrefix(b) {
		return proto.Cut, nil
	}
	if ok {
		if isGreeting {
			s := &session{}
			s.keepSniffed(&g)
			return proto.Yes, s
		}
		return proto.Yes, nil
	}
	return proto.No, nil
}

// state is the position in the MySQL connection phase.
type state uint8

const (
	myGreeting   state = iota // waiting for HandshakeV10 or ERR
	myClientTurn              // greeting seen, waiting for SSLRequest/HandshakeResponse
	myAuth                    // HandshakeResponse sent, waiting for OK/ERR
)

type session struct {
	c proto.Conn
	// cutFirst: the sniff found the server's first bytes cut (proto.Cut).
	cutFirst bool
	my       state
	cut      bool // the snap length cut the server's bytes: only the client's packets are followed
	off      bool // decoding stopped (not MySQL after all, or TLS)
	// info is nil until a packet says something, then &infoBuf: one
	// allocation per session, not two (nor three: Info.TLSOffered points
	// at tlsOffered).
	tlsOffered bool
	// sniffed: sniffServer decoded the server's first packet, a greeting,
	// and kept what serverPacket uses of it in infoBuf, capsKnown and
	// tlsOffered (keepSniffed), not in a Greeting of its own: the session
	// stays in its allocation size class.
	sniffed   bool
	capsKnown bool
	info      *Info
	infoBuf   Info
}

// keepSniffed keeps the fields of g that serverPacket uses (sniffed).
func (s *session) keepSniffed(g *Greeting) {
	s.sniffed, s.capsKnown, s.tlsOffered = true, g.CapsKnown, g.TLSOffered()
	s.infoBuf.Protocol, s.infoBuf.ServerVersion, s.infoBuf.ConnectionID, s.infoBuf.AuthPlugin = g.Protocol, g.ServerVersion, g.ConnectionID, g.AuthPlugin
}

// takeSniffed is the greeting keepSniffed kept: its fields serverPacket
// uses (of the capabilities, only whether CLIENT_SSL is set).
func (s *session) takeSniffed() Greeting {
	s.sniffed = false
	g := Greeting{Protocol: s.infoBuf.Protocol, ServerVersion: s.infoBuf.ServerVersion, ConnectionID: s.infoBuf.ConnectionID, AuthPlugin: s.infoBuf.AuthPlugin, CapsKnown: s.capsKnown}
	if s.tlsOffered {
		g.Capabilities = ClientSSL
	}
	return g
}

// newSession starts a session; sniffed is the one sniffServer made
// (holding the greeting it decoded), or nil.
func newSession(c proto.Conn, how proto.Sniff, sniffed any) proto.Session {
	s, _ := sniffed.(*session)
	if s == nil {
		s = &session{}
	}
	s.c, s.cutFirst = c, how == proto.Cut
	return s
}

func (s *session) ensure() *Info {
	if s.info == nil {
		s.info = &s.infoBuf
	}
	return s.info
}

func (s *session) Info(encrypted bool) proto.Info {
	if s.info == nil {
		return nil
	}
	s.info.Encrypted = encrypted
	return s.info
}

// Facts: the ERR code ("mysql_error").
func (m *Info) Facts() []proto.Fact {
	if m.ErrorCode == 0 {
		return nil
	}
	return []proto.Fact{{Key: "mysql_error", Value: m.ErrorCode}}
}

// Names: the login's user (the hosts and users its ERR messages quote are
// learned through Protocol.Quoted).
func (m *Info) Names() []proto.Name {
	if m.User == "" {
		return nil
	}
	return []proto.Name{{Kind: proto.User, Value: m.User}}
}

// Pseudonymize replaces the user (the one place a user stands alone, unquoted).
func (m *Info) Pseudonymize(orig proto.Info, pseudo func(proto.Name) string) {
	if o, ok := orig.(*Info); ok && o.User != "" {
		m.User = pseudo(proto.Name{Kind: proto.User, Value: o.User})
	}
}

// Summary: the server version and the ERR code, e.g. "10.11.6, ERR 1045 (28000)".
func (m *Info) Summary() string {
	var parts []string
	if m.ServerVersion != "" {
		parts = append(parts, displayVersion(m.ServerVersion))
	}
	if m.ErrorCode != 0 {
		e := fmt.Sprintf("ERR %d", m.ErrorCode)
		if m.SQLState != "" {
			e += " (" + m.SQLState + ")"
		}
		parts = append(parts, e)
	}
	return strings.Join(parts, ", ")
}

// displayVersion drops the "5.5.5-" prefix MariaDB puts in front of its real
// version for the sake of old MySQL clients.
func displayVersion(v string) string {
	if rest, ok := strings.CutPrefix(v, "5.5.5-"); ok && rest != "" {
		return rest
	}
	return v
}

// AppendJSON writes the "mysql" object as encoding/json does
// (proto.JSONAppender): the report's fast path.
func (m *Info) AppendJSON(b []byte) []byte {
	start := len(b)
	b = append(b, '{')
	sep := func() {
		if len(b) > start+1 {
			b = append(b, ',')
		}
	}
	if m.Protocol != 0 {
		sep()
		b = append(b, `"protocol":`...)
		b = strconv.AppendUint(b, uint64(m.Protocol), 10)
	}
	if m.ServerVersion != "" {
		sep()
		b = append(b, `"server_version":`...)
		b = proto.AppendJSONString(b, m.ServerVersion)
	}
	if m.ConnectionID != 0 {
		sep()
		b = append(b, `"connection_id":`...)
		b = strconv.AppendUint(b, uint64(m.ConnectionID), 10)
	}
	if m.AuthPlugin != "" {
		sep()
		b = append(b, `"auth_plugin":`...)
		b = proto.AppendJSONString(b, m.AuthPlugin)
	}
	if m.TLSOffered != nil {
		sep()
		b = append(b, `"tls_offered":`...)
		b = strconv.AppendBool(b, *m.TLSOffered)
	}
	if m.TLSRequested {
		sep()
		b = append(b, `"tls_requested":true`...)
	}
	if m.Encrypted {
		sep()
		b = append(b, `"encrypted":true`...)
	}
	if m.User != "" {
		sep()
		b = append(b, `"user":`...)
		b = proto.AppendJSONString(b, m.User)
	}
	if m.ErrorCode != 0 {
		sep()
		b = append(b, `"error_code":`...)
		b = strconv.AppendUint(b, uint64(m.ErrorCode), 10)
	}
	if m.SQLState != "" {
		sep()
		b = append(b, `"sqlstate":`...)
		b = proto.AppendJSONString(b, m.SQLState)
	}
	if m.ErrorMessage != "" {
		sep()
		b = append(b, `"error_message":`...)
		b = proto.AppendJSONString(b, m.ErrorMessage)
	}
	if m.ErrorMessageCut {
		sep()
		b = append(b, `"error_message_cut":true`...)
	}
	return append(b, '}')
}

func (s *session) AwaitingFirst() bool { return !s.off && !s.cut && s.my == myGreeting }

// nextPacket frames the next MySQL packet in st. When the packet is not
// complete but never will be (a hole from the snap length, or the sender
// closed: final), it returns what there is with partial set.
func nextPacket(st proto.Stream, final bool) (payload []byte, seq uint8, n int, partial bool, err error) {
	buf := st.Bytes()
	payload, seq, n, err = Frame(buf)
	if err == ErrShort && (final || st.Partial()) && len(buf) > HeaderLen {
		length := int(buf[0]) | int(buf[1])<<8 | int(buf[2])<<16
		return buf[HeaderLen:], buf[3], HeaderLen + length, true, nil
	}
	return payload, seq, n, false, err
}

// Server decodes complete server packets of the connection phase.
func (s *session) Server(t time.Time, final bool) {
	c, srv := s.c, s.c.Server()
	if s.cutFirst {
		// The capture cut the server's first bytes before they say what
		// they are: neither a greeting nor another protocol can be
		// concluded. The client's packets and TCP decide.
		s.cutFirst = false
		c.Event(t, "not_decoded", proto.S2C, proto.Attrs{Note: NoteFirstCut, Bytes: len(srv.Bytes())})
		srv.Lose()
		s.cut = true
		s.my = myClientTurn
		c.MarkCut()
		return
	}
	if s.off || s.cut {
		return
	}
	for !c.Final() && !s.off && !srv.Dead() {
		payload, seq, n, partial, err := nextPacket(srv, final)
		if err != nil {
			if err == ErrNotMySQL {
				c.Event(t, "not_decoded", proto.S2C, proto.Attrs{Note: NoteNotMySQL})
				s.abandon()
			}
			break
		}
		s.serverPacket(payload, seq, partial, t)
		if c.Final() || s.off {
			break
		}
		srv.Consume(n)
		if partial {
			break
		}
	}
	if !final && !s.off && srv.Lost() && !c.Final() {
		// The server's next packet starts in bytes the capture did not
		// keep: what it answered is unknown from here on.
		s.cut = true
		c.MarkCut()
		c.Event(t, "not_decoded", proto.S2C, proto.Attrs{Note: NoteLost, Bytes: srv.LostAt()})
	}
}

func (s *session) abandon() {
	s.off = true
	s.c.Abandon()
}

// serverPacket handles one server packet of the connection phase.
// A partial packet (cut by the snap length) still yields the fields before
// the cut: a greeting's version, an ERR's code.
func (s *session) serverPacket(payload []byte, seq uint8, partial bool, t time.Time) {
	c := s.c
	my := s.ensure()
	kind := ServerKind(payload, seq)
	switch s.my {
	case myGreeting:
		delay := t.Sub(c.HandshakeDone())
		// A message after the client gave up: late.
		var late proto.Finding
		if closeHow, gaveAt := c.ClientClosed(); closeHow != "" {
			late = proto.Finding{Step: StepGreeting, ClosedBy: "client", Close: closeHow, Delay: delay, Since: t.Sub(gaveAt), GaveUp: gaveAt.Sub(c.Start())}
		}
		switch kind {
		case KindGreeting:
			var g Greeting
			var err error
			if s.sniffed {
				// The sniff decoded this very packet, whole and well formed.
				g = s.takeSniffed()
			} else {
				g, err = ParseGreeting(payload)
			}
			cut := partial
			if err != nil {
				if !errors.Is(err, ErrTruncated) {
					c.Event(t, "not_decoded", proto.S2C, proto.Attrs{Note: NoteMalformedGreeting, Msg: c.Msg(proto.Msg{Message: err.Error()})})
					s.abandon()
					return
				}
				cut = true
			}
			my.Protocol = g.Protocol
			my.ServerVersion = g.ServerVersion
			my.ConnectionID = g.ConnectionID
			my.AuthPlugin = g.AuthPlugin
			tlsWord := TLSUnknown
			if g.CapsKnown {
				tls := g.TLSOffered()
				s.tlsOffered = tls
				my.TLSOffered = &s.tlsOffered
				tlsWord = TLSOffered
				if !tls {
					tlsWord = TLSNotOffered
				}
			}
			c.Event(t, "greeting", proto.S2C, proto.Attrs{ElapsedMS: proto.MSOf(delay), Msg: c.Msg(proto.Msg{
				Protocol: strconv.Itoa(int(g.Protocol)), Version: g.ServerVersion, ID: uint64(g.ConnectionID), Auth: g.AuthPlugin, TLS: tlsWord, Cut: cut})})
			s.my = myClientTurn
			if late.Close != "" {
				c.Decide(ReasonGreetingLate, t, late)
				return
			}
			if delay >= time.Second {
				c.Note(proto.Note{Kind: NoteGreetingSlow, After: delay})
			}
		case KindErr:
			me, err := parseErrPacket(payload, partial)
			if errors.Is(err, ErrTruncated) {
				// An ERR instead of a greeting refuses the connection,
				// whatever its code.
				c.Event(t, "mysql_err", proto.S2C, proto.Attrs{Note: NoteGreetingCodeCut})
				c.Decide(ReasonErrAtGreetingCut, t, proto.Finding{Step: StepGreeting, Delay: delay})
				return
			}
			if err != nil {
				s.abandon()
				return
			}
			s.recordErr(me, t, NoteInsteadOfGreeting)
			if late.Close != "" {
				c.Decide(ReasonErrLate, t, late)
				return
			}
			c.Decide(errReason(me.Code, ReasonErrAtGreeting), t, proto.Finding{Step: StepGreeting, Delay: delay})
		default:
			s.abandon()
		}
	case myClientTurn, myAuth:
		switch kind {
		case KindOK:
			if s.my == myClientTurn {
				c.Event(t, "mysql_ok", proto.S2C, proto.Attrs{})
				return
			}
			c.Event(t, "login_ok", proto.S2C, proto.Attrs{})
			c.Decide(ReasonLoginOK, t, proto.Finding{Since: t.Sub(c.Start())})
		case KindErr:
			me, err := parseErrPacket(payload, partial)
			if errors.Is(err, ErrTruncated) {
				// Access denied or refused: only the cut code would say.
				c.Event(t, "mysql_err", proto.S2C, proto.Attrs{Note: NoteCodeCut})
				c.Decide(ReasonErrCut, t, proto.Finding{Step: stepOf(s.my)})
				return
			}
			if err != nil {
				return
			}
			errAt, note := ReasonErrAfterLogin, NoteAfterLogin
			if s.my == myClientTurn {
				errAt, note = ReasonErrBeforeLogin, NoteBeforeLogin
			}
			s.recordErr(me, t, note)
			c.Decide(errReason(me.Code, errAt), t, proto.Finding{Step: stepOf(s.my)})
		case KindAuthSwitch:
			if name, err := AuthSwitchPlugin(payload); err == nil {
				my.AuthPlugin = name
				c.Event(t, "auth_switch", proto.S2C, proto.Attrs{Msg: c.Msg(proto.Msg{Auth: name})})
			}
		case KindAuthMoreData:
			note := ""
			if len(payload) == 2 && payload[1] == 3 {
				note = NoteFastAuthOK
			} else if len(payload) == 2 && payload[1] == 4 {
				note = NoteFullAuth
			}
			c.Event(t, "auth_more_data", proto.S2C, proto.Attrs{Note: note})
		}
	}
}

// parseErrPacket decodes an ERR packet, or the beginning of one the capture cut.
func parseErrPacket(payload []byte, partial bool) (Err, error) {
	if partial {
		return ParseErrCut(payload)
	}
	return ParseErr(payload)
}

func (s *session) recordErr(me Err, t time.Time, note string) {
	my := s.ensure()
	my.ErrorCode = me.Code
	my.SQLState = me.SQLState
	my.ErrorMessage = me.Message
	my.ErrorMessageCut = me.Truncated
	s.c.Event(t, "mysql_err", proto.S2C, proto.Attrs{Note: note, Msg: s.c.Msg(proto.Msg{Code: int(me.Code), SQLState: me.SQLState, Message: me.Message, Cut: me.Truncated})})
}

// errReason names a server ERR: an authentication error wherever it
// comes, else the given reason for where it came.
func errReason(code uint16, at string) string {
	if IsAuthError(code) {
		return ReasonAccessDenied
	}
	return at
}

// Client decodes the client's reply to the greeting.
func (s *session) Client(t time.Time) {
	c, cl := s.c, s.c.Client()
	for !c.Final() && !s.off && !cl.Dead() {
		payload, seq, n, partial, err := nextPacket(cl, false)
		if err != nil {
			if err == ErrNotMySQL && !s.cut {
				s.abandon()
			}
			return
		}
		// payload is a view of the stream's buffer, and Consume moves the
		// bytes after the packet into it: every read of payload comes
		// before Consume (an SSLRequest and the ClientHello after it, or
		// pipelined packets, share one segment).
		length := n - HeaderLen
		if s.my == myAuth && seq == 0 && len(payload) > 0 {
			// A client starts a command (sequence id 0) only after the
			// server's OK: the login succeeded even if that OK was not
			// captured in full.
			cmd := CommandName(payload[0])
			cl.Consume(n)
			c.Event(t, "command", proto.C2S, proto.Attrs{Msg: c.Msg(proto.Msg{Command: cmd})})
			c.Decide(ReasonCommandAfterLogin, t, proto.Finding{Step: StepAfterLogin, Command: cmd})
			return
		}
		if s.my != myClientTurn {
			cl.Consume(n)
			if partial {
				return
			}
			continue // auth switch responses and the like: not kept
		}
		var h ClientHello
		if partial {
			h, err = ParseClientHelloCut(payload, length)
		} else {
			h, err = ParseClientHello(payload)
		}
		cl.Consume(n) // h holds no view of payload
		if err != nil {
			c.Event(t, "not_decoded", proto.C2S, proto.Attrs{Note: NoteMalformedLogin, Msg: c.Msg(proto.Msg{Message: err.Error()})})
			s.my = myAuth
			continue
		}
		my := s.ensure()
		if h.SSLRequest {
			my.TLSRequested = true
			c.Event(t, "ssl_request", proto.C2S, proto.Attrs{})
			// Whatever follows in either direction is TLS records.
			s.off = true
			c.StartTLS(t)
			return
		}
		my.User = h.User
		c.Event(t, "login", proto.C2S, proto.Attrs{Msg: c.Msg(proto.Msg{User: h.User, Cut: h.Truncated})})
		s.my = myAuth
		if partial {
			return
		}
	}
}

func (s *session) ClientClosed(t time.Time, how string) bool {
	if s.off || s.cut {
		return false
	}
	c := s.c
	switch s.my {
	case myClientTurn:
		c.Event(t, closeKind(how), proto.C2S, proto.Attrs{Note: NoteAfterGreeting})
		noTLS := s.info != nil && s.info.TLSOffered != nil && !*s.info.TLSOffered
		comm := c.Comm()
		if how == "RST" && !proto.ChecksOnly(comm) {
			// A client that decides on TLS reads the whole greeting first
			// and closes with a FIN (every lab client does); a RST on close
			// means it left the greeting unread: a port check or an aborted
			// connect (bash /dev/tcp), not a TLS decision.
			c.Decide(ReasonClosedAfterGreeting, t, proto.Finding{Step: StepBeforeLogin, ClosedBy: "client", Close: how, Since: t.Sub(c.FirstServerData())})
			return true
		}
		if noTLS && !proto.ChecksOnly(comm) {
			c.Decide(ReasonTLSNotOffered, t, proto.Finding{Step: StepBeforeLogin, ClosedBy: "client", Close: how, Since: t.Sub(c.FirstServerData()), Unnamed: comm == ""})
			return true
		}
		if proto.ChecksOnly(comm) {
			// A program known only to look at the greeting (proto.ChecksOnly):
			// its hang-up is what it came for, whatever TLS offers.
			c.Decide(ReasonClosedAfterGreeting, t, proto.Finding{Step: StepBeforeLogin, ClosedBy: "client", Close: how, Since: t.Sub(c.FirstServerData()), Checker: comm})
			return true
		}
		c.Decide(ReasonClosedAfterGreeting, t, proto.Finding{Step: StepBeforeLogin, ClosedBy: "client", Close: how})
		return true
	case myAuth:
		c.Event(t, closeKind(how), proto.C2S, proto.Attrs{Note: NoteAwaitingResult})
		c.Decide(ReasonLoginUnanswered, t, proto.Finding{Step: StepAfterLogin, ClosedBy: "client", Close: how, Since: t.Sub(c.FirstClientData())})
		return true
	}
	return false
}

func (s *session) ServerClosed(t time.Time, how string) bool {
	if s.off || s.cut {
		return false
	}
	c := s.c
	switch s.my {
	case myClientTurn:
		c.Event(t, closeKind(how), proto.S2C, proto.Attrs{Note: NoteBeforeLogin})
		if h, _ := c.ClientClosed(); h == "" {
			c.Decide(ReasonServerClosedGreeting, t, proto.Finding{Step: StepBeforeLogin, ClosedBy: "server", Close: how, Since: t.Sub(c.FirstServerData())})
		}
		return true
	case myAuth:
		c.Event(t, closeKind(how), proto.S2C, proto.Attrs{Note: NoteAfterLogin})
		c.Decide(ReasonServerClosedLogin, t, proto.Finding{Step: StepAfterLogin, ClosedBy: "server", Close: how})
		return true
	}
	return false
}

func (s *session) Idle(now time.Time, closing bool) bool {
	c := s.c
	switch {
	case s.cut:
		c.Decide(reasonSnaplenCut, now, proto.Finding{Step: stepOf(s.my), LostAt: c.Server().LostAt()})
	case s.my == myClientTurn:
		c.Decide(ReasonGreetingNoLogin, c.FirstServerData(), proto.Finding{Step: StepBeforeLogin})
	case s.my == myAuth:
		if closing {
			c.Decide(reasonCaptureEnded, now, proto.Finding{Step: StepAfterLogin})
			return true
		}
		c.Decide(ReasonLoginUnanswered, now, proto.Finding{Step: StepAfterLogin, Since: now.Sub(c.LastActivity())})
	default:
		c.Decide(reasonCaptureEnded, now, proto.Finding{Step: StepGreeting})
	}
	return true
}

// closeKind is the timeline kind of a close.
func closeKind(how string) string {
	if how == "RST" {
		return "rst"
	}
	return "fin"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// causes explains the MySQL verdicts in the server's terms (info: the
// session's facts, nil if none).
func causes(reason string, info *Info, client proto.Client) []string {
	switch reason {
	case ReasonLoginUnanswered:
		return causeLoginUnanswered
	case ReasonGreetingLate, ReasonErrLate:
		return causeGreetingLate
	case ReasonErrAtGreeting, ReasonErrBeforeLogin, ReasonErrAfterLogin, ReasonAccessDenied:
		if info != nil {
			return errorCauses(info.ErrorCode, client)
		}
		return []string{}
	case ReasonServerClosedLogin:
		return causeServerClosedLogin
	case ReasonServerClosedGreeting, ReasonErrAtGreetingCut:
		return causeServerClosedGreeting
	case ReasonTLSNotOffered:
		return causeTLSNotOffered
	case "tls.alert", "tls.not_tls", "tls.closed_in_handshake", "tls.stalled":
		return causeTLSFailed
	}
	return nil
}

// errorCauses explains a server ERR code.
func errorCauses(code uint16, client proto.Client) []string {
	switch code {
	case 1040:
		return errCause1040
	case 1129:
		return []string{"The server's host cache blocked " + client.Addr() + " after max_connect_errors consecutive failed connects: run FLUSH HOSTS (or mariadb-admin flush-hosts; TRUNCATE performance_schema.host_cache on MySQL 8), raise max_connect_errors, and find what makes connects from this host fail (health checks that connect and drop)."}
	case 1130:
		return []string{"No account matches this client host: the grants have user@host entries that do not include " + client.Addr() + " as the server sees it (after NAT/proxies; by name when skip_name_resolve is off). Check SELECT user,host FROM mysql.user and create the account for the right host pattern."}
	case 1045:
		return errCause1045
	case 1044:
		return errCause1044
	case 1698:
		return errCause1698
	case 1251, 1524:
		return errCause1251
	case 1862, 1820:
		return errCause1862
	case 3118, 4151:
		return errCause3118
	case 1203, 1226:
		return errCause1203
	case 1049:
		return errCause1049
	case 1053:
		return errCause1053
	case 3159:
		return errCause3159
	}
	return []string{"The server refused the connection with error " + strconv.Itoa(int(code)) + ": see its message and the server's error log."}
}

// The constant causes, made once: causes and errorCauses hand out these
// slices (the engine clips what it is given before appending to it), no
// slice of their own for each failing connect.
var (
	causeGreetingLate = []string{
		"The server greeted only after the client had given up. Typical of a reverse DNS lookup of the client's address on the server: set skip_name_resolve=ON (and use IP-based grants), or fix the PTR records/DNS the server uses. Also possible: an overloaded server (thread creation, thread cache).",
		"If the delay is expected, raise the client's connect timeout."}
	causeLoginUnanswered      = []string{"The server did not answer the login in time: a slow authentication plugin (PAM, LDAP), a server stalled on locks or I/O, or packet loss after connecting. Check the server's error log and processlist."}
	causeServerClosedLogin    = []string{"The server dropped the connection during the login without an answer: check its error log (crash, aborted connection, max_allowed_packet, an authentication plugin failing)."}
	causeServerClosedGreeting = []string{"The server closed the connection after its greeting, before the client logged in: its connect_timeout expired while the client stalled (a TLS setup problem on the client?), or the server is shutting down. Check the server's error log for 'Aborted connection'."}
	causeTLSNotOffered        = []string{"The client requires TLS (e.g. --ssl, --ssl-verify-server-cert, MYSQLI_CLIENT_SSL) but the server does not offer it: configure ssl_cert/ssl_key (and ssl_ca) on the server (check SHOW VARIABLES LIKE 'have_ssl'), or stop requiring TLS on the client."}
	causeTLSFailed            = []string{"The TLS handshake failed: the server's certificate is not trusted or does not match the host name (ssl-ca, ssl-verify-server-cert), no common TLS version or cipher (tls_version, ssl_cipher), or the account requires a client certificate (REQUIRE X509/SSL). The server's error log and the client's message name the side that refused."}
	errCause1040              = []string{"The server is at max_connections (one more is kept for SUPER/CONNECTION ADMIN): check SHOW STATUS LIKE 'Threads_connected' and 'Max_used_connections'; raise max_connections or find the client that leaks or hoards connections (pool sizes)."}
	errCause1045              = []string{"Wrong password, or no account for this user@host (the server may have matched another host entry, e.g. an anonymous ''@'localhost'). Check the credentials and SELECT user,host,plugin FROM mysql.user; the server's error log names the account it tried."}
	errCause1044              = []string{"The account logged in but has no privileges on the requested database: GRANT the needed privileges ON db.* TO the user@host, or connect to another database."}
	errCause1698              = []string{"The account uses unix_socket/auth_socket authentication (or needs a password that was not given): log in over the unix socket as the matching OS user, or give the account a password-based plugin."}
	errCause1251              = []string{"The client does not support the account's authentication plugin (or the server does not have it loaded): update the client/connector, or change the account's plugin (e.g. caching_sha2_password vs mysql_native_password)."}
	errCause1862              = []string{"The account's password has expired: set a new one (ALTER USER ... PASSWORD EXPIRE NEVER / IDENTIFIED BY)."}
	errCause3118              = []string{"The account is locked: ALTER USER ... ACCOUNT UNLOCK."}
	errCause1203              = []string{"The account hit its per-user limits (max_user_connections or MAX_USER_CONNECTIONS / MAX_CONNECTIONS_PER_HOUR): check the account's resource limits and the client's connection use."}
	errCause1049              = []string{"The database the client asked for does not exist: check the database name in the client's configuration."}
	errCause1053              = []string{"The server is shutting down: wait for the restart, or check why it is stopping."}
	errCause3159              = []string{"The server requires TLS (require_secure_transport=ON) and the client connected without it: enable TLS in the client."}
)

// patternCauses: MySQL's settings behind incident patterns of a MySQL server.
func patternCauses(pattern string) []string {
	switch pattern {
	case "accept_backlog":
		return []string{"MySQL/MariaDB: back_log is the server's listen backlog (capped by net.core.somaxconn); SHOW GLOBAL STATUS LIKE 'Aborted_connects' and the error log show what the server saw."}
	case "too_many_connections":
		return []string{"MySQL/MariaDB: max_connections (or max_user_connections) was reached; compare Max_used_connections and Threads_connected, and see who holds them with SHOW PROCESSLIST."}
	case "host_blocked":
		return []string{"MySQL/MariaDB: error 1129 comes after max_connect_errors aborted connects from the host; FLUSH HOSTS (mariadb-admin flush-hosts) unblocks it; raise max_connect_errors or fix what aborts the connects."}
	}
	return nil
}
