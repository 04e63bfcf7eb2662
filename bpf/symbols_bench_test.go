package bpf

import "testing"

// BenchmarkLoadSymbols: reading this kernel's /proc/kallsyms into the
// symbolizer's table, as the first drop with a location does (inside a
// live trace: connbench counts it).
func BenchmarkLoadSymbols(b *testing.B) {
	if loadSymbols("/proc/kallsyms") == nil {
		b.Skip("kallsyms unreadable or its addresses hidden")
	}
	for b.Loop() {
		loadSymbols("/proc/kallsyms")
	}
}
