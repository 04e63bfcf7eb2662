package report

import (
	"io"
	"testing"
)

// BenchmarkWriterEvery renders every connect in each format, as the two
// commands that print them all do: `analyze --all` (offline: one table of
// all attempts in batches, then the blocks of the failed connects) and
// `trace` (streaming: each connect's whole block as it completes). Per
// connect: the rollup, the words and the rendering; JSON is the yardstick
// (issue 13: the formats for people should cost no more). The connects are
// benchConnects' (the lab captures', or $CONNSCOPE_BENCH_CAPTURE's first
// 20,000).
func BenchmarkWriterEvery(b *testing.B) {
	cs := benchConnects(b)
	for _, mode := range []struct {
		name string
		opt  Options
	}{
		{"all", Options{Rollup: &RollupOptions{All: true}}},
		{"stream", Options{Streaming: true, HoldFlush: true, Rollup: &RollupOptions{}}},
	} {
		for _, f := range []Format{JSON, Table, Markdown, Line} {
			b.Run(mode.name+"/"+string(f), func(b *testing.B) {
				opt := mode.opt
				opt.Format = f
				w := NewWriter(io.Discard, opt)
				w.SetSource("bench.pcap")
				b.ReportAllocs()
				cpu := cpuNS()
				for i := 0; b.Loop(); i++ {
					w.Connect(cs[i%len(cs)])
					if opt.Streaming && i%256 == 255 {
						w.Flush() // as trace does on its tick
					}
				}
				b.ReportMetric(float64(cpuNS()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
