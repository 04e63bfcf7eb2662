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
