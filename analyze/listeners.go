package analyze

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/connscope/connscope/event"
)

// Causes from the listener inventory (Options.Listeners, live): who
// listened on the attempt's port of the traced host when the trace started,
// and on which addresses. A refused connect to an address the listener is
// not bound to, a refused connect to a port nobody listens on (when the
// kernel's NO_SOCKET says this host is the server), and a timeout against a
// listener whose accept queue was already full are named precisely.

// listensOn says whether l accepts connects to dst: its own address, or
// every address of its family (:: also takes IPv4 unless the socket is
// IPv6-only, which sock_diag's basic record does not say: assumed not).
func listensOn(l event.Listener, dst netip.Addr) bool {
	a := l.Addr.Addr()
	if a.IsUnspecified() {
		return l.Family == event.FamilyInet6 || dst.Is4()
	}
	return a.Unmap() == dst.Unmap()
}

func listenerName(l event.Listener) string {
	if l.PID == 0 {
		return "a process not found"
	}
	return fmt.Sprintf("%s[%d]", l.Comm, l.PID)
}

func listenerCauses(e *Engine, a *attempt) []string {
	if len(e.opts.Listeners) == 0 || a.unix != "" || !a.server.IsValid() {
		return nil
	}
	port := a.server.Port()
	dst := a.server.Addr().Unmap()
	var onPort []event.Listener
	var match *event.Listener
	for i, l := range e.opts.Listeners {
		if l.Addr.Port() != port {
			continue
		}
		onPort = append(onPort, l)
		if match == nil && listensOn(l, dst) {
			match = &e.opts.Listeners[i]
		}
	}
	noSocket := false
	if d := a.handshakeDrop(); d != nil && d.reason == "NO_SOCKET" && d.received {
		noSocket = true
	}
	switch a.reason {
	case ReasonRSTFromServer, ReasonKernelRST, ReasonECONNREFUSED:
	case ReasonSYNUnanswered, ReasonETIMEDOUT, ReasonKernelListenOverflow, ReasonSYNACKAfterGiveUp:
		if match != nil && match.Backlog > 0 && match.AcceptQueue >= match.Backlog {
			return []string{fmt.Sprintf("When the trace started, %s's accept queue on %s was already full (%d waiting, limit %d): it does not accept() fast enough, or its listen backlog is too small.",
				listenerName(*match), match.Addr, match.AcceptQueue, match.Backlog)}
		}
		return nil
	default:
		return nil
	}
	if match != nil {
		return nil // someone listened there at the start: it went away since, or a firewall reset
	}
	if len(onPort) == 0 {
		if !noSocket {
			return nil // this host may not be the server
		}
		return []string{fmt.Sprintf("Nothing listened on port %d of this host when the trace started (listener inventory), and the kernel dropped the SYN with NO_SOCKET: the server is not running, listens on another port, or accepts only on a unix socket.", port)}
	}
	var addrs []string
	for _, l := range onPort {
		addrs = append(addrs, l.Addr.String())
	}
	who := listenerName(onPort[0])
	c := fmt.Sprintf("%s listens on %s only; this SYN came to %s, where nothing listens, hence the RST", who, strings.Join(addrs, " and "), a.server)
	if noSocket {
		c += " (the kernel: NO_SOCKET)"
	}
	c += ": the server is bound to other addresses (its bind or listen address setting), or the client uses the wrong address."
	var socks []string
	for _, u := range onPort[0].UnixSockets {
		socks = append(socks, u.Path)
	}
	if len(socks) > 0 {
		c += fmt.Sprintf(" It also listens on the unix socket %s.", strings.Join(socks, " and "))
	}
	return []string{c}
}
