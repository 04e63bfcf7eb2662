package report

import "testing"

// BenchmarkExplain words connects as the JSON writer does (wordsApart,
// the timeline steps left to the renderer): the evidence and causes of
// each connect and its attempts. The connects are
// benchConnects' (the lab captures', or $CONNSCOPE_BENCH_CAPTURE's): all
// of them (mostly out of the caches, as a long capture's are), or the
// first 512 over and over (in the caches: the wording's own work).
func BenchmarkExplain(b *testing.B) {
	all := benchConnects(b)
	for _, bc := range []struct {
		name string
		n    int
	}{{"all", len(all)}, {"cached", min(512, len(all))}} {
		b.Run(bc.name, func(b *testing.B) {
			cs := all[:bc.n]
			var s wordsScratch
			b.ReportAllocs()
			cpu := cpuNS()
			for i := 0; b.Loop(); i++ {
				s.wordsApart(cs[i%len(cs)])
			}
			b.ReportMetric(float64(cpuNS()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
