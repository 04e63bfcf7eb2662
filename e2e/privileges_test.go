package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connscope/connscope/lab"
)

// asNobody runs connscope as user nobody with the given ambient
// capabilities (setpriv's syntax, e.g. "+net_raw,+net_admin"; "" for none).
func asNobody(t *testing.T, bin, caps string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	argv := []string{"--reuid=nobody", "--regid=nogroup", "--clear-groups"}
	if caps != "" {
		argv = append(argv, "--inh-caps="+caps, "--ambient-caps="+caps)
	}
	cmd := exec.Command("setpriv", append(append(argv, bin), args...)...)
	cmd.Dir = os.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("setpriv: %v", err)
	}
	return code, out.String(), errb.String()
}

// TestPrivileges checks the up-front privilege check and both one-line
// fallbacks, running the binary as an unprivileged user with chosen
// capabilities.
func TestPrivileges(t *testing.T) {
	requireLive(t)
	bin := connscopeBinary(t)

	need := "connscope: live tracing needs root, or CAP_BPF + CAP_PERFMON + CAP_NET_RAW + CAP_NET_ADMIN; this process (uid 65534) lacks CAP_NET_RAW + CAP_NET_ADMIN + CAP_BPF + CAP_PERFMON: run it with sudo, or grant them with `setcap cap_bpf,cap_perfmon,cap_net_raw,cap_net_admin+ep " + bin + "`\n"

	t.Run("trace without privileges", func(t *testing.T) {
		code, stdout, stderr := asNobody(t, bin, "", "trace", "--duration", "1s")
		if code != 1 || stderr != need || stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and exactly %q", code, stdout, stderr, need)
		}
	})
	t.Run("run without privileges does not run the command", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "ran")
		os.Chmod(filepath.Dir(marker), 0o777)
		code, _, stderr := asNobody(t, bin, "", "run", "--", "touch", marker)
		if code != 125 || !strings.HasPrefix(stderr, need) {
			t.Errorf("exit %d, stderr %q; want 125 and %q", code, stderr, need)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the command ran although connscope could not trace it")
		}
	})
	t.Run("packets alone", func(t *testing.T) {
		code, stdout, stderr := asNobody(t, bin, "+net_raw,+net_admin", "trace", "--duration", "500ms")
		if code != 0 || !strings.Contains(stdout, "Summary") {
			t.Errorf("exit %d; stdout %q; stderr %q", code, stdout, stderr)
		}
		if n := strings.Count(stderr, "eBPF unavailable, tracing from packets alone"); n != 1 {
			t.Errorf("want one line saying eBPF is unavailable, got %d:\n%s", n, stderr)
		}
		if !strings.Contains(stderr, "(classic BPF filter)") {
			t.Errorf("stderr does not say the classic filter runs:\n%s", stderr)
		}
	})
	t.Run("eBPF alone", func(t *testing.T) {
		lab.Require(t)
		code, stdout, stderr := asNobody(t, bin, "+bpf,+perfmon", "trace", "--duration", "500ms")
		if strings.Contains(stderr, "neither source could be opened") {
			t.Skipf("eBPF does not load for an unprivileged user with CAP_BPF+CAP_PERFMON here: %s", stderr)
		}
		if code != 0 || !strings.Contains(stdout, "Summary") {
			t.Errorf("exit %d; stdout %q; stderr %q", code, stdout, stderr)
		}
		if n := strings.Count(stderr, "packet capture unavailable, tracing from eBPF alone"); n != 1 {
			t.Errorf("want one line saying capture is unavailable, got %d:\n%s", n, stderr)
		}
	})
}
