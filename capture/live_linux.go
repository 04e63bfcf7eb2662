package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

// LiveReader captures packets with an AF_PACKET socket (TPACKET_V3 ring,
// SOCK_DGRAM) and a kernel filter, and decodes them like Reader: Next
// returns TCP, UDP and ICMP-error packets, with Offset -1 and Interface the
// kernel ifindex. Each frame is copied out of the ring, so a packet stays
// valid until the next call to Next even if Close runs meanwhile.
//
// Next must be called from one goroutine; Stats and Close may be called from
// any.
type LiveReader struct {
	opts    LiveOptions
	ctx     context.Context
	source  string
	ring    *packetRing
	tpMu    sync.RWMutex // write-locked by Close; read-locked around every use of ring
	closed  bool         // guarded by tpMu
	closing atomic.Bool
	stopCtx func() bool // stops the context's wake-up of the ring

	dec   decoder
	pkt   event.Packet
	frame event.Frame
	buf   []byte // the current frame as LINUX_SLL2: 20-byte header + network packet
	iface int
	names map[int]string
	// nameSock is a socket in the capture's network namespace, for
	// looking up interface names there (SIOCGIFNAME): Next may run on a
	// thread of another namespace.
	nameSock int

	packets, malformed, unsupported atomic.Uint64
	unread                          atomic.Uint64 // DiscardUnread's count
	drops                           atomic.Uint64
	lastStats                       time.Time
	err                             error                  // ends Next; only Next's goroutine touches it
	errMsg                          atomic.Pointer[string] // err for Stats, from any goroutine

	// For CaughtUp (unix ns): when the last read that found the ring empty
	// began, and the time of the last frame read.
	emptyAt, lastAt atomic.Int64
}

// OpenLive starts a live capture. It needs root or CAP_NET_RAW (and, for an
// eBPF filter, the program already loaded).
func OpenLive(opts LiveOptions) (*LiveReader, error) {
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = defaultRingSize
	}
	if opts.SnapLen == 0 {
		opts.SnapLen = DefaultSnapLen
	}
	var filter []bpf.RawInstruction
	if opts.EBPFFilterFD <= 0 {
		raw, err := ClassicFilter(opts.PayloadPorts, opts.SnapLen)
		if err != nil {
			return nil, err
		}
		filter = raw
	}
	blocks := opts.BufferSize / ringBlockSize
	if blocks < 2 {
		blocks = 2
	}
	source := "afpacket (all interfaces)"
	if opts.Interface != "" {
		if _, err := net.InterfaceByName(opts.Interface); err != nil {
			return nil, fmt.Errorf("capture: interface %q: %w (see `ip link` for the names)", opts.Interface, err)
		}
		source = "afpacket on " + opts.Interface
	}
	if filter == nil {
		source += " with eBPF filter"
	}
	ring, err := openPacketRing(opts.Interface, ringBlockSize, blocks, ringBlockTimeout, filter, opts.EBPFFilterFD)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("capture: %w: live capture needs root or CAP_NET_RAW", err)
		}
		return nil, fmt.Errorf("capture: %w", err)
	}
	nameSock, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		nameSock = -1 // names fall back to "ifindex N"
	}
	l := &LiveReader{
		opts:      opts,
		ctx:       opts.Context,
		source:    source,
		ring:      ring,
		names:     map[int]string{},
		nameSock:  nameSock,
		buf:       make([]byte, 0, sll2HeaderLen+65536),
		lastStats: time.Now(),
	}
	l.stopCtx = context.AfterFunc(opts.Context, ring.wake)
	return l, nil
}

const sll2HeaderLen = 20

// Next returns the next TCP, UDP or ICMP-error packet; io.EOF once the
// context is cancelled or the reader closed. The packet (and its Payload,
// ICMP and Frame) is reused by the next call.
func (l *LiveReader) Next() (*event.Packet, error) { return l.next(true) }

// NextReady is Next without waiting: nil (and no error) when the ring
// holds no frame to read now. It does not move ReadThrough on: a caller
// that gathers packets hands them on before it calls Next again (which
// does), so ReadThrough never covers a packet it still holds.
func (l *LiveReader) NextReady() (*event.Packet, error) { return l.next(false) }

func (l *LiveReader) next(wait bool) (*event.Packet, error) {
	for {
		if l.err != nil {
			return nil, l.err
		}
		if l.closing.Load() || l.ctx.Err() != nil {
			l.refreshDrops()
			return nil, io.EOF
		}
		res, err := l.readOne(wait)
		if res == empty {
			return nil, nil
		}
		if err != nil {
			l.err = err
			msg := err.Error()
			l.errMsg.Store(&msg)
			return nil, err
		}
		switch res {
		case decoded:
			return &l.pkt, nil
		case malformed:
			l.malformed.Add(1)
		case unsupported:
			l.unsupported.Add(1)
		}
	}
}

// CaughtUp reports whether Next has read every frame the kernel captured
// before t: a read that began at least one ring block timeout after t found
// the ring empty (the kernel hands a block over at most that long after its
// first frame), or a frame stamped t or later was read. A reader that has
// not been scheduled since (a loaded machine) is not caught up, however long
// ago t was.
// When it is not, CaughtUp wakes a waiting Next: a later call has the
// answer.
func (l *LiveReader) CaughtUp(t time.Time) bool {
	if l.emptyAt.Load() >= t.Add(ringBlockTimeout).UnixNano() || l.lastAt.Load() >= t.UnixNano() {
		return true
	}
	l.Wake()
	return false
}

// ReadThrough returns a time up to which Next has read every frame the
// kernel captured: CaughtUp holds for it (zero before the reader has read a
// frame or found the ring empty). Frames stamped slightly earlier may still
// come from another CPU's queue; a consumer keeps a small margin.
func (l *LiveReader) ReadThrough() time.Time {
	n := max(l.emptyAt.Load()-ringBlockTimeout.Nanoseconds(), l.lastAt.Load())
	if n <= 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// skipped is an internal result: nothing was read (the wait was
// interrupted).
const skipped decodeResult = 255

// empty is readOne's result when it was not to wait and the ring is empty.
const empty decodeResult = 254

func (l *LiveReader) readOne(wait bool) (decodeResult, error) {
	l.tpMu.RLock()
	defer l.tpMu.RUnlock()
	if l.closed {
		return skipped, nil
	}
	f, err := l.ring.next()
	if errors.Is(err, errRingEmpty) && !wait {
		return empty, nil
	}
	if errors.Is(err, errRingEmpty) {
		// No clock read per frame (a noticeable part of the loop at tens
		// of thousands of frames a second): only when the ring is found
		// empty. Every frame stamped a block timeout before now has been
		// read then, as CaughtUp needs.
		now := time.Now()
		l.emptyAt.Store(now.UnixNano())
		if now.Sub(l.lastStats) >= statsInterval {
			l.refreshDropsLocked()
		}
		if err := l.ring.wait(); err != nil && !l.closing.Load() {
			return skipped, fmt.Errorf("capture: %s: waiting for the ring: %w", l.source, err)
		}
		return skipped, nil
	}
	if err != nil {
		return skipped, fmt.Errorf("capture: %s: reading the ring: %w", l.source, err)
	}
	data, ll := f.data, f.ll
	if n := f.time.UnixNano(); wait && n > l.lastAt.Load() {
		l.lastAt.Store(n)
	}
	l.packets.Add(1)
	// Copy the frame out of the ring behind a LINUX_SLL2 header.
	b := l.buf[:sll2HeaderLen]
	binary.BigEndian.PutUint16(b[0:2], ll.protocol)
	binary.BigEndian.PutUint16(b[2:4], 0)
	binary.BigEndian.PutUint32(b[4:8], uint32(ll.ifindex))
	binary.BigEndian.PutUint16(b[8:10], ll.hatype)
	b[10] = ll.pktType
	b[11] = ll.halen
	copy(b[12:20], ll.addr[:])
	b = append(b, data...)
	l.buf = b

	l.iface = int(ll.ifindex)
	p := &l.pkt
	*p = event.Packet{Time: f.time.UTC(), Number: l.packets.Load(), Offset: -1, Interface: l.iface}
	res := l.dec.decodeNetwork(p, ll.protocol, b[sll2HeaderLen:], f.length)
	if res == decoded && l.opts.KeepFrames {
		l.frame = event.Frame{Data: b, LinkType: uint16(layers.LinkTypeLinuxSLL2), InterfaceName: l.ifaceName(l.iface), WireLen: f.length + sll2HeaderLen}
		p.Frame = &l.frame
	}
	return res, nil
}

// sockAddrLL is the kernel's struct sockaddr_ll, with host-order fields.
type sockAddrLL struct {
	protocol uint16
	ifindex  int32
	hatype   uint16
	pktType  uint8
	halen    uint8
	addr     [8]byte
}

func (l *LiveReader) ifaceName(ifindex int) string {
	if n, ok := l.names[ifindex]; ok {
		return n
	}
	n := fmt.Sprintf("ifindex %d", ifindex)
	if l.nameSock >= 0 {
		if ifr, err := unix.NewIfreq(""); err == nil {
			ifr.SetUint32(uint32(ifindex))
			if unix.IoctlIfreq(l.nameSock, unix.SIOCGIFNAME, ifr) == nil {
				n = ifr.Name()
			}
		}
	}
	l.names[ifindex] = n
	return n
}

// LastFrame returns the frame behind the packet Next returned last, as a
// LINUX_SLL2 record (what `tcpdump -i any` writes), and its ifindex.
func (l *LiveReader) LastFrame() (data []byte, linkType layers.LinkType, iface int) {
	return l.buf, layers.LinkTypeLinuxSLL2, l.iface
}

// InterfaceName returns the name of the interface with the given ifindex
// (for the pcapng interface description of a recorded frame).
func (l *LiveReader) InterfaceName(ifindex int) string { return l.ifaceName(ifindex) }

func (l *LiveReader) refreshDrops() {
	l.tpMu.RLock()
	defer l.tpMu.RUnlock()
	l.refreshDropsLocked()
}

// refreshDropsLocked reads PACKET_STATISTICS (which the kernel resets on
// every read; the ring accumulates them). Called with tpMu held.
func (l *LiveReader) refreshDropsLocked() {
	if l.closed {
		return
	}
	l.lastStats = time.Now()
	if _, drops, err := l.ring.stats(); err == nil {
		l.drops.Store(drops)
	}
}

// Stats returns the counters so far, with the kernel's drop count read now.
func (l *LiveReader) Stats() event.Stats {
	l.tpMu.RLock()
	if !l.closed {
		if _, drops, err := l.ring.stats(); err == nil {
			l.drops.Store(drops)
		}
	}
	l.tpMu.RUnlock()
	st := event.Stats{
		Source:      l.source,
		Packets:     l.packets.Load(),
		Malformed:   l.malformed.Load(),
		Unsupported: l.unsupported.Load(),
		KernelDrops: l.drops.Load(),
		Unread:      l.unread.Load(),
	}
	if msg := l.errMsg.Load(); msg != nil {
		st.Err = *msg
	}
	return st
}

// Close stops the capture, reading the drop counter a last time. Next then
// returns io.EOF. Close may be called from another goroutine: it interrupts
// a Next waiting for frames, and waits for one reading.
func (l *LiveReader) Close() error {
	l.closing.Store(true)
	for !l.tpMu.TryLock() {
		l.ring.wake()
		time.Sleep(time.Millisecond)
	}
	defer l.tpMu.Unlock()
	if l.closed {
		return nil
	}
	if _, drops, err := l.ring.stats(); err == nil {
		l.drops.Store(drops)
	}
	l.closed = true
	l.stopCtx()
	l.ring.close()
	if l.nameSock >= 0 {
		unix.Close(l.nameSock)
	}
	return nil
}

// DiscardUnread empties the ring without returning what it holds and
// counts the frames stamped before `before` (Stats.Unread): the evidence a
// stop that could not wait any longer leaves unanalysed. Frames after it
// are not counted: nobody asked for them. Call it once Next has returned
// io.EOF (the context was cancelled), before Close.
func (l *LiveReader) DiscardUnread(before time.Time) uint64 {
	l.tpMu.Lock()
	defer l.tpMu.Unlock()
	if l.closed {
		return 0
	}
	var n uint64
	for {
		f, err := l.ring.next()
		if err != nil {
			break // errRingEmpty: the kernel holds no more
		}
		if f.time.Before(before) {
			n++
		}
	}
	l.unread.Add(n)
	return n
}

// Wake makes a Next waiting for frames look at the ring again, so that
// ReadThrough moves on while nothing arrives.
func (l *LiveReader) Wake() {
	l.tpMu.RLock()
	if !l.closed {
		l.ring.wake()
	}
	l.tpMu.RUnlock()
}
