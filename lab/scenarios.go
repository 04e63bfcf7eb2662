package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Outcomes, in connscope's vocabulary (analyze.Outcome). The lab keeps its
// own copy: expectations come from the lab's design, not from the analyzer.
const (
	OutcomeOK                   = "ok"
	OutcomeRefused              = "refused"
	OutcomeUnreachable          = "unreachable"
	OutcomeTimeout              = "timeout"
	OutcomeNoGreeting           = "no_greeting"
	OutcomeGreetingLate         = "greeting_late"
	OutcomeClosedBeforeGreeting = "closed_before_greeting"
	OutcomeRejected             = "rejected"
	OutcomeWrongProtocol        = "wrong_protocol"
	OutcomeAuthFailed           = "auth_failed"
	OutcomeTLSFailed            = "tls_failed"
	OutcomeIncomplete           = "incomplete"
	OutcomeUnresolved           = "unresolved"
	OutcomeSocketMissing        = "socket_missing"
	OutcomePermissionDenied     = "permission_denied"
	OutcomeNoRoute              = "no_route"
	OutcomeNoLocalPort          = "no_local_port"
)

// Scenario is one way a connect fails (or succeeds), run with each client.
type Scenario struct {
	Name        string
	Description string
	// Setup, if set, prepares the lab right before each run (before the
	// captures start) and returns how to undo it.
	Setup func(ctx context.Context) (undo func(), err error)
	Runs  []ClientRun
	// Protocol is the server's protocol: "" (MySQL) or ProtocolPostgres.
	Protocol string
}

// ClientRun is one client's run of a scenario.
type ClientRun struct {
	Client string   // ClientMariaDB or ClientPHP; ClientPsql or ClientPHPPg (PostgreSQL)
	Argv   []string // run in NSClient from the repository root
	// Linger keeps capturing until this long after the start: for a server
	// answer that arrives after the client gave up.
	Linger time.Duration
	Expect Expect
}

// Expect is what the lab's design says must happen, cross-checked against
// what the client printed.
type Expect struct {
	Outcome  string   // the connect's outcome
	Attempts []string // each address attempt's outcome, in order, as seen on the wire
	// MySQLErrorCode is the server's ERR packet code on the wire (0: none).
	MySQLErrorCode int
	// PGSQLState is the SQLSTATE of the PostgreSQL server's ErrorResponse
	// on the wire ("": none).
	PGSQLState string
	// Greeting: a real mariadbd greeting is on the wire, so the manifest
	// carries its server version.
	Greeting bool
	ExitCode int
	// Says is text the client's output must contain.
	Says string
	// MinElapsed / MaxElapsed bound the client's run time (0: no bound).
	MinElapsed, MaxElapsed time.Duration
	Notes                  string
}

// ServerVersion is the version string mariadbd puts in its greeting:
// MariaDB 10.x prefixes "5.5.5-" to its VERSION() so that old replication
// clients do not take it for MySQL 10.
func ServerVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "mariadb", "--no-defaults", "-S", Socket(), "-u", "root",
		"-N", "-B", "-e", "SELECT VERSION()").Output()
	if err != nil {
		return "", fmt.Errorf("SELECT VERSION() on %s: %w", Socket(), err)
	}
	v := strings.TrimSpace(string(out))
	if major, _, _ := strings.Cut(v, "."); major == "10" {
		v = "5.5.5-" + v
	}
	return v, nil
}

// HoldConnections fills mariadbd #1 (max_connections=10): ten idle
// connections of an ordinary account over the unix socket, plus, when
// super is set, one of root in the slot MariaDB keeps for SUPER. With ten
// held, the next client is greeted and refused after login; with eleven
// held, it gets ERR 1040 instead of a greeting.
//
// Each holder is a mariadb CLI reading statements from a pipe; it proves
// its session by answering SELECT 'held'. (Asking the server instead would
// take a connection slot and race the holders' logins.)
func HoldConnections(ctx context.Context, super bool) (release func(), err error) {
	var hs heldSessions
	release = func() {
		// The server frees a slot once it reads the client's EOF; wait for
		// every holder's, or the next run finds the server still full.
		hs.release(func() bool { return connectedUsers(ctx, DBUser, "root") > 0 })
	}
	hold := func(user, password string) error {
		args := []string{"--no-defaults", "-S", Socket(), "-u", user, "-N", "--unbuffered"}
		if password != "" {
			args = append(args, "-p"+password)
		}
		return hs.hold(ctx, exec.Command("mariadb", args...), user)
	}
	for i := 0; i < 10; i++ {
		if err := hold(DBUser, DBPassword); err != nil {
			release()
			return nil, err
		}
	}
	if super {
		if err := hold("root", ""); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// heldSessions are database client sessions kept open to fill a server's
// connection slots: each is a CLI reading statements from a pipe, proven
// by its answer to SELECT 'held'.
type heldSessions struct {
	holders []*sessionHolder
}

type sessionHolder struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
}

// hold starts cmd (a mariadb or psql CLI reading statements from standard
// input) and waits until it answers SELECT 'held'; label names it in errors.
func (hs *heldSessions) hold(ctx context.Context, cmd *exec.Cmd, label string) error {
	h := &sessionHolder{cmd: cmd}
	h.cmd.Stderr = &h.stderr
	stdin, err := h.cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := h.cmd.Start(); err != nil {
		return err
	}
	h.stdin = stdin
	hs.holders = append(hs.holders, h)
	n := len(hs.holders)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		answer <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
	}()
	if _, err := io.WriteString(stdin, "SELECT 'held';\n"); err != nil {
		return fmt.Errorf("holder %d (%s): %v", n, label, err)
	}
	select {
	case line := <-answer:
		if line != "held" {
			return fmt.Errorf("holder %d (%s) got no session: %q", n, label, strings.TrimSpace(h.stderr.String()))
		}
	case <-time.After(10 * time.Second):
		return fmt.Errorf("holder %d (%s): no answer after 10 s", n, label)
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// release ends every holder, then waits (at most 5 s) while busy says the
// server still counts their sessions.
func (hs *heldSessions) release(busy func() bool) {
	for _, h := range hs.holders {
		h.stdin.Close()
		h.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, h := range hs.holders {
		h.cmd.Wait()
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && busy() {
		time.Sleep(50 * time.Millisecond)
	}
}

// connectedUsers counts the sessions of users on mariadbd #1 (asking as
// root, not counting the asking session).
func connectedUsers(ctx context.Context, users ...string) int {
	out, err := exec.CommandContext(ctx, "mariadb", "--no-defaults", "-S", Socket(), "-u", "root", "-N", "-B",
		"-e", "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER IN ('"+
			strings.Join(users, "','")+"')").Output()
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// PortRange is the client namespace's tiny ephemeral port range while
// ExhaustPorts holds.
const PortRange = "40000 40003"

// ExhaustPorts shrinks the client namespace's ip_local_port_range to four
// ports and fills them with TIME_WAIT connections to Server4:PortMySQL that
// the client closed first, so the next connect() to that server fails with
// EADDRNOTAVAIL. undo restores the range (the TIME_WAIT sockets expire by
// themselves after 60 s and do not matter with the full range).
func ExhaustPorts(ctx context.Context) (undo func(), err error) {
	const key = "net.ipv4.ip_local_port_range"
	old := Run(ctx, NSClient, "sysctl", "-n", key)
	if old.ExitCode != 0 {
		return nil, fmt.Errorf("reading %s: %s", key, old.Output())
	}
	oldRange := strings.Join(strings.Fields(old.Stdout), " ")
	undo = func() { Run(context.Background(), NSClient, "sysctl", "-q", "-w", key+"="+oldRange) }
	if r := Run(ctx, NSClient, "sysctl", "-q", "-w", key+"="+PortRange); r.ExitCode != 0 {
		return nil, fmt.Errorf("setting %s: %s", key, r.Output())
	}
	fill := Run(ctx, NSClient, LabsrvPath(), "timewait", "-target", net.JoinHostPort(Server4, strconv.Itoa(PortMySQL)))
	if fill.ExitCode != 0 {
		undo()
		return nil, fmt.Errorf("labsrv timewait: %s", fill.Output())
	}
	return undo, nil
}

// mariadbTo and phpTo build each client's command line for one server address.
func mariadbTo(host string, port int, extra ...string) []string {
	return MariaDB(append([]string{"-h", host, "-P", strconv.Itoa(port), "-u", DBUser, "-p" + DBPassword,
		"-N", "-e", "SELECT USER()"}, extra...)...)
}

func phpTo(host string, port int, extra ...string) []string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // PHP's stream layer wants IPv6 literals bracketed
	}
	return PHP(append([]string{"--host", host, "--port", strconv.Itoa(port), "--user", DBUser,
		"--password", DBPassword}, extra...)...)
}

// both is the common case: both clients, the same expectation apart from
// what each prints.
func both(mariadbArgs, phpArgs []string, e Expect, mariadbSays, phpSays string) []ClientRun {
	m, p := e, e
	m.Says, p.Says = mariadbSays, phpSays
	return []ClientRun{
		{Client: ClientMariaDB, Argv: mariadbArgs, Expect: m},
		{Client: ClientPHP, Argv: phpArgs, Expect: p},
	}
}

func attempts(a ...string) []string { return a }

// Scenarios is every scenario the lab records (lab/record.sh), in order.
var Scenarios = append(buildScenarios(), pgScenarios()...)

func buildScenarios() []Scenario {
	sec := time.Second
	ok := Expect{Outcome: OutcomeOK, Attempts: attempts(OutcomeOK), Greeting: true}
	connErr := func(host, errno string) string {
		return "ERROR 2002 (HY000): Can't connect to server on '" + host + "' (" + errno + ")"
	}
	v6Race := "The ICMPv6 error to the first SYN arrives within microseconds (veth), while connect() still owns " +
		"the socket: Linux then records only a soft error (TcpExtLockDroppedIcmps) and the connect fails on the " +
		"ICMPv6 answering the SYN retransmitted after 1 s. IPv4 does not show this."

	return []Scenario{
		{
			Name:        "ok-v4",
			Description: "Success over IPv4: mariadbd #1 at " + Server4 + ":3306.",
			Runs: both(mariadbTo(Server4, PortMySQL), phpTo(Server4, PortMySQL), ok,
				"lab@"+Client4, "lab@"+Client4),
		},
		{
			Name:        "ok-v6",
			Description: "Success over IPv6: mariadbd #1 at [" + Server6 + "]:3306.",
			Runs: both(mariadbTo(Server6, PortMySQL), phpTo(Server6, PortMySQL), ok,
				"lab@"+Client6, "lab@"+Client6),
		},
		{
			Name:        "ok-name",
			Description: "Success by name: " + NameDual + " has A " + Server4 + " and AAAA " + Server6 + "; both clients try IPv6 first (RFC 6724 order) and it works.",
			Runs: both(mariadbTo(NameDual, PortMySQL), phpTo(NameDual, PortMySQL), ok,
				"lab@"+Client6, "lab@"+Client6),
		},
		{
			Name:        "ok-name-v4only",
			Description: "Success by name: " + NameV4Only + " has only an A record (" + Server4 + "); the AAAA query gets an empty answer.",
			Runs: both(mariadbTo(NameV4Only, PortMySQL), phpTo(NameV4Only, PortMySQL), ok,
				"lab@"+Client4, "lab@"+Client4),
		},
		{
			Name:        "refused",
			Description: "Nothing listens on " + Server4 + ":3310: the server's kernel answers the SYN with RST.",
			Runs: both(mariadbTo(Server4, PortClosed), phpTo(Server4, PortClosed),
				Expect{Outcome: OutcomeRefused, Attempts: attempts(OutcomeRefused), ExitCode: 1, MaxElapsed: sec,
					Notes: "The mariadb CLI prints errno 115 (EINPROGRESS) for a refused connection, not 111."},
				connErr(Server4, "115"), "mysqli error 2002: Connection refused"),
		},
		{
			Name:        "drop",
			Description: "nft drops SYNs to " + Server4 + ":3311: SYN retransmits until the client's 3 s connect timeout.",
			Runs: both(mariadbTo(Server4, PortDrop), phpTo(Server4, PortDrop),
				Expect{Outcome: OutcomeTimeout, Attempts: attempts(OutcomeTimeout), ExitCode: 1,
					MinElapsed: 2900 * time.Millisecond, MaxElapsed: 4 * sec,
					Notes: "Three SYNs 1 s apart (Linux retransmits the first SYNs linearly: net.ipv4.tcp_syn_linear_timeouts=4); the client gives up at 3 s."},
				connErr(Server4, "110"), "mysqli error 2002: Connection timed out"),
		},
		{
			Name:        "reject-port",
			Description: "nft rejects SYNs to " + Server4 + ":3312 with ICMP port unreachable.",
			Runs: both(mariadbTo(Server4, PortRejectPort), phpTo(Server4, PortRejectPort),
				Expect{Outcome: OutcomeUnreachable, Attempts: attempts(OutcomeUnreachable), ExitCode: 1, MaxElapsed: sec,
					Notes: "ICMP type 3 code 3 from the server; the client reports ECONNREFUSED."},
				connErr(Server4, "115"), "mysqli error 2002: Connection refused"),
		},
		{
			Name:        "reject-port6",
			Description: "nft rejects SYNs to [" + Server6 + "]:3312 with ICMPv6 port unreachable.",
			Runs: both(mariadbTo(Server6, PortRejectPort), phpTo(Server6, PortRejectPort),
				Expect{Outcome: OutcomeUnreachable, Attempts: attempts(OutcomeUnreachable), ExitCode: 1, MaxElapsed: 2 * sec,
					Notes: "ICMPv6 type 1 code 4 from the server; the client reports ECONNREFUSED. " + v6Race},
				connErr(Server6, "115"), "mysqli error 2002: Connection refused"),
		},
		{
			Name:        "reject-reset",
			Description: "nft rejects SYNs to " + Server4 + ":3313 with a TCP reset (indistinguishable from a closed port).",
			Runs: both(mariadbTo(Server4, PortRejectReset), phpTo(Server4, PortRejectReset),
				Expect{Outcome: OutcomeRefused, Attempts: attempts(OutcomeRefused), ExitCode: 1, MaxElapsed: sec},
				connErr(Server4, "115"), "mysqli error 2002: Connection refused"),
		},
		{
			Name:        "reject-admin",
			Description: "nft rejects SYNs to " + Server4 + ":3314 with ICMP administratively prohibited.",
			Runs: both(mariadbTo(Server4, PortRejectAdmin), phpTo(Server4, PortRejectAdmin),
				Expect{Outcome: OutcomeUnreachable, Attempts: attempts(OutcomeUnreachable), ExitCode: 1, MaxElapsed: sec,
					Notes: "ICMP type 3 code 13 from the server; the client reports EHOSTUNREACH."},
				connErr(Server4, "115"), "mysqli error 2002: No route to host"),
		},
		{
			Name:        "reject-admin6",
			Description: "nft rejects SYNs to [" + Server6 + "]:3314 with ICMPv6 administratively prohibited.",
			Runs: both(mariadbTo(Server6, PortRejectAdmin), phpTo(Server6, PortRejectAdmin),
				Expect{Outcome: OutcomeUnreachable, Attempts: attempts(OutcomeUnreachable), ExitCode: 1, MaxElapsed: 2 * sec,
					Notes: "ICMPv6 type 1 code 1 from the server; the client reports EACCES. " + v6Race},
				connErr(Server6, "115"), "mysqli error 2002: Permission denied"),
		},
		{
			Name:        "arp-fail",
			Description: OnLinkNoHost4 + " is on the client's link but no host has it: ARP goes unanswered.",
			Runs: both(mariadbTo(OnLinkNoHost4, PortMySQL), phpTo(OnLinkNoHost4, PortMySQL),
				Expect{Outcome: OutcomeUnreachable, Attempts: attempts(OutcomeUnreachable), ExitCode: 1,
					MinElapsed: 1400 * time.Millisecond, MaxElapsed: 2500 * time.Millisecond,
					Notes: "The SYN never leaves: three ARP requests 500 ms apart (the lab's retrans_time_ms), then the " +
						"client's own kernel sends itself ICMP host unreachable (on lo, quoting the SYN) and connect() " +
						"fails with EHOSTUNREACH at ~1.5 s."},
				connErr(OnLinkNoHost4, "115"), "mysqli error 2002: No route to host"),
		},
		{
			Name:        "ndp-fail",
			Description: OnLinkNoHost6 + " is on the client's link but no host has it: neighbour solicitations go unanswered.",
			Runs: both(mariadbTo(OnLinkNoHost6, PortMySQL), phpTo(OnLinkNoHost6, PortMySQL),
				Expect{Outcome: OutcomeUnreachable, Attempts: attempts(OutcomeUnreachable), ExitCode: 1,
					MinElapsed: 1400 * time.Millisecond, MaxElapsed: 2500 * time.Millisecond,
					Notes: "The SYN never leaves: three neighbour solicitations 500 ms apart, then the client's own kernel " +
						"sends itself ICMPv6 address unreachable (on lo, quoting the SYN): EHOSTUNREACH at ~1.5 s."},
				connErr(OnLinkNoHost6, "115"), "mysqli error 2002: No route to host"),
		},
		{
			Name:        "host-unreach",
			Description: "The router has an unreachable route for 203.0.113.0/25: it answers the SYN to " + HostUnreach4 + " with ICMP host unreachable.",
			Runs: both(mariadbTo(HostUnreach4, PortMySQL), phpTo(HostUnreach4, PortMySQL),
				Expect{Outcome: OutcomeUnreachable, Attempts: attempts(OutcomeUnreachable), ExitCode: 1, MaxElapsed: sec,
					Notes: "ICMP type 3 code 1 from the router " + Router4Client + ", not from the server."},
				connErr(HostUnreach4, "115"), "mysqli error 2002: No route to host"),
		},
		{
			Name:        "host-unreach6",
			Description: "The router has an unreachable route for 2001:db8:3::/64: it answers the SYN to " + HostUnreach6 + " with ICMPv6 destination unreachable (no route).",
			Runs: both(mariadbTo(HostUnreach6, PortMySQL), phpTo(HostUnreach6, PortMySQL),
				Expect{Outcome: OutcomeUnreachable, Attempts: attempts(OutcomeUnreachable), ExitCode: 1, MaxElapsed: 2 * sec,
					Notes: "ICMPv6 type 1 code 0 from the router " + Router6Client + "; the client reports ENETUNREACH. " + v6Race},
				connErr(HostUnreach6, "115"), "mysqli error 2002: Network is unreachable"),
		},
		{
			Name:        "no-route",
			Description: "The client has no route to " + NoRoute4 + ": connect() fails at once with ENETUNREACH; nothing reaches the wire.",
			Runs: both(mariadbTo(NoRoute4, PortMySQL), phpTo(NoRoute4, PortMySQL),
				Expect{Outcome: OutcomeNoRoute, ExitCode: 1, MaxElapsed: sec},
				connErr(NoRoute4, "101"), "mysqli error 2002: Network is unreachable"),
		},
		{
			Name:        "no-route6",
			Description: "The client has no route to " + NoRoute6 + ": connect() fails at once with ENETUNREACH; nothing reaches the wire.",
			Runs: both(mariadbTo(NoRoute6, PortMySQL), phpTo(NoRoute6, PortMySQL),
				Expect{Outcome: OutcomeNoRoute, ExitCode: 1, MaxElapsed: sec},
				connErr(NoRoute6, "101"), "mysqli error 2002: Network is unreachable"),
		},
		{
			Name:        "greeting-2s",
			Description: "The server at " + Server4 + ":3320 accepts at once but greets after 2 s (inside the clients' 3 s timeout); the greeting and login are mariadbd #1's, relayed over its unix socket.",
			Runs: both(mariadbTo(Server4, PortGreet2s), phpTo(Server4, PortGreet2s),
				Expect{Outcome: OutcomeOK, Attempts: attempts(OutcomeOK), Greeting: true,
					MinElapsed: 1900 * time.Millisecond, MaxElapsed: 3 * sec,
					Notes: "Greeting delay ~2000 ms. mariadbd sees the relay, so the session is lab@localhost."},
				"lab@localhost", "lab@localhost"),
		},
		{
			Name:        "greeting-5s",
			Description: "The server at " + Server4 + ":3321 accepts at once but greets after 5 s, past the clients' 3 s connect timeout.",
			Runs: []ClientRun{
				{Client: ClientMariaDB, Argv: mariadbTo(Server4, PortGreet5s), Linger: 5600 * time.Millisecond,
					Expect: Expect{Outcome: OutcomeGreetingLate, Attempts: attempts(OutcomeGreetingLate), Greeting: true, ExitCode: 1,
						MinElapsed: 2900 * time.Millisecond, MaxElapsed: 4 * sec,
						Says: "ERROR 2013 (HY000): Lost connection to server at 'handshake: reading initial communication packet', system error: 110",
						Notes: "libmariadb applies --connect-timeout to the greeting too: it closes at 3 s; the greeting still " +
							"comes at 5 s and the client's kernel answers it with RST."}},
				{Client: ClientPHP, Argv: phpTo(Server4, PortGreet5s),
					Expect: Expect{Outcome: OutcomeOK, Attempts: attempts(OutcomeOK), Greeting: true,
						MinElapsed: 4900 * time.Millisecond, MaxElapsed: 7 * sec, Says: "lab@localhost",
						Notes: "mysqlnd applies MYSQLI_OPT_CONNECT_TIMEOUT to the TCP connect only; the greeting is read with " +
							"mysqlnd.net_read_timeout (86400 s), so PHP waits the 5 s and logs in."}},
			},
		},
		{
			Name:        "no-greeting",
			Description: "The server at " + Server4 + ":3322 accepts and never sends a byte.",
			Runs: []ClientRun{
				{Client: ClientMariaDB, Argv: mariadbTo(Server4, PortNoGreeting),
					Expect: Expect{Outcome: OutcomeNoGreeting, Attempts: attempts(OutcomeNoGreeting), ExitCode: 1,
						MinElapsed: 2900 * time.Millisecond, MaxElapsed: 4 * sec,
						Says: "ERROR 2013 (HY000): Lost connection to server at 'handshake: reading initial communication packet', system error: 110"}},
				{Client: ClientPHP, Argv: append([]string{"timeout", "8"}, phpTo(Server4, PortNoGreeting)...),
					Expect: Expect{Outcome: OutcomeNoGreeting, Attempts: attempts(OutcomeNoGreeting), ExitCode: 124,
						MinElapsed: 7900 * time.Millisecond, MaxElapsed: 10 * sec,
						Notes: "mysqlnd would wait mysqlnd.net_read_timeout (86400 s) for the greeting; timeout(1) ends it " +
							"after 8 s (exit 124, SIGTERM, no output) and its kernel closes the connection with FIN."}},
			},
		},
		{
			Name:        "ptr-slow",
			Description: "mariadbd #2 (name resolution on) at " + Server4PTRSlow + ":3307 looks up the PTR of the client's address " + Client4PTRSlow + " before greeting; the server's DNS answers it after 2 s.",
			Runs: both(mariadbTo(Server4PTRSlow, PortMySQLResolve), phpTo(Server4PTRSlow, PortMySQLResolve),
				Expect{Outcome: OutcomeOK, Attempts: attempts(OutcomeOK), Greeting: true,
					MinElapsed: 1900 * time.Millisecond, MaxElapsed: 3 * sec,
					Notes: "Greeting delay ~2000 ms; the server then confirms the name's A record (at once). The DNS traffic " +
						"is the server's, not in the client's captures."},
				"lab@ptr-slow.client.connscope.test", "lab@ptr-slow.client.connscope.test"),
		},
		{
			Name:        "ptr-never",
			Description: "mariadbd #2 at " + Server4PTRNever + ":3307 looks up the PTR of " + Client4PTRNever + " before greeting; the server's DNS never answers (glibc: 5 s timeout, 2 attempts).",
			Runs: []ClientRun{
				{Client: ClientMariaDB, Argv: mariadbTo(Server4PTRNever, PortMySQLResolve), Linger: 10600 * time.Millisecond,
					Expect: Expect{Outcome: OutcomeGreetingLate, Attempts: attempts(OutcomeGreetingLate), Greeting: true, ExitCode: 1,
						MinElapsed: 2900 * time.Millisecond, MaxElapsed: 4 * sec,
						Says:  "ERROR 2013 (HY000): Lost connection to server at 'handshake: reading initial communication packet', system error: 110",
						Notes: "The client gives up at 3 s; the server greets at ~10 s when its lookup fails, and meets RST."}},
				{Client: ClientPHP, Argv: phpTo(Server4PTRNever, PortMySQLResolve),
					Expect: Expect{Outcome: OutcomeOK, Attempts: attempts(OutcomeOK), Greeting: true,
						MinElapsed: 9900 * time.Millisecond, MaxElapsed: 12 * sec, Says: "lab@" + Client4PTRNever,
						Notes: "PHP waits for the greeting (mysqlnd.net_read_timeout); the server gives up on the name after ~10 s."}},
			},
		},
		{
			Name:        "wrong-protocol",
			Description: "The server at " + Server4 + ":3323 greets like sshd: \"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n\".",
			Runs: both(mariadbTo(Server4, PortSSHBanner), phpTo(Server4, PortSSHBanner),
				Expect{Outcome: OutcomeWrongProtocol, Attempts: attempts(OutcomeWrongProtocol), ExitCode: 1, MaxElapsed: sec,
					Notes: "Read as a MySQL packet header the banner claims a 4739923-byte packet with sequence 45."},
				"ERROR 2013 (HY000): Lost connection to server at 'handshake: reading initial communication packet', system error: 115",
				"mysqli error 2006: MySQL server has gone away"),
		},
		{
			Name: "host-not-allowed",
			Description: "mariadbd #1 (skip-name-resolve) has accounts only for " + Client4 + ", " + Client6 + ", localhost and 198.51.100.99; " +
				"the client connects from " + Client4Unlisted + " (to " + Server4Unlisted + ") as " + DBUserElsewhere + ": ERR 1130 instead of a greeting.",
			Runs: both(
				MariaDB("-h", Server4Unlisted, "-P", "3306", "-u", DBUserElsewhere, "-p"+DBPassword, "-N", "-e", "SELECT USER()"),
				PHP("--host", Server4Unlisted, "--port", "3306", "--user", DBUserElsewhere, "--password", DBPassword),
				Expect{Outcome: OutcomeRejected, Attempts: attempts(OutcomeRejected), MySQLErrorCode: 1130, ExitCode: 1, MaxElapsed: sec,
					Notes: "The server checks the client's address against every account's host before greeting; none matches."},
				"ERROR 2002 (HY000): Received error packet before completion of TLS handshake. The authenticity of the following error cannot be verified: 1130 - Host '"+Client4Unlisted+"' is not allowed to connect to this MariaDB server",
				"mysqli error 1130: Host '"+Client4Unlisted+"' is not allowed to connect to this MariaDB server"),
		},
		{
			Name: "too-many-connections",
			Description: "mariadbd #1 has max_connections=10; ten sessions of " + DBUser + " and one of root (the extra slot " +
				"MariaDB keeps for SUPER) are held open: the server answers the next connection with ERR 1040 instead of a greeting.",
			Setup: func(ctx context.Context) (func(), error) { return HoldConnections(ctx, true) },
			Runs: both(mariadbTo(Server4, PortMySQL), phpTo(Server4, PortMySQL),
				Expect{Outcome: OutcomeRejected, Attempts: attempts(OutcomeRejected), MySQLErrorCode: 1040, ExitCode: 1, MaxElapsed: sec},
				"ERROR 2002 (HY000): Received error packet before completion of TLS handshake. The authenticity of the following error cannot be verified: 1040 - Too many connections",
				"mysqli error 1040: Too many connections"),
		},
		{
			Name: "too-many-connections-login",
			Description: "mariadbd #1 has max_connections=10 and ten sessions of " + DBUser + " are held open: the next " +
				"connection takes the SUPER slot, is greeted, and gets ERR 1040 after login (the account lacks SUPER).",
			Setup: func(ctx context.Context) (func(), error) { return HoldConnections(ctx, false) },
			Runs: both(mariadbTo(Server4, PortMySQL), phpTo(Server4, PortMySQL),
				Expect{Outcome: OutcomeRejected, Attempts: attempts(OutcomeRejected), MySQLErrorCode: 1040, Greeting: true, ExitCode: 1, MaxElapsed: sec},
				"ERROR 1040 (08004): Too many connections", "mysqli error 1040: Too many connections"),
		},
		{
			Name:        "wrong-password",
			Description: "Wrong password for " + DBUser + ": ERR 1045 after the login packet.",
			Runs: both(
				MariaDB("-h", Server4, "-P", "3306", "-u", DBUser, "-pwrong", "-N", "-e", "SELECT USER()"),
				PHP("--host", Server4, "--port", "3306", "--user", DBUser, "--password", "wrong"),
				Expect{Outcome: OutcomeAuthFailed, Attempts: attempts(OutcomeAuthFailed), MySQLErrorCode: 1045, Greeting: true, ExitCode: 1, MaxElapsed: sec},
				"ERROR 1045 (28000): Access denied for user 'lab'@'"+Client4+"' (using password: YES)",
				"mysqli error 1045: Access denied for user 'lab'@'"+Client4+"' (using password: YES)"),
		},
		{
			Name:        "db-denied",
			Description: DBUser + " logs in asking for database " + DBDenied + ", on which it has no grant: ERR 1044.",
			Runs: both(mariadbTo(Server4, PortMySQL, "-D", DBDenied), phpTo(Server4, PortMySQL, "--db", DBDenied),
				Expect{Outcome: OutcomeAuthFailed, Attempts: attempts(OutcomeAuthFailed), MySQLErrorCode: 1044, Greeting: true, ExitCode: 1, MaxElapsed: sec},
				"ERROR 1044 (42000): Access denied for user 'lab'@'"+Client4+"' to database 'secret'",
				"mysqli error 1044: Access denied for user 'lab'@'"+Client4+"' to database 'secret'"),
		},
		{
			Name:        "tls-required",
			Description: "The client requires TLS; mariadbd #1 has no certificate, so its greeting does not offer TLS and the client hangs up.",
			Runs: both(mariadbTo(Server4, PortMySQL, "--ssl-verify-server-cert"), phpTo(Server4, PortMySQL, "--flags", "ssl"),
				Expect{Outcome: OutcomeTLSFailed, Attempts: attempts(OutcomeTLSFailed), Greeting: true, ExitCode: 1, MaxElapsed: sec,
					Notes: "mariadb 10.11's --ssl alone does not require TLS (it falls back to plain text); " +
						"--ssl-verify-server-cert does. mysqlnd with MYSQLI_CLIENT_SSL closes after the greeting and reports 2006."},
				"ERROR 2026 (HY000): TLS/SSL error: SSL is required, but the server does not support it",
				"mysqli error 2006: MySQL server has gone away"),
		},
		{
			Name: "tls-ok",
			Description: "mariadbd #3 at " + Server4 + ":" + strconv.Itoa(PortMySQLTLS) + " offers TLS (self-signed certificate); " +
				"the client asks for it, logs in over TLS, runs its query and quits.",
			Runs: both(mariadbTo(Server4, PortMySQLTLS, "--ssl"), phpTo(Server4, PortMySQLTLS, "--flags", "ssl,noverify"),
				Expect{Outcome: OutcomeOK, Attempts: attempts(OutcomeOK), Greeting: true, MaxElapsed: sec,
					Notes: "SSLRequest after the greeting, then TLS 1.3: the login, the query and COM_QUIT are encrypted. " +
						"Neither client verifies the certificate (mariadb 10.11 does not by default; PHP is told not to)."},
				"lab@"+Client4, "lab@"+Client4),
		},
		{
			Name: "aaaa-blackhole",
			Description: NameBlackhole6 + " has A " + Server4 + " and AAAA " + Blackhole6 + ", which the router silently discards. " +
				"Both clients try IPv6 first.",
			Runs: []ClientRun{
				{Client: ClientMariaDB, Argv: mariadbTo(NameBlackhole6, PortMySQL),
					Expect: Expect{Outcome: OutcomeOK, Attempts: attempts(OutcomeTimeout, OutcomeOK), Greeting: true,
						MinElapsed: 2900 * time.Millisecond, MaxElapsed: 4 * sec, Says: "lab@" + Client4,
						Notes: "libmariadb gives each address the full connect timeout: IPv6 times out after 3 s, then IPv4 works."}},
				{Client: ClientPHP, Argv: phpTo(NameBlackhole6, PortMySQL),
					Expect: Expect{Outcome: OutcomeTimeout, Attempts: attempts(OutcomeTimeout), ExitCode: 1,
						MinElapsed: 2900 * time.Millisecond, MaxElapsed: 4 * sec, Says: "mysqli error 2002: Connection timed out",
						Notes: "PHP's stream layer spends the whole 3 s on IPv6 and never tries the working IPv4 address."}},
			},
		},
		{
			Name:        "nxdomain",
			Description: NameNXDomain + " does not exist: dnsmasq answers NXDOMAIN.",
			Runs: both(mariadbTo(NameNXDomain, PortMySQL), phpTo(NameNXDomain, PortMySQL),
				Expect{Outcome: OutcomeUnresolved, ExitCode: 1, MaxElapsed: sec},
				"ERROR 2005 (HY000): Unknown server host '"+NameNXDomain+"' (-2)",
				"mysqli error 2002: php_network_getaddresses: getaddrinfo for "+NameNXDomain+" failed: Name or service not known"),
		},
		{
			Name:        "dns-late",
			Description: NameDNSLate + " is forwarded by dnsmasq to a server that answers after 1.2 s; the client's resolver (timeout:1 attempts:2) retries at 1 s and takes the late answer (0.8 s before it would give up at 2 s: the margin a loaded machine needs).",
			Runs: both(mariadbTo(NameDNSLate, PortMySQL), phpTo(NameDNSLate, PortMySQL),
				Expect{Outcome: OutcomeOK, Attempts: attempts(OutcomeOK), Greeting: true,
					MinElapsed: 1100 * time.Millisecond, MaxElapsed: 3 * sec,
					Notes: "Only an A record; the AAAA answer (no data) is just as late."},
				"lab@"+Client4, "lab@"+Client4),
		},
		{
			Name:        "dns-never",
			Description: NameDNSNever + " is forwarded by dnsmasq to a server that never answers; the client's resolver gives up (timeout:1 attempts:2).",
			Runs: both(mariadbTo(NameDNSNever, PortMySQL), phpTo(NameDNSNever, PortMySQL),
				Expect{Outcome: OutcomeUnresolved, ExitCode: 1, MinElapsed: 1900 * time.Millisecond, MaxElapsed: 6 * sec},
				"ERROR 2005 (HY000): Unknown server host '"+NameDNSNever+"' (-3)",
				"mysqli error 2002: php_network_getaddresses: getaddrinfo for "+NameDNSNever+" failed: Temporary failure in name resolution"),
		},
		{
			Name:        "socket-ok",
			Description: "mariadbd #1's unix socket: success (nothing on the wire).",
			Runs: both(MariaDB("-S", Socket(), "-u", DBUser, "-p"+DBPassword, "-N", "-e", "SELECT USER()"),
				PHP("--socket", Socket(), "--user", DBUser, "--password", DBPassword),
				Expect{Outcome: OutcomeOK, MaxElapsed: sec},
				"lab@localhost", "lab@localhost"),
		},
		{
			Name:        "socket-missing",
			Description: "A unix socket path that does not exist: ENOENT.",
			Runs: both(MariaDB("-S", SocketMissing(), "-u", DBUser, "-p"+DBPassword, "-N", "-e", "SELECT USER()"),
				PHP("--socket", SocketMissing(), "--user", DBUser, "--password", DBPassword),
				Expect{Outcome: OutcomeSocketMissing, ExitCode: 1, MaxElapsed: sec},
				"ERROR 2002 (HY000): Can't connect to local server through socket '"+SocketMissing()+"' (2)",
				"mysqli error 2002: No such file or directory"),
		},
		{
			Name:        "socket-denied",
			Description: "mariadbd #1's socket, hard-linked into a 0700 root directory, connected to as user nobody: EACCES.",
			Runs: both(AsNobody(MariaDB("-S", SocketDenied(), "-u", DBUser, "-p"+DBPassword, "-N", "-e", "SELECT USER()")...),
				AsNobody(PHP("--socket", SocketDenied(), "--user", DBUser, "--password", DBPassword)...),
				Expect{Outcome: OutcomePermissionDenied, ExitCode: 1, MaxElapsed: sec},
				"ERROR 2002 (HY000): Can't connect to local server through socket '"+SocketDenied()+"' (13)",
				"mysqli error 2002: Permission denied"),
		},
		{
			Name:        "socket-stale",
			Description: "A unix socket file left behind by a server that is gone (nobody listens): ECONNREFUSED.",
			Runs: both(MariaDB("-S", SocketStale(), "-u", DBUser, "-p"+DBPassword, "-N", "-e", "SELECT USER()"),
				PHP("--socket", SocketStale(), "--user", DBUser, "--password", DBPassword),
				Expect{Outcome: OutcomeRefused, ExitCode: 1, MaxElapsed: sec},
				"ERROR 2002 (HY000): Can't connect to local server through socket '"+SocketStale()+"' (111)",
				"mysqli error 2002: Connection refused"),
		},
		{
			Name: "port-exhaustion",
			Description: "The client namespace's ip_local_port_range is " + PortRange + " and all four ports hold TIME_WAIT " +
				"connections to " + Server4 + ":3306 that the client closed first: connect() fails with EADDRNOTAVAIL, nothing reaches the wire.",
			Setup: ExhaustPorts,
			Runs: both(mariadbTo(Server4, PortMySQL), phpTo(Server4, PortMySQL),
				Expect{Outcome: OutcomeNoLocalPort, ExitCode: 1, MaxElapsed: sec},
				connErr(Server4, "99"), "mysqli error 2002: Cannot assign requested address"),
		},
	}
}
