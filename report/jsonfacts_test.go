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
		{KernelDrop: &analyze.DropFact{Reason: "NO_SOCKET", Packet: "SYN", Received: true, Dir: analyze.DirC2S}},
		{KernelDrop: &analyze.DropFact{Reason: "NETFILTER_DROP", Packet: "ICMP error", Location: "nft_do_chain", Dir: analyze.DirS2C}},
		{Accept: &analyze.AcceptFact{}},
		{Accept: &analyze.AcceptFact{By: "mariadbd[812]", PID: 812}},
		{Accept: &analyze.AcceptFact{QueuedMS: &acked}},
		{Accept: &analyze.AcceptFact{HandshakeMS: &acked, SYNACKRetransmits: 2}},
		{Accept: &analyze.AcceptFact{By: `"<&>"[1]`, PID: 1, QueuedMS: &acked, HandshakeMS: &acked, SYNACKRetransmits: 1, ACKDropped: "TCP_LISTEN_OVERFLOW"}},
		{KernelDrop: &analyze.DropFact{Reason: "NO_SOCKET", Packet: "SYN", Dir: analyze.DirC2S}, Accept: &analyze.AcceptFact{ACKDropped: "TCP_LISTEN_OVERFLOW"}, RSTSent: &analyze.RSTFact{From: "server"}},
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

// A connect's evidence and causes copied from its attempt's, where the
// line has them already, only when they are the attempt's lists
// themselves: lists of the same length elsewhere in memory, a part of
// the attempt's list, or a longer one are written on their own.
func TestConnectListsSharedWithAttempt(t *testing.T) {
	ev := []string{"evidence <1>", "evidence 2"}
	causes := []string{"cause \"1\""}
	for _, tc := range []struct{ evidence, causes []string }{
		{ev, causes},
		{[]string{"other <1>", "other 2"}, []string{"other cause"}},
		{ev[:1], causes[:0]},
		{ev[1:], nil},
		{append(ev[:2:2], "more"), append(causes[:1:1], "more")},
	} {
		a := &analyze.Attempt{Client: "10.0.0.1:5", Server: "10.0.0.2:3306", Evidence: ev, Causes: causes}
		c := &analyze.Connect{Client: "10.0.0.1", Port: 3306, Attempts: []*analyze.Attempt{a, a}, Evidence: tc.evidence, Causes: tc.causes}
		got, want := connectLineBothWays(t, jsonConnect{Kind: "connect", Number: 1, Connect: c}, c)
		if string(got) != string(want)+"\n" {
			t.Errorf("evidence %q, causes %q:\nappendConnectLine: %sencoding/json:     %s", tc.evidence, tc.causes, got, want)
		}
	}
}
