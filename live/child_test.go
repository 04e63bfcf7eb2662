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
	var out bytes.Buffer
	c, err := StartChild([]string{"sh", "-c", "echo $$; exit 7"}, nil, &out, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	// Held at the barrier: nothing printed yet.
	time.Sleep(50 * time.Millisecond)
	if out.Len() != 0 {
		t.Fatalf("command ran before Release: %q", out.String())
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
	if got := strings.TrimSpace(out.String()); got != strconv.Itoa(c.Pid()) {
		t.Errorf("command ran as pid %s, Child.Pid() = %d", got, c.Pid())
	}
}

func TestChildCommandNotFound(t *testing.T) {
	var errOut bytes.Buffer
	c, err := StartChild([]string{"connscope-no-such-command"}, nil, nil, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	code, _ := c.Wait()
	if code != 127 || !strings.Contains(errOut.String(), "command not found") {
		t.Errorf("exit %d, stderr %q; want 127 and 'command not found'", code, errOut.String())
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
