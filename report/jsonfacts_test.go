package report

import (
	"encoding/json"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// The facts' rarer objects are written as encoding/json writes them, with
// their omitempty members both set and left out (fullConnect sets them
// all; the lab captures have few of them).
func TestFactObjectsMatchEncodingJSON(t *testing.T) {
	acked := 12.5
	for _, f := range []analyze.Facts{
		{SoftErrors: []analyze.SoftErrorFact{{SYN: 1, AtMS: 1000.25}}},
		{SoftErrors: []analyze.SoftErrorFact{{SYN: 1, AtMS: 1000.25}, {SYN: 2, AtMS: 3000.000001}}},
		{Cut: &analyze.CutFact{From: "client", AtMS: 2001.471, Kept: 184, Len: 213}},
		{Cut: &analyze.CutFact{From: `"<&>"`}},
		{Slow: []analyze.SlowFact{{Part: "server", Step: "answer", MS: 1500}}},
		{Slow: []analyze.SlowFact{{Part: "network", Step: "handshake", MS: 0.2}, {Part: "server", Step: "answer", MS: 1500, AckedMS: &acked}}},
		{Lost: &analyze.LostFact{}},
		{Lost: &analyze.LostFact{KernelEvents: 3}},
		{Lost: &analyze.LostFact{Packets: 4}},
		{Lost: &analyze.LostFact{LateEvents: 5}},
		{Lost: &analyze.LostFact{KernelEvents: 1, Packets: 2, LateEvents: 3}},
		{Lost: &analyze.LostFact{Packets: 2, LateEvents: 3}},
		{RSTSent: &analyze.RSTFact{From: "server"}},
		{RSTSent: &analyze.RSTFact{From: "server", Reason: "NO_SOCKET"}},
		{RSTSent: &analyze.RSTFact{From: "client", Answers: "SYN"}},
		{RSTSent: &analyze.RSTFact{From: "client", Reason: "TCP_ABORT_ON_CLOSE", Answers: "ACK"}},
	} {
		want, err := json.Marshal(&f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendFacts(nil, &f); string(got) != string(want) {
			t.Errorf("appendFacts:    %s\nencoding/json: %s", got, want)
		}
	}
}
