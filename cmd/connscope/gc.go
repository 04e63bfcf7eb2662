package main

import (
	"os"
	"runtime/debug"
)

// Offline analysis allocates many short-lived objects (packets' events,
// attempts, the words rendered from them) over a small live heap (about
// 20 MB on the 1.2 M-packet bench capture), so the default GOGC=100
// collects far more often than memory needs: about a tenth of analyze's
// CPU went to the collector and its write barriers. analyzeGC trades some
// of that for heap: a GC percent of 400, with a soft memory limit of
// 96 MiB so that a bigger live heap collects sooner again and peak RSS
// stays bounded. Settings the user made with GOGC or GOMEMLIMIT win.
const (
	analyzeGCPercent   = 400
	analyzeMemoryLimit = 96 << 20
)

// analyzeGCSettings is what analyzeGC sets, given the environment: a GC
// percent (or -1: leave it) and a memory limit (or -1: leave it).
func analyzeGCSettings(getenv func(string) string) (percent int, limit int64) {
	percent, limit = -1, -1
	if getenv("GOGC") == "" {
		percent = analyzeGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		limit = analyzeMemoryLimit
	}
	return percent, limit
}

// analyzeGC tunes the collector for `connscope analyze` (see above).
func analyzeGC() {
	percent, limit := analyzeGCSettings(os.Getenv)
	if percent >= 0 {
		debug.SetGCPercent(percent)
	}
	if limit >= 0 {
		debug.SetMemoryLimit(limit)
	}
}
