package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connscope/connscope/lab"
)

// TestBuildVersionAndStatic builds the binary the documented way (make
// build) and checks that `connscope --version` names the commit it was
// built from and that the binary is statically linked (no ELF
// interpreter), as the README says.
func TestBuildVersionAndStatic(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: this test builds with the Makefile")
	}
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git work tree, no commit to compare with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "connscope")
	cmd := exec.Command("make", "-s", "-C", root, "build", "BIN="+bin)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1") // the Makefile must force 0 itself
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("connscope --version: %v", err)
	}
	want := "commit " + strings.TrimSpace(string(head))
	if lines := strings.Split(string(out), "\n"); len(lines) < 2 || !strings.HasPrefix(lines[1], want) {
		t.Errorf("connscope --version printed\n%s\nwant a second line starting with %q", out, want)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: it is dynamically linked, not static", bin)
		}
	}
}

// TestNoBuildOutputsCommitted checks that no executable is tracked in the
// repository (the eBPF objects are relocatable ELF files, not executables)
// and that the outputs of `go build ./cmd/connscope` and `make build` are
// ignored.
func TestNoBuildOutputsCommitted(t *testing.T) {
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git work tree: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		f, err := elf.Open(filepath.Join(root, name))
		if err != nil {
			continue // not ELF (or not checked out)
		}
		if f.Type == elf.ET_EXEC || f.Type == elf.ET_DYN {
			t.Errorf("%s is a committed executable (%v): remove it with git rm", name, f.Type)
		}
		f.Close()
	}
	for _, out := range []string{"connscope", "bin/connscope"} {
		if err := exec.Command("git", "-C", root, "check-ignore", "-q", "--no-index", out).Run(); err != nil {
			t.Errorf("%s (a build output) is not ignored by .gitignore", out)
		}
	}
}
