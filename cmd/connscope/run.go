package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/connscope/connscope/live"
)

func init() {
	commands["run"] = func(args []string) int {
		return runCommand(args, os.Stdin, os.Stdout, os.Stderr)
	}
}

const runUsage = `Usage: connscope run [flags] -- CMD ARGS...

Runs CMD (its standard input, output and error untouched) and traces only it
and the processes it forks: every connect it makes, with the process behind
each attempt, including failures that never reach the wire (unix socket
missing, permission denied, no route, no local port). When CMD exits, the
report is printed to standard error (or -o FILE) and connscope exits with
CMD's exit status. Needs root, or CAP_BPF + CAP_PERFMON + CAP_NET_RAW +
CAP_NET_ADMIN.

Ctrl-C reaches CMD as usual; connscope keeps tracing until CMD exits.
SIGTERM and SIGHUP sent to connscope are passed on to CMD. Passwords on
CMD's command line (-pSECRET, --password=SECRET, --password SECRET, URLs,
password=, MYSQL_PWD=, SQL's IDENTIFIED BY '...' and PASSWORD '...') are
masked wherever connscope shows or records the command line.

  sudo connscope run -- mariadb -h db.example -e 'select 1'
  sudo connscope run --format json -o report.json -- php check.php
  sudo connscope run --netns blue -- ip netns exec blue mariadb -h db

Flags:
  -i, --interface IFACE     capture on IFACE only (default: every interface)
  --netns NS                capture inside network namespace NS (a name from
                            'ip netns list', or /proc/PID/ns/net): needed
                            when CMD runs in another namespace, e.g.
                            'ip netns exec NS ...', since a packet socket
                            sees only its own namespace's interfaces
  --port N                  only attempts to server port N (repeatable, or
                            comma-separated; default: every TCP port); unix
                            sockets only when --host names the path, or
                            for a mysql/mariadb socket when N is 3306
  --host H                  only connects touching H: an address, a CIDR
                            prefix or a name (repeatable)
  --linger D                keep tracing D after CMD exits, for answers that
                            come after the client gave up (a late greeting)
  -w FILE.pcapng            record the captured packets with their process;
                            credentials in client payload are blanked
  --keep-payload            with -w: keep every captured byte, credentials
                            included
  -o FILE                   write the report to FILE instead of standard error
                            (-w and -o files get mode 0600; a symlink is
                            refused, not followed)
  --format table|markdown|json|line   output format (default table;
                            line: one compact line per connect)
  --failed                  only connects that did not end ok
  --redact                  replace addresses, names, user and database
                            names with stable pseudonyms, also in CMD's
                            command line and in notices
  -v                        at the end, also say what the kernel filter
                            passed and kept back

Exit status: CMD's (128+N when a signal N ended it); 125 when connscope
itself failed (usage, privileges, no source could open), 126 when CMD
could not be executed, 127 when it was not found.
`

// runCommand runs `connscope run` and returns the exit status.
func runCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var lf liveFlags
	lf.register(fs)
	linger := fs.Duration("linger", 0, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, runUsage)
			return 0
		}
		fmt.Fprintf(stderr, "connscope run: %v\n\n%s", err, runUsage)
		return live.ExitRunFailed
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintf(stderr, "connscope run: no command given\n\n%s", runUsage)
		return live.ExitRunFailed
	}
	if *linger < 0 {
		fmt.Fprintf(stderr, "connscope run: --linger %v is negative\n", *linger)
		return live.ExitRunFailed
	}
	cfg, err := lf.config()
	if err != nil {
		fmt.Fprintf(stderr, "connscope run: %v\n", err)
		return live.ExitRunFailed
	}
	cfg.Linger = *linger
	liveGC()
	return live.RunCommand(cfg, argv, stdin, stdout, stderr)
}
