package analyze

import (
	"fmt"
	"time"
)

// causesFor explains an attempt's outcome in plain words, each cause tied
// to what a person should check. It is keyed on the attempt's Reason;
// the facts it quotes are the attempt's own. A protocol's session
// explains its own reasons (and TLS's) first. The engine's causes say what
// the wire or the kernel shows and name general checks only; the protocol
// the attempt was meant for (intended) adds its own settings.
func causesFor(e *Engine, a *attempt) []string {
	c := neutralCauses(e, a)
	c = append(c, dropCauses(a)...)        // drop.go
	c = append(c, serverCauses(a)...)      // server.go
	c = append(c, listenerCauses(e, a)...) // listeners.go
	if p := e.intended(a); p != nil && p.ConnCauses != nil && (a.sess == nil || a.sess.Causes(a.reason.String()) == nil) {
		c = append(c, p.ConnCauses(a.reason.String(), a.target())...)
	}
	return c
}

// neutralCauses are the engine's causes, or the session's for its reasons.
func neutralCauses(e *Engine, a *attempt) []string {
	server := a.serverName()
	port := a.server.Port()
	if a.sess != nil {
		if c := a.sess.Causes(a.reason.String()); c != nil {
			return c
		}
	}
	reason := a.reason
	if wrongBanner(reason) {
		reason = ReasonClientSilentToBanner // the same causes: another service listens
	}
	var c []string
	switch reason {
	case ReasonECONNREFUSEDUnix, ReasonUnixOtherErrno:
		return []string{
			fmt.Sprintf("A stale socket file: %s exists but no server accepts on it (the server died, was restarted with another socket path, or runs in another mount namespace). Start the server, or fix the socket path the server and the client use.", a.unix),
		}
	case ReasonEAGAINUnix:
		return []string{"The server's listen backlog on the socket is full: the server is not accepting fast enough (or its backlog setting is too small)."}
	case ReasonRSTFromServer, ReasonKernelRST, ReasonECONNREFUSED, ReasonECONNRESET:
		c = append(c,
			fmt.Sprintf("Nothing listens on port %d of %s: the server is not running, listens on another port, or only on other addresses (loopback only, IPv4-only vs IPv6). Check `ss -ltnp` on the server.", port, a.server.Addr()),
			"Or a firewall rejects with a TCP reset (nft/iptables `reject with tcp reset`).")
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
	case ReasonSYNACKAfterGiveUp:
		c = append(c, "The SYN-ACK came only after the client had given up: the path or the server is very slow to answer (overloaded accept queue, heavy loss). Check the RTT and the server's listen backlog.")
	case ReasonSYNUnanswered, ReasonETIMEDOUT:
		c = append(c,
			fmt.Sprintf("Packets to %s are silently dropped: a firewall DROP rule (on the server, a cloud security group, or in between), or the host is down/does not exist (no one answers, not even with an ICMP error). Check the firewall rules for port %d and that the address is right.", server, port))
		if a.kErrno == errETIMEDOUT {
			c = append(c, "The kernel itself gave up after net.ipv4.tcp_syn_retries retransmissions (about 2 minutes by default); set a connect timeout in the client.")
		} else {
			c = append(c, "The client's connect timeout decides when it gives up; with several addresses each one that does not answer costs a full timeout.")
		}
	case ReasonNoServerBytes:
		c = append(c,
			"TCP connected but the server sent nothing: the server process is hung or overloaded (accept backlog, thread limits), blocked resolving the client's address (reverse DNS of the client with a slow DNS), or it is a proxy/load balancer whose backend is down.",
			"The client gave up waiting for the server's first message: its connect timeout (or read timeout) covers that wait too.")
	case ReasonRequestUnanswered:
		c = append(c,
			"The server received the client's first bytes (its TCP acknowledged them when the capture shows the ACK) but its application never answered: the service is hung or overloaded (worker pool, backend it waits on), or the client spoke a protocol the server does not (a plain-text request to a TLS port, a wrong path through a proxy). Check the server's logs for this connection.",
			"If the server is merely slow, the client's read timeout decides when it gives up.")
	case ReasonServerSpokeLate:
		c = append(c,
			"The server spoke only after the client had given up. Typical of a reverse DNS lookup of the client's address on the server: turn the server's reverse lookups off, or fix the PTR records/DNS the server uses. Also possible: an overloaded server (thread or process creation).",
			"If the delay is expected, raise the client's connect timeout.")
	case ReasonServerClosedSilent, ReasonServerClosedPartial, ReasonECONNRESETConnected:
		c = append(c,
			"The server accepted the TCP connection and closed it without a word: host-based access control (tcp_wrappers/hosts.deny), a proxy or load balancer with no healthy backend, a server shutting down or out of resources (file descriptors, memory: check its error log), or a service of another protocol that closes on unexpected clients.")
	case ReasonTLSAlert, ReasonTLSNotTLS, ReasonTLSClosed, ReasonTLSStalled:
		// A protocol's session names its own settings (see above).
		c = append(c, "The TLS handshake failed: the server's certificate is not trusted or does not match the host name, no common TLS version or cipher, or the server requires a client certificate. The server's log and the client's message name the side that refused.")
	case ReasonClientSilentToBanner:
		want := "the expected service"
		if p := e.expected(a); p != nil {
			want = p.Name
		}
		c = append(c, fmt.Sprintf("Something other than %s listens on %s (it sent %q): the wrong port or host in the client's configuration, or a port forward/proxy pointing at the wrong service.", want, server, a.banner))
	case ReasonENOENT:
		c = append(c, fmt.Sprintf("No socket file at %s: the server is not running, or it creates its socket in another directory than the client looks in; or connect over TCP instead.", a.unix))
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
				c = append(c, "The server's first message was slow: a reverse DNS lookup of the client on the server, or an overloaded server; close to the client's connect timeout this turns into failures.")
			}
		}
	}
	return c
}

// unresolvedExplanation explains a connect whose lookups all failed.
func unresolvedExplanation(c *connectState) (evidence, causes []string) {
	for _, q := range c.queries {
		evidence = append(evidence, q.describe())
	}
	f := lookupFailuresOf(c)
	if f.nx {
		causes = append(causes, fmt.Sprintf("The name %q does not exist in DNS (NXDOMAIN): check the host name in the client's configuration (typo, missing domain or search domain in /etc/resolv.conf) and the DNS zone.", c.name))
	}
	if f.nodata {
		causes = append(causes, "The name exists but has no address records of the type asked (NOERROR, no data): add the A/AAAA record, or check the client's address family settings.")
	}
	if f.servfail {
		causes = append(causes, "The DNS server failed to resolve the name (SERVFAIL): its upstream servers are unreachable, the zone's servers are broken, or DNSSEC validation failed.")
	}
	if f.refused {
		causes = append(causes, "The DNS server refused to answer (REFUSED): it does not serve this client or this zone; check the nameserver in /etc/resolv.conf.")
	}
	if f.unanswered {
		causes = append(causes, "The DNS server never answered: it is down or unreachable, a firewall drops DNS (UDP/TCP port 53), or /etc/resolv.conf points to the wrong server. The client waits timeout × attempts (resolv.conf options) before failing.")
	}
	return evidence, causes
}
