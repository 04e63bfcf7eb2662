package analyze

import (
	"math"
	"testing"
)

// PipelineAtOnce makes Options.Pipeline start at the first connect,
// whatever the density and GOMAXPROCS, until tb ends: the tests compare
// the report with and without it on captures of a few connects.
func PipelineAtOnce(tb testing.TB) {
	minConnects, window, cpus := pipeMinConnects, pipeWindow, pipeCPUs
	pipeMinConnects, pipeWindow, pipeCPUs = 1, math.MaxUint64, func() int { return 2 }
	tb.Cleanup(func() { pipeMinConnects, pipeWindow, pipeCPUs = minConnects, window, cpus })
}

// PipelinesStarted is how many pipelines engines have started.
func PipelinesStarted() int { return pipesStarted }
