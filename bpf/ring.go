package bpf

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// eventRing reads the tracer's BPF ring buffer (BPF_MAP_TYPE_RINGBUF) in
// place. It replaces cilium/ebpf's ringbuf.Reader for one reason: that
// reader waits in epoll_wait(2) on its own epoll instance, a system call
// that blocks a thread with its P. Go's sysmon takes such a P back after
// 10 ms and then polls every 20 µs again; entering or leaving a system
// call while sysmon sleeps wakes it the same way. With a 100 ms poll that
// was about a thousand sysmon wake-ups a second under load (~7% of trace's
// CPU at 10,000 connects/s). This ring waits in Go's netpoller instead (the
// map's file descriptor, like capture's packetRing): no thread blocks,
// and reading a record is a few atomic loads, no system call.
//
// Records are read where they lie (the data pages are mapped twice, so a
// record that wraps is contiguous) and stay valid until release.
//
// next, release and wait are called from one goroutine; wake from any;
// close once no next or release can run (wait may: close interrupts it).
type eventRing struct {
	file *os.File // a duplicate of the map's descriptor, registered with the netpoller
	raw  syscall.RawConn

	cons, data []byte // the consumer page (read-write); the producer page and the data pages twice
	// The kernel's positions are unsigned longs (uintptr).
	consPos *uintptr // in cons
	prodPos *uintptr // in data
	ring    []byte   // the data pages, twice
	mask    uintptr  // ring size - 1
	pending uintptr  // the consumer position after the records next returned
	woken   atomic.Bool
}

// Ring buffer record header (kernel/bpf/ringbuf.c, struct bpf_ringbuf_hdr).
const (
	ringHdrSize    = 8
	ringBusyBit    = 1 << 31
	ringDiscardBit = 1 << 30
	ringLenMask    = ringDiscardBit - 1
)

// openEventRing maps m (a ring buffer of m.MaxEntries() bytes, a power of
// two).
func openEventRing(m *ebpf.Map) (*eventRing, error) {
	size := int(m.MaxEntries())
	if size == 0 || size&(size-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d is not a power of two", size)
	}
	page := os.Getpagesize()
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the ring buffer's descriptor: %w", err)
	}
	r := &eventRing{mask: uintptr(size - 1)}
	fail := func(what string, err error) (*eventRing, error) {
		if r.cons != nil {
			unix.Munmap(r.cons)
		}
		if r.data != nil {
			unix.Munmap(r.data)
		}
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if r.cons, err = unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fail("mapping the ring buffer's consumer page", err)
	}
	if r.data, err = unix.Mmap(fd, int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		return fail("mapping the ring buffer's data pages", err)
	}
	// Non-blocking, so that os.NewFile registers it with the netpoller
	// (the ring buffer's poll says EPOLLIN while records wait).
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail("setting the ring buffer's descriptor non-blocking", err)
	}
	r.consPos = (*uintptr)(unsafe.Pointer(&r.cons[0]))
	r.prodPos = (*uintptr)(unsafe.Pointer(&r.data[0]))
	r.ring = r.data[page:]
	r.pending = atomic.LoadUintptr(r.consPos)
	r.file = os.NewFile(uintptr(fd), "ringbuf")
	r.raw, err = r.file.SyscallConn()
	if err == nil {
		// Deadlines work only on a descriptor the netpoller took: else
		// every wait would fail.
		err = r.file.SetReadDeadline(time.Time{})
	}
	if err != nil {
		r.file.Close()
		unix.Munmap(r.cons)
		unix.Munmap(r.data)
		return nil, fmt.Errorf("the ring buffer's descriptor cannot be waited on in Go's netpoller: %w", err)
	}
	return r, nil
}

// available is how many bytes of records wait, including those next has
// returned but release has not yet given back (from any goroutine).
func (r *eventRing) available() uintptr {
	return atomic.LoadUintptr(r.prodPos) - atomic.LoadUintptr(r.consPos)
}

// ready says whether next has a record to return (next's goroutine).
func (r *eventRing) ready() bool {
	return atomic.LoadUintptr(r.prodPos) != r.pending
}

// errRingCorrupt: a record header points past what the producer committed.
var errRingCorrupt = errors.New("ring buffer record runs past the producer position")

// next returns the next record (nil when the ring holds no more). A record
// still being written is waited for, as cilium's reader does: a BPF program
// cannot sleep between reserving and submitting. The record stays valid
// until release, which gives it and the records returned before it back to
// the kernel.
func (r *eventRing) next() ([]byte, error) {
	prod := atomic.LoadUintptr(r.prodPos)
	for r.pending != prod {
		cons := r.pending
		if prod-cons < ringHdrSize {
			return nil, errRingCorrupt
		}
		// The header's length is read atomically: the kernel's xchg that
		// clears the busy bit orders the record's data before it.
		hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.ring[cons&r.mask])))
		if hdr&ringBusyBit != 0 {
			continue
		}
		n := uintptr(hdr & ringLenMask)
		start := cons + ringHdrSize
		padded := (n + 7) &^ 7 // records are 8-byte aligned
		if prod-start < padded {
			return nil, errRingCorrupt
		}
		r.pending = start + padded
		if hdr&ringDiscardBit != 0 {
			continue
		}
		at := start & r.mask
		return r.ring[at : at+n : at+n], nil
	}
	return nil, nil
}

// release gives the records next returned back to the kernel.
func (r *eventRing) release() {
	atomic.StoreUintptr(r.consPos, r.pending)
}

// wait blocks until a record waits, timeout passes, wake is called, or the
// ring is closed (an error).
func (r *eventRing) wait(timeout time.Duration) error {
	r.file.SetReadDeadline(time.Now().Add(timeout))
	// A wake that came before the deadline was set is not lost: it left
	// its flag.
	if r.woken.Swap(false) {
		return nil
	}
	err := r.raw.Read(func(uintptr) bool { return r.woken.Swap(false) || r.ready() })
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// wake interrupts a wait (from any goroutine).
func (r *eventRing) wake() {
	r.woken.Store(true)
	r.file.SetReadDeadline(pastDeadline)
}

// close interrupts a wait, waits for it to end, and unmaps the ring.
func (r *eventRing) close() error {
	err := r.file.Close()
	return errors.Join(err, unix.Munmap(r.cons), unix.Munmap(r.data))
}
