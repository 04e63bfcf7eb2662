package live

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connscope/connscope/report"
)

// syncBuffer is a bytes.Buffer safe for the notices Trace writes while the
// test reads them.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// trace writing to a file holds each connect in its buffer (no write(2) per
// connect) but flushes it on the pipeline's tick: a connect is in the file
// while the trace still runs, not only at the end.
func TestTraceFlushesToFileOnTick(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live tracing needs root (eBPF and packet capture)")
	}
	out := filepath.Join(t.TempDir(), "report.json")
	cfg := Config{Format: report.JSON, Output: out, Duration: 4 * time.Second}
	done, stderr := traceRefusedConnect(t, cfg)
	want := []byte(`"kind":"connect"`)
	for {
		select {
		case st := <-done:
			t.Fatalf("trace ended (status %d) before the connect was in %s: %q\n%s", st, out, readFile(out), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if bytes.Contains(readFile(out), want) {
			break
		}
	}
	if st := <-done; st != 0 {
		t.Errorf("trace exit status %d: %s", st, stderr.String())
	}
}

func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// traceRefusedConnect starts Trace(cfg) on loopback, following a port
// nobody listens on, waits until it traces, and makes one connect there
// (refused). It returns Trace's exit status channel and its standard error.
func traceRefusedConnect(t *testing.T, cfg Config) (<-chan int, *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // now a closed port: connects to it are refused
	stderr := &syncBuffer{}
	cfg.Interface = "lo"
	cfg.Ports = []uint16{uint16(port)}
	done := make(chan int, 1)
	go func() { done <- Trace(cfg, &syncBuffer{}, stderr) }()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), "connscope: tracing "); {
		select {
		case st := <-done:
			t.Fatalf("trace ended (status %d) before tracing: %s", st, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace did not start within 30 s: %s", stderr.String())
		}
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("connect to the closed port %d succeeded", port)
	}
	return done, stderr
}
