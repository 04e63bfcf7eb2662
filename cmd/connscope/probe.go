package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/connscope/connscope/probe"
	"github.com/connscope/connscope/report"
)

func init() {
	commands["probe"] = func(args []string) int {
		return probeCommand(args, os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	}
}

const probeUsage = `Usage: connscope probe [flags] TARGET

The MySQL manual's "Can't connect to [local] MySQL server" checklist (and its
PostgreSQL counterpart) as one command. TARGET is host[:port],
[ipv6]:port, mysql://[user@]host[:port][/db], postgres://[user@]host[:port][/db],
or a unix socket path (PostgreSQL: the socket file or its directory).
Default port: 3306, or 5432 for postgres://.

It resolves the name as this host's resolver would (/etc/nsswitch.conf,
/etc/hosts, /etc/resolv.conf servers and search domains, A and AAAA, RFC 6724
order), connects to every address at once, each with its own timeout, reads
the server's first bytes (MySQL greeting or ERR; PostgreSQL's answer to an
SSLRequest), logs in once when a user is given, and checks this host: the
server process and its listening sockets (from the kernel), socket files and
option files (socket=, bind-address, skip-networking), free local ports,
nftables rules for the port, SELinux/AppArmor and the listen queue.
At most one connect per address and one login; no retries, no other ports.
A MySQL server counts a connection closed after its greeting, without a
login, as an aborted handshake of this host (max_connect_errors, default
100, then ERR 1129 until FLUSH HOSTS); a successful login resets the count.
As root, the probe runs its own lookups and connects under the same tracing
as run (packets and eBPF) and prints each address's timeline, reason and
likely causes after the checklist; a failure that never reaches the wire
(no route, permission denied, a missing socket file) shows as such.

  connscope probe db.example
  MYSQL_PWD=... connscope probe --user app mysql://db.example:3307/appdb
  connscope probe /run/mysqld/mysqld.sock --as-user www-data
  connscope probe --format json postgres://db.example

Flags:
  --timeout D        per address, for the connect and again for the first
                     bytes (default 3s)
  --user U           log in as U (a user in the URL does the same). The
                     password comes from MYSQL_PWD (PGPASSWORD for
                     PostgreSQL), or a prompt on the terminal; never from
                     the command line, and it is never printed or written
  --tls              require TLS for the login (the certificate is shown and
                     checked against the system's roots, not enforced)
  --as-user U        check socket file permissions for user U instead of
                     the invoking user
  --protocol P       mysql or postgres, for a target without a scheme
  --no-trace         do not trace the probe's own connects (as root)
  --format table|markdown|json   (default table; json: one record per line)
  --redact           replace addresses, names and users with pseudonyms
  -o FILE            write the report to FILE (mode 0600) instead of stdout

Exit status: 0 when an address connected and greeted (and the login
succeeded, when asked for), 1 otherwise, 2 for usage errors.
`

// probeCommand runs `connscope probe` and returns the exit status.
func probeCommand(args []string, stdin *os.File, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		timeout  = fs.Duration("timeout", 3*time.Second, "")
		user     = fs.String("user", "", "")
		useTLS   = fs.Bool("tls", false, "")
		asUser   = fs.String("as-user", "", "")
		protocol = fs.String("protocol", "", "")
		format   = fs.String("format", "table", "")
		redact   = fs.Bool("redact", false, "")
		output   = fs.String("o", "", "")
		noTrace  = fs.Bool("no-trace", false, "")
	)
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "connscope probe: "+format+"\n\n%s", append(a, probeUsage)...)
		return 2
	}
	for _, a := range args {
		if a == "-p" || strings.HasPrefix(a, "--password") || strings.HasPrefix(a, "-password") || (strings.HasPrefix(a, "-p") && !strings.HasPrefix(a, "-pr")) {
			return usageErr("a password is never taken from the command line (other users can read it in the process list): set MYSQL_PWD / PGPASSWORD, or answer the prompt")
		}
	}
	// Flags may come before or after TARGET.
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, probeUsage)
				return 0
			}
			return usageErr("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(positional) != 1 {
		return usageErr("give exactly one TARGET (got %d)", len(positional))
	}
	if *timeout <= 0 {
		return usageErr("--timeout %v must be positive", *timeout)
	}
	switch *format {
	case probe.FormatTable, probe.FormatMarkdown, probe.FormatJSON:
	default:
		return usageErr("--format %q: use table, markdown or json", *format)
	}
	target, err := probe.ParseTarget(positional[0], *protocol)
	if err != nil {
		return usageErr("%v", err)
	}
	opts := probe.Options{Target: target, Timeout: *timeout, RequireTLS: *useTLS, AsUser: *asUser, Trace: !*noTrace}
	login := *user
	if login == "" {
		login = target.User
	}
	if *useTLS && login == "" {
		return usageErr("--tls applies to the login: give --user too")
	}
	if login != "" {
		cr := probe.Credentials{User: login, Database: target.Database}
		env := "MYSQL_PWD"
		if target.Protocol == probe.Postgres {
			env = "PGPASSWORD"
		}
		if pw := getenv(env); pw != "" {
			cr.Password, cr.PasswordFrom = pw, env
		} else if stdin != nil && term.IsTerminal(int(stdin.Fd())) {
			fmt.Fprintf(stderr, "password for %s (%s is not set): ", login, env)
			pw, err := term.ReadPassword(int(stdin.Fd()))
			fmt.Fprintln(stderr)
			if err != nil {
				fmt.Fprintf(stderr, "connscope probe: reading the password from the terminal: %v\n", err)
				return 2
			}
			cr.Password, cr.PasswordFrom = string(pw), "prompt"
		} else {
			cr.PasswordFrom = "none (" + env + " unset, standard input not a terminal)"
		}
		opts.Creds = &cr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res := probe.Run(ctx, opts)

	out := stdout
	if *output != "" {
		f, err := report.CreateFile(*output)
		if err != nil {
			fmt.Fprintf(stderr, "connscope probe: %v\n", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	if err := probe.Write(out, res, *format, *redact); err != nil {
		fmt.Fprintf(stderr, "connscope probe: writing the report: %v\n", err)
		return 1
	}
	if res.OK() {
		return 0
	}
	return 1
}
