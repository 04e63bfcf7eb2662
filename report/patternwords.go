package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/rollup"
)

// The words of the patterns (package rollup finds them and holds their
// facts; the evidence and causes are made here, when rendering).

// patternTitle is a pattern's one-line headline.
func patternTitle(p rollup.Pattern) string {
	f := p.Facts
	switch p.ID {
	case rollup.AcceptBacklog:
		return fmt.Sprintf("%s accepts connections too slowly: %d of %d attempts needed a SYN retransmit; of the %d handshakes completed, %d got their first bytes late", p.Server, f.SYNRetransmitted, f.Attempts, f.Connected, f.LateFirstBytes)
	case rollup.SYNLoss:
		return fmt.Sprintf("SYNs to %s are lost on the way: %d of %d attempts needed a SYN retransmit, the rest were answered at once", p.Server, f.SYNRetransmitted, f.Attempts)
	case rollup.TooManyConnections:
		return fmt.Sprintf("%s refused %s with error %s (too many connections)", p.Server, plural(f.Failures, "login", "logins"), f.ErrorCode)
	case rollup.HostBlocked:
		return fmt.Sprintf("%s blocked client %s (error 1129) %s", p.Server, p.Client, plural(f.Failures, "time", "times"))
	case rollup.AddressAlwaysFails:
		return fmt.Sprintf("%s of %s failed (%s) in all %d connects that tried it", f.Address, p.Server, f.Outcome, f.Connects)
	case rollup.PortScan:
		return fmt.Sprintf("%s tried %d ports of %s, refused", p.Client, f.Ports, p.Server)
	case rollup.RetryStorm:
		return fmt.Sprintf("%s reconnected to %s %d times right after failures (%.1f/s)", p.Client, p.Server, f.Retries, f.RatePerS)
	case rollup.EphemeralPorts:
		if f.NoLocalPort > 0 {
			return fmt.Sprintf("%s ran out of local ports towards %s: connect() failed with EADDRNOTAVAIL %s", clientOrHost(p.Client), p.Server, plural(f.NoLocalPort, "time", "times"))
		}
		return fmt.Sprintf("%s made %d connects to %s within 60 s, for a local port range of %s", clientOrHost(p.Client), f.PortsInWindow, p.Server, portRangeWords(f.PortRange))
	}
	return p.ID
}

// portRangeWords is "40000-40023 (24 ports)".
func portRangeWords(r string) string {
	var first, last int
	if n, _ := fmt.Sscanf(r, "%d-%d", &first, &last); n == 2 && last >= first {
		return fmt.Sprintf("%s (%d ports)", r, last-first+1)
	}
	return r
}

func quantileWords(q *rollup.Quantiles) string {
	if q == nil || q.P50 == nil {
		return "none"
	}
	return fmt.Sprintf("p50 %s, p90 %s, max %s", analyze.FormatMS(*q.P50), analyze.FormatMS(*q.P90), analyze.FormatMS(*q.Max))
}

// patternEvidence is what the facts show, in words.
func patternEvidence(p rollup.Pattern) []string {
	f := p.Facts
	span := analyze.FormatMS(f.SpanMS)
	switch p.ID {
	case rollup.AcceptBacklog:
		ev := []string{
			fmt.Sprintf("%d of %d attempts to %s needed a SYN retransmit (%d two or more), %d were answered at the first SYN; %d completed the handshake",
				f.SYNRetransmitted, f.Attempts, p.Server, f.SYNs3Plus, f.FirstSYN, f.Connected),
			fmt.Sprintf("the server's first bytes came late (≥ 100 ms after the handshake, or not before the client gave up) in %d of %d: %s",
				f.LateFirstBytes, f.Connected, quantileWords(f.FirstByte)),
		}
		if f.ArrivalGapMS != nil {
			ev = append(ev, fmt.Sprintf("the first bytes of the connections arrived one by one, a median %s apart", analyze.FormatMS(*f.ArrivalGapMS)))
		}
		if l := f.Listen; l != nil {
			ev = append(ev, fmt.Sprintf("the traced host's kernel counted %d accept queue overflows and %d listener drops in all during the trace (TcpExtListenOverflows, TcpExtListenDrops): the accept queue overflowed there", l.ListenOverflows, l.ListenDrops))
		}
		return ev
	case rollup.SYNLoss:
		return []string{
			fmt.Sprintf("%d of %d attempts to %s needed a SYN retransmit (%d needed three or more SYNs); their connect time (first SYN to SYN-ACK): %s",
				f.SYNRetransmitted, f.Attempts, p.Server, f.SYNs3Plus, quantileWords(f.RetransConnect)),
			fmt.Sprintf("%d were answered at the first SYN (RTT %s) and the server's first bytes came promptly (%s): the server application kept up",
				f.FirstSYN, quantileWords(f.RTT), quantileWords(f.FirstByte)),
		}
	case rollup.TooManyConnections:
		ev := []string{fmt.Sprintf("%d of %d attempts to %s got error %s within %s", f.Failures, f.Attempts, p.Server, f.ErrorCode, span)}
		if f.PeakEstablished > 0 {
			ev = append(ev, fmt.Sprintf("at least %d connections to %s were open then (counted from SYN-ACK to FIN/RST as far as the capture followed them)", f.PeakEstablished, p.Server))
		}
		return ev
	case rollup.HostBlocked:
		ev := []string{fmt.Sprintf("%d of %d attempts from %s to %s got error 1129 (host blocked because of many connection errors) within %s", f.Failures, f.Attempts, p.Client, p.Server, span)}
		if f.Aborted > 0 {
			ev = append(ev, fmt.Sprintf("before the first 1129, %s from %s (since its last successful login) completed the TCP handshake and %s closed by the client without a login: aborted handshakes, which the server counts towards max_connect_errors (connects %s)",
				plural(f.Aborted, "connect", "connects"), p.Client, map[bool]string{true: "was", false: "were"}[f.Aborted == 1], numberList(f.AbortedNumbers, f.Aborted)))
		} else {
			ev = append(ev, fmt.Sprintf("the capture holds no connect from %s aborted before the first 1129: the aborted connects the server counted came before the capture began", p.Client))
		}
		return ev
	case rollup.AddressAlwaysFails:
		return []string{
			fmt.Sprintf("%s failed (%s) in each of the %d connects to %s that tried it, within %s", f.Address, f.Outcome, f.Connects, p.Server, span),
			fmt.Sprintf("%s worked for the same name", strings.Join(f.Working, ", ")),
			fmt.Sprintf("each connect lost %s to the failing address", quantileWords(f.Cost)),
		}
	case rollup.PortScan:
		return []string{fmt.Sprintf("%s tried %d distinct ports of %s within %s, each refused (RST)", p.Client, f.Ports, strings.TrimSuffix(strings.TrimSuffix(p.Server, ":*"), "]"), span)}
	case rollup.RetryStorm:
		return []string{fmt.Sprintf("%s started %d attempts to %s within 5 s of a failed one, %.1f per second over %s; %d of its %d attempts failed",
			p.Client, f.Retries, p.Server, f.RatePerS, span, f.Failures, f.Attempts)}
	case rollup.EphemeralPorts:
		rng := "the local port range " + portRangeWords(f.PortRange)
		if f.PortRangeAssumed {
			rng += " (Linux's default, assumed: the capture does not say the host's net.ipv4.ip_local_port_range)"
		}
		var ev []string
		if f.NoLocalPort > 0 {
			ev = append(ev, fmt.Sprintf("%d of %d connects from %s to %s failed in connect() with EADDRNOTAVAIL (no free local port for this destination; nothing reached the wire)", f.NoLocalPort, f.Attempts, clientOrHost(p.Client), p.Server))
		}
		// The window's count is evidence when the range is the host's, or
		// when it alone found the pattern (no EADDRNOTAVAIL seen).
		if f.PortsInWindow > 0 && (f.NoLocalPort == 0 || !f.PortRangeAssumed) {
			ev = append(ev, fmt.Sprintf("up to %d attempts from %s to %s started within 60 s (the TIME_WAIT time, during which a connection the client closed first keeps its local port; one the server closed first frees it at once), against %s", f.PortsInWindow, clientOrHost(p.Client), p.Server, rng))
		}
		return ev
	}
	return nil
}

// patternCauses is what to check, in words: the pattern's own, then what
// the server's protocol adds (its settings; analyze.ProtocolPatternCauses).
func patternCauses(p rollup.Pattern) []string {
	return append(genericPatternCauses(p), analyze.ProtocolPatternCauses(p.Protocol, p.ID)...)
}

func genericPatternCauses(p rollup.Pattern) []string {
	switch p.ID {
	case rollup.AcceptBacklog:
		return []string{
			"The server application is not accepting connections fast enough: its listen (accept) queue overflows, so the kernel drops SYNs or the final ACKs (the clients retransmit their SYN) and each connection waits its turn to be accepted (the late first bytes, one by one). A late greeting here is a connection waiting in the queue, not a delay of its own such as a reverse DNS lookup.",
			"Check on the server: nstat -az TcpExtListenOverflows TcpExtListenDrops (growing counters confirm it), the listen backlog (the server's own backlog setting, net.core.somaxconn, net.ipv4.tcp_max_syn_backlog, SYN cookies), and what stalls the accept loop (a blocked main thread, CPU).",
			"With net.ipv4.tcp_abort_on_overflow=1 the server's kernel answers a completed handshake that finds the accept queue full with a RST (the client sees the server close right after connecting) instead of dropping it; with SYN cookies a handshake can complete on the client while the server keeps nothing, and the client waits for a greeting that never comes.",
		}
	case rollup.SYNLoss:
		return []string{
			"SYNs or SYN-ACKs are lost between client and server: a lossy link, a firewall or load balancer that drops or rate-limits new connections, a conntrack table near full. Each lost SYN costs the client its retransmit timeout (1 s on current Linux, 3 s on older kernels and most other systems).",
			"Check the path's loss (mtr), the firewalls' drop and rate-limit counters, conntrack -S (insert_failed, drop), and the server's TcpExtListenDrops (zero means the server itself did not drop them).",
		}
	case rollup.TooManyConnections:
		return []string{
			"The server's connection limit was reached.",
			"Check who holds the connections, connection pools' sizes and leaks, and long-running or sleeping sessions.",
		}
	case rollup.HostBlocked:
		return []string{
			"The server counted too many connects from this host that were aborted before the login and blocks it.",
			"Find what aborts the connects (a health check that connects and closes, a client timing out in the handshake, network trouble).",
		}
	case rollup.AddressAlwaysFails:
		return []string{
			"One address of the name is dead from this client: an AAAA or A record pointing at a host that does not answer there, or a broken IPv6 (or IPv4) path. Every connect first pays that address's timeout, then falls back.",
			"Fix or remove the record, fix the path, or make the client prefer the working family (/etc/gai.conf, the client's own address-family setting).",
		}
	case rollup.PortScan:
		return []string{
			"A port scan (nmap, a security scanner, a monitoring probe) or a client walking ports: these refusals are not a service failing.",
			"Check which process or host made them, and leave the scanner out (--host) to see the rest of the traffic.",
		}
	case rollup.EphemeralPorts:
		return []string{
			"The client opens a connection per request and closes it first, so each local port stays in TIME_WAIT for 60 s and the ports towards this server run out: reuse connections (a pool), widen net.ipv4.ip_local_port_range, or set net.ipv4.tcp_tw_reuse=1; count them with ss -tan state time-wait on the client.",
		}
	case rollup.RetryStorm:
		return []string{
			"A client reconnecting without backoff after failures: it multiplies the load on a server that is already failing, and can trip max_connect_errors or rate limits.",
			"Fix what fails first (the group of these attempts says what), and make the client back off (exponential, with jitter).",
		}
	}
	return nil
}

// patternCauseForConnect is the cause an example connect gets when it
// belongs to a pattern that explains it (its own per-connect causes would
// contradict the pattern: under accept_backlog a late greeting is a
// connection waiting to be accepted, not a reverse DNS lookup).
func patternCauseForConnect(p rollup.Pattern) string {
	switch p.ID {
	case rollup.AcceptBacklog:
		return fmt.Sprintf("Part of the accept_backlog pattern of %s (see Patterns): the server's accept queue was full, so the kernel dropped this connection's SYNs, reset it right after the handshake (tcp_abort_on_overflow=1) or left it waiting to be accepted; not a fault of this connection alone (such as a reverse DNS lookup on the server, or a firewall dropping it).", p.Server)
	}
	return ""
}

// abortedExplained returns c (connect number n) with, first among the
// causes of its attempts to the server of a host_blocked pattern that
// counts it as an aborted handshake, the pattern's: the connect's own
// causes stay (they may say why the client closed), but the outcome that
// matters is that the server counted it (a copy; c is not changed).
func abortedExplained(n int, c *analyze.Connect, patterns []rollup.Pattern) *analyze.Connect {
	for _, p := range patterns {
		if p.ID != rollup.HostBlocked || !slices.Contains(p.Facts.AbortedNumbers, n) {
			continue
		}
		cause := fmt.Sprintf("Part of the host_blocked pattern of %s (see Patterns): this connect ended without a login, an aborted handshake; the server counted it and %s against max_connect_errors and then blocked %s with error 1129.",
			p.Server, plural(p.Facts.Aborted-1, "other", "others"), p.Client)
		var out *analyze.Connect
		for i, a := range c.Attempts {
			if a == nil || a.Server != p.Server {
				continue
			}
			if out == nil {
				cp := *c
				cp.Attempts = slices.Clone(c.Attempts)
				out = &cp
			}
			ac := *a
			ac.Causes = append([]string{cause}, a.Causes...)
			out.Attempts[i] = &ac
			if i == len(c.Attempts)-1 {
				out.Causes = append([]string{cause}, c.Causes...)
			}
		}
		if out != nil {
			return out
		}
	}
	return c
}

// numberList is "2, 3, 4" (", …" when there were more than listed).
func numberList(nums []int, total int) string {
	parts := make([]string, len(nums))
	for i, n := range nums {
		parts[i] = strconv.Itoa(n)
	}
	s := strings.Join(parts, ", ")
	if total > len(nums) {
		s += ", …"
	}
	return s
}

// slowHandshakeWords starts the engine's evidence that the TCP handshake
// was slow and blames the network (analyze/timing.go).
const slowHandshakeWords = "slow part: the network — the TCP handshake took "

// patternEvidenceFor is an example connect's evidence under pattern p:
// a line that would contradict the pattern is said the pattern's way
// (under accept_backlog a slow handshake is SYNs the server's full accept
// queue dropped, not the network).
func patternEvidenceFor(p rollup.Pattern, evidence []string) []string {
	if p.ID != rollup.AcceptBacklog {
		return evidence
	}
	out := make([]string, 0, len(evidence))
	for _, e := range evidence {
		if rest, ok := strings.CutPrefix(e, slowHandshakeWords); ok {
			e = "the TCP handshake took " + rest + "; the server's full accept queue dropped the SYNs (accept_backlog), not the network"
		}
		out = append(out, e)
	}
	return out
}

// clientOrHost names the client of a pattern ("the client" when the
// attempts had no client address, as a connect() that failed before
// choosing a local port).
func clientOrHost(c string) string {
	if c == "" {
		return "the client"
	}
	return c
}
