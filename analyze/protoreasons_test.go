package analyze

import (
	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/postgres"
)

// The MySQL plug-in's reasons, by id, for the tests.
var (
	ReasonLoginOK              = reasonByID(mysql.ReasonLoginOK)
	ReasonCommandAfterLogin    = reasonByID(mysql.ReasonCommandAfterLogin)
	ReasonGreetingNoLogin      = reasonByID(mysql.ReasonGreetingNoLogin)
	ReasonClosedAfterGreeting  = reasonByID(mysql.ReasonClosedAfterGreeting)
	ReasonGreetingLate         = reasonByID(mysql.ReasonGreetingLate)
	ReasonErrLate              = reasonByID(mysql.ReasonErrLate)
	ReasonErrAtGreeting        = reasonByID(mysql.ReasonErrAtGreeting)
	ReasonErrAtGreetingCut     = reasonByID(mysql.ReasonErrAtGreetingCut)
	ReasonErrBeforeLogin       = reasonByID(mysql.ReasonErrBeforeLogin)
	ReasonErrAfterLogin        = reasonByID(mysql.ReasonErrAfterLogin)
	ReasonAccessDenied         = reasonByID(mysql.ReasonAccessDenied)
	ReasonErrCut               = reasonByID(mysql.ReasonErrCut)
	ReasonLoginUnanswered      = reasonByID(mysql.ReasonLoginUnanswered)
	ReasonServerClosedGreeting = reasonByID(mysql.ReasonServerClosedGreeting)
	ReasonServerClosedLogin    = reasonByID(mysql.ReasonServerClosedLogin)
	ReasonNotMySQLBanner       = reasonByID(mysql.ReasonNotMySQLBanner)
	ReasonTLSNotOffered        = reasonByID(mysql.ReasonTLSNotOffered)
)

// The PostgreSQL plug-in's reasons, by id, for the tests.
var (
	ReasonPGLoginOK          = reasonByID(postgres.ReasonLoginOK)
	ReasonPGTooManyClients   = reasonByID(postgres.ReasonTooManyClients)
	ReasonPGCannotConnectNow = reasonByID(postgres.ReasonCannotConnectNow)
	ReasonPGHBARejected      = reasonByID(postgres.ReasonHBARejected)
	ReasonPGPasswordFailed   = reasonByID(postgres.ReasonPasswordFailed)
	ReasonPGDatabaseMissing  = reasonByID(postgres.ReasonDatabaseMissing)
	ReasonPGSSLRefused       = reasonByID(postgres.ReasonSSLRefused)
)
