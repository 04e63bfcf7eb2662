package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/connscope/connscope/bpf"
	"github.com/connscope/connscope/live"
)

func TestTraceUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--format", "xml"}, `--format: unknown format "xml"`},
		{[]string{"--port", "0"}, `"0" is not a port number`},
		{[]string{"--pid", "x"}, `"x" is not a process id`},
		{[]string{"--duration", "-1s"}, "--duration -1s is negative"},
		{[]string{"--interval", "-1s"}, "--interval -1s is negative"},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
		{[]string{"--keep-payload"}, "--keep-payload applies to the -w file, and no -w FILE is given"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := traceCommand(tc.args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("trace %q: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
	var out, errb bytes.Buffer
	if code := traceCommand([]string{"-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "Usage: connscope trace") {
		t.Errorf("trace -h: exit %d, stdout %q", code, out.String())
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"--"}, "no command given"},
		{[]string{"--format", "xml", "--", "true"}, `--format: unknown format "xml"`},
		{[]string{"--linger", "-2s", "--", "true"}, "--linger -2s is negative"},
		{[]string{"--pid", "1", "--", "true"}, "flag provided but not defined: -pid"},
		{[]string{"--keep-payload", "--", "true"}, "--keep-payload applies to the -w file"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := runCommand(tc.args, nil, &out, &errb)
		if code != live.ExitRunFailed || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("run %q: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), live.ExitRunFailed, tc.want)
		}
	}
	var out, errb bytes.Buffer
	if code := runCommand([]string{"--help"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "Usage: connscope run") {
		t.Errorf("run --help: exit %d, stdout %q", code, out.String())
	}
}

// TestRunPassesThrough runs a command through the real main(): its output
// and exit status pass through untouched, and the report comes on standard
// error after everything the command wrote there.
func TestRunPassesThrough(t *testing.T) {
	if err := bpf.CheckSupport(); err != nil {
		t.Skipf("connscope run needs eBPF (root or CAP_BPF+CAP_PERFMON): %v", err)
	}
	stdout, stderr, code := runMain(t, []byte("from stdin\n"), "run", "--", "sh", "-c", "cat; echo out; echo err >&2; exit 3")
	if code != 3 {
		t.Errorf("exit status %d, want the command's 3; stderr:\n%s", code, stderr)
	}
	if stdout != "from stdin\nout\n" {
		t.Errorf("stdout %q, want the command's own output only", stdout)
	}
	errAt, sumAt := strings.Index(stderr, "err\n"), strings.Index(stderr, "Summary")
	if errAt < 0 || sumAt < errAt {
		t.Errorf("the report does not follow the command's standard error:\n%s", stderr)
	}
	if !strings.Contains(stderr, "connscope: tracing sh -c 'cat; echo out; echo err >&2; exit 3' (pid ") {
		t.Errorf("no notice naming the command and its pid:\n%s", stderr)
	}
}
