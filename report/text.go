package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/connscope/connscope/analyze"
)

// outcomeOrder is the order outcomes are listed in summaries: success first,
// then failures roughly in the order a connect meets them.
var outcomeOrder = []analyze.Outcome{
	analyze.OK,
	analyze.Unresolved,
	analyze.SocketMissing,
	analyze.PermissionDenied,
	analyze.NoRoute,
	analyze.NoLocalPort,
	analyze.Refused,
	analyze.Unreachable,
	analyze.Timeout,
	analyze.NoGreeting,
	analyze.GreetingLate,
	analyze.ClosedBeforeGreeting,
	analyze.WrongProtocol,
	analyze.Rejected,
	analyze.TLSFailed,
	analyze.AuthFailed,
	analyze.Incomplete,
}

// outcomeMeaning says in a few plain words what an outcome means, for the
// heading of a failed connect; the engine's evidence and causes follow.
var outcomeMeaning = map[analyze.Outcome]string{
	analyze.OK:                   "connected",
	analyze.Refused:              "the connection was refused (RST): nothing listens on that address and port",
	analyze.Unreachable:          "an ICMP error answered the connection request (SYN): a firewall rejected it, or a router (or the client host itself) could not deliver it",
	analyze.Timeout:              "nothing answered the connection request (SYN) before the client gave up",
	analyze.NoGreeting:           "TCP connected, but the server never sent its greeting",
	analyze.GreetingLate:         "the server's greeting came only after the client had given up",
	analyze.ClosedBeforeGreeting: "TCP connected, then the server closed the connection without a word",
	analyze.Rejected:             "the server answered with an error instead of letting the client in",
	analyze.WrongProtocol:        "something other than " + expectedProtocols() + " answered on that port",
	analyze.AuthFailed:           "the server refused the login (user, password, host or database)",
	analyze.TLSFailed:            "the TLS handshake failed",
	analyze.Incomplete:           "the capture ended before the attempt did",
	analyze.Unresolved:           "the name lookup failed, so there was no address to connect to",
	analyze.SocketMissing:        "the unix socket does not exist",
	analyze.PermissionDenied:     "the system denied permission to connect (EACCES/EPERM)",
	analyze.NoRoute:              "there is no route to the server",
	analyze.NoLocalPort:          "no local port or address was free for the connection",
}

// expectedProtocols names the protocols whose server speaks first where
// they are expected (proto.Protocol.WrongBanner): "MySQL".
func expectedProtocols() string {
	var names []string
	for _, p := range analyze.Protocols() {
		if p.ServerFirst && p.WrongBanner != "" {
			names = append(names, p.Name)
		}
	}
	return strings.Join(names, " or ")
}

// connectMeaning is outcomeMeaning for c, made to follow what was seen
// where one outcome has several reasons. An unreachable attempt without a
// SYN on the wire was not answered by anyone: the client host found no
// ARP/NDP reply for the server or its next hop, so the SYN never left (the
// analysis concludes that from the client's own ICMP error, or from
// connect() failing with EHOSTUNREACH while nothing was captured; without a
// packet capture an unseen ICMP error is the other possibility, hence
// "most likely").
func connectMeaning(c *analyze.Connect) string {
	if c.Outcome == analyze.Unreachable && len(c.Attempts) > 0 {
		if last := c.Attempts[len(c.Attempts)-1]; last != nil && last.Outcome == analyze.Unreachable && last.SYNCount == 0 {
			return "no SYN was seen on the wire: most likely no ARP/NDP reply for the server or its next hop, so the SYN never left the client host"
		}
	}
	if c.Reason == analyze.ReasonRequestUnanswered {
		// A client-first service: no greeting was due, the request went
		// unanswered.
		return "TCP connected and the client sent its request, but the server never answered"
	}
	return outcomeMeaning[c.Outcome]
}

// sortedOutcomes lists the outcomes present in m in outcomeOrder, then any
// outcome this package does not know yet, alphabetically.
func sortedOutcomes(m map[analyze.Outcome]int) []analyze.Outcome {
	var out []analyze.Outcome
	known := map[analyze.Outcome]bool{}
	for _, o := range outcomeOrder {
		known[o] = true
		if m[o] > 0 {
			out = append(out, o)
		}
	}
	var extra []analyze.Outcome
	for o, n := range m {
		if !known[o] && n > 0 {
			extra = append(extra, o)
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
	return append(out, extra...)
}

// countList renders "3: ok 1, timeout 2".
func countList(total int, m map[analyze.Outcome]int) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(total))
	for i, o := range sortedOutcomes(m) {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", o, m[o])
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// processCell names the process behind an attempt: "comm[pid]".
func processCell(pid uint32, comm string) string {
	var buf [64]byte
	return string(appendProcess(buf[:0], pid, comm))
}

// appendProcess appends processCell(pid, comm).
func appendProcess(b []byte, pid uint32, comm string) []byte {
	b = append(b, comm...)
	if pid != 0 {
		b = append(strconv.AppendUint(append(b, '['), uint64(pid), 10), ']')
	}
	return b
}

func attemptProcess(c *analyze.Connect, a *analyze.Attempt) string {
	var buf [64]byte
	return string(appendAttemptProcess(buf[:0], c, a))
}

// appendAttemptProcess appends the process behind attempt a of c: its
// own, or else the connect's.
func appendAttemptProcess(b []byte, c *analyze.Connect, a *analyze.Attempt) []byte {
	if a != nil && (a.PID != 0 || a.Comm != "") {
		return appendProcess(b, a.PID, a.Comm)
	}
	return appendProcess(b, c.PID, c.Comm)
}

// appendOutcome appends an outcome and the errno that came with it:
// "unreachable (EHOSTUNREACH)".
func appendOutcome(b []byte, o analyze.Outcome, errno string) []byte {
	b = append(b, o...)
	if errno != "" {
		b = append(append(append(b, " ("...), errno...), ')')
	}
	return b
}

// target names where a connect went: "name:port", or the first attempt's
// server when no name was seen.
func target(c *analyze.Connect) string {
	var buf [96]byte
	return string(appendTarget(buf[:0], c))
}

// appendTarget appends target(c).
func appendTarget(b []byte, c *analyze.Connect) []byte {
	if c.Name != "" {
		b = append(b, c.Name...)
		if c.Port != 0 {
			b = strconv.AppendUint(append(b, ':'), uint64(c.Port), 10)
		}
		return b
	}
	for _, a := range c.Attempts {
		if a != nil && a.Server != "" {
			return append(b, a.Server...)
		}
	}
	if c.Port != 0 {
		return strconv.AppendUint(append(b, "port "...), uint64(c.Port), 10)
	}
	return append(b, '?')
}

// appendJoin appends ss separated by sep (strings.Join's text).
func appendJoin(b []byte, ss []string, sep string) []byte {
	for i, s := range ss {
		if i > 0 {
			b = append(b, sep...)
		}
		b = append(b, s...)
	}
	return b
}

// failed reports whether a connect did not end in success.
func failed(c *analyze.Connect) bool { return c.Outcome != analyze.OK }
