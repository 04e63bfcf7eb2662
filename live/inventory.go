package live

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/event"
)

// The listener inventory: at the start of a live trace, every TCP socket
// listening on a target port in the traced namespace (sock_diag, through
// github.com/vishvananda/netlink), the process holding it (by its socket
// inode in /proc/PID/fd), and the unix sockets that process listens on. It
// tells the analysis who could have accepted a connect, and on which
// address ("listens on 127.0.0.1:3306 only").

const tcpListen = 10 // TCP_LISTEN (include/net/tcp_states.h)

// serverComms are the process names of the servers of the registered
// protocols: one of them running in the traced namespace with no TCP
// listener at all (only unix sockets) is why nothing listens on its port
// (MySQL's skip_networking, PostgreSQL's empty listen_addresses).
var serverComms = map[string]bool{"mysqld": true, "mariadbd": true, "postgres": true, "postmaster": true}

// listenerInventory lists the listeners on ports (every port when empty)
// in the network namespace ns ("" for this one), and the servers there
// (serverComms) that listen on no TCP socket at all.
func listenerInventory(ns string, ports []uint16) ([]event.Listener, error) {
	var h *netlink.Handle
	if err := inNetns(ns, func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_INET_DIAG)
		return err
	}); err != nil {
		return nil, fmt.Errorf("listener inventory: opening a sock_diag netlink socket: %w", err)
	}
	defer h.Close()
	return takeInventory(h, ports)
}

// takeInventory takes the inventory through h, a sock_diag socket of the
// traced namespace.
func takeInventory(h *netlink.Handle, ports []uint16) ([]event.Listener, error) {
	want := map[uint16]bool{}
	for _, p := range ports {
		want[p] = true
	}
	var out []event.Listener
	inodes := map[uint32][]int{} // socket inode → indexes in out
	listening := map[uint32]bool{} // every TCP listener of the namespace
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := h.SocketDiagTCP(family)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("listener inventory: sock_diag dump of TCP sockets (family %d): %w", family, err)
		}
		for _, s := range socks {
			if s.State != tcpListen {
				continue
			}
			listening[s.INode] = true
			if len(want) > 0 && !want[s.ID.SourcePort] {
				continue
			}
			addr, ok := netip.AddrFromSlice(s.ID.Source)
			if !ok {
				continue
			}
			if family == unix.AF_INET {
				addr = addr.Unmap()
			}
			inodes[s.INode] = append(inodes[s.INode], len(out))
			out = append(out, event.Listener{
				Family:      uint16(family),
				Addr:        netip.AddrPortFrom(addr, s.ID.SourcePort),
				AcceptQueue: s.RQueue,
				Backlog:     s.WQueue,
				UID:         s.UID,
			})
		}
	}
	// The namespace's listening unix sockets (stream), by inode.
	unixes, err := h.UnixSocketDiagInfo()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return out, fmt.Errorf("listener inventory: sock_diag dump of unix sockets: %w", err)
	}
	unixPath := map[uint32]string{}
	for _, u := range unixes {
		if u.DiagMsg == nil || u.DiagMsg.State != tcpListen || u.DiagMsg.Type != unix.SOCK_STREAM || u.Name == nil {
			continue
		}
		unixPath[u.DiagMsg.INode] = diagName(*u.Name)
	}

	// The processes holding them, and every socket inode those hold.
	owners := socketOwners(inodes, unixPath, listening)
	procSockets := map[int]map[uint32]bool{}
	for inode, idx := range inodes {
		o, ok := owners.byInode[inode]
		if !ok {
			continue
		}
		for _, i := range idx {
			out[i].PID = uint32(o.pid)
			out[i].Comm = o.comm
		}
		procSockets[o.pid] = owners.sockets[o.pid]
	}
	for _, o := range owners.noTCP {
		out = append(out, event.Listener{NoTCP: true, PID: uint32(o.pid), Comm: o.comm})
		procSockets[o.pid] = owners.sockets[o.pid]
	}
	if len(out) == 0 {
		return nil, nil
	}
	byPID := map[int][]event.UnixListener{}
	for pid, socks := range procSockets {
		for inode := range socks {
			if path, ok := unixPath[inode]; ok {
				byPID[pid] = append(byPID[pid], unixListener(pid, path))
			}
		}
	}
	for i := range out {
		if l := byPID[int(out[i].PID)]; len(l) > 0 {
			sort.Slice(l, func(a, b int) bool { return l[a].Path < l[b].Path })
			out[i].UnixSockets = l
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].NoTCP != out[j].NoTCP {
			return !out[i].NoTCP
		}
		if out[i].NoTCP {
			return out[i].PID < out[j].PID
		}
		if out[i].Addr.Port() != out[j].Addr.Port() {
			return out[i].Addr.Port() < out[j].Addr.Port()
		}
		return out[i].Addr.Addr().Less(out[j].Addr.Addr())
	})
	return out, nil
}

// diagName is a unix socket's name as sock_diag reports it through the
// netlink package: its UNIX_DIAG_NAME value, which that package slices by
// the attribute's length including the 4-byte header (so 4 bytes too many),
// and which may end in the NUL bind() counted. An abstract name (leading
// NUL) is shown with "@", as /proc/net/unix does.
func diagName(raw string) string {
	if len(raw) < 4 {
		return "" // not even the surplus: malformed
	}
	raw = raw[:len(raw)-4]
	if raw == "" {
		return ""
	}
	if raw[0] == 0 {
		return "@" + strings.ReplaceAll(raw[1:], "\x00", "@")
	}
	if i := strings.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	return raw
}

// unixListener describes a unix socket path as process pid sees it (its
// root directory: a container's file system).
func unixListener(pid int, path string) event.UnixListener {
	u := event.UnixListener{Path: path}
	if strings.HasPrefix(path, "@") || path == "" {
		return u
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/proc", strconv.Itoa(pid), "root", path), &st); err != nil {
		return u
	}
	u.Mode = st.Mode & 0o7777
	u.Owner = userName(st.Uid) + ":" + groupName(st.Gid)
	return u
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return strconv.FormatUint(uint64(uid), 10)
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return g.Name
	}
	return strconv.FormatUint(uint64(gid), 10)
}

type owner struct {
	pid  int
	comm string
}

type ownerScan struct {
	byInode map[uint32]owner
	sockets map[int]map[uint32]bool // socket inodes of the processes found
	// noTCP are the servers (serverComms) holding a listening unix socket
	// of the namespace and none of its TCP listeners.
	noTCP []owner
}

// socketOwners finds the processes holding the socket inodes wanted, by
// one scan of /proc/*/fd (what `ss -p` does), and remembers every socket
// each of those processes holds; and the servers that hold one of the
// namespace's listening unix sockets (unixListen) but none of its TCP
// listeners (tcpListen).
func socketOwners(wanted map[uint32][]int, unixListen map[uint32]string, tcpListen map[uint32]bool) ownerScan {
	r := ownerScan{byInode: map[uint32]owner{}, sockets: map[int]map[uint32]bool{}}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return r
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		var mine map[uint32]bool
		found, unixL, tcpL := false, false, false
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if err != nil || !strings.HasPrefix(target, "socket:[") {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]"), 10, 32)
			if err != nil {
				continue
			}
			inode := uint32(n)
			if mine == nil {
				mine = map[uint32]bool{}
			}
			mine[inode] = true
			if _, ok := unixListen[inode]; ok {
				unixL = true
			}
			if tcpListen[inode] {
				tcpL = true
			}
			if _, want := wanted[inode]; want {
				if _, seen := r.byInode[inode]; !seen {
					r.byInode[inode] = owner{pid: pid, comm: procComm(pid)}
					found = true
				}
			}
		}
		if unixL && !tcpL {
			if comm := procComm(pid); serverComms[comm] {
				r.noTCP = append(r.noTCP, owner{pid: pid, comm: comm})
				found = true
			}
		}
		if found {
			r.sockets[pid] = mine
		}
	}
	return r
}

func procComm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// takeInventory takes the listener inventory of the traced namespace for
// the target ports (or the registered protocols' ports), says what it found
// in one line, and keeps it for the engine's causes.
func (s *Session) takeInventory() {
	ports := s.opts.Ports
	if len(ports) == 0 {
		ports = analyze.ProtocolPorts()
	}
	ls, err := listenerInventory(s.opts.NetNS, ports)
	switch {
	case err != nil:
		s.opts.Notice(fmt.Sprintf("%v (causes will not name the listeners)", err))
	case len(ls) > 0:
		s.opts.Notice("listening at the start: " + describeListeners(ls))
	}
	s.listeners = ls
}

// describeListeners renders the inventory in one line for the start notice.
func describeListeners(ls []event.Listener) string {
	var parts []string
	for _, l := range ls {
		who := "a process not found"
		if l.PID != 0 {
			who = fmt.Sprintf("%s[%d]", l.Comm, l.PID)
		}
		s := fmt.Sprintf("%s on %s (accept queue %d/%d)", who, l.Addr, l.AcceptQueue, l.Backlog)
		if l.NoTCP {
			s = who + " on no TCP socket at all"
		}
		for _, u := range l.UnixSockets {
			if u.Owner != "" {
				s += fmt.Sprintf(", unix %s (%s %04o)", u.Path, u.Owner, u.Mode)
			} else {
				s += ", unix " + u.Path
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
