package report

import "testing"

// BenchmarkExplain words connects as the JSON writer does (explainedIn
// into a reused scratch, the timeline steps left to the renderer): the
// evidence and causes of each connect and its attempts. The connects are
// benchConnects' (the lab captures', or $CONNSCOPE_BENCH_CAPTURE's).
func BenchmarkExplain(b *testing.B) {
	cs := benchConnects(b)
	var s wordsScratch
	b.ReportAllocs()
	cpu := cpuNS()
	for i := 0; b.Loop(); i++ {
		explainedIn(cs[i%len(cs)], true, &s)
	}
	b.ReportMetric(float64(cpuNS()-cpu)/float64(b.N), "cpu-ns/op")
}
