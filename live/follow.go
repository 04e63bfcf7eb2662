package live

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/event"
)

// Following a traced server's listeners (`trace --pid`, `run -- CMD`):
// the connects *to* a traced process are its too. A connection to it has
// no process until the server accept()s it (its SYN, SYN-ACK and ACK come
// first, and a connect it never accepts has none at all), so the pid
// filter would leave it out. The listener inventory (kept current by the
// watcher) says which listening sockets the traced processes hold; the
// addresses those serve (a wildcard listener: every local address of the
// namespace) are followed: packets to and from them are the traced
// process's, and so are the connects to them.
//
// Followed addresses stay followed for the rest of the trace (the
// connects to a server that has exited are still reported), and one is
// known from the watcher's next look after the server started listening
// (inventoryEvery), so a connect in between is missed.

// followed is what is followed: the roots of the traced processes, and
// the server addresses of their listeners.
type followed struct {
	mu        sync.Mutex
	roots     map[uint32]bool // --pid, and run's command (AddPID)
	children  bool            // their descendants too
	announced map[netip.AddrPort]bool
	// served is read without the lock (feed, wanted: the pipeline's
	// goroutine); replaced, never changed, under mu.
	served atomic.Pointer[map[netip.AddrPort]bool]
	// addrs reads the namespace's local addresses (a wildcard listener
	// serves every one of them).
	addrs func() ([]netip.Addr, error)
	// serverPort, when set (eBPF without --port), lets the server side's
	// kernel events of a followed listen port pass the tracer's pid filter
	// (bpf.Tracer.FollowServerPort): the handshake, SYN-ACK retransmits,
	// drops and resets happen in softirq, with no process to filter by.
	// portsGiven holds the ports given to it (under mu).
	serverPort func(uint16) error
	portsGiven map[uint16]bool
}

func newFollowed(pids []uint32, children bool, addrs func() ([]netip.Addr, error)) *followed {
	f := &followed{roots: map[uint32]bool{}, children: children, announced: map[netip.AddrPort]bool{}, addrs: addrs}
	for _, p := range pids {
		f.roots[p] = true
	}
	empty := map[netip.AddrPort]bool{}
	f.served.Store(&empty)
	return f
}

func (f *followed) addRoot(pid uint32) {
	f.mu.Lock()
	f.roots[pid] = true
	f.mu.Unlock()
}

// traced says whether pid is a traced process: a root, or with children
// followed, a descendant of one (by /proc/PID/stat's parent pids).
func (f *followed) traced(pid uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tracedLocked(pid)
}

func (f *followed) tracedLocked(pid uint32) bool {
	for depth := 0; pid > 1 && depth < 64; depth++ {
		if f.roots[pid] {
			return true
		}
		if !f.children {
			return false
		}
		pid = parentPID(pid)
	}
	return false
}

// parentPID is pid's parent (0 when unknown).
func parentPID(pid uint32) uint32 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.FormatUint(uint64(pid), 10), "stat"))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return 0
	}
	n, err := strconv.ParseUint(fields[1], 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// update follows the traced processes' listeners of an inventory, and
// says in one line (notice) which ones it starts following.
func (f *followed) update(ls []event.Listener, notice func(string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var mine []event.Listener
	wildcard := false
	for _, l := range ls {
		if l.NoTCP || l.PID == 0 || !f.tracedLocked(l.PID) {
			continue
		}
		mine = append(mine, l)
		wildcard = wildcard || l.Addr.Addr().IsUnspecified()
	}
	if len(mine) == 0 {
		return
	}
	var local []netip.Addr
	if wildcard {
		var err error
		if local, err = f.addrs(); err != nil {
			notice(fmt.Sprintf("following the traced processes' listeners: reading the namespace's addresses: %v (connects to their wildcard listeners are not followed)", err))
		}
	}
	old := *f.served.Load()
	next := make(map[netip.AddrPort]bool, len(old)+4)
	for k := range old {
		next[k] = true
	}
	var said []string
	for _, l := range mine {
		for _, ap := range servedBy(l, local) {
			next[ap] = true
		}
		if !f.announced[l.Addr] {
			f.announced[l.Addr] = true
			said = append(said, fmt.Sprintf("%s[%d] on %s", l.Comm, l.PID, l.Addr))
		}
	}
	f.served.Store(&next)
	f.followPorts(mine, notice)
	if len(said) > 0 {
		notice("following the listeners of the traced processes (connects to them are reported): " + strings.Join(said, ", "))
	}
}

// followPorts gives the tracer the listen ports of mine it has not had yet
// (under mu), and says when it fails.
func (f *followed) followPorts(mine []event.Listener, notice func(string)) {
	if f.serverPort == nil {
		return
	}
	if f.portsGiven == nil {
		f.portsGiven = map[uint16]bool{}
	}
	for _, l := range mine {
		port := l.Addr.Port()
		if f.portsGiven[port] {
			continue
		}
		f.portsGiven[port] = true
		if err := f.serverPort(port); err != nil {
			notice(fmt.Sprintf("following %s[%d]'s listener %s: %v (its connects are reported without the server kernel's handshake, SYN-ACK retransmits and drops)", l.Comm, l.PID, l.Addr, err))
		}
	}
}

// servedBy lists the addresses a listener accepts connects on: its own,
// or with a wildcard address every local address of its family (:: also
// IPv4's: the socket may not be IPv6-only, which sock_diag does not say).
func servedBy(l event.Listener, local []netip.Addr) []netip.AddrPort {
	a := l.Addr.Addr()
	if !a.IsUnspecified() {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), l.Addr.Port())}
	}
	var out []netip.AddrPort
	for _, la := range local {
		if la.Is4() || l.Family == event.FamilyInet6 {
			out = append(out, netip.AddrPortFrom(la, l.Addr.Port()))
		}
	}
	return out
}

// packet says whether a TCP packet goes to or comes from a followed
// address.
func (f *followed) packet(p *event.Packet) bool {
	if f == nil || p.Proto != event.ProtoTCP {
		return false
	}
	served := *f.served.Load()
	if len(served) == 0 {
		return false
	}
	return served[netip.AddrPortFrom(p.Dst.Unmap(), p.DstPort)] || served[netip.AddrPortFrom(p.Src.Unmap(), p.SrcPort)]
}

// connect says whether a connect went to a followed address.
func (f *followed) connect(c *analyze.Connect) bool {
	served := *f.served.Load()
	if len(served) == 0 {
		return false
	}
	for _, a := range c.Attempts {
		if ap, err := netip.ParseAddrPort(a.Server); err == nil && served[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] {
			return true
		}
	}
	return false
}

// localAddrs reads the local addresses of network namespace ns.
func localAddrs(ns string) func() ([]netip.Addr, error) {
	return func() ([]netip.Addr, error) {
		var h *netlink.Handle
		if err := inNetns(ns, func() (err error) {
			h, err = netlink.NewHandle()
			return err
		}); err != nil {
			return nil, err
		}
		defer h.Close()
		list, err := h.AddrList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return nil, err
		}
		var out []netip.Addr
		for _, a := range list {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
		return out, nil
	}
}
