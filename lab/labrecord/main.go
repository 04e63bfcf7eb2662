// Command labrecord runs every lab scenario (lab.Scenarios) with each client
// and records, per run, a `tcpdump -i any` capture in the client namespace
// (LINUX_SLL2 pcap), a dumpcap capture on the client's veth (pcapng), the
// client's exact output, exit code and elapsed time, into
// testdata/captures/ with manifest.json. lab/record.sh (make testdata) runs it.
//
// Expected values come from the scenario table (the lab's design). The
// recorder cross-checks them against what the client printed and, with
// tshark as an independent decoder, against the captures (number of TCP
// attempts, greeting version, MySQL error code); a run that disagrees is
// kept but marked "reproduced": false with the reason.
//
// -snaplen N records with tcpdump/dumpcap -s N (a busy server's usual
// capture) into <scenario>-<client>.sN.any.pcap / .sN.veth.pcapng; -add
// adds the runs to the existing manifest and leaves every other capture as
// it is (lab/record.sh -add -snaplen 256 -only 'tls-ok|greeting').
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/connscope/connscope/lab"
)

type manifest struct {
	GeneratedBy string  `json:"generated_by"`
	Lab         labInfo `json:"lab"`
	Scenarios   []entry `json:"scenarios"`
}

type labInfo struct {
	Kernel        string `json:"kernel"`
	MariaDB       string `json:"mariadb"`
	MariaDBClient string `json:"mariadb_client"`
	PHP           string `json:"php"`
	PostgreSQL    string `json:"postgresql,omitempty"`
}

type entry struct {
	Scenario    string   `json:"scenario"`
	Client      string   `json:"client"`
	Description string   `json:"description"`
	Command     string   `json:"command"`
	ErrorText   string   `json:"error_text"`
	Stdout      string   `json:"stdout"`
	ExitCode    int      `json:"exit_code"`
	ElapsedMS   int64    `json:"elapsed_ms"`
	Any         string   `json:"any"`
	Veth        string   `json:"veth"`
	Snaplen     int      `json:"snaplen,omitempty"` // the captures' snap length when not the full packet
	PacketsAny  int      `json:"packets_any"`
	PacketsVeth int      `json:"packets_veth"`
	Expected    expected `json:"expected"`
	Reproduced  bool     `json:"reproduced"`
	Why         string   `json:"why,omitempty"`

	// The packets of each capture that connect analysis reads: TCP, UDP
	// and ICMP errors (countConnPackets; not ARP or NDP). 0: the failure
	// put nothing on this wire, only trace (eBPF) sees it.
	ConnPacketsAny  int `json:"conn_packets_any"`
	ConnPacketsVeth int `json:"conn_packets_veth"`
	// Protocol is the server's: "" (MySQL) or "postgres".
	Protocol string `json:"protocol,omitempty"`
}

type expected struct {
	Outcome        string   `json:"outcome"`
	Attempts       []string `json:"attempts"`
	MySQLErrorCode int      `json:"mysql_error_code"`
	ServerVersion  string   `json:"server_version"`
	Notes          string   `json:"notes"`
	PGSQLState     string   `json:"pgsql_state,omitempty"` // the PostgreSQL ErrorResponse's SQLSTATE on the wire
}

func main() {
	out := flag.String("out", "testdata/captures", "directory for the captures and manifest.json (replaced when the run completes)")
	only := flag.String("only", "", "record only scenarios whose name matches this regexp (the manifest then holds only those)")
	snaplen := flag.Int("snaplen", 0, "capture snap length in bytes (0: whole packets); the files are named <scenario>-<client>.s<N>.any.pcap and .s<N>.veth.pcapng")
	add := flag.Bool("add", false, "add the runs to the existing manifest.json (replacing entries for the same files) and keep every other capture")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *snaplen < 0 || *snaplen > 0 && *snaplen < 96 {
		log.Fatalf("-snaplen %d: want 0 (whole packets) or at least 96 bytes (link, IP and TCP headers)", *snaplen)
	}

	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			log.Fatalf("-only: %v", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := record(ctx, *out, filter, *snaplen, *add); err != nil {
		log.Printf("labrecord: %v", err)
		os.Exit(1)
	}
}

func record(ctx context.Context, outDir string, filter *regexp.Regexp, snaplen int, add bool) error {
	root, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	var old manifest
	if add {
		b, err := os.ReadFile(filepath.Join(outDir, "manifest.json"))
		if err != nil {
			return fmt.Errorf("-add needs the existing manifest: %w", err)
		}
		if err := json.Unmarshal(b, &old); err != nil {
			return fmt.Errorf("-add: %s/manifest.json: %w", outDir, err)
		}
	}
	if why := lab.Unavailable(); why != "" {
		return errors.New(why)
	}
	started := time.Now()
	session, err := lab.AcquireFresh(ctx, log.Printf)
	if err != nil {
		return err
	}
	defer func() {
		log.Printf("tearing the lab down")
		if err := session.Release(); err != nil {
			log.Printf("%v", err)
		}
	}()

	version, err := lab.ServerVersion(ctx)
	if err != nil {
		return err
	}
	m := manifest{GeneratedBy: "lab/record.sh (lab/labrecord)", Lab: labInfo{
		Kernel:        firstLine("uname", "-r"),
		MariaDB:       firstLine("mariadbd", "--version"),
		MariaDBClient: firstLine("mariadb", "--version"),
		PHP:           firstLine("php", "-r", "echo PHP_VERSION;"),
		PostgreSQL:    firstLine(filepath.Join(lab.PGBin, "postgres"), "--version"),
	}}

	staging := strings.TrimSuffix(outDir, "/") + ".new"
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(staging)

	failed := 0
	for _, sc := range lab.Scenarios {
		if filter != nil && !filter.MatchString(sc.Name) {
			continue
		}
		for _, run := range sc.Runs {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e, err := recordRun(ctx, staging, sc, run, version, snaplen)
			if err != nil {
				return fmt.Errorf("%s-%s: %w", sc.Name, run.Client, err)
			}
			mark := "ok"
			if !e.Reproduced {
				mark = "NOT REPRODUCED: " + e.Why
				failed++
			}
			log.Printf("%-28s %-7s exit %-3d %6d ms  %s", sc.Name, run.Client, e.ExitCode, e.ElapsedMS, mark)
			m.Scenarios = append(m.Scenarios, e)
		}
	}

	if add {
		recorded := len(m.Scenarios)
		pg := m.Lab.PostgreSQL
		m = mergeManifest(old, m.Scenarios)
		if m.Lab.PostgreSQL == "" {
			m.Lab.PostgreSQL = pg
		}
		log.Printf("adding %d runs to the %d of %s/manifest.json", recorded, len(old.Scenarios), outDir)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(staging, "manifest.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if add {
		err = addCaptures(staging, outDir)
	} else {
		err = replaceCaptures(staging, outDir)
	}
	if err != nil {
		return err
	}
	log.Printf("%d runs recorded into %s in %v", len(m.Scenarios), outDir, time.Since(started).Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d runs did not go as designed (see \"why\" in %s/manifest.json)", failed, outDir)
	}
	return nil
}

// mergeManifest adds runs to old: a run replaces the entry for the same
// capture file, or comes after the others.
func mergeManifest(old manifest, runs []entry) manifest {
	at := map[string]int{}
	for i, e := range old.Scenarios {
		at[e.Any] = i
	}
	for _, e := range runs {
		if i, ok := at[e.Any]; ok {
			old.Scenarios[i] = e
			continue
		}
		at[e.Any] = len(old.Scenarios)
		old.Scenarios = append(old.Scenarios, e)
	}
	return old
}

// addCaptures moves the new captures and the merged manifest into outDir,
// leaving every other file there as it is.
func addCaptures(staging, outDir string) error {
	files, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Rename(filepath.Join(staging, f.Name()), filepath.Join(outDir, f.Name())); err != nil {
			return err
		}
	}
	return nil
}

// replaceCaptures swaps the new captures in: the old capture files and
// manifest go, the new ones come, other files in outDir stay.
func replaceCaptures(staging, outDir string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(outDir, "*.pcap"))
	oldng, _ := filepath.Glob(filepath.Join(outDir, "*.pcapng"))
	for _, f := range append(append(old, oldng...), filepath.Join(outDir, "manifest.json")) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	files, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Rename(filepath.Join(staging, f.Name()), filepath.Join(outDir, f.Name())); err != nil {
			return err
		}
	}
	return nil
}

func recordRun(ctx context.Context, dir string, sc lab.Scenario, run lab.ClientRun, version string, snaplen int) (entry, error) {
	base := sc.Name + "-" + run.Client
	// TPACKET_V2 (immediate mode) has one ring frame per snaplen: keep the
	// snaplen modest and the ring large, so a burst cannot overflow it.
	snap := []string{"-s", "65535"}
	var dumpcapSnap []string
	if snaplen > 0 {
		base += ".s" + strconv.Itoa(snaplen)
		snap = []string{"-s", strconv.Itoa(snaplen)}
		dumpcapSnap = snap
	}
	e := entry{
		Scenario: sc.Name, Client: run.Client, Description: sc.Description,
		Command: shellJoin(append([]string{"ip", "netns", "exec", lab.NSClient}, run.Argv...)),
		Any:     base + ".any.pcap", Veth: base + ".veth.pcapng", Snaplen: snaplen,
		Expected: expected{
			Outcome: run.Expect.Outcome, Attempts: run.Expect.Attempts,
			MySQLErrorCode: run.Expect.MySQLErrorCode, Notes: run.Expect.Notes,
			PGSQLState: run.Expect.PGSQLState,
		},
		Protocol: sc.Protocol,
	}
	if e.Expected.Attempts == nil {
		e.Expected.Attempts = []string{}
	}
	if run.Expect.Greeting {
		e.Expected.ServerVersion = version
	}

	if sc.Setup != nil {
		undo, err := sc.Setup(ctx)
		if err != nil {
			return e, fmt.Errorf("setup: %w", err)
		}
		defer undo()
	}

	anyPath, vethPath := filepath.Join(dir, e.Any), filepath.Join(dir, e.Veth)
	tcpdump, err := startCapture(ctx, "listening on", append(append([]string{"tcpdump", "-Z", "root", "-i", "any", "--immediate-mode", "-U", "-n"},
		snap...), "-B", "16384", "-w", anyPath)...)
	if err != nil {
		return e, err
	}
	dumpcap, err := startCapture(ctx, "Capturing on", append(append([]string{"dumpcap", "-i", lab.IfClient}, dumpcapSnap...), "-w", vethPath)...)
	if err != nil {
		tcpdump.stop()
		return e, err
	}
	time.Sleep(100 * time.Millisecond)

	// The harness bound is generous: every run ends by itself well before.
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	res := lab.Run(runCtx, lab.NSClient, run.Argv...)
	cancel()
	if rest := run.Linger - res.Elapsed; rest > 0 {
		time.Sleep(rest)
	}
	// libpcap hands packets over in blocks (dumpcap: 250 ms timeout); give
	// the last ones time to arrive before stopping.
	time.Sleep(700 * time.Millisecond)
	anyStats, errAny := tcpdump.stop()
	vethStats, errVeth := dumpcap.stop()
	if err := errors.Join(errAny, errVeth); err != nil {
		return e, err
	}
	for _, p := range []string{anyPath, vethPath} {
		os.Chmod(p, 0o644)
	}

	e.ErrorText = strings.TrimSpace(res.Stderr)
	e.Stdout = strings.TrimSpace(res.Stdout)
	e.ExitCode = res.ExitCode
	e.ElapsedMS = res.Elapsed.Milliseconds()

	var why []string
	if res.Err != nil {
		why = append(why, res.Err.Error())
	}
	e.PacketsAny, err = anyStats.check("tcpdump")
	if err != nil {
		why = append(why, err.Error())
	}
	e.PacketsVeth, err = vethStats.check("dumpcap")
	if err != nil {
		why = append(why, err.Error())
	}
	if e.ConnPacketsAny, err = countConnPackets(anyPath); err != nil {
		why = append(why, err.Error())
	}
	if e.ConnPacketsVeth, err = countConnPackets(vethPath); err != nil {
		why = append(why, err.Error())
	}
	why = append(why, checkClient(run, res)...)
	why = append(why, checkCapture(anyPath, run, version)...)
	e.Reproduced = len(why) == 0
	e.Why = strings.Join(why, "; ")
	return e, nil
}

// checkClient compares the client's result with the design.
func checkClient(run lab.ClientRun, res lab.Result) []string {
	var why []string
	x := run.Expect
	if res.ExitCode != x.ExitCode {
		why = append(why, fmt.Sprintf("exit code %d, designed %d", res.ExitCode, x.ExitCode))
	}
	if x.Says != "" && !strings.Contains(res.Stdout+res.Stderr, x.Says) {
		why = append(why, fmt.Sprintf("client printed %q, designed to say %q", res.Output(), x.Says))
	}
	if x.MinElapsed > 0 && res.Elapsed < x.MinElapsed {
		why = append(why, fmt.Sprintf("took %v, designed at least %v", res.Elapsed.Round(time.Millisecond), x.MinElapsed))
	}
	if x.MaxElapsed > 0 && res.Elapsed > x.MaxElapsed {
		why = append(why, fmt.Sprintf("took %v, designed at most %v", res.Elapsed.Round(time.Millisecond), x.MaxElapsed))
	}
	return why
}

// decodeMySQL makes tshark read every lab MySQL port as MySQL.
var decodeMySQL = func() []string {
	var args []string
	for _, p := range []int{lab.PortMySQLResolve, lab.PortMySQLTLS, lab.PortGreet2s, lab.PortGreet5s, lab.PortNoGreeting, lab.PortSSHBanner} {
		args = append(args, "-d", fmt.Sprintf("tcp.port==%d,mysql", p))
	}
	// and every lab PostgreSQL port as PostgreSQL (5432 is by default).
	args = append(args, "-d", fmt.Sprintf("tcp.port==%d,pgsql", lab.PortPGStandby))
	return args
}()

// checkCapture reads the -i any capture with tshark (an independent
// decoder, not connscope's) and compares it with the design: one TCP
// connection attempt per expected attempt (SYNs quoted in ICMP errors
// count, for attempts whose SYN never left the host), the greeting's
// version, the server's error code.
func checkCapture(path string, run lab.ClientRun, version string) []string {
	x := run.Expect
	args := append([]string{"-n", "-r", path}, decodeMySQL...)
	args = append(args, "-T", "fields", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.srcport",
		"-e", "tcp.dstport", "-e", "mysql.version", "-e", "mysql.error_code", "-e", "pgsql.code")
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return []string{fmt.Sprintf("tshark -r %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))}
	}
	conns := map[string]bool{}
	var versions, codes, states []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			continue
		}
		if f[0] == "1" && f[1] == "0" {
			conns[f[2]+">"+f[3]] = true
		}
		if f[4] != "" {
			versions = append(versions, f[4])
		}
		if f[5] != "" {
			codes = append(codes, f[5])
		}
		if f[6] != "" {
			states = append(states, f[6])
		}
	}
	var why []string
	if len(conns) != len(x.Attempts) {
		why = append(why, fmt.Sprintf("%d TCP connection attempts in the capture, designed %d (%v)", len(conns), len(x.Attempts), x.Attempts))
	}
	switch {
	case !x.Greeting:
	case len(versions) == 0:
		why = append(why, "no MySQL greeting in the capture, designed one")
	case versions[0] != version:
		why = append(why, fmt.Sprintf("greeting version %q, designed %q", versions[0], version))
	}
	want := ""
	if x.MySQLErrorCode != 0 {
		want = strconv.Itoa(x.MySQLErrorCode)
	}
	if got := strings.Join(codes, ","); got != want {
		why = append(why, fmt.Sprintf("MySQL error code %q in the capture, designed %q", got, want))
	}
	if got := strings.Join(states, ","); got != x.PGSQLState {
		why = append(why, fmt.Sprintf("PostgreSQL SQLSTATE %q in the capture, designed %q", got, x.PGSQLState))
	}
	return why
}

// connPacketsFilter selects, in tshark's display filter language, the
// packets connect analysis reads: TCP, UDP, and ICMP/ICMPv6 errors
// (destination unreachable, time exceeded, parameter problem; ICMPv6 packet
// too big).
const connPacketsFilter = "tcp or udp or icmp.type == 3 or icmp.type == 11 or icmp.type == 12 or icmpv6.type == 1 or icmpv6.type == 2 or icmpv6.type == 3 or icmpv6.type == 4"

// countConnPackets counts a capture's packets that connect analysis reads,
// with tshark (an independent decoder).
func countConnPackets(path string) (int, error) {
	cmd := exec.Command("tshark", "-n", "-r", path, "-Y", connPacketsFilter, "-T", "fields", "-e", "frame.number")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("tshark -r %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return len(strings.Fields(string(out))), nil
}

// capture is a running tcpdump or dumpcap in the client namespace.
type capture struct {
	name   string
	cmd    *exec.Cmd
	stderr *lab.LockedBuffer
	done   chan error
}

// captureStats are the counts a capture tool prints when it stops.
type captureStats struct{ captured, received, dropped int }

var (
	tcpdumpCaptured = regexp.MustCompile(`(\d+) packets? captured`)
	tcpdumpReceived = regexp.MustCompile(`(\d+) packets? received by filter`)
	tcpdumpDropped  = regexp.MustCompile(`(\d+) packets? dropped by kernel`)
	dumpcapCaptured = regexp.MustCompile(`Packets captured: (\d+)`)
	dumpcapRecvDrop = regexp.MustCompile(`Packets received/dropped on interface '[^']*': (\d+)/(\d+)`)
)

// check fails on packets the kernel dropped. (Captured may be below
// received: on "any", libpcap discards the outgoing copy of each loopback
// packet, which it also sees incoming.)
func (s captureStats) check(tool string) (int, error) {
	if s.dropped != 0 {
		return s.captured, fmt.Errorf("%s: the kernel dropped %d of %d packets", tool, s.dropped, s.received)
	}
	return s.captured, nil
}

// startCapture starts argv in the client namespace and waits until its
// stderr says it is capturing (ready).
func startCapture(ctx context.Context, ready string, argv ...string) (*capture, error) {
	c := &capture{name: argv[0], stderr: &lab.LockedBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command("ip", append([]string{"netns", "exec", lab.NSClient}, argv...)...)
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", c.name, err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(c.stderr.String(), ready) {
		select {
		case err := <-c.done:
			return nil, fmt.Errorf("%s exited before capturing (%v): %s", c.name, err, c.stderr.String())
		case <-deadline:
			c.stop()
			return nil, fmt.Errorf("%s not capturing after 10 s: %s", c.name, c.stderr.String())
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return c, nil
}

// stop ends the capture with SIGINT (both tools then write out what they
// hold and print their counts) and waits for it.
func (c *capture) stop() (captureStats, error) {
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		return captureStats{}, fmt.Errorf("%s ignored SIGINT for 10 s", c.name)
	}
	text := c.stderr.String()
	var s captureStats
	atoi := func(re *regexp.Regexp, group int) int {
		m := re.FindStringSubmatch(text)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[group])
		return n
	}
	if c.name == "tcpdump" {
		s = captureStats{atoi(tcpdumpCaptured, 1), atoi(tcpdumpReceived, 1), atoi(tcpdumpDropped, 1)}
	} else {
		s = captureStats{atoi(dumpcapCaptured, 1), atoi(dumpcapRecvDrop, 1), atoi(dumpcapRecvDrop, 2)}
	}
	if s.captured < 0 || s.received < 0 || s.dropped < 0 {
		return s, fmt.Errorf("%s printed no packet counts: %q", c.name, text)
	}
	return s, nil
}

// shellJoin quotes argv for a POSIX shell, so the manifest's command can be
// pasted as is.
func shellJoin(argv []string) string {
	safe := regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)
	quoted := make([]string, len(argv))
	for i, a := range argv {
		if safe.MatchString(a) {
			quoted[i] = a
		} else {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}

func firstLine(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Scan()
	return strings.TrimSpace(sc.Text())
}
