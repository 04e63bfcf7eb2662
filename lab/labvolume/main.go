// Command labvolume records the lab's volume scenarios (issue 11: many
// connects, one incident) into testdata/volume/ with manifest.json: real
// mariadb clients in the lab's cs-client namespace, many at once or in a
// loop, against real servers in cs-server, captured with tcpdump -i any in
// cs-client. The truth in the manifest (attempts, SYNs per attempt, RTT,
// connect time and greeting delay of each) is computed from the capture by
// tshark, never by connscope; the patterns each scenario must show are the
// lab's design.
//
//	go run ./lab/labvolume record [-out testdata/volume] [-only REGEXP]
//	go run ./lab/labvolume truth [-out testdata/volume]
//	labvolume slowaccept -listen ADDR -backlog N -every D -upstream PATH
//
// truth computes the manifest's truth again from the recorded captures
// (after a change to what the truth holds), without the lab; the attempts
// must stay what they were.
//
// slowaccept is the scenarios' server that accepts slowly: a listen(2)
// backlog of N and one accept(2) every D, each accepted connection relayed
// to mariadbd #1's unix socket (so the client sees a real greeting and
// login, late). record starts it inside cs-server by running itself.
//
// Needs root (namespaces, nft, tcpdump); takes the lab's lock like every
// lab user, and brings the lab up when it is not (leaving it as it found it).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/connscope/connscope/lab"
)

// Ports of the volume scenarios on lab.Server4 (free in the lab).
const (
	portSlowAccept        = 3330
	portHostBlocked       = 3331 // an extra mariadbd with max_connect_errors=3
	portSlowAcceptAbort   = 3332
	portSlowAcceptCookies = 3333
)

// ephemeralRange is the client namespace's ip_local_port_range during the
// ephemeral-ports scenario: 24 ports (more than 20 connects on the wire:
// the rollup view).
const ephemeralRange = "40000 40023"

type scenario struct {
	Name        string
	Description string
	Port        int
	// PortLast, when set, makes the scenario's ports Port..PortLast (a scan).
	PortLast int
	// Patterns are the pattern ids the scenario must show (its design).
	Patterns []string
	// Attempts is how many TCP attempts to the server the clients make
	// (one each with an address literal): more in the capture means
	// another lab user's connects got in, and the run is refused.
	Attempts int
	// Concurrent clients start at once; Sequential ones one after another.
	Concurrent, Sequential int
	Argv                   []string
	// Commands, when set, are run in order by Workers at a time (instead
	// of Argv).
	Commands func() [][]string
	Workers  int
	// Pause is the time between Sequential clients.
	Pause time.Duration
	// PortRange is the client namespace's ip_local_port_range while the
	// scenario runs, when the scenario sets it ("first last").
	PortRange string
	// AttemptsFrom, when set, is Attempts from the clients' results (when
	// it depends on a race).
	AttemptsFrom func([]lab.Result) int
	// Aborts: some clients exit 0 without logging in (aborted handshakes),
	// so exit code 0 is not a login.
	Aborts bool
	setup  func(ctx context.Context, self string) (teardown func(), err error)
}

var scenarios = []scenario{
	{
		Name: "too-many-connections",
		Description: "25 mariadb clients at once against mariadbd #1 (max_connections=10), each holding its session with SELECT SLEEP(2): " +
			"the first ones get in, the rest get error 1040 (at the greeting, or after the login when only the SUPER slot is left).",
		Port: lab.PortMySQL, Patterns: []string{"too_many_connections"}, Concurrent: 25, Attempts: 25,
		Argv:  lab.MariaDB("-h", lab.Server4, "-P", strconv.Itoa(lab.PortMySQL), "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT SLEEP(2)"),
		setup: func(context.Context, string) (func(), error) { return func() {}, nil },
	},
	{
		Name: "port-scan",
		Description: "bash's /dev/tcp connects to 200 ports of 198.51.100.10 (4000-4199, where nothing listens) one after another, " +
			"like a scanner: every one refused.",
		Port: 4000, PortLast: 4199, Patterns: []string{"port_scan"}, Attempts: 200,
		Commands: func() [][]string {
			return [][]string{{"bash", "-c", fmt.Sprintf("for p in $(seq 4000 4199); do (echo > /dev/tcp/%s/$p) 2>/dev/null; done; true", lab.Server4)}}
		},
		Workers: 1,
		setup:   func(context.Context, string) (func(), error) { return func() {}, nil },
	},
	{
		Name:        "retry-storm",
		Description: "A client retrying without backoff: 30 mariadb connects to port 3310, where nothing listens (refused), one every 100 ms after the previous failed.",
		Port:        lab.PortClosed, Patterns: []string{"retry_storm"}, Sequential: 30, Attempts: 30, Pause: 100 * time.Millisecond,
		Argv:  lab.MariaDB("-h", lab.Server4, "-P", strconv.Itoa(lab.PortClosed), "-u", lab.DBUser, "-p"+lab.DBPassword, "-e", "SELECT 1"),
		setup: func(context.Context, string) (func(), error) { return func() {}, nil },
	},
	{
		Name: "busy",
		Description: "320 short successful logins to mariadbd #1 by four programs (mariadb, PHP mysqli, Python PyMySQL, mariadb-admin ping), four at a time, " +
			"a 1 MB query result streaming on one connection, and four different failures among them: refused, 1045, 1130 and a firewall DROP.",
		Port: lab.PortMySQL, Patterns: []string{}, Commands: busyCommands, Workers: 4, Attempts: 322,
		setup: func(context.Context, string) (func(), error) { return func() {}, nil },
	},
	{
		Name: "slow-accept",
		Description: "30 mariadb clients at once (connect timeout 5 s) against a server with listen backlog 1 that accepts one connection every 0.5 s " +
			"and relays it to mariadbd #1: the accept queue overflows, SYNs are dropped and retransmitted, greetings come one by one.",
		Port: portSlowAccept, Patterns: []string{"accept_backlog"}, Concurrent: 30, Attempts: 30,
		Argv: lab.MariaDB("--connect-timeout=5", "-h", lab.Server4, "-P", strconv.Itoa(portSlowAccept), "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1"),
		setup: func(ctx context.Context, self string) (func(), error) {
			return startServer(ctx, lab.NSServer, "accepting", self, "slowaccept", "-listen", net.JoinHostPort(lab.Server4, strconv.Itoa(portSlowAccept)),
				"-backlog", "1", "-every", "500ms", "-upstream", lab.Socket())
		},
	},
	{
		Name: "syn-loss",
		Description: "40 sequential mariadb logins (connect timeout 5 s) to mariadbd #3 (port 3308, TLS not asked for) while nft in cs-server drops one SYN in three " +
			"at random (numgen random mod 3): some connects need a SYN retransmit, the server itself answers at once. (Port 3308, not 3306: other lab users' probes of 3306 must not get into the capture.)",
		Port: lab.PortMySQLTLS, Patterns: []string{"syn_loss"}, Sequential: 40, Attempts: 40,
		Argv: lab.MariaDB("--connect-timeout=5", "-h", lab.Server4, "-P", strconv.Itoa(lab.PortMySQLTLS), "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1"),
		setup: func(ctx context.Context, self string) (func(), error) {
			rules := fmt.Sprintf(`table inet csvolume {
	chain input {
		type filter hook input priority -10; policy accept;
		ip saddr %s tcp dport %d tcp flags & (syn | ack) == syn numgen random mod 3 == 0 drop
	}
}
`, lab.Client4, lab.PortMySQLTLS)
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lab.NSServer, "nft", "-f", "-")
			cmd.Stdin = strings.NewReader(rules)
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("nft -f (SYN loss rule in %s): %v: %s", lab.NSServer, err, out)
			}
			return func() {
				if out, err := exec.Command("ip", "netns", "exec", lab.NSServer, "nft", "delete", "table", "inet", "csvolume").CombinedOutput(); err != nil {
					log.Printf("removing the SYN loss rule: %v: %s", err, out)
				}
			}, nil
		},
	},
	{
		Name: "host-blocked",
		Description: "An extra mariadbd with max_connect_errors=3 (name resolution and host cache on, as max_connect_errors needs): one login, then three " +
			"aborted handshakes from the same client (bash's /dev/tcp reads the first byte of the greeting and closes, like a TCP health check), then 20 " +
			"logins one after another: the server blocks the host with error 1129 instead of the greeting.",
		Port: portHostBlocked, Patterns: []string{"host_blocked"}, Workers: 1, Attempts: 24, Aborts: true,
		Commands: func() [][]string {
			login := lab.MariaDB("-h", lab.Server4, "-P", strconv.Itoa(portHostBlocked), "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1")
			abort := []string{"bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d && head -c 1 <&3 >/dev/null", lab.Server4, portHostBlocked)}
			cmds := [][]string{login, abort, abort, abort}
			for range 20 {
				cmds = append(cmds, login)
			}
			return cmds
		},
		setup: func(ctx context.Context, _ string) (func(), error) {
			m, err := lab.StartMariaDB(ctx, "vol-hostblocked", portHostBlocked, "max_connect_errors=3")
			if err != nil {
				return nil, err
			}
			user := fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", lab.DBUser, lab.DBPassword)
			if out, err := exec.CommandContext(ctx, "mariadb", "--no-defaults", "-S", m.Socket, "-u", "root", "-e", user).CombinedOutput(); err != nil {
				m.Stop()
				return nil, fmt.Errorf("creating user %s on the extra mariadbd: %v: %s", lab.DBUser, err, out)
			}
			return m.Stop, nil
		},
	},
	{
		Name: "slow-accept-abort",
		Description: "30 mariadb clients at once (connect timeout 5 s) against a server with listen backlog 8 that accepts one connection every 0.5 s " +
			"and relays it to mariadbd #1, with tcp_syncookies=0 and tcp_abort_on_overflow=1 in cs-server: handshakes that complete while the accept " +
			"queue is full are answered by a RST, SYNs that come then are dropped and retransmitted, greetings come one by one.",
		Port: portSlowAcceptAbort, Patterns: []string{"accept_backlog"}, Concurrent: 30, Attempts: 30,
		Argv: lab.MariaDB("--connect-timeout=5", "-h", lab.Server4, "-P", strconv.Itoa(portSlowAcceptAbort), "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1"),
		setup: chain(
			sysctls(lab.NSServer, "net.ipv4.tcp_syncookies=0", "net.ipv4.tcp_abort_on_overflow=1"),
			func(ctx context.Context, self string) (func(), error) {
				return startServer(ctx, lab.NSServer, "accepting", self, "slowaccept", "-listen", net.JoinHostPort(lab.Server4, strconv.Itoa(portSlowAcceptAbort)),
					"-backlog", "8", "-every", "500ms", "-upstream", lab.Socket())
			}),
	},
	{
		Name: "slow-accept-cookies",
		Description: "30 mariadb clients at once (connect timeout 5 s) against a server with listen backlog 8 that accepts one connection every 0.5 s " +
			"and relays it to mariadbd #1, with tcp_syncookies=1 and tcp_abort_on_overflow=0 in cs-server: SYNs beyond the queue get cookie SYN-ACKs, " +
			"the final ACKs that find the accept queue full are dropped silently, those clients wait for a greeting that never comes.",
		Port: portSlowAcceptCookies, Patterns: []string{"accept_backlog"}, Concurrent: 30, Attempts: 30,
		Argv: lab.MariaDB("--connect-timeout=5", "-h", lab.Server4, "-P", strconv.Itoa(portSlowAcceptCookies), "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1"),
		setup: chain(
			sysctls(lab.NSServer, "net.ipv4.tcp_syncookies=1", "net.ipv4.tcp_abort_on_overflow=0"),
			func(ctx context.Context, self string) (func(), error) {
				return startServer(ctx, lab.NSServer, "accepting", self, "slowaccept", "-listen", net.JoinHostPort(lab.Server4, strconv.Itoa(portSlowAcceptCookies)),
					"-backlog", "8", "-every", "500ms", "-upstream", lab.Socket())
			}),
	},
	{
		Name: "ephemeral-ports",
		Description: "The client namespace's ip_local_port_range is " + ephemeralRange + " (24 ports): 48 sequential mariadb logins to mariadbd #1. " +
			"A login the client closes first (COM_QUIT, then its FIN before the server's: a race) holds its local port in TIME_WAIT " +
			"for 60 s; once all 24 are held, connect() fails with EADDRNOTAVAIL (99) and nothing reaches the wire.",
		Port: lab.PortMySQL, Patterns: []string{"ephemeral_ports"}, Sequential: 48, Pause: 100 * time.Millisecond, PortRange: ephemeralRange,
		AttemptsFrom: func(results []lab.Result) int { // every client but those that failed in connect() with EADDRNOTAVAIL
			n := 0
			for _, r := range results {
				if !strings.Contains(r.Stderr, "(99)") {
					n++
				}
			}
			return n
		},
		Argv:  lab.MariaDB("-h", lab.Server4, "-P", strconv.Itoa(lab.PortMySQL), "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1"),
		setup: portRange(ephemeralRange),
	},
}

// chain runs setups in order; its teardown undoes them in reverse.
func chain(setups ...func(ctx context.Context, self string) (func(), error)) func(ctx context.Context, self string) (func(), error) {
	return func(ctx context.Context, self string) (func(), error) {
		var undo []func()
		all := func() {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
		for _, setup := range setups {
			u, err := setup(ctx, self)
			if err != nil {
				all()
				return nil, err
			}
			undo = append(undo, u)
		}
		return all, nil
	}
}

// sysctls sets KEY=VALUE sysctls inside namespace ns only (these are per
// network namespace) and restores the old values on teardown.
func sysctls(ns string, kvs ...string) func(ctx context.Context, self string) (func(), error) {
	return func(ctx context.Context, _ string) (func(), error) {
		var restore []string
		undo := func() {
			for _, kv := range restore {
				if r := lab.Run(context.Background(), ns, "sysctl", "-q", "-w", kv); r.ExitCode != 0 {
					log.Printf("restoring %s in %s: %s", kv, ns, r.Output())
				}
			}
		}
		for _, kv := range kvs {
			key, _, _ := strings.Cut(kv, "=")
			old := lab.Run(ctx, ns, "sysctl", "-n", key)
			if old.ExitCode != 0 {
				undo()
				return nil, fmt.Errorf("reading %s in %s: %s", key, ns, old.Output())
			}
			if r := lab.Run(ctx, ns, "sysctl", "-q", "-w", kv); r.ExitCode != 0 {
				undo()
				return nil, fmt.Errorf("setting %s in %s: %s", kv, ns, r.Output())
			}
			restore = append(restore, key+"="+strings.Join(strings.Fields(old.Stdout), " "))
		}
		log.Printf("%s: %s (restored after the scenario)", ns, strings.Join(kvs, ", "))
		return undo, nil
	}
}

// portRange narrows the client namespace's ip_local_port_range to rng
// ("first last") after waiting (at most 70 s) until none of those ports
// holds a TIME_WAIT connection from an earlier run; teardown restores it.
func portRange(rng string) func(ctx context.Context, self string) (func(), error) {
	return func(ctx context.Context, self string) (func(), error) {
		f := strings.Fields(rng)
		filter := fmt.Sprintf("( sport >= :%s and sport <= :%s )", f[0], f[1])
		for deadline := time.Now().Add(70 * time.Second); ; {
			r := lab.Run(ctx, lab.NSClient, "ss", "-Htan", filter)
			if r.ExitCode != 0 {
				return nil, fmt.Errorf("ss in %s: %s", lab.NSClient, r.Output())
			}
			if strings.TrimSpace(r.Stdout) == "" {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("ports %s in %s still in use after 70 s:\n%s", rng, lab.NSClient, r.Stdout)
			}
			log.Printf("waiting for the TIME_WAIT connections on ports %s in %s to expire", rng, lab.NSClient)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(5 * time.Second):
			}
		}
		return sysctls(lab.NSClient, "net.ipv4.ip_local_port_range="+rng)(ctx, self)
	}
}

// busyCommands is the busy scenario's mix: 320 short successful connects
// by four client programs (the mariadb CLI, PHP mysqli, Python PyMySQL,
// mariadb-admin ping), one bulk query result (about 1 MB) streaming on an established
// connection, and four different failures at fixed places among them:
// refused (port 3310), a wrong password (1045), a host not allowed (1130)
// and a firewall DROP (port 3311).
func busyCommands() [][]string {
	host, port := lab.Server4, strconv.Itoa(lab.PortMySQL)
	ok := [][]string{
		lab.MariaDB("-h", host, "-P", port, "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-e", "SELECT 1"),
		lab.PHP("--host", host, "--port", port, "--user", lab.DBUser, "--password", lab.DBPassword),
		python("--host", host, "--port", port, "--user", lab.DBUser, "--password", lab.DBPassword),
		{"mariadb-admin", "--no-defaults", "--connect-timeout=3", "-h", host, "-P", port, "-u", lab.DBUser, "-p" + lab.DBPassword, "ping"},
	}
	failures := map[int][]string{
		57:  lab.MariaDB("-h", host, "-P", strconv.Itoa(lab.PortClosed), "-u", lab.DBUser, "-p"+lab.DBPassword, "-e", "SELECT 1"),
		131: lab.MariaDB("-h", host, "-P", port, "-u", lab.DBUser, "-pwrong", "-e", "SELECT 1"),
		203: lab.PHP("--host", lab.Server4Unlisted, "--port", port, "--user", lab.DBUser, "--password", lab.DBPassword),
		277: lab.MariaDB("-h", host, "-P", strconv.Itoa(lab.PortDrop), "-u", lab.DBUser, "-p"+lab.DBPassword, "-e", "SELECT 1"),
	}
	var out [][]string
	out = append(out, lab.MariaDB("-h", host, "-P", port, "-u", lab.DBUser, "-p"+lab.DBPassword, "-N", "-D", lab.DBName, "-e",
		"SELECT REPEAT('x', 1000) FROM seq_1_to_1000"))
	for i := 0; i < 320; i++ {
		if f, ok := failures[i]; ok {
			out = append(out, f)
		}
		out = append(out, ok[i%len(ok)])
	}
	return out
}

// python is the lab's PyMySQL client (lab/client.py, relative to the
// repository root, where lab.Run starts commands) with Debian's python3
// (python3-pymysql), with args appended.
func python(args ...string) []string {
	return append([]string{"/usr/bin/python3", "lab/client.py"}, args...)
}

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: labvolume record [-out DIR] [-only REGEXP] | labvolume truth [-out DIR] | labvolume slowaccept -listen ADDR -backlog N -every D -upstream PATH")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "record":
		err = record(os.Args[2:])
	case "slowaccept":
		err = slowAccept(os.Args[2:])
	case "truth":
		err = retruth(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: use record, truth or slowaccept", os.Args[1])
	}
	if err != nil {
		log.Printf("labvolume %s: %v", os.Args[1], err)
		os.Exit(1)
	}
}

// slowAccept listens with a tiny backlog and accepts one connection every
// interval, relaying each to the upstream unix socket.
func slowAccept(args []string) error {
	fs := flag.NewFlagSet("slowaccept", flag.ExitOnError)
	listen := fs.String("listen", "", "ADDR:PORT (IPv4)")
	backlog := fs.Int("backlog", 1, "listen(2) backlog")
	every := fs.Duration("every", 500*time.Millisecond, "one accept(2) per interval")
	upstream := fs.String("upstream", "", "unix socket path of the real server")
	fs.Parse(args)
	ap, err := netipAddrPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %v", *listen, err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, ap); err != nil {
		return fmt.Errorf("bind %s: %w", *listen, err)
	}
	if err := syscall.Listen(fd, *backlog); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Printf("slowaccept: accepting on %s, backlog %d, one accept every %v, relaying %s", *listen, *backlog, *every, *upstream)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-stop; os.Exit(0) }()
	for {
		time.Sleep(*every)
		nfd, _, err := syscall.Accept4(fd, syscall.SOCK_CLOEXEC)
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		f := os.NewFile(uintptr(nfd), "conn")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return err
		}
		log.Printf("slowaccept: accepted %s", c.RemoteAddr())
		go relay(c, *upstream)
	}
}

func netipAddrPort(s string) (*syscall.SockaddrInet4, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return nil, errors.New("not an IPv4 address")
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	sa := &syscall.SockaddrInet4{Port: p}
	copy(sa.Addr[:], ip)
	return sa, nil
}

func relay(c net.Conn, upstream string) {
	defer c.Close()
	up, err := net.DialTimeout("unix", upstream, 5*time.Second)
	if err != nil {
		log.Printf("slowaccept: upstream %s: %v", upstream, err)
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(c, up)
	go cp(up, c)
	<-done
	<-done
}

// proc is a background process in a namespace.
type proc struct {
	cmd    *exec.Cmd
	stderr *lab.LockedBuffer
	done   chan error
}

func startProc(ctx context.Context, ns, ready string, argv ...string) (*proc, error) {
	p := &proc{stderr: &lab.LockedBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(p.stderr.String(), ready) {
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v): %s", argv[0], err, p.stderr.String())
		case <-deadline:
			p.stop()
			return nil, fmt.Errorf("%s not ready after 10 s: %s", argv[0], p.stderr.String())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return p, nil
}

// stop sends SIGINT and waits (SIGKILL after 10 s); it returns stderr.
func (p *proc) stop() string {
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.stderr.String()
}

func startServer(ctx context.Context, ns, ready string, argv ...string) (func(), error) {
	p, err := startProc(ctx, ns, ready, argv...)
	if err != nil {
		return nil, err
	}
	return func() { p.stop() }, nil
}

// Manifest of testdata/volume.
type manifest struct {
	GeneratedBy string  `json:"generated_by"`
	Kernel      string  `json:"kernel"`
	MariaDB     string  `json:"mariadb"`
	Scenarios   []entry `json:"scenarios"`
}

type entry struct {
	Scenario    string         `json:"scenario"`
	Description string         `json:"description"`
	Command     string         `json:"command"`
	Concurrent  int            `json:"concurrent,omitempty"`
	Sequential  int            `json:"sequential,omitempty"`
	ExitCodes   map[string]int `json:"exit_codes"` // clients by exit code
	Errors      map[string]int `json:"errors"`     // clients by error text (first line)
	ElapsedMS   int64          `json:"elapsed_ms"`
	File        string         `json:"file"`
	Packets     int            `json:"packets"`
	Server      string         `json:"server"`
	Patterns    []string       `json:"patterns"` // by design
	// Logins says that a client's exit code 0 is a login that worked
	// (mariadb, PHP, mariadb-admin; not a scanner's loop).
	Logins bool `json:"exit_0_is_login"`
	// PortRange is the client namespace's ip_local_port_range during the
	// scenario when it set one ("first last"; else the namespace's own).
	PortRange string `json:"client_port_range,omitempty"`
	Truth     truth  `json:"truth"` // from tshark
}

// truth is what tshark shows of the attempts to the scenario's server.
type truth struct {
	Attempts  int            `json:"attempts"`    // TCP streams to the server that began with a SYN
	SYNs      map[string]int `json:"syns"`        // attempts by SYNs sent: "1", "2", "3+"
	Connected int            `json:"connected"`   // attempts answered by a SYN-ACK
	Greeted   int            `json:"greeted"`     // attempts with server payload
	RTTMS     []float64      `json:"rtt_ms"`      // per connected attempt: last SYN before the SYN-ACK → SYN-ACK, sorted
	ConnectMS []float64      `json:"connect_ms"`  // first SYN → SYN-ACK, sorted
	GreetMS   []float64      `json:"greeting_ms"` // the client's handshake ACK → the server's first payload, sorted
	// ClientClosedSilent counts connected attempts the client closed (FIN
	// or RST, before any from the server) without sending a byte: aborted
	// handshakes.
	ClientClosedSilent int `json:"client_closed_silent"`
}

func record(args []string) error {
	fs := flag.NewFlagSet("record", flag.ExitOnError)
	out := fs.String("out", "testdata/volume", "directory for the captures and manifest.json")
	only := fs.String("only", "", "record only scenarios whose name matches this regexp (others stay in the manifest)")
	fs.Parse(args)
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			return fmt.Errorf("-only: %v", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	root, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(*out) {
		*out = filepath.Join(root, *out)
	}
	if why := lab.Unavailable(); why != "" {
		return errors.New(why)
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()
	session, err := lab.Acquire(ctx, log.Printf)
	if err != nil {
		return err
	}
	defer func() {
		if err := session.Release(); err != nil {
			log.Printf("%v", err)
		}
	}()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var m manifest
	if b, err := os.ReadFile(filepath.Join(*out, "manifest.json")); err == nil {
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s/manifest.json: %w", *out, err)
		}
	}
	m.GeneratedBy = "go run ./lab/labvolume record"
	m.Kernel = firstLine("uname", "-r")
	m.MariaDB = firstLine("mariadbd", "--version")
	for _, sc := range scenarios {
		if filter != nil && !filter.MatchString(sc.Name) {
			continue
		}
		e, err := recordScenario(ctx, *out, sc, self)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		log.Printf("%s: %d attempts, SYNs %v, exit codes %v", sc.Name, e.Truth.Attempts, e.Truth.SYNs, e.ExitCodes)
		i := slices.IndexFunc(m.Scenarios, func(x entry) bool { return x.Scenario == e.Scenario })
		if i >= 0 {
			m.Scenarios[i] = e
		} else {
			m.Scenarios = append(m.Scenarios, e)
		}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*out, "manifest.json"), append(data, '\n'), 0o644)
}

// retruth recomputes every manifest entry's truth from its capture.
func retruth(args []string) error {
	fs := flag.NewFlagSet("truth", flag.ExitOnError)
	out := fs.String("out", "testdata/volume", "directory of the captures and manifest.json")
	fs.Parse(args)
	root, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(*out) {
		*out = filepath.Join(root, *out)
	}
	path := filepath.Join(*out, "manifest.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i, e := range m.Scenarios {
		j := slices.IndexFunc(scenarios, func(sc scenario) bool { return sc.Name == e.Scenario })
		if j < 0 {
			return fmt.Errorf("%s: scenario %q is not defined in lab/labvolume", path, e.Scenario)
		}
		sc := scenarios[j]
		t, err := tsharkTruth(filepath.Join(*out, e.File), lab.Server4, sc.Port, max(sc.PortLast, sc.Port))
		if err != nil {
			return err
		}
		if t.Attempts != e.Truth.Attempts {
			return fmt.Errorf("%s: tshark now finds %d attempts, the manifest says %d", e.File, t.Attempts, e.Truth.Attempts)
		}
		m.Scenarios[i].Truth = t
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func recordScenario(ctx context.Context, dir string, sc scenario, self string) (entry, error) {
	command := strings.Join(sc.Argv, " ")
	if sc.Commands != nil {
		cmds := sc.Commands()
		command = fmt.Sprintf("%d commands, %d at a time (lab/labvolume)", len(cmds), sc.Workers)
		if len(cmds) == 1 {
			command = strings.Join(cmds[0], " ")
		}
	}
	e := entry{Scenario: sc.Name, Description: sc.Description, Command: command, Concurrent: sc.Concurrent, Sequential: sc.Sequential,
		ExitCodes: map[string]int{}, Errors: map[string]int{}, File: sc.Name + ".any.pcap",
		Server: net.JoinHostPort(lab.Server4, strconv.Itoa(sc.Port)), Patterns: sc.Patterns, Logins: sc.PortLast == 0 && !sc.Aborts, PortRange: sc.PortRange}
	if sc.PortLast != 0 {
		e.Server = lab.Server4 + ":*"
	}
	teardown, err := sc.setup(ctx, self)
	if err != nil {
		return e, err
	}
	defer teardown()
	path := filepath.Join(dir, e.File)
	tcpdump, err := startProc(ctx, lab.NSClient, "listening on", "tcpdump", "-Z", "root", "-i", "any", "--immediate-mode", "-U", "-n", "-B", "65536",
		"-w", path, captureFilter(sc))
	if err != nil {
		return e, err
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	var (
		mu      sync.Mutex
		results []lab.Result
	)
	runOne := func() {
		runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		res := lab.Run(runCtx, lab.NSClient, sc.Argv...)
		cancel()
		mu.Lock()
		results = append(results, res)
		mu.Unlock()
	}
	if sc.Concurrent > 0 {
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := 0; i < sc.Concurrent; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); <-gate; runOne() }()
		}
		close(gate)
		wg.Wait()
	}
	for i := 0; i < sc.Sequential && ctx.Err() == nil; i++ {
		if i > 0 {
			time.Sleep(sc.Pause)
		}
		runOne()
	}
	if sc.Commands != nil {
		cmds := make(chan []string)
		var wg sync.WaitGroup
		for w := 0; w < sc.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for argv := range cmds {
					runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
					res := lab.Run(runCtx, lab.NSClient, argv...)
					cancel()
					mu.Lock()
					results = append(results, res)
					mu.Unlock()
				}
			}()
		}
		for _, argv := range sc.Commands() {
			if ctx.Err() != nil {
				break
			}
			cmds <- argv
		}
		close(cmds)
		wg.Wait()
	}
	e.ElapsedMS = time.Since(start).Milliseconds()
	// Wait before stopping: the tail of a busy capture is otherwise lost
	// (late greetings, the last FINs).
	time.Sleep(time.Second)
	text := tcpdump.stop()
	if m := regexp.MustCompile(`(\d+) packets? dropped by kernel`).FindStringSubmatch(text); m == nil || m[1] != "0" {
		return e, fmt.Errorf("tcpdump dropped packets or printed no counts: %q", text)
	}
	if m := regexp.MustCompile(`(\d+) packets? captured`).FindStringSubmatch(text); m != nil {
		e.Packets, _ = strconv.Atoi(m[1])
	}
	for _, r := range results {
		if r.Err != nil {
			return e, fmt.Errorf("client: %v", r.Err)
		}
		e.ExitCodes[strconv.Itoa(r.ExitCode)]++
		if msg := firstLineOf(r.Stderr); msg != "" {
			e.Errors[msg]++
		}
	}
	want := sc.Attempts
	if sc.AttemptsFrom != nil {
		want = sc.AttemptsFrom(results)
	}
	e.Truth, err = tsharkTruth(path, lab.Server4, sc.Port, max(sc.PortLast, sc.Port))
	if err == nil && e.Truth.Attempts != want {
		err = fmt.Errorf("the capture holds %d attempts to %s, the clients made %d: another lab user's connects got in (something ignores the lab lock %s); record again",
			e.Truth.Attempts, e.Server, want, lab.LockPath())
	}
	return e, err
}

// captureFilter is the scenario's port, or the ports of the busy mix
// (not all TCP: other lab users' connects must stay out).
func captureFilter(sc scenario) string {
	if sc.PortLast != 0 {
		return fmt.Sprintf("tcp portrange %d-%d", sc.Port, sc.PortLast)
	}
	if sc.Name == "busy" {
		return fmt.Sprintf("tcp and (port %d or port %d or port %d)", lab.PortMySQL, lab.PortClosed, lab.PortDrop)
	}
	return "tcp port " + strconv.Itoa(sc.Port)
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func firstLine(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return ""
	}
	return firstLineOf(string(out))
}

// tsharkTruth reads the capture with tshark (an independent decoder) and
// measures each attempt to server:port.
func tsharkTruth(path, server string, port, last int) (truth, error) {
	t := truth{SYNs: map[string]int{}, RTTMS: []float64{}, ConnectMS: []float64{}, GreetMS: []float64{}}
	cmd := exec.Command("tshark", "-n", "-r", path, "-Y", fmt.Sprintf("tcp.port >= %d && tcp.port <= %d && ip.addr == %s", port, last, server), "-T", "fields", "-E", "separator=,",
		"-e", "tcp.stream", "-e", "frame.time_epoch", "-e", "tcp.srcport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.len", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return t, fmt.Errorf("tshark -r %s: %v: %s", path, err, stderr.String())
	}
	type stream struct {
		firstSYN, lastSYN, synAck, ack, data float64
		syns                                 int
		clientBytes                          int
		closer                               string // "client" or "server": the first FIN or RST after the SYN-ACK
	}
	streams := map[int]*stream{}
	var order []int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 8 {
			continue
		}
		id, _ := strconv.Atoi(f[0])
		ts, _ := strconv.ParseFloat(f[1], 64)
		src, _ := strconv.Atoi(f[2])
		syn, ack := f[3] == "1" || f[3] == "True", f[4] == "1" || f[4] == "True"
		n, _ := strconv.Atoi(f[5])
		s := streams[id]
		if s == nil {
			s = &stream{}
			streams[id] = s
			order = append(order, id)
		}
		fromClient := src < port || src > last
		switch {
		case syn && !ack && fromClient:
			if s.syns == 0 {
				s.firstSYN = ts
			}
			s.syns++
			s.lastSYN = ts
		case syn && ack && !fromClient:
			if s.synAck == 0 {
				s.synAck = ts
			}
		case fromClient && ack && s.synAck != 0 && s.ack == 0:
			s.ack = ts
		}
		if !fromClient && n > 0 && s.data == 0 {
			s.data = ts
		}
		if fromClient {
			s.clientBytes += n
		}
		if (f[6] == "1" || f[6] == "True" || f[7] == "1" || f[7] == "True") && s.synAck != 0 && s.closer == "" {
			s.closer = "server"
			if fromClient {
				s.closer = "client"
			}
		}
	}
	ms := func(a, b float64) float64 { return math.Round((b-a)*1e6) / 1e3 }
	for _, id := range order {
		s := streams[id]
		if s.syns == 0 {
			continue
		}
		t.Attempts++
		switch {
		case s.syns == 1:
			t.SYNs["1"]++
		case s.syns == 2:
			t.SYNs["2"]++
		default:
			t.SYNs["3+"]++
		}
		if s.synAck != 0 {
			t.Connected++
			t.RTTMS = append(t.RTTMS, ms(s.lastSYN, s.synAck))
			t.ConnectMS = append(t.ConnectMS, ms(s.firstSYN, s.synAck))
		}
		if s.synAck != 0 && s.closer == "client" && s.clientBytes == 0 {
			t.ClientClosedSilent++
		}
		if s.data != 0 && s.ack != 0 {
			t.Greeted++
			t.GreetMS = append(t.GreetMS, ms(s.ack, s.data))
		}
	}
	sort.Float64s(t.RTTMS)
	sort.Float64s(t.ConnectMS)
	sort.Float64s(t.GreetMS)
	return t, nil
}
