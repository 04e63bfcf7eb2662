package probe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (path relative to dir → content; "@DIR@" in a
// content is replaced by dir) and returns dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(content, "@DIR@", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadOptionFiles(t *testing.T) {
	// Debian's layout: my.cnf includes two directories; a later file
	// overrides an earlier one; sections, quoting and comments.
	dir := writeTree(t, map[string]string{
		"my.cnf": `# The MariaDB configuration file
[client-server]
socket = /run/mysqld/mysqld.sock
# Import all .cnf files from configuration directory
!includedir @DIR@/conf.d/
!includedir @DIR@/mariadb.conf.d/
`,
		"conf.d/mysql.cnf":                  "[mysql]\n",
		"conf.d/README":                     "[mysqld]\nsocket=/not/read/no-cnf-suffix\n",
		"mariadb.conf.d/50-server.cnf":      "[mysqld]\nbind-address            = 127.0.0.1\nskip-networking\nport=3306 # the default\n",
		"mariadb.conf.d/60-override.cnf":    "[mariadbd]\nsocket = \"/var/run/my sql/mysqld.sock\" # quoted, with a space\n\n[client]\nsocket='/tmp/a#b.sock'\nuser=app\n",
		"mariadb.conf.d/70-escape.cnf":      "[client-mariadb]\nsocket = /tmp/x\\sy.sock\n!include @DIR@/extra.cnf\n",
		"extra.cnf":                         "[CLIENT]\nSocket = /tmp/extra.sock\n!include @DIR@/my.cnf\n",
		"mariadb.conf.d/80-bad.cnf":         "orphan=1\n[mysqld\n[mysqld]\nsocket = \"unterminated\n",
		"mariadb.conf.d/90-missing-inc.cnf": "!include @DIR@/nope.cnf\n!includedir\n",
	})
	of := ReadOptionFiles(filepath.Join(dir, "no-such.cnf"), filepath.Join(dir, "my.cnf"))

	var sockets []string
	for _, o := range of.All("socket", "client", "client-server", "client-mariadb", "mysqld", "mariadbd") {
		sockets = append(sockets, "["+o.Group+"] "+o.Value)
	}
	want := []string{
		"[client-server] /run/mysqld/mysqld.sock",
		"[mariadbd] /var/run/my sql/mysqld.sock",
		"[client] /tmp/a#b.sock",
		"[client-mariadb] /tmp/x y.sock",
		"[client] /tmp/extra.sock",
		"[mysqld] unterminated",
	}
	if strings.Join(sockets, "\n") != strings.Join(want, "\n") {
		t.Errorf("socket settings:\n%s\nwant:\n%s", strings.Join(sockets, "\n"), strings.Join(want, "\n"))
	}
	if o, ok := of.Get("bind_address", "mysqld"); !ok || o.Value != "127.0.0.1" || !strings.HasSuffix(o.File, "50-server.cnf") || o.Line != 2 {
		t.Errorf("bind-address: %+v %v", o, ok)
	}
	if o, ok := of.Get("port", "mysqld"); !ok || o.Value != "3306" {
		t.Errorf("port with a trailing comment: %+v", o)
	}
	if o, ok := of.Get("skip-networking", "mysqld"); !ok || !o.Bare {
		t.Errorf("skip-networking (bare): %+v %v", o, ok)
	}
	if len(of.Missing) != 1 || !strings.HasSuffix(of.Missing[0], "no-such.cnf") {
		t.Errorf("missing: %q", of.Missing)
	}
	probs := strings.Join(of.Problems, "\n")
	for _, p := range []string{"include loop", "outside any [section]", "section header without ]", "no closing quote", "nope.cnf", "includedir without a path"} {
		if !strings.Contains(probs, p) {
			t.Errorf("problems lack %q:\n%s", p, probs)
		}
	}
	for _, f := range of.Read {
		if strings.HasSuffix(f, "README") {
			t.Errorf("!includedir read a file without .cnf: %s", f)
		}
	}
	// Reading order: my.cnf, conf.d/*, mariadb.conf.d/* by name, extra.cnf where included.
	var names []string
	for _, f := range of.Read {
		names = append(names, strings.TrimPrefix(f, dir+"/"))
	}
	wantOrder := "my.cnf conf.d/mysql.cnf mariadb.conf.d/50-server.cnf mariadb.conf.d/60-override.cnf mariadb.conf.d/70-escape.cnf extra.cnf mariadb.conf.d/80-bad.cnf mariadb.conf.d/90-missing-inc.cnf"
	if strings.Join(names, " ") != wantOrder {
		t.Errorf("read order:\n%s\nwant:\n%s", strings.Join(names, " "), wantOrder)
	}
}

func TestUnquoteOptValue(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"with # comment", "with", ""},
		{`"a # b"`, "a # b", ""},
		{`'it''s'`, "it", "after the closing quote"},
		{`"tab\there"`, "tab\there", ""},
		{`C:\path`, `C:\path`, ""},
		{`"x" # c`, "x", ""},
		{`"open`, "open", "no closing quote"},
		{"", "", ""},
	}
	for _, tc := range tests {
		got, err := unquoteOptValue(tc.in)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("unquoteOptValue(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}
