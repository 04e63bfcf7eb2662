package report

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/proto"
)

// appendJSONFloat writes exactly what encoding/json writes for a float64:
// the model's millisecond values (whole nanoseconds, the fast path), the
// edges of that path, and values outside it.
func TestAppendJSONFloatMatchesEncodingJSON(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e-6, -1e-6, 1e-7, 5e-7, 0.000001, 0.1, 0.2, 0.3, 1.1,
		999999999.999999, -999999999.999999, 1e9, 1e9 + 0.5, 8589934591.999999, 1e15, 1e20, 1e21, 1.5e-300, math.MaxFloat64,
		math.SmallestNonzeroFloat64, 123.4567891, 2.0 / 3, math.Pi, 0.0000015, 99.9999995}
	for _, d := range []time.Duration{1, 999, 1000, 1001, 999999, 1000000, 1000001, 1234567, 10 * time.Second, time.Hour, 24 * time.Hour,
		99 * 24 * time.Hour, 1<<53 - 1, 1 << 62} {
		vals = append(vals, proto.MSOf(d), -proto.MSOf(d))
	}
	for i := -3000; i <= 3000; i++ {
		vals = append(vals, float64(i)/1e6, float64(i)/1e3, float64(i)*0.001, float64(i)*1.000001)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		vals = append(vals, proto.MSOf(time.Duration(r.Int64N(int64(200*24*time.Hour)))),
			proto.MSOf(time.Duration(r.Int64N(int64(time.Second)))), r.Float64()*math.Pow(10, float64(r.IntN(24)-8)))
	}
	for _, v := range vals {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONFloat(nil, v); string(got) != string(want) {
			t.Errorf("appendJSONFloat(%v) = %s, encoding/json writes %s", v, got, want)
		}
		// After other bytes, with no room left or some (the digits are
		// written in place).
		for _, pre := range [][]byte{[]byte(`"t":`), append(make([]byte, 0, 64), `"t":`...)} {
			if got := appendJSONFloat(pre, v); string(got) != `"t":`+string(want) {
				t.Errorf("appendJSONFloat(%q (cap %d), %v) = %s, want \"t\":%s", pre, cap(pre), v, got, want)
			}
		}
	}
}

func BenchmarkAppendJSONFloat(b *testing.B) {
	vals := []float64{0, proto.MSOf(1234567), proto.MSOf(81 * time.Millisecond), proto.MSOf(3 * time.Second), proto.MSOf(17)}
	buf := make([]byte, 0, 64)
	for i := 0; b.Loop(); i++ {
		buf = appendJSONFloat(buf[:0], vals[i%len(vals)])
	}
}
