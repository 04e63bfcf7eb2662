package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/live"
)

// Status of a check.
type Status string

const (
	Pass Status = "ok"          // ✓
	Fail Status = "failed"      // ✗
	Warn Status = "warning"     // !: not a failure by itself, worth knowing
	Skip Status = "not checked" // the reason is in Evidence
)

// Check is one line of the checklist.
type Check struct {
	ID       string // stable: resolve, connect, greeting, login, process, listeners, socket_files, ephemeral_ports, firewall, security, listen_queue
	Title    string
	Status   Status
	Evidence []string
	Fix      string // what to do, when Status is Fail or Warn
}

// Options say what to probe and how.
type Options struct {
	Target     Target
	Timeout    time.Duration // per address, for the connect and again for the first bytes
	Creds      *Credentials  // nil: no login
	RequireTLS bool
	AsUser     string // check socket permissions for this user instead of the invoking one
	Resolver   *Resolver
	Env        LocalEnv
	// Trace runs the probe's own lookups and connects under connscope's
	// live tracing (packets and eBPF, as `connscope run`), when the
	// privileges allow it.
	Trace bool
}

// LocalEnv holds the paths the local checks read; tests point them at fixtures.
type LocalEnv struct {
	ProcRoot    string   // /proc
	SysctlRoot  string   // /proc/sys
	OptionFiles []string // MySQL option files read in this order
	SocketPaths []string // default socket paths clients look for
	SELinuxRoot string   // /sys/fs/selinux
	NFT         func(ctx context.Context) ([]byte, error)
	HomeDir     string // the user's home, for ~/.my.cnf
}

// DefaultEnv is this host's.
func DefaultEnv(protocol string, port int) LocalEnv {
	e := LocalEnv{ProcRoot: "/proc", SysctlRoot: "/proc/sys", SELinuxRoot: "/sys/fs/selinux", NFT: runNFT}
	if h, err := os.UserHomeDir(); err == nil {
		e.HomeDir = h
	}
	if protocol == Postgres {
		e.SocketPaths = []string{
			fmt.Sprintf("/var/run/postgresql/.s.PGSQL.%d", port),
			fmt.Sprintf("/tmp/.s.PGSQL.%d", port),
		}
		return e
	}
	e.OptionFiles = []string{"/etc/my.cnf", "/etc/mysql/my.cnf"}
	if h := os.Getenv("MYSQL_HOME"); h != "" {
		e.OptionFiles = append(e.OptionFiles, filepath.Join(h, "my.cnf"))
	}
	if e.HomeDir != "" {
		e.OptionFiles = append(e.OptionFiles, filepath.Join(e.HomeDir, ".my.cnf"))
	}
	e.SocketPaths = []string{"/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/tmp/mysql.sock", "/var/lib/mysql/mysql.sock"}
	return e
}

// Result is everything the probe found.
type Result struct {
	Target     Target
	Timeout    time.Duration
	Resolution *Resolution // nil for a socket
	Attempts   []Attempt   // in the order a client would try them
	Login      *Login
	LoginAt    string // the address the login went to
	Checks     []Check
	Findings   []string
	Local      bool // the server is (or should be) on this host
	Root       bool // ran as root
	Started    time.Time
	Total      time.Duration
	Tracing    string // what the tracing did, or what root would add
	// Trace is the probe's own connects as the live tracer saw them (nil
	// when not traced).
	Trace *Trace
}

// Trace is what `connscope run` would have reported of the probe's own
// lookups and connects.
type Trace struct {
	Connects []*analyze.Connect
	Summary  analyze.Summary
	Notices  []string
}

// Traced returns the traced attempt of a (matched by its source address
// and destination, or the socket path), nil when the trace has none.
func (r *Result) Traced(a *Attempt) *analyze.Attempt {
	if r.Trace == nil {
		return nil
	}
	for _, c := range r.Trace.Connects {
		for _, t := range c.Attempts {
			if a.Network == "unix" {
				if t.Server == a.Socket {
					return t
				}
				continue
			}
			if t.Server == a.Addr.String() && (!a.Local.IsValid() || t.Client == a.Local.String()) {
				return t
			}
		}
	}
	return nil
}

// OK reports whether an address connected and greeted (and logged in when
// a login was asked for): exit status 0.
func (r *Result) OK() bool {
	greeted := false
	for _, a := range r.Attempts {
		if a.Outcome == OutcomeOK {
			greeted = true
		}
	}
	if !greeted {
		return false
	}
	return r.Login == nil || r.Login.Outcome == OutcomeOK
}

// rootAdds is what running as root adds to a probe.
const rootAdds = "as root, probe would also trace its own connects (packets and eBPF, as `connscope run`): each address's timeline, reason and likely causes, and a failure that never reaches the wire shown as such; and it would read every process's sockets (pid, user of listeners owned by other users) and the nftables ruleset"

// Run probes o.Target. It never fails as a whole: every problem is a check.
func Run(ctx context.Context, o Options) *Result {
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Resolver == nil {
		o.Resolver = SystemResolver()
	}
	r := &Result{Target: o.Target, Timeout: o.Timeout, Started: time.Now(), Root: os.Geteuid() == 0}
	t := o.Target
	if t.IsSocket() && t.Protocol == Postgres {
		if st, err := os.Stat(t.Socket); err == nil && st.IsDir() {
			t.Socket = filepath.Join(t.Socket, ".s.PGSQL."+strconv.Itoa(t.Port))
			r.Target.Socket = t.Socket
		}
	}

	var own *live.OwnTrace
	if o.Trace {
		var err error
		if own, err = live.TraceOwn(o.Timeout); err != nil {
			r.Tracing = "not traced (" + err.Error() + "): " + rootAdds
		}
	}

	// 1. Resolution.
	var addrs []netip.Addr
	if !t.IsSocket() {
		res := o.Resolver.Resolve(ctx, t.Host)
		r.Resolution = &res
		addrs = res.Addrs
		r.Checks = append(r.Checks, resolveCheck(&res))
	}

	// 2. Every address at once, each with its own timeout.
	if t.IsSocket() {
		r.Attempts = []Attempt{connectOne(ctx, "unix", t.Socket, t.Protocol, o.Timeout)}
	} else {
		r.Attempts = make([]Attempt, len(addrs))
		var wg sync.WaitGroup
		for i, a := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.Attempts[i] = connectOne(ctx, "tcp", netip.AddrPortFrom(a, uint16(t.Port)).String(), t.Protocol, o.Timeout)
			}()
		}
		wg.Wait()
	}
	if len(r.Attempts) > 0 {
		r.Checks = append(r.Checks, connectCheck(r), greetingCheck(r))
	}

	// Login: once, at the first address (in client order) that greeted.
	if o.Creds != nil {
		r.Checks = append(r.Checks, r.login(ctx, o))
	}

	if own != nil {
		cs, sum, notices, err := own.Stop()
		r.Trace = &Trace{Connects: cs, Summary: sum, Notices: notices}
		r.Tracing = "traced with packets and eBPF as `connscope run` does (TRACED above)"
		if err != nil {
			r.Tracing += " (the trace ended with an error: " + err.Error() + ")"
		}
	}

	// 3. Local checks.
	r.Local = t.IsSocket()
	for _, a := range addrs {
		if isLocalAddr(a) {
			r.Local = true
		}
	}
	r.Checks = append(r.Checks, localChecks(ctx, r, o, addrs)...)
	r.Findings = findings(r, o)
	r.Total = time.Since(r.Started)
	switch {
	case r.Tracing != "":
	case !o.Trace:
		r.Tracing = "packet and eBPF timelines are not part of this probe: for the full timeline of a real client, run it under `connscope run -- CLIENT`"
	case !r.Root:
		r.Tracing = rootAdds
	}
	return r
}

func (r *Result) login(ctx context.Context, o Options) Check {
	c := Check{ID: "login", Title: "login as " + o.Creds.User}
	var at *Attempt
	for i := range r.Attempts {
		if r.Attempts[i].Outcome == OutcomeOK {
			at = &r.Attempts[i]
			break
		}
	}
	if at == nil {
		c.Status = Skip
		c.Evidence = []string{"no address greeted: nothing to log in to"}
		return c
	}
	t := o.Target
	r.LoginAt = at.Where()
	serverName := t.Host
	if t.Protocol == Postgres {
		var ans byte
		if at.Greeting != nil {
			ans = at.Greeting.PGAnswer
		}
		r.Login = loginPG(ctx, at.Network, at.Where(), serverName, *o.Creds, ans, o.RequireTLS, o.Timeout)
	} else {
		r.Login = loginMySQL(ctx, at.Network, at.Where(), serverName, *o.Creds, o.RequireTLS, o.Timeout)
	}
	l := r.Login
	c.Evidence = append(c.Evidence, fmt.Sprintf("at %s, password from %s, in %s", r.LoginAt, l.PasswordFrom, dur(l.Time)))
	if l.TLS {
		c.Evidence = append(c.Evidence, fmt.Sprintf("over %s; certificate %s: %s", l.TLSVersion, l.CertSubject, l.CertVerified))
	} else if at.Network == "tcp" {
		c.Evidence = append(c.Evidence, "without TLS")
	}
	switch l.Outcome {
	case OutcomeOK:
		c.Status = Pass
		if l.Database != "" {
			c.Evidence = append(c.Evidence, "database "+l.Database)
		}
	default:
		c.Status = Fail
		c.Evidence = append([]string{loginErrText(l, t.Protocol)}, c.Evidence...)
		c.Fix = loginFix(l, t.Protocol)
	}
	return c
}

func loginErrText(l *Login, proto string) string {
	if proto == Postgres {
		if l.SQLState != "" {
			return fmt.Sprintf("%s: SQLSTATE %s %s", l.Outcome, l.SQLState, l.Message)
		}
		return fmt.Sprintf("%s: %s", l.Outcome, l.Message)
	}
	if l.Code != 0 {
		s := fmt.Sprintf("%s: ERROR %d", l.Outcome, l.Code)
		if l.SQLState != "" {
			s += " (" + l.SQLState + ")"
		}
		return s + ": " + l.Message
	}
	return fmt.Sprintf("%s: %s", l.Outcome, l.Message)
}

func loginFix(l *Login, proto string) string {
	switch {
	case l.Code == 1045:
		return "wrong password, or no account matches this user at the address the server sees (SELECT user, host FROM mysql.user; the client address is in the message)"
	case l.SQLState == "28P01":
		return "wrong password for this role (ALTER ROLE … PASSWORD), or pg_hba.conf asks for a method the role has no secret for"
	case l.Code == 1044:
		return "the account exists but has no rights on this database: GRANT … ON db.* TO the account"
	case l.Code == 1698:
		return "the account authenticates by unix socket identity (unix_socket/auth_socket): log in as the matching OS user over the socket, or give the account a password"
	case l.Code == 2026 || l.Outcome == OutcomeTLSFailed:
		return "the server offers no TLS: configure ssl_cert/ssl_key (MySQL) or ssl=on (PostgreSQL), or connect without requiring TLS"
	case l.SQLState == "3D000":
		return "the database does not exist: create it, or name an existing one"
	case l.SQLState == "28000":
		return "pg_hba.conf has no line that accepts this host/user/database (or a reject line matches): add one and reload"
	case l.SQLState == "53300" || l.Code == 1040:
		return "every connection slot is taken: raise max_connections or find the clients that hold connections"
	}
	return ""
}

// isLocalAddr reports whether a is loopback or assigned to an interface in
// this network namespace.
func isLocalAddr(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range ifaddrs {
		if n, ok := ia.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a {
				return true
			}
		}
	}
	return false
}

func resolveCheck(res *Resolution) Check {
	c := Check{ID: "resolve", Title: "name resolves"}
	if res.Literal {
		c.Status = Pass
		c.Title = "address given"
		c.Evidence = []string{res.Name + " is an address: nothing to look up"}
		return c
	}
	c.Title = res.Name + " resolves"
	dnsAsked := 0
	for _, q := range res.Queries {
		if q.Type == "A" || q.Type == "AAAA" {
			dnsAsked++
		}
	}
	src := "hosts: " + strings.Join(res.Sources, " ")
	if len(res.Addrs) == 0 {
		c.Status = Fail
		c.Evidence = []string{res.Err, fmt.Sprintf("%s; %d DNS queries in %s", src, dnsAsked, dur(res.Time))}
		c.Fix = "check the name for typos; check the DNS servers in " + res.Conf.Path + " answer (the queries below say which did not), or add the name to /etc/hosts"
		return c
	}
	c.Status = Pass
	var as []string
	for _, a := range res.Addrs {
		as = append(as, a.String())
	}
	c.Evidence = []string{fmt.Sprintf("%s (in client order) in %s; %s; %d DNS queries", strings.Join(as, ", "), dur(res.Time), src, dnsAsked)}
	slow := time.Duration(0)
	for _, q := range res.Queries {
		if q.Err != "" && q.Type != "hosts" && !strings.HasPrefix(q.Err, "nsswitch") {
			c.Status = Warn
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s to %s: %s", q.Type, q.Name, q.Server, q.Err))
		}
		slow += q.Time
	}
	if res.Time > time.Second {
		c.Status = Warn
		c.Evidence = append(c.Evidence, "the lookup took "+dur(res.Time)+": every connect by name pays it")
		c.Fix = "a DNS server in " + res.Conf.Path + " is slow or does not answer: fix or remove it, or use an address / /etc/hosts"
	}
	return c
}

func connectCheck(r *Result) Check {
	c := Check{ID: "connect", Title: "connect to every address"}
	if r.Target.IsSocket() {
		c.Title = "connect to the socket"
	}
	n := 0
	slow := false
	for _, a := range r.Attempts {
		if a.Connected() {
			n++
		}
		ev := fmt.Sprintf("%s: %s", a.Where(), a.Outcome)
		if a.Connected() {
			ev = fmt.Sprintf("%s: connected in %s", a.Where(), dur(a.Connect))
			if a.SYNRetrans > 0 {
				ev += fmt.Sprintf(" after %d SYN retransmit(s): a SYN or SYN-ACK was lost, or the server's SYN queue was full", a.SYNRetrans)
				slow = true
			}
		} else {
			if a.Errno != "" {
				ev += " (" + a.Errno + ")"
			}
			ev += " after " + dur(a.Connect)
		}
		c.Evidence = append(c.Evidence, ev)
	}
	switch {
	case n == len(r.Attempts) && slow:
		c.Status = Warn
		c.Fix = "connects pay SYN retransmits (1 s, then more, each): look for packet loss on the path or ListenOverflows on the server"
	case n == len(r.Attempts):
		c.Status = Pass
	case n > 0:
		c.Status = Warn
		c.Fix = "some addresses do not connect: a client that stops at the first address may fail; see the findings"
	default:
		c.Status = Fail
		c.Fix = connectFix(r)
	}
	return c
}

func connectFix(r *Result) string {
	out := map[string]bool{}
	for _, a := range r.Attempts {
		out[a.Outcome] = true
	}
	switch {
	case out[OutcomeSocketMissing]:
		return "no socket file at this path: the server is not running, or uses another socket= (see the socket files check)"
	case out[OutcomeRefused] && r.Target.IsSocket():
		return "stale socket file: start the server, or point the client at the socket it really uses"
	case out[OutcomePermissionDenied]:
		return "let this user search every directory above the socket and write to the socket, or run as a user that may"
	case out[OutcomeRefused]:
		return "nothing listens there: check the server runs, its port, and bind_address / skip_networking (MySQL) or listen_addresses (PostgreSQL); run the probe on the server host to see its listeners"
	case out[OutcomeTimeout]:
		return "SYNs got no answer: a firewall drops them (on the server, the path, or this host), or the host is down"
	case out[OutcomeUnreachable], out[OutcomeNoRoute]:
		return "no path to the server: check routes and that the host is up"
	case out[OutcomeNoLocalPort]:
		return "this host has no free local port for this destination: see the ephemeral ports check"
	}
	return ""
}

func greetingCheck(r *Result) Check {
	c := Check{ID: "greeting", Title: "server greets"}
	if r.Target.Protocol == Postgres {
		c.Title = "server answers as PostgreSQL"
	}
	connected, greeted := 0, 0
	for _, a := range r.Attempts {
		if !a.Connected() {
			continue
		}
		connected++
		c.Evidence = append(c.Evidence, a.Where()+": "+greetingText(&a))
		if a.Outcome == OutcomeOK {
			greeted++
		}
	}
	switch {
	case connected == 0:
		c.Status = Skip
		c.Evidence = []string{"no address connected"}
	case greeted == connected:
		c.Status = Pass
	default:
		c.Status = Fail
		if greeted > 0 {
			c.Status = Warn
		}
		c.Fix = greetingFix(r)
	}
	return c
}

func greetingText(a *Attempt) string {
	g := a.Greeting
	switch {
	case g != nil && g.MySQL != nil:
		tls := "no TLS"
		if !g.MySQL.CapsKnown {
			tls = "TLS unknown"
		} else if g.MySQL.TLSOffered() {
			tls = "TLS offered"
		}
		return fmt.Sprintf("greeting after %s: %s, connection id %d, %s, %s", dur(a.FirstByte), g.MySQL.ServerVersion, g.MySQL.ConnectionID, orNone(g.MySQL.AuthPlugin, "no auth plugin named"), tls)
	case g != nil && g.MySQLErr != nil:
		return fmt.Sprintf("ERR %d instead of a greeting after %s: %s", g.MySQLErr.Code, dur(a.FirstByte), g.MySQLErr.Message)
	case g != nil && g.PGAnswer != 0:
		tls := "TLS offered ('S')"
		if g.PGAnswer == 'N' {
			tls = "no TLS ('N')"
		}
		return fmt.Sprintf("PostgreSQL answered the SSLRequest after %s: %s", dur(a.FirstByte), tls)
	case g != nil && g.PGErr != nil:
		return fmt.Sprintf("error after %s: %s %s", dur(a.FirstByte), g.PGErr.Code, g.PGErr.Message)
	}
	return a.Outcome + ": " + a.Detail
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return "auth plugin " + s
}

func greetingFix(r *Result) string {
	for _, a := range r.Attempts {
		g := a.Greeting
		if g != nil && g.MySQLErr != nil {
			switch g.MySQLErr.Code {
			case 1130:
				return "no account matches the address the server sees for this client: CREATE USER / GRANT for that host, or connect from an allowed one"
			case 1040:
				return "every connection slot is taken: raise max_connections or find the clients that hold connections (SHOW PROCESSLIST)"
			case 1129:
				return "the server blocked this host after too many aborted connects: FLUSH HOSTS (mariadb-admin flush-hosts) and raise max_connect_errors"
			}
			return "the server refused before the login: see its message"
		}
		switch a.Outcome {
		case OutcomeNoGreeting:
			return "the server accepted but said nothing within the timeout: it may be overloaded, stuck in a reverse DNS lookup of this client (skip_name_resolve), or not a database"
		case OutcomeWrongProtocol:
			return "another service answers on this port: check the port number"
		case OutcomeClosedBeforeGreeting:
			return "the server closed at once: tcp wrappers, max_connect_errors, or a proxy without a backend; see the server's error log"
		}
	}
	return ""
}
