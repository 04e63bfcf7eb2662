package report

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedactCommandLine(t *testing.T) {
	tests := []struct {
		name  string
		learn func(r *Redactor) // what the rest of the report taught the redactor
		argv  []string
		want  string
	}{
		{"the issue's mariadb command", nil,
			[]string{"mariadb", "-h", "127.0.0.1", "-P", "23306", "-u", "sreuser", "-p***", "-N", "-e", "SELECT USER()"},
			"mariadb -h ip4-1 -P 23306 -u user-1 '-p***' -N -e 'SELECT USER()'"},
		{"attached short options", nil,
			[]string{"mysql", "-hdb01.prod.example", "-ualice", "-Dshop", "-P3306"},
			"mysql -hname-1.example -uuser-1 -Ddb-1 -P3306"},
		{"long options with = and with a separate value", nil,
			[]string{"/usr/bin/mysql", "--host=db01", "--user", "alice", "--database=shop", "--socket", "/run/mysqld/mysqld.sock"},
			"/usr/bin/mysql --host=name-1.example --user user-1 --database=db-1 --socket /run/mysqld/mysqld.sock"},
		{"mysql positional database; -p alone prompts", nil,
			[]string{"mysql", "-u", "alice", "-p", "-S", "/tmp/my.sock", "shop"},
			"mysql -u user-1 -p -S /tmp/my.sock db-1"},
		{"bundled short options, value attached to the last", nil,
			[]string{"mariadb", "-NBe", "select 1", "-h", "localhost", "shop"},
			"mariadb -NBe 'select 1' -h localhost db-1"},
		{"psql options", nil,
			[]string{"psql", "-h", "pg.example", "-U", "alice", "-d", "shop", "-p", "5432", "-c", "select 1"},
			"psql -h name-1.example -U user-1 -d db-1 -p 5432 -c 'select 1'"},
		{"psql --password takes no value", nil,
			[]string{"psql", "--password", "-h", "pg.example", "shop"},
			"psql --password -h name-1.example db-1"},
		{"psql positional database and user, host list", nil,
			[]string{"psql", "-h", "pg1.example,10.0.0.9", "shop", "alice"},
			"psql -h name-1.example,ip4-1 db-1 user-1"},
		{"connection URI, password masked again", nil,
			[]string{"psql", "postgresql://alice:secret@pg.example:5433/shop?sslmode=require&user=bob"},
			"psql 'postgresql://user-1:***@name-1.example:5433/db-1?sslmode=require&user=user-2'"},
		{"conninfo string", nil,
			[]string{"psql", "host=pg.example port=5432 user=alice dbname=shop password=secret"},
			"psql 'host=name-1.example port=5432 user=user-1 dbname=db-1 password=***'"},
		{"URL in any argument, IPv6 host", nil,
			[]string{"curl", "-s", "http://alice:***@[2001:db8::7]:8080/health"},
			"curl -s 'http://user-1:***@[ip6-1]:8080/health'"},
		{"php code: host-name literals, PDO DSN, a user the report knows", func(r *Redactor) { r.learnUser("alice") },
			[]string{"php", "-r", `$c = mysqli_connect("db01.example", "alice", "***"); $p = new PDO("mysql:host=10.1.2.3;dbname=shop"); require "x.php";`},
			`php -r '$c = mysqli_connect("name-1.example", "user-1", "***"); $p = new PDO("mysql:host=ip4-1;dbname=db-1"); require "x.php";'`},
		{"a script: sh -c parsed as words, the rest left as written", nil,
			[]string{"sh", "-c", "mysql -h db01 -u alice shop  ; echo \"done $?\""},
			`sh -c 'mysql -h name-1.example -u user-1 db-1  ; echo "done $?"'`},
		{"a wrapper before the client", nil,
			[]string{"ip", "netns", "exec", "blue", "mariadb", "-h", "2001:db8::1", "-u", "lab"},
			"ip netns exec blue mariadb -h ip6-1 -u user-1"},
		{"the lab's php client (generic long options)", nil,
			[]string{"php", "lab/client.php", "--host", "198.51.100.10", "--port", "3306", "--user", "lab", "--password", "***"},
			"php lab/client.php --host ip4-1 --port 3306 --user user-1 --password '***'"},
		{"a name learned after its first mention is replaced there too", nil,
			[]string{"mariadb", "-e", "select * from t where h = db02.corp", "-h", "db02.corp"},
			"mariadb -e 'select * from t where h = name-1.example' -h name-1.example"},
		{"a name the report knows, inside free text", func(r *Redactor) { r.learnName("db9.internal") },
			[]string{"nc", "db9.internal", "3306"},
			"nc name-1.example 3306"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRedactor()
			if tc.learn != nil {
				tc.learn(r)
			}
			if got := QuoteArgs(r.CommandLine(tc.argv)); got != tc.want {
				t.Errorf("CommandLine(%q)\n got %s\nwant %s", tc.argv, got, tc.want)
			}
		})
	}
}

// The command line, the connects and the summary of one report share
// pseudonyms, in every format, and no raw value is printed.
func TestRedactedCommandSourceEveryFormat(t *testing.T) {
	argv := []string{"mariadb", "-h", "db.example", "-u", "app", "-p***", "shop"}
	raw := []string{"db.example", "'app'", "\"app\"", "shop", "198.51.100.7", "192.0.2.53"}
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out, Options{Format: f, Redact: true})
			if err := w.SetCommand(argv); err != nil {
				t.Fatal(err)
			}
			cs := fixtureConnects()
			for _, c := range cs {
				w.Connect(c)
			}
			if err := w.Summary(fixtureSummary(cs)); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			wantSource := map[Format]string{
				Table:    "Source: mariadb -h name-1.example -u user-1 '-p***' db-1\n",
				Markdown: "## mariadb -h name-1.example -u user-1 '-p\\*\\*\\*' db-1\n",
				JSON:     `"source":"mariadb -h name-1.example -u user-1 '-p***' db-1"`,
			}[f]
			if f == Markdown {
				wantSource = "## mariadb -h name-1.example -u user-1 '-p***' db-1\n"
			}
			if !strings.Contains(s, wantSource) {
				t.Errorf("no %q in:\n%s", wantSource, s)
			}
			for _, v := range raw {
				if strings.Contains(s, v) {
					t.Errorf("%q printed under --redact:\n%s", v, s)
				}
			}
			// The connect to db.example as user app is name-1.example / user-1 too.
			if !strings.Contains(s, "name-1.example") || !strings.Contains(s, "user-1") {
				t.Errorf("connects do not share the command line's pseudonyms:\n%s", s)
			}
		})
	}
}

func TestRedactedFileNames(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, Options{Format: Table, Redact: true})
	path := "/srv/captures/db01.prod.corp.example.com-10.1.2.3.pcap"
	w.SetSource(path)
	cs := fixtureConnects()
	w.Connect(cs[0])
	w.SetSource("stdin")
	w.Connect(cs[1])
	w.SetSource("other.pcapng")
	sum := fixtureSummary(cs[:2])
	sum.Errors = []string{path + ": truncated record at packet 3", "db01.prod.corp.example.com-10.1.2.3.pcap again"}
	w.Summary(sum)
	s := out.String()
	for _, want := range []string{"Source: capture-1\n", "Source: stdin\n", "capture-1: truncated record at packet 3", "capture-1 again"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in:\n%s", want, s)
		}
	}
	for _, bad := range []string{"db01", "10.1.2.3", "/srv/captures", "other.pcapng"} {
		if strings.Contains(s, bad) {
			t.Errorf("%q printed under --redact:\n%s", bad, s)
		}
	}
	if got := w.RedactText("cannot read other.pcapng"); got != "cannot read capture-2" {
		t.Errorf("RedactText: %q, want the second file's pseudonym", got)
	}
}

// FuzzRedactCommandLine: any command line redacts without a panic, word for
// word, and a host given to -h never survives.
func FuzzRedactCommandLine(f *testing.F) {
	f.Add("mariadb\x00-h\x00db01.example\x00-u\x00alice\x00shop", "db01.example")
	f.Add("sh\x00-c\x00mysql -h 'db01' -u \"al ice\" shop; echo \\", "db01")
	f.Add("psql\x00postgresql://a:b@[::1]:5/db?user=x&password=y\x00host='a b' dbname=", "h.example")
	f.Add("php\x00-r\x00new PDO(\"mysql:host=h;dbname=d\", 'u', \"p\")", "h")
	f.Fuzz(func(t *testing.T, line, host string) {
		argv := strings.Split(line, "\x00")
		r := NewRedactor()
		out := r.CommandLine(argv)
		if len(out) != len(argv) {
			t.Fatalf("%d words in, %d out", len(argv), len(out))
		}
		if normalizeName(host) == "" || host == "localhost" || strings.ContainsAny(host, " \t\n'\"\\,:[]%/") || strings.HasPrefix(host, "-") {
			return
		}
		out = NewRedactor().CommandLine([]string{"mysql", "-h", host})
		if out[2] == host {
			t.Errorf("-h %q kept", host)
		}
	})
}
