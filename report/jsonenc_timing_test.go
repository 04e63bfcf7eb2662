package report

import (
	"testing"

	"github.com/connscope/connscope/analyze"
)

// TestFastJSONTiming checks the hand-written encoding of the client-first
// timings and the slow part against encoding/json, with each left out
// (nil) and set.
func TestFastJSONTiming(t *testing.T) {
	if !fastJSON {
		t.Fatal("the model does not match jsonenc.go: TestFastJSONMatchesEncodingJSON says how")
	}
	f := func(v float64) *float64 { return &v }
	var loginOK analyze.Reason // a protocol plug-in's reason: by its id
	if err := loginOK.UnmarshalText([]byte("mysql.login_ok")); err != nil {
		t.Fatal(err)
	}
	cases := []*analyze.Attempt{
		{Outcome: analyze.OK, Reason: analyze.ReasonServerAnswered, RTTMS: f(0.2)},
		{Outcome: analyze.OK, Reason: analyze.ReasonServerAnswered, RTTMS: f(0.2), ClientFirstByteMS: f(1350.5), ServerResponseMS: f(60.25),
			Slow: &analyze.Slow{Part: analyze.SlowPartClient, MS: 1350.5}},
		{Outcome: analyze.NoGreeting, Reason: analyze.ReasonRequestUnanswered, ClientFirstByteMS: f(0)},
		{Outcome: analyze.OK, Reason: loginOK, GreetingDelayMS: f(900), Slow: &analyze.Slow{Part: analyze.SlowPartServer, MS: 900}},
	}
	for i, a := range cases {
		c := &analyze.Connect{Outcome: a.Outcome, Reason: a.Reason, Attempts: []*analyze.Attempt{a}}
		got, want := connectLineBothWays(t, jsonConnect{Kind: "connect", Number: i + 1, Connect: c}, c)
		if string(got) != string(want)+"\n" {
			t.Errorf("case %d:\nencoding/json: %s\nappendConnect: %s", i, want, got)
		}
	}
}
