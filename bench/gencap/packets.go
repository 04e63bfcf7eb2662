package main

import (
	"encoding/binary"
	"net/netip"
)

// Wire-format builders: just enough of LINUX_SLL2, IPv4/IPv6, TCP, UDP and
// ICMP to write what `tcpdump -i any` writes, with correct lengths and
// checksums so that tshark and connscope both accept every frame.

var be = binary.BigEndian

const (
	sll2Len = 20

	sllHost     = 0 // packet type: to us
	sllOutgoing = 4 // packet type: sent by us

	arphrdEther = 1

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58

	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)

// frame is one captured packet.
type frame struct {
	us   int64 // capture time, microseconds since the epoch
	data []byte
}

// sll2 prepends a LINUX_SLL2 header for a packet of the given family on
// interface ifindex.
func sll2(buf []byte, v6 bool, ifindex uint32, pktType byte) []byte {
	var h [sll2Len]byte
	if v6 {
		be.PutUint16(h[0:], 0x86dd)
	} else {
		be.PutUint16(h[0:], 0x0800)
	}
	be.PutUint32(h[4:], ifindex)
	be.PutUint16(h[8:], arphrdEther)
	h[10] = pktType
	h[11] = 6
	copy(h[12:], []byte{0x02, 0x42, 0xac, 0x11, 0x00, byte(ifindex)})
	return append(buf, h[:]...)
}

// checksum is the Internet checksum of b, folded, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(be.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func pseudoSum(src, dst netip.Addr, proto uint8, l4len int) uint32 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(be.Uint16(b[i:]))
		}
	}
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		add(s[:])
		add(d[:])
	} else {
		s, d := src.As16(), dst.As16()
		add(s[:])
		add(d[:])
	}
	sum += uint32(proto) + uint32(l4len)
	return sum
}

// ipPacket appends an IP header and l4 (whose checksum at csumOff, if >= 0,
// is filled in) to buf.
func ipPacket(buf []byte, src, dst netip.Addr, proto uint8, ipid uint16, ttl uint8, l4 []byte, csumOff int) []byte {
	if csumOff >= 0 {
		l4[csumOff], l4[csumOff+1] = 0, 0
		c := checksum(l4, pseudoSum(src, dst, proto, len(l4)))
		if proto == protoUDP && c == 0 {
			c = 0xffff
		}
		be.PutUint16(l4[csumOff:], c)
	}
	if src.Is4() {
		var h [20]byte
		h[0] = 0x45
		be.PutUint16(h[2:], uint16(20+len(l4)))
		be.PutUint16(h[4:], ipid)
		h[6] = 0x40 // DF
		h[8] = ttl
		h[9] = proto
		s, d := src.As4(), dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		be.PutUint16(h[10:], checksum(h[:], 0))
		buf = append(buf, h[:]...)
	} else {
		var h [40]byte
		h[0] = 0x60
		be.PutUint16(h[4:], uint16(len(l4)))
		h[6] = proto
		h[7] = ttl
		s, d := src.As16(), dst.As16()
		copy(h[8:], s[:])
		copy(h[24:], d[:])
		buf = append(buf, h[:]...)
	}
	return append(buf, l4...)
}

// tcpSegment builds a TCP header with options and payload.
func tcpSegment(sport, dport uint16, seq, ack uint32, flags uint8, window uint16, tsval, tsecr uint32, payload []byte) []byte {
	var opts []byte
	if flags&flagSYN != 0 {
		// MSS 1460, SACK permitted, timestamps, NOP, window scale 7: what Linux sends.
		opts = []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7}
		be.PutUint32(opts[8:], tsval)
		be.PutUint32(opts[12:], tsecr)
	} else if flags&flagRST == 0 {
		opts = []byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0}
		be.PutUint32(opts[4:], tsval)
		be.PutUint32(opts[8:], tsecr)
	}
	hl := 20 + len(opts)
	seg := make([]byte, hl, hl+len(payload))
	be.PutUint16(seg[0:], sport)
	be.PutUint16(seg[2:], dport)
	be.PutUint32(seg[4:], seq)
	be.PutUint32(seg[8:], ack)
	seg[12] = byte(hl/4) << 4
	seg[13] = flags
	be.PutUint16(seg[14:], window)
	copy(seg[20:], opts)
	return append(seg, payload...)
}

func udpDatagram(sport, dport uint16, payload []byte) []byte {
	d := make([]byte, 8, 8+len(payload))
	be.PutUint16(d[0:], sport)
	be.PutUint16(d[2:], dport)
	be.PutUint16(d[4:], uint16(8+len(payload)))
	return append(d, payload...)
}
