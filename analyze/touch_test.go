package analyze

import (
	"testing"
	"unsafe"
)

// TestTouchConnects: the renderer's touch of a batch (connectPipe.render)
// reads each 64-byte line of every connect, of its attempts (a nil one
// skipped), of their facts and of their timelines, once, and none past
// them.
func TestTouchConnects(t *testing.T) {
	linesOf := func(size uintptr) int { return int((size + 63) / 64) }
	withAll := &Attempt{Facts: &Facts{}, Events: make([]Event, 3)}
	eight := &Attempt{Events: make([]Event, 8)} // 8 events: whole lines (1,472 bytes)
	bare := &Attempt{}
	batch := []*Connect{
		{},
		{Attempts: []*Attempt{nil, bare}},
		{Attempts: []*Attempt{withAll, bare, eight}},
	}
	_, lines := touchConnects(batch)
	want := 3*linesOf(unsafe.Sizeof(Connect{})) + 4*linesOf(unsafe.Sizeof(Attempt{})) +
		linesOf(unsafe.Sizeof(Facts{})) + linesOf(3*unsafe.Sizeof(Event{})) + linesOf(8*unsafe.Sizeof(Event{}))
	if lines != want {
		t.Errorf("%d lines read, want %d", lines, want)
	}
	if _, n := touchConnects(nil); n != 0 {
		t.Errorf("an empty batch: %d lines read", n)
	}
}
