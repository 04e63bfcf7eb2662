package event

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestAddrHalves pins AddrHalves to As16's halves, which flow keys and
// packet signatures were made of: IPv4, IPv4-mapped IPv6, IPv6 with and
// without a zone, the zero Addr, random addresses of both families.
func TestAddrHalves(t *testing.T) {
	addrs := []netip.Addr{{}, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("255.255.255.255"),
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::ffff:1.2.3.4"), netip.MustParseAddr("::"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth0")}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		addrs = append(addrs, netip.AddrFrom16(b), netip.AddrFrom4([4]byte(b[:4])))
	}
	for _, a := range addrs {
		b := a.As16()
		hi, lo := AddrHalves(a)
		if hi != binary.BigEndian.Uint64(b[:8]) || lo != binary.BigEndian.Uint64(b[8:]) {
			t.Errorf("%v: halves %#x %#x, As16 %x", a, hi, lo, b)
		}
	}
}
