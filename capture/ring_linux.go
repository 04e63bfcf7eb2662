package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// packetRing is an AF_PACKET socket (SOCK_DGRAM, every protocol) with a
// TPACKET_V3 receive ring. It replaces gopacket's afpacket for one reason:
// afpacket waits in poll(2) with a fixed timeout that nothing can
// interrupt, so an idle capture had to wake every 100 ms to notice a stop,
// and every wake-up of a thread blocked in a system call restarts Go's
// sysmon (about a third of an idle `trace`'s CPU). This ring waits in Go's
// netpoller instead: no thread blocks, nothing polls, and Wake or Close
// interrupt the wait at once.
//
// The socket is bound only after its filter is attached, so it never holds
// an unfiltered frame.
//
// next and release are called from one goroutine; wake from any; close
// after the reader has stopped using the ring.
type packetRing struct {
	fd    int
	file  *os.File // the socket, registered with the netpoller
	raw   syscall.RawConn
	ring  []byte
	bsize int // bytes per block
	nblk  int

	block  int    // the block being read
	owned  bool   // that block is handed over to user space
	left   uint32 // frames of the block not yet read
	offset uint32 // the next frame's offset in the block

	// Accumulated PACKET_STATISTICS (the kernel resets them on every read).
	statsMu        sync.Mutex
	packets, drops uint64
}

// ringFrame is one frame of the ring: data points into the ring and stays
// valid until the block is released.
type ringFrame struct {
	data   []byte
	length int // on the wire
	time   time.Time
	ll     sockAddrLL
}

// Offsets in the TPACKET_V3 ring (linux/if_packet.h).
const (
	blockStatusOff = 8  // tpacket_block_desc.hdr.bh1.block_status
	blockNumOff    = 12 // .num_pkts
	blockFirstOff  = 16 // .offset_to_first_pkt
	tp3HdrLen      = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): the sockaddr_ll follows
	ringFrameSize  = 2048
)

func openPacketRing(iface string, blockSize, blocks int, blockTimeout time.Duration, filter []bpf.RawInstruction, ebpfFD int) (*packetRing, error) {
	// Protocol 0: the socket takes no frame before bind.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening an AF_PACKET socket: %w", err)
	}
	r := &packetRing{fd: fd, bsize: blockSize, nblk: blocks}
	fail := func(what string, err error) (*packetRing, error) {
		if r.ring != nil {
			unix.Munmap(r.ring)
		}
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("setting TPACKET_V3", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(blockSize),
		Block_nr:       uint32(blocks),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(blockSize / ringFrameSize * blocks),
		Retire_blk_tov: uint32(blockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("setting up the receive ring", err)
	}
	if r.ring, err = unix.Mmap(fd, 0, blockSize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fail("mapping the receive ring", err)
	}
	if filter != nil {
		prog := unix.SockFprog{Len: uint16(len(filter)), Filter: (*unix.SockFilter)(unsafe.Pointer(unsafe.SliceData(filter)))}
		err = unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
	} else {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, ebpfFD)
	}
	if err != nil {
		return fail("attaching the packet filter", err)
	}
	ifindex := 0
	if iface != "" {
		ifr, err := unix.NewIfreq(iface)
		if err != nil {
			return fail("interface "+iface, err)
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
			return fail("interface "+iface, err)
		}
		ifindex = int(ifr.Uint32())
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return fail("binding the socket", err)
	}
	r.file = os.NewFile(uintptr(fd), "AF_PACKET")
	if r.raw, err = r.file.SyscallConn(); err != nil {
		r.file.Close()
		unix.Munmap(r.ring)
		return nil, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	return r, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// blockStatus is the status word of block i, read atomically: the kernel
// writes it when it hands the block over.
func (r *packetRing) blockStatus(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.ring[i*r.bsize+blockStatusOff]))
}

// errRingEmpty: no frame is ready (next does not wait).
var errRingEmpty = errors.New("capture: ring empty")

// next returns the next frame, errRingEmpty when none is ready. The frame
// stays valid until the next call.
func (r *packetRing) next() (ringFrame, error) {
	for {
		if r.owned && r.left == 0 {
			r.release()
		}
		if !r.owned {
			if atomic.LoadUint32(r.blockStatus(r.block))&unix.TP_STATUS_USER == 0 {
				return ringFrame{}, errRingEmpty
			}
			base := r.block * r.bsize
			r.owned = true
			r.left = binary.NativeEndian.Uint32(r.ring[base+blockNumOff:])
			r.offset = binary.NativeEndian.Uint32(r.ring[base+blockFirstOff:])
			continue
		}
		base := r.block * r.bsize
		blk := r.ring[base : base+r.bsize]
		off := int(r.offset)
		if off+tp3HdrLen+20 > len(blk) {
			r.left = 0 // a corrupt block: give it back
			continue
		}
		h := blk[off:]
		ne := binary.NativeEndian
		nextOff := ne.Uint32(h[0:4])
		sec, nsec := ne.Uint32(h[4:8]), ne.Uint32(h[8:12])
		snap, length := int(ne.Uint32(h[12:16])), int(ne.Uint32(h[16:20]))
		mac := int(ne.Uint16(h[24:26]))
		r.left--
		r.offset += nextOff
		if mac+snap > len(h) {
			continue
		}
		ll := h[tp3HdrLen : tp3HdrLen+20]
		f := ringFrame{
			data:   h[mac : mac+snap : mac+snap],
			length: length,
			time:   time.Unix(int64(sec), int64(nsec)),
			ll: sockAddrLL{
				protocol: binary.BigEndian.Uint16(ll[2:4]),
				ifindex:  int32(ne.Uint32(ll[4:8])),
				hatype:   ne.Uint16(ll[8:10]),
				pktType:  ll[10],
				halen:    ll[11],
			},
		}
		copy(f.ll.addr[:], ll[12:20])
		return f, nil
	}
}

// release hands the current block back to the kernel.
func (r *packetRing) release() {
	atomic.StoreUint32(r.blockStatus(r.block), unix.TP_STATUS_KERNEL)
	r.owned, r.left = false, 0
	r.block = (r.block + 1) % r.nblk
}

// wait blocks until the kernel hands a block over, wake is called (nil) or
// the socket is closed.
func (r *packetRing) wait() error {
	err := r.raw.Read(func(uintptr) bool {
		return atomic.LoadUint32(r.blockStatus(r.block))&unix.TP_STATUS_USER != 0
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		r.file.SetReadDeadline(time.Time{})
		return nil
	}
	return err
}

// wake interrupts a wait (from any goroutine).
func (r *packetRing) wake() { r.file.SetReadDeadline(pastDeadline) }

var pastDeadline = time.Unix(1, 0)

// stats reads and accumulates PACKET_STATISTICS.
func (r *packetRing) stats() (packets, drops uint64, err error) {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return r.packets, r.drops, err
	}
	r.packets += uint64(st.Packets)
	r.drops += uint64(st.Drops)
	return r.packets, r.drops, nil
}

// close frees the ring and the socket; nothing may use them after.
func (r *packetRing) close() {
	r.file.Close()
	unix.Munmap(r.ring)
	r.ring = nil
}
