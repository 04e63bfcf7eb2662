package lab

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSmoke is issue 2's lab smoke test: bring the lab up, run the success,
// refused and drop scenarios with both clients, check each client's result,
// tear down.
func TestSmoke(t *testing.T) {
	Up(t)
	for _, name := range []string{"ok-v4", "refused", "drop"} {
		sc := scenario(t, name)
		for _, run := range sc.Runs {
			t.Run(name+"/"+run.Client, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				res := Run(ctx, NSClient, run.Argv...)
				if res.Err != nil {
					t.Fatalf("%v: %v", run.Argv, res.Err)
				}
				x := run.Expect
				if res.ExitCode != x.ExitCode {
					t.Errorf("exit code %d, want %d; output: %s", res.ExitCode, x.ExitCode, res.Output())
				}
				if !strings.Contains(res.Stdout+res.Stderr, x.Says) {
					t.Errorf("output %q does not contain %q", res.Output(), x.Says)
				}
				if x.MinElapsed > 0 && res.Elapsed < x.MinElapsed {
					t.Errorf("took %v, want at least %v (the client's connect timeout)", res.Elapsed, x.MinElapsed)
				}
				if x.MaxElapsed > 0 && res.Elapsed > x.MaxElapsed {
					t.Errorf("took %v, want at most %v", res.Elapsed, x.MaxElapsed)
				}
				t.Logf("%s: exit %d after %v: %s", run.Client, res.ExitCode, res.Elapsed.Round(time.Millisecond), res.Output())
			})
		}
	}
	// The expectations above are the scenario table's; pin the essentials
	// here too, so a table edit cannot quietly weaken the smoke test.
	for name, want := range map[string][2]string{
		"ok-v4":   {"lab@" + Client4, "lab@" + Client4},
		"refused": {"ERROR 2002 (HY000)", "mysqli error 2002"},
		"drop":    {"ERROR 2002 (HY000)", "mysqli error 2002"},
	} {
		for i, run := range scenario(t, name).Runs {
			if !strings.Contains(run.Expect.Says, want[i]) {
				t.Errorf("%s/%s: expects %q, smoke test wants it to contain %q", name, run.Client, run.Expect.Says, want[i])
			}
		}
	}
	if d := scenario(t, "drop").Runs[0].Expect.MinElapsed; d < 2900*time.Millisecond {
		t.Errorf("drop: MinElapsed %v, want about the 3 s connect timeout", d)
	}
}

func scenario(t *testing.T, name string) Scenario {
	t.Helper()
	for _, sc := range Scenarios {
		if sc.Name == name {
			return sc
		}
	}
	t.Fatalf("no scenario %q", name)
	return Scenario{}
}

// TestTopologyMatchesScript keeps the Go constants in step with lab.sh.
func TestTopologyMatchesScript(t *testing.T) {
	env, err := ScriptEnv()
	if err != nil {
		t.Skipf("cannot run lab.sh env: %v", err)
	}
	want := map[string]string{
		"NS_CLIENT": NSClient, "NS_ROUTER": NSRouter, "NS_SERVER": NSServer,
		"IF_CLIENT": IfClient, "IF_ROUTER_C": IfRouterClient, "IF_ROUTER_S": IfRouterServer, "IF_SERVER": IfServer,
		"CLIENT4": Client4, "CLIENT4_PTR_SLOW": Client4PTRSlow, "CLIENT4_PTR_NEVER": Client4PTRNever,
		"CLIENT4_UNLISTED": Client4Unlisted, "ROUTER4_CLIENT": Router4Client, "ROUTER4_SERVER": Router4Server,
		"SERVER4": Server4, "SERVER4_UNLISTED": Server4Unlisted, "SERVER4_PTR_SLOW": Server4PTRSlow,
		"SERVER4_PTR_NEVER": Server4PTRNever, "DNS4": DNS4, "SLOWDNS4": SlowDNS4, "ONLINK_NOHOST4": OnLinkNoHost4,
		"HOSTUNREACH4": HostUnreach4, "NOROUTE4": NoRoute4, "CLIENT6": Client6, "ROUTER6_CLIENT": Router6Client,
		"ROUTER6_SERVER": Router6Server, "SERVER6": Server6, "ONLINK_NOHOST6": OnLinkNoHost6,
		"HOSTUNREACH6": HostUnreach6, "NOROUTE6": NoRoute6, "BLACKHOLE6": Blackhole6,
		"PORT_MYSQL": strconv.Itoa(PortMySQL), "PORT_MYSQL_RESOLVE": strconv.Itoa(PortMySQLResolve), "PORT_MYSQL_TLS": strconv.Itoa(PortMySQLTLS),
		"PORT_CLOSED": strconv.Itoa(PortClosed), "PORT_DROP": strconv.Itoa(PortDrop),
		"PORT_REJECT_PORT": strconv.Itoa(PortRejectPort), "PORT_REJECT_RESET": strconv.Itoa(PortRejectReset),
		"PORT_REJECT_ADMIN": strconv.Itoa(PortRejectAdmin), "PORT_GREET_2S": strconv.Itoa(PortGreet2s),
		"PORT_GREET_5S": strconv.Itoa(PortGreet5s), "PORT_NO_GREETING": strconv.Itoa(PortNoGreeting),
		"PORT_SSH_BANNER": strconv.Itoa(PortSSHBanner), "DOMAIN": Domain, "NAME_DUAL": NameDual,
		"NAME_V4ONLY": NameV4Only, "NAME_BLACKHOLE6": NameBlackhole6, "NAME_NXDOMAIN": NameNXDomain,
		"NAME_DNS_LATE": NameDNSLate, "NAME_DNS_NEVER": NameDNSNever, "DB_USER": DBUser,
		"DB_PASSWORD": DBPassword, "DB_NAME": DBName, "DB_DENIED": DBDenied, "DB_USER_ELSEWHERE": DBUserElsewhere,
		"LAB_DIR": Dir(), "SOCK1": Socket(), "SOCK2": SocketResolve(), "SOCK3": SocketTLS(), "SOCK_MISSING": SocketMissing(),
		"SOCK_DENIED": SocketDenied(), "SOCK_STALE": SocketStale(),
		"PORT_PG": strconv.Itoa(PortPG), "PORT_PG_STANDBY": strconv.Itoa(PortPGStandby),
		"PORT_PG_CLOSED": strconv.Itoa(PortPGClosed), "PORT_PG_DROP": strconv.Itoa(PortPGDrop),
		"PG_SOCKDIR": PGSocketDir(), "PG_SOCKDIR_MISSING": PGSocketDirMissing(), "PG_SOCKDIR_DENIED": PGSocketDirDenied(),
		"PG_SOCKDIR_STALE": PGSocketDirStale(), "PG_DB_REJECT": PGDBReject, "PG_DB_MISSING": PGDBMissing,
	}
	got := map[string]string{}
	for k := range want {
		got[k] = env[k]
	}
	if !reflect.DeepEqual(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("%s: lab.sh has %q, lab.go %q", k, got[k], want[k])
			}
		}
	}
	for k := range env {
		if _, ok := want[k]; !ok {
			t.Errorf("lab.sh env prints %s, which lab.go does not mirror", k)
		}
	}
}

// TestScenarioTable checks the table's own consistency (no lab needed).
func TestScenarioTable(t *testing.T) {
	valid := map[string]bool{}
	for _, o := range []string{OutcomeOK, OutcomeRefused, OutcomeUnreachable, OutcomeTimeout, OutcomeNoGreeting,
		OutcomeGreetingLate, OutcomeClosedBeforeGreeting, OutcomeRejected, OutcomeWrongProtocol, OutcomeAuthFailed,
		OutcomeTLSFailed, OutcomeIncomplete, OutcomeUnresolved, OutcomeSocketMissing, OutcomePermissionDenied,
		OutcomeNoRoute, OutcomeNoLocalPort} {
		valid[o] = true
	}
	seen := map[string]bool{}
	for _, sc := range Scenarios {
		if seen[sc.Name] {
			t.Errorf("scenario %q twice", sc.Name)
		}
		seen[sc.Name] = true
		if sc.Description == "" {
			t.Errorf("%s: no description", sc.Name)
		}
		clients := map[string]bool{}
		for _, run := range sc.Runs {
			if !knownClient(sc, run.Client) || clients[run.Client] {
				t.Errorf("%s: client %q unknown or repeated", sc.Name, run.Client)
			}
			clients[run.Client] = true
			x := run.Expect
			if !valid[x.Outcome] {
				t.Errorf("%s/%s: outcome %q not in connscope's vocabulary", sc.Name, run.Client, x.Outcome)
			}
			for _, a := range x.Attempts {
				if !valid[a] || a == OutcomeUnresolved {
					t.Errorf("%s/%s: attempt outcome %q invalid", sc.Name, run.Client, a)
				}
			}
			if len(x.Attempts) > 0 && x.Attempts[len(x.Attempts)-1] != x.Outcome {
				t.Errorf("%s/%s: outcome %q is not the last attempt's (%v)", sc.Name, run.Client, x.Outcome, x.Attempts)
			}
			if (x.ExitCode == 0) != (x.Outcome == OutcomeOK) {
				t.Errorf("%s/%s: exit code %d with outcome %q", sc.Name, run.Client, x.ExitCode, x.Outcome)
			}
			if x.Says == "" && x.ExitCode != 124 {
				t.Errorf("%s/%s: nothing the client must say", sc.Name, run.Client)
			}
			if len(run.Argv) == 0 {
				t.Errorf("%s/%s: no command", sc.Name, run.Client)
			}
		}
	}
	if !seen["drop"] {
		t.Error("no drop scenario: make demo analyzes testdata/captures/drop-mariadb.any.pcap")
	}
}

// knownClient: MySQL scenarios run the mariadb CLI and PHP mysqli,
// PostgreSQL ones psql and PHP pdo_pgsql.
func knownClient(sc Scenario, client string) bool {
	if sc.Protocol == ProtocolPostgres {
		return client == ClientPsql || client == ClientPHPPg
	}
	return sc.Protocol == "" && (client == ClientMariaDB || client == ClientPHP)
}

// TestPGSmoke is issue 10's lab smoke test: PostgreSQL #1 with psql and
// PHP pdo_pgsql: success, refused, wrong password and too many clients
// (with its set-up holding every slot), each client's exit code and words.
func TestPGSmoke(t *testing.T) {
	Up(t)
	// The table's expectations are checked below; pin the essentials too,
	// so a table edit cannot quietly weaken the smoke test.
	pinned := map[string][2]string{
		"pg-ok-v4":          {"lab@" + Client4, "lab@" + Client4},
		"pg-refused":        {"psql: error: ", "pdo_pgsql error: SQLSTATE[08006] "},
		"pg-wrong-password": {`FATAL:  password authentication failed for user "lab"`, `FATAL:  password authentication failed for user "lab"`},
		"pg-too-many":       {"FATAL:  sorry, too many clients already", "FATAL:  sorry, too many clients already"},
	}
	for _, name := range []string{"pg-ok-v4", "pg-refused", "pg-wrong-password", "pg-too-many"} {
		sc := scenario(t, name)
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if sc.Setup != nil {
				undo, err := sc.Setup(ctx)
				if err != nil {
					t.Fatalf("set-up: %v", err)
				}
				defer undo()
			}
			for i, run := range sc.Runs {
				if !strings.Contains(run.Expect.Says, pinned[name][i]) {
					t.Errorf("%s: expects %q, smoke test wants it to contain %q", run.Client, run.Expect.Says, pinned[name][i])
				}
				res := Run(ctx, NSClient, run.Argv...)
				if res.Err != nil {
					t.Fatalf("%v: %v", run.Argv, res.Err)
				}
				x := run.Expect
				if res.ExitCode != x.ExitCode {
					t.Errorf("%s: exit code %d, want %d; output: %s", run.Client, res.ExitCode, x.ExitCode, res.Output())
				}
				if !strings.Contains(res.Stdout+res.Stderr, x.Says) {
					t.Errorf("%s: output %q does not contain %q", run.Client, res.Output(), x.Says)
				}
				if x.MaxElapsed > 0 && res.Elapsed > x.MaxElapsed {
					t.Errorf("%s: took %v, want at most %v", run.Client, res.Elapsed, x.MaxElapsed)
				}
				t.Logf("%s: exit %d after %v: %s", run.Client, res.ExitCode, res.Elapsed.Round(time.Millisecond), res.Output())
			}
		})
	}
}
