package analyze

import "github.com/connscope/connscope/analyze/mysql"

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
