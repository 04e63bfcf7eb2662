package mysql

import (
	"strconv"

	"github.com/connscope/connscope/analyze/proto"
)

// The notes (proto.Attrs.Note) of MySQL's timeline steps; the kinds each
// applies to are in brackets.
const (
	NoteFirstCut          = "first_cut"           // the snap length cut the server's first bytes (Bytes kept) [not_decoded]
	NoteNotMySQL          = "not_mysql"           // the server's bytes are not a MySQL packet [not_decoded]
	NoteLost              = "lost"                // the server's bytes from Bytes on cannot be decoded [not_decoded]
	NoteMalformedGreeting = "malformed_greeting"  // Message says why [not_decoded]
	NoteMalformedLogin    = "malformed_login"     // the client's reply to the greeting; Message says why [not_decoded]
	NoteGreetingCodeCut   = "greeting_code_cut"   // an ERR instead of the greeting, its code cut [mysql_err]
	NoteCodeCut           = "code_cut"            // an ERR whose code the snap length cut [mysql_err]
	NoteInsteadOfGreeting = "instead_of_greeting" // [mysql_err]
	NoteBeforeLogin       = "before_login"        // [mysql_err; fin, rst from the server]
	NoteAfterLogin        = "after_login"         // [mysql_err; fin, rst from the server: no OK or ERR]
	NoteFastAuthOK        = "fast_auth_ok"        // caching_sha2_password's fast path [auth_more_data]
	NoteFullAuth          = "full_auth"           // full authentication required [auth_more_data]
	NoteAfterGreeting     = "after_greeting"      // the client closed without logging in [fin, rst]
	NoteAwaitingResult    = "awaiting_result"     // the client closed waiting for the login result [fin, rst]
)

// What a greeting said of TLS (proto.Detail.TLS).
const (
	TLSOffered    = "offered"
	TLSNotOffered = "not_offered"
	TLSUnknown    = "unknown" // the capabilities were cut
)

// words makes the words of a MySQL timeline step (Protocol.Words).
func words(kind string, dir proto.Dir, a *proto.Attrs) string {
	var buf [192]byte
	return string(appendWords(buf[:0], kind, dir, a))
}

// appendWords appends the words of a MySQL timeline step to b
// (Protocol.AppendWords; nothing for a step it has no words for). The
// JSON report writes them straight into its line: no string per step.
func appendWords(b []byte, kind string, _ proto.Dir, a *proto.Attrs) []byte {
	d := a.Msg
	if d == nil {
		d = &proto.Msg{}
	}
	switch kind {
	case "not_decoded":
		switch a.Note {
		case NoteFirstCut:
			b = strconv.AppendInt(append(b, "server's first payload cut by the snap length after "...), int64(a.Bytes), 10)
			return append(b, " bytes: too short to tell a MySQL greeting; following the client and TCP"...)
		case NoteNotMySQL:
			return append(b, "server sent bytes that are not a MySQL packet; decoding stops"...)
		case NoteLost:
			b = strconv.AppendInt(append(b, "the server's bytes from byte "...), int64(a.Bytes), 10)
			return append(b, " on cannot be decoded (the snap length cut a packet); following TCP only"...)
		case NoteMalformedGreeting:
			return append(append(b, "malformed MySQL greeting: "...), d.Message...)
		case NoteMalformedLogin:
			return append(append(b, "client reply to the greeting is malformed or cut: "...), d.Message...)
		}
	case "greeting":
		tls := "TLS unknown"
		switch d.TLS {
		case TLSOffered:
			tls = "TLS offered"
		case TLSNotOffered:
			tls = "no TLS"
		}
		b = append(append(append(b, "greeting: MySQL protocol "...), d.Protocol...), ", server "...)
		b = strconv.AppendUint(append(append(b, d.Version...), ", connection id "...), d.ID, 10)
		b = append(append(append(append(b, ", plugin "...), orNone(d.Auth)...), ", "...), tls...)
		b = append(proto.AppendMS(append(b, " ("...), a.ElapsedMS), " after the handshake)"...)
		if d.Cut {
			b = append(b, " (greeting cut short in the capture)"...)
		}
		return b
	case "mysql_err":
		switch a.Note {
		case NoteGreetingCodeCut:
			return append(b, "ERR instead of a greeting, cut by the snap length before its code"...)
		case NoteCodeCut:
			return append(b, "ERR cut by the snap length before its code"...)
		}
		e := Err{Code: uint16(d.Code), SQLState: d.SQLState, Message: d.Message, Truncated: d.Cut}
		when := "after the login"
		switch a.Note {
		case NoteInsteadOfGreeting:
			when = "instead of a greeting"
		case NoteBeforeLogin:
			when = "before the login"
		}
		return append(append(append(e.appendTo(b), " ("...), when...), ')')
	case "mysql_ok":
		return append(b, "server OK before any login (unexpected)"...)
	case "login_ok":
		return append(b, "OK: logged in"...)
	case "auth_switch":
		return append(append(b, "auth switch to "...), d.Auth...)
	case "auth_more_data":
		switch a.Note {
		case NoteFastAuthOK:
			return append(b, "auth more data: fast auth OK"...)
		case NoteFullAuth:
			return append(b, "auth more data: full authentication required"...)
		}
		return append(b, "auth more data"...)
	case "command":
		return append(append(append(b, "client command "...), d.Command...), ": logged in"...)
	case "ssl_request":
		return append(b, "SSLRequest: TLS starts"...)
	case "login":
		if d.Cut {
			return proto.AppendQuote(append(b, "HandshakeResponse (cut in the capture): login as "...), d.User)
		}
		return proto.AppendQuote(append(b, "HandshakeResponse: login as "...), d.User)
	case "fin", "rst":
		how := "FIN"
		if kind == "rst" {
			how = "RST"
		}
		switch a.Note {
		case NoteAfterGreeting:
			return append(append(b, how...), " from the client after the greeting, without logging in"...)
		case NoteAwaitingResult:
			return append(append(b, how...), " from the client while waiting for the login result"...)
		case NoteBeforeLogin:
			return append(append(b, how...), " from the server before the client logged in"...)
		case NoteAfterLogin:
			return append(append(b, how...), " from the server after the login, without OK or ERR"...)
		}
	}
	return b
}
