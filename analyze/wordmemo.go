package analyze

import "sync/atomic"

// wordMemo keeps the words last made from a few inputs: a sentence that
// reads only its key (the server's text, a drop's fact) is the same for
// an equal key, and most connects of a run repeat the same few (every
// refused connect to one port, every drop of one reason). Making one
// again costs its concatenation and a new string, more than escaping it
// into a JSON line; a kept one is shared (words are never changed in
// place: concat and causesOf append to a clipped copy).
//
// The key must hold every input the words read: equal keys, equal words.
// Slots are chosen by the key's hash (direct-mapped: keys that share one
// take turns) and read and written atomically: words are made by any
// goroutine (engines and reports side by side).
type wordMemo[K comparable, V any] struct {
	slots [wordMemoSlots]atomic.Pointer[wordMemoEntry[K, V]]
}

// wordMemoSlots is how many keys a memo keeps (a power of two).
const wordMemoSlots = 8

type wordMemoEntry[K comparable, V any] struct {
	k K
	v V
}

// get is the words kept for k (h its hash), if any.
func (m *wordMemo[K, V]) get(h uint64, k K) (V, bool) {
	if e := m.slots[h&(wordMemoSlots-1)].Load(); e != nil && e.k == k {
		return e.v, true
	}
	var none V
	return none, false
}

// put keeps v as the words of k (h its hash).
func (m *wordMemo[K, V]) put(h uint64, k K, v V) {
	m.slots[h&(wordMemoSlots-1)].Store(&wordMemoEntry[K, V]{k, v})
}

// memoHash mixes s into h for a wordMemo's slot: its length and its last
// eight bytes (where texts of one kind differ most: an address's last
// digits, a port), not all of it.
func memoHash(h uint64, s string) uint64 {
	h = (h ^ uint64(len(s))) * 0x9e3779b97f4a7c15
	tail := s[max(0, len(s)-8):]
	for i := 0; i < len(tail); i++ {
		h ^= uint64(tail[i]) << (8 * i)
	}
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>31
}
