package mysql

import (
	"strconv"

	"github.com/connscope/connscope/analyze/proto"
)

// Where in the connection phase a verdict came (proto.Finding.Step).
const (
	StepGreeting    = "greeting"     // waiting for the greeting
	StepBeforeLogin = "before_login" // the greeting seen, the login not sent
	StepAfterLogin  = "after_login"  // the login sent, waiting for its result
)

// The notes a session keeps whatever the verdict (proto.Note.Kind).
const (
	NoteGreetingSlow = "greeting_slow" // the greeting took After (1 s or more) after the handshake
)

// stepOf is the Step of a position in the connection phase.
func stepOf(st state) string {
	switch st {
	case myClientTurn:
		return StepBeforeLogin
	case myAuth:
		return StepAfterLogin
	}
	return StepGreeting
}

// errOf is the ERR packet info holds (what recordErr kept).
func errOf(info *Info) Err {
	if info == nil {
		return Err{}
	}
	return Err{Code: info.ErrorCode, SQLState: info.SQLState, Message: info.ErrorMessage, Truncated: info.ErrorMessageCut}
}

// evidence words a verdict of a MySQL session (Protocol.Evidence), from
// its reason, its Info and its finding only.
func evidence(reason string, info *Info, f *proto.Finding) []string {
	one := func(s string) []string { return []string{s} }
	switch reason {
	case ReasonGreetingLate:
		return one("the MySQL greeting came " + proto.Dur(f.Delay) + " after the handshake, " + proto.Dur(f.Since) + " after the client gave up (" + f.Close + " at " + proto.Dur(f.GaveUp) + ")")
	case ReasonErrAtGreetingCut:
		return one("the server answered the connect with an ERR packet " + proto.Dur(f.Delay) + " after the handshake, instead of a greeting (the snap length cut its code)")
	case ReasonErrLate:
		return one("the server's " + errOf(info).String() + " came " + proto.Dur(f.Delay) + " after the handshake, " + proto.Dur(f.Since) + " after the client gave up")
	case ReasonErrAtGreeting, ReasonErrBeforeLogin, ReasonErrAfterLogin, ReasonAccessDenied:
		// The most frequent sentences (a failed login, a login OK) are
		// appended into one buffer on the stack: one string made, not one
		// for each part and another for them joined. The buffer holds
		// the usual server messages (1130's names the client: 165 bytes
		// with it overflowed a 160-byte one into a third allocation).
		var buf [256]byte
		switch f.Step {
		case StepGreeting:
			b := errOf(info).appendTo(append(buf[:0], "the server answered the connect with "...))
			b = proto.AppendMS(append(b, ' '), proto.MSOf(f.Delay))
			return one(string(append(b, " after the handshake, instead of a greeting"...)))
		case StepBeforeLogin:
			b := errOf(info).appendTo(append(buf[:0], "the server answered with "...))
			return one(string(append(b, " before the login"...)))
		}
		b := errOf(info).appendTo(append(buf[:0], "the server answered with "...))
		return one(string(append(b, " after the login"...)))
	case ReasonLoginOK:
		var buf [64]byte
		b := proto.AppendMS(append(buf[:0], "login OK "...), proto.MSOf(f.Since))
		return one(string(append(b, " after the first SYN"...)))
	case ReasonErrCut:
		return one("the server answered with an ERR packet whose code the snap length cut: the login failed, but whether for the credentials or a limit is not in the capture")
	case ReasonCommandAfterLogin:
		return one("the client sent " + f.Command + " after its login, which a client does only after the server's OK (the server's answer was not captured whole)")
	case ReasonTLSNotOffered:
		ev := "the server did not offer TLS (no CLIENT_SSL in the greeting) and the client closed (" + f.Close + ") " + proto.Dur(f.Since) + " later without logging in"
		if f.Unnamed {
			ev += " (the capture does not name the client: a program that only reads the greeting, such as a health check, telnet or connscope probe, closes the same way, and then the connection was fine)"
		}
		return one(ev)
	case ReasonClosedAfterGreeting:
		if f.Checker != "" {
			return one("the greeting was fine; " + f.Checker + " closed (" + f.Close + ") " + proto.Dur(f.Since) + " later without logging in, as a program that only reads the greeting does")
		}
		if f.Close == "RST" {
			return one("the greeting was fine; the client reset the connection (" + f.Close + ") " + proto.Dur(f.Since) + " later without reading all of it or logging in, as a port check or an aborted connect does (a MySQL server counts it towards max_connect_errors)")
		}
		return one("the greeting was fine; the client closed without logging in")
	case ReasonLoginUnanswered:
		if f.Close != "" {
			return one("no answer to the login: the client gave up (" + f.Close + ") after " + proto.Dur(f.Since))
		}
		return one("no answer to the login for " + proto.Dur(f.Since))
	case ReasonServerClosedGreeting:
		return one("the server closed the connection (" + f.Close + ") " + proto.Dur(f.Since) + " after its greeting, before the client logged in")
	case ReasonServerClosedLogin:
		return one("the server closed the connection (" + f.Close + ") after the login without an OK or ERR")
	case reasonSnaplenCut:
		return one("the snap length cut the server's bytes at byte " + strconv.Itoa(f.LostAt) + " of its stream: what it sent from there on cannot be decoded, and the client sent no command that would show a successful login")
	case ReasonGreetingNoLogin:
		return one("the greeting was fine; no login was seen")
	case reasonCaptureEnded:
		if f.Step == StepAfterLogin {
			return one("the capture ended while the login was waiting for the server's answer")
		}
		return one("the capture ended in the middle of the greeting")
	}
	return nil
}

// noteWords words a note of a MySQL session (Protocol.NoteWords).
func noteWords(n proto.Note) string {
	switch n.Kind {
	case NoteGreetingSlow:
		return "the greeting took " + proto.Dur(n.After) + " after the handshake"
	}
	return ""
}
