// Package load holds what the live benchmarks (bench/connbench,
// bench/livebench) share: a blocking connect of the connect loops, a
// process's CPU time, and the count of connects reported once.
package load

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ConnectOnce connects to sa (blocking), reads until the server closes,
// and closes: nil when it connected, else connect's error.
func ConnectOnce(sa *unix.SockaddrInet4, buf []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = unix.Connect(fd, sa)
	if err == unix.EINTR {
		// A signal (Go's preemption) interrupted it: the connect goes on
		// without us; wait for its end and read its result.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		for {
			if _, perr := unix.Poll(pfd, -1); perr != unix.EINTR {
				break
			}
		}
		var soerr int
		if soerr, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
	}
	if err != nil {
		return err
	}
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if n <= 0 || err != nil {
			return nil
		}
	}
}

// CPUTime sums the CPU time of every thread of pid (schedstat: ns on CPU).
func CPUTime(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("reading the CPU time of pid %d: no /proc/%d/task/*/schedstat", pid, pid)
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited: its time is lost, which only understates
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q", t, b)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// Reported is one attempt a report gave a client 5-tuple: when it started
// and whether it shows its connect whole: its packets (the SYN captured)
// and its socket's kernel events (the connect() return) both.
type Reported struct {
	Start time.Time
	Whole bool
}

// CountReportedViews counts, from the attempts a report gave each client
// 5-tuple, the connects reported (once) and the duplicates: an attempt
// within 5 ms of the previous one of its 5-tuple is the same connect
// reported again, except that two attempts that are both whole are two
// connects (reused
// counts them): a refused connect leaves no TIME_WAIT, and the kernel may
// give its port to the next connect to the same server within a
// millisecond. An attempt within 5 ms of the previous one of its 5-tuple
// is a duplicate when either of the two shows only part of a connect (its
// packets without its socket's events, or the reverse): one connect split
// in two.
func CountReportedViews(m map[string][]Reported) (once, dups, reused int64) {
	for _, rs := range m {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Before(rs[j].Start) })
		once++
		for i := 1; i < len(rs); i++ {
			switch {
			case rs[i].Start.Sub(rs[i-1].Start) >= 5*time.Millisecond:
				once++
			case rs[i].Whole && rs[i-1].Whole:
				once++
				reused++
			default:
				dups++
			}
		}
	}
	return once, dups, reused
}
