package live

import (
	"testing"
	"time"
)

// putAll blocks while the queue is full, until take makes room.
func TestQueuePutWaitsWhenFull(t *testing.T) {
	q := newQueue[int](2)
	q.putAll([]int{1})
	q.putAll([]int{2})
	put := make(chan struct{})
	go func() { q.putAll([]int{3}); close(put) }()
	select {
	case <-put:
		t.Fatal("put did not wait on a full queue")
	case <-time.After(50 * time.Millisecond):
	}
	if items, open := q.take(nil); len(items) != 2 || !open {
		t.Fatalf("took %v (open %v), want [1 2], open", items, open)
	}
	<-put
	if items, _ := q.take(nil); len(items) != 1 || items[0] != 3 {
		t.Fatalf("took %v, want [3]", items)
	}
}

// The readers queue what one read gave them together (putAll), one event
// at a time or in batches: every event arrives once, in order, batches
// whole; putAll waits while the queue is full, and the queue holds less
// than max plus one batch (at most max, one at a time); the end is seen
// only after the last event.
func TestQueuePutAll(t *testing.T) {
	for _, tt := range []struct{ n, batch, max int }{{0, 1, 4}, {1, 1, 4}, {1000, 1, 7}, {100000, 1, 8192}, {0, 3, 4}, {10, 3, 4}, {1000, 7, 8}, {100000, 256, 8192}} {
		q := newQueue[int](tt.max)
		go func() {
			var b []int
			for i := range tt.n {
				b = append(b, i)
				if len(b) == tt.batch || i == tt.n-1 {
					q.putAll(b)
					b = b[:0] // putAll copied them
				}
			}
			q.putAll(nil)
			q.close()
		}()
		var got []int
		var buf []int
		for open := true; open; {
			<-q.ready
			var items []int
			items, open = q.take(buf)
			if len(items) >= tt.max+tt.batch {
				t.Fatalf("n=%d batch=%d max=%d: took %d at once", tt.n, tt.batch, tt.max, len(items))
			}
			got = append(got, items...)
			buf = items
		}
		if len(got) != tt.n {
			t.Fatalf("n=%d: got %d events", tt.n, len(got))
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("n=%d batch=%d: event %d is %d", tt.n, tt.batch, i, v)
			}
		}
	}
	q := newQueue[int](2)
	q.putAll([]int{1, 2})
	put := make(chan struct{})
	go func() { q.putAll([]int{3, 4}); close(put) }()
	select {
	case <-put:
		t.Fatal("putAll did not wait on a full queue")
	case <-time.After(50 * time.Millisecond):
	}
	if items, _ := q.take(nil); len(items) != 2 {
		t.Fatalf("took %v, want [1 2]", items)
	}
	<-put
	if items, _ := q.take(nil); len(items) != 2 || items[0] != 3 || items[1] != 4 {
		t.Fatalf("took %v, want [3 4]", items)
	}
}
