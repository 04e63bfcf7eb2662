package analyze

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestEndedQueue: the remembered SYNs' queue gives its keys back oldest
// first through any mix of pushes and pops, and its memory follows how
// many it holds: at most 4 times its peak, however many keys went through
// (a queue re-sliced from the front let append copy it again and again).
func TestEndedQueue(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, 13))
		var q endedQueue
		var want []endedKey
		peak := 0
		for i := range 200000 {
			// Mostly a full queue of about 1,000 keys (as rememberSYN keeps
			// it at maxEnded), with bursts of pops that empty it.
			pop := len(want) > 1000 || r.IntN(100) < 30 || (i/5000)%7 == 6
			if pop && len(want) > 0 {
				if q.len() != len(want) || q.oldest() != want[0] {
					t.Fatalf("seed %d step %d: %d queued, oldest %v; want %d, %v", seed, i, q.len(), q.oldest(), len(want), want[0])
				}
				q.pop()
				want = want[1:]
				continue
			}
			k := endedKey{key: flowKey{a1: uint64(i), ports: uint64(r.Uint32())}, at: int64(i)}
			q.push(k)
			want = append(want, k)
			peak = max(peak, len(want))
			if q.len() != len(want) {
				t.Fatalf("seed %d step %d: %d queued, want %d", seed, i, q.len(), len(want))
			}
			if cap(q.q) > 4*peak+16 {
				t.Fatalf("seed %d step %d: capacity %d for at most %d keys", seed, i, cap(q.q), peak)
			}
		}
		for len(want) > 0 {
			if q.oldest() != want[0] {
				t.Fatalf("seed %d draining: oldest %v, want %v", seed, q.oldest(), want[0])
			}
			q.pop()
			want = want[1:]
		}
		if q.len() != 0 {
			t.Fatalf("seed %d: %d left after draining", seed, q.len())
		}
	}
}

// TestEndedQueueSteadyAllocs: a full queue that takes a key for every key
// it forgets (rememberSYN at maxEnded) keeps its memory once warm: the
// same array, never reallocated nor re-sliced from the front. (Counting
// the process's allocations instead was flaky: another goroutine's count.)
func TestEndedQueueSteadyAllocs(t *testing.T) {
	var q endedQueue
	for i := range maxEnded {
		q.push(endedKey{at: int64(i)})
	}
	step := func(i int) {
		q.pop()
		q.push(endedKey{at: int64(maxEnded + i)})
	}
	for i := range 4 * maxEnded { // warm: the capacity it settles at
		step(i)
	}
	array := unsafe.SliceData(q.q)
	for i := range 10 * maxEnded {
		step(i)
		if unsafe.SliceData(q.q) != array {
			t.Fatalf("step %d of a full queue: its keys moved to another array (capacity %d)", i, cap(q.q))
		}
	}
	if q.len() != maxEnded || q.oldest().at != int64(10*maxEnded) {
		t.Errorf("%d queued, oldest at %d; want %d, %d", q.len(), q.oldest().at, maxEnded, 10*maxEnded)
	}
}
