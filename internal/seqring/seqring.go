// Package seqring is a FIFO whose entries are numbered in order of
// addition (their seq), for tables that thread hash chains through their
// entries: analyze's remembered SYNs, ISN index and memory of decided
// attempts, and live's process table.
//
// Entry s sits at ring[s&(len(ring)-1)], and the entries held are Tail()
// .. Tail()+Len()-1. A link is 1 + the seq of the entry it names (0:
// none), so a link below the tail names a dropped entry and ends its
// chain, and dropping needs no unlinking. Growing by doubling keeps every
// entry at its seq: the links stay as they are.
package seqring

import "iter"

// Ring is the FIFO; its zero value is empty and ready to use.
type Ring[T any] struct {
	ring []T // len a power of two
	tail uint64
	n    int
}

// Push appends en and gives its seq.
func (q *Ring[T]) Push(en T) uint64 {
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

// At is the entry of link l (1 + its seq), nil when l is 0 or the entry
// was dropped.
func (q *Ring[T]) At(l uint64) *T {
	if l == 0 || l-1 < q.tail {
		return nil
	}
	return &q.ring[(l-1)&uint64(len(q.ring)-1)]
}

// Oldest is the oldest entry held; Len must be > 0.
func (q *Ring[T]) Oldest() *T { return &q.ring[q.tail&uint64(len(q.ring)-1)] }

// Pop drops the oldest entry (zeroed: nothing it refers to stays reachable).
func (q *Ring[T]) Pop() {
	var zero T
	*q.Oldest() = zero
	q.tail++
	q.n--
}

// Len is the number of entries held.
func (q *Ring[T]) Len() int { return q.n }

// Tail is the seq of the oldest entry held (of the next one pushed when
// none is).
func (q *Ring[T]) Tail() uint64 { return q.tail }

// Cap is the ring's size: Push makes a new, twice as large ring only when
// Len reaches it.
func (q *Ring[T]) Cap() int { return len(q.ring) }

// All yields the entries held with their seqs, oldest first.
func (q *Ring[T]) All() iter.Seq2[uint64, *T] {
	return func(yield func(uint64, *T) bool) {
		for s := q.tail; s < q.tail+uint64(q.n); s++ {
			if !yield(s, &q.ring[s&uint64(len(q.ring)-1)]) {
				return
			}
		}
	}
}
