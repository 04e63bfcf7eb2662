package main

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/format/*.out from the current output")

// formatCaptures are real lab captures (testdata/captures, recorded by make
// testdata) whose rendering is kept in testdata/format: a fallback over two
// addresses, a late greeting, a refused connect by PHP, a server error, a
// TLS login and a failed lookup.
var formatCaptures = []string{
	"aaaa-blackhole-mariadb.any.pcap",
	"greeting-5s-mariadb.any.pcap",
	"refused-php.any.pcap",
	"host-not-allowed-mariadb.any.pcap",
	"tls-ok-mariadb.s256.any.pcap",
	"nxdomain-mariadb.any.pcap",
}

// formatFlags are the analyze flag sets each capture is rendered with,
// named as in the golden file's name: <capture>.<name>.out.
var formatFlags = []struct {
	name  string
	flags []string
}{
	{"table", nil},
	{"markdown", []string{"--format", "markdown"}},
	{"json", []string{"--format", "json"}},
	{"line", []string{"--format", "line"}},
	{"redact", []string{"--redact"}},
	{"json-redact", []string{"--format", "json", "--redact"}},
}

// TestFormatGoldens runs `connscope analyze [flags] testdata/captures/X`
// from the repository root, as a user would, and compares its exact output
// with testdata/format/X.<flags>.out. Rewrite them with
// go test ./cmd/connscope -run TestFormatGoldens -update
// and review the diff.
func TestFormatGoldens(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	for _, c := range formatCaptures {
		path := filepath.Join("testdata", "captures", c)
		if fi, err := os.Stat(path); err != nil || fi.Size() <= 24 {
			t.Fatalf("lab capture %s missing or without packets (make testdata records it): %v", path, err)
		}
		for _, f := range formatFlags {
			t.Run(c+"."+f.name, func(t *testing.T) {
				args := append([]string{}, f.flags...)
				out, errOut, code := run(nil, append(args, path)...)
				if code != 0 {
					t.Fatalf("analyze %s exited %d: %s", strings.Join(append(args, path), " "), code, errOut)
				}
				golden := filepath.Join("testdata", "format", c+"."+f.name+".out")
				if *update {
					if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (go test ./cmd/connscope -run TestFormatGoldens -update writes it)", err)
				}
				if out != string(want) {
					t.Errorf("analyze %s differs from %s:\n%s", strings.Join(append(args, path), " "), golden, lineDiff(string(want), out))
				}
			})
		}
	}
}

// lineDiff shows the first differing line of want and got, with its number.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + a + "\n  got:  " + b
		}
	}
	return "(same lines)"
}
