package bpf

// Benchmarks for the tracer's cost (issue 4): a loopback connect loop with
// and without the tracer attached. Run as root (bench/bpf.sh prints a table):
//
//	go test -run '^$' -bench . -benchtime 20000x ./bpf/
//
// Metrics: connects/s (wall clock: sensitive to whatever else the machine
// runs); loop-cpu-ns/op, the CPU the loop (client, server and the kernel work
// in their context, eBPF programs included) used per connect, less the
// reader's; events/op and lost (ring buffer); reader-ns/op, the CPU the Go
// reader thread spent per connect; bpf-ns/op (traced+stats only),
// the kernel run time of the eBPF programs per connect from BPF_STATS_RUN_TIME
// (stats collection itself slows the loop, hence a separate mode).

import (
	"context"
	"errors"
	"net"
	"runtime"
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
	cancel context.CancelFunc
	done   chan time.Duration
}

func startReader(tr *Tracer) *benchReader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &benchReader{tr: tr, cancel: cancel, done: make(chan time.Duration, 1)}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := threadCPU()
		for {
			if _, err := tr.Next(ctx); err != nil {
				break
			}
			r.events.Add(1)
		}
		r.done <- threadCPU() - start
	}()
	return r
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
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
		for _, mode := range []string{"untraced", "traced", "traced+stats"} {
			b.Run(target.name+"/"+mode, func(b *testing.B) {
				var tr *Tracer
				var rd *benchReader
				if mode != "untraced" {
					var err error
					// system-wide, no filters: every connect on the machine is reported
					if tr, err = Open(Options{}); err != nil {
						b.Fatal(err)
					}
					defer tr.Close()
					rd = startReader(tr)
				}
				if mode == "traced+stats" {
					stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
					if err != nil {
						b.Skipf("BPF_STATS_RUN_TIME: %v", err)
					}
					defer stats.Close()
				}
				before := progRunTime(tr)
				b.ResetTimer()
				start, cpuStart := time.Now(), processCPU()
				for i := 0; i < b.N; i++ {
					if err := connectOnce(target.sa, target.wantErr); err != nil {
						b.Fatalf("connect %d: %v", i, err)
					}
				}
				elapsed, cpuUsed := time.Since(start), processCPU()-cpuStart
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "connects/s")
				if tr == nil {
					b.ReportMetric(float64(cpuUsed.Nanoseconds())/float64(b.N), "loop-cpu-ns/op")
					return
				}
				cpu := rd.stop()
				// the loop's CPU: the process's, less the reader thread's
				b.ReportMetric(float64((cpuUsed-cpu).Nanoseconds())/float64(b.N), "loop-cpu-ns/op")
				s := tr.Stats()
				b.ReportMetric(float64(rd.events.Load())/float64(b.N), "events/op")
				b.ReportMetric(float64(s.RingBufferLost), "lost")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "reader-ns/op")
				if mode == "traced+stats" {
					b.ReportMetric(float64(progRunTime(tr)-before)/float64(b.N), "bpf-ns/op")
				}
			})
		}
	}
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
