package analyze

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/proto"
)

// The words appended in one buffer (syns, the unanswered SYNs' evidence,
// the dropped causes, the addresses tried, the untried addresses' causes)
// are the sentences their templates say, built here part by part as
// strings.
func TestAppendedWords(t *testing.T) {
	ms := func(v float64) *float64 { return &v }
	for _, ended := range []string{"", "next_address", "socket_close", "no_retransmit"} {
		for _, syns := range []int{1, 2, 3, 12} {
			for _, span := range []*float64{nil, ms(3000.2)} {
				for _, last := range []*float64{nil, ms(0.25)} {
					f := &Facts{SYNs: syns, SYNSpanMS: span, Ended: ended, ElapsedMS: 1023.5, NextAddress: "10.2.0.5:3306",
						SinceFirstSYNMS: ms(2000), RetransmitDueMS: ms(6000), SinceLastSYNMS: last, Errno: "ETIMEDOUT"}
					at := &Attempt{Server: "10.2.0.66:3306", Client: "10.1.0.9:40000", Reason: ReasonSYNUnanswered, Outcome: Timeout, Facts: f}
					w := newWordCtx(at, f)
					synsOf := func(span bool) string {
						s := plural(syns, "SYN", "SYNs")
						if span && syns > 1 && f.SYNSpanMS != nil {
							s += " over " + d(f.SYNSpanMS)
						}
						return s
					}
					var want string
					switch ended {
					case "next_address":
						want = synsOf(false) + ", no reply; the client gave up after " + proto.MS(f.ElapsedMS) + " and tried the next address (" + f.NextAddress + ")"
					case "socket_close":
						want = synsOf(true) + ", no reply; the client closed the socket after " + d(f.SinceFirstSYNMS)
					case "no_retransmit":
						want = synsOf(true) + ", no reply; no further SYN by +" + d(f.RetransmitDueMS) + ", when the next retransmit was due at the latest: the client gave up"
					default:
						want = synsOf(true) + ", no reply; the capture ends there"
						if f.SinceLastSYNMS != nil {
							want = synsOf(true) + ", no reply; the capture ended " + d(f.SinceLastSYNMS) + " after the last one"
						}
					}
					if got := reasonWords[ReasonSYNUnanswered].evidence(w); len(got) != 1 || got[0] != want {
						t.Errorf("%s, %d SYNs: evidence %q, want %q", ended, syns, got, want)
					}
					if got, want := w.syns(true), synsOf(true); got != want {
						t.Errorf("syns(true) = %q, want %q", got, want)
					}
					wantCauses := []string{"Packets to " + at.Server + " are silently dropped: a firewall DROP rule (on the server, a cloud security group, or in between), or the host is down/does not exist (no one answers, not even with an ICMP error). Check the firewall rules for port 3306 and that the address is right.",
						"The kernel itself gave up after net.ipv4.tcp_syn_retries retransmissions (about 2 minutes by default); set a connect timeout in the client."}
					if got := droppedCauses(w); strings.Join(got, "|") != strings.Join(wantCauses, "|") {
						t.Errorf("dropped causes %q, want %q", got, wantCauses)
					}
				}
			}
		}
	}

	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		attempts []*Attempt
		untried  []string
	}{
		{"in order", []*Attempt{{Server: "[fd00:2::99]:3306", Outcome: Timeout, DurationMS: 3000.5, Start: t0},
			{Server: "10.2.0.1:3306", Outcome: OK, DurationMS: 1.25, Start: t0.Add(3001 * time.Millisecond)}}, nil},
		{"at once, one nil", []*Attempt{{Server: "[fd00:2::99]:3306", Outcome: Timeout, DurationMS: 3000, Start: t0}, nil,
			{Server: "10.2.0.1:3306", Outcome: Refused, DurationMS: 0.2, Start: t0.Add(time.Millisecond)}}, []string{"10.2.0.7", "10.2.0.8"}},
		{"six, one untried", []*Attempt{{Server: "10.2.0.1:1", Outcome: Timeout, DurationMS: 1}, {Server: "10.2.0.2:1", Outcome: NoGreeting, DurationMS: 2},
			{Server: "10.2.0.3:1", Outcome: Timeout, DurationMS: 3}, {Server: "10.2.0.4:1", Outcome: Timeout, DurationMS: 4},
			{Server: "10.2.0.5:1", Outcome: Timeout, DurationMS: 5}, {Server: "10.2.0.6:1", Outcome: Unreachable, DurationMS: 6}}, []string{"10.2.0.9"}},
	} {
		var steps []string
		for _, a := range tc.attempts {
			if a != nil {
				steps = append(steps, a.Server+" "+string(a.Outcome)+" after "+proto.MS(a.DurationMS))
			}
		}
		how := "tried in order"
		if overlapped(tc.attempts) {
			how = "tried at once (the attempts overlapped)"
		}
		want := strconv.Itoa(len(tc.attempts)) + " addresses " + how + ": " + strings.Join(steps, "; ")
		if ev, _ := addressesTried(tc.attempts); len(ev) != 1 || ev[0] != want {
			t.Errorf("%s: addresses tried %q, want %q", tc.name, ev, want)
		}
		if tc.untried == nil {
			continue
		}
		last := tc.attempts[len(tc.attempts)-1]
		how = map[Outcome]string{Refused: "was refused", Unreachable: "was unreachable"}[last.Outcome]
		want = fmt.Sprintf("The client stopped after the %s address (%s) %s; it had %s (%s) it never tried.",
			ordinal(len(tc.attempts)), strings.Split(last.Server, ":")[0], how, plural(len(tc.untried), "more address", "more addresses"), strings.Join(tc.untried, ", "))
		if got := untriedCauses(tc.attempts, tc.untried); len(got) != 2 || got[0] != want {
			t.Errorf("%s: untried causes %q, want %q first", tc.name, got, want)
		}
	}
}

// The answered SYN's words (an RST, an ICMP error) and the refused
// causes, appended in one buffer, are their templates built part by part.
func TestAppendedAnswerWords(t *testing.T) {
	ms := func(v float64) *float64 { return &v }
	for _, server := range []string{"10.2.0.5:3307", "[fd00:2::1]:3307", "10.2.0.5:80"} {
		for _, answered := range []int{1, 2, 4} {
			for _, reply := range []*float64{nil, ms(0.104), ms(1500)} {
				for _, local := range []bool{false, true} {
					ic := &ICMPFact{From: "10.9.9.9", Type: 3, Code: 13, Local: local}
					if server[0] == '[' {
						ic = &ICMPFact{From: "fd00:9::9", V6: true, Type: 1, Code: 4, Local: local}
					}
					f := &Facts{AnsweredSYN: answered, ReplyMS: reply, ICMP: ic}
					at := &Attempt{Server: server, Client: "10.1.0.9:40000", Reason: ReasonRSTFromServer, Outcome: Refused, Facts: f}
					w := newWordCtx(at, f)
					want := "SYN answered by RST from " + server + " after " + d(reply)
					if answered > 1 {
						want += " (SYN #" + strconv.Itoa(answered) + "; the earlier ones got no reply)"
					}
					if got := reasonWords[ReasonRSTFromServer].evidence(w); len(got) != 1 || got[0] != want {
						t.Errorf("RST evidence %q, want %q", got, want)
					}
					want = "SYN answered by " + w.icmpDesc() + " from " + ic.From + " after " + d(reply)
					if answered > 1 {
						want += " (SYN #" + strconv.Itoa(answered) + ")"
					}
					if local {
						want += "; generated by the client host itself (no ARP/NDP reply for the next hop)"
					}
					if got := icmpWords(w); len(got) != 1 || got[0] != want {
						t.Errorf("ICMP evidence %q, want %q", got, want)
					}
					want = "Nothing listens on port " + strconv.Itoa(int(w.port())) + " of " + w.addr() + ": the server"
					if got := refusedCauses(w); len(got) != 2 || !strings.HasPrefix(got[0], want) {
						t.Errorf("refused causes %q, want %q first", got, want)
					}
				}
			}
		}
	}
}

// A connect's untried addresses, appended in one buffer, are worded as
// its template says (one address or several, a long name).
func TestAppendedUntriedEvidence(t *testing.T) {
	for _, untried := range [][]string{{"10.2.0.2"}, {"10.2.0.2", "fd00:2::7"}, {"10.2.0.2", "10.2.0.3", "10.2.0.4", "10.2.0.5", "10.2.0.6", "10.2.0.7", "10.2.0.8", "10.2.0.9", "10.2.0.10"}} {
		for _, name := range []string{"db.lab", strings.Repeat("very-long-label.", 12) + "lab"} {
			c := &Connect{Name: name, Port: 3306, Untried: untried, Attempts: []*Attempt{
				{Server: "[fd00:2::99]:3306", Client: "[fd00:1::1]:40000", Reason: ReasonSYNUnanswered, Outcome: Timeout, Facts: &Facts{SYNs: 2}}}}
			Explain(c)
			want := fmt.Sprintf("%s also resolved to %s, never tried", name, strings.Join(untried, ", "))
			if len(c.Evidence) != 2 || c.Evidence[1] != want {
				t.Errorf("%s %v: evidence %q, want %q second", name, untried, c.Evidence, want)
			}
		}
	}
}

// The rejected, wrong-banner, silent and closed words appended in one
// buffer are their templates built part by part as strings.
func TestAppendedSilentAndBannerWords(t *testing.T) {
	ms := func(v float64) *float64 { return &v }
	for _, server := range []string{"10.2.0.5:3306", "[fd00:2::1]:3306"} {
		for _, from := range []string{"10.2.0.5", "fd00:2::1", "10.9.9.9"} {
			f := &Facts{ICMP: &ICMPFact{From: from, Type: 3, Code: 13}}
			w := newWordCtx(&Attempt{Server: server, Reason: ReasonICMPAdminProhibited, Facts: f}, f)
			who := from + " (a router or firewall on the path)"
			if from == w.addr() {
				who = "the server host " + from + " itself (a host with nothing listening answers with RST, so this is its firewall)"
			}
			want := "A firewall REJECTs the connection with an ICMP error: the answer came from " + who + ". Check its nft/iptables rules for port " + strconv.Itoa(int(w.port())) + " (`reject with icmp port-unreachable / admin-prohibited`)."
			if got := rejectCauses(w); len(got) != 1 || got[0] != want {
				t.Errorf("reject causes %q, want %q", got, want)
			}
		}
		for _, banner := range []string{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "\x00\xff\"quoted\"\t", strings.Repeat("x", 300)} {
			for _, expected := range []string{"", "MySQL"} {
				f := &Facts{Banner: banner, Expected: expected}
				w := newWordCtx(&Attempt{Server: server, Reason: ReasonClientSilentToBanner, Facts: f}, f)
				want := "the server at " + server + " spoke first with " + strconv.Quote(banner) + ", not a " + expected + " greeting"
				if got := wrongBannerWords(w); len(got) != 1 || got[0] != want {
					t.Errorf("wrong banner evidence %q, want %q", got, want)
				}
				service := "the expected service"
				if expected != "" {
					service = expected
				}
				want = "Something other than " + service + " listens on " + server + " (it sent " + strconv.Quote(banner) + "): the wrong port or host in the client's configuration, or a port forward/proxy pointing at the wrong service."
				if got := reasonWords[ReasonClientSilentToBanner].causes(w); len(got) != 1 || got[0] != want {
					t.Errorf("wrong banner causes %q, want %q", got, want)
				}
			}
		}
	}
	for _, ended := range []string{"", "client_close", "next_address"} {
		for _, since := range []*float64{nil, ms(10000.4)} {
			for _, request := range []*float64{nil, ms(0.5)} {
				f := &Facts{Ended: ended, ClientClose: "FIN", NextAddress: "10.2.0.6:3306", SinceHandshakeMS: since, ServerClose: "RST", SinceRequestMS: request}
				w := newWordCtx(&Attempt{Server: "10.2.0.5:3306", Facts: f}, f)
				var want string
				switch ended {
				case "client_close":
					want = "connected, but the server sent nothing; the client gave up (" + f.ClientClose + ") after " + d(f.SinceHandshakeMS)
				case "next_address":
					want = "connected, but the server sent nothing; the client moved on to " + f.NextAddress + " after " + d(f.SinceHandshakeMS)
				default:
					want = "connected, but the server sent nothing in " + d(f.SinceHandshakeMS)
				}
				if got := reasonWords[ReasonNoServerBytes].evidence(w); len(got) != 1 || got[0] != want {
					t.Errorf("no server bytes evidence %q, want %q", got, want)
				}
				want = "connected, then the server closed (" + f.ServerClose + ") " + d(f.SinceHandshakeMS) + " after the handshake without sending a greeting"
				if request != nil {
					want = "the server closed (" + f.ServerClose + ") " + d(f.SinceRequestMS) + " after the client's first bytes (" + d(f.SinceHandshakeMS) + " after the handshake) without answering"
				}
				if got := reasonWords[ReasonServerClosedSilent].evidence(w); len(got) != 1 || got[0] != want {
					t.Errorf("server closed silent evidence %q, want %q", got, want)
				}
			}
		}
	}
}

// A lookup's words appended in one buffer (describeQuery) are its
// template built part by part as strings, and so is the NXDOMAIN cause
// with the name quoted into it.
func TestAppendedQueryWords(t *testing.T) {
	ms := func(v float64) *float64 { return &v }
	reference := func(q *Query) string {
		s := q.Type + " " + q.Name
		switch {
		case q.LatencyMS == nil:
			s += " → no answer from " + q.Server
			if q.Retries > 0 {
				s += " (" + plural(q.Retries, "retry", "retries") + " over " + proto.Dur(q.retrySpan) + ")"
			}
			if q.Error != "" && q.Error != "no answer" {
				s += ": " + q.Error
			}
		case q.Rcode == "NOERROR" && len(q.Answers) == 0 && !q.cut:
			s += " → NOERROR, no records, from " + q.Server + " after " + proto.Dur(q.latency)
		default:
			s += " → " + q.Rcode + " from " + q.Server + " after " + proto.Dur(q.latency)
			if len(q.Answers) > 0 {
				s += " (" + strings.Join(q.Answers, ", ") + ")"
			}
			if q.cut {
				s += "; " + q.Error
			}
		}
		return s
	}
	for _, q := range []Query{
		{Type: "A", Name: "db.lab", Server: "10.0.0.53:53", Error: "no answer"},
		{Type: "AAAA", Name: "db.lab", Server: "10.0.0.53:53", Retries: 1, retrySpan: 5 * time.Second, Error: "no answer"},
		{Type: "A", Name: "db.lab", Server: "10.0.0.53:53", Retries: 3, retrySpan: 1500 * time.Millisecond, Error: "ICMP port unreachable (type 3 code 3) from 10.0.0.53"},
		{Type: "A", Name: "db.lab", Server: "10.0.0.53:53", Rcode: "NOERROR", LatencyMS: ms(0.4), latency: 400 * time.Microsecond},
		{Type: "A", Name: "db-old.shop.internal", Server: "10.0.0.53:53", Rcode: "NXDOMAIN", LatencyMS: ms(0.369), latency: 369 * time.Microsecond},
		{Type: "A", Name: "db.lab", Server: "[fd00::53]:53", Rcode: "NOERROR", Answers: []string{"10.2.0.2", "10.2.0.3"}, LatencyMS: ms(1200), latency: 1200 * time.Millisecond},
		{Type: "A", Name: "db.lab", Server: "10.0.0.53:53", Rcode: "NOERROR", cut: true, Error: "the capture cut this answer (snap length) before its records", LatencyMS: ms(2), latency: 2 * time.Millisecond},
		{Type: "AAAA", Name: strings.Repeat("long-label.", 20) + "lab", Server: "10.0.0.53:53", Rcode: "SERVFAIL", Answers: []string{"fd00:2::99"}, cut: true, Error: "the capture cut this answer (snap length): 1 of its 2 records decoded", LatencyMS: ms(0.1), latency: 100 * time.Microsecond},
	} {
		if got, want := describeQuery(&q), reference(&q); got != want {
			t.Errorf("query words %q, want %q", got, want)
		}
	}
	for _, name := range []string{"db-old.shop.internal", "we\"ird\x01name", strings.Repeat("x", 300)} {
		q := Query{Type: "A", Name: name, Server: "10.0.0.53:53", Rcode: "NXDOMAIN", LatencyMS: ms(0.3), latency: 300 * time.Microsecond}
		ev, causes := unresolvedWords(name, []Query{q, q})
		want := "The name " + strconv.Quote(name) + " does not exist in DNS (NXDOMAIN): check the host name in the client's configuration (typo, missing domain or search domain in /etc/resolv.conf) and the DNS zone."
		if len(ev) != 2 || ev[0] != reference(&q) || len(causes) != 1 || causes[0] != want {
			t.Errorf("unresolved %q: evidence %q, causes %q; want %q twice, %q", name, ev, causes, reference(&q), want)
		}
	}
}
