package analyze

// flowTable maps flow keys to the attempts (and DNS-over-TCP flows) in
// their connection phase (Engine.flows): open addressing with linear
// probing over 16-byte slots holding the key's hash and the attempt; the
// key itself is the attempt's (a.key, set before it is tracked and not
// changed while it is), compared only when the hashes match. A Go map
// hashed the 40-byte key with memhash and probed groups of 8-byte
// control words and 48-byte slots, in every look-up of a packet that
// passed the flow filter, every new attempt and every report (8% of the
// engine's CPU on connects.pcap, hashing included).
type flowTable struct {
	slots []flowSlot // len a power of two, at most half full; nil when empty
	n     int
}

type flowSlot struct {
	h uint64 // flowKeyHash of the attempt's key; 0: an empty slot
	a *attempt
}

// flowKeyHash mixes the whole key (the splitmix64 finisher): linear
// probing needs every bit to count, and IPv4 keys differ only in the
// addresses' low halves and the ports. Never 0 (an empty slot).
func flowKeyHash(k *flowKey) uint64 {
	h := k.a1 ^ k.b1*0x9e3779b97f4a7c15 ^ k.ports*0xc2b2ae3d27d4eb4f ^ k.a0 ^ k.b0<<1
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h | 1
}

// len is how many keys the table holds.
func (t *flowTable) len() int { return t.n }

// get is the attempt tracked under key, nil when none is.
func (t *flowTable) get(key flowKey) *attempt {
	if t.n == 0 {
		return nil
	}
	h := flowKeyHash(&key)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == h && s.a.key == key {
			return s.a
		}
		if s.h == 0 {
			return nil
		}
	}
}

// set tracks a under its key (a.key), replacing the attempt there.
func (t *flowTable) set(a *attempt) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	h := flowKeyHash(&a.key)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == 0 {
			s.h, s.a = h, a
			t.n++
			return
		}
		if s.h == h && s.a.key == a.key {
			s.a = a
			return
		}
	}
}

// grow doubles the slots (64 at first) and places every key again.
func (t *flowTable) grow() {
	old := t.slots
	t.slots = make([]flowSlot, max(2*len(old), 64))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.h == 0 {
			continue
		}
		i := s.h & mask
		for t.slots[i].h != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// remove untracks a, if it is the attempt tracked under its key.
func (t *flowTable) remove(a *attempt) {
	if t.n == 0 {
		return
	}
	h := flowKeyHash(&a.key)
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for {
		s := &t.slots[i]
		if s.h == 0 {
			return
		}
		if s.a == a {
			break
		}
		i = (i + 1) & mask
	}
	// Backward-shift deletion: the keys after the hole that probed past
	// it move into it, so no probe ever stops early (no tombstones).
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s.h == 0 {
			break
		}
		// s stays unless its home slot is cyclically outside (i, j].
		if home := s.h & mask; (j-home)&mask >= (j-i)&mask {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = flowSlot{}
	t.n--
}

// each calls f for every key and its attempt (tests).
func (t *flowTable) each(f func(flowKey, *attempt)) {
	for _, s := range t.slots {
		if s.h != 0 {
			f(s.a.key, s.a)
		}
	}
}
