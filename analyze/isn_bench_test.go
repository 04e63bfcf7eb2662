package analyze

import (
	"net/netip"
	"testing"
)

// BenchmarkISNRecentSteady is the bookkeeping live tracing does per
// reported connect in the ISN index and the recent memory (isn.go,
// loss.go), at 10,000 connects/s, in steady state: both hold isnTTL and
// recentTTL of connects and expire one per connect. The live Pipeline
// benchmark (live/pipeline_bench_test.go) runs 2 s of traffic, less than
// these TTLs: its tables only grow and never expire, so it does not show
// this cost as a long trace pays it (mostly cache misses on tables of
// 50,000 entries).
func BenchmarkISNRecentSteady(b *testing.B) {
	var x isnIndex
	var r recentMemory
	a := &attempt{}
	client := netip.MustParseAddr("10.0.0.1")
	server := netip.MustParseAddr("10.0.0.2")
	now := int64(1e18)
	const every = int64(1e9 / 10000) // 10,000 connects/s
	// Fill both to their steady size before timing.
	warm := int(isnTTL/every) + 1
	one := func(i int) {
		key, _ := makeKey(client, uint16(32768+i%28000), server, 3306)
		k := isnKey{key: key, isn: uint32(i)*2654435761 + 1}
		x.add(k, a, now)
		x.reported(k, a, now)
		a.key, a.cookie = key, uint64(i)+1
		r.add(a, now)
		now += every
		x.expire(now)
		r.expire(now)
	}
	for i := range warm {
		one(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		one(warm + i)
	}
}
