package seqring

import "testing"

// The ring against a slice model: every entry held is found by its link
// across growth and drops, a dropped entry's link finds nothing, and All
// gives the entries held, oldest first, with their seqs.
func TestRingAsSlice(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pushes, pop int // per round: push this many, then pop this many
		rounds      int
	}{
		{"grow only", 1000, 0, 1},
		{"steady", 3, 3, 500},
		{"grow while dropping", 7, 3, 300},
		{"drain", 50, 50, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q Ring[int]
			var model []uint64 // the seqs held, oldest first
			next := 0
			for range tc.rounds {
				for range tc.pushes {
					s := q.Push(next)
					if s != uint64(next) {
						t.Fatalf("push %d: seq %d", next, s)
					}
					model = append(model, s)
					next++
				}
				for range tc.pop {
					if got := *q.Oldest(); got != int(model[0]) {
						t.Fatalf("oldest %d, want %d", got, model[0])
					}
					q.Pop()
					if q.At(model[0]+1) != nil {
						t.Fatalf("dropped entry %d still found", model[0])
					}
					model = model[1:]
				}
				if q.Len() != len(model) || (len(model) > 0 && q.Tail() != model[0]) {
					t.Fatalf("len %d tail %d, want %d, %v", q.Len(), q.Tail(), len(model), model[:min(1, len(model))])
				}
				if c := q.Cap(); c&(c-1) != 0 || c < q.Len() {
					t.Fatalf("cap %d for %d entries: not a power of two holding them", c, q.Len())
				}
				for _, s := range model {
					if en := q.At(s + 1); en == nil || *en != int(s) {
						t.Fatalf("link %d: %v, want entry %d", s+1, en, s)
					}
				}
				i := 0
				for s, en := range q.All() {
					if s != model[i] || *en != int(s) {
						t.Fatalf("All's %d-th: seq %d entry %d, want %d", i, s, *en, model[i])
					}
					i++
				}
				if i != len(model) {
					t.Fatalf("All gave %d entries, want %d", i, len(model))
				}
			}
			if q.At(0) != nil {
				t.Fatal("link 0 names an entry")
			}
		})
	}
}
