package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/lab"
)

// probeReport is `connscope probe --format json` as the tests read it.
type probeReport struct {
	Checks    map[string]probeCheck
	Addresses []probeAddress
	Probe     struct {
		Target   string   `json:"target"`
		Local    bool     `json:"local"`
		Findings []string `json:"findings"`
		OK       bool     `json:"ok"`
	}
	raw string
}

type probeCheck struct {
	ID       string   `json:"id"`
	Status   string   `json:"status"`
	Evidence []string `json:"evidence"`
	Fix      string   `json:"fix"`
}

type probeAddress struct {
	Server  string `json:"server"`
	Outcome string `json:"outcome"`
	Errno   string `json:"errno"`
	MySQL   *struct {
		ServerVersion string `json:"server_version"`
		ErrorCode     int    `json:"error_code"`
	} `json:"mysql"`
	Postgres *struct {
		SSLAnswer string `json:"ssl_answer"`
	} `json:"postgres"`
	Login *struct {
		Outcome   string `json:"outcome"`
		ErrorCode int    `json:"error_code"`
		SQLState  string `json:"sqlstate"`
		TLS       bool   `json:"tls"`
	} `json:"login"`
}

func parseProbe(t *testing.T, out string) probeReport {
	t.Helper()
	r := probeReport{Checks: map[string]probeCheck{}, raw: out}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var kind struct{ Kind string }
		if err := json.Unmarshal(line, &kind); err != nil {
			t.Fatalf("probe output line is not JSON: %v: %q", err, line)
		}
		switch kind.Kind {
		case "check":
			var c probeCheck
			json.Unmarshal(line, &c)
			r.Checks[c.ID] = c
		case "address":
			var a probeAddress
			json.Unmarshal(line, &a)
			r.Addresses = append(r.Addresses, a)
		case "probe":
			json.Unmarshal(line, &r.Probe)
		}
	}
	return r
}

// probeCase runs the probe in a namespace and states what it must say.
type probeCase struct {
	name string
	ns   string
	env  []string // e.g. MYSQL_PWD=...
	args []string
	exit int
	// outcomes of the addresses in client order
	outcomes []string
	// check id → status, and a text its evidence or fix must contain
	checks   map[string]string
	contains map[string]string
	// extra assertions
	check    func(t *testing.T, r probeReport)
	setup    func(t *testing.T, ctx context.Context) func()
	asNobody bool
}

func (pc probeCase) run(t *testing.T, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if pc.setup != nil {
		undo := pc.setup(t, ctx)
		defer undo()
	}
	argv := append([]string{bin, "probe", "--format", "json"}, pc.args...)
	if pc.asNobody {
		argv = lab.AsNobody(argv...)
	}
	if len(pc.env) > 0 {
		argv = append(append([]string{"env"}, pc.env...), argv...)
	}
	res := lab.Run(ctx, pc.ns, argv...)
	if res.Err != nil {
		t.Fatalf("%v: %v", res.Argv, res.Err)
	}
	r := parseProbe(t, res.Stdout)
	if res.ExitCode != pc.exit {
		t.Errorf("exit %d, want %d; stderr %q", res.ExitCode, pc.exit, res.Stderr)
	}
	var got []string
	for _, a := range r.Addresses {
		got = append(got, a.Outcome)
	}
	if strings.Join(got, " ") != strings.Join(pc.outcomes, " ") {
		t.Errorf("address outcomes %q, want %q", got, pc.outcomes)
	}
	for id, status := range pc.checks {
		c, ok := r.Checks[id]
		if !ok {
			t.Errorf("no check %q", id)
			continue
		}
		if c.Status != status {
			t.Errorf("check %s: %s, want %s (evidence %q, fix %q)", id, c.Status, status, c.Evidence, c.Fix)
		}
		if want := pc.contains[id]; want != "" && !strings.Contains(strings.Join(c.Evidence, "\n")+"\n"+c.Fix, want) {
			t.Errorf("check %s does not say %q: evidence %q, fix %q", id, want, c.Evidence, c.Fix)
		}
	}
	if pc.check != nil {
		pc.check(t, r)
	}
	if strings.Contains(res.Stdout+res.Stderr, lab.DBPassword) {
		t.Errorf("the output contains the password")
	}
	if t.Failed() {
		t.Logf("output:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	}
}

// TestProbeLab runs `connscope probe` against the lab's failure scenarios
// and checks that it names the failing check and the outcome. The lab's
// lock is held throughout (lab.Up), so set-ups that change the lab for
// everyone (held connections, port exhaustion) run alone.
func TestProbeLab(t *testing.T) {
	lab.Require(t)
	bin := connscopeBinary(t)
	lab.Up(t)
	s4 := lab.Server4
	port := func(p int) string { return s4 + ":" + strconv.Itoa(p) }
	cases := []probeCase{
		{name: "healthy with login", ns: lab.NSClient, env: []string{"MYSQL_PWD=" + lab.DBPassword}, args: []string{"--user", lab.DBUser, s4}, exit: 0,
			outcomes: []string{"ok"}, checks: map[string]string{"connect": "ok", "greeting": "ok", "login": "ok", "process": "not checked", "ephemeral_ports": "ok"},
			contains: map[string]string{"greeting": "MariaDB", "process": "not on this host"},
			check: func(t *testing.T, r probeReport) {
				if r.Addresses[0].Login == nil || r.Addresses[0].Login.Outcome != "ok" {
					t.Errorf("login %+v", r.Addresses[0].Login)
				}
			}},
		{name: "refused", ns: lab.NSClient, args: []string{port(lab.PortClosed)}, exit: 1,
			outcomes: []string{"refused"}, checks: map[string]string{"connect": "failed", "greeting": "not checked"}, contains: map[string]string{"connect": "ECONNREFUSED"}},
		{name: "firewall drop from the client", ns: lab.NSClient, args: []string{"--timeout", "1s", port(lab.PortDrop)}, exit: 1,
			outcomes: []string{"timeout"}, checks: map[string]string{"connect": "failed"}, contains: map[string]string{"connect": "firewall drops"}},
		{name: "firewall drop seen on the server", ns: lab.NSServer, args: []string{"--timeout", "1s", port(lab.PortDrop)}, exit: 1,
			outcomes: []string{"timeout"}, checks: map[string]string{"firewall": "failed", "process": "ok", "listeners": "failed"},
			contains: map[string]string{"firewall": "tcp dport { 3311, 5441 } drop", "listeners": "not 3311"}},
		{name: "reject with tcp reset seen on the server", ns: lab.NSServer, args: []string{port(lab.PortRejectReset)}, exit: 1,
			outcomes: []string{"refused"}, checks: map[string]string{"firewall": "failed"}, contains: map[string]string{"firewall": "reject with tcp reset"}},
		{name: "aaaa blackhole", ns: lab.NSClient, args: []string{"--timeout", "2s", lab.NameBlackhole6}, exit: 0,
			outcomes: []string{"timeout", "ok"}, checks: map[string]string{"resolve": "ok", "connect": "warning", "greeting": "ok"},
			check: func(t *testing.T, r probeReport) {
				f := strings.Join(r.Probe.Findings, "\n")
				for _, want := range []string{"waits 2.0 s ([2001:db8:5::10]:3306 timeout", "tries only the first address", "fails"} {
					if !strings.Contains(f, want) {
						t.Errorf("findings lack %q:\n%s", want, f)
					}
				}
				if r.Addresses[0].Server != "[2001:db8:5::10]:3306" {
					t.Errorf("first address %s, want the IPv6 one (RFC 6724)", r.Addresses[0].Server)
				}
			}},
		{name: "nxdomain", ns: lab.NSClient, args: []string{lab.NameNXDomain}, exit: 1,
			checks: map[string]string{"resolve": "failed"}, contains: map[string]string{"resolve": "NXDOMAIN"}},
		{name: "dns never answered", ns: lab.NSClient, args: []string{lab.NameDNSNever}, exit: 1,
			checks: map[string]string{"resolve": "failed"}, contains: map[string]string{"resolve": "A and AAAA: no answer within 1.0 s (resolv.conf timeout"}},
		{name: "dns late", ns: lab.NSClient, args: []string{lab.NameDNSLate}, exit: 0, outcomes: []string{"ok"},
			checks: map[string]string{"resolve": "warning"}, contains: map[string]string{"resolve": "every connect by name pays it"}},
		{name: "1130 host not allowed", ns: lab.NSClient, args: []string{lab.Server4Unlisted}, exit: 1,
			outcomes: []string{"rejected"}, checks: map[string]string{"connect": "ok", "greeting": "failed"}, contains: map[string]string{"greeting": "1130"},
			check: func(t *testing.T, r probeReport) {
				if m := r.Addresses[0].MySQL; m == nil || m.ErrorCode != 1130 {
					t.Errorf("mysql %+v, want error 1130", m)
				}
			}},
		{name: "1045 wrong password", ns: lab.NSClient, env: []string{"MYSQL_PWD=wrong"}, args: []string{"--user", lab.DBUser, s4}, exit: 1,
			outcomes: []string{"ok"}, checks: map[string]string{"login": "failed"}, contains: map[string]string{"login": "ERROR 1045 (28000)"}},
		{name: "1044 database denied", ns: lab.NSClient, env: []string{"MYSQL_PWD=" + lab.DBPassword}, args: []string{"mysql://" + lab.DBUser + "@" + s4 + "/" + lab.DBDenied}, exit: 1,
			outcomes: []string{"ok"}, checks: map[string]string{"login": "failed"}, contains: map[string]string{"login": "ERROR 1044"}},
		{name: "tls required, server without TLS (2026)", ns: lab.NSClient, env: []string{"MYSQL_PWD=" + lab.DBPassword}, args: []string{"--tls", "--user", lab.DBUser, s4}, exit: 1,
			outcomes: []string{"ok"}, checks: map[string]string{"login": "failed"}, contains: map[string]string{"login": "2026"}},
		{name: "tls ok", ns: lab.NSClient, env: []string{"MYSQL_PWD=" + lab.DBPassword}, args: []string{"--tls", "--user", lab.DBUser, port(lab.PortMySQLTLS)}, exit: 0,
			outcomes: []string{"ok"}, checks: map[string]string{"login": "ok"}, contains: map[string]string{"login": "TLS 1."}},
		{name: "slow greeting", ns: lab.NSClient, args: []string{port(lab.PortGreet2s)}, exit: 0,
			outcomes: []string{"ok"}, check: func(t *testing.T, r probeReport) {
				if f := strings.Join(r.Probe.Findings, "\n"); !strings.Contains(f, "greeted after 2.0 s") {
					t.Errorf("findings lack the late greeting:\n%s", f)
				}
			}},
		{name: "no greeting", ns: lab.NSClient, args: []string{"--timeout", "1s", port(lab.PortNoGreeting)}, exit: 1,
			outcomes: []string{"no_greeting"}, checks: map[string]string{"greeting": "failed"}},
		{name: "wrong protocol", ns: lab.NSClient, args: []string{port(lab.PortSSHBanner)}, exit: 1,
			outcomes: []string{"wrong_protocol"}, checks: map[string]string{"greeting": "failed"}, contains: map[string]string{"greeting": "SSH-2.0"}},
		{name: "socket ok", ns: lab.NSServer, args: []string{lab.Socket()}, exit: 0,
			outcomes: []string{"ok"}, checks: map[string]string{"connect": "ok", "process": "ok", "listeners": "ok"}},
		{name: "socket missing", ns: lab.NSServer, args: []string{lab.SocketMissing()}, exit: 1,
			outcomes: []string{"socket_missing"}, checks: map[string]string{"connect": "failed", "listeners": "failed"}, contains: map[string]string{"connect": "no socket file"}},
		{name: "socket stale", ns: lab.NSServer, args: []string{lab.SocketStale()}, exit: 1,
			outcomes: []string{"refused"}, checks: map[string]string{"socket_files": "failed"}, contains: map[string]string{"socket_files": "stale"}},
		{name: "socket denied as nobody", ns: lab.NSServer, asNobody: true, args: []string{lab.SocketDenied()}, exit: 1,
			outcomes: []string{"permission_denied"}, checks: map[string]string{"socket_files": "failed"}, contains: map[string]string{"socket_files": "no search (x) permission on " + lab.Dir() + "/private"}},
		{name: "socket denied, checked for --as-user nobody by root", ns: lab.NSServer, args: []string{"--as-user", "nobody", lab.SocketDenied()}, exit: 0,
			outcomes: []string{"ok"}, checks: map[string]string{"socket_files": "failed"}, contains: map[string]string{"socket_files": "nobody may not connect"}},
		{name: "without root", ns: lab.NSClient, asNobody: true, args: []string{s4}, exit: 0, outcomes: []string{"ok"}, checks: map[string]string{"greeting": "ok"}},
		{name: "1040 too many connections", ns: lab.NSClient, args: []string{s4}, exit: 1,
			setup: func(t *testing.T, ctx context.Context) func() {
				release, err := lab.HoldConnections(ctx, true)
				if err != nil {
					t.Fatal(err)
				}
				return release
			},
			outcomes: []string{"rejected"}, checks: map[string]string{"greeting": "failed"}, contains: map[string]string{"greeting": "1040"}},
		{name: "ephemeral ports exhausted", ns: lab.NSClient, args: []string{s4}, exit: 1,
			setup: func(t *testing.T, ctx context.Context) func() {
				undo, err := lab.ExhaustPorts(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return undo
			},
			outcomes: []string{"no_local_port"}, checks: map[string]string{"connect": "failed", "ephemeral_ports": "failed"}, contains: map[string]string{"ephemeral_ports": "4 of the range's ports in use"}},
		{name: "postgres socket directory", ns: lab.NSServer, env: []string{"PGPASSWORD=" + lab.DBPassword}, args: []string{"--user", lab.DBUser, "--protocol", "postgres", lab.PGSocketDir() + "/"}, exit: 1,
			outcomes: []string{"ok"}, checks: map[string]string{"connect": "ok", "greeting": "ok", "login": "failed", "listeners": "ok", "process": "ok"},
			contains: map[string]string{"login": "3D000", "process": "postgres"}},
		{name: "postgres socket stale", ns: lab.NSServer, args: []string{"--protocol", "postgres", lab.PGSocketDirStale()}, exit: 1,
			outcomes: []string{"refused"}, checks: map[string]string{"socket_files": "failed"}, contains: map[string]string{"socket_files": "stale"}},
		// skip-name-resolve: the server sees 127.0.0.1, and the lab's
		// accounts are for localhost (the socket) and the client's address.
		{name: "localhost on the server over TCP: 1130", ns: lab.NSServer, args: []string{"localhost"}, exit: 1,
			outcomes: []string{"rejected"}, checks: map[string]string{"resolve": "ok", "greeting": "failed", "listeners": "ok", "listen_queue": "ok", "process": "ok"},
			contains: map[string]string{"resolve": "127.0.0.1", "greeting": "Host '127.0.0.1' is not allowed"},
			check: func(t *testing.T, r probeReport) {
				if f := strings.Join(r.Probe.Findings, "\n"); !strings.Contains(f, "treat the host localhost as the unix socket") {
					t.Errorf("findings lack the localhost note:\n%s", f)
				}
			}},
		{name: "postgres listen_addresses seen on the server", ns: lab.NSServer, args: []string{"postgres://127.0.0.1"}, exit: 1,
			outcomes: []string{"refused"}, checks: map[string]string{"listeners": "failed", "process": "ok"},
			contains: map[string]string{"listeners": "listen_addresses covers only 198.51.100.10, 2001:db8:2::10"}},
		{name: "postgres too many clients (53300)", ns: lab.NSClient, env: []string{"PGPASSWORD=" + lab.DBPassword}, args: []string{"--user", lab.DBUser, "postgres://" + s4 + "/" + lab.DBName}, exit: 1,
			setup: func(t *testing.T, ctx context.Context) func() {
				release, err := lab.HoldPGConnections(ctx, true)
				if err != nil {
					t.Fatal(err)
				}
				return release
			},
			outcomes: []string{"ok"}, checks: map[string]string{"greeting": "ok", "login": "failed"}, contains: map[string]string{"login": "53300"}},
		{name: "postgres wrong password", ns: lab.NSClient, env: []string{"PGPASSWORD=wrong"}, args: []string{"--user", lab.DBUser, "postgres://" + s4 + "/" + lab.DBName}, exit: 1,
			outcomes: []string{"ok"}, checks: map[string]string{"login": "failed"}, contains: map[string]string{"login": "28P01"}},
		{name: "postgres ok", ns: lab.NSClient, env: []string{"PGPASSWORD=" + lab.DBPassword}, args: []string{"--user", lab.DBUser, "postgres://" + lab.NameDual + "/" + lab.DBName}, exit: 0,
			outcomes: []string{"ok", "ok"}, checks: map[string]string{"login": "ok", "greeting": "ok"}},
	}
	for _, pc := range cases {
		t.Run(pc.name, func(t *testing.T) { pc.run(t, bin) })
	}

	// bind-address=127.0.0.1 and skip-networking need a server the lab does
	// not have: a fresh mariadbd in cs-server for each.
	t.Run("bind-address 127.0.0.1", func(t *testing.T) {
		ctx := context.Background()
		m, err := lab.StartMariaDB(ctx, "probe-bind", 3330, "bind-address=127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		defer m.Stop()
		probeCase{name: "from the client", ns: lab.NSClient, args: []string{port(3330)}, exit: 1,
			outcomes: []string{"refused"}, checks: map[string]string{"connect": "failed", "listeners": "not checked"}}.run(t, bin)
		probeCase{name: "on the server", ns: lab.NSServer, args: []string{port(3330)}, exit: 1,
			outcomes: []string{"refused"}, checks: map[string]string{"process": "ok", "listeners": "failed"},
			contains: map[string]string{"listeners": "bind_address is 127.0.0.1", "process": fmt.Sprintf("pid %d mariadbd", m.PID())}}.run(t, bin)
	})
	t.Run("skip-networking", func(t *testing.T) {
		ctx := context.Background()
		m, err := lab.StartMariaDB(ctx, "probe-skipnet", 3331, "skip-networking")
		if err != nil {
			t.Fatal(err)
		}
		defer m.Stop()
		probeCase{name: "on the server", ns: lab.NSServer, args: []string{port(3331)}, exit: 1,
			outcomes: []string{"refused"}, checks: map[string]string{"listeners": "failed"},
			contains: map[string]string{"listeners": "skip_networking is on"}}.run(t, bin)
	})
}
