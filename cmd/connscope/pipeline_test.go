package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TestAnalyzePipelineSameOutput: `connscope analyze` of a connect-heavy
// capture (bench/gencap: one connect per 10 packets, so that the engine's
// density rule starts the pipeline, analyze.Options.Pipeline) prints the
// same report, standard error and exit status with GOMAXPROCS=1 (one
// goroutine) and GOMAXPROCS=2 — a single file, a set (analyzeSet), and a
// file cut inside a record (the results up to the damage and the same
// error).
func TestAnalyzePipelineSameOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a capture with bench/gencap (-short)")
	}
	dir := t.TempDir()
	dense := filepath.Join(dir, "dense.pcap")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "../../bench/gencap", "-packets", "60000", "-connects", "6000", "-o", dense)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./bench/gencap: %v\n%s", err, out)
	}
	data, err := os.ReadFile(dense)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)*2/3+7], 0o644); err != nil {
		t.Fatal(err)
	}
	lab := filepath.Join(capturesDir, "refused-mariadb.any.pcap")
	for _, args := range [][]string{
		{"--format", "json", dense},
		{"--format", "table", dense},
		{"--format", "markdown", "--all", "--group-by", "client", dense},
		{"--format", "json", "--redact", dense},
		{"--format", "json", dense, lab},
		{"--format", "table", cut, lab},
		{"--format", "json", cut},
	} {
		var out, errs [2]string
		var code [2]int
		for i, procs := range []int{1, 2} {
			prev := runtime.GOMAXPROCS(procs)
			out[i], errs[i], code[i] = run(nil, args...)
			runtime.GOMAXPROCS(prev)
		}
		if out[0] != out[1] {
			t.Errorf("analyze %v: the report differs with GOMAXPROCS=2 (pipeline) from GOMAXPROCS=1", args)
		}
		if errs[0] != errs[1] || code[0] != code[1] {
			t.Errorf("analyze %v: exit %d, stderr %q with GOMAXPROCS=1; exit %d, stderr %q with 2", args, code[0], errs[0], code[1], errs[1])
		}
		if args[len(args)-1] == cut && (code[1] != 1 || packetOffset.FindStringSubmatch(errs[1]) == nil) {
			t.Errorf("analyze %v: exit %d, stderr %q; want 1, naming the packet and byte offset", args, code[1], errs[1])
		}
	}
}

// TestMayPipeline: the pipeline only for regular files, never for standard
// input or another pipe, whose reader gets each connect as it completes.
func TestMayPipeline(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.pcap")
	if err := os.WriteFile(file, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		files []string
		want  bool
	}{
		{[]string{file}, true},
		{[]string{file, file}, true},
		{[]string{file, "-"}, false},
		{[]string{"-"}, false},
		{[]string{fifo}, false},
		{[]string{dir}, false},
		{[]string{filepath.Join(dir, "missing.pcap")}, false},
	} {
		if got := mayPipeline(tc.files); got != tc.want {
			t.Errorf("mayPipeline(%v) = %v, want %v", tc.files, got, tc.want)
		}
	}
}
