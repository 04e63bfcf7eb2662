package live

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The -w and -o files are created owner-only and never through a symlink.
func TestOutputFilesPrivateAndNoSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o644)
	open := map[string]func(string) error{
		"-w": func(p string) error {
			pw, err := openRecording(p, []string{"connscope", "trace"})
			if err == nil {
				pw.Close()
			}
			return err
		},
		"-o": func(p string) error {
			_, closeOut, err := openOutput(p, nil)
			if err == nil {
				closeOut()
			}
			return err
		},
	}
	for flag, fn := range open {
		file := filepath.Join(dir, "out"+flag)
		if err := fn(file); err != nil {
			t.Fatalf("%s %s: %v", flag, file, err)
		}
		if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s %s: mode %v (%v), want 0600", flag, file, st.Mode(), err)
		}
		link := filepath.Join(dir, "link"+flag)
		os.Symlink(target, link)
		err := fn(link)
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("%s through a symlink: error %v, want a refusal naming the symlink", flag, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("a symlink's target was written: %q", b)
	}
}
