package capture

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/connscope/connscope/event"
)

// Source is what the analyzer reads packets from: a file (Reader) or a live
// capture (LiveReader).
type Source interface {
	// Next returns the next TCP, UDP or ICMP-error packet. The packet and its
	// payload are reused by the following call.
	Next() (*event.Packet, error)
	Stats() event.Stats
	Close() error
}

// Reader reads packets from a pcap or pcapng file, gzip-compressed or not.
//
// Next returns, in file order, every frame that decodes to TCP, UDP or an
// ICMP/ICMPv6 error. Everything else is counted in Stats and skipped:
// frames of other protocols (ARP, ICMP echo, non-first IP fragments, unknown
// link types) as Unsupported, frames too short or inconsistent to decode as
// Malformed. A damaged file (truncated, or a corrupt record header) ends with
// an *Error naming the packet number and byte offset; the packets before it
// have been returned. After an error or io.EOF, Next keeps returning it.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	name   string
	closer io.Closer
	in     *input
	gz     bool
	format string // "pcap" or "pcapng"

	pcap   pcapState
	pcapng pcapngState

	pkt   event.Packet
	dec   decoder
	proc  event.Process
	comm  commCache
	stats event.Stats
	err   error

	// the frame most recently read, for LastFrame
	frame      []byte
	frameLink  uint16
	frameWire  int // its length on the wire
	frameIface int
}

// Open opens a capture file; "-" reads standard input. The format (pcap with
// micro- or nanosecond timestamps in either byte order, or pcapng) and gzip
// compression are detected from the content, not the name.
func Open(path string) (*Reader, error) {
	if path == "-" {
		return newReader(os.Stdin, "stdin", nil)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	r, err := newReader(f, path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// NewReader reads a capture from r; name is used in errors and Stats.Source.
// It reads the file header before returning.
func NewReader(r io.Reader, name string) (*Reader, error) {
	return newReader(r, name, nil)
}

func newReader(r io.Reader, name string, closer io.Closer) (*Reader, error) {
	rd := &Reader{name: name, closer: closer}
	rd.stats.Source = name

	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, gerr := gzip.NewReader(br)
		if gerr != nil {
			return nil, fmt.Errorf("capture: %s: starts like gzip but its gzip header is damaged (%v): decompress it with `gzip -dc` to see how much is readable", name, gerr)
		}
		rd.gz = true
		rd.in = newInput(gz)
	} else {
		if err != nil && len(magic) == 0 {
			if err == io.EOF {
				return nil, fmt.Errorf("capture: %s: the file is empty: expected a pcap or pcapng capture", name)
			}
			return nil, fmt.Errorf("capture: %s: %w", name, err)
		}
		rd.in = newInput(br)
	}

	head, err := rd.in.peek(4)
	if err != nil && err != io.ErrUnexpectedEOF {
		if err == io.EOF {
			return nil, fmt.Errorf("capture: %s: the decompressed file is empty: expected a pcap or pcapng capture", name)
		}
		return nil, rd.wrap(err, "reading the file header")
	}
	if len(head) == 4 && le.Uint32(head) == pcapngSHB {
		rd.format = "pcapng"
		err = rd.pcapngOpen()
	} else if len(head) == 4 && isPcapMagic(head) {
		rd.format = "pcap"
		err = rd.pcapOpen()
	} else {
		return nil, fmt.Errorf("capture: %s: not a pcap or pcapng file (it starts with %s); connscope reads pcap and pcapng, optionally gzip-compressed: convert other formats with `editcap -F pcapng IN OUT`", name, hex.EncodeToString(head))
	}
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// Next returns the next TCP, UDP or ICMP-error packet, io.EOF at the end of
// the file, or an *Error if the file is damaged. The returned packet, its
// Payload, ICMP and Process are reused by the next call.
func (r *Reader) Next() (*event.Packet, error) {
	for r.err == nil {
		var (
			data  []byte
			wire  int
			ts    time.Time
			iface int
			link  uint16
			off   int64
			proc  bool
			err   error
		)
		if r.format == "pcap" {
			data, wire, ts, link, off, err = r.pcapNext()
		} else {
			data, wire, ts, iface, link, off, proc, err = r.pcapngNext()
		}
		if err != nil {
			r.fail(err)
			break
		}
		r.stats.Packets++
		r.frame, r.frameLink, r.frameIface, r.frameWire = data, link, iface, wire
		p := &r.pkt
		resetPacket(p, ts, r.stats.Packets, off, iface)
		switch r.dec.decodeFrame(p, link, data, wire) {
		case decoded:
			if proc {
				p.Process = &r.proc
			}
			return p, nil
		case unsupported:
			r.stats.Unsupported++
		case malformed:
			r.stats.Malformed++
		}
	}
	return nil, r.err
}

func (r *Reader) fail(err error) {
	if err != io.EOF {
		if _, ok := err.(*Error); !ok {
			err = r.wrap(err, "")
		}
		r.stats.Err = err.Error()
	}
	r.err = err
}

// Stats returns the reader's counters so far.
func (r *Reader) Stats() event.Stats { return r.stats }

// SectionComment returns the comment of the pcapng section header most
// recently read ("" for pcap files); `connscope trace -w` stores its command
// line and kernel there.
func (r *Reader) SectionComment() string { return r.pcapng.sectionComment }

// Format returns "pcap" or "pcapng", with "+gzip" when compressed.
func (r *Reader) Format() string {
	if r.gz {
		return r.format + "+gzip"
	}
	return r.format
}

// LastFrame returns the raw frame most recently read (whether or not it was
// decoded), its link type and its interface (pcapng interface index, 0 for
// pcap). data is reused by the next call to Next.
func (r *Reader) LastFrame() (data []byte, linkType layers.LinkType, iface int) {
	return r.frame, layers.LinkType(r.frameLink), r.frameIface
}

// LastWireLen returns the on-the-wire length of the frame LastFrame
// returns: more than its captured length when the snap length cut it.
// Copying a frame into another file (a -w recording, a scrubbed copy) must
// keep it, or the copy reads as whole packets that lost their tails.
func (r *Reader) LastWireLen() int { return r.frameWire }

// Close closes the file opened by Open (not standard input or a reader given
// to NewReader).
func (r *Reader) Close() error {
	if r.closer != nil {
		c := r.closer
		r.closer = nil
		return c.Close()
	}
	return nil
}

// Error is a damaged or unreadable capture file. The packets before Packet
// have been returned by Next.
type Error struct {
	File   string
	Packet uint64 // 1-based number of the packet being read when it failed
	Offset int64  // byte offset (in the decompressed stream) of its record or block
	Reason string // what is wrong, and what to do about it
	Err    error  // underlying error, if any
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("capture: %s: packet %d at byte offset %d: %s", e.File, e.Packet, e.Offset, e.Reason)
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// corrupt builds the error for a record or block whose header makes no sense.
func (r *Reader) corrupt(off int64, what string) error {
	return &Error{
		File:   r.name,
		Packet: r.stats.Packets + 1,
		Offset: off,
		Reason: fmt.Sprintf("corrupt %s: %s; the %d packets before it were read, the rest of the file cannot be trusted (`pcapfix` may recover more)", r.format, what, r.stats.Packets),
	}
}

// wrap turns a read error at the current position into an *Error saying what
// it means.
func (r *Reader) wrap(err error, during string) error {
	if e, ok := err.(*Error); ok {
		return e
	}
	e := &Error{File: r.name, Packet: r.stats.Packets + 1, Offset: r.in.off}
	if during != "" {
		during = " while " + during
	}
	switch {
	case err == io.ErrUnexpectedEOF && r.gz:
		e.Reason = fmt.Sprintf("the file ends inside a record%s: the capture (or its gzip stream) is truncated; the %d packets before it were read — if the file should be complete, copy it again", during, r.stats.Packets)
	case err == io.ErrUnexpectedEOF:
		e.Reason = fmt.Sprintf("the file ends inside a record%s: the capture is truncated (the writer was killed or the copy is incomplete); the %d packets before it were read — if the file should be complete, copy it again", during, r.stats.Packets)
	case r.gz && isGzipError(err):
		e.Reason = fmt.Sprintf("the gzip data is damaged%s; the %d packets before it were read — check the file with `gzip -t`", during, r.stats.Packets)
		e.Err = err
	default:
		e.Reason = fmt.Sprintf("read failed%s; the %d packets before it were read", during, r.stats.Packets)
		e.Err = err
	}
	return e
}

func isGzipError(err error) bool {
	var corrupt flate.CorruptInputError
	var internal flate.InternalError
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) ||
		errors.As(err, &corrupt) || errors.As(err, &internal)
}

// resetPacket makes p what decodeFrame expects: event.Packet{Time: ts,
// Number: number, Offset: off, Interface: iface}, field by field. The
// composite literal was copied over p with the collector's write barrier
// (typedmemmove) whenever a collection was marking, and zeroed pointers
// that are nil for most frames: a fifth of Next's time on a
// connect-heavy capture.
func resetPacket(p *event.Packet, ts time.Time, number uint64, off int64, iface int) {
	p.Time, p.Number, p.Offset, p.Interface = ts, number, off, iface
	if p.Payload != nil || p.ICMP != nil || p.Process != nil || p.Frame != nil {
		p.Payload, p.ICMP, p.Process, p.Frame = nil, nil, nil, nil
	}
	p.Src, p.Dst = netip.Addr{}, netip.Addr{}
	p.Proto, p.SrcPort, p.DstPort, p.IPID, p.HopLimit = 0, 0, 0, 0, 0
	p.TCPFlags, p.Seq, p.Ack, p.Window, p.PayloadLen = 0, 0, 0, 0, 0
}
