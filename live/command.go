package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/report"
)

// Config is what `connscope trace` and `connscope run` are asked to do,
// flags already parsed. Options carries the session's part (interface,
// namespace, ports, hosts, processes).
type Config struct {
	Options

	Format     report.Format
	Redact     bool
	FailedOnly bool
	// Output is the report file (-o); "" means standard output for trace,
	// standard error for run (the command's standard output stays its own).
	Output string
	// Pcapng is the file -w records the captured packets to ("" = none).
	Pcapng string
	// Duration stops trace after this long (0 = until Ctrl-C / SIGTERM).
	Duration time.Duration
	// Linger keeps run tracing this long after the command exits, for
	// answers that arrive after the client gave up (a late greeting).
	Linger time.Duration
	// Verbose adds, at the end, what the kernel filter passed and kept
	// back (-v).
	Verbose bool
	// Interval makes trace print the patterns and rollup of the connects
	// so far every Interval, when connects came since the last time
	// (report.Writer.Interim); 0: only at the end.
	Interval time.Duration
	// CommandLine is connscope's own command line, recorded in the pcapng
	// section comment.
	CommandLine []string
}

// Exit codes of run for its own failures, as env(1) and timeout(1) use them:
// the command's own codes pass through unchanged.
const (
	ExitRunFailed = 125 // connscope run itself failed (usage, privileges, sources)
)

// Trace runs `connscope trace`: it prints each connect as soon as it is
// complete, until SIGINT, SIGTERM or the duration ends, then the summary.
// It returns the exit status: 0 after a clean stop, 1 when tracing could
// not start or a file could not be written.
func Trace(cfg Config, stdout, stderr io.Writer) int {
	notice := noticer(stderr)
	cfg.Notice = notice

	out, closeOut, err := openOutput(cfg.Output, stdout)
	if err != nil {
		notice(err.Error())
		return 1
	}
	defer closeOut()
	rec, err := openRecording(cfg.Pcapng, cfg.CommandLine)
	if err != nil {
		notice(err.Error())
		return 1
	}
	cfg.Record = rec
	warnKeepPayload(cfg, notice)

	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}

	// Each connect goes out as soon as it is decided to a terminal; to a
	// file or a pipe what a tick decided goes out together, on the tick.
	held := !isTerminal(out)
	if held {
		// A tick's connects in one buffer: report.NewWriter writes
		// through a bufio.Writer this large as it is (bufio.NewWriterSize).
		out = bufio.NewWriterSize(out, heldOutputBuffer)
	}
	w := report.NewWriter(out, report.Options{Format: cfg.Format, Redact: cfg.Redact, FailedOnly: cfg.FailedOnly, Streaming: true, HoldFlush: held, Rollup: &report.RollupOptions{PortRange: localPortRange(cfg.NetNS)}})
	notice = redactNotices(notice, w)
	cfg.Notice = notice
	var writeErr error
	noteWriteErr := func(err error) {
		if err != nil && writeErr == nil {
			writeErr = err
			notice(fmt.Sprintf("writing the report: %v", err))
		}
	}
	cfg.OnConnect = func(c *analyze.Connect) { noteWriteErr(w.Connect(c)) }
	// The JSON report writes each connect at once and keeps nothing of it
	// (nor does the session's process filter, keep): the engine may reuse
	// a connect's memory once it was written.
	cfg.Recycle = !w.KeepsConnects()
	if held {
		cfg.OnTick = func() { noteWriteErr(w.Flush()) }
	}
	if cfg.Interval > 0 {
		cfg.OnTick = interimOnTick(cfg.OnTick, cfg.Interval, time.Now, func(now time.Time) { noteWriteErr(w.Interim(now)) })
	}
	s, err := Start(cfg.Options)
	if err != nil {
		notice(err.Error())
		closeRecording(rec, notice)
		return 1
	}
	defer s.Close()
	until := "Ctrl-C stops"
	if cfg.Duration > 0 {
		until = fmt.Sprintf("stopping after %v (or Ctrl-C)", cfg.Duration)
	}
	notice(fmt.Sprintf("tracing %s; %s", s.Describe(), until))
	w.SetSource("live")

	sum, runErr := s.Run(ctx)
	// A second Ctrl-C while the summary is written ends connscope at once.
	stopSignals()

	status := 0
	if err := w.Summary(sum); err != nil && writeErr == nil {
		notice(fmt.Sprintf("writing the report: %v", err))
		status = 1
	}
	if writeErr != nil {
		status = 1
	}
	if fr := s.FilterReport(); fr != "" && cfg.Verbose {
		notice(fr)
	}
	if !closeRecording(rec, notice) {
		status = 1
	}
	if runErr != nil {
		status = 1
	}
	return status
}

// heldOutputBuffer is trace's output buffer to a file or a pipe, flushed
// on the pipeline's tick. At 10,000 connects/s the JSON report is about
// 32 MB/s: report.Writer's own 64 KiB buffer made about 500 write(2)s a
// second, 1 MiB about 60 (strace -c); write(2)'s share of trace's CPU
// under perf went from 5.6% to 3.3% (the bytes copied stay the same).
const heldOutputBuffer = 1 << 20

// RunCommand runs `connscope run -- argv`: it starts the command held at a
// barrier, adds its pid to the tracer, releases it, traces it and its
// children until it exits (plus Linger and a short drain), prints the report
// and returns the command's exit status (or ExitRunFailed when connscope
// itself failed before the command could run). The command's standard
// streams are passed through untouched.
func RunCommand(cfg Config, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	notice := noticer(stderr)
	cfg.Notice = notice
	if len(argv) == 0 {
		notice("run: no command given: connscope run [flags] -- CMD ARGS...")
		return ExitRunFailed
	}
	// The report goes to -o, or to standard error once the command is done.
	var (
		out      io.Writer
		sp       *spool
		closeOut = func() {}
	)
	if cfg.Output != "" {
		var err error
		out, closeOut, err = openOutput(cfg.Output, nil)
		if err != nil {
			notice(err.Error())
			return ExitRunFailed
		}
	} else {
		sp = &spool{}
		out = sp
	}
	defer closeOut()
	rec, err := openRecording(cfg.Pcapng, cfg.CommandLine)
	if err != nil {
		notice(err.Error())
		return ExitRunFailed
	}
	cfg.Record = rec
	warnKeepPayload(cfg, notice)
	cfg.FilterPIDs = true
	cfg.FollowChildren = true
	cfg.PIDs = nil

	w := report.NewWriter(out, report.Options{Format: cfg.Format, Redact: cfg.Redact, FailedOnly: cfg.FailedOnly, Rollup: &report.RollupOptions{PortRange: localPortRange(cfg.NetNS)}})
	notice = redactNotices(notice, w)
	cfg.Notice = notice
	var writeErr error
	cfg.OnConnect = func(c *analyze.Connect) {
		if err := w.Connect(c); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	s, err := Start(cfg.Options)
	if err != nil {
		notice(err.Error())
		closeRecording(rec, notice)
		return ExitRunFailed
	}
	defer s.Close()

	// SIGINT and SIGQUIT from the terminal reach the command directly (same
	// process group): connscope ignores them and reports once the command
	// has exited. SIGTERM and SIGHUP sent to connscope are passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	child, err := StartChild(argv, stdin, stdout, stderr)
	if err != nil {
		notice(err.Error())
		stopRun()
		s.Run(runCtx)
		closeRecording(rec, notice)
		return ExitRunFailed
	}
	// abort ends the held child without running the command (never run it
	// untraced), stops the session and keeps the recording valid.
	abort := func(err error) int {
		child.Cmd.Process.Kill()
		child.Wait()
		notice(err.Error())
		stopRun()
		s.Run(runCtx)
		closeRecording(rec, notice)
		return ExitRunFailed
	}
	if err := s.AddPID(child.Pid()); err != nil {
		return abort(err)
	}
	masked := MaskSecrets(argv)
	notice(fmt.Sprintf("tracing %s (pid %d): %s", shellQuote(w.RedactCommand(masked)), child.Pid(), s.Describe()))
	if err := child.Release(); err != nil {
		return abort(err)
	}
	w.SetCommand(masked)

	type result struct {
		sum analyze.Summary
		err error
	}
	ran := make(chan result, 1)
	go func() {
		sum, err := s.Run(runCtx)
		ran <- result{sum, err}
	}()
	exited := make(chan int, 1)
	go func() {
		code, err := child.Wait()
		if err != nil {
			notice(fmt.Sprintf("waiting for %s: %v", argv[0], err))
		}
		exited <- code
	}()
	var code int
wait:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGHUP {
				child.Cmd.Process.Signal(sig)
			}
		case code = <-exited:
			break wait
		}
	}
	if cfg.Linger > 0 {
		time.Sleep(cfg.Linger)
	}
	stopRun()
	res := <-ran

	if err := w.Summary(res.sum); err != nil && writeErr == nil {
		writeErr = err
	}
	if sp != nil {
		if err := sp.copyTo(stderr); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	if writeErr != nil {
		notice(fmt.Sprintf("writing the report: %v", writeErr))
	}
	if fr := s.FilterReport(); fr != "" && cfg.Verbose {
		notice(fr)
	}
	closeRecording(rec, notice)
	return code
}

// isTerminal says whether out is a terminal (someone watching).
func isTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// redactNotices passes notices through the report's redaction (--redact):
// they go to the same standard error as run's report.
func redactNotices(notice func(string), w *report.Writer) func(string) {
	return func(s string) { notice(w.RedactText(s)) }
}

// noticer prints one-line notices prefixed with "connscope: ".
func noticer(w io.Writer) func(string) {
	return func(s string) { fmt.Fprintln(w, "connscope: "+s) }
}

// openOutput opens the report file (-o), or returns def when none is named.
func openOutput(path string, def io.Writer) (io.Writer, func(), error) {
	if path == "" || path == "-" && def != nil {
		return def, func() {}, nil
	}
	f, err := report.CreateFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the report file: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// openRecording creates the -w file and its pcapng section, whose comment
// records connscope's command line and the kernel.
func openRecording(path string, cmdline []string) (*capture.PcapngWriter, error) {
	if path == "" {
		return nil, nil
	}
	f, err := report.CreateFile(path)
	if err != nil {
		return nil, fmt.Errorf("creating the capture file: %w", err)
	}
	pw, err := capture.NewPcapngWriter(f, SectionComment(cmdline, time.Now()))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pw, nil
}

// warnKeepPayload says in one line that the -w file keeps credentials.
func warnKeepPayload(cfg Config, notice func(string)) {
	if cfg.Record != nil && cfg.KeepPayload {
		notice(fmt.Sprintf("warning: --keep-payload: %s keeps every captured byte, passwords and auth responses included; keep it private", cfg.Pcapng))
	}
}

// closeRecording flushes and closes the -w file; false when that failed.
func closeRecording(pw *capture.PcapngWriter, notice func(string)) bool {
	if pw == nil {
		return true
	}
	if err := pw.Close(); err != nil && !errors.Is(err, capture.ErrWriterClosed) {
		notice(fmt.Sprintf("closing the capture file: %v", err))
		return false
	}
	return true
}

// SectionComment is the pcapng section comment of a -w file: connscope's
// command line, the kernel, and when the capture started.
func SectionComment(cmdline []string, start time.Time) string {
	return fmt.Sprintf("connscope live capture\ncommand: %s\nkernel: %s\nstarted: %s",
		shellQuote(maskCommandLine(cmdline)), kernelRelease(), start.UTC().Format(time.RFC3339Nano))
}

// maskCommandLine masks passwords in the traced command of connscope's own
// command line (the words after "--").
func maskCommandLine(cmdline []string) []string {
	for i, a := range cmdline {
		if a == "--" {
			return append(append([]string(nil), cmdline[:i+1]...), MaskSecrets(cmdline[i+1:])...)
		}
	}
	return cmdline
}

// kernelRelease is what `uname -srm` prints.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown (uname: " + err.Error() + ")"
	}
	return unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
}

// shellQuote joins args so that a shell would split them back the same way
// (as the report's source heading shows a command).
func shellQuote(args []string) string { return report.QuoteArgs(args) }

// interimOnTick wraps a tick callback (nil: none) so that it also calls
// interim once every interval of the clock now, starting one interval
// after the first tick.
func interimOnTick(tick func(), interval time.Duration, now func() time.Time, interim func(time.Time)) func() {
	var next time.Time
	return func() {
		if tick != nil {
			tick()
		}
		t := now()
		switch {
		case next.IsZero():
			next = t.Add(interval)
		case !t.Before(next):
			interim(t)
			for !t.Before(next) {
				next = next.Add(interval)
			}
		}
	}
}

// localPortRange is net.ipv4.ip_local_port_range of the traced namespace,
// for the ephemeral_ports pattern; zero (Linux's default is then assumed,
// and the pattern says so) when it cannot be read, or for --netns (the
// sysctl is per namespace and connscope reads its own).
func localPortRange(netns string) [2]int {
	if netns != "" {
		return [2]int{}
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return [2]int{}
	}
	return parsePortRange(string(b))
}

// parsePortRange parses "first<whitespace>last"; zero when malformed.
func parsePortRange(s string) [2]int {
	f := strings.Fields(s)
	if len(f) != 2 {
		return [2]int{}
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || hi < lo {
		return [2]int{}
	}
	return [2]int{lo, hi}
}
