package probe

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
)

// Process is a server process found in /proc.
type Process struct {
	PID     int
	PPID    int
	Comm    string
	UID     int
	User    string
	SameNet bool // in this network namespace
	// NetUnknown: /proc/PID/ns/net is not readable (another user's process, not root).
	NetUnknown bool
	Args       []string // --defaults-file and friends only (no other arguments are kept)
	Inodes     map[uint64]bool
	Security   string // AppArmor/SELinux label of the process, "" when none
}

// TCPListener is a listening TCP socket from sock_diag.
type TCPListener struct {
	Addr    netip.AddrPort
	Backlog uint32 // the listen() backlog (sock_diag's wqueue for a listener)
	Queue   uint32 // connections waiting in the accept queue now (rqueue)
	Inode   uint32
	PID     int
	Comm    string
}

// UnixListener is a listening unix socket with a path.
type UnixListener struct {
	Path    string
	Backlog uint32
	Queue   uint32
	Inode   uint32
	PID     int
	Comm    string
}

// Kernel is what the kernel says about this network namespace's sockets.
type Kernel struct {
	TCP      []TCPListener
	Unix     []UnixListener
	Sockets  []*netlink.Socket // every TCP socket (all states), IPv4 and IPv6
	Err      string            // why sock_diag could not be read
	ProcRoot string
}

// serverNames are the process names of each protocol's server.
var serverNames = map[string][]string{
	MySQL:    {"mysqld", "mariadbd", "mysqld_safe"},
	Postgres: {"postgres", "postmaster"},
}

// findProcesses scans procRoot for the protocol's server processes, and maps
// every socket inode to its process (for listeners of other programs).
func findProcesses(procRoot, protocol string) (procs []Process, owner map[uint64]*Process) {
	owner = map[uint64]*Process{}
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, owner
	}
	selfNet, _ := os.Readlink(filepath.Join(procRoot, "self", "ns", "net"))
	names := serverNames[protocol]
	var all []*Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil {
			continue
		}
		p := &Process{PID: pid, Comm: strings.TrimSpace(string(comm)), Inodes: map[uint64]bool{}}
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"), 10, 64)
			if err == nil {
				p.Inodes[ino] = true
			}
		}
		all = append(all, p)
		isServer := false
		for _, n := range names {
			if p.Comm == n {
				isServer = true
			}
		}
		if !isServer {
			continue
		}
		st, _ := os.ReadFile(filepath.Join(dir, "status"))
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					p.UID, _ = strconv.Atoi(f[0])
				}
			}
			if v, ok := strings.CutPrefix(line, "PPid:"); ok {
				p.PPID, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		p.User = strconv.Itoa(p.UID)
		if u, err := user.LookupId(p.User); err == nil {
			p.User = u.Username
		}
		ns, err := os.Readlink(filepath.Join(dir, "ns", "net"))
		p.NetUnknown = err != nil
		p.SameNet = ns != "" && ns == selfNet
		if cl, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			args := bytes.Split(bytes.TrimRight(cl, "\x00"), []byte{0})
			for i, a := range args {
				s := string(a)
				if (s == "-D" || s == "-c") && i+1 < len(args) {
					// postgres -D DATADIR, -c config_file=…
					p.Args = append(p.Args, s+" "+string(args[i+1]))
					continue
				}
				for _, k := range []string{"--defaults-file=", "--defaults-extra-file=", "--socket=", "--port=", "--bind-address=", "--bind_address=", "--skip-networking", "--skip_networking", "--datadir=", "--config-file="} {
					if strings.HasPrefix(s, k) {
						p.Args = append(p.Args, s)
					}
				}
			}
		}
		p.Security = securityLabel(dir)
		procs = append(procs, *p)
	}
	for _, p := range all {
		for ino := range p.Inodes {
			owner[ino] = p
		}
	}
	// PostgreSQL: keep the postmaster (its parent is not a postgres).
	if protocol == Postgres {
		pids := map[int]bool{}
		for _, p := range procs {
			pids[p.PID] = true
		}
		var top []Process
		for _, p := range procs {
			if !pids[p.PPID] {
				top = append(top, p)
			}
		}
		procs = top
	}
	return procs, owner
}

// securityLabel reads the process's AppArmor or SELinux label.
func securityLabel(dir string) string {
	for _, f := range []string{"attr/apparmor/current", "attr/current"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil {
			s := strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
			if s != "" {
				return s
			}
		}
	}
	return ""
}

// readKernel lists this namespace's TCP sockets (all states) and listening
// unix sockets from sock_diag, and names each listener's process.
func readKernel(owner map[uint64]*Process) Kernel {
	var k Kernel
	var errs []string
	for _, fam := range []uint8{syscall.AF_INET, syscall.AF_INET6} {
		socks, err := netlink.SocketDiagTCP(fam)
		if err != nil {
			errs = append(errs, "sock_diag tcp: "+err.Error())
			continue
		}
		k.Sockets = append(k.Sockets, socks...)
	}
	for _, s := range k.Sockets {
		if s.State != tcpListen {
			continue
		}
		a, _ := netip.AddrFromSlice(s.ID.Source)
		l := TCPListener{Addr: netip.AddrPortFrom(a.Unmap(), s.ID.SourcePort), Backlog: s.WQueue, Queue: s.RQueue, Inode: s.INode}
		if p := owner[uint64(s.INode)]; p != nil {
			l.PID, l.Comm = p.PID, p.Comm
		}
		k.TCP = append(k.TCP, l)
	}
	us, err := netlink.UnixSocketDiagInfo()
	if err != nil {
		errs = append(errs, "sock_diag unix: "+err.Error())
	}
	for _, u := range us {
		if u.DiagMsg == nil || u.DiagMsg.State != tcpListen || u.Name == nil || unixDiagName(*u.Name) == "" {
			continue
		}
		l := UnixListener{Path: unixDiagName(*u.Name), Inode: u.DiagMsg.INode}
		if u.Queue != nil {
			l.Queue, l.Backlog = u.Queue.RQueue, u.Queue.WQueue
		}
		if p := owner[uint64(u.DiagMsg.INode)]; p != nil {
			l.PID, l.Comm = p.PID, p.Comm
		}
		k.Unix = append(k.Unix, l)
	}
	k.Err = strings.Join(errs, "; ")
	return k
}

const (
	tcpEstablished = 1
	tcpTimeWait    = 6
	tcpListen      = 10
)

var tcpStateNames = map[uint8]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
	7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
}

// netstatCounter reads one TcpExt counter from /proc/net/netstat.
func netstatCounter(procRoot, name string) (uint64, bool) {
	f, err := os.Open(filepath.Join(procRoot, "net", "netstat"))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var header []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if header == nil {
			header = fields
			continue
		}
		for i, h := range header {
			if h == name && i < len(fields) {
				v, err := strconv.ParseUint(fields[i], 10, 64)
				return v, err == nil
			}
		}
		return 0, false
	}
	return 0, false
}

// unixDiagName cleans UNIX_DIAG_NAME as the netlink package returns it:
// the attribute with its padding (and, seen with v1.3.1, bytes of the next
// attribute) after the path's end. A path ends at its first NUL; an abstract
// name (leading NUL) is shown as @name.
func unixDiagName(s string) string {
	prefix := ""
	if strings.HasPrefix(s, "\x00") {
		prefix, s = "@", s[1:]
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return ""
	}
	return prefix + s
}
