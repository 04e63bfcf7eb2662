package capture

import "github.com/connscope/connscope/event"

// TransportPayload locates the TCP or UDP payload inside a captured frame of
// the given pcap link type: it decodes the frame as the readers do and
// returns the payload's offset in data and its captured length (which the
// snap length may have cut). ok is false when the frame does not decode to a
// TCP or UDP packet. A recording that blanks payload bytes (`trace -w`) uses
// it to find them.
func TransportPayload(data []byte, linkType uint16, wireLen int) (offset, length int, ok bool) {
	var (
		dc decoder
		p  event.Packet
	)
	if wireLen < len(data) {
		wireLen = len(data)
	}
	if dc.decodeFrame(&p, linkType, data, wireLen) != decoded {
		return 0, 0, false
	}
	if p.Proto != event.ProtoTCP && p.Proto != event.ProtoUDP {
		return 0, 0, false
	}
	if len(p.Payload) == 0 {
		return len(data), 0, true
	}
	// The decoder's payload slices alias data: the offset is how much
	// capacity the slice lost against the frame's.
	return cap(data) - cap(p.Payload), len(p.Payload), true
}

// QuotedTCPPayload locates, in a frame holding an ICMP or ICMPv6 error, the
// TCP payload of the segment the error quotes (routers quote up to 576
// bytes, Linux more: a quoted login packet carries its credentials). The
// quoted IP and TCP headers, which the analysis reads, come before it. ok is
// false when the frame is no such error or quotes no TCP payload.
func QuotedTCPPayload(data []byte, linkType uint16, wireLen int) (offset, length int, ok bool) {
	var (
		dc decoder
		p  event.Packet
	)
	if wireLen < len(data) {
		wireLen = len(data)
	}
	if dc.decodeFrame(&p, linkType, data, wireLen) != decoded || p.ICMP == nil || p.ICMP.QuotedProto != event.ProtoTCP || len(dc.l4) < 8 {
		return 0, 0, false
	}
	q := dc.l4[8:]
	var ihl int
	switch {
	case len(q) >= 20 && q[0]>>4 == 4:
		ihl = int(q[0]&0x0f) * 4
	case len(q) >= 40 && q[0]>>4 == 6 && q[6] == event.ProtoTCP:
		ihl = 40
	default:
		// IPv6 extension headers before TCP (rare in a quote): not
		// located, left as quoted.
		return 0, 0, false
	}
	if len(q) < ihl+20 {
		return 0, 0, false // no complete TCP header, so no payload
	}
	doff := int(q[ihl+12]>>4) * 4
	if doff < 20 {
		doff = 20
	}
	if len(q) <= ihl+doff {
		return 0, 0, false
	}
	rest := q[ihl+doff:]
	return cap(data) - cap(rest), len(rest), true
}
