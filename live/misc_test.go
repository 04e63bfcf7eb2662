package live

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"golang.org/x/sys/unix"
)

func TestMaskSecrets(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"mariadb", "-h", "db", "-u", "lab", "-plabpass", "-P", "3306"}, []string{"mariadb", "-h", "db", "-u", "lab", "-p***", "-P", "3306"}},
		{[]string{"mariadb", "-p", "-u", "x"}, []string{"mariadb", "-p", "-u", "x"}},
		{[]string{"php", "check.php", "--password", "s3cret", "--user", "u"}, []string{"php", "check.php", "--password", "***", "--user", "u"}},
		{[]string{"mysqladmin", "--password=s3cret", "ping"}, []string{"mysqladmin", "--password=***", "ping"}},
		{[]string{"tool", "--pass=x", "--passwd", "y"}, []string{"tool", "--pass=***", "--passwd", "***"}},
		{[]string{"app", "mysql://app:hunter2@db:3306/x"}, []string{"app", "mysql://app:***@db:3306/x"}},
		{[]string{"ls", "--", "-plain"}, []string{"ls", "--", "-p***"}},
		{[]string{"psql", "host=db user=u password=s3cret dbname=x"}, []string{"psql", "host=db user=u password=*** dbname=x"}},
		{[]string{"psql", "host=db password='s 3' dbname=x"}, []string{"psql", "host=db password=*** dbname=x"}},
		{[]string{"env", "MYSQL_PWD=s3cret", "PGPASSWORD=x", "mysql"}, []string{"env", "MYSQL_PWD=***", "PGPASSWORD=***", "mysql"}},
		{[]string{"php", "-r", `new PDO("mysql:host=db;dbname=x;pwd=s3cret");`}, []string{"php", "-r", `new PDO("mysql:host=db;dbname=x;pwd=***");`}},
		{[]string{"mysql", "-e", "CREATE USER 'a'@'%' IDENTIFIED BY 's3cret'; GRANT ALL ON x.* TO 'a'@'%'"},
			[]string{"mysql", "-e", "CREATE USER 'a'@'%' IDENTIFIED BY '***'; GRANT ALL ON x.* TO 'a'@'%'"}},
		{[]string{"mysql", "-e", "ALTER USER a IDENTIFIED WITH mysql_native_password BY \"s3cret\""},
			[]string{"mysql", "-e", "ALTER USER a IDENTIFIED WITH mysql_native_password BY \"***\""}},
		{[]string{"mysql", "-e", "SET PASSWORD FOR 'a'@'%' = PASSWORD('s3cret')"}, []string{"mysql", "-e", "SET PASSWORD FOR 'a'@'%' = PASSWORD('***')"}},
		{[]string{"mysql", "-e", "set password = 's3cret'"}, []string{"mysql", "-e", "set password = '***'"}},
		{[]string{"psql", "-c", "ALTER ROLE a WITH ENCRYPTED PASSWORD 's3cret'"}, []string{"psql", "-c", "ALTER ROLE a WITH ENCRYPTED PASSWORD '***'"}},
		{[]string{"mysql", "-e", "select user, password_expired from mysql.user"}, []string{"mysql", "-e", "select user, password_expired from mysql.user"}},
		// PostgreSQL (the lab's psql runs): env(1) assignments, libpq conninfo.
		{[]string{"env", "PGPASSWORD=labpass", "psql", "-c", "SELECT 1", "host=h user=lab"},
			[]string{"env", "PGPASSWORD=***", "psql", "-c", "SELECT 1", "host=h user=lab"}},
		{[]string{"env", "MYSQL_PWD=x", "mariadb"}, []string{"env", "MYSQL_PWD=***", "mariadb"}},
		{[]string{"psql", "host=h password=s3cret dbname=d"}, []string{"psql", "host=h password=*** dbname=d"}},
		{[]string{"psql", "host=h password = 'se cr\\'et' dbname=d"}, []string{"psql", "host=h password = '***' dbname=d"}},
		{[]string{"php", "-r", "new PDO('pgsql:host=h;password=s3cret;dbname=d')"}, []string{"php", "-r", "new PDO('pgsql:host=h;password=***;dbname=d')"}},
		{[]string{"psql", "-c", "SELECT 'no_password=1'"}, []string{"psql", "-c", "SELECT 'no_password=1'"}},
	}
	for _, tc := range tests {
		if got := MaskSecrets(tc.in); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("MaskSecrets(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	cmdline := []string{"connscope", "run", "-w", "x.pcapng", "--", "mariadb", "-psecret"}
	if got := strings.Join(maskCommandLine(cmdline), " "); got != "connscope run -w x.pcapng -- mariadb -p***" {
		t.Errorf("maskCommandLine = %q", got)
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"mariadb", "-e", "SELECT 'a'", "", "--x=1,2", "a b"})
	want := `mariadb -e 'SELECT '\''a'\''' '' --x=1,2 'a b'`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
	// A shell splits it back into the same words.
	out, err := exec.Command("sh", "-c", "for a in "+got+"; do printf '[%s]' \"$a\"; done").Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "[mariadb][-e][SELECT 'a'][][--x=1,2][a b]" {
		t.Errorf("sh splits it into %s", out)
	}
}

func TestSectionComment(t *testing.T) {
	c := SectionComment([]string{"connscope", "run", "-w", "f.pcapng", "--", "mariadb", "-pX"}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var u unix.Utsname
	unix.Uname(&u)
	for _, want := range []string{"command: connscope run -w f.pcapng -- mariadb '-p***'", "kernel: Linux " + unix.ByteSliceToString(u.Release[:]), "started: 2026-01-02T03:04:05Z"} {
		if !strings.Contains(c, want) {
			t.Errorf("section comment %q lacks %q", c, want)
		}
	}
}

func TestSpool(t *testing.T) {
	for _, size := range []int{0, 1000, spoolMemory + 12345} {
		var s spool
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 70000)
			if _, err := s.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if spilled := s.file != nil; spilled != (size > spoolMemory) {
			t.Errorf("%d bytes: spilled to a file = %v", size, spilled)
		}
		var out bytes.Buffer
		if err := s.copyTo(&out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Errorf("%d bytes: got %d bytes back, different", size, out.Len())
		}
	}
}

func TestWantedConnect(t *testing.T) {
	withPID := &analyze.Connect{PID: 42, Comm: "mariadb"}
	attemptPID := &analyze.Connect{Attempts: []*analyze.Attempt{{PID: 43, Comm: "php"}}}
	none := &analyze.Connect{Attempts: []*analyze.Attempt{{}}}
	tests := []struct {
		name      string
		c         *analyze.Connect
		comms     []string
		pidFilter bool
		want      bool
	}{
		{"no filter", none, nil, false, true},
		{"pid filter keeps the traced process", withPID, nil, true, true},
		{"pid filter keeps a pid on an attempt", attemptPID, nil, true, true},
		{"pid filter drops other processes' packets", none, nil, true, false},
		{"comm matches the connect", withPID, []string{"php", "mariadb"}, false, true},
		{"comm matches an attempt", attemptPID, []string{"php"}, false, true},
		{"comm does not match", withPID, []string{"php"}, false, false},
		{"comm without process", none, []string{"php"}, false, false},
	}
	for _, tc := range tests {
		if got := wantedConnect(tc.c, tc.comms, tc.pidFilter); got != tc.want {
			t.Errorf("%s: wanted = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestInNetns(t *testing.T) {
	err := inNetns("connscope-no-such-namespace", func() error { t.Fatal("ran outside the namespace"); return nil })
	if err == nil || !strings.Contains(err.Error(), "/run/netns/connscope-no-such-namespace does not exist") {
		t.Errorf("missing namespace: %v", err)
	}
	err = inNetns("/proc/self/ns/uts", func() error { t.Fatal("ran in a namespace of the wrong kind"); return nil })
	if err == nil {
		t.Errorf("a UTS namespace was accepted as a network namespace")
	}
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	name := "cs-live-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	var want, inside, outside unix.Stat_t
	if err := unix.Stat("/run/netns/"+name, &want); err != nil {
		t.Fatal(err)
	}
	var fd int
	err = inNetns(name, func() error {
		if err := unix.Stat("/proc/thread-self/ns/net", &inside); err != nil {
			return err
		}
		// A socket made here stays in the namespace.
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if inside.Ino != want.Ino {
		t.Errorf("fn ran in namespace inode %d, want %d", inside.Ino, want.Ino)
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &outside); err != nil {
		t.Fatal(err)
	}
	if outside.Ino == want.Ino {
		t.Errorf("the caller's thread was left in the namespace")
	}
	// The socket belongs to the namespace (SIOCGSKNS opens it).
	nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS)
	if err != nil {
		t.Fatalf("SIOCGSKNS: %v", err)
	}
	defer unix.Close(nsfd)
	var sockNS unix.Stat_t
	if err := unix.Fstat(nsfd, &sockNS); err != nil {
		t.Fatal(err)
	}
	if sockNS.Ino != want.Ino {
		t.Errorf("the socket is in namespace inode %d, want %d", sockNS.Ino, want.Ino)
	}
}
