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
