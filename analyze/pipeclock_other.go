//go:build !unix

package analyze

import "time"

// processClock is unknown here (no getrusage): zero, so the pipeline is
// never stopped for want of cores.
func processClock() (wall, cpu time.Duration) { return 0, 0 }
