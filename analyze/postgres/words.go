package postgres

import (
	"strconv"
	"strings"

	"github.com/connscope/connscope/analyze/proto"
)

// The notes (proto.Attrs.Note) of PostgreSQL's timeline steps; the kinds
// each applies to are in brackets.
const (
	NoteNotPostgres        = "not_postgres"         // Message says why decoding stopped [not_decoded]
	NoteSSL                = "ssl"                  // SSLRequest [ssl_request]
	NoteGSSENC             = "gssenc"               // GSSENCRequest [ssl_request]
	NoteAuthResponse       = "auth_response"        // the client answers the Authentication request [login]
	NoteTLSAccepted        = "tls_accepted"         // 'S' [ssl_answer]
	NoteNoEncryption       = "no_encryption"        // 'N' [ssl_answer]
	NoteGSSEncryption      = "gss_encryption"       // 'G' [ssl_answer]
	NoteNegotiateVersion   = "negotiate_version"    // NegotiateProtocolVersion; Protocol is the newest the server supports [server_data]
	NoteAfterN             = "after_n"              // the client closed after 'N' without a StartupMessage [fin, rst]
	NoteAuthUnanswered     = "auth_unanswered"      // the client closed without answering the authentication request [fin, rst]
	NoteAwaitingAuthResult = "awaiting_auth_result" // [fin, rst from the client]
	NoteAwaitingServer     = "awaiting_server"      // [fin, rst from the client]
	NoteAfterAuthOK        = "after_auth_ok"        // [fin, rst]
	NoteDuringStartup      = "during_startup"       // the server closed without an ErrorResponse [fin, rst]
)

// words makes the words of a PostgreSQL timeline step (Protocol.Words).
func words(kind string, dir proto.Dir, a *proto.Attrs) string {
	var buf [160]byte
	return string(appendWords(buf[:0], kind, dir, a))
}

// appendWords appends the words of a PostgreSQL timeline step to b
// (Protocol.AppendWords; nothing for a step it has no words for). The
// JSON report writes them straight into its line: no string per step.
func appendWords(b []byte, kind string, dir proto.Dir, a *proto.Attrs) []byte {
	d := a.Msg
	if d == nil {
		d = &proto.Msg{}
	}
	switch kind {
	case "not_decoded":
		return append(append(b, "not a PostgreSQL message; decoding stops: "...), d.Message...)
	case "ssl_request":
		if a.Note == NoteGSSENC {
			return append(b, "GSSENCRequest: the client asks for GSSAPI encryption"...)
		}
		return append(b, "SSLRequest: the client asks for TLS"...)
	case "command":
		if d.Command == "CancelRequest" {
			return strconv.AppendUint(append(b, "CancelRequest for backend "...), d.ID, 10)
		}
		return append(b, d.Command...)
	case "login":
		if a.Note == NoteAuthResponse {
			return append(b, "the client answers the Authentication request"...)
		}
		b = append(append(b, "StartupMessage: protocol "...), d.Protocol...)
		b = proto.AppendQuote(append(b, ", user "...), d.User)
		if d.Database != "" {
			b = proto.AppendQuote(append(b, ", database "...), d.Database)
		}
		if d.Cut {
			b = append(b, " (cut in the capture)"...)
		}
		return b
	case "ssl_answer":
		switch a.Note {
		case NoteTLSAccepted:
			return append(b, "'S': the server accepts TLS"...)
		case NoteNoEncryption:
			return append(b, "'N': the server does not do TLS (or GSSAPI encryption) here"...)
		}
		return append(b, "'G': GSSAPI encryption follows (not decoded)"...)
	case "auth_ok":
		return append(b, "AuthenticationOk"...)
	case "auth_request":
		return append(append(b, "the server asks for authentication: "...), d.Auth...)
	case "login_ok":
		if d.Version != "" {
			return append(append(append(b, "ReadyForQuery: logged in (server "...), d.Version...), ')')
		}
		return append(b, "ReadyForQuery: logged in"...)
	case "server_data":
		return append(append(b, "NegotiateProtocolVersion: the server supports up to "...), d.Protocol...)
	case "pg_error":
		desc := strings.TrimSpace(d.Severity + " " + d.SQLState)
		if st, ok := SQLStateInfo(d.SQLState); ok {
			desc += " " + st.ID
		}
		// The message is quoted as is (not escaped): the names it quotes
		// stay recognisable to a redactor.
		b = append(append(append(append(b, "ErrorResponse "...), desc...), ": "...), d.Message...)
		if d.Cut {
			b = append(b, " (cut in the capture)"...)
		}
		return b
	case "fin", "rst":
		how := "FIN"
		if kind == "rst" {
			how = "RST"
		}
		switch a.Note {
		case NoteAfterN:
			return append(append(b, how...), " from the client after the server's 'N', without a StartupMessage"...)
		case NoteAuthUnanswered:
			return append(append(b, how...), " from the client without answering the authentication request"...)
		case NoteAwaitingAuthResult:
			return append(append(b, how...), " from the client while waiting for the authentication result"...)
		case NoteAwaitingServer:
			return append(append(b, how...), " from the client while waiting for the server"...)
		case NoteDuringStartup:
			return append(append(b, how...), " from the server during the startup, without an ErrorResponse"...)
		case NoteAfterAuthOK:
			if dir == proto.S2C {
				return append(append(b, how...), " from the server after AuthenticationOk"...)
			}
			return append(append(b, how...), " from the client after AuthenticationOk"...)
		}
	}
	return b
}
