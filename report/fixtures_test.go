package report

import (
	"math"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/mysql"
)

// Hand-built connects covering every outcome, shaped like what the engine
// produces for the lab's failure scenarios. Addresses are documentation
// ranges (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32).

var base = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func ms(v float64) *float64 { return &v }

func at(msOff float64) time.Time { return base.Add(time.Duration(msOff * float64(time.Millisecond))) }

func boolp(b bool) *bool { return &b }

func i32p(v int32) *int32 { return &v }

// ev builds an event at msOff from the connect origin, for an attempt that
// started at attemptStart (both in ms from base).
func ev(attemptStart, msOff float64, what string) analyze.Event {
	// Rounded to the nanosecond like the engine's figures, without the
	// float noise of the subtraction.
	return analyze.Event{TMS: math.Round((msOff-attemptStart)*1e6) / 1e6, What: what, Time: at(msOff)}
}

func fixtureConnects() []*analyze.Connect {
	tlsOffered := boolp(true)
	okLogin := &analyze.Connect{
		Client: "198.51.100.7", Name: "db.example", Port: 3306, Outcome: analyze.OK,
		Start: at(0), DurationMS: 4.83,
		Resolution: []analyze.Query{{
			Name: "db.example", Type: "A", Server: "192.0.2.53:53", Rcode: "NOERROR",
			Answers: []string{"192.0.2.10"}, LatencyMS: ms(0.412), Start: at(0),
		}},
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40001", Server: "192.0.2.10:3306", Outcome: analyze.OK,
			SYNCount: 1, RTTMS: ms(0.213), GreetingDelayMS: ms(1.304), DurationMS: 4.2, Start: at(0.6),
			Events: []analyze.Event{
				ev(0.6, 0.6, "SYN"),
				ev(0.6, 0.813, "SYN-ACK (RTT 0.213 ms)"),
				ev(0.6, 2.117, "greeting: MariaDB 5.5.5-10.11.6-MariaDB-0+deb12u1, connection id 42, TLS offered"),
				ev(0.6, 2.9, "login as user 'app'"),
				ev(0.6, 4.8, "OK: logged in"),
			},
			App: mysqlApp(&mysql.Info{Protocol: 10, ServerVersion: "5.5.5-10.11.6-MariaDB-0+deb12u1", ConnectionID: 42,
				AuthPlugin: "mysql_native_password", TLSOffered: tlsOffered, User: "app"}),
			Evidence: []string{"greeting after 1.30 ms, login OK"},
		}},
		Evidence: []string{"greeting after 1.30 ms, login OK"},
	}
	refused := &analyze.Connect{
		Client: "198.51.100.7", Port: 3307, Outcome: analyze.Refused, Start: at(10), DurationMS: 0.09,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40002", Server: "192.0.2.10:3307", Outcome: analyze.Refused,
			SYNCount: 1, DurationMS: 0.09, Start: at(10),
			Events:   []analyze.Event{ev(10, 10, "SYN"), ev(10, 10.09, "RST from server 192.0.2.10")},
			Evidence: []string{"the server host answered the SYN with RST after 0.090 ms"},
			Causes:   []string{"the server is not running, or listens on another port", "MySQL has skip_networking or bind_address set to another address"},
		}},
		Evidence: []string{"the server host answered the SYN with RST after 0.090 ms"},
		Causes:   []string{"the server is not running, or listens on another port", "MySQL has skip_networking or bind_address set to another address"},
	}
	unreachable := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.Unreachable, Start: at(20), DurationMS: 0.31,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40003", Server: "192.0.2.11:3306", Outcome: analyze.Unreachable,
			SYNCount: 1, DurationMS: 0.31, Start: at(20),
			Events:   []analyze.Event{ev(20, 20, "SYN"), ev(20, 20.31, "ICMP port unreachable (type 3 code 3) from 192.0.2.1")},
			Evidence: []string{"ICMP port unreachable from 192.0.2.1 quoting this SYN"},
			Causes:   []string{"a firewall rejects connections to this port (nftables reject)"},
		}},
		Evidence: []string{"ICMP port unreachable from 192.0.2.1 quoting this SYN"},
		Causes:   []string{"a firewall rejects connections to this port (nftables reject)"},
	}
	timeout6 := &analyze.Attempt{
		Client: "[2001:db8::7]:40004", Server: "[2001:db8::10]:3306", Outcome: analyze.Timeout,
		SYNCount: 3, DurationMS: 3000.4, Start: at(31),
		Events: []analyze.Event{
			ev(31, 31, "SYN"), ev(31, 1034.2, "SYN retransmit #1"), ev(31, 2035.0, "SYN retransmit #2"),
			ev(31, 3031.4, "client gave up (RST) after 3.00 s"),
		},
		Evidence: []string{"3 SYNs over 3.00 s, no SYN-ACK, RST or ICMP error", "the client gave up after 3.00 s (its connect timeout)"},
		Causes:   []string{"a firewall drops packets to [2001:db8::10]:3306 silently", "the client's connect timeout (3 s) applies per address: 2 addresses × 3 s"},
	}
	timeout4 := &analyze.Attempt{
		Client: "198.51.100.7:40005", Server: "192.0.2.12:3306", Outcome: analyze.Timeout,
		SYNCount: 3, DurationMS: 3000.2, Start: at(3032),
		Events: []analyze.Event{
			ev(3032, 3032, "SYN"), ev(3032, 4035.1, "SYN retransmit #1"), ev(3032, 6032.2, "client gave up (RST) after 3.00 s"),
		},
		Evidence: []string{"2 SYNs over 3.00 s, no SYN-ACK, RST or ICMP error"},
		Causes:   []string{"a firewall drops packets to 192.0.2.12:3306 silently", "the client's connect timeout (3 s) applies per address: 2 addresses × 3 s"},
	}
	timeout := &analyze.Connect{
		Client: "198.51.100.7", Name: "dual.example", Port: 3306, Outcome: analyze.Timeout, Start: at(30), DurationMS: 6002.2,
		Resolution: []analyze.Query{
			{Name: "dual.example", Type: "AAAA", Server: "192.0.2.53:53", Rcode: "NOERROR", Answers: []string{"2001:db8::10"}, LatencyMS: ms(0.5), Start: at(30)},
			{Name: "dual.example", Type: "A", Server: "192.0.2.53:53", Rcode: "NOERROR", Answers: []string{"192.0.2.12"}, LatencyMS: ms(0.45), Start: at(30.05)},
		},
		Attempts: []*analyze.Attempt{timeout6, timeout4},
		Evidence: timeout4.Evidence,
		Causes:   timeout4.Causes,
	}
	noGreeting := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.NoGreeting, Start: at(7000), DurationMS: 10001,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40006", Server: "192.0.2.13:3306", Outcome: analyze.NoGreeting,
			SYNCount: 1, RTTMS: ms(0.2), DurationMS: 10001, Start: at(7000),
			Events:   []analyze.Event{ev(7000, 7000, "SYN"), ev(7000, 7000.2, "SYN-ACK"), ev(7000, 17001, "client closed (FIN) after 10.0 s without a greeting")},
			Evidence: []string{"TCP connected in 0.200 ms; no server payload in 10.0 s"},
			Causes:   []string{"the server is overloaded or hung (check its threads and the error log)", "the server's reverse DNS lookup of the client is slow (skip_name_resolve)"},
		}},
	}
	late := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.GreetingLate, Start: at(20000), DurationMS: 5002,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40007", Server: "192.0.2.13:3306", Outcome: analyze.GreetingLate,
			SYNCount: 1, RTTMS: ms(0.19), GreetingDelayMS: ms(5001.5), DurationMS: 5002, Start: at(20000),
			Events: []analyze.Event{ev(20000, 20000, "SYN"), ev(20000, 20000.19, "SYN-ACK"),
				ev(20000, 23000.2, "client closed (FIN) after 3.00 s"), ev(20000, 25001.7, "greeting: 10.11.6-MariaDB (after the client gave up)")},
			App:      mysqlApp(&mysql.Info{Protocol: 10, ServerVersion: "5.5.5-10.11.6-MariaDB"}),
			Evidence: []string{"greeting came 5.00 s after the handshake, the client had given up after 3.00 s"},
			Causes:   []string{"the server's reverse DNS lookup of the client is slow (skip_name_resolve)", "the client's connect timeout is shorter than the server's delay"},
		}},
	}
	closed := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.ClosedBeforeGreeting, Start: at(26000), DurationMS: 0.5,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40008", Server: "192.0.2.14:3306", Outcome: analyze.ClosedBeforeGreeting,
			SYNCount: 1, RTTMS: ms(0.1), DurationMS: 0.5, Start: at(26000),
			Events:   []analyze.Event{ev(26000, 26000, "SYN"), ev(26000, 26000.1, "SYN-ACK"), ev(26000, 26000.5, "FIN from server before any payload")},
			Evidence: []string{"the server closed the connection 0.4 ms after the handshake without sending anything"},
			Causes:   []string{"tcp wrappers or a proxy in front of MySQL closes the connection"},
		}},
	}
	rejected1130 := &analyze.Connect{
		Client: "198.51.100.7", Name: "db.example", Port: 3306, Outcome: analyze.Rejected, Start: at(27000), DurationMS: 1.1,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40009", Server: "192.0.2.10:3306", Outcome: analyze.Rejected,
			SYNCount: 1, RTTMS: ms(0.2), GreetingDelayMS: ms(0.7), DurationMS: 1.1, Start: at(27000),
			Events: []analyze.Event{ev(27000, 27000, "SYN"), ev(27000, 27000.2, "SYN-ACK"),
				ev(27000, 27000.9, "ERR 1130 instead of greeting: Host '198.51.100.7' is not allowed to connect to this MariaDB server")},
			App:      mysqlApp(&mysql.Info{ErrorCode: 1130, SQLState: "HY000", ErrorMessage: "Host '198.51.100.7' is not allowed to connect to this MariaDB server"}),
			Evidence: []string{"the server sent ERR 1130 instead of its greeting"},
			Causes:   []string{"no account matches this client host: check the grants (SELECT user, host FROM mysql.user)"},
		}},
	}
	tooMany := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.Rejected, Start: at(27100), DurationMS: 0.9,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40010", Server: "192.0.2.10:3306", Outcome: analyze.Rejected,
			SYNCount: 1, RTTMS: ms(0.2), GreetingDelayMS: ms(0.5), DurationMS: 0.9, Start: at(27100),
			Events:   []analyze.Event{ev(27100, 27100, "SYN"), ev(27100, 27100.2, "SYN-ACK"), ev(27100, 27100.7, "ERR 1040 instead of greeting: Too many connections")},
			App:      mysqlApp(&mysql.Info{ErrorCode: 1040, SQLState: "08004", ErrorMessage: "Too many connections"}),
			Evidence: []string{"the server sent ERR 1040 instead of its greeting"},
			Causes:   []string{"max_connections is reached: check SHOW PROCESSLIST and connection pooling"},
		}},
	}
	wrong := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.WrongProtocol, Start: at(28000), DurationMS: 3.2,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40011", Server: "192.0.2.15:3306", Outcome: analyze.WrongProtocol,
			SYNCount: 1, RTTMS: ms(0.2), GreetingDelayMS: ms(2.9), DurationMS: 3.2, Start: at(28000),
			Events:   []analyze.Event{ev(28000, 28000, "SYN"), ev(28000, 28000.2, "SYN-ACK"), ev(28000, 28003.1, `server spoke first: "SSH-2.0-OpenSSH_9.2p1"`)},
			Evidence: []string{`the server's first bytes are not a MySQL greeting: "SSH-2.0-OpenSSH_9.2p1"`},
			Causes:   []string{"the port belongs to another service (an SSH server): check the host and port"},
		}},
	}
	auth := &analyze.Connect{
		Client: "198.51.100.7", Name: "db.example", Port: 3306, Outcome: analyze.AuthFailed, Start: at(29000), DurationMS: 3.4,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40012", Server: "192.0.2.10:3306", Outcome: analyze.AuthFailed,
			SYNCount: 1, RTTMS: ms(0.2), GreetingDelayMS: ms(1.1), DurationMS: 3.4, Start: at(29000),
			Events: []analyze.Event{ev(29000, 29000, "SYN"), ev(29000, 29000.2, "SYN-ACK"), ev(29000, 29001.3, "greeting: 10.11.6-MariaDB"),
				ev(29000, 29002.0, "login as user 'reporting'"),
				ev(29000, 29003.3, "ERR 1045 (28000): Access denied for user 'reporting'@'client.example' (using password: YES)")},
			App: mysqlApp(&mysql.Info{Protocol: 10, ServerVersion: "5.5.5-10.11.6-MariaDB", ConnectionID: 43, User: "reporting",
				ErrorCode: 1045, SQLState: "28000", ErrorMessage: "Access denied for user 'reporting'@'client.example' (using password: YES)"}),
			Evidence: []string{"ERR 1045 after the login of user reporting"},
			Causes:   []string{"wrong password, or no account 'reporting'@'client.example' (check the grants)"},
		}},
	}
	tlsFailed := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.TLSFailed, Start: at(30000), DurationMS: 2.5,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40013", Server: "192.0.2.10:3306", Outcome: analyze.TLSFailed,
			SYNCount: 1, RTTMS: ms(0.2), GreetingDelayMS: ms(1), DurationMS: 2.5, Start: at(30000),
			Events:   []analyze.Event{ev(30000, 30000, "SYN"), ev(30000, 30000.2, "SYN-ACK"), ev(30000, 30001.2, "greeting: 10.11.6-MariaDB, TLS not offered"), ev(30000, 30002.5, "client closed (FIN): TLS required but not offered")},
			App:      mysqlApp(&mysql.Info{Protocol: 10, ServerVersion: "5.5.5-10.11.6-MariaDB", ConnectionID: 44, TLSOffered: boolp(false)}),
			Evidence: []string{"the client requires TLS; the server's greeting does not offer it"},
			Causes:   []string{"the server has no TLS configured (ssl_cert/ssl_key), or the client demands TLS it need not"},
		}},
	}
	incomplete := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.Incomplete, Start: at(31000), DurationMS: 0.2,
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40014", Server: "192.0.2.10:3306", Outcome: analyze.Incomplete,
			SYNCount: 1, RTTMS: ms(0.2), DurationMS: 0.2, Start: at(31000),
			Events:   []analyze.Event{ev(31000, 31000, "SYN"), ev(31000, 31000.2, "SYN-ACK")},
			Evidence: []string{"the capture ended 0.2 ms into the attempt"},
		}},
	}
	unresolved := &analyze.Connect{
		Client: "198.51.100.7", Name: "nosuch.example", Port: 3306, Outcome: analyze.Unresolved, Start: at(32000), DurationMS: 0.61,
		Resolution: []analyze.Query{
			{Name: "nosuch.example", Type: "A", Server: "192.0.2.53:53", Rcode: "NXDOMAIN", LatencyMS: ms(0.61), Start: at(32000)},
			{Name: "nosuch.example", Type: "AAAA", Server: "[2001:db8::53]:53", Retries: 1, Start: at(32000.1), Error: "ICMP port unreachable from 2001:db8::53"},
			{Name: "nosuch.example", Type: "A", Server: "192.0.2.54:53", Rcode: "NXDOMAIN", LatencyMS: ms(1.2), Start: at(32000.2), Transport: "tcp"},
		},
		Resolver: &analyze.Resolver{Servers: []string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		Evidence: []string{"NXDOMAIN for nosuch.example from 192.0.2.53:53", "AAAA nosuch.example unanswered"},
		Causes:   []string{"the name is misspelt or not in DNS: check the client's host setting and /etc/hosts"},
	}
	socketMissing := &analyze.Connect{
		Client: "unix", Outcome: analyze.SocketMissing, Start: at(33000), DurationMS: 0.01, PID: 4242, Comm: "php",
		Attempts: []*analyze.Attempt{{
			Client: "unix", Server: "/run/mysqld/mysqld.sock", Outcome: analyze.SocketMissing, DurationMS: 0.01, Start: at(33000),
			Events:   []analyze.Event{ev(33000, 33000, "connect() = -ENOENT")},
			Evidence: []string{"connect() to /run/mysqld/mysqld.sock failed with ENOENT"},
			Causes:   []string{"the server is not running, or its socket is elsewhere (socket= in my.cnf)"},
			PID:      4242, Comm: "php", FD: i32p(3), Errno: "ENOENT",
		}},
	}
	permission := &analyze.Connect{
		Client: "unix", Outcome: analyze.PermissionDenied, Start: at(33100), DurationMS: 0.01, PID: 4243, Comm: "mariadb",
		Attempts: []*analyze.Attempt{{
			Client: "unix", Server: "/run/mysqld/mysqld.sock", Outcome: analyze.PermissionDenied, DurationMS: 0.01, Start: at(33100),
			Events:   []analyze.Event{ev(33100, 33100, "connect() = -EACCES")},
			Evidence: []string{"connect() to /run/mysqld/mysqld.sock failed with EACCES"},
			Causes:   []string{"the socket or its directory is not accessible to this user"},
			PID:      4243, Comm: "mariadb", FD: i32p(3), Errno: "EACCES",
		}},
	}
	stale := &analyze.Connect{
		Client: "unix", Outcome: analyze.Refused, Start: at(33200), DurationMS: 0.01, PID: 4244, Comm: "mariadb",
		Attempts: []*analyze.Attempt{{
			Client: "unix", Server: "/tmp/mysql.sock", Outcome: analyze.Refused, DurationMS: 0.01, Start: at(33200),
			Events:   []analyze.Event{ev(33200, 33200, "connect() = -ECONNREFUSED")},
			Evidence: []string{"connect() to /tmp/mysql.sock failed with ECONNREFUSED: nobody listens on the socket"},
			Causes:   []string{"a stale socket file left behind by a server that is no longer running"},
			PID:      4244, Comm: "mariadb", FD: i32p(3), Errno: "ECONNREFUSED",
		}},
	}
	noRoute := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.NoRoute, Start: at(34000), DurationMS: 3010, PID: 4245, Comm: "mariadb",
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7:40015", Server: "192.0.2.99:3306", Outcome: analyze.NoRoute, DurationMS: 3010, Start: at(34000),
			Events:   []analyze.Event{ev(34000, 34000, "connect() = -EINPROGRESS"), ev(34000, 37010, "socket error EHOSTUNREACH (ARP got no answer); no SYN on the wire")},
			Evidence: []string{"EHOSTUNREACH after 3.01 s and no SYN was captured: the neighbour (ARP) lookup failed"},
			Causes:   []string{"192.0.2.99 is down or not on this network"},
			PID:      4245, Comm: "mariadb", FD: i32p(5), Errno: "EHOSTUNREACH",
		}},
	}
	noPort := &analyze.Connect{
		Client: "198.51.100.7", Port: 3306, Outcome: analyze.NoLocalPort, Start: at(38000), DurationMS: 0.02, PID: 4246, Comm: "php",
		Attempts: []*analyze.Attempt{{
			Client: "198.51.100.7", Server: "192.0.2.10:3306", Outcome: analyze.NoLocalPort, DurationMS: 0.02, Start: at(38000),
			Events:   []analyze.Event{ev(38000, 38000, "connect() = -EADDRNOTAVAIL")},
			Evidence: []string{"connect() failed with EADDRNOTAVAIL"},
			Causes:   []string{"the local port range is exhausted (many TIME_WAIT sockets): check net.ipv4.ip_local_port_range"},
			PID:      4246, Comm: "php", FD: i32p(7), Errno: "EADDRNOTAVAIL",
		}},
	}
	return []*analyze.Connect{okLogin, refused, unreachable, timeout, noGreeting, late, closed, rejected1130, tooMany,
		wrong, auth, tlsFailed, incomplete, unresolved, socketMissing, permission, stale, noRoute, noPort}
}

func fixtureSummary(cs []*analyze.Connect) analyze.Summary {
	s := analyze.Summary{Outcomes: map[analyze.Outcome]int{}, Packets: 1234, Malformed: 2, Unsupported: 40, Duplicates: 17, MalformedDNS: 1, Untracked: 3,
		Errors: []string{"lab.pcap: truncated record at packet 1235 (byte offset 98304): the file ends mid-packet; results up to packet 1234 are shown"}}
	for _, c := range cs {
		s.Connects++
		for _, a := range c.Attempts {
			s.Attempts++
			s.Outcomes[a.Outcome]++
		}
	}
	return s
}
