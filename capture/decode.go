package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/connscope/connscope/event"
)

// Link types (LINKTYPE_* from the pcap/pcapng specifications, which for these
// values equal the DLT_* numbers tcpdump writes).
const (
	linkNull     = 0   // BSD loopback: 4-byte address family in the writer's byte order
	linkEthernet = 1   // Ethernet II / 802.3
	linkPPP      = 9   // PPP, optionally with HDLC address/control bytes
	linkRaw12    = 12  // DLT_RAW on most platforms: bare IPv4/IPv6
	linkRaw14    = 14  // DLT_RAW on OpenBSD
	linkPPPHDLC  = 50  // PPP in HDLC-like framing
	linkRaw      = 101 // LINKTYPE_RAW
	linkCHDLC    = 104 // Cisco HDLC: address, control, ethertype
	linkLoop     = 108 // OpenBSD loopback: address family in network byte order
	linkSLL      = 113 // Linux cooked capture v1 (tcpdump -i any, older libpcap)
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276 // Linux cooked capture v2 (tcpdump -i any, libpcap ≥ 1.10)
)

// Ethertypes followed by the decoder.
const (
	etherIPv4      = 0x0800
	etherIPv6      = 0x86dd
	etherVLAN      = 0x8100 // 802.1Q
	etherQinQ      = 0x88a8 // 802.1ad service tag
	etherQinQOld   = 0x9100 // pre-standard QinQ
	etherPPPoE     = 0x8864 // PPPoE session stage
	etherMPLS      = 0x8847
	etherMPLSMcast = 0x8848
	maxVLANTags    = 8
	maxIPv6ExtHdrs = 16
)

// decodeResult says what became of a frame.
type decodeResult uint8

const (
	decoded     decodeResult = iota // p holds a TCP, UDP or ICMP-error packet
	unsupported                     // well-formed, but nothing connscope follows (ARP, ICMP echo, fragments, …)
	malformed                       // too short or inconsistent to decode
)

var be = binary.BigEndian

// decoder decodes frames into event.Packet values without allocating.
type decoder struct {
	icmp event.ICMPError // storage for the ICMP error p.ICMP points to
	// cut is true when the frame was cut by the snap length: an IP length
	// beyond the captured bytes is then expected, not an inconsistency.
	cut bool
	// l4 is the last transport header decoded (see QuotedTCPPayload).
	l4 []byte
}

// decodeFrame decodes one frame of the given link type into p, which the
// caller has reset (Time, Number, Offset and Interface already set); wireLen
// is the frame's original length. For LINUX_SLL2 frames p.Interface becomes
// the kernel ifindex from the header, so copies of one packet seen on two
// interfaces of a `tcpdump -i any` capture differ there. Payload slices alias
// data, p.ICMP points into dc.
func (dc *decoder) decodeFrame(p *event.Packet, linkType uint16, data []byte, wireLen int) decodeResult {
	dc.cut = wireLen > len(data)
	switch linkType {
	case linkEthernet:
		if len(data) < 14 {
			return malformed
		}
		return dc.decodeEtherType(p, be.Uint16(data[12:14]), data[14:])
	case linkSLL:
		// packet type(2) ARPHRD type(2) address length(2) address(8) protocol(2)
		if len(data) < 16 {
			return malformed
		}
		if be.Uint16(data[2:4]) == arphrdNetlink {
			return unsupported
		}
		return dc.decodeEtherType(p, be.Uint16(data[14:16]), data[16:])
	case linkSLL2:
		// protocol(2) reserved(2) ifindex(4) ARPHRD type(2) packet type(1) address length(1) address(8)
		if len(data) < 20 {
			return malformed
		}
		p.Interface = int(int32(be.Uint32(data[4:8])))
		if be.Uint16(data[8:10]) == arphrdNetlink {
			return unsupported
		}
		return dc.decodeEtherType(p, be.Uint16(data[0:2]), data[20:])
	case linkRaw12, linkRaw14, linkRaw:
		return dc.decodeIPByVersion(p, data, malformed)
	case linkPPP, linkPPPHDLC:
		if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 {
			data = data[2:]
		}
		return dc.decodePPP(p, data)
	case linkCHDLC:
		if len(data) < 4 {
			return malformed
		}
		return dc.decodeEtherType(p, be.Uint16(data[2:4]), data[4:])
	case linkIPv4:
		return dc.decodeIPv4(p, data)
	case linkIPv6:
		return dc.decodeIPv6(p, data)
	case linkNull, linkLoop:
		if len(data) < 4 {
			return malformed
		}
		var family uint32
		if linkType == linkLoop {
			family = be.Uint32(data)
		} else {
			// Host byte order of the machine that wrote the file: the
			// families are small numbers, so the wrong order shows as a
			// value with only high bits set.
			family = binary.LittleEndian.Uint32(data)
			if family&0xffff == 0 {
				family = be.Uint32(data)
			}
		}
		switch family {
		case 2: // AF_INET everywhere
			return dc.decodeIPv4(p, data[4:])
		case 10, 24, 28, 30: // AF_INET6: Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			return dc.decodeIPv6(p, data[4:])
		}
		return unsupported
	}
	return unsupported
}

const arphrdNetlink = 824 // nlmon captures in cooked headers

// decodeNetwork decodes a frame that starts at its network header, of the
// given ethertype (what a SOCK_DGRAM packet socket delivers).
func (dc *decoder) decodeNetwork(p *event.Packet, etherType uint16, data []byte, wireLen int) decodeResult {
	dc.cut = wireLen > len(data)
	return dc.decodeEtherType(p, etherType, data)
}

func (dc *decoder) decodeEtherType(p *event.Packet, etherType uint16, data []byte) decodeResult {
	for tags := 0; ; tags++ {
		switch etherType {
		case etherIPv4:
			return dc.decodeIPv4(p, data)
		case etherIPv6:
			return dc.decodeIPv6(p, data)
		case etherVLAN, etherQinQ, etherQinQOld:
			// TCI(2) then the inner ethertype(2)
			if len(data) < 4 || tags >= maxVLANTags {
				return malformed
			}
			etherType = be.Uint16(data[2:4])
			data = data[4:]
		case etherPPPoE:
			// version/type(1) code(1) session(2) length(2), then PPP
			if len(data) < 6 {
				return malformed
			}
			return dc.decodePPP(p, data[6:])
		case etherMPLS, etherMPLSMcast:
			// Pop labels up to the bottom of the stack; the payload's
			// version nibble says what it is.
			for {
				if len(data) < 4 || tags >= maxVLANTags {
					return malformed
				}
				bottom := data[2]&1 != 0
				data = data[4:]
				tags++
				if bottom {
					break
				}
			}
			return dc.decodeIPByVersion(p, data, unsupported)
		default:
			// ARP, LLDP, 802.3 length fields (< 0x0600), MPLS, …
			return unsupported
		}
	}
}

// decodePPP decodes a PPP protocol field (one byte when compressed: the
// low bit of the first byte is set) and what follows.
func (dc *decoder) decodePPP(p *event.Packet, data []byte) decodeResult {
	if len(data) < 1 {
		return malformed
	}
	proto := uint16(data[0])
	if data[0]&1 == 0 {
		if len(data) < 2 {
			return malformed
		}
		proto = be.Uint16(data)
		data = data[2:]
	} else {
		data = data[1:]
	}
	switch proto {
	case 0x0021:
		return dc.decodeIPv4(p, data)
	case 0x0057:
		return dc.decodeIPv6(p, data)
	case 0x0281, 0x0283: // MPLS unicast, multicast
		return dc.decodeEtherType(p, etherMPLS, data)
	}
	return unsupported
}

// decodeIPByVersion decodes data as IPv4 or IPv6 by its version nibble
// (raw-IP link types, MPLS payloads); other versions give otherwise.
func (dc *decoder) decodeIPByVersion(p *event.Packet, data []byte, otherwise decodeResult) decodeResult {
	if len(data) < 1 {
		return malformed
	}
	switch data[0] >> 4 {
	case 4:
		return dc.decodeIPv4(p, data)
	case 6:
		return dc.decodeIPv6(p, data)
	}
	return otherwise
}

func (dc *decoder) decodeIPv4(p *event.Packet, d []byte) decodeResult {
	if len(d) < 20 || d[0]>>4 != 4 {
		return malformed
	}
	ihl := int(d[0]&0x0f) * 4
	if ihl < 20 || len(d) < ihl {
		return malformed
	}
	total := int(be.Uint16(d[2:4]))
	if total == 0 {
		// Outgoing TSO/GSO super-packets are captured before segmentation
		// with a zero length field (tcpdump and Wireshark show "0 (TSO)").
		total = len(d)
	}
	if total > len(d) && !dc.cut {
		// The header claims more than the whole frame held on the wire:
		// trust the frame, as Wireshark does.
		total = len(d)
	}
	if total < ihl {
		return malformed
	}
	if be.Uint16(d[6:8])&0x1fff != 0 {
		// A later fragment: no transport header. The first fragment
		// carries the ports and is decoded.
		return unsupported
	}
	if len(d) > total {
		d = d[:total] // Ethernet padding
	}
	p.Src = netip.AddrFrom4([4]byte(d[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(d[16:20]))
	p.IPID = uint32(be.Uint16(d[4:6]))
	p.HopLimit = d[8]
	return dc.decodeTransport(p, d[9], d[ihl:], total-ihl)
}

func (dc *decoder) decodeIPv6(p *event.Packet, d []byte) decodeResult {
	if len(d) < 40 || d[0]>>4 != 6 {
		return malformed
	}
	p.Src = netip.AddrFrom16([16]byte(d[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(d[24:40]))
	p.IPID = be.Uint32(d[0:4]) & 0xfffff // flow label; a fragment header's id replaces it
	p.HopLimit = d[7]
	next := d[6]
	total := int(be.Uint16(d[4:6]))
	rest := d[40:]
	if total == 0 || (total > len(rest) && !dc.cut) {
		total = len(rest) // jumbogram / BIG TCP super-packet, or a length beyond the frame
	}
	if len(rest) > total {
		rest = rest[:total]
	}
	for i := 0; ; i++ {
		if i > maxIPv6ExtHdrs {
			return malformed
		}
		var hdrLen int
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 2 {
				return malformed
			}
			hdrLen = (int(rest[1]) + 1) * 8
		case 51: // authentication header
			if len(rest) < 2 {
				return malformed
			}
			hdrLen = (int(rest[1]) + 2) * 4
		case 44: // fragment
			if len(rest) < 8 {
				return malformed
			}
			p.IPID = be.Uint32(rest[4:8])
			if be.Uint16(rest[2:4])>>3 != 0 {
				return unsupported // a later fragment
			}
			hdrLen = 8
		default:
			return dc.decodeTransport(p, next, rest, total)
		}
		if len(rest) < hdrLen || total < hdrLen {
			return malformed
		}
		next = rest[0]
		rest = rest[hdrLen:]
		total -= hdrLen
	}
}

// decodeTransport decodes the transport header in l4 (captured bytes, cut to
// the IP length); l4Len is its length according to the IP header.
func (dc *decoder) decodeTransport(p *event.Packet, proto uint8, l4 []byte, l4Len int) decodeResult {
	dc.l4 = l4
	switch proto {
	case event.ProtoTCP:
		if len(l4) < 20 || l4Len < 20 {
			return malformed
		}
		off := int(l4[12]>>4) * 4
		if off < 20 || off > l4Len {
			return malformed
		}
		p.Proto = proto
		p.SrcPort = be.Uint16(l4[0:2])
		p.DstPort = be.Uint16(l4[2:4])
		p.Seq = be.Uint32(l4[4:8])
		p.Ack = be.Uint32(l4[8:12])
		p.TCPFlags = l4[13]
		p.Window = be.Uint16(l4[14:16])
		p.PayloadLen = l4Len - off
		if len(l4) > off {
			p.Payload = l4[off:] // options cut by the snap length leave none
		}
		return decoded
	case event.ProtoUDP:
		if len(l4) < 8 || l4Len < 8 {
			return malformed
		}
		udpLen := int(be.Uint16(l4[4:6]))
		switch {
		case udpLen == 0: // jumbogram: the IP length counts
			udpLen = l4Len
		case udpLen < 8 || udpLen > l4Len:
			return malformed
		}
		p.Proto = proto
		p.SrcPort = be.Uint16(l4[0:2])
		p.DstPort = be.Uint16(l4[2:4])
		p.PayloadLen = udpLen - 8
		if len(l4) > udpLen {
			l4 = l4[:udpLen]
		}
		p.Payload = l4[8:]
		return decoded
	case event.ProtoICMP:
		if len(l4) < 8 {
			return malformed
		}
		switch l4[0] {
		case 3, 11, 12: // destination unreachable, time exceeded, parameter problem
		default:
			return unsupported
		}
		dc.icmp = event.ICMPError{Type: l4[0], Code: l4[1]}
		if !decodeQuotedIPv4(&dc.icmp, l4[8:]) {
			return malformed
		}
		p.Proto = proto
		p.ICMP = &dc.icmp
		return decoded
	case event.ProtoICMPv6:
		if len(l4) < 8 {
			return malformed
		}
		switch l4[0] {
		case 1, 2, 3, 4: // destination unreachable, packet too big, time exceeded, parameter problem
		default:
			return unsupported // neighbour discovery, echo, MLD, …
		}
		dc.icmp = event.ICMPError{V6: true, Type: l4[0], Code: l4[1]}
		if !decodeQuotedIPv6(&dc.icmp, l4[8:]) {
			return malformed
		}
		p.Proto = proto
		p.ICMP = &dc.icmp
		return decoded
	}
	return unsupported
}

// decodeQuotedIPv4 decodes the IPv4 header an ICMP error quotes and as much
// of its transport header as the quote holds. It fails only when the quoted
// IP header itself is incomplete.
func decodeQuotedIPv4(icmp *event.ICMPError, q []byte) bool {
	if len(q) < 20 || q[0]>>4 != 4 {
		return false
	}
	ihl := int(q[0]&0x0f) * 4
	if ihl < 20 || len(q) < ihl {
		return false
	}
	icmp.QuotedSrc = netip.AddrFrom4([4]byte(q[12:16]))
	icmp.QuotedDst = netip.AddrFrom4([4]byte(q[16:20]))
	icmp.QuotedProto = q[9]
	if be.Uint16(q[6:8])&0x1fff == 0 {
		quotedPorts(icmp, q[ihl:])
	}
	return true
}

func decodeQuotedIPv6(icmp *event.ICMPError, q []byte) bool {
	if len(q) < 40 || q[0]>>4 != 6 {
		return false
	}
	icmp.QuotedSrc = netip.AddrFrom16([16]byte(q[8:24]))
	icmp.QuotedDst = netip.AddrFrom16([16]byte(q[24:40]))
	next := q[6]
	rest := q[40:]
	for i := 0; i <= maxIPv6ExtHdrs; i++ {
		var hdrLen int
		switch next {
		case 0, 43, 60:
			if len(rest) < 2 {
				icmp.QuotedProto = next
				return true // the quote ends inside the extension headers
			}
			hdrLen = (int(rest[1]) + 1) * 8
		case 51:
			if len(rest) < 2 {
				icmp.QuotedProto = next
				return true
			}
			hdrLen = (int(rest[1]) + 2) * 4
		case 44:
			if len(rest) < 8 {
				icmp.QuotedProto = next
				return true
			}
			if be.Uint16(rest[2:4])>>3 != 0 {
				icmp.QuotedProto = rest[0]
				return true // a later fragment quotes no transport header
			}
			hdrLen = 8
		default:
			icmp.QuotedProto = next
			quotedPorts(icmp, rest)
			return true
		}
		if len(rest) < hdrLen {
			icmp.QuotedProto = rest[0]
			return true
		}
		next = rest[0]
		rest = rest[hdrLen:]
	}
	icmp.QuotedProto = next
	return true
}

// quotedPorts takes the ports (and the TCP sequence number) from a quoted
// transport header when the quote is long enough: RFC 792 guarantees 8 bytes.
func quotedPorts(icmp *event.ICMPError, t []byte) {
	switch icmp.QuotedProto {
	case event.ProtoTCP, event.ProtoUDP, 132: // 132: SCTP shares the port layout
	default:
		return
	}
	if len(t) >= 4 {
		icmp.QuotedSrcPort = be.Uint16(t[0:2])
		icmp.QuotedDstPort = be.Uint16(t[2:4])
	}
	if icmp.QuotedProto == event.ProtoTCP && len(t) >= 8 {
		icmp.QuotedSeq = be.Uint32(t[4:8])
		icmp.QuotedHasSeq = true
	}
}
