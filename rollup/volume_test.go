package rollup

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
)

// The lab's volume scenarios (testdata/volume, recorded by
// go run ./lab/labvolume record): real clients, many at once or in a loop.
// The truth is tshark's (the manifest), the patterns the lab's design.
type volumeEntry struct {
	Scenario string   `json:"scenario"`
	File     string   `json:"file"`
	Server   string   `json:"server"`
	Patterns []string `json:"patterns"`
	// ExitCodes counts the clients by exit code: 0 is a login that worked
	// when Logins.
	ExitCodes map[string]int `json:"exit_codes"`
	Logins    bool           `json:"exit_0_is_login"`
	// PortRange is the client namespace's ip_local_port_range when the
	// scenario set one ("first last"): what live tracing reads, given here
	// as analyze --local-port-range would.
	PortRange string `json:"client_port_range"`
	Truth     struct {
		Attempts  int            `json:"attempts"`
		SYNs      map[string]int `json:"syns"`
		Connected int            `json:"connected"`
		Greeted   int            `json:"greeted"`
		RTTMS     []float64      `json:"rtt_ms"`
		ConnectMS []float64      `json:"connect_ms"`
		GreetMS   []float64      `json:"greeting_ms"`
		// ClientClosedSilent: connected attempts the client closed
		// without sending a byte (aborted handshakes).
		ClientClosedSilent int `json:"client_closed_silent"`
	} `json:"truth"`
}

func volumeManifest(t *testing.T) (string, []volumeEntry) {
	dir := filepath.Join("..", "testdata", "volume")
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatalf("%v (go run ./lab/labvolume record makes it)", err)
	}
	var m struct {
		Scenarios []volumeEntry `json:"scenarios"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Scenarios) == 0 {
		t.Fatal("no scenarios in testdata/volume/manifest.json")
	}
	return dir, m.Scenarios
}

// rank is the nearest-rank quantile of sorted values.
func rank(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func TestVolumeCaptures(t *testing.T) {
	dir, entries := volumeManifest(t)
	for _, e := range entries {
		t.Run(e.Scenario, func(t *testing.T) {
			r, err := capture.Open(filepath.Join(dir, e.File))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var opt Options
			if e.PortRange != "" {
				if _, err := fmt.Sscanf(e.PortRange, "%d %d", &opt.PortRange[0], &opt.PortRange[1]); err != nil {
					t.Fatalf("client_port_range %q: %v", e.PortRange, err)
				}
			}
			ru := New(opt)
			n := 0
			if _, err := analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) { n++; ru.Add(n, c) }}); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, p := range ru.Patterns() {
				ids = append(ids, p.ID)
				if p.Server != e.Server {
					t.Errorf("pattern %s names server %s, want %s", p.ID, p.Server, e.Server)
				}
				switch p.ID {
				case HostBlocked:
					// its evidence: the aborted handshakes before the 1129s
					if p.Facts.Aborted != e.Truth.ClientClosedSilent || len(p.Facts.AbortedNumbers) != e.Truth.ClientClosedSilent {
						t.Errorf("host_blocked: %d aborted handshakes (numbers %v); tshark: %d connected attempts closed by the client without a byte",
							p.Facts.Aborted, p.Facts.AbortedNumbers, e.Truth.ClientClosedSilent)
					}
				case EphemeralPorts:
					// every attempt on the wire in the 60 s window, of the range the lab set
					if p.Facts.PortsInWindow != e.Truth.Attempts || p.Facts.PortRangeAssumed || p.Facts.PortRange != strings.ReplaceAll(e.PortRange, " ", "-") {
						t.Errorf("ephemeral_ports facts %+v; want %d ports in the window of range %s", p.Facts, e.Truth.Attempts, e.PortRange)
					}
				}
			}
			if !slices.Equal(ids, e.Patterns) {
				t.Fatalf("patterns %v, want %v", ids, e.Patterns)
			}
			// The groups of the server hold every attempt tshark saw, with
			// its SYNs, and their percentiles are tshark's.
			var all Group
			for _, g := range Fold(ru.Groups(), 5, 3) { // a scan's server is host:*
				if g.Server == e.Server {
					all.merge(g, 3)
				}
			}
			// The ok group is the clients that logged in (exit 0).
			ok := 0
			for _, g := range ru.Groups() {
				if g.Outcome == analyze.OK && g.Server == e.Server {
					ok += g.Count
				}
			}
			if e.Logins && ok != e.ExitCodes["0"] {
				t.Errorf("%d ok attempts, %d clients logged in", ok, e.ExitCodes["0"])
			}
			truthSYNs := [4]int{0, e.Truth.SYNs["1"], e.Truth.SYNs["2"], e.Truth.SYNs["3+"]}
			if all.Count != e.Truth.Attempts || all.SYNs != truthSYNs {
				t.Fatalf("%d attempts, SYNs %v; tshark: %d, %v", all.Count, all.SYNs, e.Truth.Attempts, truthSYNs)
			}
			if int(all.RTT.Count()) != e.Truth.Connected || int(all.Connect.Count()) != e.Truth.Connected || int(all.FirstByte.Count()) != e.Truth.Greeted {
				t.Fatalf("measured %d RTTs, %d connect times, %d first bytes; tshark: %d, %d, %d",
					all.RTT.Count(), all.Connect.Count(), all.FirstByte.Count(), e.Truth.Connected, e.Truth.Connected, e.Truth.Greeted)
			}
			for _, c := range []struct {
				name  string
				s     *Sketch
				truth []float64
			}{{"rtt", &all.RTT, e.Truth.RTTMS}, {"connect", &all.Connect, e.Truth.ConnectMS}, {"greeting", &all.FirstByte, e.Truth.GreetMS}} {
				if len(c.truth) == 0 {
					continue // none measured: the counts above say the sketch is empty too
				}
				for _, q := range []float64{0.5, 0.9, 0.99, 1} {
					got, _ := c.s.Quantile(q)
					want := rank(c.truth, q)
					// The sketch's ±0.8 % (1.1 % allowed), and tshark's microsecond rounding.
					if math.Abs(got-want) > 0.011*want+0.002 {
						t.Errorf("%s p%g = %s, tshark %s", c.name, q*100, fmt.Sprint(got), fmt.Sprint(want))
					}
				}
			}
		})
	}
}
