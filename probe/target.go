// Package probe answers the MySQL manual's "Can't connect to [local] MySQL
// server" checklist (and its PostgreSQL counterpart) in one run: it resolves
// a target the way the system resolver would, connects to every address
// independently with its own timeout, reads the server's first bytes with
// connscope's protocol decoders, optionally logs in, and, when the server is
// on this host, checks the server process, its listening sockets (from the
// kernel), socket files and option files, ephemeral ports, nftables rules and
// the listen queue. Every check ends ✓, ✗ or "not checked", with its
// evidence and, when it failed, what to do.
//
// It is bounded: one connect per address, at most one login, no retries, no
// other ports or hosts.
package probe

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Protocols a target can name.
const (
	MySQL    = "mysql"
	Postgres = "postgres"
)

// Default ports by protocol.
const (
	DefaultMySQLPort    = 3306
	DefaultPostgresPort = 5432
)

// Target is what to probe: a host and port, or a unix socket path.
type Target struct {
	Protocol string // MySQL or Postgres
	User     string // from the URL (mysql://user@host); --user overrides it
	Database string // from the URL path, "" when none
	Host     string // a name or an address literal; "" for a socket
	Port     int
	Socket   string // a unix socket path (PostgreSQL: the socket file itself)
	// Input is the target as given, for the report.
	Input string
}

// IsSocket reports whether the target is a unix socket path.
func (t Target) IsSocket() bool { return t.Socket != "" }

// Addr is the host literal as an address, if it is one.
func (t Target) Addr() (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(t.Host, "["), "]"))
	return a.Unmap(), err == nil
}

// String is host:port (brackets for IPv6) or the socket path.
func (t Target) String() string {
	if t.IsSocket() {
		return t.Socket
	}
	h := t.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(t.Port)
}

// ParseTarget reads TARGET: host[:port], [v6]:port, mysql://[user@]host[:port][/db],
// postgres://… (postgresql:// too), a unix socket path (starting with / or ./),
// or mysql:///path/to/socket / postgres:///path. proto ("" = by scheme,
// else MySQL) sets the protocol of a bare host or socket.
func ParseTarget(s, proto string) (Target, error) {
	t := Target{Input: s, Protocol: proto}
	if t.Protocol == "" {
		t.Protocol = MySQL
	}
	if t.Protocol != MySQL && t.Protocol != Postgres {
		return t, fmt.Errorf("unknown protocol %q: use mysql or postgres", proto)
	}
	if s == "" {
		return t, fmt.Errorf("empty target: give host[:port], mysql://[user@]host[:port], postgres://[user@]host[:port] or a unix socket path")
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
		t.Socket = s
		t.Port = defaultPort(t.Protocol)
		if t.Protocol == Postgres {
			if p, ok := pgSocketPort(s); ok {
				t.Port = p
			}
		}
		return t, nil
	}
	if i := strings.Index(s, "://"); i >= 0 {
		scheme := strings.ToLower(s[:i])
		switch scheme {
		case "mysql", "mariadb":
			t.Protocol = MySQL
		case "postgres", "postgresql":
			t.Protocol = Postgres
		default:
			return t, fmt.Errorf("target %q: unknown scheme %q: use mysql://, postgres:// or no scheme", s, scheme)
		}
		u, err := url.Parse(s)
		if err != nil {
			return t, fmt.Errorf("target %q: %v", s, err)
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				return t, fmt.Errorf("target: a password in the URL is refused (it would be visible in the process list); give it in %s or at the prompt", passwordEnv(t.Protocol))
			}
			t.User = u.User.Username()
		}
		if u.RawQuery != "" {
			return t, fmt.Errorf("target %q: URL parameters are not supported (use flags: --user, --tls, --timeout)", s)
		}
		if u.Host == "" {
			if u.Path == "" {
				return t, fmt.Errorf("target %q: no host and no socket path", s)
			}
			t.Socket = u.Path
			t.Port = defaultPort(t.Protocol)
			if t.Protocol == Postgres {
				if p, ok := pgSocketPort(u.Path); ok {
					t.Port = p
				}
			}
			return t, nil
		}
		t.Database = strings.TrimPrefix(u.Path, "/")
		return t, t.hostPort(u.Host, s)
	}
	if strings.ContainsAny(s, "/@?") {
		return t, fmt.Errorf("target %q: not a host[:port] (a socket path starts with / or ./; a user goes in a URL: mysql://user@host)", s)
	}
	return t, t.hostPort(s, s)
}

func (t *Target) hostPort(hp, input string) error {
	host, port := hp, ""
	switch {
	case strings.HasPrefix(hp, "["):
		end := strings.Index(hp, "]")
		if end < 0 {
			return fmt.Errorf("target %q: missing ] after an IPv6 address", input)
		}
		host = hp[1:end]
		rest := hp[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return fmt.Errorf("target %q: unexpected %q after ]", input, rest)
			}
			port = rest[1:]
		}
	case strings.Count(hp, ":") == 1:
		i := strings.LastIndex(hp, ":")
		host, port = hp[:i], hp[i+1:]
	case strings.Count(hp, ":") > 1:
		// A bare IPv6 address, no port.
		if _, err := netip.ParseAddr(hp); err != nil {
			return fmt.Errorf("target %q: not an IPv6 address (write [addr]:port for a port)", input)
		}
	}
	if host == "" {
		return fmt.Errorf("target %q: empty host", input)
	}
	t.Host = host
	t.Port = defaultPort(t.Protocol)
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("target %q: port %q is not a number from 1 to 65535", input, port)
		}
		t.Port = p
	}
	if a, ok := t.Addr(); ok {
		t.Host = a.String()
	} else if !validName(host) {
		return fmt.Errorf("target %q: %q is neither an address nor a host name", input, host)
	}
	return nil
}

func validName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func defaultPort(proto string) int {
	if proto == Postgres {
		return DefaultPostgresPort
	}
	return DefaultMySQLPort
}

// pgSocketPort reads the port from a PostgreSQL socket file name (.s.PGSQL.N).
func pgSocketPort(path string) (int, bool) {
	i := strings.LastIndex(path, ".s.PGSQL.")
	if i < 0 {
		return 0, false
	}
	p, err := strconv.Atoi(path[i+len(".s.PGSQL."):])
	return p, err == nil && p > 0 && p < 65536
}

func passwordEnv(proto string) string {
	if proto == Postgres {
		return "PGPASSWORD"
	}
	return "MYSQL_PWD"
}
