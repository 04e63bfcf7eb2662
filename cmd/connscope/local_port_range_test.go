package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLocalPortRange(t *testing.T) {
	tests := []struct {
		in   string
		want [2]int
		ok   bool
	}{
		{"", [2]int{}, true},
		{"40000-40023", [2]int{40000, 40023}, true},
		{"32768\t60999", [2]int{32768, 60999}, true}, // as sysctl -n prints it
		{"40000 40000", [2]int{40000, 40000}, true},
		{"40023-40000", [2]int{}, false},
		{"0-100", [2]int{}, false},
		{"1-65536", [2]int{}, false},
		{"40000", [2]int{}, false},
		{"a-b", [2]int{}, false},
		{"1-2-3", [2]int{}, false},
	}
	for _, tc := range tests {
		got, err := parseLocalPortRange(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseLocalPortRange(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// The lab's ephemeral-ports capture (the client namespace's range was
// 40000-40023): ephemeral_ports is named when the range is given, and
// not against Linux's default range; a bad range is a usage error.
func TestLocalPortRangeFlag(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	capture := filepath.Join("testdata", "volume", "ephemeral-ports.any.pcap")
	out, errOut, code := run(nil, "--local-port-range", "40000-40023", capture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "ephemeral_ports: 192.0.2.10 made ") || !strings.Contains(out, "for a local port range of 40000-40023 (24 ports)") {
		t.Errorf("no ephemeral_ports against 40000-40023:\n%s", out)
	}
	out, errOut, code = run(nil, capture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "ephemeral_ports") {
		t.Errorf("ephemeral_ports against the default range:\n%s", out)
	}
	_, errOut, code = run(nil, "--local-port-range", "40023-40000", capture)
	if code != 2 || !strings.Contains(errOut, "--local-port-range") {
		t.Errorf("exit %d, %q; want 2 and the flag named", code, errOut)
	}
}
