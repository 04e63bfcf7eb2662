package bpf

import (
	"context"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/connscope/connscope/event"
)

// TestNextBatch: the events that piled up while nobody read come out of
// NextBatch several at once, never more than asked for nor spanning more
// than maxBatchSpan (an event past it is read with the next batch), all of
// them, in the kernel's order, counted, and with ReadThrough past the
// newest.
func TestNextBatch(t *testing.T) {
	tr := traceSelf(t)

	// A port nobody listens on: each connect is refused, five or so events.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	const connects = 12
	for i := range connects {
		if i == connects/2 {
			// The second half's events come later than a batch may span.
			time.Sleep(2 * time.Duration(maxBatchSpan))
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Skip("the closed port was taken meanwhile")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const size = 4
	var (
		got     []event.Kernel
		batches []int
		refused int
	)
	ks := make([]event.Kernel, size+1)
	for refused < connects {
		// The value past size must stay untouched.
		ks[size] = event.Kernel{Cookie: 42}
		n, err := tr.NextBatch(ctx, ks[:size])
		if err != nil {
			t.Fatalf("after %d events (%d refused connects): %v", len(got), refused, err)
		}
		if n < 1 || n > size || ks[size].Cookie != 42 {
			t.Fatalf("NextBatch into %d: %d events, the value past them %+v", size, n, ks[size])
		}
		batches = append(batches, n)
		oldest, newest := ks[0].Time, ks[0].Time
		for _, k := range ks[:n] {
			if k.Time.Before(oldest) {
				oldest = k.Time
			}
			if k.Time.After(newest) {
				newest = k.Time
			}
		}
		if span := newest.Sub(oldest); span >= time.Duration(maxBatchSpan)+time.Millisecond {
			t.Fatalf("a batch of %d events spans %v", n, span)
		}
		for _, k := range ks[:n] {
			got = append(got, k)
			if k.Kind == event.StateChange && k.OldState == event.TCPSynSent && k.NewState == event.TCPClose && k.Process.PID == uint32(os.Getpid()) {
				refused++ // a socket's last event but connect()'s return (which Go's non-blocking connect made before)
			}
		}
	}
	if slices.Max(batches) < 2 {
		t.Errorf("every batch held one event (%v): the events waiting were not read together", batches)
	}
	// Each socket's events in its order: SYN_SENT first, connect()'s return last.
	first := map[uint64]event.KernelKind{}
	for i, k := range got {
		if k.Kind == event.PacketDrop || k.Kind == event.ResetSent || k.Cookie == 0 {
			continue
		}
		if _, ok := first[k.Cookie]; !ok {
			first[k.Cookie] = k.Kind
			if k.Kind != event.StateChange || k.NewState != event.TCPSynSent {
				t.Errorf("event %d, a socket's first: %v %d→%d, want its SYN_SENT", i, k.Kind, k.OldState, k.NewState)
			}
		}
		if i > 0 && k.Time.Before(got[i-1].Time.Add(-time.Millisecond)) {
			t.Errorf("event %d at %v, %v before the one read before it", i, k.Time, got[i-1].Time.Sub(k.Time))
		}
	}
	if len(first) != connects {
		t.Errorf("%d sockets' events, want %d", len(first), connects)
	}
	if st := tr.Stats(); st.Events != uint64(len(got)) {
		t.Errorf("Stats.Events %d, %d events read", st.Events, len(got))
	}
	newest := got[0].Time
	for _, k := range got {
		if k.Time.After(newest) {
			newest = k.Time
		}
	}
	if rt := tr.ReadThrough(); rt.Before(newest) {
		t.Errorf("ReadThrough %v, before the newest event read (%v)", rt, newest)
	}
}

// comm's last-name shortcut gives each task its own name, also when the
// names alternate, and the empty name stays empty.
func TestCommNames(t *testing.T) {
	tr := &Tracer{comms: map[[16]int8]string{}}
	for i, name := range []string{"mysql", "mysql", "curl", "mysql", "", "curl", "curl", "", "a-fifteen-char!"} {
		if got := tr.comm(comm(name)); got != name {
			t.Fatalf("call %d: comm(%q) = %q", i, name, got)
		}
	}
}
