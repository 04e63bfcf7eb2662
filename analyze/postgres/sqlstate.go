package postgres

// SQLState describes a SQLSTATE a server sends when it refuses or ends a
// connection. ID is PostgreSQL's condition name (errcodes.txt), stable for
// use in reports and tests; Class is the two-character class and ClassID its
// condition name.
type SQLState struct {
	Code    string
	ID      string
	Class   string
	ClassID string
	// When says when PostgreSQL 15 sends it in the connection phase, with
	// the message text it used (recorded in testdata/scenarios.log where
	// marked "seen").
	When string
}

// connStates are the SQLSTATEs of the connection phase.
var connStates = []SQLState{
	{"08000", "connection_exception", "08", "connection_exception", ""},
	{"08004", "sqlserver_rejected_establishment_of_sqlconnection", "08", "connection_exception",
		"rejected connection, e.g. a walsender refusing a replication connection"},
	{"08006", "connection_failure", "08", "connection_exception", ""},
	{"08P01", "protocol_violation", "08", "connection_exception",
		`bad startup or authentication message; seen: "client selected an invalid SASL authentication mechanism"`},
	{"0A000", "feature_not_supported", "0A", "feature_not_supported",
		`seen: "unsupported frontend protocol 2.0: server supports 3.0 to 3.0" (as version-2 text, no SQLSTATE on the wire)`},
	{"28000", "invalid_authorization_specification", "28", "invalid_authorization_specification",
		`pg_hba.conf; seen: "no pg_hba.conf entry for host …, user …, database …, no encryption", "pg_hba.conf rejects connection for host …"`},
	{"28P01", "invalid_password", "28", "invalid_authorization_specification",
		`seen: "password authentication failed for user …" (also for a user that does not exist)`},
	{"3D000", "invalid_catalog_name", "3D", "invalid_catalog_name",
		`after authentication; seen: "database \"…\" does not exist"`},
	{"42501", "insufficient_privilege", "42", "syntax_error_or_access_rule_violation",
		`after authentication: "permission denied for database …", "must be superuser to connect in binary upgrade mode"`},
	{"53200", "out_of_memory", "53", "insufficient_resources", ""},
	{"53300", "too_many_connections", "53", "insufficient_resources",
		`seen: "sorry, too many clients already" (before authentication), "remaining connection slots are reserved for non-replication superuser connections" (after AuthenticationOk); also per-role/database CONNECTION LIMIT`},
	{"57014", "query_canceled", "57", "operator_intervention", `a CancelRequest worked; seen: "canceling statement due to user request"`},
	{"57P01", "admin_shutdown", "57", "operator_intervention", "fast shutdown or pg_terminate_backend of an open session"},
	{"57P02", "crash_shutdown", "57", "operator_intervention", "another backend crashed"},
	{"57P03", "cannot_connect_now", "57", "operator_intervention",
		`seen: "the database system is shutting down"; also "… is starting up", "… is in recovery mode", "… is not yet accepting connections"`},
	{"58000", "system_error", "58", "system_error", ""},
	{"XX000", "internal_error", "XX", "internal_error", ""},
}

var classIDs = map[string]string{
	"08": "connection_exception",
	"0A": "feature_not_supported",
	"28": "invalid_authorization_specification",
	"3D": "invalid_catalog_name",
	"42": "syntax_error_or_access_rule_violation",
	"53": "insufficient_resources",
	"57": "operator_intervention",
	"58": "system_error",
	"XX": "internal_error",
}

// SQLStateInfo describes code. ok is false when code is not one of the
// connection-phase SQLSTATEs; the returned value then still carries the Class
// (and its ClassID when the class is known) of any well-formed 5-character
// code.
func SQLStateInfo(code string) (s SQLState, ok bool) {
	for _, st := range connStates {
		if st.Code == code {
			return st, true
		}
	}
	if len(code) == 5 && sqlstateChars(code) {
		return SQLState{Code: code, Class: code[:2], ClassID: classIDs[code[:2]]}, false
	}
	return SQLState{}, false
}

// ConnectionSQLStates lists the table SQLStateInfo reads.
func ConnectionSQLStates() []SQLState { return append([]SQLState(nil), connStates...) }

func sqlstateChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
