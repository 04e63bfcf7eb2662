package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/connscope/connscope/live"
	"github.com/connscope/connscope/report"
)

func init() {
	commands["trace"] = func(args []string) int {
		return traceCommand(args, os.Stdout, os.Stderr)
	}
}

const traceUsage = `Usage: connscope trace [flags]

Traces connects live (root, or CAP_BPF + CAP_PERFMON + CAP_NET_RAW +
CAP_NET_ADMIN): packets from an AF_PACKET capture and connect()/socket events
from eBPF, merged into one timeline per connect, printed as soon as each
connect is complete. Ctrl-C (SIGINT) or SIGTERM stops it: the summary
(attempts by outcome, kernel drops, lost eBPF events) is printed and every
file is flushed.

Flags:
  -i, --interface IFACE     capture on IFACE only (default: every interface)
  --netns NS                capture inside network namespace NS: a name from
                            'ip netns list' or a path such as
                            /proc/PID/ns/net (a container's namespace)
  --pid PID                 only connects of process PID and the children it
                            forks from now on (repeatable, or comma-separated)
  --comm NAME               only connects of processes named NAME (repeatable)
  --port N                  only attempts to server port N (repeatable, or
                            comma-separated; default: every TCP port, MySQL
                            decoded wherever it is seen). A unix socket has
                            no port: with --port, unix-socket connects are
                            shown only when --host names the socket's path,
                            or for a mysql/mariadb socket when N is 3306
  --host H                  only connects touching H: an address, a CIDR
                            prefix or a name (repeatable)
  --duration D              stop after D (e.g. 30s, 5m)
  --interval D              every D, print the patterns and rollup of the
                            connects so far (when connects came since the
                            last time; JSON: an "interval" record, then
                            pattern, group and timeseries records); 0: only
                            at the end (default 1m)
  -w FILE.pcapng            record the captured packets, each with its
                            process (pid, comm) as a packet comment;
                            'connscope analyze FILE.pcapng' reads it back.
                            Credentials in client payload are blanked
                            (MySQL auth responses, PostgreSQL password
                            messages, other protocols after 8 bytes)
  --keep-payload            with -w: keep every captured byte, credentials
                            included
  -o FILE                   write the report to FILE (default: standard output)
                            (-w and -o files get mode 0600; a symlink is
                            refused, not followed)
  --format table|markdown|json|line   output format (default table;
                            line: one compact line per connect)
  --failed                  only connects that did not end ok
  --redact                  replace addresses, names, user and database
                            names with stable pseudonyms, also in notices
  -v                        at the end, also say on standard error what the
                            kernel filter passed and kept back

Exit status: 0 after a clean stop, 1 when tracing could not start or a file
could not be written, 2 for a usage error.
`

// pidList is a repeatable --pid flag that also takes comma-separated lists.
type pidList []uint32

func (p *pidList) String() string { return fmt.Sprint([]uint32(*p)) }

func (p *pidList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not a process id", f)
		}
		*p = append(*p, uint32(n))
	}
	return nil
}

// liveFlags are the flags trace and run share.
type liveFlags struct {
	iface, netns, pcapng, output, format string
	ports                                portList
	hosts                                stringList
	failed, redact, verbose              bool
	keepPayload                          bool
}

func (f *liveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.iface, "i", "", "")
	fs.StringVar(&f.iface, "interface", "", "")
	fs.StringVar(&f.netns, "netns", "", "")
	fs.StringVar(&f.pcapng, "w", "", "")
	fs.StringVar(&f.output, "o", "", "")
	fs.StringVar(&f.format, "format", "table", "")
	fs.Var(&f.ports, "port", "")
	fs.Var(&f.hosts, "host", "")
	fs.BoolVar(&f.failed, "failed", false, "")
	fs.BoolVar(&f.redact, "redact", false, "")
	fs.BoolVar(&f.verbose, "v", false, "")
	fs.BoolVar(&f.keepPayload, "keep-payload", false, "")
}

// config maps the shared flags onto a live.Config.
func (f *liveFlags) config() (live.Config, error) {
	format, err := report.ParseFormat(f.format)
	if err != nil {
		return live.Config{}, fmt.Errorf("--format: %w", err)
	}
	if f.keepPayload && f.pcapng == "" {
		return live.Config{}, fmt.Errorf("--keep-payload applies to the -w file, and no -w FILE is given")
	}
	return live.Config{
		Options: live.Options{
			Interface: f.iface,
			NetNS:     f.netns,
			Ports:     f.ports,
			Hosts:     f.hosts,

			KeepPayload: f.keepPayload,
		},
		Format:      format,
		Redact:      f.redact,
		FailedOnly:  f.failed,
		Verbose:     f.verbose,
		Output:      f.output,
		Pcapng:      f.pcapng,
		CommandLine: os.Args,
	}, nil
}

// traceCommand runs `connscope trace` and returns its exit status.
func traceCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		lf       liveFlags
		pids     pidList
		comms    stringList
		duration = fs.Duration("duration", 0, "")
		interval = fs.Duration("interval", time.Minute, "")
	)
	lf.register(fs)
	fs.Var(&pids, "pid", "")
	fs.Var(&comms, "comm", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, traceUsage)
			return 0
		}
		fmt.Fprintf(stderr, "connscope trace: %v\n\n%s", err, traceUsage)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "connscope trace: unexpected argument %q (to trace a command, use: connscope run [flags] -- CMD ARGS...)\n\n%s", fs.Arg(0), traceUsage)
		return 2
	}
	if *duration < 0 {
		fmt.Fprintf(stderr, "connscope trace: --duration %v is negative\n", *duration)
		return 2
	}
	if *interval < 0 {
		fmt.Fprintf(stderr, "connscope trace: --interval %v is negative (0 prints the rollup only at the end)\n", *interval)
		return 2
	}
	cfg, err := lf.config()
	if err != nil {
		fmt.Fprintf(stderr, "connscope trace: %v\n", err)
		return 2
	}
	cfg.PIDs = pids
	cfg.FollowChildren = len(pids) > 0
	cfg.Comms = comms
	cfg.Duration = *duration
	cfg.Interval = *interval
	liveGC()
	return live.Trace(cfg, stdout, stderr)
}
