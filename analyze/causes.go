package analyze

import (
	"fmt"
	"time"

	"github.com/connscope/connscope/analyze/dns"
)

// misleadingErrno is said wherever a client library is known to print the
// wrong reason for what the wire shows.
const misleadingErrno = "Trust the wire over the client's message: client libraries print misleading errnos (MariaDB's client reports 115, EINPROGRESS, for a refused or timed-out non-blocking connect)."

// causesFor explains an attempt's outcome in plain words, each cause tied
// to what a person should check. It is keyed on the attempt's Reason;
// the facts it quotes are the attempt's own.
func causesFor(e *Engine, a *attempt) []string {
	server := a.serverName()
	port := a.server.Port()
	var c []string
	switch a.reason {
	case ReasonECONNREFUSEDUnix, ReasonUnixOtherErrno:
		return []string{
			fmt.Sprintf("A stale socket file: %s exists but no server accepts on it (the server died, was restarted with another socket path, or runs in another mount namespace). Start the server, or fix the socket path (socket= in [mysqld] and [client]).", a.unix),
		}
	case ReasonEAGAINUnix:
		return []string{"The server's listen backlog on the socket is full (back_log): the server is not accepting fast enough."}
	case ReasonRSTFromServer, ReasonKernelRST, ReasonECONNREFUSED, ReasonECONNRESET:
		c = append(c,
			fmt.Sprintf("Nothing listens on port %d of %s: the server is not running, listens on another port, or only on other addresses (bind_address, skip_networking, IPv4-only vs IPv6). Check `ss -ltnp` on the server.", port, a.server.Addr()),
			"Or a firewall rejects with a TCP reset (nft/iptables `reject with tcp reset`).",
			misleadingErrno)
	case ReasonICMPPortUnreachable, ReasonICMPAdminProhibited, ReasonICMPProtocolUnreachable:
		who := fmt.Sprintf("%s (a router or firewall on the path)", a.icmpFrom)
		if a.icmpFrom == a.server.Addr() {
			who = fmt.Sprintf("the server host %s itself (a host with nothing listening answers with RST, so this is its firewall)", a.icmpFrom)
		}
		c = append(c,
			fmt.Sprintf("A firewall REJECTs the connection with an ICMP error: the answer came from %s. Check its nft/iptables rules for port %d (`reject with icmp port-unreachable / admin-prohibited`).", who, port))
	case ReasonNoARPReply, ReasonICMPHostUnreachable, ReasonICMPNetUnreachable, ReasonICMPTimeExceeded, ReasonICMPParameterProblem, ReasonICMPOther, ReasonEHOSTUNREACH, ReasonKernelOtherErrno:
		switch {
		case a.icmp != nil && a.icmpFrom == a.icmp.QuotedSrc:
			c = append(c, fmt.Sprintf("No ARP/NDP reply for %s (or its gateway): the host is down, the address is wrong, or it is on another segment/VLAN. Check `ip neigh` on the client.", a.server.Addr()))
		case a.icmp != nil:
			c = append(c,
				fmt.Sprintf("Router %s could not deliver to %s (%s): the host is down or not answering ARP/NDP on its segment, or a route is missing on the way. Check the routes and whether the host is up.", a.icmpFrom, a.server.Addr(), icmpName(a.icmp)))
		default:
			c = append(c, fmt.Sprintf("No ARP/NDP reply for %s or the next hop: the host is down, the address is wrong, or it is on another segment/VLAN. Check `ip neigh` and `ip route get %s` on the client.", a.server.Addr(), a.server.Addr()))
		}
	case ReasonLoginUnanswered:
		c = append(c, "The server did not answer the login in time: a slow authentication plugin (PAM, LDAP), a server stalled on locks or I/O, or packet loss after connecting. Check the server's error log and processlist.")
	case ReasonSYNACKAfterGiveUp:
		c = append(c, "The SYN-ACK came only after the client had given up: the path or the server is very slow to answer (overloaded accept queue, heavy loss). Check the RTT and the server's listen backlog.")
	case ReasonSYNUnanswered, ReasonETIMEDOUT:
		c = append(c,
			fmt.Sprintf("Packets to %s are silently dropped: a firewall DROP rule (on the server, a cloud security group, or in between), or the host is down/does not exist (no one answers, not even with an ICMP error). Check the firewall rules for port %d and that the address is right.", server, port))
		if a.kErrno == errETIMEDOUT {
			c = append(c, "The kernel itself gave up after net.ipv4.tcp_syn_retries retransmissions (about 2 minutes by default); set a connect timeout in the client.")
		} else {
			c = append(c, "The client's connect timeout (e.g. --connect-timeout, MYSQLI_OPT_CONNECT_TIMEOUT) decides when it gives up; with several addresses each one costs a full timeout.")
		}
		c = append(c, misleadingErrno)
	case ReasonNoServerBytes:
		c = append(c,
			"TCP connected but the server sent nothing: the server process is hung or overloaded (accept backlog, thread limits), blocked resolving the client's address (reverse DNS with skip_name_resolve=OFF and a slow DNS), or it is a proxy/load balancer whose backend is down.",
			"The client gave up waiting for the greeting: its connect timeout also covers reading the greeting (\"Lost connection ... at 'reading initial communication packet'\", error 2013).")
	case ReasonServerSpokeLate, ReasonGreetingLate, ReasonErrLate:
		c = append(c,
			"The server greeted only after the client had given up. Typical of a reverse DNS lookup of the client's address on the server: set skip_name_resolve=ON (and use IP-based grants), or fix the PTR records/DNS the server uses. Also possible: an overloaded server (thread creation, thread cache).",
			"If the delay is expected, raise the client's connect timeout.")
	case ReasonServerClosedSilent, ReasonServerClosedPartial, ReasonECONNRESETConnected:
		c = append(c,
			"The server accepted the TCP connection and closed it without a word: host-based access control (tcp_wrappers/hosts.deny), a proxy or load balancer with no healthy backend, a server shutting down or out of resources (file descriptors, memory: check its error log), or a non-MySQL service that closes on unexpected clients.")
	case ReasonErrAtGreeting, ReasonErrBeforeLogin, ReasonErrAfterLogin, ReasonAccessDenied:
		if a.mysql != nil {
			c = append(c, errorCauses(a.mysql.ErrorCode, a.client.Addr().String())...)
		}
	case ReasonServerClosedLogin:
		c = append(c, "The server dropped the connection during the login without an answer: check its error log (crash, aborted connection, max_allowed_packet, an authentication plugin failing).")
	case ReasonServerClosedGreeting, ReasonErrAtGreetingCut:
		c = append(c, "The server closed the connection after its greeting, before the client logged in: its connect_timeout expired while the client stalled (a TLS setup problem on the client?), or the server is shutting down. Check the server's error log for 'Aborted connection'.")
	case ReasonTLSNotOffered:
		c = append(c, "The client requires TLS (e.g. --ssl, --ssl-verify-server-cert, MYSQLI_CLIENT_SSL) but the server does not offer it: configure ssl_cert/ssl_key (and ssl_ca) on the server (check SHOW VARIABLES LIKE 'have_ssl'), or stop requiring TLS on the client.")
	case ReasonTLSAlert, ReasonTLSNotTLS, ReasonTLSClosed, ReasonTLSStalled:
		c = append(c, "The TLS handshake failed: the server's certificate is not trusted or does not match the host name (ssl-ca, ssl-verify-server-cert), no common TLS version or cipher (tls_version, ssl_cipher), or the account requires a client certificate (REQUIRE X509/SSL). The server's error log and the client's message name the side that refused.")
	case ReasonNotMySQLBanner, ReasonClientSilentToBanner:
		c = append(c, fmt.Sprintf("Something other than MySQL/MariaDB listens on %s (it sent %q): the wrong port or host in the client's configuration, or a port forward/proxy pointing at the wrong service.", server, a.banner))
	case ReasonENOENT:
		c = append(c, fmt.Sprintf("No socket file at %s: the server is not running, or it uses another socket path (socket= in [mysqld] vs [client], or /run/mysqld vs /var/run/mysqld); or connect over TCP instead (-h 127.0.0.1). Clients report this as error 2002.", a.unix))
	case ReasonEACCESUnix:
		c = append(c, fmt.Sprintf("The process may not connect to %s: the socket's directory needs search (x) permission and the socket write (w) permission for the client's user, or an LSM (AppArmor/SELinux) denies it.", a.unix))
	case ReasonEACCES:
		c = append(c, "connect() was refused locally (EACCES/EPERM) before any packet: a local firewall OUTPUT rule, a cgroup/BPF connect hook, SELinux/AppArmor policy, or (with ICMPv6) an administratively-prohibited answer.")
	case ReasonENETUNREACH, ReasonEHOSTUNREACHRoute:
		c = append(c, fmt.Sprintf("The client host has no route to %s: check `ip route get %s` on the client (a missing default route, or an IPv6 address in DNS on a host without IPv6 connectivity).", a.server.Addr(), a.server.Addr()))
	case ReasonEADDRNOTAVAIL, ReasonEADDRINUSE:
		c = append(c, "No free local port for this destination (EADDRNOTAVAIL): the ephemeral ports are used up, typically by many connections in TIME_WAIT that the client closed first. Widen net.ipv4.ip_local_port_range, reuse connections (pooling, persistent connections), or enable net.ipv4.tcp_tw_reuse.")
	default:
		switch a.reason.Outcome() {
		case Incomplete:
			c = append(c, "The capture ended before this attempt finished: capture for longer (start before the client connects, stop after it reports).")
		case OK:
			if !a.firstSrvData.IsZero() && a.connected() && a.firstSrvData.Sub(a.handshakeDone()) >= time.Second {
				c = append(c, "The greeting was slow: reverse DNS of the client on the server (skip_name_resolve=OFF) or an overloaded server; close to the client's connect timeout this turns into failures.")
			}
		}
	}
	return c
}

// errorCauses explains a server ERR code.
func errorCauses(code uint16, client string) []string {
	switch code {
	case 1040:
		return []string{"The server is at max_connections (one more is kept for SUPER/CONNECTION ADMIN): check SHOW STATUS LIKE 'Threads_connected' and 'Max_used_connections'; raise max_connections or find the client that leaks or hoards connections (pool sizes)."}
	case 1129:
		return []string{fmt.Sprintf("The server's host cache blocked %s after max_connect_errors consecutive failed connects: run FLUSH HOSTS (or mariadb-admin flush-hosts; TRUNCATE performance_schema.host_cache on MySQL 8), raise max_connect_errors, and find what makes connects from this host fail (health checks that connect and drop).", client)}
	case 1130:
		return []string{fmt.Sprintf("No account matches this client host: the grants have user@host entries that do not include %s as the server sees it (after NAT/proxies; by name when skip_name_resolve is off). Check SELECT user,host FROM mysql.user and create the account for the right host pattern.", client)}
	case 1045:
		return []string{"Wrong password, or no account for this user@host (the server may have matched another host entry, e.g. an anonymous ''@'localhost'). Check the credentials and SELECT user,host,plugin FROM mysql.user; the server's error log names the account it tried."}
	case 1044:
		return []string{"The account logged in but has no privileges on the requested database: GRANT the needed privileges ON db.* TO the user@host, or connect to another database."}
	case 1698:
		return []string{"The account uses unix_socket/auth_socket authentication (or needs a password that was not given): log in over the unix socket as the matching OS user, or give the account a password-based plugin."}
	case 1251, 1524:
		return []string{"The client does not support the account's authentication plugin (or the server does not have it loaded): update the client/connector, or change the account's plugin (e.g. caching_sha2_password vs mysql_native_password)."}
	case 1862, 1820:
		return []string{"The account's password has expired: set a new one (ALTER USER ... PASSWORD EXPIRE NEVER / IDENTIFIED BY)."}
	case 3118, 4151:
		return []string{"The account is locked: ALTER USER ... ACCOUNT UNLOCK."}
	case 1203, 1226:
		return []string{"The account hit its per-user limits (max_user_connections or MAX_USER_CONNECTIONS / MAX_CONNECTIONS_PER_HOUR): check the account's resource limits and the client's connection use."}
	case 1049:
		return []string{"The database the client asked for does not exist: check the database name in the client's configuration."}
	case 1053:
		return []string{"The server is shutting down: wait for the restart, or check why it is stopping."}
	case 3159:
		return []string{"The server requires TLS (require_secure_transport=ON) and the client connected without it: enable TLS in the client."}
	}
	return []string{fmt.Sprintf("The server refused the connection with error %d: see its message and the server's error log.", code)}
}

// unresolvedExplanation explains a connect whose lookups all failed.
func unresolvedExplanation(c *connectState) (evidence, causes []string) {
	var nx, servfail, refused, unanswered, nodata bool
	for _, q := range c.queries {
		evidence = append(evidence, q.describe())
		switch {
		case !q.answered:
			unanswered = true
		case q.rcode == dns.RcodeNXDomain:
			nx = true
		case q.rcode == dns.RcodeServFail:
			servfail = true
		case q.rcode == dns.RcodeRefused:
			refused = true
		case q.rcode == dns.RcodeSuccess:
			nodata = true
		}
	}
	if nx {
		causes = append(causes, fmt.Sprintf("The name %q does not exist in DNS (NXDOMAIN): check the host name in the client's configuration (typo, missing domain or search domain in /etc/resolv.conf) and the DNS zone.", c.name))
	}
	if nodata {
		causes = append(causes, "The name exists but has no address records of the type asked (NOERROR, no data): add the A/AAAA record, or check the client's address family settings.")
	}
	if servfail {
		causes = append(causes, "The DNS server failed to resolve the name (SERVFAIL): its upstream servers are unreachable, the zone's servers are broken, or DNSSEC validation failed.")
	}
	if refused {
		causes = append(causes, "The DNS server refused to answer (REFUSED): it does not serve this client or this zone; check the nameserver in /etc/resolv.conf.")
	}
	if unanswered {
		causes = append(causes, "The DNS server never answered: it is down or unreachable, a firewall drops DNS (UDP/TCP port 53), or /etc/resolv.conf points to the wrong server. The client waits timeout × attempts (resolv.conf options) before failing.")
	}
	return evidence, causes
}
