package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestMain lets a test run the real main() (flag dispatch, os.Exit and
// all) by re-executing the test binary with CONNSCOPE_RUN_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("CONNSCOPE_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs `connscope args...` through main() in a child process.
func runMain(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// TestMain calls main() before the testing package parses any flag, so
	// main() sees args as the connscope command line.
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CONNSCOPE_RUN_MAIN=1")
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// run calls the analyze command in-process.
func run(stdin []byte, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = analyzeCommand(args, bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// pkt describes one synthetic TCP segment.
type pkt struct {
	at            time.Duration
	src, dst      string
	sport, dport  uint16
	syn, ack, rst bool
	seq, ackn     uint32
	payload       []byte
}

var t0 = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)

// writePcap writes an Ethernet pcap of pkts and returns its bytes and the
// byte offset where each record starts.
func writePcap(t *testing.T, pkts []pkt) ([]byte, []int) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	var offsets []int
	for _, p := range pkts {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(p.src).To4(), DstIP: net.ParseIP(p.dst).To4()}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), SYN: p.syn, ACK: p.ack, RST: p.rst, Seq: p.seq, Ack: p.ackn, Window: 64240}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(p.payload)); err != nil {
			t.Fatal(err)
		}
		data := sb.Bytes()
		offsets = append(offsets, buf.Len())
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(p.at), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes(), offsets
}

// refusedThenMore is a refused connect (SYN, RST) followed by a second
// connect's SYN and SYN-ACK.
func refusedThenMore() []pkt {
	return []pkt{
		{at: 0, src: "192.0.2.1", dst: "192.0.2.2", sport: 40000, dport: 3306, syn: true, seq: 1000},
		{at: 120 * time.Microsecond, src: "192.0.2.2", dst: "192.0.2.1", sport: 3306, dport: 40000, rst: true, ack: true, ackn: 1001},
		{at: 50 * time.Millisecond, src: "192.0.2.1", dst: "192.0.2.3", sport: 40001, dport: 3306, syn: true, seq: 5000},
		{at: 50*time.Millisecond + 200*time.Microsecond, src: "192.0.2.3", dst: "192.0.2.1", sport: 3306, dport: 40001, syn: true, ack: true, seq: 9000, ackn: 5001},
	}
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonLines parses JSON Lines output.
func jsonLines(t *testing.T, out string) (connects []map[string]any, summary map[string]any) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		switch m["kind"] {
		case "connect":
			connects = append(connects, m)
		case "summary":
			summary = m
		default:
			t.Fatalf("line without a known kind: %q", sc.Text())
		}
	}
	if summary == nil {
		t.Fatalf("no summary line in:\n%s", out)
	}
	return connects, summary
}

func TestAnalyzeUsageErrors(t *testing.T) {
	good := writeTemp(t, "ok.pcap", func() []byte { b, _ := writePcap(t, refusedThenMore()); return b }())
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no file", nil, "no capture file given"},
		{"bad format", []string{"--format", "yaml", good}, "unknown format"},
		{"bad port", []string{"--port", "http", good}, "not a port number"},
		{"port zero", []string{"--port", "0", good}, "not a port number"},
		{"unknown flag", []string{"--colour", good}, "flag provided but not defined"},
		{"stdin twice", []string{"-", "-"}, "more than once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(nil, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
		})
	}
	out, _, code := run(nil, "-h")
	if code != 0 || !strings.Contains(out, "Usage: connscope analyze") {
		t.Errorf("-h: exit %d, output %q", code, out)
	}
}

func TestAnalyzeMissingFile(t *testing.T) {
	stdout, stderr, code := run(nil, "--format", "json", filepath.Join(t.TempDir(), "nope.pcap"))
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, "nope.pcap") {
		t.Errorf("stderr does not name the file: %q", stderr)
	}
	_, sum := jsonLines(t, stdout)
	if errs, _ := sum["errors"].([]any); len(errs) == 0 {
		t.Errorf("summary lists no error: %v", sum)
	}
}

func TestAnalyzeRefused(t *testing.T) {
	data, _ := writePcap(t, refusedThenMore())
	path := writeTemp(t, "refused.pcap", data)
	stdout, stderr, code := run(nil, "--format", "json", path)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	connects, sum := jsonLines(t, stdout)
	if len(connects) == 0 || connects[0]["outcome"] != "refused" {
		t.Fatalf("first connect is not refused: %v", connects)
	}
	if sum["packets"].(float64) != 4 {
		t.Errorf("summary packets = %v, want 4", sum["packets"])
	}
	// --failed keeps the refused connect; --port filters by server port.
	stdout, _, _ = run(nil, "--format", "json", "--port", "3307", path)
	if c, _ := jsonLines(t, stdout); len(c) != 0 {
		t.Errorf("--port 3307 still shows %d connects", len(c))
	}
}

func TestAnalyzeStdin(t *testing.T) {
	data, _ := writePcap(t, refusedThenMore())
	fromFile, _, code1 := run(nil, "--format", "json", writeTemp(t, "x.pcap", data))
	fromStdin, stderr, code2 := run(data, "--format", "json", "-")
	if code1 != 0 || code2 != 0 {
		t.Fatalf("exit %d / %d: %s", code1, code2, stderr)
	}
	c1, _ := jsonLines(t, fromFile)
	c2, _ := jsonLines(t, fromStdin)
	if len(c1) != len(c2) || len(c2) == 0 || c2[0]["source"] != "stdin" {
		t.Fatalf("stdin gives %d connects (source %v), the file %d", len(c2), c2, len(c1))
	}
}

var packetOffset = regexp.MustCompile(`packet (\d+) at byte offset (\d+)`)

// TestAnalyzeTruncated cuts the capture inside its last record: the results
// before it are printed, the error names the packet and offset, exit 1.
func TestAnalyzeTruncated(t *testing.T) {
	data, offsets := writePcap(t, refusedThenMore())
	last := offsets[len(offsets)-1]
	cut := data[:last+16+10] // the record header and 10 bytes of the frame
	for _, viaMain := range []bool{false, true} {
		var stdout, stderr string
		var code int
		if viaMain {
			stdout, stderr, code = runMain(t, cut, "analyze", "--format", "json", "-")
		} else {
			stdout, stderr, code = run(nil, "--format", "json", writeTemp(t, "cut.pcap", cut))
		}
		if code != 1 {
			t.Fatalf("main=%v: exit %d, want 1; stderr %q", viaMain, code, stderr)
		}
		m := packetOffset.FindStringSubmatch(stderr)
		if m == nil || m[1] != "4" || m[2] != strconv.Itoa(last) {
			t.Errorf("main=%v: stderr %q does not name packet 4 at byte offset %d", viaMain, stderr, last)
		}
		connects, sum := jsonLines(t, stdout)
		if len(connects) == 0 || connects[0]["outcome"] != "refused" {
			t.Errorf("main=%v: the refused connect before the damage is missing: %v", viaMain, connects)
		}
		if errs, _ := sum["errors"].([]any); len(errs) == 0 {
			t.Errorf("main=%v: summary does not list the error", viaMain)
		}
	}
}

// TestAnalyzeCorrupt gives the last record an impossible length.
func TestAnalyzeCorrupt(t *testing.T) {
	data, offsets := writePcap(t, refusedThenMore())
	bad := append([]byte(nil), data...)
	last := offsets[len(offsets)-1]
	copy(bad[last+8:], []byte{0xff, 0xff, 0xff, 0x7f}) // captured length 2 GiB
	stdout, stderr, code := run(nil, "--format", "table", writeTemp(t, "bad.pcap", bad))
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, stderr)
	}
	if m := packetOffset.FindStringSubmatch(stderr); m == nil || m[1] != "4" {
		t.Errorf("stderr %q does not name packet 4", stderr)
	}
	if !strings.Contains(stdout, "refused") || !strings.Contains(stdout, "Summary") {
		t.Errorf("partial results missing from the table:\n%s", stdout)
	}
}

func TestAnalyzeRedactFlag(t *testing.T) {
	data, _ := writePcap(t, refusedThenMore())
	stdout, _, code := run(nil, "--redact", writeTemp(t, "r.pcap", data))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, addr := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if strings.Contains(stdout, addr) {
			t.Errorf("--redact output contains %s:\n%s", addr, stdout)
		}
	}
	if !strings.Contains(stdout, "ip4-1") {
		t.Errorf("--redact output has no pseudonyms:\n%s", stdout)
	}
}

// labManifest is the part of testdata/captures/manifest.json these tests read.
type labManifest struct {
	Scenarios []struct {
		Scenario    string `json:"scenario"`
		Client      string `json:"client"`
		Any         string `json:"any"`
		Veth        string `json:"veth"`
		PacketsAny  uint64 `json:"packets_any"`
		PacketsVeth uint64 `json:"packets_veth"`
		Reproduced  bool   `json:"reproduced"`
		Protocol    string `json:"protocol"` // "" (MySQL) or "postgres"
		Expected    struct {
			Outcome  string   `json:"outcome"`
			Attempts []string `json:"attempts"`
		} `json:"expected"`

		// The TCP, UDP and ICMP-error packets of each capture
		// (lab/labrecord); nil: not recorded.
		ConnPacketsAny  *uint64 `json:"conn_packets_any"`
		ConnPacketsVeth *uint64 `json:"conn_packets_veth"`
	} `json:"scenarios"`
}

const capturesDir = "../../testdata/captures"

func readManifest(t *testing.T) labManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(capturesDir, "manifest.json"))
	if os.IsNotExist(err) {
		t.Skip("no lab captures: testdata/captures/manifest.json is missing (make testdata records them)")
	}
	if err != nil {
		t.Fatal(err)
	}
	var m labManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return m
}

// TestAnalyzeLabCaptures runs the analyze command over every lab capture in
// every format: it must read every packet, exit 0, and report the outcome
// the lab produced.
func TestAnalyzeLabCaptures(t *testing.T) {
	m := readManifest(t)
	for _, sc := range m.Scenarios {
		if !sc.Reproduced {
			continue
		}
		for _, file := range []struct {
			name, side string
			packets    uint64
			conn       *uint64
		}{{sc.Any, "any", sc.PacketsAny, sc.ConnPacketsAny}, {sc.Veth, "veth", sc.PacketsVeth, sc.ConnPacketsVeth}} {
			if file.name == "" {
				continue
			}
			t.Run(file.name, func(t *testing.T) {
				path := filepath.Join(capturesDir, file.name)
				if _, err := os.Stat(path); err != nil {
					t.Fatalf("%s is listed in testdata/captures/manifest.json but cannot be read: %v", file.name, err)
				}
				if file.conn == nil {
					t.Fatalf("manifest entry %s/%s has no conn_packets_%s: record it with make testdata (lab/labrecord counts them)", sc.Scenario, sc.Client, file.side)
				}
				stdout, stderr, code := run(nil, "--format", "json", path)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				connects, sum := jsonLines(t, stdout)
				packets := uint64(sum["packets"].(float64))
				if packets != file.packets {
					t.Errorf("summary counts %d packets, the manifest %d", packets, file.packets)
				}
				if *file.conn == 0 {
					// The manifest says nothing of the connect is on this
					// wire (no-route, unix sockets, no local port; only
					// ARP/NDP when the next hop does not answer): trace
					// (eBPF) sees these failures, analyze must report
					// nothing rather than guess.
					if unsupported := uint64(sum["unsupported"].(float64)); len(connects) != 0 || packets != unsupported {
						t.Errorf("%d connects, %d of %d packets read; the manifest says this capture holds no TCP, UDP or ICMP error", len(connects), packets-unsupported, packets)
					}
					return
				}
				if !hasOutcome(connects, sc.Expected.Outcome, sc.Expected.Attempts) {
					var got []string
					for _, c := range connects {
						got = append(got, c["outcome"].(string))
					}
					t.Errorf("no connect with outcome %s and attempts %v; got connects %v", sc.Expected.Outcome, sc.Expected.Attempts, got)
				}
				for _, f := range []string{"table", "markdown"} {
					out, stderr, code := run(nil, "--format", f, "--redact", path)
					if code != 0 || !strings.Contains(out, sc.Expected.Outcome) {
						t.Errorf("--format %s --redact: exit %d, outcome %s missing; stderr %q", f, code, sc.Expected.Outcome, stderr)
					}
				}
			})
		}
	}
}

func hasOutcome(connects []map[string]any, outcome string, attempts []string) bool {
	for _, c := range connects {
		if c["outcome"] != outcome {
			continue
		}
		if len(attempts) == 0 {
			return true
		}
		as, _ := c["attempts"].([]any)
		if len(as) != len(attempts) {
			continue
		}
		same := true
		for i, a := range as {
			if a.(map[string]any)["outcome"] != attempts[i] {
				same = false
			}
		}
		if same {
			return true
		}
	}
	return false
}

// TestDemo runs what `make demo` runs, through main(): the default table
// for the bundled firewall-drop capture.
func TestDemo(t *testing.T) {
	m := readManifest(t)
	const demo = "drop-mariadb.any.pcap"
	want := ""
	for _, sc := range m.Scenarios {
		if sc.Any == demo {
			want = sc.Expected.Outcome
		}
	}
	path := filepath.Join(capturesDir, demo)
	if _, err := os.Stat(path); err != nil || want == "" {
		t.Skipf("%s is not among the lab captures yet", demo)
	}
	stdout, stderr, code := runMain(t, nil, "analyze", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range []string{"Connect 1: " + want, "Timeline:", "Likely causes", "Summary", "drops"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("demo output lacks %q:\n%s", s, stdout)
		}
	}
}

// TestAnalyzeSeveralFiles: files given together are one stream merged by
// time; the same packets in two files are duplicates (counted, not two
// connects), connects are numbered across the set, and a missing or
// damaged file among good ones gives exit 1, an error naming it (and the
// packet and byte offset of the damage) and the good ones' results.
func TestAnalyzeSeveralFiles(t *testing.T) {
	data, offsets := writePcap(t, refusedThenMore())
	a, b := writeTemp(t, "a.pcap", data), writeTemp(t, "b.pcap", data)
	cut := writeTemp(t, "cut.pcap", data[:offsets[len(offsets)-1]+20])
	missing := filepath.Join(t.TempDir(), "missing.pcap")
	alone, _, code := run(nil, "--format", "json", a)
	if code != 0 {
		t.Fatalf("%s alone: exit %d", a, code)
	}
	aloneConnects, aloneSum := jsonLines(t, alone)
	stdout, stderr, code := run(nil, a, "--format", "json", b, cut, missing)
	if code != 1 || !strings.Contains(stderr, "missing.pcap") {
		t.Fatalf("exit %d, stderr %q; want 1 naming missing.pcap", code, stderr)
	}
	if want := fmt.Sprintf("%s: packet %d at byte offset %d", cut, len(offsets), offsets[len(offsets)-1]); !strings.Contains(stderr, want) {
		t.Errorf("stderr %q lacks %q", stderr, want)
	}
	connects, sum := jsonLines(t, stdout)
	for i, c := range connects {
		if src := c["source"].(string); !strings.Contains(src, a) || !strings.Contains(src, "4 files merged by time") {
			t.Errorf("connect %d: source %q does not name the merged set", i+1, src)
		}
		if int(c["number"].(float64)) != i+1 {
			t.Errorf("connect %d is numbered %v", i+1, c["number"])
		}
		if i < len(aloneConnects) && (c["outcome"] != aloneConnects[i]["outcome"] || c["reason"] != aloneConnects[i]["reason"]) {
			t.Errorf("connect %d: %v %v, alone %v %v", i+1, c["outcome"], c["reason"], aloneConnects[i]["outcome"], aloneConnects[i]["reason"])
		}
	}
	if len(connects) != len(aloneConnects) {
		t.Errorf("%d connects from the set, %d from %s alone: the copies were not recognised as duplicates", len(connects), len(aloneConnects), a)
	}
	wantPackets := 2*aloneSum["packets"].(float64) + float64(len(offsets)-1)
	if sum["packets"].(float64) != wantPackets || sum["duplicates"].(float64) <= aloneSum["duplicates"].(float64) {
		t.Errorf("summary packets %v duplicates %v; want %v and more than %v", sum["packets"], sum["duplicates"], wantPackets, aloneSum["duplicates"])
	}
}

// TestVersion runs the real main(): `version` and `--version` print the
// version, the commit and the Go version the binary was built with.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		stdout, stderr, code := runMain(t, nil, arg)
		if code != 0 {
			t.Errorf("connscope %s: exit %d, stderr %q", arg, code, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "connscope ") || !strings.HasPrefix(lines[1], "commit ") || lines[2] != runtime.Version() {
			t.Errorf("connscope %s printed %q; want 'connscope VERSION', 'commit ...' and %q", arg, stdout, runtime.Version())
		}
	}
}

// TestAnalyzeOutputFile: analyze -o FILE writes the report to FILE (as
// trace and run do), nothing to standard output; an -o that cannot be
// created exits 1 naming it.
func TestAnalyzeOutputFile(t *testing.T) {
	data, _ := writePcap(t, refusedThenMore())
	in := writeTemp(t, "o.pcap", data)
	outFile := filepath.Join(t.TempDir(), "report.json")
	stdout, stderr, code := run(nil, "--format", "json", "-o", outFile, in)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if stdout != "" {
		t.Errorf("with -o, standard output got %q", stdout)
	}
	written, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if connects, _ := jsonLines(t, string(written)); len(connects) == 0 || connects[0]["outcome"] != "refused" {
		t.Errorf("report file holds %v", connects)
	}
	bad := filepath.Join(t.TempDir(), "no-such-dir", "r.txt")
	if _, stderr, code := run(nil, "-o", bad, in); code != 1 || !strings.Contains(stderr, bad) {
		t.Errorf("-o %s: exit %d, stderr %q; want 1 naming the file", bad, code, stderr)
	}
}

// TestUnreachableHeadlineFollowsReason: the headline of an unreachable
// connect says what the evidence says — no ARP/NDP reply when the SYN never
// left, an ICMP error when one answered the SYN (lab captures).
func TestUnreachableHeadlineFollowsReason(t *testing.T) {
	tests := []struct {
		capture   string
		want, not string
	}{
		{"arp-fail-mariadb.any.pcap", "no ARP/NDP reply", "ICMP error answered"},
		{"ndp-fail-php.any.pcap", "no ARP/NDP reply", "ICMP error answered"},
		{"reject-port-mariadb.any.pcap", "An ICMP error answered the connection request", "no ARP/NDP reply"},
		{"host-unreach-mariadb.any.pcap", "An ICMP error answered the connection request", "no ARP/NDP reply"},
	}
	for _, tc := range tests {
		path := filepath.Join(capturesDir, tc.capture)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("lab capture missing (make testdata records it): %v", err)
		}
		stdout, stderr, code := run(nil, path)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.capture, code, stderr)
		}
		_, block, _ := strings.Cut(stdout, "Connect 1: unreachable")
		headline, _, _ := strings.Cut(strings.TrimPrefix(block, "\n"), "Timeline:")
		if !strings.Contains(headline, "\n") || !strings.Contains(headline, tc.want) || strings.Contains(headline, tc.not) {
			t.Errorf("%s: headline %q; want %q and not %q", tc.capture, headline, tc.want, tc.not)
		}
	}
}

// TestAnalyzeNothingDecodable: a capture whose every frame is malformed
// exits 1 with a clear message; one good frame among bad ones is a normal
// run (the bad ones are counted as malformed).
func TestAnalyzeNothingDecodable(t *testing.T) {
	good, _ := writePcap(t, refusedThenMore())
	pcapOf := func(frames [][]byte) []byte {
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		for i, f := range frames {
			ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
			if err := w.WritePacket(ci, f); err != nil {
				t.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	junk := [][]byte{{1, 2, 3}, {4, 5, 6, 7, 8}, {9}}
	// The first record of the good capture: its frame starts after the
	// 24-byte file header and the 16-byte record header.
	goodFrame := good[24+16 : 24+16+int(binary.LittleEndian.Uint32(good[24+8:]))]
	tests := []struct {
		name   string
		frames [][]byte
		code   int
	}{
		{"all malformed", junk, 1},
		{"one good frame", append([][]byte{goodFrame}, junk...), 0},
		{"empty capture", nil, 0},
	}
	for _, tc := range tests {
		path := writeTemp(t, "x.pcap", pcapOf(tc.frames))
		stdout, stderr, code := run(nil, "--format", "json", path)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d; stderr %q", tc.name, code, tc.code, stderr)
		}
		if tc.code == 1 {
			if !strings.Contains(stderr, "none of its 3 packets could be decoded") {
				t.Errorf("%s: stderr %q lacks the reason", tc.name, stderr)
			}
			if _, sum := jsonLines(t, stdout); sum["errors"] == nil {
				t.Errorf("%s: the summary lists no error", tc.name)
			}
		}
	}
}

// TestAnalyzeRedactFileNames: under --redact no file name is printed (it
// may name a host), in any format, on standard output or in errors.
func TestAnalyzeRedactFileNames(t *testing.T) {
	data, offsets := writePcap(t, refusedThenMore())
	good := writeTemp(t, "db01.prod.corp.example.com-10.1.2.3.pcap", data)
	cut := writeTemp(t, "db02.prod.corp.example.com.pcap", data[:offsets[len(offsets)-1]+20])
	missing := filepath.Join(t.TempDir(), "db03.prod.corp.example.com.pcap")
	for _, f := range []string{"table", "markdown", "json"} {
		stdout, stderr, code := run(nil, "--redact", "--format", f, good, cut, missing)
		if code != 1 {
			t.Errorf("--format %s: exit %d, want 1 (a damaged and a missing file)", f, code)
		}
		for _, bad := range []string{"db01", "db02", "db03", "10.1.2.3", filepath.Dir(good)} {
			if strings.Contains(stdout+stderr, bad) {
				t.Errorf("--format %s --redact prints %q:\nstdout:\n%s\nstderr:\n%s", f, bad, stdout, stderr)
			}
		}
		for _, want := range []string{"capture-1", "capture-2"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("--format %s --redact: no %s in:\n%s", f, want, stdout)
			}
		}
		if !strings.Contains(stderr, "capture-3") {
			t.Errorf("--format %s --redact: the missing file's error does not call it capture-3:\n%s", f, stderr)
		}
	}
}
