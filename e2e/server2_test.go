package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/connscope/connscope/lab"
)

// The server-side lab cases with real mariadbd (issue 12): a stopped
// server, a server without TCP, a full server, and a server traced by its
// pid.

// labMariaDBPID is the pid of the lab's mariadbd #1 (its pid file).
func labMariaDBPID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(lab.Dir(), "m1", "mysqld.pid"))
	if err != nil {
		t.Fatalf("mariadbd #1's pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("mariadbd #1's pid file %q: %v", b, err)
	}
	return pid
}

// waitServerEstablished waits until the server namespace holds an
// established connection to port from the client (the kernel completed
// the handshake, whatever the server process does).
func waitServerEstablished(t *testing.T, port int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res := lab.Run(context.Background(), lab.NSServer, "ss", "-Htn", "state", "established", "( sport = :"+strconv.Itoa(port)+" )")
		if strings.Contains(res.Stdout, lab.Client4) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no established connection from %s to port %d in %s within %v", lab.Client4, port, lab.NSServer, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var acceptWords = regexp.MustCompile(`(\S+)\[(\d+)\] did not accept\(\) the connection for ([0-9.]+) s`)

// TestServerStoppedMariaDB: the lab's mariadbd #1 is stopped (SIGSTOP)
// while a client connects, and continued 3 s later. Traced on the server's
// host: the kernel completes the handshake at once, mariadbd accepts and
// greets only after the 3 s, and the report says mariadbd did not accept
// for about 3 s, as the cause of the late greeting (not a reverse DNS
// lookup).
func TestServerStoppedMariaDB(t *testing.T) {
	requireLive(t)
	bin := connscopeBinary(t)
	lab.Up(t)
	pid := labMariaDBPID(t)
	tr := startTrace(t, bin, "--netns", lab.NSServer, "--port", strconv.Itoa(lab.PortMySQL), "--format", "json")

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP mariadbd #1 (pid %d): %v", pid, err)
	}
	stopped := time.Now()
	continued := false
	cont := func() {
		if !continued {
			continued = true
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer cont()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clientDone := make(chan lab.Result, 1)
	go func() {
		clientDone <- lab.Run(ctx, lab.NSClient, lab.MariaDB("--connect-timeout=15", "-h", lab.Server4, "-P", strconv.Itoa(lab.PortMySQL),
			"-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1")...)
	}()
	waitServerEstablished(t, lab.PortMySQL, 5*time.Second)
	time.Sleep(time.Until(stopped.Add(3 * time.Second)))
	cont()
	res := <-clientDone
	if res.ExitCode != 0 {
		t.Fatalf("the client failed after mariadbd was continued: exit %d: %s", res.ExitCode, res.Output())
	}
	tr.waitConnects(t, 1, 15*time.Second)
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d; stderr:\n%s", code, tr.stderr.String())
	}
	out := tr.output()
	atts := serverAttempts(t, out)
	if len(atts) != 1 {
		t.Fatalf("%d attempts, want the client's one:\n%s", len(atts), out)
	}
	a := atts[0]
	if a.Outcome != "ok" {
		t.Errorf("attempt %s: %s (%s), want ok", a.Server, a.Outcome, a.Reason)
	}
	f := a.Facts.Accept
	if f == nil || f.QueuedMS == nil || f.HandshakeMS == nil {
		t.Fatalf("facts.accept = %+v, want the handshake and the accept:\n%s", f, out)
	}
	if f.PID != uint32(pid) || f.By != "mariadbd["+strconv.Itoa(pid)+"]" {
		t.Errorf("facts.accept by %q (pid %d), want mariadbd[%d]", f.By, f.PID, pid)
	}
	// The handshake comes at once (the kernel's), the accept after the
	// stop: about 3 s after the SIGSTOP, less the time the client took to
	// connect (waitServerEstablished saw it established).
	if *f.HandshakeMS > 500 {
		t.Errorf("the server's kernel completed the handshake at +%.1f ms, want at once", *f.HandshakeMS)
	}
	if *f.QueuedMS < 2000 || *f.QueuedMS > 4500 {
		t.Errorf("facts.accept.queued_ms = %.1f, want about 3000 (stopped for 3 s)", *f.QueuedMS)
	}
	var steps []string
	for _, ev := range a.Events {
		if ev.Kind == "server_handshake" || ev.Kind == "accepted" {
			steps = append(steps, ev.Kind)
		}
	}
	if strings.Join(steps, ",") != "server_handshake,accepted" {
		t.Errorf("server-side steps %v, want the handshake then the accept", steps)
	}
	found := false
	for _, e := range a.Evidence {
		m := acceptWords.FindStringSubmatch(e)
		if m == nil {
			continue
		}
		found = true
		secs, _ := strconv.ParseFloat(m[3], 64)
		if m[1] != "mariadbd" || m[2] != strconv.Itoa(pid) || secs*1000 < *f.QueuedMS-100 || secs*1000 > *f.QueuedMS+100 {
			t.Errorf("evidence %q: want mariadbd[%d] and the accept wait %.0f ms", e, pid, *f.QueuedMS)
		}
	}
	if !found {
		t.Errorf("evidence %q does not say mariadbd did not accept", a.Evidence)
	}
	if !hasText(a.Causes, "mariadbd["+strconv.Itoa(pid)+"] did not accept()") {
		t.Errorf("causes %q do not name mariadbd's accept wait", a.Causes)
	}
	for _, generic := range []string{"reverse DNS", "name resol"} {
		if hasText(a.Causes, generic) {
			t.Errorf("causes %q offer %q for a greeting the accept wait explains", a.Causes, generic)
		}
	}
}

// TestServerSkipNetworking: a fresh mariadbd with skip-networking in the
// lab's server namespace (no TCP listener, only its unix socket) and a
// client connecting to its port: the SYN gets a RST (the kernel: NO_SOCKET),
// and the listener inventory says mariadbd listens on no TCP socket at all
// (skip_networking), which is not the bind_address case.
func TestServerSkipNetworking(t *testing.T) {
	requireLive(t)
	bin := connscopeBinary(t)
	lab.Up(t)
	const port = 3334
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m, err := lab.StartMariaDB(ctx, "srvlab-skipnet", port, "skip-networking")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	who := "mariadbd[" + strconv.Itoa(m.PID()) + "]"

	tr := startTrace(t, bin, "--netns", lab.NSServer, "--port", strconv.Itoa(port), "--format", "json")
	if !strings.Contains(tr.stderr.String(), who+" on no TCP socket at all, unix "+m.Socket) {
		t.Errorf("the listener inventory line does not name %s without TCP and its socket %s:\n%s", who, m.Socket, tr.stderr.String())
	}
	res := lab.Run(ctx, lab.NSClient, lab.MariaDB("-h", lab.Server4, "-P", strconv.Itoa(port), "-u", lab.DBUser, "-e", "SELECT 1")...)
	if res.ExitCode == 0 {
		t.Fatalf("the client connected to %s:%d: %s", lab.Server4, port, res.Output())
	}
	tr.waitConnects(t, 1, 15*time.Second)
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d; stderr:\n%s", code, tr.stderr.String())
	}
	out := tr.output()
	if all := serverAttempts(t, out); len(all) != 1 {
		t.Fatalf("%d attempts, want the client's one:\n%s", len(all), out)
	}
	a := serverAttempts(t, out)[0]
	t.Logf("causes: %q", a.Causes)
	if a.Outcome != "refused" || a.Reason != "tcp.rst_from_server" {
		t.Errorf("attempt %s: %s (%s), want refused (tcp.rst_from_server)", a.Server, a.Outcome, a.Reason)
	}
	if l := a.Facts.Listeners; l == nil || len(l.OnPort) != 0 || len(l.NoTCP) != 1 || l.NoTCP[0].Process != who || len(l.NoTCP[0].Unix) != 1 || l.NoTCP[0].Unix[0] != m.Socket {
		t.Errorf("facts.listeners = %+v, want nothing on port %d and %s with no TCP, unix %s", l, port, who, m.Socket)
	}
	checkTrailingDrop(t, a, out, "NO_SOCKET", true)
	if a.Facts.KernelDrop != nil {
		// The cause rests on NO_SOCKET (this host is the server).
		want := who + " runs here with no TCP listener at all, only the unix socket " + m.Socket + ": skip_networking is on"
		if !hasText(a.Causes, want) {
			t.Errorf("causes %q lack %q", a.Causes, want)
		}
	}
	if hasText(a.Causes, "listens on 127.0.0.1") || hasText(a.Causes, "where nothing listens, hence the RST") {
		t.Errorf("causes %q word it as a bind address", a.Causes)
	}
}

// TestServerTooManyConnections: the lab's mariadbd #1 (max_connections=10)
// with every slot held, and one more client: traced on the server's host,
// the attempt is refused with MySQL error 1040 by the process that
// accept()ed it, named with the time the connection waited for that
// accept (the server took it at once: its connection limit refused it, not
// its accept queue).
func TestServerTooManyConnections(t *testing.T) {
	requireLive(t)
	bin := connscopeBinary(t)
	lab.Up(t)
	pid := labMariaDBPID(t)
	who := "mariadbd[" + strconv.Itoa(pid) + "]"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	release, err := lab.HoldConnections(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	tr := startTrace(t, bin, "--netns", lab.NSServer, "--port", strconv.Itoa(lab.PortMySQL), "--format", "json")
	runClient(t, "too-many-connections", lab.ClientMariaDB)
	tr.waitConnects(t, 1, 15*time.Second)
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d; stderr:\n%s", code, tr.stderr.String())
	}
	out := tr.output()
	atts := serverAttempts(t, out)
	if len(atts) != 1 {
		t.Fatalf("%d attempts, want the client's one (the holders use the unix socket):\n%s", len(atts), out)
	}
	a := atts[0]
	t.Logf("evidence: %q\ncauses: %q", a.Evidence, a.Causes)
	if a.Outcome != "rejected" || a.MySQL == nil || a.MySQL.ErrorCode != 1040 {
		t.Errorf("attempt %s: %s (%s) mysql %+v, want rejected with 1040", a.Server, a.Outcome, a.Reason, a.MySQL)
	}
	f := a.Facts.Accept
	if f == nil || f.QueuedMS == nil || f.By != who || f.PID != uint32(pid) {
		t.Fatalf("facts.accept = %+v, want the accept by %s with its wait:\n%s", f, who, out)
	}
	if *f.QueuedMS > 500 {
		t.Errorf("facts.accept.queued_ms = %.1f, want a prompt accept (the server was not stalled)", *f.QueuedMS)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(who) + ` accept\(\)ed the connection ([0-9.]+ m?s) after the server's kernel completed the handshake`)
	found := false
	for _, e := range a.Evidence {
		if sm := m.FindStringSubmatch(e); sm != nil {
			found = true
		}
	}
	if !found {
		t.Errorf("evidence %q does not name the accept by %s and its time", a.Evidence, who)
	}
	if !hasText(a.Causes, "max_connections") {
		t.Errorf("causes %q do not point at max_connections", a.Causes)
	}
}

// waitStderr waits until the trace's stderr holds s.
func (tr *tracer) waitStderr(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(tr.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v the trace has not said %q:\n%s", within, s, tr.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServerStartedDuringTrace: a server (socat bound to 127.0.0.1 only)
// starts in the lab's server namespace after `connscope trace` began, and
// stops before the trace ends. The trace says when it appeared and went
// away; a client's refused connect while it listened is explained by it
// (loopback only), one after it went away by nothing listening.
func TestServerStartedDuringTrace(t *testing.T) {
	requireLive(t)
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("socat is not installed (Debian package socat): it plays the server bound to 127.0.0.1")
	}
	bin := connscopeBinary(t)
	lab.Up(t)
	const port = "3335"
	tr := startTrace(t, bin, "--netns", lab.NSServer, "--port", port, "--format", "json")
	if strings.Contains(tr.stderr.String(), "listening at the start") {
		t.Fatalf("something listens on port %s already:\n%s", port, tr.stderr.String())
	}
	srv := exec.Command("ip", "netns", "exec", lab.NSServer, "socat", "TCP-LISTEN:"+port+",bind=127.0.0.1,reuseaddr,fork", "EXEC:/bin/true")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Process.Kill()
			srv.Wait()
		}
	}()
	who := fmt.Sprintf("socat[%d]", srv.Process.Pid)
	tr.waitStderr(t, "listeners changed: now listening: "+who+" on 127.0.0.1:"+port, 5*time.Second)

	connect := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res := lab.Run(ctx, lab.NSClient, lab.MariaDB("-h", lab.Server4, "-P", port, "-u", lab.DBUser, "-e", "SELECT 1")...)
		if res.ExitCode == 0 {
			t.Fatalf("the client connected to %s:%s: %s", lab.Server4, port, res.Output())
		}
	}
	connect()
	tr.waitConnects(t, 1, 15*time.Second)
	srv.Process.Kill()
	srv.Wait()
	stopped = true
	tr.waitStderr(t, "listeners changed: no longer listening: "+who+" on 127.0.0.1:"+port, 5*time.Second)
	connect()
	tr.waitConnects(t, 2, 15*time.Second)
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d; stderr:\n%s", code, tr.stderr.String())
	}
	out := tr.output()
	atts := serverAttempts(t, out)
	if len(atts) != 2 {
		t.Fatalf("%d attempts, want the client's two:\n%s", len(atts), out)
	}
	for i, a := range atts {
		t.Logf("attempt %d causes: %q", i+1, a.Causes)
		if a.Outcome != "refused" {
			t.Errorf("attempt %d to %s: %s (%s), want refused", i+1, a.Server, a.Outcome, a.Reason)
		}
	}
	while := who + " listens on 127.0.0.1:" + port + " only; this SYN came to " + lab.Server4 + ":" + port
	if !hasText(atts[0].Causes, while) {
		t.Errorf("the first attempt's causes %q lack %q", atts[0].Causes, while)
	}
	if hasText(atts[1].Causes, who) {
		t.Errorf("the second attempt's causes %q name %s, which had gone away", atts[1].Causes, who)
	}
	if atts[1].Facts.KernelDrop != nil && !hasText(atts[1].Causes, "Nothing listened on port "+port+" of this host before this attempt") {
		t.Errorf("the second attempt's causes %q do not say nothing listened", atts[1].Causes)
	}
}

// TestTracePIDFollowsServer: `connscope trace --pid $(pidof mariadbd)` on
// the lab's mariadbd #1: the connects *to* it (it makes none) are
// reported, with its accept, while a connect to another server process
// (mariadbd #2) of the same namespace is not.
func TestTracePIDFollowsServer(t *testing.T) {
	requireLive(t)
	bin := connscopeBinary(t)
	lab.Up(t)
	pid := labMariaDBPID(t)
	who := "mariadbd[" + strconv.Itoa(pid) + "]"
	tr := startTrace(t, bin, "--netns", lab.NSServer, "--pid", strconv.Itoa(pid), "--format", "json")
	if !strings.Contains(tr.stderr.String(), "following the listeners of the traced processes (connects to them are reported): "+who+" on ") {
		t.Fatalf("the trace does not say it follows %s's listeners:\n%s", who, tr.stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, port := range []int{lab.PortMySQLResolve, lab.PortMySQL} {
		res := lab.Run(ctx, lab.NSClient, lab.MariaDB("-h", lab.Server4, "-P", strconv.Itoa(port), "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1")...)
		if res.ExitCode != 0 {
			t.Fatalf("the client to %s:%d failed: %s", lab.Server4, port, res.Output())
		}
	}
	tr.waitConnects(t, 1, 15*time.Second)
	time.Sleep(time.Second) // a connect to #2 would be reported by now too
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d; stderr:\n%s", code, tr.stderr.String())
	}
	out := tr.output()
	atts := serverAttempts(t, out)
	if len(atts) != 1 {
		t.Fatalf("%d attempts, want the one to mariadbd #1 (port %d), not #2's:\n%s", len(atts), lab.PortMySQL, out)
	}
	a := atts[0]
	if a.Server != lab.Server4+":"+strconv.Itoa(lab.PortMySQL) || a.Outcome != "ok" {
		t.Errorf("attempt to %s: %s (%s), want ok to %s:%d", a.Server, a.Outcome, a.Reason, lab.Server4, lab.PortMySQL)
	}
	f := a.Facts.Accept
	if f == nil || f.By != who || f.QueuedMS == nil || *f.QueuedMS > 1000 {
		t.Errorf("facts.accept = %+v, want %s's prompt accept with its wait", f, who)
	}
	checkServerHandshake(t, a)
}

// checkServerHandshake checks that a followed server's attempt, traced by
// pid without --port, has the server kernel's handshake (its listen port
// is in the tracer's port map: the softirq event passes), and that the
// accept wait is measured from it, not from the client's ACK.
func checkServerHandshake(t *testing.T, a serverAttempt) {
	t.Helper()
	at := map[string]float64{}
	for _, ev := range a.Events {
		if _, ok := at[ev.Kind]; !ok {
			at[ev.Kind] = ev.TMS
		}
	}
	hs, okHS := at["server_handshake"]
	acc, okAcc := at["accepted"]
	if !okHS || !okAcc {
		t.Errorf("events %+v: want the server kernel's handshake (server_handshake) and the accept (accepted)", a.Events)
		return
	}
	f := a.Facts.Accept
	if f == nil || f.HandshakeMS == nil || f.QueuedMS == nil {
		t.Errorf("facts.accept = %+v, want handshake_ms and queued_ms", f)
		return
	}
	// The events' times and the facts are rounded independently.
	const slack = 0.01
	if d := *f.HandshakeMS - hs; d < -slack || d > slack {
		t.Errorf("facts.accept.handshake_ms = %.3f, want the server_handshake event's %.3f", *f.HandshakeMS, hs)
	}
	if d := *f.QueuedMS - (acc - hs); d < -2*slack || d > 2*slack {
		t.Errorf("facts.accept.queued_ms = %.3f, want accepted %.3f − server_handshake %.3f", *f.QueuedMS, acc, hs)
	}
}

// TestRunFollowsServer: `connscope run -- CMD` where CMD is a server
// (socat, forking a child per connection that answers a line): it listens
// after the trace began; the connects to it are reported with its accept, until it is
// stopped (SIGTERM to connscope, passed on to it).
func TestRunFollowsServer(t *testing.T) {
	requireLive(t)
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("socat is not installed (Debian package socat): it plays the server")
	}
	bin := connscopeBinary(t)
	lab.Up(t)
	const port = "3337"
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	cmd := exec.Command(bin, "run", "--netns", lab.NSServer, "--format", "json", "--",
		"ip", "netns", "exec", lab.NSServer, "socat", "TCP-LISTEN:"+port+",reuseaddr,fork", "SYSTEM:read line; echo hello $line")
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	}()
	tr := &tracer{cmd: cmd, stderr: errb, done: done, stdout: &out.b, mu: &out.mu}
	tr.waitStderr(t, "connscope: tracing ", 15*time.Second)
	pid, ok := childPID(errb.String())
	if !ok {
		t.Fatalf("no 'tracing ... (pid N)' notice:\n%s", errb.String())
	}
	who := fmt.Sprintf("socat[%d]", pid)
	tr.waitStderr(t, "following the listeners of the traced processes (connects to them are reported): "+who+" on 0.0.0.0:"+port, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := lab.Run(ctx, lab.NSClient, "sh", "-c", "(echo client; sleep 1) | socat - TCP:"+lab.Server4+":"+port)
	if res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != "hello client" {
		t.Fatalf("the client got %q (exit %d): %s", res.Stdout, res.ExitCode, res.Output())
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("connscope run did not end within 20 s of SIGTERM:\n%s", errb.String())
	}
	report := errb.String()
	var atts []serverAttempt
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, `{"kind":"connect"`) {
			atts = append(atts, serverAttempts(t, line)...)
		}
	}
	if len(atts) != 1 {
		t.Fatalf("%d attempts, want the client's connect to socat:\n%s", len(atts), report)
	}
	a := atts[0]
	if a.Server != lab.Server4+":"+port || a.Outcome != "ok" {
		t.Errorf("attempt to %s: %s (%s), want ok to %s:%s", a.Server, a.Outcome, a.Reason, lab.Server4, port)
	}
	if f := a.Facts.Accept; f == nil || f.By != who || f.QueuedMS == nil {
		t.Errorf("facts.accept = %+v, want the accept by %s with its wait", f, who)
	}
	checkServerHandshake(t, a)
}
