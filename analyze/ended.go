package analyze

import (
	"time"

	"github.com/connscope/connscope/internal/seqring"
)

// endedTTL is how long a reported attempt's SYN is remembered: longer than
// any client retransmits one (Linux gives up after about 127 s).
const endedTTL = 3 * time.Minute

// maxEnded bounds the reported SYNs remembered.
const maxEnded = 1 << 14

// endedSYNs remembers the client SYN (5-tuple and ISN) of reported
// attempts for endedTTL, oldest first, so that a late retransmit of one is
// not taken for a new attempt (lateRetransmit). Lookups go by hash chains
// threaded through the FIFO (internal/seqring, as recentMemory's): remembering a SYN
// costs a push and a bucket's head, forgetting the oldest a look at its
// bucket's head. A map with a queue beside it (the old way) paid an insert,
// and for every forgotten SYN a look-up and a delete, in a table of 16,384
// keys of 40 bytes: cache misses each time, about 45 ms of a 1 s run of
// connects.pcap (60,000 SYNs that got no SYN-ACK).
//
// marked has a bit per bucket, set exactly while the bucket's chain holds
// an entry: every new SYN asks it (8 KB that stays cached) before the
// chain. A key remembered again shadows its older entries (the newest is
// found first); forget marks the newest gone, which hides the key's
// older entries too, as a map's delete did.
//
// Nor do remembering and forgetting read head (512 KB, a cache miss each
// time: 30 ms of a 1 s run of connects.pcap) unless the bucket holds
// another entry: a clear bit says its head is 0, and an entry knows
// whether a newer one shadows it on its bucket's chain (shadowed), which
// is all forgetting the oldest needs to know to clear its bucket.
type endedSYNs struct {
	seqring.Ring[endedEntry]
	head   []uint64 // per bucket: 1 + seq of its newest entry (0: none)
	marked [endedBuckets / 64]uint64
}

type endedEntry struct {
	key       flowKey
	at        int64  // event clock (Unix ns) when it was reported
	next      uint64 // link to the next older entry of the same bucket
	isn       uint32
	clientIsA bool
	gone      bool // forgotten by forget (a new ISN on the 5-tuple)
	// shadowed: a newer entry of the same bucket was remembered (this one
	// is not its bucket's head).
	shadowed bool
}

// endedBuckets is the number of chain buckets: four per SYN remembered,
// so that three new SYNs in four find their bucket's bit clear.
const endedBuckets = 1 << 16

// endedBucket is a flow key's bucket: its addresses and ports mixed (the
// ports alone collide across clients, whose ephemeral ports overlap).
func endedBucket(k flowKey) uint64 {
	return (k.a0 ^ k.a1 ^ k.b0 ^ k.b1<<1 ^ k.ports) * 0x9e3779b97f4a7c15 >> 48
}

// len is how many SYNs are held (forgotten ones included, until they are
// the oldest).
func (m *endedSYNs) len() int { return m.Len() }

// remember records a reported attempt's SYN at now (Unix ns), dropping the
// oldest when maxEnded are held.
func (m *endedSYNs) remember(key flowKey, isn uint32, clientIsA bool, now int64) {
	if m.head == nil {
		m.head = make([]uint64, endedBuckets)
	}
	if m.Len() >= maxEnded {
		m.dropOldest() // the ring, doubling from a power of two, stays within maxEnded
	}
	b := endedBucket(key)
	w, bit := b>>6, uint64(1)<<(b&63)
	var next uint64 // a clear bit: head[b] is 0
	if m.marked[w]&bit != 0 {
		// Before Push, which may move the ring (the mark is copied).
		next = m.head[b]
		m.At(next).shadowed = true
	}
	s := m.Push(endedEntry{key: key, at: now, next: next, isn: isn, clientIsA: clientIsA})
	m.head[b] = s + 1
	m.marked[w] |= bit
}

// dropOldest forgets the oldest entry; its bucket is cleared when it was
// the bucket's only one (its newest: no newer one shadowed it).
func (m *endedSYNs) dropOldest() {
	if o := m.Oldest(); !o.shadowed {
		b := endedBucket(o.key)
		m.head[b] = 0
		m.marked[b>>6] &^= 1 << (b & 63)
	}
	m.Pop()
}

// expire forgets the SYNs remembered more than endedTTL before now.
func (m *endedSYNs) expire(now int64) {
	for m.Len() > 0 && now-m.Oldest().at > int64(endedTTL) {
		m.dropOldest()
	}
}

// find is the SYN remembered for key, nil when none is (or it was
// forgotten).
func (m *endedSYNs) find(key flowKey) *endedEntry {
	if m.Len() == 0 {
		return nil
	}
	b := endedBucket(key)
	if m.marked[b>>6]&(1<<(b&63)) == 0 {
		return nil
	}
	for en := m.At(m.head[b]); en != nil; en = m.At(en.next) {
		if en.key == key {
			if en.gone {
				return nil
			}
			return en
		}
	}
	return nil
}
