package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/connscope/connscope/lab"
)

// runReport runs `connscope run --netns <client> --format json` around argv
// in the lab's client namespace and returns its one attempt and the report.
func runReport(t *testing.T, bin string, argv ...string) (serverAttempt, string) {
	t.Helper()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"run", "--netns", lab.NSClient, "--format", "json", "-o", report, "--", "ip", "netns", "exec", lab.NSClient}, argv...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = root
	out, _ := cmd.CombinedOutput() // the client fails: its exit status is passed through
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("no report (%v); connscope said:\n%s", err, out)
	}
	atts := serverAttempts(t, string(data))
	if len(atts) != 1 {
		t.Fatalf("%d attempts, want 1:\n%s", len(atts), data)
	}
	return atts[0], string(data)
}

// The client's side under `run` (pid filter, no port filter): the kernel's
// reason for dropping the client's own SYN reaches the report through the
// connecting socket. An address on the link that nobody answers ARP for
// carries NEIGH_FAILED; an nft output drop rule in the client's namespace
// carries NETFILTER_DROP and makes the timeout kernel.netfilter_drop.
func TestClientSideDrops(t *testing.T) {
	requireLive(t)
	bin := connscopeBinary(t)
	lab.Up(t)

	t.Run("arp-fail", func(t *testing.T) {
		a, out := runReport(t, bin, lab.MariaDB("-h", lab.OnLinkNoHost4, "-P", "3306", "-u", lab.DBUser, "-e", "SELECT 1")...)
		if a.Outcome != "unreachable" {
			t.Errorf("outcome %s (%s), want unreachable", a.Outcome, a.Reason)
		}
		// The kernel frees the queued SYN (NEIGH_FAILED) as it sends
		// itself the ICMP host unreachable that decides the attempt.
		checkTrailingDrop(t, a, out, "NEIGH_FAILED", false)
		if a.Facts.KernelDrop != nil && !hasText(a.Evidence, "dropped the SYN it was sending: NEIGH_FAILED") {
			t.Errorf("evidence %q lacks NEIGH_FAILED", a.Evidence)
		}
	})

	t.Run("nft-output-drop", func(t *testing.T) {
		const port = "3395" // no lab scenario uses it
		rules := "table inet cse2eout { chain output { type filter hook output priority 0; policy accept; tcp dport " + port + " drop; }; }"
		if out, err := exec.Command("ip", "netns", "exec", lab.NSClient, "nft", rules).CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
		defer exec.Command("ip", "netns", "exec", lab.NSClient, "nft", "delete", "table", "inet", "cse2eout").Run()
		a, _ := runReport(t, bin, lab.MariaDB("-h", lab.Server4, "-P", port, "-u", lab.DBUser, "-e", "SELECT 1")...)
		if a.Outcome != "timeout" || a.Reason != "kernel.netfilter_drop" {
			t.Errorf("outcome %s (%s), want timeout (kernel.netfilter_drop)", a.Outcome, a.Reason)
		}
		if d := a.Facts.KernelDrop; d == nil || d.Reason != "NETFILTER_DROP" || d.Packet != "SYN" || d.Received {
			t.Errorf("facts.kernel_drop = %+v, want NETFILTER_DROP for the SYN being sent", d)
		}
		if !hasText(a.Causes, "output rule on this host (the client)") {
			t.Errorf("causes %q do not point at the client's output rules", a.Causes)
		}
	})
}
