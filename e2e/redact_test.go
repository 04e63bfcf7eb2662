package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/lab"
)

// testRunRedact runs the mariadb client under `connscope run --redact` in
// every format and checks that connscope's own output (the report and the
// notices on standard error) names neither the server, the client, the user
// nor the password, and that the command line shows the pseudonyms the
// connect has.
func testRunRedact(t *testing.T, bin string) {
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	argv := lab.MariaDB("-h", lab.Server4, "-P", "3306", "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1", lab.DBName)
	for _, format := range []string{"table", "markdown", "json"} {
		t.Run(format, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := append([]string{"run", "--netns", lab.NSClient, "--redact", "--format", format, "--", "ip", "netns", "exec", lab.NSClient}, argv...)
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir = root
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("connscope %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
			}
			out := stderr.String() // the report and connscope's notices
			for _, secret := range []string{lab.Server4, lab.Client4, "-u " + lab.DBUser, "'" + lab.DBUser + "'", `"` + lab.DBUser + `"`, lab.DBPassword, lab.DBName} {
				if strings.Contains(out, secret) {
					t.Errorf("--redact output contains %q:\n%s", secret, out)
				}
			}
			want := "-h ip4-1 -P 3306 -u user-1 '-p***' -N -e 'SELECT 1' db-1"
			if n := strings.Count(out, want); n < 2 {
				t.Errorf("the command line with the connect's pseudonyms (%q) is in %d places, want the notice and the report:\n%s", want, n, out)
			}
		})
	}
}
