package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("old report"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		wantErr    string
	}{
		{"new file", filepath.Join(dir, "new"), ""},
		{"existing 0644 file", existing, ""},
		{"symlink to a file", link, "is a symbolic link: refusing"},
		{"dangling symlink", dangling, "is a symbolic link: refusing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := CreateFile(tc.path)
			if tc.wantErr != "" {
				if err == nil {
					f.Close()
					t.Fatalf("CreateFile(%s) succeeded, want an error", tc.path)
				}
				if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.path) {
					t.Errorf("error %q does not say %q about %s", err, tc.wantErr, tc.path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("report")
			f.Close()
			st, err := os.Lstat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != 0o600 {
				t.Errorf("mode %v, want -rw-------", st.Mode())
			}
			if b, _ := os.ReadFile(tc.path); string(b) != "report" {
				t.Errorf("content %q, want the new report only", b)
			}
		})
	}
	// Nothing was written through the links.
	if b, _ := os.ReadFile(target); string(b) != "keep me" {
		t.Errorf("the symlink's target was changed: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); !os.IsNotExist(err) {
		t.Errorf("the dangling symlink's target was created")
	}
	// A device is written to, not chmodded.
	f, err := CreateFile(os.DevNull)
	if err != nil {
		t.Fatalf("CreateFile(%s): %v", os.DevNull, err)
	}
	f.Close()
	if st, _ := os.Stat(os.DevNull); st.Mode().Perm() != 0o666 {
		t.Errorf("%s mode is now %v", os.DevNull, st.Mode())
	}
}
