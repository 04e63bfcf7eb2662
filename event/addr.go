package event

import (
	"encoding/binary"
	"net/netip"
)

// AddrHalves is a's 16-byte form (As16) as big-endian halves, of which the
// engine's flow keys and packet signatures and the live process table's
// flow keys are made (every packet and kernel event makes one). An IPv4
// address skips the 16-byte array: the compiler stored As16's halves and
// read them back as one 16-byte copy, which the CPU cannot forward from the
// two stores (a stall of about 8 ns per address, a flow key's whole cost).
func AddrHalves(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		v4 := a.As4()
		return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(v4[:]))
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}
