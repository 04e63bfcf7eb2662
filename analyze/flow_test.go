package analyze

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestFlowFilter: an index is "maybe" exactly while some flow counted in
// it is tracked — the bitmap the hot path reads follows the counts, also
// with several flows on one index and neighbours in the same bitmap word.
func TestFlowFilter(t *testing.T) {
	type step struct {
		add  bool
		h    uint16
		want map[uint16]bool // maybe after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"one flow", []step{
			{true, 7, map[uint16]bool{7: true, 6: false, 8: false}},
			{false, 7, map[uint16]bool{7: false}},
		}},
		{"two flows on one index", []step{
			{true, 100, map[uint16]bool{100: true}},
			{true, 100, map[uint16]bool{100: true}},
			{false, 100, map[uint16]bool{100: true}},
			{false, 100, map[uint16]bool{100: false}},
		}},
		{"neighbours in one word", []step{
			{true, 64, map[uint16]bool{64: true, 65: false}},
			{true, 65, map[uint16]bool{64: true, 65: true}},
			{false, 64, map[uint16]bool{64: false, 65: true}},
			{false, 65, map[uint16]bool{64: false, 65: false}},
		}},
		{"the last index", []step{
			{true, 0xffff, map[uint16]bool{0xffff: true, 0xfffe: false, 0: false}},
			{false, 0xffff, map[uint16]bool{0xffff: false}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := new(flowFilter)
			for i, s := range tc.steps {
				if s.add {
					f.add(s.h)
				} else {
					f.remove(s.h)
				}
				for h, want := range s.want {
					if got := f.maybe(h); got != want {
						t.Errorf("step %d (add %v %d): maybe(%d) = %v, want %v", i, s.add, s.h, h, got, want)
					}
				}
			}
		})
	}
}

// TestEndpointNames: the cached text is exactly String's — zones and
// v4-mapped addresses are other endpoints — a name asked again costs no
// allocation, and the cache never holds more than maxEndpointNames.
func TestEndpointNames(t *testing.T) {
	ports := []string{"10.0.0.1:3306", "10.0.0.1:3307", "[fd00::1]:3306", "[fe80::1%eth0]:3306", "[fe80::1%eth1]:3306", "[::ffff:10.0.0.1]:3306"}
	var n endpointNames
	for round := 0; round < 2; round++ {
		for _, s := range ports {
			ap := netip.MustParseAddrPort(s)
			if got := n.port(ap); got != ap.String() {
				t.Errorf("port(%s) = %q, want %q", s, got, ap.String())
			}
			if got := n.addr(ap.Addr()); got != ap.Addr().String() {
				t.Errorf("addr(%s) = %q, want %q", ap.Addr(), got, ap.Addr().String())
			}
		}
	}
	if got := (*endpointNames)(nil).port(netip.MustParseAddrPort("10.0.0.1:1")); got != "10.0.0.1:1" {
		t.Errorf("nil cache: %q", got)
	}
	ap := netip.MustParseAddrPort("10.0.0.9:3306")
	n.port(ap)
	n.addr(ap.Addr())
	if allocs := testing.AllocsPerRun(100, func() { n.port(ap); n.addr(ap.Addr()) }); allocs != 0 {
		t.Errorf("naming a known endpoint again costs %v allocations, want 0", allocs)
	}
	for i := 0; i < 3*maxEndpointNames; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if got := n.port(netip.AddrPortFrom(a, 1)); got != netip.AddrPortFrom(a, 1).String() {
			t.Fatalf("port %d: %q", i, got)
		}
		n.addr(a)
		if len(n.ports) > maxEndpointNames || len(n.addrs) > maxEndpointNames {
			t.Fatalf("after %d names the cache holds %d ports, %d addresses (max %d)", i+1, len(n.ports), len(n.addrs), maxEndpointNames)
		}
	}
}

// TestEndpointNamesRecent: the cache in front of the map answers String's
// text for endpoints that share its slots — the same address on other
// ports, other zones, v4-mapped twins, a few hundred endpoints in random
// order evicting each other.
func TestEndpointNamesRecent(t *testing.T) {
	var pool []netip.AddrPort
	for i := 0; i < 40; i++ {
		for _, s := range []string{"10.0.0.%d", "::ffff:10.0.0.%d", "fe80::%d%%eth0", "fe80::%d%%eth1", "fd00::%d"} {
			a := netip.MustParseAddr(fmt.Sprintf(s, i+1))
			pool = append(pool, netip.AddrPortFrom(a, 3306), netip.AddrPortFrom(a, uint16(3306+i)))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var n endpointNames
	for range 20000 {
		ap := pool[rng.IntN(len(pool))]
		if got := n.port(ap); got != ap.String() {
			t.Fatalf("port(%v) = %q", ap, got)
		}
	}
}

// TestFlowFilterCounts tracks and untracks flows at random against a plain
// count per index: maybe is true exactly while the count is not zero, with
// one flow on an index (which keeps no count) and with many.
func TestFlowFilterCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var f flowFilter
	counts := map[uint16]int{}
	var tracked []uint16
	hs := []uint16{0, 1, 63, 64, 65, 1000, 65535} // neighbours in a bitmap word, the ends
	for step := 0; step < 100000; step++ {
		if len(tracked) > 0 && rng.IntN(2) == 0 {
			i := rng.IntN(len(tracked))
			h := tracked[i]
			tracked[i] = tracked[len(tracked)-1]
			tracked = tracked[:len(tracked)-1]
			f.remove(h)
			counts[h]--
		} else {
			h := hs[rng.IntN(len(hs))]
			if rng.IntN(4) == 0 {
				h = uint16(rng.Uint32())
			}
			f.add(h)
			counts[h]++
			tracked = append(tracked, h)
		}
		for _, h := range hs {
			if f.maybe(h) != (counts[h] > 0) {
				t.Fatalf("step %d: maybe(%d) = %v with %d flows", step, h, f.maybe(h), counts[h])
			}
		}
	}
	for _, h := range tracked {
		f.remove(h)
	}
	if f.occupied != ([1 << 16 / 64]uint64{}) || f.several != ([1 << 16 / 64]uint64{}) {
		t.Error("bits left after every flow was untracked")
	}
}
