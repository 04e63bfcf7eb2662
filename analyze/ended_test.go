package analyze

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// endedModel is what endedSYNs must answer: a map of the newest SYN per
// key, forgotten when the entry that put it there leaves the FIFO (by age
// or the bound), or by a new ISN on the 5-tuple.
type endedModel struct {
	newest map[flowKey]int // key → index in fifo of its newest entry
	fifo   []endedEntry
	base   int // index of fifo[0] since the start
	gone   map[flowKey]bool
}

func (m *endedModel) remember(k flowKey, isn uint32, clientIsA bool, at int64) {
	if len(m.fifo) >= maxEnded {
		m.drop()
	}
	m.fifo = append(m.fifo, endedEntry{key: k, isn: isn, clientIsA: clientIsA, at: at})
	m.newest[k] = m.base + len(m.fifo) - 1
	delete(m.gone, k)
}

func (m *endedModel) drop() {
	k := m.fifo[0].key
	if m.newest[k] == m.base {
		delete(m.newest, k)
		delete(m.gone, k)
	}
	m.fifo = m.fifo[1:]
	m.base++
}

func (m *endedModel) find(k flowKey) *endedEntry {
	i, ok := m.newest[k]
	if !ok || m.gone[k] {
		return nil
	}
	return &m.fifo[i-m.base]
}

// TestEndedSYNs: the remembered SYNs answer as a map of each key's newest
// SYN would, through remembering, forgetting by a new ISN, expiry and the
// maxEnded bound (the clock standing still for 30,000 SYNs), on keys that share buckets (few addresses and ports);
// every bucket's bit is set exactly while its chain holds an entry.
func TestEndedSYNs(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, 26))
		var m endedSYNs
		ref := endedModel{newest: map[flowKey]int{}, gone: map[flowKey]bool{}}
		key := func() flowKey {
			// 3,000 distinct keys, some on the same ports.
			i := uint64(r.IntN(3000))
			return flowKey{a1: i % 50, b1: 7, ports: 40000<<16 | (i / 50)}
		}
		now := int64(0)
		for step := range 300000 {
			if (step/60000)%2 == 0 {
				// The clock runs (expiry), or stands still long enough
				// for the maxEnded bound to drop the oldest.
				now += int64(r.IntN(3000)) * int64(endedTTL) / 1e6
			}
			switch op := r.IntN(10); {
			case op < 5:
				k, isn, a := key(), r.Uint32N(3), r.IntN(2) == 0
				m.remember(k, isn, a, now)
				ref.remember(k, isn, a, now)
			case op < 9:
				k := key()
				got, want := m.find(k), ref.find(k)
				if (got == nil) != (want == nil) || got != nil && (got.isn != want.isn || got.clientIsA != want.clientIsA || got.at != want.at) {
					t.Fatalf("seed %d step %d: find %v = %+v, want %+v", seed, step, k, got, want)
				}
				if got != nil && r.IntN(3) == 0 {
					got.gone = true
					ref.gone[k] = true
				}
			default:
				m.expire(now)
				for len(ref.fifo) > 0 && now-ref.fifo[0].at > int64(endedTTL) {
					ref.drop()
				}
			}
			if m.len() != len(ref.fifo) {
				t.Fatalf("seed %d step %d: %d held, want %d", seed, step, m.len(), len(ref.fifo))
			}
			if step%10000 == 0 {
				checkEndedMarks(t, &m)
			}
		}
		checkEndedMarks(t, &m)
		m.expire(now + int64(endedTTL) + 1)
		if m.len() != 0 {
			t.Fatalf("seed %d: %d held after the TTL", seed, m.len())
		}
		checkEndedMarks(t, &m)
	}
}

// TestEndedSYNsSteadyMemory: at maxEnded, a SYN remembered for every one
// forgotten keeps the ring's memory (no growth, no new array).
func TestEndedSYNsSteadyMemory(t *testing.T) {
	var m endedSYNs
	for i := range maxEnded {
		m.remember(flowKey{a1: uint64(i)}, 1, true, int64(i))
	}
	// The ring gets a new array only by growing (seqring.Ring.Push).
	for i := range 10 * maxEnded {
		m.remember(flowKey{a1: uint64(maxEnded + i)}, 1, true, int64(maxEnded+i))
		if m.Cap() != maxEnded {
			t.Fatalf("step %d at maxEnded: the ring grew (%d entries)", i, m.Cap())
		}
	}
	if m.len() != maxEnded || m.Oldest().at != int64(10*maxEnded) {
		t.Errorf("%d held, oldest at %d; want %d, %d", m.len(), m.Oldest().at, maxEnded, 10*maxEnded)
	}
}

// TestEndedBucketSpreads: the remembered SYNs' bucket depends on the
// addresses, not only the ports — many clients (or servers) on the same
// ports must not share one bucket, or every new SYN on those ports walks
// a chain for nothing. Both directions give the same bucket.
func TestEndedBucketSpreads(t *testing.T) {
	tests := []struct {
		name       string
		src, dst   func(i int) netip.Addr
		sport, dpt uint16
	}{
		{"IPv4 clients, one server, same ports",
			func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) },
			func(int) netip.Addr { return netip.MustParseAddr("192.0.2.10") }, 40000, 3306},
		{"one IPv4 client, servers, same ports",
			func(int) netip.Addr { return netip.MustParseAddr("10.0.0.1") },
			func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)}) }, 40000, 443},
		{"IPv6 clients, one server, same ports",
			func(i int) netip.Addr {
				return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
			},
			func(int) netip.Addr { return netip.MustParseAddr("2001:db8::53") }, 40000, 5432},
	}
	const n = 4096
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[uint64]bool{}
			for i := 1; i <= n; i++ {
				k, _ := makeKey(tt.src(i), tt.sport, tt.dst(i), tt.dpt)
				back, _ := makeKey(tt.dst(i), tt.dpt, tt.src(i), tt.sport)
				if endedBucket(k) != endedBucket(back) {
					t.Fatalf("flow %d: bucket %d one way, %d the other", i, endedBucket(k), endedBucket(back))
				}
				seen[endedBucket(k)] = true
			}
			// 4,096 keys in 65,536 buckets: about 3% collide at random.
			if len(seen) < n*9/10 {
				t.Errorf("%d flows on the same ports share %d buckets, want at least %d", n, len(seen), n*9/10)
			}
		})
	}
}

// checkEndedMarks: every held entry is on its bucket's chain, and a
// bucket's bit is set exactly while its chain holds an entry (its head is
// 0 otherwise); an entry is shadowed exactly when it is not its bucket's
// head.
func checkEndedMarks(t testing.TB, m *endedSYNs) {
	t.Helper()
	onChain := 0
	for b := range uint64(endedBuckets) {
		n := 0
		if m.head != nil {
			for en := m.At(m.head[b]); en != nil; en = m.At(en.next) {
				if endedBucket(en.key) != b {
					t.Fatalf("bucket %d chains an entry of bucket %d", b, endedBucket(en.key))
				}
				if en.shadowed != (n > 0) {
					t.Fatalf("bucket %d: entry %d of its chain shadowed %v", b, n, en.shadowed)
				}
				n++
			}
		}
		if marked := m.marked[b>>6]&(1<<(b&63)) != 0; marked != (n > 0) {
			t.Fatalf("bucket %d: marked %v with %d entries held", b, marked, n)
		}
		if n == 0 && m.head != nil && m.head[b] != 0 {
			t.Fatalf("bucket %d: no entry held, head %d", b, m.head[b])
		}
		onChain += n
	}
	if onChain != m.len() {
		t.Fatalf("%d entries on chains, %d held", onChain, m.len())
	}
}
