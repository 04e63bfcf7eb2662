package analyze

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/connscope/connscope/analyze/dns"
)

// The DNS tracker is a tracker of its own: built and driven without an
// Engine, it returns what it found (a new query, the query an answer
// answered, the failed lookups a sweep settles) and reports nothing.
func TestDNSTrackerWithoutEngine(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	client, server := ap("10.0.0.5:40000"), ap("10.0.0.53:53")
	question := func(name string, qtype uint16) dns.Question {
		return dns.Question{Name: name, Type: qtype, Class: 1}
	}
	answer := func(id uint16, name string, qtype uint16, rcode uint8, addrs ...netip.Addr) *dns.Message {
		m := &dns.Message{ID: id, Response: true, Rcode: rcode, Questions: []dns.Question{question(name, qtype)}, AnswerCount: len(addrs)}
		for _, a := range addrs {
			m.Answers = append(m.Answers, dns.Record{Name: name, Type: qtype, Class: 1, Addr: a})
		}
		return m
	}

	var d dnsTracker
	d.init()
	a := d.query(client, server, 1, question("db.lab.test", dns.TypeA), at(0), false, nil)
	if a == nil || a.name != "db.lab.test" || a.qtype != dns.TypeA {
		t.Fatalf("query: got %+v, want the new A query", a)
	}
	if again := d.query(client, server, 2, question("db.lab.test", dns.TypeA), at(5), false, nil); again != nil || a.retries != 1 {
		t.Errorf("the same question again: got %v (retries %d), want nil and 1 retry", again, a.retries)
	}
	aaaa := d.query(client, server, 3, question("db.lab.test", dns.TypeAAAA), at(1), false, nil)
	if got := d.response(client, server, answer(9, "db.lab.test", dns.TypeA, dns.RcodeNXDomain), at(8), false); got != nil {
		t.Errorf("an answer with an ID never asked answered %+v, want nil", got)
	}
	if got := d.response(client, server, answer(2, "db.lab.test", dns.TypeA, dns.RcodeNXDomain), at(8), false); got != a || !a.answered {
		t.Errorf("the A answer (the retry's ID) answered %p, want the A query %p", got, a)
	}
	if got := d.response(client, server, answer(3, "db.lab.test", dns.TypeAAAA, dns.RcodeNXDomain), at(9), false); got != aaaa {
		t.Errorf("the AAAA answer answered %p, want the AAAA query %p", got, aaaa)
	}
	if f := d.sweep(at(1000), false); len(f) != 0 {
		t.Errorf("sweep 1 s after the answers (settling takes %s): %d failed lookups, want none yet", dnsSettle, len(f))
	}
	f := d.sweep(at(9+int(dnsSettle/time.Millisecond)+1), false)
	if len(f) != 1 {
		t.Fatalf("sweep after settling: %d failed lookups, want 1", len(f))
	}
	if f[0].name != "db.lab.test" || !f[0].start.Equal(at(0)) || len(f[0].queries) != 2 || f[0].queries[0] != a || f[0].queries[1] != aaaa {
		t.Errorf("failed lookup %+v, want db.lab.test from +0 ms with the A then the AAAA query", f[0])
	}
	if a.conn != nil || aaaa.conn != nil {
		t.Error("the tracker tied its queries to a connect: that is the engine's (unresolvedConnect)")
	}
	if f := d.sweep(at(10000), false); len(f) != 0 {
		t.Errorf("a second sweep found the same lookup again: %d", len(f))
	}

	// A lookup that succeeded is no finding; its answer is kept for the
	// attempts that follow it.
	ok := d.query(client, server, 4, question("web.lab.test", dns.TypeA), at(20000), false, nil)
	d.response(client, server, answer(4, "web.lab.test", dns.TypeA, dns.RcodeSuccess, ip("10.0.0.80")), at(20001), false)
	if f := d.sweep(at(30000), false); len(f) != 0 {
		t.Errorf("a successful lookup was returned as failed: %+v", f)
	}
	if got := d.byAddr[ip("10.0.0.80")]; len(got) != 1 || got[0] != ok {
		t.Errorf("the answer's address is not indexed for lookupFor: %v", got)
	}
	// A connect claims it: the tracker settles it and leaves tying it to
	// the connect to the engine.
	if got := d.claim(ok, at(20002)); len(got) != 1 || got[0] != ok || !ok.settled || ok.conn != nil {
		t.Errorf("claim returned %v (settled %v, conn %p), want the lookup, settled, tied to nothing", got, ok.settled, ok.conn)
	}
}

// Grouping decides nothing: when an attempt continues a connect whose
// previous attempt is still waiting (the client moved on to the next
// address), group returns that attempt and leaves it undecided; the
// engine's assignConnect then decides it, and no connect is reported
// from inside grouping.
func TestGroupReturnsTheAttemptMovedOnFrom(t *testing.T) {
	s := newSim(t, Options{})
	s.lookup(0, 1, "10.0.0.5:40000", "10.0.0.53:53", 7, "db.lab.test", dns.TypeA, dns.RcodeSuccess, ip("10.0.0.10"), ip("10.0.0.11"))
	first := s.conn("10.0.0.5:41000", "10.0.0.10:3306")
	first.SYN(2)
	e := s.e
	prev := e.flows.get(mustKey(first.c, first.srv))
	if prev == nil || prev.conn == nil {
		t.Fatal("the first SYN started no attempt in a connect")
	}
	next := e.newAttempt(ap("10.0.0.5:41001"), ap("10.0.0.11:3306"), s.at(1500))
	e.now, e.nowNS = next.start, unixNanos(next.start)
	c, created, moved := e.group(next, e.dns.lookupFor(next))
	if moved != prev || created || c != prev.conn {
		t.Fatalf("group returned %v, want the first attempt (the client moved on from it)", moved)
	}
	if prev.final || len(e.decided) != 0 || len(e.ready) != 0 || prev.conn.reported {
		t.Errorf("group decided or reported: final %v, decided %d, ready %d, reported %v", prev.final, len(e.decided), len(e.ready), prev.conn.reported)
	}
	if next.conn != prev.conn || len(prev.conn.attempts) != 2 {
		t.Errorf("the second attempt is not in the first one's connect (%d attempts)", len(prev.conn.attempts))
	}
	// The coordinator applies it.
	e.gaveUpFor(moved, next, next.start)
	if !prev.final || prev.reason != ReasonSYNUnanswered {
		t.Errorf("after gaveUpFor: final %v, reason %v; want syn_unanswered", prev.final, prev.reason)
	}
	if len(e.ready) != 0 || prev.conn.reported {
		t.Error("deciding reported the connect: only reportDecided and sweep report")
	}
	// An attempt that starts a connect of its own implies nothing.
	other := e.newAttempt(ap("10.0.0.5:41002"), ap("10.0.0.99:3306"), s.at(1600))
	if c, created, moved := e.group(other, nil); moved != nil || !created || other.conn != c {
		t.Errorf("a new connect's attempt: created %v, moved on from %v; want a new connect and nil", created, moved)
	}
	// Deciding its only attempt completes that connect, but decide only
	// notes it; reportDecided (after the event) reports it.
	e.decide(other, ReasonRSTFromServer, s.at(1601))
	if len(e.ready) != 0 || other.conn.reported {
		t.Fatal("decide reported the connect itself")
	}
	e.now, e.nowNS = s.at(1700), unixNanos(s.at(1700))
	e.reportDecided()
	if len(e.ready) != 1 || !other.conn.reported || e.ready[0].Attempts[0].Server != "10.0.0.99:3306" {
		t.Errorf("reportDecided reported %d connects (reported %v), want the decided one", len(e.ready), other.conn.reported)
	}
}

func mustKey(client, server netip.AddrPort) flowKey {
	k, _ := makeKey(client.Addr(), client.Port(), server.Addr(), server.Port())
	return k
}

// TestLookupFor: which answer explains an attempt's server address — the
// latest from its own client, else the latest from its other-family
// address or from a loopback stub resolver; never one answered after the
// attempt started, older than dnsMaxAge, or of another process.
func TestLookupFor(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	type q struct {
		client string
		pid    uint32
		ms     int // answered at
	}
	tests := []struct {
		name    string
		queries []q // oldest first
		client  string
		pid     uint32
		start   int
		want    int // index into queries, -1: none
	}{
		{"own client", []q{{"10.0.0.5:5000", 0, 0}}, "10.0.0.5:40000", 0, 10, 0},
		{"latest of own client", []q{{"10.0.0.5:5000", 0, 0}, {"10.0.0.5:5001", 0, 5}}, "10.0.0.5:40000", 0, 10, 1},
		{"own client over a later fallback", []q{{"10.0.0.5:5000", 0, 0}, {"[fd00::5]:5000", 0, 5}}, "10.0.0.5:40000", 0, 10, 0},
		{"other family", []q{{"[fd00::5]:5000", 0, 0}}, "10.0.0.5:40000", 0, 10, 0},
		{"latest fallback", []q{{"[fd00::5]:5000", 0, 0}, {"127.0.0.53:5000", 0, 5}}, "10.0.0.5:40000", 0, 10, 1},
		{"loopback stub resolver", []q{{"127.0.0.53:5000", 0, 0}}, "10.0.0.5:40000", 0, 10, 0},
		{"loopback client is not explained by a loopback query of another address", []q{{"127.0.0.53:5000", 0, 0}}, "127.0.0.1:40000", 0, 10, -1},
		{"another client of the same family", []q{{"10.0.0.6:5000", 0, 0}}, "10.0.0.5:40000", 0, 10, -1},
		{"another client, then own client", []q{{"10.0.0.5:5000", 0, 0}, {"10.0.0.6:5000", 0, 5}}, "10.0.0.5:40000", 0, 10, 0},
		{"answered after the start", []q{{"10.0.0.5:5000", 0, 20}}, "10.0.0.5:40000", 0, 10, -1},
		{"too old", []q{{"10.0.0.5:5000", 0, 0}}, "10.0.0.5:40000", 0, int(dnsMaxAge/time.Millisecond) + 1, -1},
		{"just old enough", []q{{"10.0.0.5:5000", 0, 0}}, "10.0.0.5:40000", 0, int(dnsMaxAge / time.Millisecond), 0},
		{"another process", []q{{"10.0.0.5:5000", 7, 0}}, "10.0.0.5:40000", 8, 10, -1},
		{"another process, then the fallback of this one", []q{{"[fd00::5]:5000", 8, 0}, {"10.0.0.5:5000", 7, 5}}, "10.0.0.5:40000", 8, 10, 0},
		{"unknown process matches", []q{{"10.0.0.5:5000", 0, 0}}, "10.0.0.5:40000", 8, 10, 0},
	}
	server := ip("10.0.0.10")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d dnsTracker
			d.init()
			var qs []*dnsQuery
			for _, x := range tc.queries {
				dq := &dnsQuery{client: ap(x.client), pid: x.pid, answered: true, answeredAt: at(x.ms), addrs: []netip.Addr{server}}
				qs = append(qs, dq)
				d.byAddr[server] = append(d.byAddr[server], dq)
			}
			a := &attempt{client: ap(tc.client), server: netip.AddrPortFrom(server, 3306), pid: tc.pid, start: at(tc.start)}
			got := d.lookupFor(a)
			var want *dnsQuery
			if tc.want >= 0 {
				want = qs[tc.want]
			}
			if got != want {
				t.Errorf("lookupFor = %+v, want query %d", got, tc.want)
			}
		})
	}
}

// TestDNSAnswersShared: an answer's text is made once — the address's
// text the engine's names give, shared by the query and the lookup of
// each connect rendered from it (which cannot append into the query's
// list) — and a query without answers renders none, not nil (JSON []). A
// connect's lookups are claimed into the array given (claimInto: a spare
// connect's).
func TestDNSAnswersShared(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	client, server := ap("10.0.0.5:40000"), ap("10.0.0.53:53")
	var names endpointNames
	d := dnsTracker{names: &names}
	d.init()
	q := d.query(client, server, 7, dns.Question{Name: "db.lab.test", Type: dns.TypeA, Class: 1}, t0, false, nil)
	m := &dns.Message{ID: 7, Response: true, Questions: []dns.Question{{Name: "db.lab.test", Type: dns.TypeA, Class: 1}}, AnswerCount: 3,
		Answers: []dns.Record{{Name: "db.lab.test", Type: dns.TypeA, Class: 1, Addr: ip("10.0.0.80")}, {Name: "db.lab.test", Type: dns.TypeA, Class: 1, Addr: ip("10.0.0.81")},
			{Name: "db.lab.test", Type: dns.TypeA, Class: 1, Addr: ip("10.0.0.82")}}}
	if d.response(client, server, m, t0.Add(time.Millisecond), false) != q {
		t.Fatal("the answer answered no query")
	}
	if want := names.addr(ip("10.0.0.80")); len(q.answers) != 3 || unsafe.StringData(q.answers[0]) != unsafe.StringData(want) || q.answers[1] != "10.0.0.81" {
		t.Errorf("answers %q: not the names' text of the addresses", q.answers)
	}
	out := q.render(&names)
	if len(out.Answers) != 3 || &out.Answers[0] != &q.answers[0] {
		t.Errorf("rendered answers %q: a copy of the query's", out.Answers)
	}
	_ = append(out.Answers, "10.0.0.99")
	if len(q.answers) != 3 || cap(out.Answers) != 3 {
		t.Errorf("appending to a rendered lookup's answers reaches the query's (cap %d)", cap(out.Answers))
	}
	empty := d.query(client, server, 8, dns.Question{Name: "none.lab.test", Type: dns.TypeA, Class: 1}, t0, false, nil)
	if got := empty.render(&names).Answers; got == nil || len(got) != 0 {
		t.Errorf("a query without answers renders %#v, want an empty list", got)
	}
	room := make([]*dnsQuery, 0, 2)
	if got := d.claimInto(q, t0.Add(2*time.Millisecond), room); len(got) != 1 || got[0] != q || &got[0] != &room[:1][0] {
		t.Errorf("claimInto: %v, not in the array given", got)
	}
}
