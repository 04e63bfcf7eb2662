package proto

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// msStrconv is AppendMS as strconv writes it: what appendFixed must match.
func msStrconv(b []byte, ms float64) []byte {
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	switch {
	case ms < 0.9995:
		return append(strconv.AppendFloat(b, ms, 'f', 3, 64), " ms"...)
	case ms < 9.95:
		return append(strconv.AppendFloat(b, ms, 'f', 1, 64), " ms"...)
	case ms < 999.5:
		return append(strconv.AppendFloat(b, ms, 'f', 0, 64), " ms"...)
	}
	return append(strconv.AppendFloat(b, ms/1000, 'f', 1, 64), " s"...)
}

// AppendMS (its integer rounding, appendFixed) writes what strconv writes:
// for the model's values (whole nanoseconds), every threshold and its
// neighbours, exact ties (rounded half to even), tiny, subnormal, huge and
// non-finite values, and random doubles of every magnitude.
func TestAppendMSMatchesStrconv(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64,
		1e-300, 5e-324, 0.0005, 0.0015, 0.0625, 0.125, 0.25, 0.75, 2.5, 3.5, 0.5, 1.5, 9.25, 9.75, 999.5, 1e15, 1 << 52, 1 << 53, 1<<53 + 2, 1e300}
	for _, edge := range []float64{0.9995, 9.95, 999.5, 0.0005, 0.05, 0.5, 1000, 9950, 999500} {
		lo, hi := edge, edge
		for range 5 {
			lo, hi = math.Nextafter(lo, 0), math.Nextafter(hi, math.Inf(1))
			vals = append(vals, lo, hi)
		}
		vals = append(vals, edge)
	}
	for k := 0; k < 200000; k++ {
		// Exact ties at each precision: k + 1/2 units of the last digit,
		// where that is a binary fraction.
		vals = append(vals, float64(k)+0.5, (float64(k)+0.5)/1000, float64(k)/8, float64(k)/16, float64(k)/1024)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 300000 {
		vals = append(vals, MSOf(time.Duration(r.Int64N(int64(200*time.Hour)))), MSOf(time.Duration(r.Int64N(int64(time.Millisecond)))),
			r.Float64()*math.Pow(10, float64(r.IntN(40)-20)), math.Float64frombits(r.Uint64()))
	}
	for _, v := range vals {
		for _, x := range []float64{v, -v} {
			if got, want := AppendMS([]byte("x"), x), msStrconv([]byte("x"), x); string(got) != string(want) {
				t.Fatalf("AppendMS(%v [%#x]) = %s, strconv writes %s", x, math.Float64bits(x), got, want)
			}
		}
	}
}

func FuzzAppendMS(f *testing.F) {
	f.Add(uint64(0x3fe0000000000000))
	f.Fuzz(func(t *testing.T, bits uint64) {
		x := math.Float64frombits(bits)
		if got, want := AppendMS(nil, x), msStrconv(nil, x); string(got) != string(want) {
			t.Fatalf("AppendMS(%v [%#x]) = %s, strconv writes %s", x, bits, got, want)
		}
	})
}
