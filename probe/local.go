package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// localChecks runs the checks of this host: the server's process, its
// listeners and socket files when the server is here (or the target is a
// socket), and the client side (ephemeral ports, firewall) always for TCP.
func localChecks(ctx context.Context, r *Result, o Options, addrs []netip.Addr) []Check {
	t := r.Target
	env := o.Env
	if env.ProcRoot == "" {
		env = DefaultEnv(t.Protocol, t.Port)
	}
	var checks []Check
	procs, owner := findProcesses(env.ProcRoot, t.Protocol)
	kern := readKernel(owner)
	var opts OptionFiles
	if t.Protocol == MySQL {
		files := append([]string(nil), env.OptionFiles...)
		for _, p := range procs {
			for _, a := range p.Args {
				if v, ok := strings.CutPrefix(a, "--defaults-file="); ok {
					files = append(files, v)
				} else if v, ok := strings.CutPrefix(a, "--defaults-extra-file="); ok {
					files = append(files, v)
				}
			}
		}
		opts = ReadOptionFiles(files...)
	}
	if r.Local {
		checks = append(checks, processCheck(t, procs), listenersCheck(r, t, procs, kern, addrs, serverOptions(env, procs)))
		checks = append(checks, socketFilesCheck(t, env, procs, kern, opts, o.AsUser))
	} else {
		for _, id := range []string{"process", "listeners", "socket_files"} {
			checks = append(checks, Check{ID: id, Title: localTitle(id, t), Status: Skip, Evidence: []string{"the server is not on this host (no address is local): run the probe on the server host for this check"}})
		}
	}
	if !t.IsSocket() {
		checks = append(checks, ephemeralCheck(env, kern, t, addrs), firewallCheck(ctx, env, t, r.Local))
	}
	if r.Local {
		checks = append(checks, securityCheck(env, procs), listenQueueCheck(env, t, kern, addrs))
	}
	return checks
}

// serverOptions reads each server process's option files once: its
// --defaults-file alone when given (as mysqld does), else the system's,
// plus its --defaults-extra-file.
func serverOptions(env LocalEnv, procs []Process) func(pid int) OptionFiles {
	cache := map[int]OptionFiles{}
	return func(pid int) OptionFiles {
		if of, ok := cache[pid]; ok {
			return of
		}
		var files []string
		own := false
		for _, p := range procs {
			if p.PID != pid {
				continue
			}
			for _, a := range p.Args {
				if v, ok := strings.CutPrefix(a, "--defaults-file="); ok {
					files, own = []string{v}, true
				}
			}
			if !own {
				files = append(files, env.OptionFiles...)
			}
			for _, a := range p.Args {
				if v, ok := strings.CutPrefix(a, "--defaults-extra-file="); ok {
					files = append(files, v)
				}
			}
		}
		of := ReadOptionFiles(files...)
		cache[pid] = of
		return of
	}
}

func localTitle(id string, t Target) string {
	server := "mysqld/mariadbd"
	if t.Protocol == Postgres {
		server = "postgres"
	}
	switch id {
	case "process":
		return "a " + server + " process runs"
	case "listeners":
		return "it listens where the client connects"
	case "socket_files":
		return "socket files"
	}
	return id
}

func processCheck(t Target, procs []Process) Check {
	c := Check{ID: "process", Title: localTitle("process", t)}
	if len(procs) == 0 {
		c.Status = Fail
		c.Evidence = []string{"no process named " + strings.Join(serverNames[t.Protocol], ", ") + " in /proc"}
		if t.Protocol == Postgres {
			c.Fix = "start the server (systemctl start postgresql) and read its log if it exits"
		} else {
			c.Fix = "start the server (systemctl start mariadb / mysql) and read its error log if it exits"
		}
		return c
	}
	c.Status = Pass
	for _, p := range procs {
		ev := fmt.Sprintf("pid %d %s, user %s", p.PID, p.Comm, p.User)
		if p.NetUnknown {
			ev += ", network namespace not readable (not root)"
		} else if !p.SameNet {
			ev += ", in another network namespace"
		}
		if len(p.Args) > 0 {
			ev += ", " + strings.Join(p.Args, " ")
		}
		c.Evidence = append(c.Evidence, ev)
	}
	return c
}

// covers reports whether a listener bound to l accepts connections to a.
func covers(l netip.Addr, a netip.Addr) bool {
	if l == a {
		return true
	}
	if l.IsUnspecified() {
		// [::] accepts IPv4 too unless IPV6_V6ONLY (the servers' default
		// sockets are dual-stack).
		return l.Is6() || a.Is4()
	}
	return false
}

// optsOf returns the option files a server process reads: its
// --defaults-file alone, or the system's files (and --defaults-extra-file).
func listenersCheck(r *Result, t Target, procs []Process, kern Kernel, addrs []netip.Addr, optsOf func(pid int) OptionFiles) Check {
	c := Check{ID: "listeners", Title: localTitle("listeners", t)}
	if kern.Err != "" && len(kern.TCP) == 0 && len(kern.Unix) == 0 {
		c.Status = Skip
		c.Evidence = []string{"cannot read the kernel's socket table: " + kern.Err}
		return c
	}
	serverPIDs := map[int]bool{}
	sameNet, netUnknown := false, false
	for _, p := range procs {
		serverPIDs[p.PID] = true
		sameNet = sameNet || p.SameNet
		netUnknown = netUnknown || p.NetUnknown
	}
	var tcp []TCPListener
	var unix []UnixListener
	for _, l := range kern.TCP {
		if serverPIDs[l.PID] {
			tcp = append(tcp, l)
		}
	}
	for _, l := range kern.Unix {
		if serverPIDs[l.PID] {
			unix = append(unix, l)
		}
	}
	// The target's port first.
	sort.SliceStable(tcp, func(i, j int) bool {
		return int(tcp[i].Addr.Port()) == t.Port && int(tcp[j].Addr.Port()) != t.Port
	})
	for _, l := range tcp {
		c.Evidence = append(c.Evidence, fmt.Sprintf("pid %d %s listens on tcp %s", l.PID, l.Comm, l.Addr))
	}
	for _, l := range unix {
		c.Evidence = append(c.Evidence, fmt.Sprintf("pid %d %s listens on unix %s", l.PID, l.Comm, l.Path))
	}
	// Whoever else listens on the port.
	for _, l := range kern.TCP {
		if int(l.Addr.Port()) == t.Port && !serverPIDs[l.PID] {
			who := "a process this user cannot see"
			if l.PID != 0 {
				who = fmt.Sprintf("pid %d %s", l.PID, l.Comm)
			}
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s listens on tcp %s", who, l.Addr))
		}
	}
	if len(procs) == 0 {
		c.Status = Skip
		c.Evidence = append(c.Evidence, "no server process: nothing of its to look at")
		return c
	}
	if !sameNet && netUnknown {
		c.Status = Skip
		c.Evidence = append(c.Evidence, "not root: the server's network namespace and sockets (/proc/PID/ns/net, /proc/PID/fd) are not readable; run the probe as root to see its listeners")
		return c
	}
	if !sameNet {
		c.Status = Skip
		c.Evidence = append(c.Evidence, "the server runs in another network namespace: its sockets are not in this one's table (run the probe there: ip netns exec NS connscope probe …)")
		return c
	}
	if t.IsSocket() {
		for _, l := range unix {
			if sameFile(l.Path, t.Socket) {
				c.Status = Pass
				return c
			}
		}
		c.Status = Fail
		c.Evidence = append([]string{"no server process listens on " + t.Socket}, c.Evidence...)
		c.Fix = "the server does not listen on " + t.Socket + ": point the client at the socket listed above (socket= in [client]), or set socket= in [mysqld] to this path"
		return c
	}
	tcpOf := map[int]int{}
	for _, l := range tcp {
		tcpOf[l.PID]++
	}
	var noTCP []string
	for _, p := range procs {
		if p.SameNet && tcpOf[p.PID] == 0 && p.Comm != "mysqld_safe" {
			noTCP = append(noTCP, fmt.Sprintf("pid %d %s", p.PID, p.Comm))
		}
	}
	var onPort []TCPListener
	for _, l := range tcp {
		if int(l.Addr.Port()) == t.Port {
			onPort = append(onPort, l)
		}
	}
	if len(onPort) == 0 && len(noTCP) > 0 {
		c.Status = Fail
		c.Evidence = append([]string{strings.Join(noTCP, ", ") + " has no TCP listener"}, c.Evidence...)
		if t.Protocol == Postgres {
			c.Fix = "listen_addresses is empty: set listen_addresses = '*' (or the server's address) in postgresql.conf and restart"
		} else {
			for _, p := range procs {
				if p.SameNet && tcpOf[p.PID] == 0 {
					if o, ok := optsOf(p.PID).Get("skip_networking", "mysqld", "mariadb", "mariadbd", "server"); ok {
						c.Evidence = append(c.Evidence, fmt.Sprintf("pid %d's option file %s:%d: skip-networking", p.PID, o.File, o.Line))
					}
					for _, a := range p.Args {
						if a == "--skip-networking" || a == "--skip_networking" {
							c.Evidence = append(c.Evidence, fmt.Sprintf("pid %d's command line: --skip-networking", p.PID))
						}
					}
				}
			}
			c.Fix = "skip_networking is on: remove skip-networking from the [mysqld] option files (or the server's command line) and restart, or connect over the unix socket"
		}
		return c
	}
	if len(onPort) == 0 {
		c.Status = Fail
		var ports []string
		for _, l := range tcp {
			ports = append(ports, strconv.Itoa(int(l.Addr.Port())))
		}
		c.Evidence = append([]string{fmt.Sprintf("no server process listens on port %d", t.Port)}, c.Evidence...)
		c.Fix = fmt.Sprintf("the server listens on port %s, not %d: connect to that port or set port= in [mysqld] (PostgreSQL: port in postgresql.conf)", strings.Join(uniq(ports), ", "), t.Port)
		return c
	}
	var missed []string
	for _, a := range addrs {
		ok := false
		for _, l := range onPort {
			if covers(l.Addr.Addr(), a) {
				ok = true
			}
		}
		if !ok {
			missed = append(missed, a.String())
		}
	}
	if len(missed) == 0 {
		c.Status = Pass
		return c
	}
	c.Status = Fail
	c.Evidence = append([]string{fmt.Sprintf("no listener on port %d accepts connections to %s", t.Port, strings.Join(missed, ", "))}, c.Evidence...)
	var bound []string
	for _, l := range onPort {
		bound = append(bound, l.Addr.Addr().String())
	}
	if t.Protocol == Postgres {
		c.Fix = fmt.Sprintf("listen_addresses covers only %s: add the address clients use (or '*') in postgresql.conf and restart", strings.Join(bound, ", "))
	} else {
		seen := map[int]bool{}
		for _, l := range onPort {
			if seen[l.PID] {
				continue
			}
			seen[l.PID] = true
			// The command line overrides the option files.
			if arg := bindAddressArg(procs, l.PID); arg != "" {
				c.Evidence = append(c.Evidence, fmt.Sprintf("pid %d's command line: %s", l.PID, arg))
			} else if o, ok := optsOf(l.PID).Get("bind_address", "mysqld", "mariadb", "mariadbd", "server"); ok {
				c.Evidence = append(c.Evidence, fmt.Sprintf("pid %d's option file %s:%d: bind-address = %s", l.PID, o.File, o.Line, o.Value))
			}
		}
		c.Fix = fmt.Sprintf("bind_address is %s: set bind_address = 0.0.0.0 (or the address clients use, or * for IPv6 too) in [mysqld] and restart", strings.Join(bound, ", "))
	}
	return c
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// SocketFile is what a socket path's check found.
type SocketFile struct {
	Path    string
	From    string // "default", "target", "listener" or FILE:LINE [group]
	Exists  bool
	Socket  bool
	Listens string // "yes (pid N)", "no (stale)", "unknown"
	Access  string // "" when the user may connect, else why not
}

func socketFilesCheck(t Target, env LocalEnv, procs []Process, kern Kernel, opts OptionFiles, asUser string) Check {
	c := Check{ID: "socket_files", Title: "socket files"}
	type cand struct{ path, from string }
	var cands []cand
	add := func(p, from string) {
		if p == "" {
			return
		}
		for _, c := range cands {
			if c.path == p {
				return
			}
		}
		cands = append(cands, cand{p, from})
	}
	if t.IsSocket() {
		add(t.Socket, "the target")
	}
	if t.Protocol == MySQL {
		for _, o := range opts.All("socket", "client", "mysql", "client-server", "client-mariadb", "mysqld", "mariadb", "mariadbd", "server") {
			add(o.Value, fmt.Sprintf("%s:%d [%s]", o.File, o.Line, o.Group))
		}
	}
	for _, p := range procs {
		for _, a := range p.Args {
			if v, ok := strings.CutPrefix(a, "--socket="); ok {
				add(v, fmt.Sprintf("pid %d's command line", p.PID))
			}
		}
	}
	for _, l := range kern.Unix {
		for _, p := range procs {
			if l.PID == p.PID {
				add(l.Path, fmt.Sprintf("pid %d %s listens on it", p.PID, p.Comm))
			}
		}
	}
	for _, p := range env.SocketPaths {
		add(p, "default")
	}
	uid, gids, who, err := accessUser(asUser)
	if err != nil {
		c.Evidence = append(c.Evidence, err.Error())
	}
	listening := map[string]UnixListener{}
	for _, l := range kern.Unix {
		listening[l.Path] = l
	}
	failed := false
	anyGood := false
	var fixes []string
	for _, cd := range cands {
		sf := SocketFile{Path: cd.path, From: cd.from}
		st, err := os.Stat(cd.path)
		var state string
		switch {
		case err != nil && os.IsNotExist(err):
			state = "missing"
			if cd.from != "default" {
				failed = true
				fix := cd.path + " (" + cd.from + ") is missing: the server is down, uses another socket, or a cleaner (tmpwatch, systemd-tmpfiles) removed it; restarting the server recreates it"
				if live := liveSockets(kern, procs); len(live) > 0 {
					fix = "clients that follow " + cd.from + " look for " + cd.path + ", which is missing; the server listens on " + strings.Join(live, ", ") + ": make socket= in [client] and [mysqld] agree"
				}
				fixes = append(fixes, fix)
			}
		case err != nil && os.IsPermission(err) && uid >= 0:
			why := mayConnect(cd.path, uid, gids)
			if why == "" {
				why = "a directory above it is not searchable (" + errText(err) + ")"
			}
			state = who + " may not reach it: " + why
			failed = true
			fixes = append(fixes, "let "+who+" reach "+cd.path+": "+why)
		case err != nil:
			state = "cannot stat: " + errText(err)
		case st.Mode()&os.ModeSocket == 0:
			state = "exists but is not a socket (" + st.Mode().Type().String() + ")"
			failed = true
		default:
			sf.Exists, sf.Socket = true, true
			if l, ok := listening[cd.path]; ok && l.PID != 0 {
				sf.Listens = fmt.Sprintf("listening (pid %d %s)", l.PID, l.Comm)
			} else if ok {
				sf.Listens = "listening"
			} else {
				sf.Listens = probeUnix(cd.path)
			}
			state = "socket, " + sf.Listens
			if strings.HasPrefix(sf.Listens, "stale") {
				failed = true
				fixes = append(fixes, cd.path+" is stale: nobody listens on it; remove it and restart the server, or point clients at the live socket")
			}
			if uid >= 0 {
				if why := mayConnect(cd.path, uid, gids); why != "" {
					sf.Access = why
					state += "; " + who + " may not connect: " + why
					failed = true
					fixes = append(fixes, "let "+who+" reach "+cd.path+": "+why)
				} else {
					state += "; " + who + " may connect"
					if !strings.HasPrefix(sf.Listens, "stale") {
						anyGood = true
					}
				}
			}
		}
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s (%s): %s", cd.path, cd.from, state))
	}
	for _, p := range opts.Problems {
		c.Evidence = append(c.Evidence, "option files: "+p)
	}
	if t.Protocol == MySQL && len(opts.Read) > 0 {
		c.Evidence = append(c.Evidence, "option files read: "+strings.Join(opts.Read, ", "))
	}
	switch {
	case failed:
		c.Status = Fail
		c.Fix = strings.Join(fixes, "; ")
		if c.Fix == "" {
			c.Fix = "see the evidence: a socket path clients use is not a working socket"
		}
	case anyGood:
		c.Status = Pass
	default:
		c.Status = Warn
		c.Fix = "no working socket file at the paths clients look for: connect over TCP, or set socket= in [client] to the server's socket"
	}
	return c
}

// liveSockets are the unix sockets the server processes listen on.
func liveSockets(kern Kernel, procs []Process) []string {
	var out []string
	for _, l := range kern.Unix {
		for _, p := range procs {
			if l.PID == p.PID {
				out = append(out, l.Path)
			}
		}
	}
	return out
}

// probeUnix connects to a unix socket to see whether someone listens
// (a listener in another network namespace is not in this one's sock_diag).
func probeUnix(path string) string {
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return "listening"
	}
	var en syscall.Errno
	if asErrno(err, &en) && en == syscall.ECONNREFUSED {
		return "stale: nobody listens (ECONNREFUSED)"
	}
	return "unknown: " + errText(err)
}

func asErrno(err error, en *syscall.Errno) bool {
	for err != nil {
		if e, ok := err.(syscall.Errno); ok {
			*en = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// accessUser is the user whose access to socket files is checked: asUser,
// or the invoking user (root bypasses permissions: then every check passes,
// which is what root sees).
func accessUser(asUser string) (uid int, gids []int, who string, err error) {
	if asUser == "" {
		uid = os.Geteuid()
		gids = append(gids, os.Getegid())
		gs, _ := os.Getgroups()
		gids = append(gids, gs...)
		who = "uid " + strconv.Itoa(uid)
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			who = "user " + u.Username
		}
		return uid, gids, who, nil
	}
	u, err := user.Lookup(asUser)
	if err != nil {
		if _, nerr := strconv.Atoi(asUser); nerr == nil {
			u, err = user.LookupId(asUser)
		}
		if err != nil {
			return -1, nil, asUser, fmt.Errorf("--as-user %s: %v: permissions not checked", asUser, err)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	gids = []int{gid}
	if gs, err := u.GroupIds(); err == nil {
		for _, g := range gs {
			n, _ := strconv.Atoi(g)
			gids = append(gids, n)
		}
	}
	return uid, gids, "user " + u.Username, nil
}

// mayConnect checks, from the file modes (not ACLs), that uid/gids can
// search every directory above path and write to the socket. "" = yes.
func mayConnect(path string, uid int, gids []int) string {
	if uid == 0 {
		return ""
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err.Error()
	}
	dir := "/"
	for _, part := range strings.Split(strings.TrimPrefix(filepath.Dir(abs), "/"), "/") {
		if part != "" {
			dir = filepath.Join(dir, part)
		}
		if !permits(dir, uid, gids, 1) {
			return "no search (x) permission on " + dir + " " + modeOf(dir)
		}
	}
	if !permits(abs, uid, gids, 2) {
		return "no write permission on the socket " + modeOf(abs)
	}
	return ""
}

func permits(path string, uid int, gids []int, bit uint32) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return false
	}
	mode := st.Mode & 0o777
	switch {
	case int(st.Uid) == uid:
		return mode>>6&bit != 0
	case containsInt(gids, int(st.Gid)):
		return mode>>3&bit != 0
	}
	return mode&bit != 0
}

func modeOf(path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return ""
	}
	owner, group := strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return fmt.Sprintf("(mode %04o %s:%s)", st.Mode&0o7777, owner, group)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func readSysctl(root, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, strings.ReplaceAll(name, ".", "/")))
	return strings.TrimSpace(string(b)), err
}

func ephemeralCheck(env LocalEnv, kern Kernel, t Target, addrs []netip.Addr) Check {
	c := Check{ID: "ephemeral_ports", Title: "free local ports"}
	rng, err := readSysctl(env.SysctlRoot, "net.ipv4.ip_local_port_range")
	if err != nil {
		c.Status = Skip
		c.Evidence = []string{"cannot read net.ipv4.ip_local_port_range: " + err.Error()}
		return c
	}
	f := strings.Fields(rng)
	if len(f) != 2 {
		c.Status = Skip
		c.Evidence = []string{"net.ipv4.ip_local_port_range is " + rng + ": not two numbers"}
		return c
	}
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	size := hi - lo + 1
	reuse, _ := readSysctl(env.SysctlRoot, "net.ipv4.tcp_tw_reuse")
	reserved, _ := readSysctl(env.SysctlRoot, "net.ipv4.ip_local_reserved_ports")
	c.Evidence = append(c.Evidence, fmt.Sprintf("net.ipv4.ip_local_port_range %d-%d (%d ports), tcp_tw_reuse %s", lo, hi, size, reuse))
	if reserved != "" {
		c.Evidence = append(c.Evidence, "ip_local_reserved_ports "+reserved)
	}
	if kern.Err != "" && len(kern.Sockets) == 0 {
		c.Status = Skip
		c.Evidence = append(c.Evidence, "cannot read the socket table: "+kern.Err)
		return c
	}
	worst := 0
	for _, a := range addrs {
		states := map[string]int{}
		n := 0
		for _, s := range kern.Sockets {
			d, _ := netip.AddrFromSlice(s.ID.Destination)
			if d.Unmap() != a || int(s.ID.DestinationPort) != t.Port {
				continue
			}
			if p := int(s.ID.SourcePort); p < lo || p > hi {
				continue
			}
			n++
			states[tcpStateNames[s.State]]++
		}
		if n > worst {
			worst = n
		}
		var parts []string
		for k, v := range states {
			parts = append(parts, fmt.Sprintf("%d %s", v, k))
		}
		sort.Strings(parts)
		if n > 0 {
			c.Evidence = append(c.Evidence, fmt.Sprintf("to %s: %d of the range's ports in use (%s)", netip.AddrPortFrom(a, uint16(t.Port)), n, strings.Join(parts, ", ")))
		} else {
			c.Evidence = append(c.Evidence, fmt.Sprintf("to %s: no socket of the range", netip.AddrPortFrom(a, uint16(t.Port))))
		}
	}
	switch {
	case worst >= size:
		c.Status = Fail
		c.Fix = "every local port of the range is held for this destination (connect fails with EADDRNOTAVAIL): widen net.ipv4.ip_local_port_range, enable net.ipv4.tcp_tw_reuse=1, or reuse connections (a pool) instead of opening one per request"
	case worst*10 >= size*8:
		c.Status = Warn
		c.Fix = "over 80% of the local ports for this destination are held: widen net.ipv4.ip_local_port_range or reuse connections"
	default:
		c.Status = Pass
	}
	return c
}

func firewallCheck(ctx context.Context, env LocalEnv, t Target, local bool) Check {
	c := Check{ID: "firewall", Title: fmt.Sprintf("nftables rules for port %d", t.Port)}
	if env.NFT == nil {
		c.Status = Skip
		c.Evidence = []string{"nft not consulted"}
		return c
	}
	data, err := env.NFT(ctx)
	if err != nil {
		c.Status = Skip
		c.Evidence = []string{err.Error()}
		if os.Geteuid() != 0 {
			c.Evidence = append(c.Evidence, "reading the ruleset needs root (CAP_NET_ADMIN)")
		}
		return c
	}
	rules, policies, err := MatchNFT(data, t.Port)
	if err != nil {
		c.Status = Skip
		c.Evidence = []string{err.Error()}
		return c
	}
	where := "this host (client side: output rules apply)"
	if local {
		where = "this host (the server's: input rules apply)"
	}
	c.Evidence = append(c.Evidence, "ruleset of "+where)
	c.Status = Pass
	for _, r := range rules {
		hook := r.Hook
		if hook == "" {
			hook = "no hook (jumped to)"
		}
		c.Evidence = append(c.Evidence, fmt.Sprintf("table %s %s chain %s (%s) handle %d: %s", r.Family, r.Table, r.Chain, hook, r.Handle, r.Text))
		if r.Verdict == "drop" || r.Verdict == "reject" {
			c.Status = Fail
			c.Fix = fmt.Sprintf("a rule %ss port %d: delete or narrow it (nft delete rule %s %s %s handle %d), or add an accept rule before it", r.Verdict, t.Port, r.Family, r.Table, r.Chain, r.Handle)
		}
	}
	for _, p := range policies {
		c.Evidence = append(c.Evidence, fmt.Sprintf("table %s %s chain %s (hook %s) policy %s: what no rule accepts is dropped", p.Family, p.Table, p.Chain, p.Hook, p.Policy))
		if c.Status == Pass {
			c.Status = Warn
			c.Fix = "a base chain drops by policy: check a rule accepts this port"
		}
	}
	if len(rules) == 0 && len(policies) == 0 {
		c.Evidence = append(c.Evidence, "no rule matches tcp dport "+strconv.Itoa(t.Port)+", no drop policy")
	}
	return c
}

func securityCheck(env LocalEnv, procs []Process) Check {
	c := Check{ID: "security", Title: "SELinux / AppArmor"}
	c.Status = Pass
	if b, err := os.ReadFile(filepath.Join(env.SELinuxRoot, "enforce")); err == nil {
		mode := "permissive"
		if strings.TrimSpace(string(b)) == "1" {
			mode = "enforcing"
			c.Status = Warn
			c.Fix = "SELinux is enforcing: check `ausearch -m avc -ts recent` for denials of the server's port or socket (semanage port -a -t mysqld_port_t -p tcp PORT)"
		}
		c.Evidence = append(c.Evidence, "SELinux "+mode)
	} else {
		c.Evidence = append(c.Evidence, "SELinux not present")
	}
	for _, p := range procs {
		label := p.Security
		if label == "" {
			label = "none"
		}
		c.Evidence = append(c.Evidence, fmt.Sprintf("pid %d %s confinement: %s", p.PID, p.Comm, label))
		if strings.Contains(label, "(enforce)") && c.Status == Pass {
			c.Status = Warn
			c.Fix = "the server runs under an enforcing AppArmor profile: denials are logged by the kernel (journalctl -k | grep apparmor=\"DENIED\"); a socket or datadir outside the profile's paths is refused"
		}
	}
	return c
}

func listenQueueCheck(env LocalEnv, t Target, kern Kernel, addrs []netip.Addr) Check {
	c := Check{ID: "listen_queue", Title: "listen backlog and accept queue"}
	found := false
	full := false
	for _, l := range kern.TCP {
		if int(l.Addr.Port()) != t.Port {
			continue
		}
		hit := false
		for _, a := range addrs {
			if covers(l.Addr.Addr(), a) {
				hit = true
			}
		}
		if !hit {
			continue
		}
		found = true
		c.Evidence = append(c.Evidence, fmt.Sprintf("tcp %s: %d waiting to be accepted, backlog %d", l.Addr, l.Queue, l.Backlog))
		if l.Backlog > 0 && l.Queue >= l.Backlog {
			full = true
		}
	}
	for _, l := range kern.Unix {
		if t.IsSocket() && sameFile(l.Path, t.Socket) {
			found = true
			c.Evidence = append(c.Evidence, fmt.Sprintf("unix %s: %d waiting to be accepted, backlog %d", l.Path, l.Queue, l.Backlog))
			if l.Backlog > 0 && l.Queue >= l.Backlog {
				full = true
			}
		}
	}
	if !found {
		c.Status = Skip
		c.Evidence = append(c.Evidence, "no listener for the target in this network namespace")
		return c
	}
	if v, ok := netstatCounter(env.ProcRoot, "ListenOverflows"); ok {
		c.Evidence = append(c.Evidence, fmt.Sprintf("TcpExt ListenOverflows %d since boot (this namespace)", v))
	}
	c.Status = Pass
	if full {
		c.Status = Fail
		c.Fix = "the accept queue is full: the server does not accept fast enough (overloaded, or its connection threads are all busy); raise back_log (MySQL) and net.core.somaxconn, and find why it stalls"
	}
	return c
}

// bindAddressArg is the last --bind-address=… on the command line of
// process pid ("" when none): it wins over every option file.
func bindAddressArg(procs []Process, pid int) string {
	for _, p := range procs {
		if p.PID != pid {
			continue
		}
		arg := ""
		for _, a := range p.Args {
			if strings.HasPrefix(a, "--bind-address=") || strings.HasPrefix(a, "--bind_address=") {
				arg = a
			}
		}
		return arg
	}
	return ""
}
