package probe

import (
	"fmt"
	"strings"
	"time"
)

// findings sums up: which step fails first, and what clients experience.
func findings(r *Result, o Options) []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == Fail {
			s := fmt.Sprintf("✗ %s: %s", c.Title, firstOr(c.Evidence))
			if c.Fix != "" {
				s += " → " + c.Fix
			}
			out = append(out, s)
		}
	}
	out = append(out, clientWait(r)...)
	if r.Target.Protocol == MySQL && strings.EqualFold(r.Target.Host, "localhost") {
		out = append(out, "MySQL and MariaDB clients treat the host localhost as the unix socket, not TCP (use 127.0.0.1 for TCP); the probe connected over TCP to what localhost resolves to, and the socket files check covers the socket")
	}
	for _, a := range r.Attempts {
		if a.Outcome == OutcomeOK && a.FirstByte >= r.Timeout/3 && a.FirstByte > 500*time.Millisecond {
			out = append(out, fmt.Sprintf("%s greeted after %s: the connect timeout does not cover it in every client (libmariadb counts it, mysqlnd waits net_read_timeout); a server that greets late is often doing a reverse DNS lookup of the client (skip_name_resolve)", a.Where(), dur(a.FirstByte)))
		}
	}
	return out
}

func firstOr(ev []string) string {
	for _, e := range ev {
		if e != "" {
			return e
		}
	}
	return "see the evidence"
}

// clientWait says what a client with the same timeout experiences when it
// tries the addresses in order, and when it tries only the first.
func clientWait(r *Result) []string {
	if len(r.Attempts) == 0 || r.Target.IsSocket() {
		return nil
	}
	t := dur(r.Timeout)
	var waited time.Duration
	var failed []string
	for i, a := range r.Attempts {
		if a.Outcome == OutcomeOK {
			if i == 0 {
				if len(r.Attempts) > 1 {
					return []string{fmt.Sprintf("the first address in client order (%s) works: clients reach it in %s", a.Where(), dur(a.Connect+a.FirstByte))}
				}
				return nil
			}
			first := r.Attempts[0]
			return []string{
				fmt.Sprintf("a client that tries addresses in order (libmariadb, libpq) with a %s timeout waits %s (%s) before reaching %s",
					t, dur(waited), strings.Join(failed, ", "), a.Where()),
				fmt.Sprintf("a client that tries only the first address (PHP's mysqlnd stream layer) fails: %s %s", first.Where(), first.Outcome),
			}
		}
		w := a.Total
		if w > r.Timeout && !a.Connected() {
			w = r.Timeout
		}
		waited += w
		failed = append(failed, fmt.Sprintf("%s %s after %s", a.Where(), a.Outcome, dur(w)))
	}
	if len(r.Attempts) > 1 {
		return []string{fmt.Sprintf("no address works: a client that tries them in order gives up after %s (%s)", dur(waited), strings.Join(failed, ", "))}
	}
	return nil
}
