package bpf

// Benchmarks for the tracer's cost (issue 4): a loopback connect loop with
// and without the tracer attached. Run as root (bench/bpf.sh prints a table):
//
//	go test -run '^$' -bench . -benchtime 20000x ./bpf/
//
// BenchmarkConnect/{accepted,refused} interleave untraced and traced blocks
// of the loop (the tracer opened for each traced block) and report the median
// ratio of neighbouring blocks: wall-clock
// slowdown, and CPU slowdown (the CPU the process used per connect - client,
// server, and the kernel work in their context: syscalls, loopback softirq,
// the eBPF programs - less the reader thread's; unlike wall time it barely
// depends on what else the machine runs). Also events/op, lost events, and
// reader-ns/op, the Go reader thread's CPU per connect.
// BenchmarkConnect/*+stats report bpf-ns/op, the programs' own kernel run
// time per connect (BPF_STATS_RUN_TIME). BenchmarkConnectPaced runs at
// 20,000 connects/s and counts lost events.

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// loopbackTargets is a listener that accepts and closes at once, and a
// port nobody listens on, both on 127.0.0.1.
type loopbackTargets struct {
	accepted, refused unix.SockaddrInet4
	ln                net.Listener
}

func newLoopbackTargets(b *testing.B) *loopbackTargets {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// a free port: bind, read it, close
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	refusedPort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	t := &loopbackTargets{ln: ln}
	t.accepted = unix.SockaddrInet4{Port: ln.Addr().(*net.TCPAddr).Port, Addr: [4]byte{127, 0, 0, 1}}
	t.refused = unix.SockaddrInet4{Port: refusedPort, Addr: [4]byte{127, 0, 0, 1}}
	b.Cleanup(func() { ln.Close() })
	return t
}

// connectOnce makes one blocking connect and closes with an RST (linger 0)
// so that no TIME_WAIT sockets pile up.
func connectOnce(sa *unix.SockaddrInet4, wantErr error) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = unix.Connect(fd, sa)
	if !errors.Is(err, wantErr) && err != wantErr {
		return err
	}
	return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}

// benchReader drains a tracer on its own OS thread and measures that
// thread's CPU time.
type benchReader struct {
	tr     *Tracer
	events atomic.Uint64
	tid    chan int
	clock  int32 // the reader thread's CPU-time clock
	cancel context.CancelFunc
	done   chan time.Duration
}

func startReader(tr *Tracer) *benchReader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &benchReader{tr: tr, cancel: cancel, done: make(chan time.Duration, 1), tid: make(chan int, 1)}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r.tid <- unix.Gettid()
		start := threadCPU()
		for {
			if _, err := tr.Next(ctx); err != nil {
				break
			}
			r.events.Add(1)
		}
		r.done <- threadCPU() - start
	}()
	// Linux names another thread's CPU clock by its tid:
	// MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED).
	r.clock = int32(^(<-r.tid)<<3 | 4 | 2)
	return r
}

// cpu is the reader thread's CPU time so far.
func (r *benchReader) cpu() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(r.clock, &ts)
	return time.Duration(ts.Nano())
}

// stop waits until the ring buffer is empty, then stops the reader and
// returns its CPU time.
func (r *benchReader) stop() time.Duration {
	for deadline := time.Now().Add(5 * time.Second); r.tr.reader.AvailableBytes() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	r.cancel()
	return <-r.done
}

// processCPU is the CPU time (user and system, which includes the eBPF
// programs and loopback softirq work run in the process's context) this
// process used so far. Unlike wall time it hardly depends on what else the
// machine runs.
func processCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func BenchmarkConnect(b *testing.B) {
	requireEBPF(b)
	targets := newLoopbackTargets(b)
	for _, target := range []struct {
		name    string
		sa      *unix.SockaddrInet4
		wantErr error
	}{
		{"accepted", &targets.accepted, nil},
		{"refused", &targets.refused, unix.ECONNREFUSED},
	} {
		loop := func() error { return connectOnce(target.sa, target.wantErr) }
		b.Run(target.name, func(b *testing.B) { benchInterleaved(b, loop) })
		b.Run(target.name+"+stats", func(b *testing.B) { benchProgramTime(b, loop) })
	}
}

// benchInterleaved runs the loop in blocks, alternately without and with
// the tracer (opened before and closed after each traced block, outside the
// measurement), and compares each traced block with its untraced neighbour:
// on a machine that also runs other work, neighbouring blocks see about the
// same load. The tracer traces system-wide without filters (every event is
// read).
func benchInterleaved(b *testing.B, loop func() error) {
	const pairs = 20
	block := max(b.N/(2*pairs), 1)
	var wallRatio, cpuRatio, uRate, tRate []float64
	var tracedEvents, tracedConnects, lost uint64
	var readerCPU time.Duration
	b.ResetTimer()
	for pair := 0; pair < pairs; pair++ {
		var wall, cpu [2]time.Duration // [untraced, traced]
		order := []int{0, 1}
		if pair%2 == 1 {
			order = []int{1, 0}
		}
		for _, traced := range order {
			var tr *Tracer
			var rd *benchReader
			if traced == 1 {
				b.StopTimer()
				var err error
				if tr, err = Open(Options{}); err != nil {
					b.Fatal(err)
				}
				rd = startReader(tr)
				b.StartTimer()
			}
			r0, p0, w0 := time.Duration(0), processCPU(), time.Now()
			if rd != nil {
				r0 = rd.cpu()
			}
			for i := 0; i < block; i++ {
				if err := loop(); err != nil {
					b.Fatal(err)
				}
			}
			wall[traced] = time.Since(w0)
			cpu[traced] = processCPU() - p0
			if rd != nil {
				r := rd.cpu() - r0
				cpu[traced] -= r
				b.StopTimer()
				readerCPU += rd.stop() // includes draining what is left
				tracedEvents += rd.events.Load()
				tracedConnects += uint64(block)
				lost += tr.Stats().RingBufferLost
				tr.Close()
				b.StartTimer()
			}
		}
		wallRatio = append(wallRatio, float64(wall[1])/float64(wall[0]))
		cpuRatio = append(cpuRatio, float64(cpu[1])/float64(cpu[0]))
		uRate = append(uRate, float64(block)/wall[0].Seconds())
		tRate = append(tRate, float64(block)/wall[1].Seconds())
	}
	b.StopTimer()
	b.ReportMetric(median(uRate), "untraced-connects/s")
	b.ReportMetric(median(tRate), "traced-connects/s")
	b.ReportMetric(100*(median(wallRatio)-1), "wall-slowdown-%")
	b.ReportMetric(100*(median(cpuRatio)-1), "cpu-slowdown-%")
	b.ReportMetric(float64(tracedEvents)/float64(tracedConnects), "events/op")
	b.ReportMetric(float64(readerCPU.Nanoseconds())/float64(tracedConnects), "reader-ns/op")
	b.ReportMetric(float64(lost), "lost")
}

// benchProgramTime reports the eBPF programs' own run time per connect
// (BPF_STATS_RUN_TIME; collecting it slows the programs a little).
func benchProgramTime(b *testing.B, loop func() error) {
	tr, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	rd := startReader(tr)
	defer rd.stop()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("BPF_STATS_RUN_TIME: %v", err)
	}
	defer stats.Close()
	before := progRunTime(tr)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := loop(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(progRunTime(tr)-before)/float64(b.N), "bpf-ns/op")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// progRunTime sums the kernel run time of the tracer's programs (needs
// BPF_STATS_RUN_TIME enabled to grow).
func progRunTime(tr *Tracer) time.Duration {
	if tr == nil {
		return 0
	}
	var total time.Duration
	for _, p := range tr.progs {
		if st, err := p.Stats(); err == nil {
			total += st.Runtime
		}
	}
	return total
}

// BenchmarkConnectPaced runs connects (half accepted, half refused) at a
// fixed rate from one worker per CPU with the tracer attached, and reports
// the rate achieved and the events lost. Target (issue 4): none lost at
// 20,000 connects/s.
func BenchmarkConnectPaced(b *testing.B) {
	requireEBPF(b)
	targets := newLoopbackTargets(b)
	const rate = 20000
	tr, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	rd := startReader(tr)
	lostBefore := tr.Stats().RingBufferLost

	workers := runtime.NumCPU()
	const tick = time.Millisecond
	perTick := float64(rate) * tick.Seconds() / float64(workers)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < workers; w++ {
		n := b.N / workers
		if w == 0 {
			n += b.N % workers
		}
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			next := time.Now()
			done := 0
			for done < n {
				// a tick's share, then sleep to the next tick
				for quota := perTick; quota >= 1 && done < n; quota-- {
					sa, want := &targets.accepted, error(nil)
					if done%2 == 1 {
						sa, want = &targets.refused, unix.ECONNREFUSED
					}
					if err := connectOnce(sa, want); err != nil {
						failed.Store(err)
						return
					}
					done++
				}
				next = next.Add(tick)
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
			}
		}(n)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	cpu := rd.stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "connects/s")
	b.ReportMetric(float64(tr.Stats().RingBufferLost-lostBefore), "lost")
	b.ReportMetric(float64(rd.events.Load())/float64(b.N), "events/op")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "reader-%cpu")
}

// BenchmarkFlowFilter measures the socket filter's cost per packet with
// BPF_PROG_TEST_RUN (the kernel runs it b.N times on one frame): the drop
// path that bulk traffic of established connections takes, a SYN, and a
// segment of a tracked flow.
func BenchmarkFlowFilter(b *testing.B) {
	requireEBPF(b)
	for _, tc := range []struct {
		name string
		pkt  pkt
	}{
		{"bulk_payload_dropped", pkt{src: srv, dst: cli, sport: 3306, dport: 40000, flags: ackF, payload: 1400}},
		{"other_port_dropped", pkt{src: srv, dst: cli, sport: 443, dport: 40000, flags: ackF, payload: 1400}},
		{"syn_passed", c2s(synF, 0)},
		{"tracked_pure_ack_passed", c2s(ackF, 0)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := LoadFlowFilter(FlowFilterOptions{Ports: []uint16{3306}})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if tc.name == "tracked_pure_ack_passed" { // track the flow first
				if _, err := f.prog.Run(&ebpf.RunOptions{Data: c2s(synF, 0).frame()}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			_, per, err := f.prog.Benchmark(tc.pkt.frame(), b.N, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(per.Nanoseconds()), "ns/packet")
		})
	}
}
