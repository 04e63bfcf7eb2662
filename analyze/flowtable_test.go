package analyze

import (
	"math/rand/v2"
	"testing"
)

// TestFlowTable: the flow table answers as a map from key to attempt
// through sets (new keys and replacements), removals (of the attempt held,
// and of one no longer held under its key) and look-ups, while it grows
// and while removals leave holes in its probe runs (few keys that differ
// little: long runs of neighbouring slots).
func TestFlowTable(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, 26))
		var ft flowTable
		want := map[flowKey]*attempt{}
		keys := make([]flowKey, 5000)
		for i := range keys {
			keys[i] = flowKey{a0: 0, a1: 0xffff0a000001 + uint64(i%7), b1: 0xffffc0000201, ports: uint64(40000+i)<<16 | 3306}
		}
		for step := range 400000 {
			// The table fills up to a few thousand keys, then empties.
			n := 1 + (step/50000%4)*1000
			k := keys[r.IntN(n)]
			switch op := r.IntN(10); {
			case op < 4:
				a := &attempt{key: k}
				ft.set(a)
				want[k] = a
			case op < 7:
				if a := want[k]; a != nil {
					if r.IntN(4) == 0 {
						// An attempt no longer held under its key: nothing moves.
						ft.remove(&attempt{key: k})
						break
					}
					ft.remove(a)
					delete(want, k)
				}
			default:
				if got := ft.get(k); got != want[k] {
					t.Fatalf("seed %d step %d: get(%v) = %p, want %p", seed, step, k, got, want[k])
				}
			}
			if ft.len() != len(want) {
				t.Fatalf("seed %d step %d: %d held, want %d", seed, step, ft.len(), len(want))
			}
			if 2*ft.len() > len(ft.slots) {
				t.Fatalf("seed %d step %d: %d keys in %d slots", seed, step, ft.len(), len(ft.slots))
			}
			if step%20000 == 0 {
				for k, a := range want {
					if got := ft.get(k); got != a {
						t.Fatalf("seed %d step %d: get(%v) = %p, want %p", seed, step, k, got, a)
					}
				}
				seen := 0
				ft.each(func(k flowKey, a *attempt) {
					if want[k] != a {
						t.Fatalf("seed %d step %d: each gave %v → %p, want %p", seed, step, k, a, want[k])
					}
					seen++
				})
				if seen != len(want) {
					t.Fatalf("seed %d step %d: each gave %d keys, want %d", seed, step, seen, len(want))
				}
			}
		}
	}
}
