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
// 80 MiB so that a bigger live heap collects sooner again and peak RSS
// stays bounded (issue 13: < 100 MB). On a connect-heavy capture (5.43 M
// packets, 545,000 connects, a live heap of 25-30 MB) 96 MiB gave a peak
// RSS of 99-103 MiB; 80 MiB gives 84 MiB for 8 more collections (+0.15 s
// of collector CPU on 8-9 s). Settings the user made with GOGC or
// GOMEMLIMIT win.
const (
	analyzeGCPercent   = 400
	analyzeMemoryLimit = 80 << 20
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

// Live tracing (trace, run) allocates per event and per connect over a live
// heap of some tens of MB (the reorder window, the engine's flows, the
// process table): at 10,000 connects/s the default GOGC=100 collected
// about twice a second, the collector and its assists some 8% of trace's
// CPU. liveGC sets a GC percent of 400 with a soft memory limit of 256 MiB
// (a bigger live heap, after a stall, collects sooner again). Settings the
// user made with GOGC or GOMEMLIMIT win.
const (
	liveGCPercent   = 400
	liveMemoryLimit = 256 << 20
)

// liveGCSettings is what liveGC sets, given the environment (see
// analyzeGCSettings).
func liveGCSettings(getenv func(string) string) (percent int, limit int64) {
	percent, limit = -1, -1
	if getenv("GOGC") == "" {
		percent = liveGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		limit = liveMemoryLimit
	}
	return percent, limit
}

// liveGC tunes the collector for `connscope trace` and `run` (see above).
func liveGC() {
	percent, limit := liveGCSettings(os.Getenv)
	if percent >= 0 {
		debug.SetGCPercent(percent)
	}
	if limit >= 0 {
		debug.SetMemoryLimit(limit)
	}
}
