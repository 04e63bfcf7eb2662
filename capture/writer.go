package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/connscope/connscope/event"
)

// PcapngWriter writes a pcapng file: one section (with a comment, e.g. the
// command line and kernel), an interface description per (interface name,
// link type) written when first used, and an enhanced packet block per frame
// carrying the frame's process as a comment (see ProcessComment). tshark and
// Wireshark show the comment as frame.comment; Open reads it back into
// event.Packet.Process. Wireshark 4.0 (Debian 12) has no per-packet process
// fields to fill (its Darwin process-information support came later), so the
// comment is the one place the process goes.
//
// Every block is written to the buffer whole, so the file is valid after any
// Flush or Close. The methods are safe for concurrent use: a signal handler
// may Flush or Close while the capture loop writes.
type PcapngWriter struct {
	mu     sync.Mutex
	w      *bufio.Writer
	closer io.Closer
	ifaces map[ifaceKey]uint32
	drops  uint64
	err    error // sticky write error
	closed bool
	block  []byte // reused block buffer
}

type ifaceKey struct {
	name string
	link layers.LinkType
}

// ErrWriterClosed is returned by writes after Close.
var ErrWriterClosed = errors.New("capture: pcapng writer is closed")

// writerSnaplen is what the interface descriptions declare: frames are
// written as captured (the kernel filter already cut them).
const writerSnaplen = 262144

// NewPcapngWriter starts a pcapng file on w and writes its section header.
// If w is an io.Closer, Close closes it.
func NewPcapngWriter(w io.Writer, sectionComment string) (*PcapngWriter, error) {
	pw := &PcapngWriter{w: bufio.NewWriterSize(w, 256<<10), ifaces: map[ifaceKey]uint32{}}
	if c, ok := w.(io.Closer); ok {
		pw.closer = c
	}
	body := make([]byte, 16)
	le.PutUint32(body[0:4], pcapngByteOrder)
	le.PutUint16(body[4:6], 1)                   // version 1.0
	le.PutUint64(body[8:16], 0xffffffffffffffff) // section length unknown
	if sectionComment != "" {
		body = appendOption(body, optComment, []byte(sectionComment))
	}
	body = appendOption(body, optShbUserAppl, []byte("connscope"))
	body = appendOption(body, optShbOS, []byte(runtime.GOOS+"/"+runtime.GOARCH))
	body = appendEndOfOptions(body)
	pw.writeBlock(pcapngSHB, body)
	if pw.err != nil {
		return nil, fmt.Errorf("capture: writing the pcapng section header: %w", pw.err)
	}
	return pw, nil
}

const (
	optShbOS       = 3
	optShbUserAppl = 4
	optIsbStart    = 2
	optIsbEnd      = 3
)

func appendOption(b []byte, code uint16, val []byte) []byte {
	if len(val) > 0xffff-3 {
		val = val[:0xffff-3]
	}
	var h [4]byte
	le.PutUint16(h[0:2], code)
	le.PutUint16(h[2:4], uint16(len(val)))
	b = append(b, h[:]...)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendEndOfOptions(b []byte) []byte { return append(b, 0, 0, 0, 0) }

// writeBlock writes one block (type, length, body, length). Called with mu
// held (or before the writer is shared).
func (pw *PcapngWriter) writeBlock(typ uint32, body []byte) {
	if pw.err != nil {
		return
	}
	var h [8]byte
	l := uint32(12 + len(body))
	le.PutUint32(h[0:4], typ)
	le.PutUint32(h[4:8], l)
	if _, err := pw.w.Write(h[:]); err != nil {
		pw.err = err
		return
	}
	if _, err := pw.w.Write(body); err != nil {
		pw.err = err
		return
	}
	le.PutUint32(h[0:4], l)
	if _, err := pw.w.Write(h[0:4]); err != nil {
		pw.err = err
	}
}

// iface returns the interface id for (name, link), writing its description
// first if it is new.
func (pw *PcapngWriter) iface(name string, link layers.LinkType) uint32 {
	k := ifaceKey{name, link}
	if id, ok := pw.ifaces[k]; ok {
		return id
	}
	id := uint32(len(pw.ifaces))
	body := make([]byte, 8)
	le.PutUint16(body[0:2], uint16(link))
	le.PutUint32(body[4:8], writerSnaplen)
	if name != "" {
		body = appendOption(body, optIfName, []byte(name))
	}
	body = appendOption(body, optIfTsResol, []byte{9}) // nanoseconds
	body = appendEndOfOptions(body)
	pw.writeBlock(pcapngIDB, body)
	pw.ifaces[k] = id
	return id
}

// WritePacket writes one frame as captured: data with its link type, the
// name of the interface it was seen on, its length on the wire (0: len(data))
// and, if known, its process.
func (pw *PcapngWriter) WritePacket(ts time.Time, data []byte, link layers.LinkType, ifaceName string, wireLen int, proc *event.Process) error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.closed {
		return ErrWriterClosed
	}
	if pw.err != nil {
		return pw.err
	}
	id := pw.iface(ifaceName, link)
	if wireLen < len(data) {
		wireLen = len(data)
	}
	b := pw.block[:0]
	var f [20]byte
	le.PutUint32(f[0:4], id)
	ns := uint64(ts.UnixNano())
	le.PutUint32(f[4:8], uint32(ns>>32))
	le.PutUint32(f[8:12], uint32(ns))
	le.PutUint32(f[12:16], uint32(len(data)))
	le.PutUint32(f[16:20], uint32(wireLen))
	b = append(b, f[:]...)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	if proc != nil {
		b = appendOption(b, optComment, []byte(ProcessComment(*proc)))
		b = appendEndOfOptions(b)
	}
	pw.block = b
	pw.writeBlock(pcapngEPB, b)
	return pw.err
}

// WriteEvent writes a packet from a live capture that kept its frame
// (LiveOptions.KeepFrames): p.Frame with p.Process.
func (pw *PcapngWriter) WriteEvent(p *event.Packet) error {
	if p.Frame == nil {
		return errors.New("capture: packet has no frame to write (open the live capture with KeepFrames)")
	}
	return pw.WritePacket(p.Time, p.Frame.Data, layers.LinkType(p.Frame.LinkType), p.Frame.InterfaceName, p.Frame.WireLen, p.Process)
}

// SetDrops records how many packets the capture lost (kernel drops); Close
// writes it into an interface statistics block, which Open reads back into
// Stats.KernelDrops and Wireshark shows in its capture file properties.
func (pw *PcapngWriter) SetDrops(n uint64) {
	pw.mu.Lock()
	pw.drops = n
	pw.mu.Unlock()
}

// Flush writes buffered blocks to the underlying writer. The file is valid
// up to the last packet written.
func (pw *PcapngWriter) Flush() error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.closed {
		return nil
	}
	return pw.flushLocked()
}

func (pw *PcapngWriter) flushLocked() error {
	if pw.err != nil {
		return pw.err
	}
	if err := pw.w.Flush(); err != nil {
		pw.err = err
	}
	return pw.err
}

// Close writes the drop statistics (if any were set and an interface
// exists), flushes, and closes the underlying writer if it is a Closer.
// Closing twice is harmless.
func (pw *PcapngWriter) Close() error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.closed {
		return nil
	}
	pw.closed = true
	if pw.drops > 0 && len(pw.ifaces) > 0 {
		body := make([]byte, 12)
		ns := uint64(time.Now().UnixNano())
		le.PutUint32(body[4:8], uint32(ns>>32))
		le.PutUint32(body[8:12], uint32(ns))
		var v [8]byte
		binary.LittleEndian.PutUint64(v[:], pw.drops)
		body = appendOption(body, optIsbOsDrop, v[:])
		body = appendOption(body, optComment, []byte("packets dropped by the kernel before capture (PACKET_STATISTICS) over all interfaces"))
		body = appendEndOfOptions(body)
		pw.writeBlock(pcapngISB, body) // interface 0
	}
	err := pw.flushLocked()
	if pw.closer != nil {
		if cerr := pw.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
