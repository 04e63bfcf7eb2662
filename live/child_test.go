package live

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	MaybeRunChild() // this test binary doubles as the re-executed child
	os.Exit(m.Run())
}

func TestChildKeepsPidAcrossBarrierAndExec(t *testing.T) {
	// A file, not a buffer: the child writes it directly, so looking at it
	// while the child runs is not a data race with a copying goroutine.
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	c, err := StartChild([]string{"sh", "-c", "echo $$; exit 7"}, nil, out, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	// Held at the barrier: nothing printed yet.
	time.Sleep(50 * time.Millisecond)
	st, err := out.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 0 {
		t.Fatalf("command ran before Release: %d bytes on its stdout", st.Size())
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	code, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
	printed, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(printed)); got != strconv.Itoa(c.Pid()) {
		t.Errorf("command ran as pid %s, Child.Pid() = %d", got, c.Pid())
	}
}

// TestChildCannotRun: a command that is not found exits 127, one that
// exists but cannot be executed 126, as in a shell and as run -h says.
func TestChildCannotRun(t *testing.T) {
	dir := t.TempDir()
	noExec := dir + "/not-executable"
	if err := os.WriteFile(noExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		argv0 string
		code  int
		want  string
	}{
		{"connscope-no-such-command", 127, "command not found"},
		{dir + "/missing", 127, "no such file"},
		{noExec, 126, "not executable"},
		{"/etc/passwd", 126, "not executable"},
		{dir, 126, "is a directory"},
	}
	for _, tc := range tests {
		var errOut bytes.Buffer
		c, err := StartChild([]string{tc.argv0}, nil, nil, &errOut)
		if err != nil {
			t.Fatal(err)
		}
		c.Release()
		code, _ := c.Wait()
		if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.argv0, code, errOut.String(), tc.code, tc.want)
		}
	}
}

func TestChildSignalExitCode(t *testing.T) {
	c, err := StartChild([]string{"sh", "-c", "kill -TERM $$"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	if code, _ := c.Wait(); code != 128+15 {
		t.Errorf("exit code %d, want 143 (killed by SIGTERM)", code)
	}
}
