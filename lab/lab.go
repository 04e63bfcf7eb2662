// Package lab drives connscope's failure lab from Go tests: three network
// namespaces (client, router, server) with real MariaDB servers, dnsmasq,
// nftables drop/reject rules and a few deliberately misbehaving servers,
// reproducing the ways a MySQL/MariaDB connect fails.
//
// The lab itself is lab/lab.sh (see lab/README.md for the topology); this
// package finds it, serialises its users and runs commands inside it:
//
//	func TestSomething(t *testing.T) {
//		lab.Up(t) // skips without root or tools; tears down at the end
//		res := lab.Run(ctx, lab.NSClient, lab.MariaDB("-h", lab.Server4, "-P", "3311")...)
//		...
//	}
//
// The constants mirror lab/lab.sh (TestTopologyMatchesScript keeps them in
// step) and Scenarios lists every recorded scenario with its expected
// outcome, so end-to-end tests can replay them (e.g. under `connscope run`).
//
// Several test binaries may use the lab at once (go test runs packages in
// parallel): Up holds an exclusive flock on LockPath for as long as the test
// uses the lab, as lab/record.sh and lab/lab.sh do.
package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Namespaces and interfaces.
const (
	NSClient = "cs-client"
	NSRouter = "cs-router"
	NSServer = "cs-server"

	IfClient       = "cs-c0" // the client's veth (to the router)
	IfRouterClient = "cs-r0"
	IfRouterServer = "cs-r1"
	IfServer       = "cs-s0"
)

// Addresses. Documentation prefixes only (RFC 5737, RFC 3849); they exist
// only inside the lab's namespaces.
const (
	Client4         = "192.0.2.10" // the client's main address
	Client4PTRSlow  = "192.0.2.11" // source towards Server4PTRSlow
	Client4PTRNever = "192.0.2.12" // source towards Server4PTRNever
	Client4Unlisted = "192.0.2.13" // source towards Server4Unlisted: no account matches it
	Router4Client   = "192.0.2.1"
	Router4Server   = "198.51.100.1"
	Server4         = "198.51.100.10"
	Server4Unlisted = "198.51.100.13" // mariadbd #1 reached from Client4Unlisted (1130)
	Server4PTRSlow  = "198.51.100.20" // mariadbd #2 reached from Client4PTRSlow (PTR answered after 2 s)
	Server4PTRNever = "198.51.100.21" // mariadbd #2 reached from Client4PTRNever (PTR never answered)
	DNS4            = "198.51.100.53" // dnsmasq, the client's resolver
	SlowDNS4        = "198.51.100.54" // labsrv dns, the server's resolver
	OnLinkNoHost4   = "192.0.2.99"    // on the client's link; nobody answers ARP
	HostUnreach4    = "203.0.113.10"  // the router answers ICMP host unreachable
	NoRoute4        = "203.0.113.200" // the client has no route

	Client6       = "2001:db8:1::10"
	Router6Client = "2001:db8:1::1"
	Router6Server = "2001:db8:2::1"
	Server6       = "2001:db8:2::10"
	OnLinkNoHost6 = "2001:db8:1::99" // on the client's link; nobody answers NDP
	HostUnreach6  = "2001:db8:3::10" // the router answers ICMPv6 no route
	NoRoute6      = "2001:db8:4::10" // the client has no route
	Blackhole6    = "2001:db8:5::10" // the router silently discards
)

// Ports on Server4/Server6.
const (
	PortMySQL        = 3306 // mariadbd #1: skip-name-resolve, max_connections=10
	PortMySQLResolve = 3307 // mariadbd #2: name resolution on, host cache off
	PortMySQLTLS     = 3308 // mariadbd #3: skip-name-resolve, TLS (self-signed certificate)
	PortClosed       = 3310 // nothing listens: RST
	PortDrop         = 3311 // nft drop
	PortRejectPort   = 3312 // nft reject with icmp / icmpv6 port-unreachable
	PortRejectReset  = 3313 // nft reject with tcp reset
	PortRejectAdmin  = 3314 // nft reject with icmp / icmpv6 admin-prohibited
	PortGreet2s      = 3320 // labsrv: greets after 2 s (relays mariadbd #1)
	PortGreet5s      = 3321 // labsrv: greets after 5 s (relays mariadbd #1)
	PortNoGreeting   = 3322 // labsrv: accepts, never sends a byte
	PortSSHBanner    = 3323 // labsrv: SSH banner
	PortPG           = 5432 // PostgreSQL 15 #1: max_connections=4 (1 reserved for superusers), ssl=off
	PortPGStandby    = 5433 // PostgreSQL 15 #2: a standby with hot_standby=off (57P03)
	PortPGClosed     = 5440 // nothing listens: RST
	PortPGDrop       = 5441 // nft drop
)

// Names served by dnsmasq (and, under slow., by labsrv dns).
const (
	Domain         = "connscope.test"
	NameDual       = "dual.connscope.test"       // A Server4, AAAA Server6
	NameV4Only     = "v4only.connscope.test"     // A Server4
	NameBlackhole6 = "blackhole6.connscope.test" // A Server4, AAAA Blackhole6
	NameNXDomain   = "nxdomain.connscope.test"   // NXDOMAIN
	NameDNSLate    = "late.slow.connscope.test"  // A Server4, answered after 1.5 s
	NameDNSNever   = "never.slow.connscope.test" // never answered
)

// MariaDB accounts.
const (
	DBUser          = "lab"
	DBPassword      = "labpass"
	DBName          = "labdb"
	DBDenied        = "secret"    // exists; DBUser has no grant on it (1044)
	DBUserElsewhere = "elsewhere" // allowed only from 198.51.100.99
)

// Client names, as used in capture file names and the manifest.
const (
	ClientMariaDB = "mariadb"
	ClientPHP     = "php"
	ClientPsql    = "psql"      // PostgreSQL's psql (libpq)
	ClientPHPPg   = "pdo-pgsql" // PHP PDO pdo_pgsql (libpq): lab/client_pg.php
)

// ConnectTimeout is both clients' connect timeout.
const ConnectTimeout = 3 * time.Second

// LockPath is the lock file that serialises users of the lab.
func LockPath() string {
	if p := os.Getenv("LAB_LOCK"); p != "" {
		return p
	}
	return "/tmp/connscope-lab.lock"
}

// Dir is the lab's state directory (LAB_DIR, default /tmp/connscope-lab).
func Dir() string {
	if d := os.Getenv("LAB_DIR"); d != "" {
		return d
	}
	return "/tmp/connscope-lab"
}

// Unix socket paths.
func Socket() string        { return filepath.Join(Dir(), "m1", "mysqld.sock") }      // mariadbd #1
func SocketMissing() string { return filepath.Join(Dir(), "m1", "missing.sock") }     // never exists
func SocketDenied() string  { return filepath.Join(Dir(), "private", "mysqld.sock") } // in a 0700 root directory
func SocketStale() string   { return filepath.Join(Dir(), "stale", "mysqld.sock") }   // nobody listens
func SocketResolve() string { return filepath.Join(Dir(), "m2", "mysqld.sock") }      // mariadbd #2
func SocketTLS() string     { return filepath.Join(Dir(), "m3", "mysqld.sock") }      // mariadbd #3

// LabsrvPath is the lab's helper binary, built by lab.sh up.
// PostgreSQL #1's unix socket directory and the unix-socket scenarios'
// directories; libpq's host= names the directory, the socket in it is
// .s.PGSQL.<port>.
func PGSocketDir() string        { return filepath.Join(Dir(), "pg1") }        // PostgreSQL #1
func PGSocketDirMissing() string { return filepath.Join(Dir(), "pg-missing") } // never exists
func PGSocketDirDenied() string  { return filepath.Join(Dir(), "private") }    // a hard link to #1's socket, in a 0700 root directory
func PGSocketDirStale() string   { return filepath.Join(Dir(), "stale") }      // nobody listens

const (
	PGBin       = "/usr/lib/postgresql/15/bin"
	PGDBReject  = "secret"   // pg_hba.conf rejects every connection to it (28000)
	PGDBMissing = "nosuchdb" // does not exist (3D000)
)

func LabsrvPath() string { return filepath.Join(Dir(), "bin", "labsrv") }

// MariaDB is the mariadb CLI command line the lab uses, with args appended:
// no option files (the host's my.cnf must not change the result) and a 3 s
// connect timeout.
func MariaDB(args ...string) []string {
	return append([]string{"mariadb", "--no-defaults", "--connect-timeout=3"}, args...)
}

// PHP is the PHP mysqli client's command line (lab/client.php, relative to
// the repository root, where Run starts commands), with args appended.
func PHP(args ...string) []string {
	return append([]string{"php", "lab/client.php"}, args...)
}

// AsNobody wraps argv to run as user nobody (root bypasses file permissions).
func AsNobody(argv ...string) []string {
	return append([]string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"}, argv...)
}

// Tools the lab needs; lab/deps.sh installs them (as root).
var Tools = []string{
	"ip", "ss", "nft", "mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin",
	"php", "psql", "dnsmasq", "tcpdump", "tshark", "dumpcap", "capinfos", "setpriv", "flock", "setsid", "timeout", "sysctl",
}

// RepoRoot finds the module root (the directory holding lab/lab.sh) from
// the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		mod, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(mod, []byte("module github.com/connscope/connscope\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no connscope go.mod above %s", dir)
		}
	}
}

// Unavailable says why the lab cannot run here, or "" when it can.
func Unavailable() string {
	if runtime.GOOS != "linux" {
		return "the lab needs Linux network namespaces (GOOS=" + runtime.GOOS + ")"
	}
	if os.Geteuid() != 0 {
		return "the lab needs root (network namespaces, nft, servers); run the tests as root"
	}
	if _, err := RepoRoot(); err != nil {
		return "cannot find lab/lab.sh: " + err.Error()
	}
	addSbinToPath()
	var missing []string
	for _, tool := range Tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return "lab tools missing: " + strings.Join(missing, ", ") + " (as root, `bash lab/deps.sh` installs them)"
	}
	if err := exec.Command("php", "-r", `exit(function_exists("mysqli_init") ? 0 : 1);`).Run(); err != nil {
		return "PHP has no mysqli extension (Debian package php-mysql)"
	}
	if err := exec.Command("php", "-r", `exit(in_array("pgsql", PDO::getAvailableDrivers()) ? 0 : 1);`).Run(); err != nil {
		return "PHP has no pdo_pgsql extension (Debian package php-pgsql)"
	}
	if !fileExists(filepath.Join(PGBin, "initdb")) {
		return "lab tools missing: " + filepath.Join(PGBin, "initdb") + " (Debian package postgresql-15; as root, `bash lab/deps.sh` installs it)"
	}
	if _, err := goTool(); err != nil {
		return err.Error()
	}
	// Root in a container may still be denied namespaces.
	probe := fmt.Sprintf("cs-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return fmt.Sprintf("cannot create a network namespace (ip netns add: %v: %s)", err, bytes.TrimSpace(out))
	}
	exec.Command("ip", "netns", "del", probe).Run()
	return ""
}

// Require skips the test, saying precisely why, when the lab cannot run.
// As root, missing Debian packages fail the test instead: `make test` (and
// `bash lab/deps.sh`) installs them, so a skip there would hide a broken
// setup behind a green run.
func Require(t testing.TB) {
	t.Helper()
	why := Unavailable()
	if why == "" {
		return
	}
	if os.Geteuid() == 0 && missingPackages(why) {
		t.Fatal("lab: " + why + "; run `bash lab/deps.sh` as root (make test does)")
	}
	t.Skip("lab: " + why)
}

// missingPackages says whether Unavailable's reason is something lab/deps.sh installs.
func missingPackages(why string) bool {
	return strings.HasPrefix(why, "lab tools missing") || strings.HasPrefix(why, "PHP has no mysqli") || strings.HasPrefix(why, "PHP has no pdo_pgsql")
}

var sbinOnce sync.Once

// addSbinToPath: Debian keeps ip, nft, mariadbd in sbin, which a test
// environment's PATH may lack.
func addSbinToPath() {
	sbinOnce.Do(func() {
		path := os.Getenv("PATH")
		for _, d := range []string{"/usr/sbin", "/sbin"} {
			if !strings.Contains(":"+path+":", ":"+d+":") {
				path += ":" + d
			}
		}
		os.Setenv("PATH", path)
	})
}

// goTool is the go command lab.sh builds labsrv with.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p, nil
	}
	return "", errors.New("no go command in PATH or GOROOT (lab.sh builds lab/labsrv with it)")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Session is one user's hold on the lab: the lock, and whether this
// session brought the lab up (and so takes it down).
type Session struct {
	lock      *os.File
	broughtUp bool
}

// shared is this process's session: tests in one binary share the lab,
// counted, so the lock (which is per open file) is taken once.
var shared struct {
	sync.Mutex
	session *Session
	users   int
}

// Up brings the lab up for t (skipping t if it cannot run) and registers
// its teardown. A lab that was already up (make lab-up) is used and left up.
func Up(t testing.TB) {
	t.Helper()
	Require(t)
	shared.Lock()
	defer shared.Unlock()
	if shared.session == nil {
		t.Logf("lab: waiting for %s", LockPath())
		s, err := Acquire(context.Background(), t.Logf)
		if err != nil {
			t.Fatalf("lab: %v", err)
		}
		shared.session = s
	}
	shared.users++
	t.Cleanup(func() {
		shared.Lock()
		defer shared.Unlock()
		shared.users--
		if shared.users > 0 {
			return
		}
		s := shared.session
		shared.session = nil
		if err := s.Release(); err != nil {
			t.Errorf("lab: %v", err)
		}
	})
}

// Acquire takes the lab lock (waiting for other users) and brings the lab
// up unless it is already healthy. logf reports progress. Release undoes both.
func Acquire(ctx context.Context, logf func(format string, args ...any)) (*Session, error) {
	return acquire(ctx, logf, false)
}

// AcquireFresh is Acquire, but rebuilds the lab from scratch even when it is
// up (lab/record.sh wants no state left by earlier users), and Release
// always tears it down.
func AcquireFresh(ctx context.Context, logf func(format string, args ...any)) (*Session, error) {
	return acquire(ctx, logf, true)
}

func acquire(ctx context.Context, logf func(format string, args ...any), fresh bool) (*Session, error) {
	if why := Unavailable(); why != "" {
		return nil, errors.New(why)
	}
	f, err := os.OpenFile(LockPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := flockContext(ctx, f); err != nil {
		f.Close()
		return nil, err
	}
	s := &Session{lock: f}
	if fresh {
		if out, err := script(ctx, "down").CombinedOutput(); err != nil {
			s.Release()
			return nil, fmt.Errorf("lab.sh down: %v\n%s", err, out)
		}
	} else if err := script(ctx, "status").Run(); err == nil {
		logf("lab: already up; using it as it is")
		return s, nil
	}
	start := time.Now()
	if out, err := script(ctx, "up").CombinedOutput(); err != nil {
		s.Release()
		return nil, fmt.Errorf("lab.sh up: %v\n%s", err, out)
	}
	s.broughtUp = true
	logf("lab: up in %v", time.Since(start).Round(time.Millisecond))
	return s, nil
}

// Release tears the lab down if this session brought it up, then unlocks.
func (s *Session) Release() error {
	var err error
	if s.broughtUp {
		if out, e := script(context.Background(), "down").CombinedOutput(); e != nil {
			err = fmt.Errorf("lab.sh down: %v\n%s", e, out)
		}
		s.broughtUp = false
	}
	if s.lock != nil {
		s.lock.Close() // closing the only descriptor releases the flock
		s.lock = nil
	}
	return err
}

func flockContext(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("flock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the lab lock %s: %w", f.Name(), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// script is lab.sh with the lock marked as held (we hold it).
func script(ctx context.Context, args ...string) *exec.Cmd {
	root, _ := RepoRoot()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(root, "lab", "lab.sh")}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CONNSCOPE_LAB_LOCK_HELD=1")
	if g, err := goTool(); err == nil {
		cmd.Env = append(cmd.Env, "GO="+g)
	}
	return cmd
}

// ScriptEnv is lab.sh's topology as KEY=VALUE pairs (lab.sh env).
func ScriptEnv() (map[string]string, error) {
	out, err := script(context.Background(), "env").Output()
	if err != nil {
		return nil, fmt.Errorf("lab.sh env: %w", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}

// Result is what a command run in the lab did.
type Result struct {
	Argv     []string
	Stdout   string
	Stderr   string
	ExitCode int // -1 when it did not run or was killed by a signal
	Elapsed  time.Duration
	Err      error // set when the command could not be started, or ctx ended it
}

// Output is the command's stderr, or its stdout when stderr is empty, trimmed.
func (r Result) Output() string {
	if s := strings.TrimSpace(r.Stderr); s != "" {
		return s
	}
	return strings.TrimSpace(r.Stdout)
}

// Run runs argv inside namespace ns (ip netns exec), from the repository
// root, and reports its output, exit code and elapsed time. When ctx ends
// first the command gets SIGTERM (then SIGKILL after 2 s).
func Run(ctx context.Context, ns string, argv ...string) Result {
	res := Result{Argv: argv, ExitCode: -1}
	root, err := RepoRoot()
	if err != nil {
		res.Err = err
		return res
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Dir = root
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	res.Elapsed = time.Since(start)
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	var exit *exec.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
		if ctx.Err() != nil {
			res.Err = fmt.Errorf("ended by the harness after %v: %w", res.Elapsed.Round(time.Millisecond), ctx.Err())
		}
	default:
		res.Err = err
	}
	return res
}
