//go:build !unix

package rollup

// cpuNS is 0 where getrusage is missing: cpu-ns/op then reads 0.
func cpuNS() int64 { return 0 }
