package analyze

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/connscope/connscope/event"
)

// Facts from the listener inventory (Options.Listeners, then
// SetListeners, live): who listened on the attempt's port of the traced
// host before the attempt, and on which addresses; worded as causes at rendering (words_kernel.go).
// A refused connect to an address the listener is
// not bound to, a refused connect to a port nobody listens on (when the
// kernel's NO_SOCKET says this host is the server), and a timeout against a
// listener whose accept queue was already full are named precisely.

// ListenerFact is what the listener inventory showed on a failed attempt's
// port (facts.listeners): every listening socket there in the inventory
// in force when the attempt started (none: nothing listened on the port).
type ListenerFact struct {
	Port      uint16          `json:"port"`
	Listeners []ListenerEntry `json:"on_port"`
	// NoTCP are the server processes (mysqld, mariadbd, postgres) of the
	// traced host that listened on no TCP socket at all, only on unix
	// sockets (Addr empty): skip_networking.
	NoTCP []ListenerEntry `json:"no_tcp,omitempty"`
}

// ListenerEntry is one listening socket of the inventory.
type ListenerEntry struct {
	// Addr is its local address (0.0.0.0:3306, [::]:3306, 127.0.0.1:3306);
	// "" for a server with no TCP listener (ListenerFact.NoTCP).
	Addr string `json:"addr,omitempty"`
	// Serves: it accepts connects to the attempt's server address (its own
	// address, or every address of its family).
	Serves bool `json:"serves,omitempty"`
	// Process is the process holding it, "comm[pid]" ("" when none was
	// found); PID its pid.
	Process string `json:"process,omitempty"`
	PID     uint32 `json:"pid,omitempty"`
	// AcceptQueue is how many connections waited for accept(), Backlog the
	// queue's limit (`ss -ltn`'s Recv-Q and Send-Q).
	AcceptQueue uint32 `json:"accept_queue"`
	Backlog     uint32 `json:"backlog"`
	// UnixSockets are the paths of the unix sockets the process listens on.
	UnixSockets []string `json:"unix_sockets,omitempty"`
}

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

// inventory is a listener inventory taken while tracing.
type inventory struct {
	at        time.Time
	listeners []event.Listener
}

// SetListeners hands the engine a listener inventory taken at at, after a
// listener appeared or went away (live: the first one is
// Options.Listeners). An attempt's causes use the inventory in force when
// it started: the last one taken before its first packet or event. Call it
// from the goroutine feeding the engine.
func (e *Engine) SetListeners(at time.Time, ls []event.Listener) {
	e.inventories = append(e.inventories, inventory{at: at, listeners: ls})
}

// listenersAt is the inventory in force at t.
func (e *Engine) listenersAt(t time.Time) []event.Listener {
	ls := e.opts.Listeners
	for i := range e.inventories {
		if e.inventories[i].at.After(t) {
			break
		}
		ls = e.inventories[i].listeners
	}
	return ls
}

// listenerFact records, for a failed TCP attempt of a live trace with a
// listener inventory, the listeners on its port (the causes name who
// listens there, on which addresses, and how full its queue was).
func (e *Engine) listenerFact(a *attempt, r Reason) {
	if (len(e.opts.Listeners) == 0 && len(e.inventories) == 0) || a.unix != "" || !a.server.IsValid() || r.Outcome() == OK {
		return
	}
	listeners := e.listenersAt(a.start)
	port := a.server.Port()
	dst := a.server.Addr().Unmap()
	f := &ListenerFact{Port: port, Listeners: []ListenerEntry{}}
	for _, l := range listeners {
		if !l.NoTCP && l.Addr.Port() != port {
			continue
		}
		le := ListenerEntry{PID: l.PID, AcceptQueue: l.AcceptQueue, Backlog: l.Backlog}
		if !l.NoTCP {
			le.Addr, le.Serves = l.Addr.String(), listensOn(l, dst)
		}
		if l.PID != 0 {
			le.Process = fmt.Sprintf("%s[%d]", l.Comm, l.PID)
		}
		for _, u := range l.UnixSockets {
			le.UnixSockets = append(le.UnixSockets, u.Path)
		}
		if l.NoTCP {
			f.NoTCP = append(f.NoTCP, le)
		} else {
			f.Listeners = append(f.Listeners, le)
		}
	}
	a.facts.Listeners = f
}
