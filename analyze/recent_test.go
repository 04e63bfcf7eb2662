package analyze

import "testing"

// recentMemory is a ring: it keeps the newest maxRecent decided attempts
// (and no older than recentTTL), in order, through growth and wrap-around,
// and its look-ups find exactly what the ring holds.
func TestRecentMemoryRing(t *testing.T) {
	att := func(i int) *attempt {
		return &attempt{key: flowKey{ports: uint64(i) + 1}, cookie: uint64(i) + 1}
	}
	check := func(t *testing.T, r *recentMemory, first, last int) {
		t.Helper()
		if want := last - first + 1; r.Len() != want {
			t.Fatalf("holds %d entries, want %d (attempts %d..%d)", r.Len(), want, first, last)
		}
		i := 0
		for _, en := range r.All() {
			if want := att(first + i); en.key != want.key || en.cookie != want.cookie || en.at != int64(first+i) {
				t.Fatalf("entry %d is attempt %+v at %d, want attempt %d (oldest first)", i, en, en.at, first+i)
			}
			if at, ok := r.keyAt(en.key); !ok || at != en.at || !r.hasCookie(en.cookie) {
				t.Fatalf("entry %d not found by its key or cookie (key at %d, %v)", i, at, ok)
			}
			i++
		}
		// What was dropped is not found any more, by key or cookie.
		for i := max(first-3*maxRecent, 0); i < first; i++ {
			if a := att(i); r.hasKey(a.key) || r.hasCookie(a.cookie) {
				t.Fatalf("attempt %d dropped (the oldest held is %d) but still found", i, first)
			}
		}
	}
	for _, c := range []struct {
		name        string
		adds        int
		expireAt    int64 // 0: no expiry
		first, last int   // what stays
	}{
		{"few", 10, 0, 0, 9},
		{"grown past the first size", 1000, 0, 0, 999},
		{"full", maxRecent, 0, 0, maxRecent - 1},
		{"wrapped: the oldest go", maxRecent + 777, 0, 777, maxRecent + 776},
		{"wrapped twice", 2*maxRecent + 5, 0, maxRecent + 5, 2*maxRecent + 4},
		{"expired by age", 3000, 2500 + recentTTL, 2500, 2999},
		{"wrapped, then expired", maxRecent + 100, maxRecent + 50 + recentTTL, maxRecent + 50, maxRecent + 99},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r recentMemory
			for i := range c.adds {
				r.add(att(i), int64(i))
			}
			if c.expireAt != 0 {
				r.expire(c.expireAt)
			}
			check(t, &r, c.first, c.last)
			if r.Cap() > maxRecent {
				t.Errorf("ring of %d entries, more than maxRecent %d", r.Cap(), maxRecent)
			}
		})
	}
	t.Run("grown while wrapped", func(t *testing.T) {
		var r recentMemory
		for i := range 100 {
			r.add(att(i), int64(i))
		}
		r.expire(49 + recentTTL + 1) // the oldest 50 go: the ring starts mid-way
		for i := 100; i < 300; i++ {
			r.add(att(i), int64(i)) // wraps, then grows
		}
		check(t, &r, 50, 299)
	})
	t.Run("expired to empty, then reused", func(t *testing.T) {
		var r recentMemory
		for i := range 100 {
			r.add(att(i), int64(i))
		}
		r.expire(1000 + recentTTL)
		check(t, &r, 0, -1)
		for i := 200; i < 300; i++ {
			r.add(att(i), int64(i))
		}
		check(t, &r, 200, 299)
	})
}

// BenchmarkRecentMemory: live tracing's steady state, one decision added
// and the oldest expired per connect.
func BenchmarkRecentMemory(b *testing.B) {
	var r recentMemory
	atts := make([]attempt, 4096)
	for i := range atts {
		atts[i] = attempt{key: flowKey{ports: uint64(i) + 1}, cookie: uint64(i) + 1}
	}
	b.ReportAllocs()
	for i := range b.N {
		now := int64(i) * 100_000 // 10,000 decisions a second
		r.add(&atts[i%len(atts)], now)
		r.expire(now)
	}
}

// recentMemory's look-ups follow chains through shared buckets: keys and
// cookies of one bucket are each found with the time of their newest
// entry, a reused 5-tuple by its newest decision, and nothing once dropped.
func TestRecentMemoryChains(t *testing.T) {
	// Five flow keys and five cookies of one bucket each.
	var keys []flowKey
	var cookies []uint64
	for p := uint64(1); len(keys) < 5; p++ {
		if k := (flowKey{a1: 0x7f000001, b1: 0x7f000001, ports: p<<16 | 3306}); recentHash(k) == recentHash(flowKey{a1: 0x7f000001, b1: 0x7f000001, ports: 3306}) {
			keys = append(keys, k)
		}
	}
	for c := uint64(1); len(cookies) < 5; c++ {
		if cookieHash(c) == cookieHash(1) {
			cookies = append(cookies, c)
		}
	}
	var r recentMemory
	// Times 1..5 the five of the bucket, each followed by an unrelated
	// decision; then at 20 the second key again (a reused 5-tuple) with a
	// cookie of its own.
	for i := range 5 {
		r.add(&attempt{key: keys[i], cookie: cookies[i]}, int64(1+i))
		r.add(&attempt{key: flowKey{a1: 1, ports: uint64(i)}, cookie: 1000 + uint64(i)}, int64(1+i))
	}
	r.add(&attempt{key: keys[1], cookie: 77}, 20)
	for _, c := range []struct {
		name     string
		expireAt int64   // 0: none
		keyAt    []int64 // per key: its newest time, 0 for not found
		cookieIn []bool
		cookie77 bool
	}{
		{"all held", 0, []int64{1, 20, 3, 4, 5}, []bool{true, true, true, true, true}, true},
		{"the first two times dropped", 2 + recentTTL + 1, []int64{0, 20, 3, 4, 5}, []bool{false, false, true, true, true}, true},
		{"all but the reuse dropped", 5 + recentTTL + 1, []int64{0, 20, 0, 0, 0}, []bool{false, false, false, false, false}, true},
		{"all dropped", 20 + recentTTL + 1, []int64{0, 0, 0, 0, 0}, []bool{false, false, false, false, false}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.expireAt != 0 {
				r.expire(c.expireAt)
			}
			for i, k := range keys {
				at, ok := r.keyAt(k)
				if want := c.keyAt[i]; ok != (want != 0) || at != want {
					t.Errorf("key %d: at %d, found %v; want %d", i, at, ok, want)
				}
				if got := r.hasCookie(cookies[i]); got != c.cookieIn[i] {
					t.Errorf("cookie %d found %v, want %v", i, got, c.cookieIn[i])
				}
			}
			if got := r.hasCookie(77); got != c.cookie77 {
				t.Errorf("the reuse's cookie found %v, want %v", got, c.cookie77)
			}
		})
	}
}

// recentMemory links its entries into the chains only when a look-up
// comes: look-ups between runs of decisions of every length (past a wrap
// of the ring, whose unlinked oldest entries go unlinked) find every
// entry held by key and cookie, with its time, and nothing dropped.
func TestRecentMemoryLinksOnLookUp(t *testing.T) {
	att := func(i int) *attempt {
		return &attempt{key: flowKey{a1: uint64(i % 7), ports: uint64(i) + 1}, cookie: uint64(i) + 1}
	}
	var r recentMemory
	added := 0
	for n, run := range []int{1, 0, 5, 1000, maxRecent - 3, 2, 3*maxRecent + 11, 1, 77, 3, 40000} {
		for range run {
			r.add(att(added), int64(added))
			added++
		}
		oldest := max(added-maxRecent, 0)
		for _, i := range []int{added - 1, added - 2, (oldest + added) / 2, oldest} {
			if i < oldest || i < 0 {
				continue
			}
			// Either look-up may come first after the decisions.
			if n%2 == 1 && !r.hasCookie(att(i).cookie) {
				t.Fatalf("after %d decisions: decision %d not found by its cookie", added, i)
			}
			if at, ok := r.keyAt(att(i).key); !ok || at != int64(i) || !r.hasCookie(att(i).cookie) {
				t.Fatalf("after %d decisions: decision %d not found (key at %d, %v; cookie %v)", added, i, at, ok, r.hasCookie(att(i).cookie))
			}
		}
		for _, i := range []int{oldest - 1, oldest - maxRecent} {
			if i >= 0 && (r.hasKey(att(i).key) || r.hasCookie(att(i).cookie)) {
				t.Fatalf("after %d decisions: decision %d, dropped, still found", added, i)
			}
		}
	}
}
