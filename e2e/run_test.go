package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connscope/connscope/lab"
)

// runParallel is how many `connscope run`s go at once: the lab's clients
// mostly wait (timeouts, late greetings), so a few overlap well even on two
// cores. Each run traces only its own command (eBPF pid filter), and packets
// of the others are left out by process, so they do not see each other.
const runParallel = 4

// kernelErrno is the errno connscope must show for the failures only eBPF
// sees (nothing reaches the wire).
var kernelErrno = map[string]string{
	"socket-missing":    "ENOENT",
	"socket-denied":     "EACCES",
	"socket-stale":      "ECONNREFUSED",
	"no-route":          "ENETUNREACH",
	"no-route6":         "ENETUNREACH",
	"port-exhaustion":   "EADDRNOTAVAIL",
	"pg-socket-missing": "ENOENT",
	"pg-socket-denied":  "EACCES",
	"pg-socket-stale":   "ECONNREFUSED",
}

// TestLab runs the end-to-end tests that use the lab, bringing it up once
// (or using it as it is when it is already up).
func TestLab(t *testing.T) {
	requireLive(t)
	bin := connscopeBinary(t)
	lab.Up(t)
	t.Run("run", func(t *testing.T) { testRunLabScenarios(t, bin) })
	t.Run("trace-round-trip", func(t *testing.T) { testTraceRecordsAndReadsBack(t, bin) })
	t.Run("trace-stops", func(t *testing.T) { testTraceStops(t, bin) })
	t.Run("run-redact", func(t *testing.T) { testRunRedact(t, bin) })
}

// testRunLabScenarios runs every lab scenario with both real clients under
// `connscope run` and checks, from its JSON report: one connect, its outcome,
// each attempt's outcome in order, the process behind every attempt (the
// client's pid and name), the MySQL error code and, for failures that never
// reach the wire, the errno. It also checks that the command's exit status
// and output pass through.
func testRunLabScenarios(t *testing.T, bin string) {
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var (
		exclusive sync.RWMutex // scenarios with a set-up change the lab for everyone
		slots     = make(chan struct{}, runParallel)
	)
	for _, sc := range lab.Scenarios {
		for _, run := range sc.Runs {
			t.Run(sc.Name+"/"+run.Client, func(t *testing.T) {
				t.Parallel()
				if sc.Setup != nil {
					exclusive.Lock()
					defer exclusive.Unlock()
				} else {
					exclusive.RLock()
					defer exclusive.RUnlock()
				}
				slots <- struct{}{}
				defer func() { <-slots }()
				runScenario(t, bin, root, sc, run)
			})
		}
	}
}

func runScenario(t *testing.T, bin, root string, sc lab.Scenario, run lab.ClientRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if sc.Setup != nil {
		undo, err := sc.Setup(ctx)
		if err != nil {
			t.Fatalf("set-up: %v", err)
		}
		defer undo()
	}
	x := run.Expect
	report := filepath.Join(t.TempDir(), "report.json")
	args := []string{"run", "--netns", lab.NSClient, "--format", "json", "-o", report}
	if run.Linger > 0 {
		// The scenario waits for an answer that comes after the client gave
		// up (a late greeting): keep tracing until it has come.
		args = append(args, "--linger", (run.Linger - x.MinElapsed + 500*time.Millisecond).String())
	}
	args = append(args, "--", "ip", "netns", "exec", lab.NSClient)
	args = append(args, run.Argv...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	code := 0
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running connscope: %v", err)
		}
		code = exit.ExitCode()
	}
	t.Logf("connscope %s\n  exit %d after %v\n  stdout: %s\n  stderr: %s", strings.Join(args, " "), code, elapsed.Round(time.Millisecond),
		strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))

	// The command's exit status and output pass through untouched.
	if code != x.ExitCode {
		t.Errorf("exit status %d, want the client's %d", code, x.ExitCode)
	}
	// The client's own words pass through (the errno libmariadb appends
	// to a lost connection depends on timing: compare the text before it).
	says, _, _ := strings.Cut(x.Says, ", system error:")
	if !strings.Contains(stdout.String()+stderr.String(), says) {
		t.Errorf("the client's output does not contain %q", says)
	}
	if strings.Contains(stdout.String(), "connscope:") || strings.Contains(stdout.String(), `"kind"`) {
		t.Errorf("connscope wrote to the command's standard output: %q", stdout.String())
	}
	if strings.Contains(stderr.String(), "labpass") {
		t.Errorf("the password appears in connscope's messages: %q", stderr.String())
	}
	pid, ok := childPID(stderr.String())
	if !ok {
		t.Fatalf("no 'tracing ... (pid N)' notice on standard error")
	}

	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("reading the report: %v", err)
	}
	connects, summary := parseReport(t, data)
	defer func() {
		if t.Failed() {
			t.Logf("the report (timelines, evidence, the summary's errors):\n%s", data)
		}
	}()
	if summary == nil {
		t.Fatalf("the report has no summary line:\n%s", data)
	}
	if summary.KernelDrops != 0 || summary.RingBufferLost != 0 {
		t.Errorf("summary: %d kernel drops, %d eBPF events lost; want none", summary.KernelDrops, summary.RingBufferLost)
	}
	if len(connects) != 1 {
		t.Fatalf("%d connects reported, want 1:%s", len(connects), describe(connects))
	}
	c := connects[0]

	wantOutcome := x.Outcome
	if c.Outcome != wantOutcome {
		t.Errorf("outcome %s, want %s:%s", c.Outcome, wantOutcome, describe(connects))
	}
	// The lab lists the attempts seen on the wire; an attempt that never
	// reached it (unix socket, no route, no local port) is seen by eBPF.
	wantAttempts := x.Attempts
	if len(wantAttempts) == 0 && x.Outcome != lab.OutcomeUnresolved {
		wantAttempts = []string{x.Outcome}
	}
	var got []string
	for _, a := range c.Attempts {
		got = append(got, a.Outcome)
	}
	if strings.Join(got, ",") != strings.Join(wantAttempts, ",") {
		t.Errorf("attempts %v, want %v:%s", got, wantAttempts, describe(connects))
	}

	// Process attribution: the client's name everywhere; its pid is the
	// command's own (ip netns exec, setpriv exec it in place) unless a
	// wrapper forks it (timeout).
	forks := run.Argv[0] == "timeout"
	if c.Comm != run.Comm() {
		t.Errorf("connect comm %q, want %q", c.Comm, run.Comm())
	}
	if !forks && c.PID != pid {
		t.Errorf("connect pid %d, want the command's pid %d", c.PID, pid)
	}
	if forks && (c.PID == 0 || c.PID == pid) {
		t.Errorf("connect pid %d, want the pid of the client %s forked by %s (pid %d)", c.PID, run.Client, run.Argv[0], pid)
	}
	for i, a := range c.Attempts {
		if a.PID != c.PID || a.Comm != c.Comm {
			t.Errorf("attempt %d: process %s[%d], want %s[%d]", i+1, a.Comm, a.PID, c.Comm, c.PID)
		}
	}
	if want := x.MySQLErrorCode; want != 0 {
		last := c.Attempts[len(c.Attempts)-1]
		if last.MySQL == nil || last.MySQL.ErrorCode != want {
			t.Errorf("MySQL error code %+v, want %d", last.MySQL, want)
		}
	}
	if want, ok := kernelErrno[sc.Name]; ok && len(c.Attempts) > 0 {
		if got := c.Attempts[0].Errno; got != want {
			t.Errorf("errno %q, want %s", got, want)
		}
	}
}
