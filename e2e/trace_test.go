package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/lab"
)

// tracer is a `connscope trace` running in the background.
type tracer struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	mu     *sync.Mutex // guards stdout while the process writes it
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTrace starts `connscope trace args...` and waits until it says it is
// tracing (sources open, filters attached).
func startTrace(t *testing.T, bin string, args ...string) *tracer {
	t.Helper()
	out := &lockedBuffer{}
	errb := &lockedBuffer{}
	cmd := exec.Command(bin, append([]string{"trace"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tr := &tracer{cmd: cmd, stderr: errb, done: make(chan error, 1)}
	tr.stdout = &out.b
	tr.mu = &out.mu
	go func() { tr.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-tr.done
		}
	})
	deadline := time.After(15 * time.Second)
	for !strings.Contains(errb.String(), "connscope: tracing ") {
		select {
		case err := <-tr.done:
			t.Fatalf("connscope trace exited before tracing: %v\n%s", err, errb.String())
		case <-deadline:
			t.Fatalf("connscope trace did not start within 15 s:\n%s", errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return tr
}

func (tr *tracer) output() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.stdout.String()
}

// stop sends sig and waits for the exit status.
func (tr *tracer) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if sig != nil {
		if err := tr.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-tr.done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		tr.cmd.Process.Kill()
		t.Fatalf("connscope trace did not stop within 20 s of %v; stderr:\n%s", sig, tr.stderr.String())
		return -1
	}
}

// waitConnects waits until the live JSON output holds n connects.
func (tr *tracer) waitConnects(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Count(tr.output(), `"kind":"connect"`) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after %v the trace printed %d connects, want %d:\n%s\nstderr:\n%s", within,
		strings.Count(tr.output(), `"kind":"connect"`), n, tr.output(), tr.stderr.String())
}

// runClient runs one lab scenario's client and checks it did what the lab
// says it does.
func runClient(t *testing.T, scenario, client string) {
	t.Helper()
	for _, sc := range lab.Scenarios {
		if sc.Name != scenario {
			continue
		}
		for _, run := range sc.Runs {
			if run.Client != client {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := lab.Run(ctx, lab.NSClient, run.Argv...)
			if res.Err != nil || res.ExitCode != run.Expect.ExitCode {
				t.Fatalf("%s/%s: exit %d (%v), want %d: %s", scenario, client, res.ExitCode, res.Err, run.Expect.ExitCode, res.Output())
			}
			return
		}
	}
	t.Fatalf("no lab scenario %s with client %s", scenario, client)
}

// signature is what must agree between the live report and the analysis
// of the file it wrote: the timeline's shape and every attempt's process.
func signature(c jsonConnect) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s name=%q port=%d outcome=%s process=%s[%d]", c.Client, c.Name, c.Port, c.Outcome, c.Comm, c.PID)
	for _, a := range c.Attempts {
		fmt.Fprintf(&b, " | %s %s syns=%d %s[%d]", a.Server, a.Outcome, a.SYNCount, a.Comm, a.PID)
		if a.MySQL != nil {
			fmt.Fprintf(&b, " mysql=%s err=%d", a.MySQL.ServerVersion, a.MySQL.ErrorCode)
		}
	}
	var qs []string
	for _, q := range c.Resolution {
		qs = append(qs, q.Type+" "+q.Name+" "+q.Rcode)
	}
	sort.Strings(qs)
	fmt.Fprintf(&b, " | dns %s", strings.Join(qs, ", "))
	return b.String()
}

// onTheWire says whether a connect left anything in the capture (attempts
// that only eBPF saw — unix sockets, no route — cannot be in the file).
func onTheWire(c jsonConnect) bool {
	if len(c.Resolution) > 0 {
		return true
	}
	for _, a := range c.Attempts {
		if a.SYNCount > 0 {
			return true
		}
	}
	return false
}

// testTraceRecordsAndReadsBack traces the lab client namespace with -w while
// both clients run a handful of scenarios, stops with Ctrl-C, and checks that
// the pcapng file reads in tshark (with a process comment on packets) and
// back in `connscope analyze` with the same timelines and processes as the
// live report.
func testTraceRecordsAndReadsBack(t *testing.T, bin string) {
	pcapng := filepath.Join(t.TempDir(), "trace.pcapng")
	// --comm: eBPF sees the whole machine; only the lab clients are wanted.
	tr := startTrace(t, bin, "--netns", lab.NSClient, "--comm", "mariadb", "--comm", "php", "--format", "json", "-w", pcapng)

	runs := []struct{ scenario, client string }{
		{"ok-v4", lab.ClientMariaDB},
		{"ok-name", lab.ClientPHP},
		{"refused", lab.ClientMariaDB},
		{"reject-port", lab.ClientPHP},
		{"wrong-password", lab.ClientMariaDB},
		{"nxdomain", lab.ClientMariaDB},
		{"socket-missing", lab.ClientPHP},
	}
	for _, r := range runs {
		runClient(t, r.scenario, r.client)
	}
	// Each connect is printed once it is complete (an unresolved name
	// waits ~2 s for an attempt that might follow).
	tr.waitConnects(t, len(runs), 15*time.Second)
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d after SIGINT; stderr:\n%s", code, tr.stderr.String())
	}
	live, summary := parseReport(t, []byte(tr.output()))
	if summary == nil {
		t.Fatalf("no summary after SIGINT:\n%s", tr.output())
	}
	if len(live) != len(runs) {
		t.Fatalf("%d connects traced, want %d:%s", len(live), len(runs), describe(live))
	}
	// Connects are printed in completion order: an unresolved name waits
	// for an attempt that might follow, so compare as sets.
	wantOutcomes := []string{"auth_failed", "ok", "ok", "refused", "socket_missing", "unreachable", "unresolved"}
	var got []string
	for _, c := range live {
		got = append(got, c.Outcome)
		if c.PID == 0 || (c.Comm != lab.ClientMariaDB && c.Comm != lab.ClientPHP) {
			t.Errorf("connect %d: process %s[%d], want a lab client's", c.Number, c.Comm, c.PID)
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(wantOutcomes, ",") {
		t.Errorf("outcomes %v, want %v:%s", got, wantOutcomes, describe(live))
	}

	// tshark reads the file, and the packets carry their process.
	out, err := exec.Command("tshark", "-r", pcapng, "-T", "fields", "-e", "frame.number", "-e", "frame.comment").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r %s: %v\n%s", pcapng, err, out)
	}
	var frames, labelled int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		frames++
		if strings.Contains(line, "connscope: pid=") {
			labelled++
		}
	}
	if frames < 10 || labelled == 0 {
		t.Errorf("tshark: %d frames, %d with a connscope process comment:\n%s", frames, labelled, out)
	}
	checkScrubbed(t, pcapng)
	r, err := capture.Open(pcapng)
	if err != nil {
		t.Fatal(err)
	}
	comment := r.SectionComment()
	r.Close()
	for _, want := range []string{"command: ", " trace ", "-w " + pcapng, "kernel: Linux "} {
		if !strings.Contains(comment, want) {
			t.Errorf("section comment %q lacks %q", comment, want)
		}
	}

	// connscope analyze reads it back: the same connects, attempt by
	// attempt, with the same processes.
	cmd := exec.Command(bin, "analyze", "--format", "json", pcapng)
	var aout, aerr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &aout, &aerr
	if err := cmd.Run(); err != nil {
		t.Fatalf("connscope analyze %s: %v\n%s", pcapng, err, aerr.String())
	}
	offline, _ := parseReport(t, aout.Bytes())
	var want []string
	for _, c := range live {
		if onTheWire(c) {
			want = append(want, signature(c))
		}
	}
	var have []string
	for _, c := range offline {
		have = append(have, signature(c))
	}
	sort.Strings(want)
	sort.Strings(have)
	if strings.Join(have, "\n") != strings.Join(want, "\n") {
		t.Errorf("analyze of the written file differs from the live trace\nlive (connects on the wire):\n  %s\nfile:\n  %s",
			strings.Join(want, "\n  "), strings.Join(have, "\n  "))
	}
}

// checkScrubbed checks what -w keeps of the logins: the file is its owner's
// only, tshark still decodes every MySQL login request with its user, and
// every auth response in it is zeros; the lab's password is nowhere.
func checkScrubbed(t *testing.T, pcapng string) {
	t.Helper()
	if st, err := os.Stat(pcapng); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v (%v), want 0600", pcapng, st.Mode(), err)
	}
	out, err := exec.Command("tshark", "-r", pcapng, "-Y", "mysql.user", "-T", "fields", "-e", "mysql.user", "-e", "mysql.passwd").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", pcapng, err)
	}
	logins := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 2 {
			continue
		}
		logins++
		if f[0] != lab.DBUser {
			t.Errorf("login request with user %q in the file, want %q kept", f[0], lab.DBUser)
		}
		if f[1] == "" || strings.Trim(f[1], "0") != "" {
			t.Errorf("login request of %q: auth response %q in the file, want zeros", f[0], f[1])
		}
	}
	if logins < 3 {
		t.Errorf("tshark decodes %d MySQL login requests in the file, want the 3 of ok-v4, ok-name and wrong-password:\n%s", logins, out)
	}
	raw, err := os.ReadFile(pcapng)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(lab.DBPassword)) {
		t.Errorf("the lab's password %q is in %s", lab.DBPassword, pcapng)
	}
}

// testTraceStops checks that SIGINT, SIGTERM and --duration each end a trace
// cleanly: exit status 0, the summary printed (with the drop counters), and
// a complete pcapng file.
func testTraceStops(t *testing.T, bin string) {
	for _, tc := range []struct {
		name string
		sig  os.Signal
		args []string
	}{
		{"SIGINT", syscall.SIGINT, nil},
		{"SIGTERM", syscall.SIGTERM, nil},
		{"duration", nil, []string{"--duration", "3s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcapng := filepath.Join(t.TempDir(), "stop.pcapng")
			args := append([]string{"--netns", lab.NSClient, "--comm", "mariadb", "-w", pcapng, "-v"}, tc.args...)
			tr := startTrace(t, bin, args...)
			runClient(t, "ok-v4", lab.ClientMariaDB)
			// Mid-trace: the connect is done, the trace is still running.
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(tr.output(), "Connect 1:") && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			code := tr.stop(t, tc.sig)
			out := tr.output()
			t.Logf("stdout:\n%s\nstderr:\n%s", out, tr.stderr.String())
			if code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
			for _, want := range []string{"Connect 1: ok", "Summary", "connects  1", "drops     0 by the kernel, 0 eBPF events lost"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if !strings.Contains(tr.stderr.String(), "kernel filter: eBPF flow filter passed") {
				t.Errorf("stderr does not say which kernel filter ran")
			}
			checkPcapng(t, pcapng)
		})
	}
}

// checkPcapng reads a written file to its end with connscope's reader and
// with tshark, and wants MySQL packets with their process in it.
func checkPcapng(t *testing.T, path string) {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, withProcess := 0, 0
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is damaged after %d packets: %v", path, n, err)
		}
		n++
		if p.Process != nil && p.Process.Comm == "mariadb" {
			withProcess++
		}
	}
	if n == 0 || withProcess == 0 {
		t.Errorf("%s: %d packets, %d of mariadb", path, n, withProcess)
	}
	out, err := exec.Command("tshark", "-r", path, "-Y", "mysql").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r %s: %v\n%s", path, err, out)
	}
	if sc := bufio.NewScanner(bytes.NewReader(out)); !sc.Scan() {
		t.Errorf("tshark finds no MySQL packet in %s", path)
	}
}
