package report

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/postgres"
)

// TestRedactPostgres: the postgres object's user, database and
// application_name are pseudonymised, and so are the names the server's
// messages quote (also one only an ErrorResponse named); the input is
// left alone.
func TestRedactPostgres(t *testing.T) {
	mk := func() *analyze.Connect {
		return &analyze.Connect{Client: "192.0.2.10", Port: 5432, Attempts: []*analyze.Attempt{{
			Client: "192.0.2.10:40000", Server: "198.51.100.10:5432", Outcome: analyze.Rejected,
			App: pgApp(&postgres.Info{User: "alice", Database: "payroll", ApplicationName: "billing-svc", SQLState: "28000",
				ErrorMessage: `no pg_hba.conf entry for host "192.0.2.10", user "mallory", database "payroll", no encryption`,
				Identifiers:  []string{"alice", "payroll", "billing-svc", "192.0.2.10", "mallory"}}),
			Events:   []analyze.Event{{What: `StartupMessage: protocol 3.0, user "alice", database "payroll"`}},
			Evidence: []string{`the server answered with ErrorResponse FATAL 28000: no pg_hba.conf entry for host "192.0.2.10", user "mallory", database "payroll", no encryption`},
		}}}
	}
	in, orig := mk(), mk()
	got := NewRedactor().Connect(in)
	if !reflect.DeepEqual(in, orig) {
		t.Fatal("Redactor.Connect modified its input")
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"alice", "payroll", "billing-svc", "mallory", "192.0.2.10", "198.51.100.10"} {
		if strings.Contains(string(b), s) {
			t.Errorf("redacted connect contains %q: %s", s, b)
		}
	}
	p := pgOf(got.Attempts[0])
	if p.User != "user-1" || p.Database != "db-1" || p.ApplicationName != "app-1" || p.SQLState != "28000" {
		t.Errorf("postgres %+v: want user-1, db-1, app-1 and the SQLSTATE kept", p)
	}
}
