//go:build unix

package analyze

import (
	"syscall"
	"time"
)

// processClock is the wall clock (monotonic) and the CPU time (user and
// system, all threads) of the process; zero when getrusage fails.
func processClock() (wall, cpu time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Since(clockBase), time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockBase makes processClock's wall clock monotonic.
var clockBase = time.Now()
