package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/connscope/connscope/bpf"
	"github.com/connscope/connscope/lab"
)

// requireLive skips t unless the lab can run (root, namespaces, tools) and
// eBPF loads here: the tests assert process attribution.
func requireLive(t *testing.T) {
	t.Helper()
	lab.Require(t)
	if err := bpf.CheckSupport(); err != nil {
		t.Skipf("eBPF tracing is not available here, and these tests check process attribution: %v", err)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (Debian package tshark): the tests check the written pcapng with it")
	}
}

var build struct {
	once sync.Once
	path string
	err  error
}

// connscopeBinary builds cmd/connscope once per test binary (CGO_ENABLED=0,
// as shipped) into a directory every user can read, and returns its path.
func connscopeBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		root, err := lab.RepoRoot()
		if err != nil {
			build.err = err
			return
		}
		dir, err := os.MkdirTemp("", "connscope-e2e-")
		if err != nil {
			build.err = err
			return
		}
		// The privilege tests run the binary as user nobody.
		os.Chmod(dir, 0o755)
		build.path = filepath.Join(dir, "connscope")
		gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if p, err := exec.LookPath("go"); err == nil {
			gotool = p
		}
		cmd := exec.Command(gotool, "build", "-o", build.path, "./cmd/connscope")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/connscope: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// TestMain removes the built binary at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
	os.Exit(code)
}

// The JSON Lines report, as far as the tests look at it.
type jsonConnect struct {
	Kind       string        `json:"kind"`
	Number     int           `json:"number"`
	Client     string        `json:"client"`
	Name       string        `json:"name"`
	Port       int           `json:"port"`
	Outcome    string        `json:"outcome"`
	PID        uint32        `json:"pid"`
	Comm       string        `json:"comm"`
	Resolution []jsonQuery   `json:"resolution"`
	Attempts   []jsonAttempt `json:"attempts"`
	Evidence   []string      `json:"evidence"`
}

type jsonQuery struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Rcode string `json:"rcode"`
}

type jsonAttempt struct {
	Client   string   `json:"client"`
	Server   string   `json:"server"`
	Outcome  string   `json:"outcome"`
	SYNCount int      `json:"syn_count"`
	RTTMS    *float64 `json:"rtt_ms"`
	PID      uint32   `json:"pid"`
	Comm     string   `json:"comm"`
	Errno    string   `json:"errno"`
	MySQL    *struct {
		ErrorCode     int    `json:"error_code"`
		ServerVersion string `json:"server_version"`
	} `json:"mysql"`
	Events []struct {
		What string `json:"what"`
	} `json:"events"`
}

type jsonSummary struct {
	Kind           string         `json:"kind"`
	Connects       int            `json:"connects"`
	Attempts       int            `json:"attempts"`
	Outcomes       map[string]int `json:"outcomes"`
	Packets        int            `json:"packets"`
	KernelDrops    uint64         `json:"kernel_drops"`
	RingBufferLost uint64         `json:"ring_buffer_lost"`
	Errors         []string       `json:"errors"`
}

// parseReport splits a JSON Lines report into its connects and summary.
func parseReport(t *testing.T, data []byte) ([]jsonConnect, *jsonSummary) {
	t.Helper()
	var (
		connects []jsonConnect
		summary  *jsonSummary
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var kind struct{ Kind string }
		if err := json.Unmarshal(line, &kind); err != nil {
			t.Fatalf("report line is not JSON: %v: %q", err, line)
		}
		switch kind.Kind {
		case "connect":
			var c jsonConnect
			if err := json.Unmarshal(line, &c); err != nil {
				t.Fatalf("connect line: %v: %q", err, line)
			}
			connects = append(connects, c)
		case "summary":
			var s jsonSummary
			if err := json.Unmarshal(line, &s); err != nil {
				t.Fatalf("summary line: %v: %q", err, line)
			}
			summary = &s
		default:
			t.Fatalf("report line of unknown kind %q: %q", kind.Kind, line)
		}
	}
	return connects, summary
}

var tracedPID = regexp.MustCompile(`connscope: tracing .* \(pid (\d+)\): `)

// childPID finds the pid connscope run announced for the command.
func childPID(stderr string) (uint32, bool) {
	m := tracedPID.FindStringSubmatch(stderr)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(m[1], 10, 32)
	return uint32(n), err == nil
}

// describe renders connects compactly for failure messages.
func describe(cs []jsonConnect) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "\n  connect %d %s:%d name=%q outcome=%s pid=%d comm=%s", c.Number, c.Client, c.Port, c.Name, c.Outcome, c.PID, c.Comm)
		for _, a := range c.Attempts {
			fmt.Fprintf(&b, "\n    attempt %s -> %s %s syns=%d pid=%d comm=%s errno=%s", a.Client, a.Server, a.Outcome, a.SYNCount, a.PID, a.Comm, a.Errno)
		}
		for _, q := range c.Resolution {
			fmt.Fprintf(&b, "\n    query %s %s %s", q.Type, q.Name, q.Rcode)
		}
	}
	return b.String()
}
