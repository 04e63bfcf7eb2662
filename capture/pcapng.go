package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
const (
	pcapngSHB        = 0x0a0d0d0a // section header; palindromic, so byte order free
	pcapngIDB        = 0x00000001 // interface description
	pcapngPB         = 0x00000002 // obsolete packet block
	pcapngSPB        = 0x00000003 // simple packet
	pcapngISB        = 0x00000005 // interface statistics
	pcapngEPB        = 0x00000006 // enhanced packet
	pcapngByteOrder  = 0x1a2b3c4d
	optEndOfOpt      = 0
	optComment       = 1
	optIfName        = 2
	optIfTsResol     = 9
	optIfTsOffset    = 14
	optIsbIfDrop     = 5
	optIsbOsDrop     = 7
	maxInterfaces    = 1 << 16
	pcapngMinBlock   = 12
	pcapngEPBFixed   = 32 // type, length, interface, ts high, ts low, caplen, origlen, trailing length
	pcapngPBFixed    = 32
	pcapngSPBFixed   = 16
	pcapngIDBFixed   = 20
	pcapngSHBMinimum = 28
)

type pcapngInterface struct {
	link     uint16
	snaplen  uint32
	units    uint64 // timestamp units per second
	tsOffset int64  // seconds added to every timestamp
	drops    uint64 // latest ifdrop+osdrop from a statistics block
	name     string
}

type pcapngState struct {
	order          binary.ByteOrder
	ifaces         []pcapngInterface
	ifaceBase      int    // interfaces of earlier sections, so Interface stays unique
	dropsDone      uint64 // drops of interfaces in earlier sections
	sectionComment string
}

func (r *Reader) pcapngOpen() error {
	r.pcapng.order = le // until the section header's byte-order magic says otherwise
	return r.pcapngSection(r.in.off)
}

// blockHeader reads a block's type and total length (validated) at the
// current position.
func (r *Reader) pcapngBlockHeader() (typ uint32, length int, err error) {
	off := r.in.off
	b, err := r.in.peek(8)
	if err != nil {
		if err == io.EOF {
			return 0, 0, io.EOF
		}
		return 0, 0, r.wrap(err, "reading a pcapng block header")
	}
	s := &r.pcapng
	typ = s.order.Uint32(b[0:4])
	if typ == pcapngSHB {
		// A new section may switch byte order: the byte-order magic decides.
		b, err = r.in.peek(12)
		if err != nil {
			return 0, 0, r.wrap(err, "reading a pcapng section header")
		}
		switch {
		case le.Uint32(b[8:12]) == pcapngByteOrder:
			s.order = le
		case binary.BigEndian.Uint32(b[8:12]) == pcapngByteOrder:
			s.order = binary.BigEndian
		default:
			return 0, 0, r.corrupt(off, "section header without a valid byte-order magic")
		}
	}
	l := s.order.Uint32(b[4:8])
	if l < pcapngMinBlock || l%4 != 0 || l > maxRecord {
		return 0, 0, r.corrupt(off, fmt.Sprintf("block of type %#x claims a length of %d bytes", typ, l))
	}
	return typ, int(l), nil
}

// pcapngNext reads blocks up to the next packet block and returns its frame.
func (r *Reader) pcapngNext() (data []byte, wire int, ts time.Time, iface int, link uint16, off int64, proc bool, err error) {
	s := &r.pcapng
	for {
		off = r.in.off
		typ, length, err := r.pcapngBlockHeader()
		if err != nil {
			return nil, 0, ts, 0, 0, off, false, err
		}
		switch typ {
		case pcapngEPB, pcapngPB, pcapngSPB, pcapngIDB, pcapngISB, pcapngSHB:
		default:
			// Name resolution, decryption secrets, custom, …: not needed.
			if err := r.in.skip(length); err != nil {
				e := r.wrap(err, fmt.Sprintf("skipping a %d-byte block of type %#x", length, typ)).(*Error)
				e.Offset = off
				return nil, 0, ts, 0, 0, off, false, e
			}
			continue
		}
		b, err := r.in.peek(length)
		if err != nil {
			return nil, 0, ts, 0, 0, off, false, r.wrap(err, fmt.Sprintf("reading a %d-byte block of type %#x", length, typ))
		}
		if tail := s.order.Uint32(b[length-4:]); tail != uint32(length) {
			return nil, 0, ts, 0, 0, off, false, r.corrupt(off, fmt.Sprintf("block of type %#x has length %d at its start but %d at its end", typ, length, tail))
		}
		switch typ {
		case pcapngSHB:
			if err := r.pcapngSection(off); err != nil {
				return nil, 0, ts, 0, 0, off, false, err
			}
			continue
		case pcapngIDB:
			if err := r.pcapngInterface(off, b); err != nil {
				return nil, 0, ts, 0, 0, off, false, err
			}
			r.in.consume(length)
			continue
		case pcapngISB:
			r.pcapngStatistics(b)
			r.in.consume(length)
			continue
		}

		// A packet block.
		var id, caplen, origlen uint32
		var fixed int
		var tsHigh, tsLow uint32
		switch typ {
		case pcapngEPB:
			if length < pcapngEPBFixed {
				return nil, 0, ts, 0, 0, off, false, r.corrupt(off, fmt.Sprintf("enhanced packet block of %d bytes is shorter than its fixed fields", length))
			}
			id = s.order.Uint32(b[8:12])
			tsHigh, tsLow = s.order.Uint32(b[12:16]), s.order.Uint32(b[16:20])
			caplen, origlen = s.order.Uint32(b[20:24]), s.order.Uint32(b[24:28])
			fixed = 28
		case pcapngPB:
			if length < pcapngPBFixed {
				return nil, 0, ts, 0, 0, off, false, r.corrupt(off, fmt.Sprintf("packet block of %d bytes is shorter than its fixed fields", length))
			}
			id = uint32(s.order.Uint16(b[8:10]))
			tsHigh, tsLow = s.order.Uint32(b[12:16]), s.order.Uint32(b[16:20])
			caplen, origlen = s.order.Uint32(b[20:24]), s.order.Uint32(b[24:28])
			fixed = 28
		case pcapngSPB:
			if length < pcapngSPBFixed {
				return nil, 0, ts, 0, 0, off, false, r.corrupt(off, fmt.Sprintf("simple packet block of %d bytes is shorter than its fixed fields", length))
			}
			// The frame fills the block, cut to the original length and
			// the first interface's snap length.
			caplen = s.order.Uint32(b[8:12])
			origlen = caplen
			if room := uint32(length - pcapngSPBFixed); caplen > room {
				caplen = room
			}
			if len(s.ifaces) > 0 && s.ifaces[0].snaplen != 0 && caplen > s.ifaces[0].snaplen {
				caplen = s.ifaces[0].snaplen
			}
			fixed = 12
		}
		if int(id) >= len(s.ifaces) {
			return nil, 0, ts, 0, 0, off, false, r.corrupt(off, fmt.Sprintf("packet names interface %d but the section describes %d", id, len(s.ifaces)))
		}
		if uint64(caplen) > uint64(length-fixed-4) {
			return nil, 0, ts, 0, 0, off, false, r.corrupt(off, fmt.Sprintf("packet claims %d captured bytes in a %d-byte block", caplen, length))
		}
		data = b[fixed : fixed+int(caplen)]
		ifc := &s.ifaces[id]
		if typ != pcapngSPB {
			ts = ifc.time(uint64(tsHigh)<<32 | uint64(tsLow))
		}
		if typ == pcapngEPB || typ == pcapngPB {
			optStart := fixed + (int(caplen)+3)&^3
			if optStart < length-4 {
				proc = r.pcapngPacketOptions(b[optStart : length-4])
			}
		}
		r.in.consume(length)
		return data, int(min(origlen, 1<<30)), ts, s.ifaceBase + int(id), ifc.link, off, proc, nil
	}
}

// time converts a pcapng timestamp to wall-clock time.
func (ifc *pcapngInterface) time(t uint64) time.Time {
	sec := t / ifc.units
	frac := t % ifc.units
	var nsec uint64
	if ifc.units == 1e6 {
		nsec = frac * 1000
	} else {
		hi, lo := bits.Mul64(frac, 1e9)
		nsec, _ = bits.Div64(hi, lo, ifc.units) // hi < units because frac < units
	}
	return time.Unix(int64(sec)+ifc.tsOffset, int64(nsec)).UTC()
}

// forEachOption walks a pcapng option list (b is the options area of a block)
// and stops at opt_endofopt or at an option that overruns the block.
func (r *Reader) forEachOption(b []byte, fn func(code uint16, val []byte)) {
	o := r.pcapng.order
	for len(b) >= 4 {
		code, n := o.Uint16(b[0:2]), int(o.Uint16(b[2:4]))
		if code == optEndOfOpt {
			return
		}
		padded := (n + 3) &^ 3
		if 4+n > len(b) {
			return
		}
		fn(code, b[4:4+n])
		if 4+padded > len(b) {
			return
		}
		b = b[4+padded:]
	}
}

func (r *Reader) pcapngSection(off int64) error {
	s := &r.pcapng
	_, length, err := r.pcapngBlockHeader()
	if err != nil {
		if err == io.EOF {
			err = r.wrap(io.ErrUnexpectedEOF, "reading a pcapng section header")
		}
		return err
	}
	if length < pcapngSHBMinimum {
		return r.corrupt(off, fmt.Sprintf("section header of %d bytes is shorter than its fixed fields", length))
	}
	b, err := r.in.peek(length)
	if err != nil {
		return r.wrap(err, fmt.Sprintf("reading a %d-byte section header", length))
	}
	if tail := s.order.Uint32(b[length-4:]); tail != uint32(length) {
		return r.corrupt(off, fmt.Sprintf("section header has length %d at its start but %d at its end", length, tail))
	}
	if major := s.order.Uint16(b[12:14]); major != 1 {
		return r.corrupt(off, fmt.Sprintf("pcapng section version %d.%d is not 1.x", major, s.order.Uint16(b[14:16])))
	}
	for _, ifc := range s.ifaces {
		s.dropsDone += ifc.drops
	}
	s.ifaceBase += len(s.ifaces)
	s.ifaces = s.ifaces[:0]
	s.sectionComment = ""
	r.forEachOption(b[24:length-4], func(code uint16, val []byte) {
		if code == optComment && s.sectionComment == "" {
			s.sectionComment = string(val)
		}
	})
	r.in.consume(length)
	r.updateDrops()
	return nil
}

func (r *Reader) pcapngInterface(off int64, b []byte) error {
	s := &r.pcapng
	if len(b) < pcapngIDBFixed {
		return r.corrupt(off, fmt.Sprintf("interface description block of %d bytes is shorter than its fixed fields", len(b)))
	}
	if len(s.ifaces) >= maxInterfaces {
		return r.corrupt(off, fmt.Sprintf("more than %d interfaces in one section", maxInterfaces))
	}
	ifc := pcapngInterface{
		link:    s.order.Uint16(b[8:10]),
		snaplen: s.order.Uint32(b[12:16]),
		units:   1e6,
	}
	var bad string
	r.forEachOption(b[16:len(b)-4], func(code uint16, val []byte) {
		switch code {
		case optIfName:
			ifc.name = string(val)
		case optIfTsResol:
			if len(val) < 1 {
				return
			}
			res := val[0]
			if res&0x80 != 0 {
				if res&0x7f > 63 {
					bad = fmt.Sprintf("timestamp resolution 2^-%d", res&0x7f)
					return
				}
				ifc.units = 1 << (res & 0x7f)
			} else {
				if res > 19 {
					bad = fmt.Sprintf("timestamp resolution 10^-%d", res)
					return
				}
				ifc.units = 1
				for i := uint8(0); i < res; i++ {
					ifc.units *= 10
				}
			}
		case optIfTsOffset:
			if len(val) >= 8 {
				ifc.tsOffset = int64(s.order.Uint64(val))
			}
		}
	})
	if bad != "" {
		return r.corrupt(off, "interface description with an impossible "+bad)
	}
	s.ifaces = append(s.ifaces, ifc)
	return nil
}

// pcapngStatistics records the drop counters of an interface statistics
// block: what the capturing kernel or NIC lost is shown like live drops.
func (r *Reader) pcapngStatistics(b []byte) {
	s := &r.pcapng
	if len(b) < 24 {
		return
	}
	id := s.order.Uint32(b[8:12])
	if int(id) >= len(s.ifaces) {
		return
	}
	var drops uint64
	seen := false
	r.forEachOption(b[20:len(b)-4], func(code uint16, val []byte) {
		if (code == optIsbIfDrop || code == optIsbOsDrop) && len(val) >= 8 {
			drops += s.order.Uint64(val)
			seen = true
		}
	})
	if seen {
		s.ifaces[id].drops = drops // counters are cumulative: the latest wins
		r.updateDrops()
	}
}

func (r *Reader) updateDrops() {
	s := &r.pcapng
	total := s.dropsDone
	for _, ifc := range s.ifaces {
		total += ifc.drops
	}
	r.stats.KernelDrops = total
}

// pcapngPacketOptions looks for a connscope process comment among a packet
// block's options and decodes it into r.proc.
func (r *Reader) pcapngPacketOptions(b []byte) (found bool) {
	o := r.pcapng.order
	for len(b) >= 4 {
		code, n := o.Uint16(b[0:2]), int(o.Uint16(b[2:4]))
		if code == optEndOfOpt || 4+n > len(b) {
			return found
		}
		if code == optComment && !found {
			found = parseProcessComment(b[4:4+n], &r.proc, &r.comm)
		}
		padded := (n + 3) &^ 3
		if 4+padded > len(b) {
			return found
		}
		b = b[4+padded:]
	}
	return found
}
