package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The rollup's flags: bad values are usage errors (exit 2) that say what
// to give; good ones leave a capture of ≤ 20 connects as it was.
func TestRollupFlags(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	capture := filepath.Join("testdata", "captures", "refused-php.any.pcap")
	plain, _, code := run(nil, capture)
	if code != 0 {
		t.Fatalf("analyze exited %d", code)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--group-by", "port"}, 2, `--group-by "port": use server, client, process or outcome`},
		{[]string{"--examples", "0"}, 2, "--examples 0: give 1 or more"},
		{[]string{"--group-by", "client", "--examples", "1", "--all"}, 0, ""},
		{[]string{"--group-by", "process"}, 0, ""},
		{[]string{"--group-by", "outcome"}, 0, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := run(nil, append(tc.args, capture)...)
			if code != tc.code || !strings.Contains(errOut, tc.err) {
				t.Fatalf("exit %d, stderr %q; want %d, %q", code, errOut, tc.code, tc.err)
			}
			if code == 0 && out != plain {
				t.Fatalf("≤ 20 connects: output changed with %v", tc.args)
			}
		})
	}
}

// The lab's slow-accept bursts (30 clients, one accept every 0.5 s;
// backlog 1; backlog 8 without SYN cookies and with tcp_abort_on_overflow;
// backlog 8 with SYN cookies): the default view names accept_backlog, and
// no example blames its late greetings, dropped SYNs or resets on reverse
// DNS, a firewall or the network.
func TestSlowAcceptBurstView(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	for _, sc := range []struct{ file, server string }{
		{"slow-accept", "198.51.100.10:3330"},
		{"slow-accept-abort", "198.51.100.10:3332"},
		{"slow-accept-cookies", "198.51.100.10:3333"},
	} {
		t.Run(sc.file, func(t *testing.T) {
			slowAcceptView(t, filepath.Join("testdata", "volume", sc.file+".any.pcap"), sc.server)
		})
	}
}

func slowAcceptView(t *testing.T, capture, server string) {
	for _, format := range []string{"table", "markdown", "json"} {
		out, errOut, code := run(nil, "--format", format, capture)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errOut)
		}
		if !strings.Contains(out, "accept_backlog") {
			t.Fatalf("%s: no accept_backlog:\n%s", format, out)
		}
		if format == "json" {
			for _, kind := range []string{`"kind":"pattern","id":"accept_backlog","server":"` + server + `"`, `"kind":"group"`, `"kind":"timeseries"`} {
				if !strings.Contains(out, kind) {
					t.Errorf("json: no %s", kind)
				}
			}
			continue
		}
		ex := out[strings.Index(out, "Examples ("):]
		if n := strings.Count(ex, "Part of the accept_backlog pattern of "+server); n == 0 {
			t.Errorf("%s: no example explained by accept_backlog:\n%s", format, ex)
		}
		for _, wrong := range []string{"reverse DNS lookup of the client", "firewall DROP rule", "slow part: the network", "tcp wrappers"} {
			if strings.Contains(ex, wrong) {
				t.Errorf("%s: an example says %q under accept_backlog", format, wrong)
			}
		}
	}
}

// The lab's busy capture (320 successful logins by four programs, a bulk
// result, four different failures among them): the four failures are on
// the first screen (40 lines) of the default output.
func TestBusyCaptureFirstScreen(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	out, errOut, code := run(nil, filepath.Join("testdata", "volume", "busy.any.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	first := strings.Join(lines[:min(40, len(lines))], "\n")
	for _, want := range []string{
		"│ 198.51.100.10:3310 │ refused ",     // nothing listens
		"│ 198.51.100.10:3306 │ auth_failed ", // 1045
		"│ 198.51.100.13:3306 │ rejected ",    // 1130
		"│ 198.51.100.10:3311 │ timeout ",     // firewall DROP
	} {
		if !strings.Contains(first, want) {
			t.Errorf("not on the first screen: %q\n%s", want, first)
		}
	}
	if strings.Contains(out, "Patterns\n") {
		t.Errorf("a pattern in the busy capture:\n%s", first)
	}
}

// The lab's port scan (200 ports of one host, refused): one folded row and
// the port_scan pattern; everything before the examples fits one screen.
func TestPortScanOneScreen(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	out, errOut, code := run(nil, filepath.Join("testdata", "volume", "port-scan.any.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	head, _, ok := strings.Cut(out, "Examples (")
	if !ok {
		t.Fatalf("no examples:\n%s", out)
	}
	if n := strings.Count(head, "\n"); n > 40 {
		t.Errorf("%d lines before the examples, want one screen (40):\n%s", n, head)
	}
	for _, want := range []string{"port_scan: 192.0.2.10 tried 200 ports of 198.51.100.10:*", "│ 198.51.100.10:* (200 ports) │ refused "} {
		if !strings.Contains(head, want) {
			t.Errorf("no %q in:\n%s", want, head)
		}
	}
	if n := strings.Count(out, "\nConnect "); n != 3 {
		t.Errorf("%d examples, want 3 (one folded group)", n)
	}
}

// --group-by and --examples reach the rollup view (busy capture: > 20
// connects).
func TestRollupFlagsReachTheView(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	capture := filepath.Join("testdata", "volume", "busy.any.pcap")
	out, errOut, code := run(nil, "--group-by", "client", "--examples", "1", capture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Rollup by client", "│ Client ", "│ 192.0.2.13 │ rejected ", "Examples (the worst 1 connect of each failing group"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	// Four failing groups, one example each.
	if n := strings.Count(out, "\nConnect "); n != 4 {
		t.Errorf("%d examples, want 4", n)
	}
	all, _, _ := run(nil, "--all", capture)
	if n := strings.Count(all, "\nConnect "); n != 4 || !strings.Contains(all, "Rollup by server") || strings.Count(all, "│ ok ") < 300 {
		t.Errorf("--all: %d failed-connect blocks, want 4, every connect's row and the rollup", n)
	}
}

// The lab's host-blocked run (max_connect_errors=3: a login, three aborted
// handshakes, 20 logins refused with 1129): host_blocked is named with the
// aborted handshakes as its evidence, and each aborted connect shown as an
// example says the server counted it.
func TestHostBlockedView(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	out, errOut, code := run(nil, filepath.Join("testdata", "volume", "host-blocked.any.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"host_blocked: 198.51.100.10:3331 blocked client 192.0.2.10 (error 1129) 20 times",
		"before the first 1129, 3 connects from 192.0.2.10 (since its last successful login) completed the TCP handshake and were closed by the client without a login",
		"(connects 2, 3, 4)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	ex := out[strings.Index(out, "Examples ("):]
	for _, block := range strings.Split(ex, "\nConnect ")[1:] {
		aborted := strings.HasPrefix(block, "2:") || strings.HasPrefix(block, "3:") || strings.HasPrefix(block, "4:")
		if got := strings.Contains(block, "Part of the host_blocked pattern of 198.51.100.10:3331 (see Patterns): this connect ended without a login"); got != aborted {
			t.Errorf("connect %s: explained as an aborted handshake: %v, want %v", block[:strings.Index(block, ":")], got, aborted)
		}
	}
}
