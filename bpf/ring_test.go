package bpf

import (
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// ringProducer is a one-page ring buffer and a socket filter program that
// submits one 16-byte record to it per run: the first word after the
// packet's Ethernet header, and that word plus one.
type ringProducer struct {
	m    *ebpf.Map
	prog *ebpf.Program
}

func newRingProducer(t *testing.T) *ringProducer {
	t.Helper()
	requireEBPF(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: uint32(os.Getpagesize())})
	if err != nil {
		t.Fatalf("creating a ring buffer: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.SocketFilter,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Reg(asm.R6, asm.R1), // LoadAbs reads the packet from r6
			asm.LoadAbs(0, asm.Word),
			asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord),
			asm.Add.Imm(asm.R0, 1),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -16),
			asm.Mov.Imm(asm.R3, 16),
			asm.Mov.Imm(asm.R4, 0), // wake the reader when it has caught up
			asm.FnRingbufOutput.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatalf("loading the producer program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	return &ringProducer{m: m, prog: prog}
}

// submit makes the program submit the record for n.
func (p *ringProducer) submit(t *testing.T, n uint32) {
	t.Helper()
	pkt := make([]byte, 64)
	// The test run hands the program the packet past its Ethernet header.
	binary.BigEndian.PutUint32(pkt[14:], n)
	if _, err := p.prog.Run(&ebpf.RunOptions{Data: pkt}); err != nil {
		t.Fatalf("running the producer program: %v", err)
	}
}

// Records come out in order with their bytes intact, also those that wrap
// around the end of the ring (24 bytes each with the header: a one-page ring
// holds a non-integral number of them), and the space is reused once
// released.
func TestEventRingReadsInOrderAcrossTheWrap(t *testing.T) {
	p := newRingProducer(t)
	r, err := openEventRing(p.m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	next := uint32(0)
	for round := range 40 { // 40 × 50 × 24 bytes: about 12 times round the ring
		const batch = 50
		for i := range uint32(batch) {
			p.submit(t, uint32(round)*batch+i)
		}
		for range batch {
			rec, err := r.next()
			if err != nil || rec == nil {
				t.Fatalf("record %d: %v, %v", next, rec, err)
			}
			a, b := binary.NativeEndian.Uint64(rec), binary.NativeEndian.Uint64(rec[8:])
			if len(rec) != 16 || a != uint64(next) || b != uint64(next)+1 {
				t.Fatalf("record %d: len %d, %d %d", next, len(rec), a, b)
			}
			next++
		}
		if rec, err := r.next(); rec != nil || err != nil {
			t.Fatalf("after %d records: %v, %v (want nothing)", next, rec, err)
		}
		r.release()
		if n := r.available(); n != 0 {
			t.Fatalf("after release: %d bytes still wait", n)
		}
	}
}

// wait returns when a record is submitted (the kernel's wakeup reaches the
// netpoller), when woken (also by a wake that came before the wait), when
// its time is up, and with an error once the ring is closed.
func TestEventRingWait(t *testing.T) {
	p := newRingProducer(t)
	r, err := openEventRing(p.m)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			r.close()
		}
	}()
	waitIn := func(timeout time.Duration) <-chan error {
		done := make(chan error, 1)
		go func() { done <- r.wait(timeout) }()
		return done
	}
	within := func(what string, done <-chan error, d time.Duration, wantErr bool) {
		t.Helper()
		select {
		case err := <-done:
			if (err != nil) != wantErr {
				t.Fatalf("%s: wait returned %v", what, err)
			}
		case <-time.After(d):
			t.Fatalf("%s: wait had not returned after %v", what, d)
		}
	}

	done := waitIn(time.Minute)
	time.Sleep(50 * time.Millisecond)
	p.submit(t, 1)
	within("a submitted record", done, 5*time.Second, false)
	if rec, _ := r.next(); rec == nil {
		t.Fatal("woken for a record, next found none")
	}
	r.release()

	done = waitIn(time.Minute)
	time.Sleep(50 * time.Millisecond)
	r.wake()
	within("wake", done, 5*time.Second, false)

	r.wake()
	done = waitIn(time.Minute)
	within("a wake before the wait", done, 5*time.Second, false)

	start := time.Now()
	done = waitIn(100 * time.Millisecond)
	within("the timeout", done, 5*time.Second, false)
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("a wait of 100ms returned after %v", d)
	}

	done = waitIn(time.Minute)
	time.Sleep(50 * time.Millisecond)
	closed = true
	if err := r.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	within("close", done, 5*time.Second, true)
}
