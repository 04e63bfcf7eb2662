package live

import "sync"

// queue carries a source's events from its reader goroutine to the
// pipeline: the reader puts what one read of its ring gave it, the
// pipeline takes everything queued at once. Cheaper per event than a
// channel (one lock per batch instead of a channel send and a select per
// event), and the pipeline wakes once per batch rather than once per event.
// At most max events wait (plus one batch): then putAll blocks, the
// kernel's ring fills and what it drops is counted there, as with a full
// channel.
type queue[T any] struct {
	mu     sync.Mutex
	space  sync.Cond // signalled when take makes room
	items  []T
	max    int
	closed bool
	// ready holds a token while events wait that the pipeline has not been
	// told about (or the queue closed).
	ready chan struct{}
}

func newQueue[T any](max int) *queue[T] {
	q := &queue[T]{max: max, ready: make(chan struct{}, 1)}
	q.space.L = &q.mu
	return q
}

// putAll queues xs in order, waiting while the queue is full (it may then
// hold up to len(xs)-1 more than its max).
func (q *queue[T]) putAll(xs []T) {
	if len(xs) == 0 {
		return
	}
	q.mu.Lock()
	for len(q.items) >= q.max {
		q.space.Wait()
	}
	first := len(q.items) == 0
	q.items = append(q.items, xs...)
	q.mu.Unlock()
	if first {
		q.notify()
	}
}

// close says the reader is done; take reports it once the queue is empty.
func (q *queue[T]) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.notify()
}

func (q *queue[T]) notify() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take returns everything queued, in order, reusing buf's array for the
// queue (the caller must be done with what an earlier take returned in
// it), and whether the reader may still put more.
func (q *queue[T]) take(buf []T) (items []T, open bool) {
	clear(buf)
	q.mu.Lock()
	items, q.items = q.items, buf[:0]
	open = !q.closed
	q.mu.Unlock()
	q.space.Broadcast()
	return items, open
}

// len is how many events wait (none in a nil queue: no such source).
func (q *queue[T]) len() int {
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// ended reports whether the source has closed the queue (it reads no more).
func (q *queue[T]) ended() bool {
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
