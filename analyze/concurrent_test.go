package analyze

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/event"
)

// TestConcurrentAttempts: a client that connects to several addresses of a
// name at once (Happy Eyeballs, connscope probe) keeps the earlier sockets
// open; the next attempt's SYN decides nothing about them. A client that
// walks its address list closes the previous socket first: the next SYN
// shows it gave up.
func TestConcurrentAttempts(t *testing.T) {
	v4 := ip("192.0.2.20")
	v6 := ip("2001:db8::20")
	login := func(k *conn, ms float64) {
		k.server(ms, mariadbGreeting())
		k.client(ms+1, handshakeResponse("app", defaultCaps))
		k.server(ms+2, okPacket(2))
	}
	tests := []struct {
		name   string
		script func(s *sim)
		// attempts in report order: outcome, and a text its evidence must
		// (want) or must not (absent) hold
		outcomes []Outcome
		want     []string
		absent   []string
		// sequential: the client walked its address list
		sequential bool
	}{
		{"parallel: IPv4 connected, its greeting after the IPv6 SYN", func(s *sim) {
			k4 := s.conn(cli, srv)
			k4.handshake(1, 0.1)
			k6 := s.conn(cli6, srv6)
			k6.SYN(1.2)
			login(k4, 1.5)
			k6.SYN(1001.2)
		}, []Outcome{OK, Timeout}, []string{"login OK", ""}, []string{"moved on", "tried the next address"}, false},
		{"Happy Eyeballs: IPv6 SYN, IPv4 250 ms later, IPv6 still retransmitting", func(s *sim) {
			k6 := s.conn(cli6, srv6)
			k6.SYN(1)
			k4 := s.conn(cli, srv)
			k4.handshake(251, 0.1)
			login(k4, 252)
			k6.SYN(1001)
		}, []Outcome{Timeout, OK}, []string{"2 SYNs", "login OK"}, []string{"tried the next address (192.0.2.20:3306)", "moved on"}, false},
		{"sequential: IPv6 given up after 3 s, then IPv4", func(s *sim) {
			k6 := s.conn(cli6, srv6)
			k6.SYN(1)
			k6.SYN(1001)
			k4 := s.conn(cli, srv)
			k4.handshake(3001, 0.1)
			login(k4, 3002)
		}, []Outcome{Timeout, OK}, []string{"the client gave up after 3.0 s and tried the next address (192.0.2.20:3306)", "login OK"}, []string{"", ""}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, v4)
			s.lookup(0.1, 0.5, "192.0.2.10:5353", dnsS, 2, "db.lab.test", dns.TypeAAAA, 0, v6)
			tc.script(s)
			s.udp(20000, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
			s.close()
			var as []*Attempt
			for _, c := range s.got {
				as = append(as, c.Attempts...)
			}
			if len(as) != len(tc.outcomes) {
				t.Fatalf("%d attempts, want %d\n%s", len(as), len(tc.outcomes), dumpConnects(s.got))
			}
			// Whichever address worked, the connect worked; overlapping
			// attempts were tried at once, not in order.
			if c := s.got[len(s.got)-1]; c.Outcome != OK || hasSubstring(c.Evidence, "tried in order") != tc.sequential {
				t.Errorf("connect %s, evidence %q", c.Outcome, c.Evidence)
			}
			for i, a := range as {
				ev := strings.Join(a.Evidence, "\n")
				if a.Outcome != tc.outcomes[i] || !strings.Contains(ev, tc.want[i]) || (tc.absent[i] != "" && strings.Contains(ev, tc.absent[i])) {
					t.Errorf("attempt %d (%s): %s %q, want %s with %q, without %q", i+1, a.Server, a.Outcome, a.Evidence, tc.outcomes[i], tc.want[i], tc.absent[i])
				}
			}
		})
	}
}

// TestProbeCaptures: captures of `connscope probe` recorded in the lab with
// `connscope run -w` (testdata/probe/README.md), which name the process.
// The probe without --user reads the greeting (or the answer to its
// SSLRequest) and closes: a fine connection phase. It connects to every
// address of a name at once: the IPv4 attempt is not decided by the IPv6
// one that started while it waited for the greeting.
func TestProbeCaptures(t *testing.T) {
	tests := []struct {
		file    string
		reasons []string
	}{
		{"probe-greeting-only.pcapng", []string{"mysql.client_closed_after_greeting"}},
		{"probe-pg-ssl-answer-only.pcapng", []string{"pg.client_closed_after_ssl_answer"}},
		{"probe-aaaa-blackhole.pcapng", []string{"mysql.client_closed_after_greeting", "tcp.syn_unanswered"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			cs, _ := analyzeFile(t, filepath.Join("..", "testdata", "probe", tc.file))
			var got []string
			for _, c := range cs {
				for _, a := range c.Attempts {
					got = append(got, a.Reason.String())
					if a.Comm != "connscope" {
						t.Errorf("attempt %s: process %q, want connscope (the capture names it)", a.Server, a.Comm)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.reasons, " ") {
				t.Fatalf("reasons %q, want %q\n%s", got, tc.reasons, dumpConnects(cs))
			}
		})
	}
}

// TestCloseWithoutLoginByClient: a client that hangs up after a greeting
// without TLS (or after PostgreSQL's 'N') failed for TLS when it is a client
// that logs in (or unknown: the lab's captures are real TLS failures), and
// is fine when it is a program known only to look at the server's answer.
func TestCloseWithoutLoginByClient(t *testing.T) {
	tests := []struct {
		file, comm, reason string
	}{
		{"tls-required-mariadb.any.pcap", "", "tls.not_offered"},
		{"tls-required-mariadb.any.pcap", "mariadb", "tls.not_offered"},
		{"tls-required-php.any.pcap", "php", "tls.not_offered"},
		{"tls-required-mariadb.any.pcap", "connscope", "mysql.client_closed_after_greeting"},
		{"tls-required-mariadb.any.pcap", "telnet", "mysql.client_closed_after_greeting"},
		{"pg-ssl-required-psql.any.pcap", "", "pg.ssl_refused"},
		{"pg-ssl-required-psql.any.pcap", "psql", "pg.ssl_refused"},
		{"pg-ssl-required-pdo-pgsql.any.pcap", "php", "pg.ssl_refused"},
		{"pg-ssl-required-psql.any.pcap", "connscope", "pg.client_closed_after_ssl_answer"},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.comm, func(t *testing.T) {
			path := filepath.Join(capturesDir, tc.file)
			r, err := capture.Open(path)
			if err != nil {
				t.Skipf("lab capture not recorded: %v", err)
			}
			defer r.Close()
			src := withProcess{Reader: r}
			if tc.comm != "" {
				src.proc = &event.Process{PID: 4242, TID: 4242, Comm: tc.comm, FD: 3}
			}
			var got []*Connect
			if _, err := RunSource(src, Options{OnConnect: func(c *Connect) { Explain(c); got = append(got, c) }}); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || len(got[0].Attempts) != 1 {
				t.Fatalf("want one attempt:\n%s", dumpConnects(got))
			}
			a := got[0].Attempts[0]
			if a.Reason.String() != tc.reason || a.Outcome != a.Reason.Outcome() {
				t.Fatalf("reason %s (%s), want %s\n%s", a.Reason, a.Outcome, tc.reason, dumpConnects(got))
			}
			if tc.comm == "" && !hasSubstring(a.Evidence, "does not name the client") && tc.reason == "tls.not_offered" {
				t.Errorf("evidence %q does not say the capture cannot tell a health check apart", a.Evidence)
			}
		})
	}
}

// TestResetAfterGreetingIsNotTLS: a client that resets the connection
// after the greeting left it unread (bash's /dev/tcp in the host-blocked
// volume capture): not a client deciding against a server without TLS,
// which reads the whole greeting and closes with a FIN (the tls-required
// captures above).
func TestResetAfterGreetingIsNotTLS(t *testing.T) {
	path := filepath.Join("..", "testdata", "volume", "host-blocked.any.pcap")
	r, err := capture.Open(path)
	if err != nil {
		t.Skipf("volume capture not recorded: %v", err)
	}
	defer r.Close()
	var got []*Connect
	if _, err := RunSource(r, Options{OnConnect: func(c *Connect) { Explain(c); got = append(got, c) }}); err != nil {
		t.Fatal(err)
	}
	resets := 0
	for i, c := range got {
		for _, a := range c.Attempts {
			if a.Reason.String() == "tls.not_offered" {
				t.Errorf("connect %d: tls.not_offered for a client that reset the connection\n%s", i+1, dumpConnects([]*Connect{c}))
			}
			if a.Reason.String() == "mysql.client_closed_after_greeting" {
				resets++
				if !hasSubstring(a.Evidence, "reset the connection (RST)") {
					t.Errorf("connect %d: evidence %q does not say the client reset it without reading the greeting", i+1, a.Evidence)
				}
			}
		}
	}
	if resets != 3 {
		t.Errorf("%d attempts closed by a reset after the greeting, want the capture's 3 aborted handshakes\n%s", resets, dumpConnects(got))
	}
}
