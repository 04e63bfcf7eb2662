package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/lab"
)

// TestProbeTraced: as root, `connscope probe` runs its own lookups and
// connects under the live tracing (packets and eBPF): every address gets
// the reason the analyzer gives it, and the connects come as `run`'s
// records after the checklist. The probe connects to all addresses at once:
// the IPv6 attempt of the AAAA blackhole does not decide the IPv4 one, and
// the probe's hang-up after the greeting is a fine connection phase.
func TestProbeTraced(t *testing.T) {
	requireLive(t)
	bin := connscopeBinary(t)
	lab.Up(t)
	tests := []struct {
		name string
		args []string
		// server → traced reason (and outcome) of its address
		reasons  map[string]string
		outcomes map[string]string
		exit     int
		asNobody bool
	}{
		{"aaaa blackhole", []string{"--timeout", "2s", lab.NameBlackhole6},
			map[string]string{"[" + lab.Blackhole6 + "]:3306": "tcp.syn_unanswered", lab.Server4 + ":3306": "mysql.client_closed_after_greeting"},
			map[string]string{"[" + lab.Blackhole6 + "]:3306": "timeout", lab.Server4 + ":3306": "ok"}, 0, false},
		{"refused port", []string{lab.Server4 + ":" + strconv.Itoa(lab.PortClosed)},
			map[string]string{lab.Server4 + ":" + strconv.Itoa(lab.PortClosed): "tcp.rst_from_server"},
			map[string]string{lab.Server4 + ":" + strconv.Itoa(lab.PortClosed): "refused"}, 1, false},
		{"postgres: the SSLRequest answered, no login", []string{"postgres://" + lab.Server4},
			map[string]string{lab.Server4 + ":5432": "pg.client_closed_after_ssl_answer"},
			map[string]string{lab.Server4 + ":5432": "ok"}, 0, false},
		{"no route: never on the wire", []string{"--timeout", "1s", lab.NoRoute4},
			map[string]string{lab.NoRoute4 + ":3306": "kernel.enetunreach"},
			map[string]string{lab.NoRoute4 + ":3306": "no_route"}, 1, false},
		{"without root: what root would add", []string{lab.Server4}, nil, nil, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			argv := append([]string{bin, "probe", "--format", "json"}, tc.args...)
			if tc.asNobody {
				argv = lab.AsNobody(argv...)
			}
			res := lab.Run(ctx, lab.NSClient, argv...)
			if res.Err != nil {
				t.Fatalf("%v: %v", res.Argv, res.Err)
			}
			if res.ExitCode != tc.exit {
				t.Errorf("exit %d, want %d", res.ExitCode, tc.exit)
			}
			got := map[string]string{}
			gotOutcome := map[string]string{}
			connects, okConnects := 0, 0
			tracing := ""
			for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
				var rec struct {
					Kind   string `json:"kind"`
					Server string `json:"server"`
					Traced *struct {
						Outcome string `json:"outcome"`
						Reason  string `json:"reason"`
					} `json:"traced"`
					Attempts json.RawMessage `json:"attempts"`
					Tracing  string          `json:"tracing"`
					Outcome  string          `json:"outcome"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("not JSON: %v: %q", err, line)
				}
				switch rec.Kind {
				case "address":
					if rec.Traced != nil {
						got[rec.Server], gotOutcome[rec.Server] = rec.Traced.Reason, rec.Traced.Outcome
					}
				case "probe":
					tracing = rec.Tracing
				case "connect":
					connects++
					// Whichever address worked, the probe's connect worked.
					// The probe connects to every address at once: when one
					// greets before the next attempt starts, the analysis
					// (rightly) makes that next attempt a connect of its own,
					// so only "some connect is ok" holds for every timing.
					if rec.Outcome == "ok" {
						okConnects++
					}
					var as []struct {
						Comm string `json:"comm"`
					}
					json.Unmarshal(rec.Attempts, &as)
					for _, a := range as {
						if a.Comm != "connscope" {
							t.Errorf("a traced attempt of process %q, want connscope (only the probe is traced)", a.Comm)
						}
					}
				}
			}
			for server, want := range tc.reasons {
				if got[server] != want || gotOutcome[server] != tc.outcomes[server] {
					t.Errorf("%s traced %s (%s), want %s (%s)", server, got[server], gotOutcome[server], want, tc.outcomes[server])
				}
			}
			switch {
			case tc.asNobody:
				if connects != 0 || len(got) != 0 {
					t.Errorf("traced without privileges: %d connects, %v", connects, got)
				}
				if !strings.Contains(tracing, "as root, probe would also trace its own connects") {
					t.Errorf("tracing %q does not say what root would add", tracing)
				}
			case connects == 0:
				t.Errorf("no connect records after the checklist")
			case (okConnects > 0) != (tc.exit == 0):
				t.Errorf("%d of %d connect records ok, want %s", okConnects, connects, map[bool]string{true: "at least one (an address worked)", false: "none"}[tc.exit == 0])
			case !strings.Contains(tracing, "traced with packets and eBPF"):
				t.Errorf("tracing %q", tracing)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
			}
		})
	}
}
