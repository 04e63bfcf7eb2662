package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ProtocolPostgres marks a PostgreSQL scenario (Scenario.Protocol).
const ProtocolPostgres = "postgres"

// pgQuery is what both PostgreSQL clients ask: who the server thinks
// connected, as user@client address ("local" over a unix socket).
const pgQuery = "SELECT current_user || '@' || coalesce(host(inet_client_addr()), 'local')"

// Psql is a psql command line for one libpq connection string: no psqlrc,
// never a password prompt, the password from PGPASSWORD (env(1) execs psql
// in place), connect_timeout=3 like the MySQL clients' 3 s.
func Psql(password, conninfo string) []string {
	argv := []string{"psql", "-X", "-w", "-A", "-t", "-c", pgQuery, conninfo + " connect_timeout=3"}
	if password != "" {
		argv = append([]string{"env", "PGPASSWORD=" + password}, argv...)
	}
	return argv
}

// PHPPg is lab/client_pg.php (PDO pdo_pgsql) with arguments.
func PHPPg(args ...string) []string {
	return append([]string{"php", "lab/client_pg.php"}, args...)
}

// Comm is the client's process name as the kernel reports it (what
// connscope attributes the connect to).
func (r ClientRun) Comm() string {
	if r.Client == ClientPHPPg {
		return "php"
	}
	return r.Client
}

// pgOpts are one PostgreSQL connect's parameters, given to each client in its own form.
type pgOpts struct {
	host     string // address, name or socket directory
	port     int
	db       string
	password string
	sslmode  string // "" (libpq's default, prefer)
}

func (o pgOpts) psql() []string {
	ci := fmt.Sprintf("host=%s port=%d user=%s dbname=%s", o.host, o.port, DBUser, o.db)
	if o.sslmode != "" {
		ci += " sslmode=" + o.sslmode
	}
	return Psql(o.password, ci)
}

func (o pgOpts) php() []string {
	args := []string{"--host", o.host, "--port", strconv.Itoa(o.port), "--user", DBUser, "--password", o.password, "--db", o.db}
	if o.sslmode != "" {
		args = append(args, "--sslmode", o.sslmode)
	}
	return PHPPg(args...)
}

func pgTo(host string, port int) pgOpts {
	return pgOpts{host: host, port: port, db: DBName, password: DBPassword}
}

// pgBoth: both PostgreSQL clients, the same expectation. says is what
// both print on success (user@address); on failure libpq's message, which
// psql prints after "psql: error: " and client_pg.php after
// "pdo_pgsql error: SQLSTATE[08006] [7] ".
func pgBoth(o pgOpts, e Expect, says string) []ClientRun {
	p, h := e, e
	p.Says, h.Says = says, says
	if e.Outcome != OutcomeOK {
		p.Says = "psql: error: " + says
		h.Says = "pdo_pgsql error: SQLSTATE[08006] [7] " + says
	}
	return []ClientRun{
		{Client: ClientPsql, Argv: o.psql(), Expect: p},
		{Client: ClientPHPPg, Argv: o.php(), Expect: h},
	}
}

// pgAsNobody runs both clients as user nobody.
func pgAsNobody(runs []ClientRun) []ClientRun {
	for i := range runs {
		runs[i].Argv = AsNobody(runs[i].Argv...)
	}
	return runs
}

func pgScenarios() []Scenario {
	sec := time.Second
	at := func(host string, port int) string {
		return fmt.Sprintf("connection to server at %q, port %d failed: ", host, port)
	}
	onSocket := func(dir string) string {
		return fmt.Sprintf("connection to server on socket %q failed: ", dir+"/.s.PGSQL."+strconv.Itoa(PortPG))
	}
	fatal := func(host, msg string) string { return at(host, PortPG) + "FATAL:  " + msg }
	ok := Expect{Outcome: OutcomeOK, Attempts: attempts(OutcomeOK), MaxElapsed: sec}
	// psql exits 2 when it cannot connect; client_pg.php exits 1.
	fail := func(e Expect) Expect { e.ExitCode = 2; return e }
	pgFail := func(o pgOpts, e Expect, says string) []ClientRun {
		runs := pgBoth(o, fail(e), says)
		runs[1].Expect.ExitCode = 1
		return runs
	}
	sc := func(s Scenario) Scenario { s.Protocol = ProtocolPostgres; return s }
	okRuns := func(o pgOpts, who string) []ClientRun { return pgBoth(o, ok, who) }
	wrong := pgTo(Server4, PortPG)
	wrong.password = "wrong"
	reject := pgTo(Server4, PortPG)
	reject.db = PGDBReject
	missing := pgTo(Server4, PortPG)
	missing.db = PGDBMissing
	ssl := pgTo(Server4, PortPG)
	ssl.sslmode = "require"

	return []Scenario{
		sc(Scenario{
			Name:        "pg-ok-v4",
			Description: "Success over IPv4: PostgreSQL #1 at " + Server4 + ":5432 (scram-sha-256).",
			Runs:        okRuns(pgTo(Server4, PortPG), "lab@"+Client4),
		}),
		sc(Scenario{
			Name:        "pg-ok-v6",
			Description: "Success over IPv6: PostgreSQL #1 at [" + Server6 + "]:5432.",
			Runs:        okRuns(pgTo(Server6, PortPG), "lab@"+Client6),
		}),
		sc(Scenario{
			Name:        "pg-ok-name",
			Description: "Success by name: " + NameDual + " has A " + Server4 + " and AAAA " + Server6 + "; libpq tries IPv6 first (getaddrinfo's RFC 6724 order) and it works.",
			Runs:        okRuns(pgTo(NameDual, PortPG), "lab@"+Client6),
		}),
		sc(Scenario{
			Name:        "pg-refused",
			Description: "Nothing listens on " + Server4 + ":5440: the server's kernel answers the SYN with RST.",
			Runs: pgFail(pgTo(Server4, PortPGClosed),
				Expect{Outcome: OutcomeRefused, Attempts: attempts(OutcomeRefused), MaxElapsed: sec},
				at(Server4, PortPGClosed)+"Connection refused"),
		}),
		sc(Scenario{
			Name:        "pg-drop",
			Description: "nft drops SYNs to " + Server4 + ":5441: SYN retransmits until libpq's 3 s connect_timeout.",
			Runs: pgFail(pgTo(Server4, PortPGDrop),
				Expect{Outcome: OutcomeTimeout, Attempts: attempts(OutcomeTimeout), MinElapsed: 2900 * time.Millisecond, MaxElapsed: 4 * sec,
					Notes: "psql: connect_timeout=3. pdo_pgsql: PDO::ATTR_TIMEOUT => 3; without it PDO's default 30 s overrides " +
						"the DSN's connect_timeout=3 (PHP 8.2) and a dropped SYN costs 30 s and 9 SYNs."},
				at(Server4, PortPGDrop)+"timeout expired"),
		}),
		sc(Scenario{
			Name: "pg-too-many",
			Description: "PostgreSQL #1 has max_connections=4 with superuser_reserved_connections=1; three sessions of " + DBUser +
				" and one of postgres are held open: the next connection gets 53300 \"sorry, too many clients already\" before authentication.",
			Setup: func(ctx context.Context) (func(), error) { return HoldPGConnections(ctx, true) },
			Runs: pgFail(pgTo(Server4, PortPG),
				Expect{Outcome: OutcomeRejected, Attempts: attempts(OutcomeRejected), PGSQLState: "53300", MaxElapsed: sec,
					Notes: "The backend finds no free slot (InitProcess) right after the startup message: no authentication request."},
				fatal(Server4, "sorry, too many clients already")),
		}),
		sc(Scenario{
			Name: "pg-reserved",
			Description: "PostgreSQL #1 has max_connections=4 with superuser_reserved_connections=1; three sessions of " + DBUser +
				" are held open: the next login of " + DBUser + " (no superuser) is refused with 53300 after AuthenticationOk.",
			Setup: func(ctx context.Context) (func(), error) { return HoldPGConnections(ctx, false) },
			Runs: pgFail(pgTo(Server4, PortPG),
				Expect{Outcome: OutcomeRejected, Attempts: attempts(OutcomeRejected), PGSQLState: "53300", MaxElapsed: sec,
					Notes: "SCRAM authentication succeeds (AuthenticationOk), then the only free slot is the superusers'."},
				fatal(Server4, "remaining connection slots are reserved for non-replication superuser connections")),
		}),
		sc(Scenario{
			Name:        "pg-hba-reject",
			Description: "pg_hba.conf has a reject line for database " + PGDBReject + ": 28000 before authentication.",
			Runs: pgFail(reject,
				Expect{Outcome: OutcomeRejected, Attempts: attempts(OutcomeRejected), PGSQLState: "28000", MaxElapsed: sec},
				fatal(Server4, `pg_hba.conf rejects connection for host "`+Client4+`", user "lab", database "secret", no encryption`)),
		}),
		sc(Scenario{
			Name:        "pg-wrong-password",
			Description: "Wrong password for " + DBUser + ": 28P01 after the SCRAM exchange.",
			Runs: pgFail(wrong,
				Expect{Outcome: OutcomeAuthFailed, Attempts: attempts(OutcomeAuthFailed), PGSQLState: "28P01", MaxElapsed: sec},
				fatal(Server4, `password authentication failed for user "lab"`)),
		}),
		sc(Scenario{
			Name:        "pg-db-missing",
			Description: DBUser + " logs in asking for database " + PGDBMissing + ", which does not exist: 3D000 after AuthenticationOk.",
			Runs: pgFail(missing,
				Expect{Outcome: OutcomeAuthFailed, Attempts: attempts(OutcomeAuthFailed), PGSQLState: "3D000", MaxElapsed: sec,
					Notes: "auth_failed, as MySQL's 1044 (database denied at login): the login names a database it cannot have."},
				fatal(Server4, `database "`+PGDBMissing+`" does not exist`)),
		}),
		sc(Scenario{
			Name:        "pg-ssl-required",
			Description: "The client requires TLS (sslmode=require); PostgreSQL #1 has ssl=off and answers the SSLRequest with 'N'; the client hangs up.",
			Runs: pgFail(ssl,
				Expect{Outcome: OutcomeTLSFailed, Attempts: attempts(OutcomeTLSFailed), MaxElapsed: sec},
				at(Server4, PortPG)+"server does not support SSL, but SSL was required"),
		}),
		sc(Scenario{
			Name:        "pg-starting-up",
			Description: "PostgreSQL #2 at " + Server4 + ":5433 is a standby in recovery with hot_standby=off: 57P03 before authentication.",
			Runs: pgFail(pgTo(Server4, PortPGStandby),
				Expect{Outcome: OutcomeRejected, Attempts: attempts(OutcomeRejected), PGSQLState: "57P03", MaxElapsed: sec,
					Notes: "The same SQLSTATE as \"the database system is starting up\"; the DETAIL says \"Hot standby mode is disabled.\""},
				at(Server4, PortPGStandby)+"FATAL:  the database system is not accepting connections"),
		}),
		sc(Scenario{
			Name:        "pg-socket-ok",
			Description: "PostgreSQL #1's unix socket " + PGSocketDir() + "/.s.PGSQL.5432: success (nothing on the wire).",
			Runs:        pgBoth(pgTo(PGSocketDir(), PortPG), Expect{Outcome: OutcomeOK, MaxElapsed: sec}, "lab@local"),
		}),
		sc(Scenario{
			Name:        "pg-socket-missing",
			Description: "A socket directory that does not exist: ENOENT.",
			Runs: pgFail(pgTo(PGSocketDirMissing(), PortPG),
				Expect{Outcome: OutcomeSocketMissing, MaxElapsed: sec},
				onSocket(PGSocketDirMissing())+"No such file or directory"),
		}),
		sc(Scenario{
			Name:        "pg-socket-denied",
			Description: "PostgreSQL #1's socket, hard-linked into a 0700 root directory, connected to as user nobody: EACCES.",
			Runs: pgAsNobody(pgFail(pgTo(PGSocketDirDenied(), PortPG),
				Expect{Outcome: OutcomePermissionDenied, MaxElapsed: sec},
				onSocket(PGSocketDirDenied())+"Permission denied")),
		}),
		sc(Scenario{
			Name:        "pg-socket-stale",
			Description: "A .s.PGSQL.5432 socket file left behind by a server that is gone (nobody listens): ECONNREFUSED.",
			Runs: pgFail(pgTo(PGSocketDirStale(), PortPG),
				Expect{Outcome: OutcomeRefused, MaxElapsed: sec},
				onSocket(PGSocketDirStale())+"Connection refused"),
		}),
	}
}

// HoldPGConnections fills PostgreSQL #1 (max_connections=4, one slot
// reserved for superusers): three idle sessions of lab over the unix
// socket, plus, when super is set, one of postgres in the reserved slot.
// With three held, the next login of lab is refused after authentication
// ("remaining connection slots are reserved ..."); with four, the next
// connection is refused before it ("sorry, too many clients already").
//
// Each holder is a psql reading statements from a pipe; it proves its
// session by answering SELECT 'held'.
func HoldPGConnections(ctx context.Context, super bool) (release func(), err error) {
	var hs heldSessions
	release = func() {
		// A backend leaves its slot when it has read the client's EOF and
		// exited: wait until no client backend but the asking one is left,
		// or the next run finds the server still full.
		hs.release(func() bool { return pgClientBackends(ctx) != 0 })
	}
	hold := func(argv []string) error {
		return hs.hold(ctx, exec.Command(argv[0], argv[1:]...), strings.Join(argv, " "))
	}
	psqlAt := []string{"psql", "-X", "-w", "-A", "-t", "-q", "-h", PGSocketDir(), "-p", strconv.Itoa(PortPG), "-d", DBName}
	for i := 0; i < 3; i++ {
		if err := hold(append([]string{"env", "PGPASSWORD=" + DBPassword}, append(psqlAt, "-U", DBUser)...)); err != nil {
			release()
			return nil, err
		}
	}
	if super {
		if err := hold(asPostgres(append(psqlAt, "-U", "postgres")...)); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// asPostgres runs argv as the postgres user (peer authentication over the socket).
func asPostgres(argv ...string) []string {
	return append([]string{"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"}, argv...)
}

// pgClientBackends counts PostgreSQL #1's client sessions besides the asking
// one (asking as postgres in the superuser slot); -1 when it cannot ask.
func pgClientBackends(ctx context.Context) int {
	argv := asPostgres("psql", "-X", "-w", "-A", "-t", "-h", PGSocketDir(), "-p", strconv.Itoa(PortPG), "-d", "postgres",
		"-c", "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return -1
	}
	return n
}
