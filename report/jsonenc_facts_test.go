package report

import (
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/proto"
)

// TestFastJSONFacts checks the hand-written encoding of an attempt's reason,
// facts and event kinds against encoding/json where fields are left out
// (omitempty): empty facts, facts with some fields, events without a
// direction. (TestFastJSONMatchesEncodingJSON covers every field set.)
func TestFastJSONFacts(t *testing.T) {
	if !fastJSON {
		t.Skip("the model does not match jsonenc.go: TestFastJSONMatchesEncodingJSON says how")
	}
	facts := []*analyze.Facts{
		nil,
		{},
		{ElapsedMS: 3000.5, SYNs: 3},
		{ClosedBy: "server", Close: "RST", ServerBytes: 7, Banner: "SSH-2.0-x <&>"},
		{ICMP: &analyze.ICMPFact{From: "2001:db8::1", V6: true, Type: 1, Code: 0}, Errno: "EHOSTUNREACH"},
		{App: []proto.Fact{{Key: "mysql_error", Value: uint16(1040)}}, TLSAlert: "server handshake_failure", LostAt: 96, WouldBe: analyze.ReasonSYNUnanswered},
		{KernelDrop: &analyze.DropFact{Reason: "NETFILTER_DROP", Packet: "SYN", Received: true, Dir: analyze.DirC2S}},
		{KernelDrop: &analyze.DropFact{Reason: "NO_SOCKET", Packet: "SYN-ACK", Location: "tcp_v4_rcv", Dir: analyze.DirS2C}, Accept: &analyze.AcceptFact{}},
		{Accept: &analyze.AcceptFact{PID: 812}},
		{Accept: &analyze.AcceptFact{By: "mariadbd[812]", PID: 812, QueuedMS: new(float64)}},
		{Accept: &analyze.AcceptFact{QueuedMS: new(float64), HandshakeMS: new(float64)}},
		{Listeners: &analyze.ListenerFact{Port: 3306, Listeners: []analyze.ListenerEntry{}}},
		{Listeners: &analyze.ListenerFact{Port: 3306, Listeners: []analyze.ListenerEntry{
			{Addr: "127.0.0.1:3306", Process: "mariadbd[812]", PID: 812, AcceptQueue: 0, Backlog: 80, UnixSockets: []string{"/run/mysqld/mysqld.sock"}},
			{Addr: "[::]:3306", Serves: true, AcceptQueue: 80, Backlog: 80}}}},
	}
	for i, f := range facts {
		c := &analyze.Connect{Outcome: analyze.Timeout, Reason: analyze.ReasonSYNUnanswered, Attempts: []*analyze.Attempt{{
			Outcome: analyze.Timeout, Reason: analyze.ReasonSYNUnanswered, Facts: f,
			Events: []analyze.Event{{Kind: analyze.EvSYN, Dir: analyze.DirC2S, What: "SYN"}, {Kind: analyze.EvDNSQuery, What: "PTR"}},
		}}}
		got, want := connectLineBothWays(t, jsonConnect{Kind: "connect", Number: i + 1, Connect: c}, c)
		if string(got) != string(want)+"\n" {
			t.Errorf("facts %d:\nencoding/json: %s\nappendConnect: %s", i, want, got)
		}
	}
}
