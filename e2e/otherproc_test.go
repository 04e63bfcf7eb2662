package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connscope/connscope/bpf"
)

// TestRunCountsOtherProcesses: `connscope run -- sleep 1` while this test
// process makes TCP connects on loopback. The summary counts the traced
// command's packets (sleep sends none) and the other processes' packets
// separately; the kernel-filter line is printed only with -v.
func TestRunCountsOtherProcesses(t *testing.T) {
	if err := bpf.CheckSupport(); err != nil {
		t.Skipf("connscope run needs eBPF (root or CAP_BPF+CAP_PERFMON): %v", err)
	}
	bin := connscopeBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // traffic of another process: this one
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				c.Close()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	for _, verbose := range []bool{false, true} {
		args := []string{"run", "--format", "json"}
		if verbose {
			args = append(args, "-v")
		}
		cmd := exec.Command(bin, append(args, "--", "sleep", "1")...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("connscope run: %v\n%s", err, stderr.String())
		}
		var sum map[string]any
		sc := bufio.NewScanner(bytes.NewReader(stderr.Bytes()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["kind"] == "summary" {
				sum = m
			}
		}
		if sum == nil {
			t.Fatalf("no JSON summary on stderr:\n%s", stderr.String())
		}
		other, _ := sum["other_processes"].(float64)
		packets, _ := sum["packets"].(float64)
		if other == 0 || packets != 0 {
			t.Errorf("-v=%v: summary packets %v, other_processes %v; want 0 for sleep and the other connects' packets counted apart", verbose, sum["packets"], sum["other_processes"])
		}
		if got := strings.Contains(stderr.String(), "kernel filter:"); got != verbose {
			t.Errorf("-v=%v: kernel filter line printed: %v\n%s", verbose, got, stderr.String())
		}
	}
}
