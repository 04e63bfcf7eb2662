package analyze

import (
	"encoding/json"
	"testing"

	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/postgres"
	"github.com/connscope/connscope/analyze/proto"
)

// mysqlOf and pgOf are the attempt's protocol facts, when of that protocol.
func mysqlOf(a *Attempt) *mysql.Info {
	if a == nil || a.App == nil {
		return nil
	}
	m, _ := a.App.Info.(*mysql.Info)
	return m
}

func pgOf(a *Attempt) *postgres.Info {
	if a == nil || a.App == nil {
		return nil
	}
	p, _ := a.App.Info.(*postgres.Info)
	return p
}

// factOf is the protocol fact key of f (nil when none).
func factOf(f *Facts, key string) any {
	if f == nil {
		return nil
	}
	for _, x := range f.App {
		if x.Key == key {
			return x.Value
		}
	}
	return nil
}

// A protocol's object and facts are written where the model's own fields
// were: "mysql"/"postgres" after "events", "mysql_error"/"sqlstate" after
// "errno" (before any later member, or last), whatever is set around them.
func TestAppJSONPlacement(t *testing.T) {
	tlsOn := true
	for _, c := range []struct {
		name string
		a    Attempt
		want string
	}{
		{"no protocol", Attempt{Outcome: Refused, Facts: &Facts{ElapsedMS: 1, Errno: "ECONNREFUSED"}},
			`{"client":"","server":"","outcome":"refused","reason":"","facts":{"elapsed_ms":1,"errno":"ECONNREFUSED"},"syn_count":0,"retransmits":0,"rtt_ms":null,"greeting_delay_ms":null,"duration_ms":0,"start":"0001-01-01T00:00:00Z","events":null,"evidence":null,"causes":null}`},
		{"mysql, errno and banner around its fact", Attempt{Outcome: Rejected,
			Facts: &Facts{ElapsedMS: 2, Errno: "E", App: []proto.Fact{{Key: "mysql_error", Value: uint16(1040)}}, Banner: "b"},
			App:   &App{Protocol: "mysql", Info: &mysql.Info{ErrorCode: 1040, SQLState: "08004", TLSOffered: &tlsOn, ErrorMessage: `a "quoted" <msg>`}}},
			`{"client":"","server":"","outcome":"rejected","reason":"","facts":{"elapsed_ms":2,"errno":"E","mysql_error":1040,"banner":"b"},"syn_count":0,"retransmits":0,"rtt_ms":null,"greeting_delay_ms":null,"duration_ms":0,"start":"0001-01-01T00:00:00Z","events":null,"mysql":{"tls_offered":true,"error_code":1040,"sqlstate":"08004","error_message":"a \"quoted\" \u003cmsg\u003e"},"evidence":null,"causes":null}`},
		{"postgres, its fact last", Attempt{Outcome: AuthFailed, PID: 7,
			Facts: &Facts{ElapsedMS: 3, App: []proto.Fact{{Key: "sqlstate", Value: "28P01"}}},
			App:   &App{Protocol: "postgres", Info: &postgres.Info{User: "u", SQLState: "28P01", Identifiers: []string{"u"}}}},
			`{"client":"","server":"","outcome":"auth_failed","reason":"","facts":{"elapsed_ms":3,"sqlstate":"28P01"},"syn_count":0,"retransmits":0,"rtt_ms":null,"greeting_delay_ms":null,"duration_ms":0,"start":"0001-01-01T00:00:00Z","events":null,"postgres":{"user":"u","sqlstate":"28P01"},"evidence":null,"causes":null,"pid":7}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(&c.a)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != c.want {
				t.Errorf("got\n%s\nwant\n%s", b, c.want)
			}
		})
	}
}

// insertMember finds the top-level member, not one of a nested object or
// a string's text.
func TestInsertMember(t *testing.T) {
	after := map[string]bool{"b": true}
	for _, c := range []struct{ in, want string }{
		{`{"a":1,"b":2}`, `{"a":1,"x":0,"b":2}`},
		{`{"a":{"b":1},"s":"\",\"b\":","b":2}`, `{"a":{"b":1},"s":"\",\"b\":","x":0,"b":2}`},
		{`{"a":1}`, `{"a":1,"x":0}`},
		{`{}`, `{"x":0}`},
		{`{"a":["b",{"b":3}]}`, `{"a":["b",{"b":3}],"x":0}`},
	} {
		if got := string(insertMember([]byte(c.in), after, []byte(`"x":0`))); got != c.want {
			t.Errorf("insertMember(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}
