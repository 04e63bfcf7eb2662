package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Classic pcap magic numbers as read little-endian.
const (
	pcapMicro      = 0xa1b2c3d4
	pcapNano       = 0xa1b23c4d
	pcapKuznetzov  = 0xa1b2cd34 // "modified" pcap: 8 more bytes per record header
	pcapHeaderLen  = 24
	pcapRecordLen  = 16
	pcapMaxSnaplen = 262144 // libpcap's MAXIMUM_SNAPLEN
)

var le = binary.LittleEndian

func isPcapMagic(b []byte) bool {
	for _, m := range []uint32{pcapMicro, pcapNano, pcapKuznetzov} {
		if le.Uint32(b) == m || binary.BigEndian.Uint32(b) == m {
			return true
		}
	}
	return false
}

type pcapState struct {
	order     binary.ByteOrder
	bigEndian bool
	nanos     bool
	recordLen int    // record header length: 16, or 24 for Kuznetzov's format
	maxCap    int    // largest record accepted
	link      uint16 // the file's link type
}

func (r *Reader) pcapOpen() error {
	h, err := r.in.peek(pcapHeaderLen)
	if err != nil {
		return r.wrap(err, "reading the 24-byte pcap file header")
	}
	s := &r.pcap
	s.recordLen = pcapRecordLen
	magic := le.Uint32(h)
	if magic != pcapMicro && magic != pcapNano && magic != pcapKuznetzov {
		s.order, s.bigEndian = binary.BigEndian, true
		magic = binary.BigEndian.Uint32(h)
	} else {
		s.order = le
	}
	switch magic {
	case pcapNano:
		s.nanos = true
	case pcapKuznetzov:
		s.recordLen = 24
	}
	if major := s.order.Uint16(h[4:6]); major != 2 {
		return r.corrupt(0, fmt.Sprintf("pcap version %d.%d is not 2.x", major, s.order.Uint16(h[6:8])))
	}
	snaplen := s.order.Uint32(h[16:20])
	s.maxCap = pcapMaxSnaplen
	if snaplen > pcapMaxSnaplen {
		s.maxCap = maxRecord
		if snaplen < maxRecord {
			s.maxCap = int(snaplen)
		}
	}
	// The upper bits of the link type field carry FCS information.
	s.link = uint16(s.order.Uint32(h[20:24]))
	r.in.consume(pcapHeaderLen)
	return nil
}

// pcapNext reads the next record and returns its frame (a slice of the read
// buffer) and the record's offset.
func (r *Reader) pcapNext() (data []byte, wire int, ts time.Time, link uint16, off int64, err error) {
	s := &r.pcap
	off = r.in.off
	h, err := r.in.peek(s.recordLen)
	if err != nil {
		if err == io.EOF {
			return nil, 0, ts, 0, off, io.EOF
		}
		return nil, 0, ts, 0, off, r.wrap(err, "reading a record header")
	}
	var sec, frac, caplen, origlen uint32
	if s.bigEndian {
		sec, frac = binary.BigEndian.Uint32(h[0:4]), binary.BigEndian.Uint32(h[4:8])
		caplen, origlen = binary.BigEndian.Uint32(h[8:12]), binary.BigEndian.Uint32(h[12:16])
	} else {
		sec, frac = le.Uint32(h[0:4]), le.Uint32(h[4:8])
		caplen, origlen = le.Uint32(h[8:12]), le.Uint32(h[12:16])
	}
	if caplen > uint32(s.maxCap) {
		return nil, 0, ts, 0, off, r.corrupt(off, fmt.Sprintf("record claims %d captured bytes, more than the %d a capture can hold (the record header is garbage)", caplen, s.maxCap))
	}
	n := s.recordLen + int(caplen)
	rec, err := r.in.peek(n)
	if err != nil {
		return nil, 0, ts, 0, off, r.wrap(err, fmt.Sprintf("reading a %d-byte record", n))
	}
	r.in.consume(n)
	nsec := int64(frac)
	if !s.nanos {
		nsec *= 1000
	}
	return rec[s.recordLen:], int(min(origlen, 1<<30)), time.Unix(int64(sec), nsec).UTC(), s.link, off, nil
}
