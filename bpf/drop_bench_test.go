package bpf

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkDropReasons measures what the kfree_skb program costs the
// traffic it does not report (issue 12: bulk traffic must not notice it),
// with the tracer filtering for a port the traffic does not use
// (`trace --port 3306`):
//
//   - bulk: a loopback TCP stream, 64 KiB per op: how often kfree_skb runs
//     at all (it fires only for dropped packets) and the throughput;
//   - udp-dropped: UDP datagrams to a closed port, each dropped by the
//     kernel (NO_SOCKET): the program parses the IP header and returns;
//   - syn-other-port: SYNs to a closed TCP port outside the filter, each
//     dropped (NO_SOCKET): parsed down to the port check.
//
// It reports the program's run time per call (BPF_STATS_RUN_TIME) and its
// calls and events per op.
func BenchmarkDropReasons(b *testing.B) {
	requireEBPF(b)
	tr, err := Open(Options{Ports: []uint16{3306}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tr.Close() })
	if tr.progs[tracerProgKfreeSkb] == nil {
		b.Skipf("kfree_skb not loaded: %v", tr.Unavailable())
	}
	rd := readWithRunTimes(b, tr)
	progs := map[string]*ebpf.Program{"kfree_skb": tr.progs[tracerProgKfreeSkb]}
	run := func(b *testing.B, op func() error, bytesPerOp int64) { programCost(b, rd, progs, op, bytesPerOp) }

	b.Run("bulk", func(b *testing.B) {
		write, n := loopbackBulk(b)
		run(b, write, n)
	})
	b.Run("udp-dropped", func(b *testing.B) {
		c, err := net.Dial("udp", "127.0.0.1:9") // discard: nothing listens
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		msg := []byte("x")
		// ECONNREFUSED from the ICMP error of an earlier datagram is expected.
		run(b, func() error { c.Write(msg); return nil }, 0)
	})
	b.Run("syn-other-port", func(b *testing.B) {
		targets := newLoopbackTargets(b)
		run(b, func() error { return connectOnce(&targets.refused, unix.ECONNREFUSED) }, 0)
	})
}

// BenchmarkServerEvents measures what the tcp_send_reset and
// tcp_retransmit_synack programs cost traffic they do not report, with the
// tracer following a port the traffic does not use (`trace --port 3306`):
// a loopback stream (neither runs: no RST, no SYN-ACK retransmit) and
// connects to a closed port outside the filter (tcp_send_reset runs for
// each RST and rejects it at the port check). It reports each program's
// calls per op and run time per call (BPF_STATS_RUN_TIME).
func BenchmarkServerEvents(b *testing.B) {
	requireEBPF(b)
	tr, err := Open(Options{Ports: []uint16{3306}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tr.Close() })
	if tr.progs[tracerProgTcpSendReset] == nil || tr.progs[tracerProgTcpRetransmitSynack] == nil {
		b.Skipf("tcp_send_reset or tcp_retransmit_synack not loaded: %v", tr.Unavailable())
	}
	rd := readWithRunTimes(b, tr)
	progs := map[string]*ebpf.Program{"send_reset": tr.progs[tracerProgTcpSendReset], "retransmit_synack": tr.progs[tracerProgTcpRetransmitSynack]}
	run := func(b *testing.B, op func() error, bytesPerOp int64) { programCost(b, rd, progs, op, bytesPerOp) }

	b.Run("bulk", func(b *testing.B) {
		write, n := loopbackBulk(b)
		run(b, write, n)
	})
	b.Run("rst-other-port", func(b *testing.B) {
		targets := newLoopbackTargets(b)
		run(b, func() error { return connectOnce(&targets.refused, unix.ECONNREFUSED) }, 0)
	})
}

// readWithRunTimes starts reading tr's ring and turns the kernel's
// BPF_STATS_RUN_TIME on, both until b ends (it skips when the kernel cannot
// count run time).
func readWithRunTimes(b *testing.B, tr *Tracer) *benchReader {
	rd := startReader(tr)
	b.Cleanup(func() { rd.stop() })
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("BPF_STATS_RUN_TIME: %v", err)
	}
	b.Cleanup(func() { stats.Close() })
	return rd
}

// programCost runs op b.N times and reports, for each of progs, its calls
// per op and run time per call, and the events read per op.
func programCost(b *testing.B, rd *benchReader, progs map[string]*ebpf.Program, op func() error, bytesPerOp int64) {
	before := map[string]*ebpf.ProgramStats{}
	for name, p := range progs {
		before[name], _ = p.Stats()
	}
	ev0 := rd.events.Load()
	b.SetBytes(bytesPerOp)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	time.Sleep(2 * pollInterval) // let the reader drain
	for name, p := range progs {
		after, _ := p.Stats()
		if after == nil || before[name] == nil {
			continue
		}
		calls := after.RunCount - before[name].RunCount
		b.ReportMetric(float64(calls)/float64(b.N), name+"-calls/op")
		if calls > 0 {
			b.ReportMetric(float64((after.Runtime-before[name].Runtime).Nanoseconds())/float64(calls), name+"-ns/call")
		}
	}
	b.ReportMetric(float64(rd.events.Load()-ev0)/float64(b.N), "events/op")
}

// loopbackBulk opens a loopback TCP connection to a reader that discards
// what it gets, closed at the end of b; write sends 64 KiB on it.
func loopbackBulk(b *testing.B) (write func() error, n int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	buf := make([]byte, 64<<10)
	return func() error { _, err := c.Write(buf); return err }, int64(len(buf))
}
