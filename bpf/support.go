package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Errors Open, LoadFlowFilter and CheckSupport wrap, so callers can tell why
// eBPF is unavailable and fall back to packets alone. The wrapping error's
// message says exactly what is missing.
var (
	// ErrPermission: the process lacks the privileges (root, or
	// CAP_BPF+CAP_PERFMON, or CAP_SYS_ADMIN), or bpf() is refused by policy.
	ErrPermission = errors.New("eBPF not permitted")
	// ErrNoBTF: the kernel exposes no BTF (/sys/kernel/btf/vmlinux), so the
	// CO-RE programs cannot be relocated.
	ErrNoBTF = errors.New("kernel BTF unavailable")
	// ErrNoBPF: the kernel lacks bpf() or a feature the programs need.
	ErrNoBPF = errors.New("kernel eBPF support missing")
)

// Capability numbers (include/uapi/linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

const btfPath = "/sys/kernel/btf/vmlinux"

// CheckSupport reports whether this process can load connscope's eBPF
// programs: privileges, kernel BTF, bpf() and ring buffers. The error says
// which privilege or kernel feature is missing. Open calls it first.
func CheckSupport() error {
	if err := checkPrivileges(); err != nil {
		return err
	}
	if err := checkBTF(); err != nil {
		return err
	}
	return checkBPF()
}

func checkPrivileges() error {
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("%w: reading capabilities: %v", ErrPermission, err)
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	if has(capSysAdmin) || (has(capBPF) && has(capPerfmon)) {
		return nil
	}
	var missing []string
	if !has(capBPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) {
		missing = append(missing, "CAP_PERFMON")
	}
	return fmt.Errorf("%w: needs root or CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN); effective capabilities lack %s (uid %d)",
		ErrPermission, strings.Join(missing, "+"), os.Geteuid())
}

func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

func checkBTF() error {
	if _, err := os.Stat(btfPath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s does not exist (kernel built without CONFIG_DEBUG_INFO_BTF); the CO-RE programs cannot be relocated", ErrNoBTF, btfPath)
		}
		return fmt.Errorf("%w: %v", ErrNoBTF, err)
	}
	return nil
}

func checkBPF() error {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("%w: raising RLIMIT_MEMLOCK for BPF maps: %v", ErrPermission, err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	switch {
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("%w: the kernel has no bpf() syscall (CONFIG_BPF_SYSCALL not set)", ErrNoBPF)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: bpf() refused despite the capabilities (lockdown, an LSM or seccomp): %v", ErrPermission, err)
	case err != nil:
		return fmt.Errorf("%w: creating a test map: %v", ErrNoBPF, err)
	}
	m.Close()
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return fmt.Errorf("%w: BPF ring buffers (Linux 5.8+): %v", ErrNoBPF, err)
	}
	return nil
}

// tracefsRoot is where Open mounts tracefs when no tracefs is mounted.
const tracefsRoot = "/sys/kernel/tracing"

// ensureTracefs makes sure a tracefs is mounted: link.Tracepoint reads
// events/<group>/<name>/id from it to attach syscall tracepoints. It must run
// before the first link.Tracepoint call in the process, which remembers the
// tracefs location (or its absence) for good.
func ensureTracefs() error {
	if tracefsMounted() {
		return nil
	}
	if err := unix.Mount("nodev", tracefsRoot, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted and mounting it on %s failed: %w (as root: mount -t tracefs nodev %s)",
			tracefsRoot, err, tracefsRoot)
	}
	return nil
}

// tracefsMounted mirrors cilium/ebpf's lookup: a tracefs mount anywhere, or a
// debugfs with a tracing directory.
func tracefsMounted() bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 || fields[3] != "/" {
			continue
		}
		switch fields[sep+1] {
		case "tracefs":
			return true
		case "debugfs":
			if st, err := os.Stat(filepath.Join(fields[4], "tracing")); err == nil && st.IsDir() {
				return true
			}
		}
	}
	return false
}
