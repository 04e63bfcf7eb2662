package analyze

// seqRing is a FIFO whose entries are numbered in order of addition (seq):
// entry s sits at ring[s&(len(ring)-1)], and the entries held are tail ..
// tail+n-1. The hash chains of recentMemory and isnIndex are threaded
// through one: a link is 1 + the seq of the entry it names (0: none), so a
// link below tail names a dropped entry and ends its chain, and dropping
// needs no unlinking. Growing by doubling keeps every entry at its seq:
// the links stay as they are.
type seqRing[T any] struct {
	ring []T // len a power of two
	tail uint64
	n    int
}

// push appends en and gives its seq.
func (q *seqRing[T]) push(en T) uint64 {
	if q.n == len(q.ring) {
		bigger := make([]T, max(2*len(q.ring), 64))
		for s := q.tail; s < q.tail+uint64(q.n); s++ {
			bigger[s&uint64(len(bigger)-1)] = q.ring[s&uint64(len(q.ring)-1)]
		}
		q.ring = bigger
	}
	s := q.tail + uint64(q.n)
	q.ring[s&uint64(len(q.ring)-1)] = en
	q.n++
	return s
}

// at is the entry of link l (1 + its seq), nil when l is 0 or the entry
// was dropped.
func (q *seqRing[T]) at(l uint64) *T {
	if l == 0 || l-1 < q.tail {
		return nil
	}
	return &q.ring[(l-1)&uint64(len(q.ring)-1)]
}

// oldest is the oldest entry held; q.n must be > 0.
func (q *seqRing[T]) oldest() *T { return &q.ring[q.tail&uint64(len(q.ring)-1)] }

// pop drops the oldest entry (zeroed: nothing it refers to stays reachable).
func (q *seqRing[T]) pop() {
	var zero T
	*q.oldest() = zero
	q.tail++
	q.n--
}
