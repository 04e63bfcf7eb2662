package live

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/connscope/connscope/event"
)

// portCompleter fills in the local port of a TCP connect's first kernel
// event. Linux moves a socket to SYN_SENT before it picks the local port
// (tcp_v4_connect and tcp_v6_connect call inet_hash_connect after
// tcp_set_state), so that event carries port 0, and neither the analyzer nor
// the process table could tie it to the SYN on the wire: the packets and
// the kernel's view of one attempt would come out as two attempts, the
// packets without a process.
//
// The port shows up soon after, and is filled in while the SYN_SENT event
// still waits in the merger's reorder window (so is the ISN the kernel
// chooses with it, for every SYN_SENT, a bound socket's too):
//
//   - exactly, from the socket's next kernel event (same cookie):
//     connect() returning, SYN_SENT→ESTABLISHED, an RST — microseconds later
//     for a non-blocking connect; with the port comes the ISN
//     (event.Kernel.ISN), which pairs the event with its SYN exactly;
//   - otherwise from the SYN itself, which leaves microseconds after the
//     state change: a SYN from the event's address to its destination within
//     synMatchWindow after it, when exactly one SYN and one waiting event
//     pair up that way (concurrent connects to one server are left to the
//     exact path). This covers a blocking connect() to a server that does
//     not answer, whose next event comes only with the first retransmit.
//
// A later kernel event of the socket corrects a port taken from a SYN.
// Events the merger has released are forgotten: changing them would change
// nothing.
type portCompleter struct {
	byCookie map[uint64]*portless
	// waiting lists the events not completed yet by destination; syns the
	// SYNs seen recently by destination, for events that arrive after them.
	waiting map[netip.AddrPort][]*portless
	syns    map[netip.AddrPort][]*synSeen
	// noGuessUntil stops guesses from SYNs for events up to this time: set
	// while events are being lost, when the socket's own SYN may be the one
	// missing and another connect's the only candidate. The engine pairs
	// such events with their SYN itself, in time order.
	noGuessUntil time.Time

	portlessSlab slab[portless]
	synSlab      slab[synSeen]
}

type portless struct {
	k       *event.Kernel
	guessed bool // port taken from a SYN, not from the socket's own event
	// ported: the event came with its port (a socket bound before
	// connect()); it waits only for the ISN, on no waiting list.
	ported bool
}

type synSeen struct {
	src  netip.AddrPort
	ns   int64 // the SYN's time, ns since 1970
	used bool
}

const (
	// maxPortless bounds the events waiting for their port (a reorder
	// window's worth of connects at a rate far beyond one machine's).
	maxPortless = 1 << 16
	// synMatchWindow is how long after the SYN_SENT state change its SYN
	// may be stamped.
	synMatchWindow = 5 * time.Millisecond
)

func newPortCompleter() *portCompleter {
	return &portCompleter{
		byCookie: map[uint64]*portless{},
		waiting:  map[netip.AddrPort][]*portless{},
		syns:     map[netip.AddrPort][]*synSeen{},
	}
}

// kernel takes a kernel event as it arrives from the tracer.
func (c *portCompleter) kernel(k *event.Kernel) {
	if k.Cookie == 0 || k.Family == event.FamilyUnix || k.SockType == event.SockDgram || !k.Dst.IsValid() {
		return
	}
	if k.Kind == event.StateChange && k.NewState == event.TCPSynSent {
		if old, ok := c.byCookie[k.Cookie]; ok {
			// connect() again on the socket after a failed one: the first
			// event is done waiting (left on its waiting list, a later SYN
			// could still fill in a port, long after it was released).
			c.drop(old)
		}
		if len(c.byCookie) >= maxPortless {
			return
		}
		w := c.portlessSlab.new()
		w.k = k
		c.byCookie[k.Cookie] = w
		if k.Src.Port() != 0 {
			// Bound before connect(): the port is known, the ISN comes
			// with the socket's next event like anyone's.
			w.ported = true
			return
		}
		dst := unmap(k.Dst)
		// Its SYN may have come first (the capture delivers faster).
		// SYNs arrive in time order: find the first one not older than
		// the event, then look through the window after it (however long
		// the list has grown while the kernel events lagged behind).
		var match *synSeen
		list := c.syns[dst]
		kns := k.Time.UnixNano()
		i, _ := slices.BinarySearchFunc(list, kns, func(s *synSeen, ns int64) int { return cmp.Compare(s.ns, ns) })
		for ; i < len(list) && list[i].ns-kns <= int64(synMatchWindow); i++ {
			s := list[i]
			if !s.used && sameSource(k, s.src) {
				if match != nil {
					match = nil // two candidates: leave it to the exact path
					break
				}
				match = s
			}
		}
		if match != nil && c.uniqueFor(dst, match) && k.Time.After(c.noGuessUntil) {
			match.used = true
			setPort(k, match.src)
			w.guessed = true
			return
		}
		c.waiting[dst] = append(c.waiting[dst], w)
		return
	}
	if k.Src.Port() == 0 {
		return
	}
	w, ok := c.byCookie[k.Cookie]
	if !ok {
		return
	}
	setPort(w.k, k.Src)
	// and the ISN the kernel chose with the port (0 if this event has
	// none): the engine pairs the socket with its SYN by it, exactly
	w.k.ISN = k.ISN
	c.drop(w)
}

// uniqueFor says whether no other waiting event could claim syn s.
func (c *portCompleter) uniqueFor(dst netip.AddrPort, s *synSeen) bool {
	for _, w := range c.waiting[dst] {
		if sameSource(w.k, s.src) && inSynWindow(w.k, s.ns) {
			return false
		}
	}
	return true
}

// packet takes a packet as it arrives from the capture.
func (c *portCompleter) packet(p *event.Packet) {
	if p.Proto != event.ProtoTCP || p.TCPFlags&(event.TCPSyn|event.TCPAck|event.TCPRst) != event.TCPSyn {
		return
	}
	dst := netip.AddrPortFrom(p.Dst.Unmap(), p.DstPort)
	s := c.synSlab.new()
	s.src, s.ns = netip.AddrPortFrom(p.Src.Unmap(), p.SrcPort), p.Time.UnixNano()
	var match *portless
	for _, w := range c.waiting[dst] {
		if sameSource(w.k, s.src) && inSynWindow(w.k, s.ns) {
			if match != nil {
				match = nil
				break
			}
			match = w
		}
	}
	if match != nil && p.Time.After(c.noGuessUntil) {
		s.used = true
		setPort(match.k, s.src)
		match.guessed = true
		c.unwait(match)
	}
	if len(c.syns[dst]) < maxPortless {
		c.syns[dst] = append(c.syns[dst], s)
	}
}

func sameSource(k *event.Kernel, src netip.AddrPort) bool {
	a := k.Src.Addr().Unmap()
	return !a.IsValid() || a.IsUnspecified() || a == src.Addr()
}

// inSynWindow says whether a SYN stamped ns may be k's.
func inSynWindow(k *event.Kernel, ns int64) bool {
	d := ns - k.Time.UnixNano()
	return d >= 0 && d <= int64(synMatchWindow)
}

func setPort(k *event.Kernel, src netip.AddrPort) {
	addr := k.Src.Addr()
	if !addr.IsValid() || addr.IsUnspecified() {
		addr = src.Addr()
	}
	k.Src = netip.AddrPortFrom(addr, src.Port())
}

// unwait takes w off the waiting list of its destination.
func (c *portCompleter) unwait(w *portless) {
	dst := unmap(w.k.Dst)
	list := c.waiting[dst]
	for i, x := range list {
		if x == w {
			list = slices.Delete(list, i, i+1)
			break
		}
	}
	// An emptied list stays (until forget) for the next connect to the
	// same destination to reuse: deleting it made one allocation per
	// connect of a connect loop.
	c.waiting[dst] = list
}

func (c *portCompleter) drop(w *portless) {
	delete(c.byCookie, w.k.Cookie)
	if !w.guessed && !w.ported {
		c.unwait(w)
	}
}

// forget drops the events the merger has released (at or before released)
// and the SYNs no waiting event can claim any more.
func (c *portCompleter) forget(released time.Time) {
	for _, w := range c.byCookie {
		if !w.k.Time.After(released) {
			c.drop(w)
		}
	}
	for dst, list := range c.waiting {
		if len(list) == 0 {
			delete(c.waiting, dst)
		}
	}
	rel := released.UnixNano()
	for dst, list := range c.syns {
		keep := list[:0]
		for _, s := range list {
			if s.ns > rel {
				keep = append(keep, s)
			}
		}
		if len(keep) == 0 {
			delete(c.syns, dst)
		} else {
			c.syns[dst] = keep
		}
	}
}

func unmap(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }
