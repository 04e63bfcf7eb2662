package analyze

import "testing"

// recentMemory is a ring: it keeps the newest maxRecent decided attempts
// (and no older than recentTTL), in order, through growth and wrap-around,
// and its look-up maps hold exactly what the ring holds.
func TestRecentMemoryRing(t *testing.T) {
	att := func(i int) *attempt {
		return &attempt{key: flowKey{ports: uint64(i) + 1}, cookie: uint64(i) + 1}
	}
	check := func(t *testing.T, r *recentMemory, first, last int) {
		t.Helper()
		if want := last - first + 1; r.n != want || len(r.keys) != want || len(r.cookies) != want {
			t.Fatalf("holds %d entries, %d keys, %d cookies; want %d of each (attempts %d..%d)", r.n, len(r.keys), len(r.cookies), want, first, last)
		}
		for i := range r.n {
			en := r.ring[(r.head+i)%len(r.ring)]
			if want := att(first + i); en.key != want.key || en.cookie != want.cookie || en.at != int64(first+i) {
				t.Fatalf("entry %d is attempt %+v at %d, want attempt %d (oldest first)", i, en, en.at, first+i)
			}
			if r.keys[en.key] != en.at || r.cookies[en.cookie] != en.at {
				t.Fatalf("entry %d not in the look-up maps", i)
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
			if len(r.ring) > maxRecent {
				t.Errorf("ring of %d entries, more than maxRecent %d", len(r.ring), maxRecent)
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
