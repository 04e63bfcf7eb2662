package report

import (
	"math"
	"strconv"
	"testing"
)

// TestAppendUintInt checks appendUint and appendInt against strconv at
// every digit count's edges, on a spread of values, and after a prefix
// (in a buffer with and without room).
func TestAppendUintInt(t *testing.T) {
	var vs []uint64
	for p := uint64(1); p < 1e19; p *= 10 {
		vs = append(vs, p-1, p, p+1, 2*p, 9*p)
	}
	for x := uint64(0); x < 2e7; x = x*3 + 7 {
		vs = append(vs, x)
	}
	for x := uint64(0); x < 12000; x++ {
		vs = append(vs, x)
	}
	vs = append(vs, math.MaxUint64, math.MaxInt64, 1<<32)
	for _, v := range vs {
		for _, prefix := range [][]byte{nil, []byte(`"n":`), make([]byte, 3, 4)} {
			want := strconv.AppendUint(append([]byte(nil), prefix...), v, 10)
			if got := appendUint(append([]byte(nil), prefix...), v); string(got) != string(want) {
				t.Fatalf("appendUint(%q, %d) = %q, want %q", prefix, v, got, want)
			}
			if v <= math.MaxInt64 {
				for _, n := range []int64{int64(v), -int64(v)} {
					want := strconv.AppendInt(append([]byte(nil), prefix...), n, 10)
					if got := appendInt(append([]byte(nil), prefix...), n); string(got) != string(want) {
						t.Fatalf("appendInt(%q, %d) = %q, want %q", prefix, n, got, want)
					}
				}
			}
		}
	}
	if got := string(appendInt(nil, math.MinInt64)); got != strconv.FormatInt(math.MinInt64, 10) {
		t.Errorf("appendInt(MinInt64) = %s", got)
	}
}
