package postgres

import (
	"strings"

	"github.com/connscope/connscope/analyze/proto"
)

// Where in the connection phase a verdict came (proto.Finding.Step).
const (
	StepStart      = "start"       // before the client's first message
	StepSSLAnswer  = "ssl_answer"  // the SSLRequest (or GSSENCRequest) sent, the server's answer due
	StepStartupDue = "startup_due" // 'N' answered: the client's StartupMessage due
	StepStartup    = "startup"     // the StartupMessage sent, the server's answer due
	StepAuth       = "auth"        // the server asked for authentication
	StepAuthOK     = "auth_ok"     // AuthenticationOk, ReadyForQuery due
)

// stepOf is the Step of a phase.
func stepOf(ph phase) string {
	return [...]string{pgStart: StepStart, pgAnswer: StepSSLAnswer, pgStartupDue: StepStartupDue,
		pgStartup: StepStartup, pgAuth: StepAuth, pgAuthOK: StepAuthOK}[ph]
}

// stepWhen says where an ErrorResponse came.
var stepWhen = map[string]string{
	StepStart: "before the client's first message", StepSSLAnswer: "instead of an answer to the SSLRequest", StepStartupDue: "before the StartupMessage",
	StepStartup: "after the StartupMessage", StepAuth: "after the authentication request", StepAuthOK: "after AuthenticationOk",
}

// evidence words a verdict of a PostgreSQL session (Protocol.Evidence),
// from its reason, its Info and its finding only.
func evidence(reason string, info *Info, f *proto.Finding) []string {
	if info == nil {
		info = &Info{}
	}
	one := func(s string) []string { return []string{s} }
	switch reason {
	case ReasonCancelRequest:
		return one("the client sent a CancelRequest: it cancels a query of another connection, and does not log in")
	case ReasonLoginOK:
		return one("logged in (AuthenticationOk, ReadyForQuery) " + proto.Dur(f.Since) + " after the first SYN")
	case ReasonTooManyClients, ReasonCannotConnectNow, ReasonHBARejected, ReasonPasswordFailed, ReasonDatabaseMissing, ReasonProtocolViolation, ReasonErrorAtStartup:
		desc := strings.TrimSpace(info.Severity + " " + info.SQLState)
		if st, ok := SQLStateInfo(info.SQLState); ok {
			desc += " " + st.ID
		}
		return one("the server answered with ErrorResponse " + desc + " " + stepWhen[f.Step] + ": " + info.ErrorMessage)
	case ReasonClosedAfterSSL:
		return one("the server answered the SSLRequest with 'N' (no TLS); " + f.Checker + " closed (" + f.Close + ") " + proto.Dur(f.Since) + " later without a StartupMessage, as a program that only checks the server's answer does")
	case ReasonSSLRefused:
		return one("the server answered the SSLRequest with 'N' (no TLS) and the client closed (" + f.Close + ") " + proto.Dur(f.Since) + " later without a StartupMessage: it requires TLS")
	case ReasonNoPassword:
		return one("the server asked for authentication (" + info.AuthMethod + ") and the client closed (" + f.Close + ") without answering: it had no password")
	case ReasonStartupUnanswered:
		switch {
		case f.ClosedBy == "":
			return one("the server sent nothing more for " + proto.Dur(f.Since) + " during the startup")
		case f.Step == StepAuth:
			return one("no answer to the authentication: the client gave up (" + f.Close + ")")
		case f.Step == StepSSLAnswer:
			return one("the server did not answer the client's SSLRequest: the client gave up (" + f.Close + ")")
		}
		return one("the server did not answer the client's StartupMessage: the client gave up (" + f.Close + ")")
	case ReasonClosedAfterAuthOK:
		if f.ClosedBy == "server" {
			return one("AuthenticationOk; the server closed (" + f.Close + ") before ReadyForQuery without an error")
		}
		return one("AuthenticationOk; the client closed before ReadyForQuery")
	case ReasonServerClosed:
		return one("the server closed the connection (" + f.Close + ") during the startup without an ErrorResponse")
	case reasonCaptureEnded:
		return one("the capture ended during the PostgreSQL startup, waiting for the server")
	}
	return nil
}
