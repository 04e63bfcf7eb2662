package live

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

// Keeping the listener inventory current while tracing: every
// inventoryEvery the watcher lists the traced namespace's listening
// sockets (TCP and unix, by inode and address) with a sock_diag dump that
// asks the kernel for listening sockets only; when that set changes (a
// server started, stopped, restarted) it takes the full inventory again
// (the owning processes: a /proc scan) and hands it to the engine.
//
// The netlink package's dumps ask for every socket in every state, with
// TCP_INFO: on a server with thousands of connections that is megabytes a
// second to find a few listeners. The kernel's state filter (states =
// 1<<TCP_LISTEN) walks only the listening hash, so the requests here are
// the package's own transport (nl.NetlinkRequest) with a request body that
// sets it, and read the fixed-size replies (struct inet_diag_msg,
// unix_diag_msg) here.

// inventoryEvery is how often the watcher looks for listeners that
// appeared or went away.
const inventoryEvery = 500 * time.Millisecond

// inventoryUpdate is an inventory taken while tracing.
type inventoryUpdate struct {
	at        time.Time
	listeners []event.Listener
}

// listenSock is one listening socket of the namespace: TCP (addr valid)
// or unix stream (path). A new socket on the same address (a restarted
// server) is a new inode.
type listenSock struct {
	inode          uint32
	family         uint16
	addr           netip.AddrPort
	rqueue, wqueue uint32 // accept queue and its limit (TCP)
	uid            uint32
	path           string // unix
}

// listenWatch watches the traced namespace's listeners.
type listenWatch struct {
	sock  *nl.NetlinkSocket // sock_diag, in the traced namespace
	ports []uint16
	socks []listenSock // sorted, at the last look
	last  []event.Listener
	// keep, when set, chooses the listeners of the inventory; follow, when
	// set, follows the traced processes' listeners (follow.go).
	keep   func(event.Listener) bool
	follow *followed
}

// inventory makes the inventory of a look's sockets.
func (w *listenWatch) inventory(socks []listenSock) []event.Listener {
	ls := inventoryOf(socks, w.ports)
	if w.keep == nil {
		return ls
	}
	return slices.DeleteFunc(ls, func(l event.Listener) bool { return !w.keep(l) })
}

// newListenWatch opens the watcher's sock_diag sockets in namespace ns.
func newListenWatch(ns string, ports []uint16) (*listenWatch, error) {
	w := &listenWatch{ports: ports}
	err := inNetns(ns, func() (err error) {
		w.sock, err = nl.Subscribe(unix.NETLINK_INET_DIAG)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listener inventory: opening a sock_diag netlink socket: %w", err)
	}
	return w, nil
}

func (w *listenWatch) close() {
	if w.sock != nil {
		w.sock.Close()
	}
}

// inetDiagReq is struct inet_diag_req_v2 (linux/inet_diag.h) asking for
// listening sockets only.
type inetDiagReq struct{ family uint8 }

func (r inetDiagReq) Len() int { return 56 }

func (r inetDiagReq) Serialize() []byte {
	b := make([]byte, 56)
	b[0], b[1] = r.family, unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(b[4:], 1<<tcpListen) // idiag_states
	return b
}

// unixDiagReq is struct unix_diag_req (linux/unix_diag.h) asking for
// listening sockets only, with their names. (The netlink package's unix
// dump asks for every socket and stops at the first datagram one: it reads
// the message's type where the family is.)
type unixDiagReq struct{}

func (unixDiagReq) Len() int { return 24 }

func (unixDiagReq) Serialize() []byte {
	b := make([]byte, 24)
	b[0] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(b[4:], 1<<tcpListen) // udiag_states
	binary.NativeEndian.PutUint32(b[12:], 1)           // udiag_show: UDIAG_SHOW_NAME
	return b
}

// dump runs one sock_diag dump request on the watcher's socket.
func (w *listenWatch) dump(data nl.NetlinkRequestData, each func(msg []byte)) error {
	req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP) // its own sequence number
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: {Socket: w.sock}}
	req.AddData(data)
	err := req.ExecuteIter(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY, func(msg []byte) bool {
		each(msg)
		return true
	})
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil // a socket came or went during the dump: the next look sees it
	}
	return err
}

// listening lists the namespace's listening sockets, sorted: TCP (struct
// inet_diag_msg: the port at 4, the address at 8, the queues at 56 and 60,
// the uid at 64, the inode at 68) and unix stream (struct unix_diag_msg:
// the type at 1, the inode at 4, then attributes: UNIX_DIAG_NAME).
func (w *listenWatch) listening() ([]listenSock, error) {
	var socks []listenSock
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		err := w.dump(inetDiagReq{family}, func(m []byte) {
			if len(m) < 72 || m[1] != tcpListen {
				return
			}
			n := 16
			if m[0] == unix.AF_INET {
				n = 4
			}
			addr, _ := netip.AddrFromSlice(m[8 : 8+n])
			socks = append(socks, listenSock{
				inode:  binary.NativeEndian.Uint32(m[68:]),
				family: uint16(m[0]),
				addr:   netip.AddrPortFrom(addr, binary.BigEndian.Uint16(m[4:])),
				rqueue: binary.NativeEndian.Uint32(m[56:]),
				wqueue: binary.NativeEndian.Uint32(m[60:]),
				uid:    binary.NativeEndian.Uint32(m[64:]),
			})
		})
		if err != nil {
			return nil, fmt.Errorf("listener inventory: sock_diag dump of listening TCP sockets (family %d): %w", family, err)
		}
	}
	err := w.dump(unixDiagReq{}, func(m []byte) {
		if len(m) < 16 || m[0] != unix.AF_UNIX || m[1] != unix.SOCK_STREAM || m[2] != tcpListen {
			return
		}
		s := listenSock{inode: binary.NativeEndian.Uint32(m[4:])}
		attrs, err := nl.ParseRouteAttr(m[16:])
		if err != nil {
			return
		}
		for _, a := range attrs {
			if a.Attr.Type == 0 { // UNIX_DIAG_NAME
				s.path = unixName(string(a.Value))
			}
		}
		if s.path != "" {
			socks = append(socks, s)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("listener inventory: sock_diag dump of listening unix sockets: %w", err)
	}
	slices.SortFunc(socks, func(a, b listenSock) int {
		if a.inode != b.inode {
			return cmp.Compare(a.inode, b.inode)
		}
		return a.addr.Compare(b.addr)
	})
	return socks, nil
}

// sameSockets compares two looks by the sockets alone (not their queues).
func sameSockets(a, b []listenSock) bool {
	return slices.EqualFunc(a, b, func(x, y listenSock) bool {
		return x.inode == y.inode && x.addr == y.addr && x.path == y.path
	})
}

// check looks at the listeners; when they changed since the last look it
// takes the full inventory, and returns it with changed set when it
// differs from the last one (queue lengths aside).
func (w *listenWatch) check() (ls []event.Listener, changed bool, err error) {
	socks, err := w.listening()
	if err != nil {
		return nil, false, err
	}
	if sameSockets(socks, w.socks) {
		return nil, false, nil
	}
	w.socks = socks
	ls = w.inventory(socks)
	if sameListeners(ls, w.last) {
		return nil, false, nil
	}
	w.last = ls
	return ls, true, nil
}

// sameListeners compares two inventories by who listens where.
func sameListeners(a, b []event.Listener) bool {
	return slices.EqualFunc(a, b, func(x, y event.Listener) bool {
		return x.NoTCP == y.NoTCP && x.Addr == y.Addr && x.PID == y.PID && x.Comm == y.Comm
	})
}

// listenerChanges says what changed between two inventories, in one line.
func listenerChanges(old, now []event.Listener) string {
	in := func(l event.Listener, ls []event.Listener) bool {
		return slices.ContainsFunc(ls, func(m event.Listener) bool {
			return m.NoTCP == l.NoTCP && m.Addr == l.Addr && m.PID == l.PID
		})
	}
	var added, gone []event.Listener
	for _, l := range now {
		if !in(l, old) {
			added = append(added, l)
		}
	}
	for _, l := range old {
		if !in(l, now) {
			gone = append(gone, l)
		}
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "now listening: "+describeListeners(added))
	}
	if len(gone) > 0 {
		parts = append(parts, "no longer listening: "+describeListeners(gone))
	}
	return strings.Join(parts, "; ")
}

// watch looks at the listeners every inventoryEvery until ctx ends,
// sending each changed inventory on updates (the latest replacing one not
// yet taken) and saying what changed.
func (w *listenWatch) watch(ctx context.Context, updates chan inventoryUpdate, notice func(string)) {
	t := time.NewTicker(inventoryEvery)
	defer t.Stop()
	failed := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := time.Now()
		old := w.last
		ls, changed, err := w.check()
		if err != nil {
			if !failed {
				notice(fmt.Sprintf("%v (listeners that appear from now on are not known)", err))
			}
			failed = true
			continue
		}
		if !changed {
			continue
		}
		if s := listenerChanges(old, ls); s != "" {
			notice("listeners changed: " + s)
		}
		if w.follow != nil {
			w.follow.update(ls, notice)
		}
		u := inventoryUpdate{at: at, listeners: ls}
		select {
		case updates <- u:
		default:
			select {
			case <-updates: // not yet taken: replaced
			default:
			}
			updates <- u
		}
	}
}
