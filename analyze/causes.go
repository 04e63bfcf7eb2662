package analyze

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/analyze/proto"
)

// The causes: what a person should check, per reason (reasonWords holds
// each reason's; these are shared, or the connect's). Like the evidence
// they read only the finding and the public model (words.go).

// untriedCauses explains a failed connect that left resolved addresses
// untried: what the wire shows (which attempt failed how, how many
// addresses were left), and a client's behaviour only where it is
// verified: after a refusal every client verified so far tries the next
// address; after a timeout it depends on the client (the protocol's
// AfterTimeout, for a known client process).
func untriedCauses(attempts []*Attempt, untried []string) []string {
	last := attempts[len(attempts)-1]
	how := "failed (" + string(last.Outcome) + ")"
	switch last.Outcome {
	case Refused:
		how = "was refused"
	case Timeout:
		how = "timed out"
	case NoGreeting:
		how = "connected but never answered"
	case Unreachable, NoRoute:
		how = "was unreachable"
	}
	f := last.Facts
	if f == nil {
		f = &Facts{}
	}
	w := newWordCtx(last, f)
	// Appended in one buffer, one string made of it (not fmt.Sprintf of
	// parts made each on its own).
	var buf [256]byte
	b := append(buf[:0], "The client stopped after the "...)
	b = append(append(append(b, ordinal(len(attempts))...), " address ("...), w.addr()...)
	b = append(append(append(b, ") "...), how...), "; it had "...)
	b = append(appendPlural(b, len(untried), "more address", "more addresses"), " ("...)
	b = append(appendJoin(b, untried, ", "), ") it never tried."...)
	out := make([]string, 1, 2) // room for the advice below
	out[0] = string(b)
	switch last.Outcome {
	case Refused:
		out = append(out, "After a refusal the clients verified so far all try the next address: this client stopped on its own (it tries one address only, or was given one). Fix or remove the refused address's record, or the listener there.")
	case Timeout:
		said := false
		if p := protocolNamed(w.f.Intended); p != nil && p.AfterTimeout != nil && last.Comm != "" {
			if v := p.AfterTimeout(last.Comm); v != "" {
				out = append(out, v)
				said = true
			}
		}
		if !said {
			out = append(out, "Clients differ after a timeout: some try the next address, some stop. Fix or remove the address that does not answer (e.g. a stale AAAA record, or a broken IPv6 path).")
		}
	default:
		out = append(out, "Fix or remove the failing address's record, or what makes it fail.")
	}
	return out
}

// causesOf is the attempt's causes: the protocol session's for its
// reasons, else the reason's, then the advice of the protocol the attempt
// was meant for.
func causesOf(w wordCtx) []string {
	at := w.at
	if p := protocolNamed(w.f.Protocol); p != nil && p.Causes != nil {
		if c := p.Causes(at.Reason.String(), protoInfoOf(at), (*attemptClient)(at)); c != nil {
			return append(slices.Clip(c), kernelCauses(w)...) // words_kernel.go; the protocol's slice is copied if anything is added
		}
	}
	var c []string
	ws, ok := wordingOf(at.Reason)
	if ws.wrongBanner { // (wrongBanner(at.Reason), without its lookups by name)
		ws, ok = wordingOf(ReasonClientSilentToBanner) // the same causes: another service listens
	}
	if ok && ws.causes != nil {
		c = ws.causes(w)
	} else {
		c = defaultCauses(w)
	}
	c = append(c, kernelCauses(w)...) // words_kernel.go
	if p := protocolNamed(w.f.Intended); p != nil && p.ConnCauses != nil {
		c = append(c, p.ConnCauses(at.Reason.String(), w.target())...)
	}
	return c
}

// refusedMemo keeps refusedCauses by server (Attempt.Server).
var refusedMemo wordMemo[string, []string]

// The causes shared by several reasons.
var (
	refusedCauses = func(w wordCtx) []string {
		// Made once per server (they read only its text): every refused
		// connect of a busy trace words them.
		h := memoHash(0, w.at.Server)
		if c, ok := refusedMemo.get(h, w.at.Server); ok {
			return c
		}
		var port [8]byte // appended: no string of it
		addr, p := w.addrPort()
		c := []string{
			"Nothing listens on port " + string(strconv.AppendUint(port[:0], uint64(p), 10)) + " of " + addr + ": the server is not running, listens on another port, or only on other addresses (loopback only, IPv4-only vs IPv6). Check `ss -ltnp` on the server.",
			"Or a firewall rejects with a TCP reset (nft/iptables `reject with tcp reset`).",
		}
		refusedMemo.put(h, w.at.Server, c) // (len == cap: an append copies)
		return c
	}
	rejectCauses = func(w wordCtx) []string {
		// Appended in one buffer, one string made of it: every rejected
		// attempt of a big capture words this.
		var buf [320]byte
		from := w.icmp().From
		addr, port := w.addrPort()
		b := append(buf[:0], "A firewall REJECTs the connection with an ICMP error: the answer came from "...)
		if from == addr {
			b = append(append(append(b, "the server host "...), from...), " itself (a host with nothing listening answers with RST, so this is its firewall)"...)
		} else {
			b = append(append(b, from...), " (a router or firewall on the path)"...)
		}
		b = strconv.AppendUint(append(b, ". Check its nft/iptables rules for port "...), uint64(port), 10)
		return one(string(append(b, " (`reject with icmp port-unreachable / admin-prohibited`)."...)))
	}
	hostCauses = func(w wordCtx) []string {
		switch ic := w.f.ICMP; {
		case ic != nil && ic.FromClient:
			return one("No ARP/NDP reply for " + w.addr() + " (or its gateway): the host is down, the address is wrong, or it is on another segment/VLAN. Check `ip neigh` on the client.")
		case ic != nil:
			return one("Router " + ic.From + " could not deliver to " + w.addr() + " (" + w.icmpDesc() + "): the host is down or not answering ARP/NDP on its segment, or a route is missing on the way. Check the routes and whether the host is up.")
		}
		addr := w.addr()
		return one("No ARP/NDP reply for " + addr + " or the next hop: the host is down, the address is wrong, or it is on another segment/VLAN. Check `ip neigh` and `ip route get " + addr + "` on the client.")
	}
	droppedCauses = func(w wordCtx) []string {
		// Concatenated, not fmt.Sprintf: every unanswered attempt of a big
		// capture words this.
		// Room for the second cause and a protocol's advice (MySQL's
		// two sentences, which causesOf appends): no copy when they are
		// appended; the port appended (no string of it).
		var port [8]byte
		c := make([]string, 1, 4)
		c[0] = "Packets to " + w.server() + " are silently dropped: a firewall DROP rule (on the server, a cloud security group, or in between), or the host is down/does not exist (no one answers, not even with an ICMP error). Check the firewall rules for port " + string(strconv.AppendUint(port[:0], uint64(w.port()), 10)) + " and that the address is right."
		if w.f.Errno == "ETIMEDOUT" {
			return append(c, "The kernel itself gave up after net.ipv4.tcp_syn_retries retransmissions (about 2 minutes by default); set a connect timeout in the client.")
		}
		return append(c, "The client's connect timeout decides when it gives up; with several addresses each one that does not answer costs a full timeout.")
	}
	closedSilentCauses = said("The server accepted the TCP connection and closed it without a word: host-based access control (tcp_wrappers/hosts.deny), a proxy or load balancer with no healthy backend, a server shutting down or out of resources (file descriptors, memory: check its error log), or a service of another protocol that closes on unexpected clients.")
	tlsCauses          = said("The TLS handshake failed: the server's certificate is not trusted or does not match the host name, no common TLS version or cipher, or the server requires a client certificate. The server's log and the client's message name the side that refused.")
	noRouteCauses      = func(w wordCtx) []string {
		addr := w.addr()
		return one(fmt.Sprintf("The client host has no route to %s: check `ip route get %s` on the client (a missing default route, or an IPv6 address in DNS on a host without IPv6 connectivity).", addr, addr))
	}
	noPortCauses = said("No free local port for this destination (EADDRNOTAVAIL): the ephemeral ports are used up, typically by many connections in TIME_WAIT that the client closed first. Widen net.ipv4.ip_local_port_range, reuse connections (pooling, persistent connections), or enable net.ipv4.tcp_tw_reuse.")
	staleCauses  = func(w wordCtx) []string {
		return one(fmt.Sprintf("A stale socket file: %s exists but no server accepts on it (the server died, was restarted with another socket path, or runs in another mount namespace). Start the server, or fix the socket path the server and the client use.", w.server()))
	}
)

// said is words that never change, made once: the causes that are the
// same for every attempt of their reason are this one slice each time,
// not a new one per attempt (an allocation each). It is clipped, so that
// an append to it copies; nothing changes words in place (concat shares
// them too).
func said(sentences ...string) func(wordCtx) []string {
	words := slices.Clip(sentences)
	return func(wordCtx) []string { return words }
}

// The default causes (defaultCauses), made once (as said's).
var (
	incompleteCauses = said("The capture ended before this attempt finished: capture for longer (start before the client connects, stop after it reports).")
	slowFirstCauses  = said("The server's first message was slow: a reverse DNS lookup of the client on the server, or an overloaded server; close to the client's connect timeout this turns into failures.")
)

// defaultCauses are the causes of a reason without its own: by outcome.
func defaultCauses(w wordCtx) []string {
	switch w.at.Reason.Outcome() {
	case Incomplete:
		return incompleteCauses(w)
	case OK:
		// A late accept explains it (serverCauses says so).
		if w.f.ServerFirstMS != nil && *w.f.ServerFirstMS >= lateFirstMS && !acceptExplainsFirst(w.f) {
			return slowFirstCauses(w)
		}
	}
	return nil
}

// unresolvedWords explains a connect whose lookups of name all failed.
func unresolvedWords(name string, qs []Query) (evidence, causes []string) {
	var f lookupFailures
	if len(qs) > 0 {
		evidence = make([]string, 0, len(qs)) // one sentence per lookup: made once, not grown
	}
	for i := range qs {
		q := &qs[i]
		evidence = append(evidence, describeQuery(q))
		switch {
		case q.LatencyMS == nil:
			f.unanswered = true
		case q.Rcode == dns.RcodeString(dns.RcodeNXDomain):
			f.nx = true
		case q.Rcode == dns.RcodeString(dns.RcodeServFail):
			f.servfail = true
		case q.Rcode == dns.RcodeString(dns.RcodeRefused):
			f.refused = true
		case q.Rcode == dns.RcodeString(dns.RcodeSuccess):
			f.nodata = true
		}
	}
	if f.nx {
		// Appended in one buffer (the name quoted into it), one string
		// made of it.
		var buf [256]byte
		b := proto.AppendQuote(append(buf[:0], "The name "...), name)
		causes = append(causes, string(append(b, " does not exist in DNS (NXDOMAIN): check the host name in the client's configuration (typo, missing domain or search domain in /etc/resolv.conf) and the DNS zone."...)))
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
