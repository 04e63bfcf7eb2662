package analyze

import (
	"math"
	"testing"
	"time"
)

// PipelineAtOnce makes Options.Pipeline start at the first connect,
// whatever the density and GOMAXPROCS, until tb ends: the tests compare
// the report with and without it on captures of a few connects.
func PipelineAtOnce(tb testing.TB) {
	minConnects, window, cpus := pipeMinConnects, pipeWindow, pipeCPUs
	pipeMinConnects, pipeWindow, pipeCPUs = 1, math.MaxUint64, func() int { return 2 }
	tb.Cleanup(func() { pipeMinConnects, pipeWindow, pipeCPUs = minConnects, window, cpus })
}

// PipelineCores makes the pipeline's clocks say that the process got this
// many cores, checked after every batch, until tb ends; a pipeline stopped
// for want of cores may start again two batches' worth of connects later,
// or, with doubling, 2, 4, 8, 16 batches' worth after stops in a row.
func PipelineCores(tb testing.TB, cores float64, doubling bool) {
	clock, every, backoff, maxBackoff := pipeClock, pipeCheckEvery, pipeBackoff, pipeMaxBackoff
	var wall, cpu time.Duration
	pipeClock = func() (time.Duration, time.Duration) {
		wall += time.Millisecond
		cpu += time.Duration(cores * float64(time.Millisecond))
		return wall, cpu
	}
	pipeCheckEvery, pipeBackoff, pipeMaxBackoff = 1, 2, 2
	if doubling {
		pipeMaxBackoff = 16
	}
	tb.Cleanup(func() { pipeClock, pipeCheckEvery, pipeBackoff, pipeMaxBackoff = clock, every, backoff, maxBackoff })
}

// PipelinesStarted and PipelinesStopped count the pipelines engines have
// started, and stopped for want of cores.
func PipelinesStarted() int { return pipesStarted }
func PipelinesStopped() int { return pipesStopped }
