//go:build unix

package rollup

import "syscall"

// cpuNS is the CPU time the process has used so far (user and system, in
// nanoseconds), for the benchmarks' cpu-ns/op: on a machine shared with
// other work the wall time per op swings with the load, the CPU time much
// less.
func cpuNS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
