package live

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/event"
)

// The listener inventory: at the start of a live trace, every TCP socket
// listening on a target port in the traced namespace (sock_diag, through
// github.com/vishvananda/netlink's transport: listenwatch.go), the process holding it (by its socket
// inode in /proc/PID/fd), and the unix sockets that process listens on. It
// tells the analysis who could have accepted a connect, and on which
// address ("listens on 127.0.0.1:3306 only").

const tcpListen = 10 // TCP_LISTEN (include/net/tcp_states.h)

// serverComms are the process names of the servers of the registered
// protocols (analyze.ServerComms): one of them running in the traced
// namespace with no TCP listener at all (only unix sockets) is why nothing
// listens on its port (MySQL's skip_networking).
var serverComms = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range analyze.ServerComms() {
		m[c] = true
	}
	return m
}()

// listenerInventory lists the listeners on ports (every port when empty)
// in the network namespace ns ("" for this one), and the servers there
// (serverComms) that listen on no TCP socket at all.
func listenerInventory(ns string, ports []uint16) ([]event.Listener, error) {
	w, err := newListenWatch(ns, ports)
	if err != nil {
		return nil, err
	}
	defer w.close()
	socks, err := w.listening()
	if err != nil {
		return nil, err
	}
	return inventoryOf(socks, ports), nil
}

// inventoryOf makes the inventory from the namespace's listening sockets
// (listenWatch.listening): the TCP listeners on ports with the processes
// holding them and those processes' unix sockets, and the servers holding
// no TCP listener at all.
func inventoryOf(socks []listenSock, ports []uint16) []event.Listener {
	want := map[uint16]bool{}
	for _, p := range ports {
		want[p] = true
	}
	var out []event.Listener
	inodes := map[uint32][]int{}    // socket inode → indexes in out
	listening := map[uint32]bool{}  // every TCP listener of the namespace
	unixPath := map[uint32]string{} // the stream unix listeners
	for _, s := range socks {
		if !s.addr.IsValid() {
			unixPath[s.inode] = s.path
			continue
		}
		listening[s.inode] = true
		if len(want) > 0 && !want[s.addr.Port()] {
			continue
		}
		inodes[s.inode] = append(inodes[s.inode], len(out))
		out = append(out, event.Listener{
			Family:      s.family,
			Addr:        s.addr,
			AcceptQueue: s.rqueue,
			Backlog:     s.wqueue,
			UID:         s.uid,
		})
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
		return nil
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
	return out
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
	return unixName(raw[:len(raw)-4])
}

// unixName is a UNIX_DIAG_NAME value as the kernel sends it (see diagName).
func unixName(raw string) string {
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
// in one line, and keeps it for the engine's causes; the watcher
// (listenwatch.go) keeps it current while tracing.
func (s *Session) takeInventory() {
	ports := s.opts.Ports
	var keep func(event.Listener) bool
	if len(ports) == 0 {
		ports = analyze.ProtocolPorts()
		if f := s.follow; f != nil {
			// Every port: a traced server's listener is followed on
			// whatever port it has (follow.go); other processes' only
			// on the protocols' ports.
			protoPorts := map[uint16]bool{}
			for _, p := range ports {
				protoPorts[p] = true
			}
			ports = nil
			keep = func(l event.Listener) bool {
				return l.NoTCP || protoPorts[l.Addr.Port()] || (l.PID != 0 && f.traced(l.PID))
			}
		}
	}
	w, err := newListenWatch(s.opts.NetNS, ports)
	var ls []event.Listener
	if err == nil {
		w.keep, w.follow = keep, s.follow
		if w.socks, err = w.listening(); err == nil {
			ls = w.inventory(w.socks)
		}
	}
	switch {
	case err != nil:
		s.opts.Notice(fmt.Sprintf("%v (causes will not name the listeners)", err))
	case len(ls) > 0:
		s.opts.Notice("listening at the start: " + describeListeners(ls))
	}
	s.listeners = ls
	if err != nil {
		if w != nil {
			w.close()
		}
		return
	}
	w.last = ls
	if s.follow != nil {
		s.follow.update(ls, s.opts.Notice)
	}
	s.watch = w
	s.inventories = make(chan inventoryUpdate, 1)
}

// applyInventory hands the engine the inventory the watcher took since the
// last tick, if any (on the pipeline's goroutine).
func (s *Session) applyInventory() {
	select {
	case u := <-s.inventories:
		s.listeners = u.listeners
		s.engine.SetListeners(u.at, u.listeners)
	default:
	}
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
