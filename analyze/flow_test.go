package analyze

import "testing"

// TestFlowFilter: an index is "maybe" exactly while some flow counted in
// it is tracked — the bitmap the hot path reads follows the counts, also
// with several flows on one index and neighbours in the same bitmap word.
func TestFlowFilter(t *testing.T) {
	type step struct {
		add  bool
		h    uint16
		want map[uint16]bool // maybe after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"one flow", []step{
			{true, 7, map[uint16]bool{7: true, 6: false, 8: false}},
			{false, 7, map[uint16]bool{7: false}},
		}},
		{"two flows on one index", []step{
			{true, 100, map[uint16]bool{100: true}},
			{true, 100, map[uint16]bool{100: true}},
			{false, 100, map[uint16]bool{100: true}},
			{false, 100, map[uint16]bool{100: false}},
		}},
		{"neighbours in one word", []step{
			{true, 64, map[uint16]bool{64: true, 65: false}},
			{true, 65, map[uint16]bool{64: true, 65: true}},
			{false, 64, map[uint16]bool{64: false, 65: true}},
			{false, 65, map[uint16]bool{64: false, 65: false}},
		}},
		{"the last index", []step{
			{true, 0xffff, map[uint16]bool{0xffff: true, 0xfffe: false, 0: false}},
			{false, 0xffff, map[uint16]bool{0xffff: false}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := new(flowFilter)
			for i, s := range tc.steps {
				if s.add {
					f.add(s.h)
				} else {
					f.remove(s.h)
				}
				for h, want := range s.want {
					if got := f.maybe(h); got != want {
						t.Errorf("step %d (add %v %d): maybe(%d) = %v, want %v", i, s.add, s.h, h, got, want)
					}
				}
			}
		})
	}
}
