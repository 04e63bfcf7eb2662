package live

import (
	"io"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/event"
	"github.com/connscope/connscope/report"
)

// BenchmarkPipeline replays the connects of lossWorkload (half greeted and
// closed, half refused: the shapes bench/connect.sh makes) at 10,000/s
// through the live pipeline as Run drives it — copies of the events as the
// readers hand them over, port completer, reorder merger, process table,
// engine, ticks — into the JSON report writer, per connect. It is the user
// space part of what bench/connect.sh measures, without the kernel, the
// readers' system calls or another process's load.
func BenchmarkPipeline(b *testing.B) { benchPipeline(b, 20000, false) }

// BenchmarkSteadyISN is BenchmarkPipeline with the kernel's ISNs, as a
// 6.18 kernel's events carry them (every event of a socket after its
// SYN_SENT; the port completer gives that one the ISN of the next), over
// 6 s of connects: longer than isnTTL and recentTTL, so that the ISN index
// and the recent memory reach the steady state a long trace runs in (they
// add and expire one entry per connect).
func BenchmarkSteadyISN(b *testing.B) { benchPipeline(b, 60000, true) }

func benchPipeline(b *testing.B, n int, isns bool) {
	kernel, packets, _ := lossWorkload(n, 100*time.Microsecond)
	if isns {
		for _, ev := range kernel {
			if k := ev.it.Kernel; k.NewState != event.TCPSynSent {
				k.ISN = uint32(1000*ev.conn + 1) // the Seq of its SYN (lossWorkload)
			}
		}
	}
	// lossWorkload lists each connect's events together; a source
	// delivers them in time order.
	byTime := func(x, y lossEvent) int { return x.it.Time.Compare(y.it.Time) }
	slices.SortStableFunc(kernel, byTime)
	slices.SortStableFunc(packets, byTime)
	type arrival struct {
		at time.Time
		it event.Item
	}
	// Each source delivers in batches (the packet ring's blocks, the
	// eBPF reader's polls): 10 ms behind, in order.
	var arrivals []arrival
	ki, pi := 0, 0
	for ki < len(kernel) || pi < len(packets) {
		if pi == len(packets) || ki < len(kernel) && kernel[ki].it.Time.Before(packets[pi].it.Time) {
			arrivals = append(arrivals, arrival{kernel[ki].it.Time.Add(10 * time.Millisecond), kernel[ki].it})
			ki++
		} else {
			arrivals = append(arrivals, arrival{packets[pi].it.Time.Add(10 * time.Millisecond), packets[pi].it})
			pi++
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		now := arrivals[0].at
		w := report.NewWriter(io.Discard, report.Options{Format: report.JSON, Streaming: true, HoldFlush: true, Rollup: &report.RollupOptions{}})
		s := &Session{
			opts:         Options{ReorderWindow: 200 * time.Millisecond, MaxReorderWindow: time.Second},
			merger:       &event.Merger{Window: 200 * time.Millisecond, MaxWindow: time.Second, MaxHeld: maxHeld},
			procs:        newProcessTable(),
			ports:        newPortCompleter(),
			clock:        func() time.Time { return now },
			lossCounters: func() (uint64, uint64) { return 0, 0 },
			packetChunks: &chunkCycle[event.Packet]{},
			kernelChunks: &chunkCycle[event.Kernel]{},
		}
		s.opts.OnConnect = func(c *analyze.Connect) { w.Connect(c) }
		s.opts.Recycle = !w.KeepsConnects() // as Trace sets it
		s.startEngine(false)
		// The readers' copies, in chunks that come round again.
		copier := packetCopier{packets: recyclingSlab[event.Packet]{cycle: s.packetChunks}}
		events := recyclingSlab[event.Kernel]{cycle: s.kernelChunks}
		nextTick := now.Add(activeTick)
		for _, a := range arrivals {
			for !nextTick.After(a.at) {
				now = nextTick
				s.noteLoss()
				s.tick(now)
				w.Flush()
				nextTick = nextTick.Add(activeTick)
			}
			now = a.at
			if a.it.Kernel != nil {
				k := events.new() // as readKernel copies
				*k = *a.it.Kernel
				events.note(k.Time)
				s.kernelChunks.collect() // as takeKernel does
				s.addKernel(k, now)
			} else {
				p := copier.clone(a.it.Packet) // as readPackets does
				s.packetChunks.collect()
				s.addPacket(p, now)
			}
		}
		s.merger.Flush(s.feed)
		s.engine.Close()
		w.Flush()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	connects := float64(b.N * n)
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/connects/1000, "cpu-µs/connect")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/connects, "allocs/connect")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the CPU time this process used so far (every thread: the
// collector's too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
