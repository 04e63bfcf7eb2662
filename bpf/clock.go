package bpf

import (
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// kernelClock says which clock the programs stamp events with.
type kernelClock uint8

const (
	clockTAI       kernelClock = iota + 1 // bpf_ktime_get_tai_ns: REALTIME + TAI offset, exactly
	clockMonotonic                        // bpf_ktime_get_ns: needs an estimated offset
)

func (c kernelClock) String() string {
	switch c {
	case clockTAI:
		return "CLOCK_TAI"
	case clockMonotonic:
		return "CLOCK_MONOTONIC"
	}
	return "unknown clock"
}

// remeasureEvery is how much kernel time may pass before the offset to the
// wall clock is measured again (to follow NTP steps and slewing, and leap
// seconds in TAI mode).
const remeasureEvery = int64(time.Second)

// wallClock converts kernel timestamps to the wall clock (CLOCK_REALTIME)
// that packet timestamps use. See the package documentation.
type wallClock struct {
	kind kernelClock
	// offset is REALTIME - kernel clock, in ns.
	offset atomic.Int64
	// bound is the offset's error bound in ns (half the measurement bracket;
	// 0 in TAI mode, where the offset is exact).
	bound atomic.Int64
	// measuredAt is the kernel clock reading of the last measurement.
	measuredAt atomic.Int64

	// Clock reads, replaceable in tests.
	readKernel func() int64
	readReal   func() int64
	taiOffset  func() (int64, error) // seconds TAI is ahead of UTC
}

func newWallClock(kind kernelClock) *wallClock {
	c := &wallClock{
		kind:      kind,
		readReal:  func() int64 { return time.Now().UnixNano() },
		taiOffset: adjtimexTAI,
	}
	id := int32(unix.CLOCK_MONOTONIC)
	if kind == clockTAI {
		id = unix.CLOCK_TAI
	}
	c.readKernel = func() int64 {
		var ts unix.Timespec
		_ = unix.ClockGettime(id, &ts) // cannot fail for these clock ids
		return ts.Nano()
	}
	c.measure()
	return c
}

// adjtimexTAI returns the kernel's TAI-UTC offset in seconds (0 when no NTP
// daemon set it, in which case CLOCK_TAI equals CLOCK_REALTIME).
func adjtimexTAI() (int64, error) {
	var tx unix.Timex // Modes 0: read only, no privilege needed
	if _, err := unix.Adjtimex(&tx); err != nil {
		return 0, err
	}
	return int64(tx.Tai), nil
}

// bracketSamples is how many kernel/real/kernel triples a measurement takes.
const bracketSamples = 16

// measure updates the offset (and its bound) now.
func (c *wallClock) measure() {
	if c.kind == clockTAI {
		if secs, err := c.taiOffset(); err == nil {
			c.offset.Store(-secs * int64(time.Second))
			c.bound.Store(0)
			c.measuredAt.Store(c.readKernel())
			return
		}
		// adjtimex failing is unheard of; estimate like MONOTONIC then.
	}
	off, bound, at := bracketOffset(c.readKernel, c.readReal, bracketSamples)
	c.offset.Store(off)
	c.bound.Store(bound)
	c.measuredAt.Store(at)
}

// bracketOffset estimates real - kernel from n (kernel, real, kernel) read
// triples: the real read happened somewhere between its two kernel reads, so
// the midpoint of the narrowest bracket is the best estimate and half its
// width bounds the error. It returns the offset, the bound and the kernel
// time of the measurement.
func bracketOffset(kernel, real func() int64, n int) (offset, bound, at int64) {
	best := int64(math.MaxInt64)
	for i := 0; i < n; i++ {
		k1 := kernel()
		r := real()
		k2 := kernel()
		width := k2 - k1
		if width < 0 || width >= best {
			continue
		}
		best = width
		mid := k1 + width/2
		offset, at = r-mid, mid
	}
	// Rounding the midpoint down loses at most 1 ns.
	return offset, best/2 + 1, at
}

// toWall converts a kernel timestamp, re-measuring the offset when a second
// of kernel time passed since the last measurement.
func (c *wallClock) toWall(ts uint64) time.Time {
	if int64(ts)-c.measuredAt.Load() > remeasureEvery {
		c.measure()
	}
	return time.Unix(0, int64(ts)+c.offset.Load())
}
