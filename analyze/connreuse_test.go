package analyze

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/event"
)

// addCaptureFeeds adds to feeds, under its file name, a feed of every lab
// capture into an engine.
func addCaptureFeeds(t *testing.T, feeds map[string]func(e *Engine)) {
	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.pcap*"))
	for _, f := range files {
		feeds[filepath.Base(f)] = func(e *Engine) {
			r, err := capture.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := e.feed(r); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// connectJSON returns what a handed-out connect says, worded, as JSON: two
// connects that say the same render the same.
func connectJSON(t *testing.T) func(c *Connect) string {
	return func(c *Connect) string {
		Explain(c)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

// connectHolders names what still holds connect c when it is made spare:
// the open and decided lists, an attempt still tracked, a DNS lookup the
// tracker keeps.
func connectHolders(e *Engine, c *connectState) []string {
	var held []string
	if slices.Contains(e.open, c) {
		held = append(held, "open")
	}
	if slices.Contains(e.waiting, c) || c.waiting {
		held = append(held, "waiting")
	}
	if slices.Contains(e.decided, c) {
		held = append(held, "decided")
	}
	for _, a := range e.tracked {
		if a.conn == c {
			held = append(held, "a tracked attempt")
		}
	}
	for _, a := range c.attempts {
		if a.conn == c {
			held = append(held, "its attempt")
		}
	}
	qs := slices.Concat(e.dns.unsettled, e.dns.aging, c.queries)
	for _, list := range e.dns.byClient {
		qs = append(qs, list...)
	}
	for _, q := range e.dns.pending {
		qs = append(qs, q)
	}
	for _, q := range qs {
		if q.conn == c {
			held = append(held, "lookup "+q.name)
		}
	}
	return held
}

// TestConnectReuse: a reported connect's memory serves a new connect only
// once nothing holds it (its attempts and lookups then read it as
// reported, through reportedConnect), and the connects reported are the
// same as when none is reused: over synthetic rounds of lookups (claimed,
// failed and unresolved, fallbacks to a second address) and connects of
// every outcome, and over every lab capture.
func TestConnectReuse(t *testing.T) {
	render := connectJSON(t)
	pkts, span := benchRound(t, 200, 2)
	feeds := map[string]func(e *Engine){
		"synthetic rounds": func(e *Engine) { feedRounds(e, pkts, span, 8, nil) },
	}
	// Lookups of two addresses each, a connect to the first refused (the
	// second left untried), one to the second that works after the first
	// timed out, and failed lookups no connect follows.
	lookups := func(s *sim) {
		for i := range 60 {
			t0 := float64(i) * 3000
			client := fmt.Sprintf("10.0.%d.5", i%3)
			name := fmt.Sprintf("db%d.lab.test", i)
			first, second := netip.AddrFrom4([4]byte{192, 0, 2, byte(2 * i)}), netip.AddrFrom4([4]byte{192, 0, 2, byte(2*i + 1)})
			switch i % 3 {
			case 0:
				s.lookup(t0, t0+1, client+":5353", "10.0.0.53:53", uint16(i), name, dns.TypeA, dns.RcodeSuccess, first, second)
				k := s.conn(fmt.Sprintf("%s:%d", client, 40000+i), first.String()+":3306")
				k.SYN(t0 + 2)
				k.refuse(t0 + 2.3)
			case 1:
				s.lookup(t0, t0+1, client+":5353", "10.0.0.53:53", uint16(i), name, dns.TypeA, dns.RcodeSuccess, first, second)
				k := s.conn(fmt.Sprintf("%s:%d", client, 40000+i), first.String()+":3306")
				k.SYN(t0 + 2)
				k2 := s.conn(fmt.Sprintf("%s:%d", client, 50000+i), second.String()+":3306")
				k2.handshake(t0+500, 0.2)
				k2.server(t0+501, mariadbGreeting())
				k2.clientFIN(t0 + 502)
			case 2:
				s.lookup(t0, t0+1, client+":5353", "10.0.0.53:53", uint16(i), name, dns.TypeA, dns.RcodeNXDomain)
			}
		}
	}
	feeds["lookups"] = func(e *Engine) {
		s := &sim{t: t, e: e, t0: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
		lookups(s)
	}
	addCaptureFeeds(t, feeds)
	for name, feed := range feeds {
		run := func(reuse bool) ([]string, int) {
			keepReported = !reuse
			spared := 0
			connSpareCheck = func(e *Engine, c *connectState) {
				spared++
				if held := connectHolders(e, c); len(held) > 0 {
					t.Fatalf("%s: connect %d made spare while held by %v", name, c.seq, held)
				}
			}
			defer func() { keepReported, connSpareCheck = false, nil }()
			var got []string
			e := NewEngine(Options{Recycle: true, OnConnect: func(c *Connect) { got = append(got, render(c)) }})
			feed(e)
			e.Close()
			return got, spared
		}
		reused, spared := run(true)
		fresh, none := run(false)
		if none != 0 {
			t.Fatalf("%s: %d connects made spare with reuse off", name, none)
		}
		if (name == "synthetic rounds" || name == "lookups") && spared < len(fresh)*8/10 {
			t.Errorf("%s: only %d of %d connects made spare", name, spared, len(fresh))
		}
		if !slices.Equal(reused, fresh) {
			for i := range min(len(reused), len(fresh)) {
				if reused[i] != fresh[i] {
					t.Fatalf("%s: connect %d differs with reuse:\n%s\nwithout:\n%s", name, i+1, reused[i], fresh[i])
				}
			}
			t.Fatalf("%s: %d connects with reuse, %d without", name, len(reused), len(fresh))
		}
	}
}

// TestOwnedDecisionsSurviveRecycle: a connect kept as Own copies it while
// the engine reuses the handed-out attempts' memory is worded (Explain,
// after the whole run) as the connect made without reuse: a protocol
// session's decision, which the words rest on, is the copy's own (the
// handed-out Attempt holds it in memory a later attempt reuses).
func TestOwnedDecisionsSurviveRecycle(t *testing.T) {
	pkts, span := benchRound(t, 100, 2)
	feeds := map[string]func(e *Engine){
		"synthetic rounds": func(e *Engine) {
			feedRounds(e, pkts, span, 4, func(p *event.Packet, r int) {
				// Each round's sessions slower: other delays in each
				// decision.
				p.Time = p.Time.Add(time.Duration(r*int(p.SrcPort%7)) * time.Millisecond)
			})
		},
	}
	addCaptureFeeds(t, feeds)
	decided := 0
	for name, feed := range feeds {
		var lists [2][]string
		for i, recycle := range []bool{false, true} {
			var kept []*Connect
			e := NewEngine(Options{Recycle: recycle, OnConnect: func(c *Connect) {
				if recycle {
					c = Own(c)
				}
				kept = append(kept, c)
			}})
			feed(e)
			e.Close()
			for _, c := range kept {
				Explain(c)
				b, err := json.Marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				lists[i] = append(lists[i], string(b))
				for _, a := range c.Attempts {
					if a.found != nil && !recycle {
						decided++
					}
				}
			}
		}
		if !slices.Equal(lists[0], lists[1]) {
			for i := range min(len(lists[0]), len(lists[1])) {
				if lists[0][i] != lists[1][i] {
					t.Fatalf("%s: connect %d kept with Own while the memory was reused:\n%s\nwithout reuse:\n%s", name, i+1, lists[1][i], lists[0][i])
				}
			}
			t.Fatalf("%s: %d connects with reuse, %d without", name, len(lists[1]), len(lists[0]))
		}
	}
	if decided < 20 {
		t.Fatalf("only %d attempts decided by a protocol session: the test does not cover them", decided)
	}
}

// feedRounds feeds the engine rounds copies of pkts, round r shifted by
// r spans in time and in client ports (shiftPacket), each packet changed
// by tweak when there is one.
func feedRounds(e *Engine, pkts []event.Packet, span time.Duration, rounds int, tweak func(p *event.Packet, r int)) {
	var p event.Packet
	for r := range rounds {
		for i := range pkts {
			shiftPacket(&p, &pkts[i], r, span)
			if tweak != nil {
				tweak(&p, r)
			}
			e.Packet(&p)
		}
	}
}
