package analyze

import (
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/event"
)

// checkWords asserts facts of causes, not their sentences: each word of
// want appears in some cause, no word of absent in any.
func checkWords(t *testing.T, causes []string, want, absent []string) {
	t.Helper()
	all := strings.Join(causes, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("causes lack %q:\n%s", w, all)
		}
	}
	for _, w := range absent {
		if strings.Contains(all, w) {
			t.Errorf("causes name %q:\n%s", w, all)
		}
	}
}

// TestConnCausesByProtocol: a connection-level reason gets the advice of
// the protocol the attempt was meant for (its server port, its client
// process, its unix socket path), and none when nothing says which.
func TestConnCausesByProtocol(t *testing.T) {
	mysqlWords := []string{"bind_address", "skip_networking", "MYSQLI_OPT_CONNECT_TIMEOUT", "--connect-timeout", "EINPROGRESS", "socket=", "skip_name_resolve", "back_log"}
	pgWords := []string{"listen_addresses", "PGCONNECT_TIMEOUT", "PDO::ATTR_TIMEOUT", "unix_socket_directories"}
	tests := []struct {
		name   string
		reason Reason
		server string // ip:port, or a unix socket path
		comm   string
		errno  int32
		want   []string
		absent []string
	}{
		{"refused on 3306", ReasonRSTFromServer, "192.0.2.20:3306", "", 0, []string{"bind_address", "skip_networking", "port", "EINPROGRESS"}, pgWords},
		{"refused on 3306 by php: no MariaDB errno note", ReasonRSTFromServer, "192.0.2.20:3306", "php", 0, []string{"bind_address"}, append([]string{"EINPROGRESS"}, pgWords...)},
		{"refused on 5432", ReasonRSTFromServer, "192.0.2.20:5432", "", 0, []string{"listen_addresses", "port", "runs"}, mysqlWords},
		{"kernel refused on 5432", ReasonECONNREFUSED, "192.0.2.20:5432", "", 0, []string{"listen_addresses"}, mysqlWords},
		{"refused on another port by psql", ReasonRSTFromServer, "192.0.2.20:6000", "psql", 0, []string{"listen_addresses"}, mysqlWords},
		{"refused on another port by mariadb", ReasonRSTFromServer, "192.0.2.20:6000", "mariadb", 0, []string{"bind_address"}, pgWords},
		{"refused on another port, unknown client", ReasonRSTFromServer, "192.0.2.20:6000", "curl", 0, nil, append(mysqlWords, pgWords...)},
		{"port beats client: php to 5432", ReasonRSTFromServer, "192.0.2.20:5432", "php", 0, []string{"listen_addresses"}, mysqlWords},
		{"timeout on 3306", ReasonSYNUnanswered, "192.0.2.20:3306", "", 0, []string{"MYSQLI_OPT_CONNECT_TIMEOUT", "--connect-timeout", "EINPROGRESS"}, pgWords},
		{"timeout on 5432, psql", ReasonSYNUnanswered, "192.0.2.20:5432", "psql", 0, []string{"connect_timeout", "PGCONNECT_TIMEOUT"}, append([]string{"PDO::ATTR_TIMEOUT"}, mysqlWords...)},
		{"timeout on 5432, php: pdo_pgsql's fact", ReasonSYNUnanswered, "192.0.2.20:5432", "php", 0, []string{"connect_timeout", "PDO::ATTR_TIMEOUT", "9 SYNs", "30 s"}, mysqlWords},
		{"kernel ETIMEDOUT on 5432", ReasonETIMEDOUT, "192.0.2.20:5432", "", errETIMEDOUT, []string{"connect_timeout", "tcp_syn_retries"}, mysqlWords},
		{"timeout on another port", ReasonSYNUnanswered, "192.0.2.20:9000", "", 0, []string{"connect timeout"}, append(mysqlWords, pgWords...)},
		{"no server bytes on 3306", ReasonNoServerBytes, "192.0.2.20:3306", "", 0, []string{"skip_name_resolve", "2013"}, pgWords},
		{"no server bytes on 5432", ReasonNoServerBytes, "192.0.2.20:5432", "", 0, nil, mysqlWords},
		{"MySQL socket missing", ReasonENOENT, "/run/mysqld/mysqld.sock", "", 0, []string{"socket="}, pgWords},
		{"PostgreSQL socket missing", ReasonENOENT, "/var/run/postgresql/.s.PGSQL.5432", "", 0, []string{"unix_socket_directories"}, mysqlWords},
		{"stale PostgreSQL socket", ReasonECONNREFUSEDUnix, "/tmp/.s.PGSQL.5432", "", 0, []string{"unix_socket_directories"}, mysqlWords},
		{"other socket missing", ReasonENOENT, "/run/app/app.sock", "", 0, nil, append(mysqlWords, pgWords...)},
		{"MySQL socket backlog full", ReasonEAGAINUnix, "/run/mysqld/mysqld.sock", "", 0, []string{"back_log"}, pgWords},
	}
	e := NewEngine(Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &attempt{reason: tc.reason, outcome: tc.reason.Outcome(), comm: tc.comm, kErrno: tc.errno}
			if strings.HasPrefix(tc.server, "/") {
				a.unix = tc.server
			} else {
				a.server = netip.MustParseAddrPort(tc.server)
			}
			checkWords(t, causesFor(e, a), tc.want, tc.absent)
		})
	}
}

// TestEngineCausesNameNoProduct: every engine reason's causes, for an
// attempt no protocol claims, say what the wire shows without naming a
// product, a client or a protocol's setting.
func TestEngineCausesNameNoProduct(t *testing.T) {
	product := regexp.MustCompile(`(?i)mysql|mariadb|postgres|pgsql|mysqlnd|\bphp\b|psql|libpq|skip_name_resolve|bind_address|back_log|socket=`)
	e := NewEngine(Options{})
	for r := Reason(1); int(r) < engineReasons; r++ {
		for _, server := range []string{"192.0.2.20:6000", "/run/app/app.sock"} {
			a := &attempt{reason: r, outcome: r.Outcome(), banner: "SSH-2.0-OpenSSH_9.2"}
			if strings.HasPrefix(server, "/") {
				a.unix = server
			} else {
				a.server = netip.MustParseAddrPort(server)
			}
			for _, c := range causesFor(e, a) {
				if m := product.FindString(c); m != "" {
					t.Errorf("%s (%s): a cause names %q: %s", r, server, m, c)
				}
			}
		}
	}
}

// TestUntriedAddressCauses: a failed connect that left addresses untried
// says which attempt failed how and how many addresses were left; client
// behaviour is named only where verified: every verified client moves on
// after a refusal; after a timeout PHP mysqlnd stops, the mariadb CLI and
// psql move on; other clients (pdo_pgsql here) are not named.
func TestUntriedAddressCauses(t *testing.T) {
	tests := []struct {
		name    string
		outcome Outcome
		port    uint16
		comm    string
		want    []string
		absent  []string
	}{
		{"refused, unknown client", Refused, 3306, "", []string{"after the first address (2001:db8::10) was refused", "1 more address (192.0.2.10)", "verified so far all try the next address"}, []string{"mysqlnd", "mariadb CLI", "psql"}},
		{"refused, php", Refused, 3306, "php", []string{"was refused", "verified so far all try the next address"}, []string{"mysqlnd stops"}},
		{"timeout, unknown client", Timeout, 3306, "", []string{"timed out", "1 more address (192.0.2.10)", "Clients differ after a timeout"}, []string{"mysqlnd", "mariadb CLI", "psql"}},
		{"timeout, php to MySQL", Timeout, 3306, "php", []string{"PHP mysqlnd stops after a timeout", "PHP 8.2"}, []string{"Clients differ", "psql"}},
		{"timeout, php-fpm to MySQL", Timeout, 3306, "php-fpm", []string{"PHP mysqlnd stops after a timeout"}, nil},
		{"timeout, mariadb", Timeout, 3306, "mariadb", []string{"mariadb CLI tries the next address"}, []string{"mysqlnd"}},
		{"timeout, psql", Timeout, 5432, "psql", []string{"psql tries the next address"}, []string{"mysqlnd", "mariadb"}},
		{"timeout, php to PostgreSQL: not verified", Timeout, 5432, "php", []string{"Clients differ after a timeout"}, []string{"mysqlnd", "psql", "mariadb"}},
	}
	e := NewEngine(Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &attempt{server: netip.AddrPortFrom(ip("2001:db8::10"), tc.port), comm: tc.comm, outcome: tc.outcome, out: &Attempt{}}
			c := &connectState{attempts: []*attempt{a}, addrs: []netip.Addr{ip("2001:db8::10"), ip("192.0.2.10")}}
			checkWords(t, untriedCauses([]*Attempt{e.buildAttempt(a)}, c.untriedAddrs()), tc.want, tc.absent)
		})
	}
}

// withProcess is a capture whose every packet names a process, as a
// pcapng written by `trace -w` does.
type withProcess struct {
	*capture.Reader
	proc *event.Process
}

func (w withProcess) Next() (*event.Packet, error) {
	p, err := w.Reader.Next()
	if p != nil && w.proc != nil {
		p.Process = w.proc
	}
	return p, err
}

// TestAAAABlackholeCauses: the lab's aaaa-blackhole (the name's AAAA
// address drops SYNs, its A address serves): PHP stopped after the IPv6
// timeout, the mariadb CLI moved on. The causes say so from the wire, and
// name mysqlnd's verified behaviour only when the process is known to be PHP.
func TestAAAABlackholeCauses(t *testing.T) {
	tests := []struct {
		file    string
		comm    string
		outcome Outcome
		want    []string
		absent  []string
	}{
		{"aaaa-blackhole-php.any.pcap", "", Timeout,
			[]string{"stopped after the first address (2001:db8:5::10) timed out", "1 more address (198.51.100.10)", "Clients differ after a timeout", "MYSQLI_OPT_CONNECT_TIMEOUT"},
			[]string{"mysqlnd stops", "PHP's mysqlnd, for one"}},
		{"aaaa-blackhole-php.veth.pcapng", "php", Timeout,
			[]string{"stopped after the first address (2001:db8:5::10) timed out", "1 more address (198.51.100.10)", "PHP mysqlnd stops after a timeout (verified with PHP 8.2)", "MYSQLI_OPT_CONNECT_TIMEOUT"},
			[]string{"Clients differ", "EINPROGRESS"}},
		{"aaaa-blackhole-mariadb.any.pcap", "mariadb", OK,
			[]string{"lost 3.0 s on 1 address"},
			[]string{"stopped after", "never tried"}},
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
			var conn *Connect
			for _, c := range got {
				if c.Name == "blackhole6.connscope.test" && len(c.Attempts) > 0 {
					conn = c
				}
			}
			if conn == nil || conn.Outcome != tc.outcome {
				t.Fatalf("no connect to blackhole6.connscope.test with outcome %s:\n%s", tc.outcome, dumpConnects(got))
			}
			checkWords(t, conn.Causes, tc.want, tc.absent)
		})
	}
}

// TestSaidCausesMadeOnce: a reason whose causes never change gives every
// attempt the same words without making them again (no allocation), and
// a caller appending to them leaves the next attempt's unchanged.
func TestSaidCausesMadeOnce(t *testing.T) {
	for _, r := range []Reason{ReasonServerClosedSilent, ReasonNoServerBytes, ReasonTLSAlert, ReasonEADDRNOTAVAIL, ReasonSYNACKAfterGiveUp} {
		at := &Attempt{Server: "10.2.0.5:3306", Client: "10.1.0.9:40000", Reason: r, Outcome: r.Outcome(), Facts: &Facts{}}
		w := newWordCtx(at, at.Facts)
		first := causesOf(w)
		if len(first) == 0 || first[0] == "" {
			t.Errorf("%s: no causes", r)
			continue
		}
		want := slices.Clone(first)
		_ = append(first, "appended by a caller")
		if again := causesOf(w); !slices.Equal(again, want) {
			t.Errorf("%s: after an append to the causes, the next are %q, want %q", r, again, want)
		}
		if n := testing.AllocsPerRun(100, func() { causesOf(w) }); n != 0 {
			t.Errorf("%s: %v allocations per attempt's causes, want 0 (made once)", r, n)
		}
	}
}

// TestDroppedCausesRoom: an unanswered attempt meant for MySQL gets the
// dropped causes and MySQL's advice without copying them to grow the
// slice (the cause sentence and its slice only).
func TestDroppedCausesRoom(t *testing.T) {
	for _, comm := range []string{"mariadb", "php"} {
		f := &Facts{SYNs: 3, Intended: "MySQL"}
		at := &Attempt{Server: "10.2.0.66:3306", Client: "10.1.0.9:40000", Comm: comm, Reason: ReasonSYNUnanswered, Outcome: Timeout, Facts: f}
		w := newWordCtx(at, f)
		if c := causesOf(w); len(c) < 3 || !strings.HasPrefix(c[2], "MySQL/MariaDB clients: set the connect timeout") {
			t.Fatalf("%s: causes %q, want the dropped causes then MySQL's advice", comm, c)
		}
		if n := testing.AllocsPerRun(100, func() { causesOf(w) }); n != 2 {
			t.Errorf("%s: %v allocations, want 2 (the first cause and the slice)", comm, n)
		}
	}
}
