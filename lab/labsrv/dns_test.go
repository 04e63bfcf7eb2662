package main

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestPTRName(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.11", "11.2.0.192.in-addr.arpa."},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."},
	} {
		if got := ptrName(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("ptrName(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

func query(t *testing.T, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestAnswer(t *testing.T) {
	zone := &dnsZone{
		domain:    "slow.connscope.test.",
		late:      map[string]netip.Addr{"late.slow.connscope.test.": netip.MustParseAddr("198.51.100.10")},
		lateDelay: 1500 * time.Millisecond,
		never:     map[string]bool{"never.slow.connscope.test.": true, "12.2.0.192.in-addr.arpa.": true},
		ptrSlow:   map[string]dnsmessage.Name{"11.2.0.192.in-addr.arpa.": dnsmessage.MustNewName("ptr-slow.client.connscope.test.")},
		hosts:     map[string]netip.Addr{"ptr-slow.client.connscope.test.": netip.MustParseAddr("192.0.2.11")},
		ptrDelay:  2 * time.Second,
	}
	for _, tc := range []struct {
		name    string
		typ     dnsmessage.Type
		silent  bool
		delay   time.Duration
		rcode   dnsmessage.RCode
		answers int
	}{
		{"never.slow.connscope.test.", dnsmessage.TypeA, true, 0, 0, 0},
		{"12.2.0.192.in-addr.arpa.", dnsmessage.TypePTR, true, 0, 0, 0},
		{"Late.Slow.Connscope.Test.", dnsmessage.TypeA, false, 1500 * time.Millisecond, dnsmessage.RCodeSuccess, 1},
		{"late.slow.connscope.test.", dnsmessage.TypeAAAA, false, 1500 * time.Millisecond, dnsmessage.RCodeSuccess, 0},
		{"11.2.0.192.in-addr.arpa.", dnsmessage.TypePTR, false, 2 * time.Second, dnsmessage.RCodeSuccess, 1},
		{"ptr-slow.client.connscope.test.", dnsmessage.TypeA, false, 0, dnsmessage.RCodeSuccess, 1},
		{"ptr-slow.client.connscope.test.", dnsmessage.TypeAAAA, false, 0, dnsmessage.RCodeSuccess, 0},
		{"other.slow.connscope.test.", dnsmessage.TypeA, false, 0, dnsmessage.RCodeNameError, 0},
		{"10.2.0.192.in-addr.arpa.", dnsmessage.TypePTR, false, 0, dnsmessage.RCodeNameError, 0},
		{"example.org.", dnsmessage.TypeA, false, 0, dnsmessage.RCodeRefused, 0},
	} {
		reply, delay, what := zone.answer(query(t, tc.name, tc.typ))
		if tc.silent {
			if reply != nil {
				t.Errorf("%s %s: answered, want silence (%s)", tc.typ, tc.name, what)
			}
			continue
		}
		if reply == nil {
			t.Errorf("%s %s: silent, want an answer (%s)", tc.typ, tc.name, what)
			continue
		}
		var p dnsmessage.Parser
		hdr, err := p.Start(reply)
		if err != nil {
			t.Fatalf("%s %s: reply does not parse: %v", tc.typ, tc.name, err)
		}
		p.SkipAllQuestions()
		answers, _ := p.AllAnswers()
		if hdr.ID != 0x1234 || !hdr.Response || hdr.RCode != tc.rcode || len(answers) != tc.answers || delay != tc.delay {
			t.Errorf("%s %s: id %#x response %v rcode %v, %d answers, delay %v; want rcode %v, %d answers, delay %v",
				tc.typ, tc.name, hdr.ID, hdr.Response, hdr.RCode, len(answers), delay, tc.rcode, tc.answers, tc.delay)
		}
	}
	if reply, _, _ := zone.answer([]byte{1, 2, 3}); reply != nil {
		t.Error("a truncated query got an answer")
	}
}
