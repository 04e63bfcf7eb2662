package analyze

import (
	"testing"
	"unsafe"
)

// TestTouchConnects: the renderer's touch of a batch (connectPipe.render)
// reads each cache line of every connect, of its attempts (a nil one
// skipped), of their facts and of their timelines, once, and none past
// them.
func TestTouchConnects(t *testing.T) {
	spanned := func(p unsafe.Pointer, size uintptr) int { // the 64-byte lines size bytes at p are in
		return int((uintptr(p)+size-1)/64 - uintptr(p)/64 + 1)
	}
	withAll := &Attempt{Facts: &Facts{}, Events: make([]Event, 3)}
	eight := &Attempt{Events: make([]Event, 8)} // 8 events: 1,472 bytes, 23 lines' worth
	bare := &Attempt{}
	batch := []*Connect{
		{},
		{Attempts: []*Attempt{nil, bare}},
		{Attempts: []*Attempt{withAll, bare, eight}},
	}
	want := 0
	for _, c := range batch {
		want += spanned(unsafe.Pointer(c), unsafe.Sizeof(*c))
		for _, at := range c.Attempts {
			if at == nil {
				continue
			}
			want += spanned(unsafe.Pointer(at), unsafe.Sizeof(*at))
			if at.Facts != nil {
				want += spanned(unsafe.Pointer(at.Facts), unsafe.Sizeof(*at.Facts))
			}
			if n := len(at.Events); n > 0 {
				want += spanned(unsafe.Pointer(&at.Events[0]), uintptr(n)*unsafe.Sizeof(Event{}))
			}
		}
	}
	if _, lines := touchConnects(batch); lines != want {
		t.Errorf("%d lines read, want %d", lines, want)
	}
	if _, n := touchConnects(nil); n != 0 {
		t.Errorf("an empty batch: %d lines read", n)
	}
	// Every span of a few lines, from each offset within a line.
	buf := make([]byte, 512)
	for from := 0; from < 64; from++ {
		for size := 1; size <= 200; size++ {
			p := unsafe.Pointer(&buf[from])
			if _, n := touchLines(0, 0, p, uintptr(size)); n != spanned(p, uintptr(size)) {
				t.Fatalf("%d bytes at %#x: %d lines read, want %d", size, uintptr(p), n, spanned(p, uintptr(size)))
			}
		}
	}
}
