package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/connscope/connscope/lab"
)

// serverAttempt is what the server-side tests read of an attempt.
type serverAttempt struct {
	Client     string `json:"client"`
	Server     string `json:"server"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason"`
	ServerSide bool   `json:"server_side"`
	Facts      struct {
		Accept *struct {
			By                string   `json:"by"`
			PID               uint32   `json:"pid"`
			QueuedMS          *float64 `json:"queued_ms"`
			HandshakeMS       *float64 `json:"handshake_ms"`
			SYNACKRetransmits int      `json:"syn_ack_retransmits"`
			ACKDropped        string   `json:"ack_dropped"`
		} `json:"accept"`
		KernelDrop *struct {
			Reason   string `json:"reason"`
			Packet   string `json:"packet"`
			Received bool   `json:"received"`
		} `json:"kernel_drop"`
		Listeners *struct {
			Port   uint16 `json:"port"`
			OnPort []any  `json:"on_port"`
			NoTCP  []struct {
				Process string   `json:"process"`
				Unix    []string `json:"unix_sockets"`
			} `json:"no_tcp"`
		} `json:"listeners"`
	} `json:"facts"`
	MySQL *struct {
		ErrorCode int `json:"error_code"`
	} `json:"mysql"`
	Events []struct {
		Kind string  `json:"kind"`
		What string  `json:"what"`
		TMS  float64 `json:"t_ms"`
	} `json:"events"`
	Evidence []string `json:"evidence"`
	Causes   []string `json:"causes"`
}

func serverAttempts(t *testing.T, out string) []serverAttempt {
	t.Helper()
	var all []serverAttempt
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || !bytes.HasPrefix(line, []byte(`{"kind":"connect"`)) {
			continue
		}
		var c struct {
			Attempts []serverAttempt `json:"attempts"`
		}
		if err := json.Unmarshal(line, &c); err != nil {
			t.Fatalf("connect line: %v: %q", err, line)
		}
		all = append(all, c.Attempts...)
	}
	return all
}

// TestServerSideDrop traces the lab's server namespace while the lab's
// "drop" scenario runs (nft drops SYNs to 3311 in the server's input hook):
// the server-side trace says the kernel of that host dropped the SYN,
// NETFILTER_DROP, instead of an unexplained "no reply".
func TestServerSideDrop(t *testing.T) {
	requireLive(t)
	bin := connscopeBinary(t)
	lab.Up(t)
	tr := startTrace(t, bin, "--netns", lab.NSServer, "--port", "3311", "--format", "json")
	if strings.Contains(tr.stderr.String(), "tp_btf kfree_skb:") {
		t.Skipf("kernel drop reasons unavailable: %s", tr.stderr.String())
	}
	runClient(t, "drop", lab.ClientMariaDB)
	tr.waitConnects(t, 1, 15*time.Second)
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d; stderr:\n%s", code, tr.stderr.String())
	}
	atts := serverAttempts(t, tr.output())
	if len(atts) != 1 {
		t.Fatalf("%d attempts, want the client's one:\n%s", len(atts), tr.output())
	}
	a := atts[0]
	if a.Outcome != "timeout" || a.Reason != "kernel.netfilter_drop" {
		t.Errorf("attempt %s: %s (%s), want timeout (kernel.netfilter_drop)", a.Server, a.Outcome, a.Reason)
	}
	if d := a.Facts.KernelDrop; d == nil || d.Reason != "NETFILTER_DROP" || d.Packet != "SYN" || !d.Received {
		t.Errorf("facts.kernel_drop = %+v, want NETFILTER_DROP of a received SYN", d)
	}
	drops := 0
	for _, ev := range a.Events {
		if ev.Kind == "kernel_drop" {
			drops++
		}
	}
	// The client sends three SYNs before its 3 s timeout: each is dropped.
	if drops < 2 {
		t.Errorf("%d kernel_drop steps, want one per SYN (the client sends 3):\n%s", drops, tr.output())
	}
	if !hasText(a.Causes, "nft list ruleset") {
		t.Errorf("causes %q do not point at this host's ruleset", a.Causes)
	}
}

// lateAfterReport is the summary's count of kernel events that came after
// their connect had been reported (live, a loaded machine: the eBPF reader
// lagged past the reorder window).
func lateAfterReport(t *testing.T, out string) uint64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, `{"kind":"summary"`) {
			var s struct {
				LateAfterReport uint64 `json:"late_after_report"`
			}
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatalf("summary line: %v: %s", err, line)
			}
			return s.LateAfterReport
		}
	}
	t.Fatalf("no summary line in the report:\n%s", out)
	return 0
}

// checkTrailingDrop checks a drop that trails its attempt's verdict (the
// RST or ICMP error went out, or came in, before the kernel freed the
// SYN): it is the attempt's fact, unless the machine was so loaded that it
// came after the connect had been reported, which the summary then counts.
func checkTrailingDrop(t *testing.T, a serverAttempt, out, reason string, received bool) {
	t.Helper()
	d := a.Facts.KernelDrop
	if d == nil {
		if n := lateAfterReport(t, out); n > 0 {
			t.Logf("the %s drop came after the connect was reported (late_after_report=%d): counted, not joined", reason, n)
			return
		}
		t.Errorf("facts.kernel_drop missing, and no late event counted: want %s (received=%v)", reason, received)
		return
	}
	if d.Reason != reason || d.Packet != "SYN" || d.Received != received {
		t.Errorf("facts.kernel_drop = %+v, want %s for the SYN (received=%v)", d, reason, received)
	}
}

func hasText(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestServerBindAddress: a server bound to 127.0.0.1 only (socat, in the
// lab's server namespace) and a client connecting to the server's public
// address: the RST is explained by the listener inventory that
// `connscope trace` takes at the start, together with the kernel's
// NO_SOCKET for the SYN.
func TestServerBindAddress(t *testing.T) {
	requireLive(t)
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("socat is not installed (Debian package socat): it plays the server bound to 127.0.0.1")
	}
	bin := connscopeBinary(t)
	lab.Up(t)
	const port = "3399"
	srv := exec.Command("ip", "netns", "exec", lab.NSServer, "socat", "TCP-LISTEN:"+port+",bind=127.0.0.1,reuseaddr,fork", "EXEC:/bin/true")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	// socat listens once it has started: wait for its socket.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("ip", "netns", "exec", lab.NSServer, "ss", "-Hltn", "sport = :"+port).Output()
		if strings.Contains(string(out), "127.0.0.1:"+port) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socat did not listen on 127.0.0.1:%s in %s within 5 s", port, lab.NSServer)
		}
		time.Sleep(50 * time.Millisecond)
	}

	tr := startTrace(t, bin, "--netns", lab.NSServer, "--port", port, "--format", "json")
	if !strings.Contains(tr.stderr.String(), "socat[") || !strings.Contains(tr.stderr.String(), "127.0.0.1:"+port) {
		t.Errorf("no listener inventory line naming socat on 127.0.0.1:%s:\n%s", port, tr.stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := lab.Run(ctx, lab.NSClient, lab.MariaDB("-h", lab.Server4, "-P", port, "-u", lab.DBUser, "-e", "SELECT 1")...)
	if res.ExitCode == 0 {
		t.Fatalf("the client connected to %s:%s: %s", lab.Server4, port, res.Output())
	}
	tr.waitConnects(t, 1, 15*time.Second)
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d; stderr:\n%s", code, tr.stderr.String())
	}
	atts := serverAttempts(t, tr.output())
	if len(atts) != 1 {
		t.Fatalf("%d attempts, want the client's one:\n%s", len(atts), tr.output())
	}
	a := atts[0]
	if a.Outcome != "refused" || a.Reason != "tcp.rst_from_server" {
		t.Errorf("attempt %s: %s (%s), want refused (tcp.rst_from_server)", a.Server, a.Outcome, a.Reason)
	}
	checkTrailingDrop(t, a, tr.output(), "NO_SOCKET", true)
	want := "listens on 127.0.0.1:" + port + " only; this SYN came to " + lab.Server4 + ":" + port
	if !hasText(a.Causes, want) || !hasText(a.Causes, "socat[") {
		t.Errorf("causes %q lack %q by socat", a.Causes, want)
	}
}

// TestServerSlowAccept: a server (python3, in the lab's server namespace)
// that accept()s only 3 s after the client connected: the server-side trace
// shows the kernel's handshake at once, the accept by that process after
// about 3 s in the accept queue, and says so.
func TestServerSlowAccept(t *testing.T) {
	requireLive(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: it plays the server that accepts late")
	}
	bin := connscopeBinary(t)
	lab.Up(t)
	const port = "3398"
	script := `import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", ` + port + `))
s.listen(4)
print("listening", flush=True)
sys.stdin.readline()  # the client has connected
time.sleep(3)
c, _ = s.accept()
c.sendall(b"hello\n")
time.sleep(1)
`
	stdin := startPyServer(t, py, script, "python3 server")

	tr := startTrace(t, bin, "--netns", lab.NSServer, "--port", port, "--format", "json")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clientDone := make(chan lab.Result, 1)
	go func() {
		clientDone <- lab.Run(ctx, lab.NSClient, lab.MariaDB("--connect-timeout=6", "-h", lab.Server4, "-P", port, "-u", lab.DBUser, "-e", "SELECT 1")...)
	}()
	time.Sleep(300 * time.Millisecond) // the client's handshake is done by the kernel
	stdin.Write([]byte("go\n"))
	<-clientDone
	tr.waitConnects(t, 1, 15*time.Second)
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d; stderr:\n%s", code, tr.stderr.String())
	}
	out := tr.output()
	var a serverAttempt
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, `{"kind":"connect"`) {
			var c struct {
				Attempts []json.RawMessage `json:"attempts"`
			}
			if err := json.Unmarshal([]byte(line), &c); err != nil || len(c.Attempts) != 1 {
				t.Fatalf("connect line (%v): %s", err, line)
			}
			if err := json.Unmarshal(c.Attempts[0], &a); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := a.Facts.Accept
	if f == nil || !strings.HasPrefix(f.By, "python") || f.QueuedMS == nil || *f.QueuedMS < 2500 || *f.QueuedMS > 6000 {
		t.Fatalf("facts.accept = %+v, want python3 after about 3 s in the accept queue:\n%s", f, out)
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
	if !hasText(a.Evidence, "did not accept() the connection for") {
		t.Errorf("evidence %q does not name the slow accept", a.Evidence)
	}
	if !a.ServerSide {
		t.Errorf("the attempt is not marked server_side: the trace ran on the listener's host")
	}

	// A burst against a tiny backlog (listen(1)) that the server accepts
	// only after 3 s: the server's kernel drops handshake-completing ACKs
	// and SYNs (the accept queue is full), retransmits its SYN-ACKs, and
	// counts the overflows.
	burstSlowAccept(t, bin, py)
}

// burstClients is the burst's client (python3 in the client namespace):
// argv[1] waves of argv[2] connects, each wave's threads released together,
// a wave every 250 ms; each connect waits up to 10 s for the server's first
// bytes. It prints one word per connect.
const burstClients = `import socket, sys, threading, time
waves, n, host, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
res = []
def one(go):
    s = socket.socket()
    s.settimeout(10)
    go.wait()
    try:
        s.connect((host, port))
        res.append("ok" if s.recv(16) else "eof")
    except Exception as e:
        res.append(type(e).__name__)
    finally:
        s.close()
ts = []
for w in range(waves):
    go = threading.Barrier(n)
    for _ in range(n):
        t = threading.Thread(target=one, args=(go,))
        t.start()
        ts.append(t)
    time.sleep(0.25)
for t in ts: t.join()
print(" ".join(res))
`

// burstSlowAccept is TestServerSlowAccept's burst: waves of connects
// against listen(1) while the server accepts one connection every 300 ms.
// The accept queue is full most of the time: SYNs are dropped, and a wave
// that finds one free place gets two handshakes started, the second's ACK
// dropped and its SYN-ACK retransmitted. What the analysis relies on is
// asserted: the SYN-ACK retransmits join their attempts (seen from the
// server side, counted in facts.accept, worded as evidence) and the traced
// namespace's listen counters grew (summary.listen_counters); not which
// connect the kernel happened to hold back.
func burstSlowAccept(t *testing.T, bin, py string) {
	t.Helper()
	const port, waves, perWave = "3397", 6, 5
	server := `import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", ` + port + `))
s.listen(1)
print("listening", flush=True)
sys.stdin.readline()  # the burst has started
s.settimeout(6)
try:
    while True:
        time.sleep(0.3)
        c, _ = s.accept()
        c.sendall(b"hello\n")
        c.close()
except socket.timeout:
    pass
`
	stdin := startPyServer(t, py, server, "python3 burst server")

	tr := startTrace(t, bin, "--netns", lab.NSServer, "--port", port, "--format", "json")
	if u := tr.stderr.String(); strings.Contains(u, "tp_btf tcp_retransmit_synack:") {
		t.Skipf("this kernel's tcp:tcp_retransmit_synack cannot be traced: %s", u)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan lab.Result, 1)
	go func() {
		done <- lab.Run(ctx, lab.NSClient, py, "-c", burstClients, fmt.Sprint(waves), fmt.Sprint(perWave), lab.Server4, port)
	}()
	time.Sleep(200 * time.Millisecond)
	stdin.Write([]byte("go\n"))
	res := <-done
	t.Logf("burst clients: %s", strings.TrimSpace(res.Output()))
	time.Sleep(500 * time.Millisecond)
	if code := tr.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("connscope trace exited %d; stderr:\n%s", code, tr.stderr.String())
	}
	out := tr.output()

	type listenCounters struct {
		ListenOverflows uint64 `json:"listen_overflows"`
		ListenDrops     uint64 `json:"listen_drops"`
		SyncookiesSent  uint64 `json:"syncookies_sent"`
		ReqQFullDrop    uint64 `json:"req_q_full_drop"`
	}
	var atts []serverAttempt
	var listen *listenCounters
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, `{"kind":"connect"`):
			var c struct {
				Attempts []serverAttempt `json:"attempts"`
			}
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				t.Fatalf("connect line: %v: %s", err, line)
			}
			atts = append(atts, c.Attempts...)
		case strings.HasPrefix(line, `{"kind":"summary"`):
			var s struct {
				Listen *listenCounters `json:"listen_counters"`
			}
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatalf("summary line: %v: %s", err, line)
			}
			listen = s.Listen
		}
	}
	if listen == nil {
		t.Fatalf("no listen_counters in the summary:\n%s\nstderr:\n%s", out, tr.stderr.String())
	}
	t.Logf("listen counters over the trace: %+v", *listen)
	if listen.ListenOverflows == 0 || listen.ListenDrops == 0 {
		t.Errorf("listen counters %+v: want overflows and drops from %d connects against listen(1)", *listen, waves*perWave)
	}
	retrans, withFact := 0, 0
	for _, a := range atts {
		steps := 0
		for _, ev := range a.Events {
			if ev.Kind == "kernel_syn_ack_retransmit" {
				steps++
				if !strings.HasPrefix(ev.What, "server kernel: SYN-ACK retransmit #") {
					t.Errorf("step words %q", ev.What)
				}
			}
		}
		if steps == 0 {
			continue
		}
		retrans++
		if !a.ServerSide {
			t.Errorf("attempt %s has SYN-ACK retransmits but is not marked server_side", a.Client)
		}
		if f := a.Facts.Accept; f != nil && f.SYNACKRetransmits == steps && hasText(a.Evidence, "retransmitted its SYN-ACK") {
			withFact++
		} else {
			t.Errorf("attempt %s: %d SYN-ACK retransmit steps, facts.accept %+v, evidence %q", a.Client, steps, f, a.Evidence)
		}
	}
	t.Logf("%d attempts, %d with SYN-ACK retransmits", len(atts), retrans)
	if retrans == 0 {
		t.Errorf("no attempt with a SYN-ACK retransmit among %d:\n%s", len(atts), out)
	}
}

// startPyServer runs a python3 script in the lab's server namespace until
// the end of the test, waits for it to print "listening", and returns its
// standard input (what the script reads to go on). what names it in the
// failure ("the python3 server").
func startPyServer(t *testing.T, py, script, what string) io.WriteCloser {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", lab.NSServer, py, "-c", script)
	stdin, err := srv.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	ready := make([]byte, 64)
	if n, err := stdout.Read(ready); err != nil || !strings.Contains(string(ready[:n]), "listening") {
		t.Fatalf("the %s did not start: %q %v", what, ready[:n], err)
	}
	return stdin
}
