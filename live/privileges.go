package live

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capability numbers (linux/capability.h).
const (
	capNetAdmin = 12
	capNetRaw   = 13
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// Privileges says which of the capabilities live tracing uses the process has.
type Privileges struct {
	Root                   bool
	NetRaw, NetAdmin       bool // AF_PACKET capture
	BPF, Perfmon, SysAdmin bool // eBPF programs and tracepoints
	EffectiveCaps          uint64
}

// CanCapture reports whether AF_PACKET capture can be opened.
func (p Privileges) CanCapture() bool { return p.NetRaw }

// CanTrace reports whether eBPF tracepoint programs can be loaded.
func (p Privileges) CanTrace() bool { return (p.BPF && p.Perfmon) || p.SysAdmin }

// Check returns nil when both packet capture and eBPF are allowed, or an error
// that names exactly what is missing and how to get it.
func (p Privileges) Check() error {
	var missing []string
	if !p.NetRaw {
		missing = append(missing, "CAP_NET_RAW")
	}
	if !p.NetAdmin {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if !p.CanTrace() {
		if !p.BPF {
			missing = append(missing, "CAP_BPF")
		}
		if !p.Perfmon {
			missing = append(missing, "CAP_PERFMON")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("live tracing needs root, or CAP_BPF + CAP_PERFMON + CAP_NET_RAW + CAP_NET_ADMIN; this process (uid %d) lacks %s: run it with sudo, or grant them with `setcap cap_bpf,cap_perfmon,cap_net_raw,cap_net_admin+ep %s`",
		os.Getuid(), strings.Join(missing, " + "), executable())
}

// CurrentPrivileges reads the effective capability set of this process from /proc/self/status.
func CurrentPrivileges() (Privileges, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return Privileges{}, fmt.Errorf("reading capabilities: %w", err)
	}
	defer f.Close()
	return parseStatus(f, os.Geteuid() == 0)
}

func parseStatus(f *os.File, root bool) (Privileges, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return Privileges{}, fmt.Errorf("parsing %q in /proc/self/status: %w", line, err)
		}
		return privilegesFromCaps(caps, root), nil
	}
	if err := sc.Err(); err != nil {
		return Privileges{}, fmt.Errorf("reading /proc/self/status: %w", err)
	}
	return Privileges{}, fmt.Errorf("no CapEff line in /proc/self/status")
}

func privilegesFromCaps(caps uint64, root bool) Privileges {
	has := func(c uint) bool { return caps&(1<<c) != 0 }
	return Privileges{
		Root:          root,
		NetRaw:        has(capNetRaw),
		NetAdmin:      has(capNetAdmin),
		BPF:           has(capBPF),
		Perfmon:       has(capPerfmon),
		SysAdmin:      has(capSysAdmin),
		EffectiveCaps: caps,
	}
}

func executable() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "connscope"
}
