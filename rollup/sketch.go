package rollup

import "math"

// Sketch is a bounded-memory distribution of durations in milliseconds:
// a fixed log-scale histogram with 32 buckets per doubling, from 1 µs to
// 2^36 µs (19 hours), plus the exact count, minimum and maximum.
//
// Error: a quantile is reported as the geometric middle of its bucket,
// clamped to [min, max], so it is within ±1.1 % of a value that really has
// that rank (a bucket spans a factor 2^(1/32) ≈ 1.0219). Values below 1 µs
// share the first bucket (reported as the minimum); values above the range
// share the last one (reported up to the maximum). The maximum is exact.
// The buckets (1152 × 4 bytes) are allocated with the first value, so an
// empty Sketch costs nothing.
type Sketch struct {
	n        uint64
	min, max float64
	buckets  []uint32
}

const (
	perDoubling = 32
	doublings   = 36
	nBuckets    = perDoubling * doublings
)

// steps[k] is 2^(k/32): the bounds of the buckets within one doubling.
var steps = func() (s [perDoubling]float64) {
	for k := range s {
		s[k] = math.Exp2(float64(k) / perDoubling)
	}
	return s
}()

// bucketOf is floor(log2(µs) · 32), by the exponent and a binary search
// of the mantissa among the 32 steps (no logarithm per value).
func bucketOf(ms float64) int {
	us := ms * 1000
	if !(us >= 1) { // also NaN
		return 0
	}
	frac, exp := math.Frexp(us) // us = frac · 2^exp, frac in [0.5, 1)
	m := frac * 2               // in [1, 2)
	lo, hi := 0, perDoubling-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if steps[mid] <= m {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	i := (exp-1)*perDoubling + lo
	if i >= nBuckets {
		return nBuckets - 1
	}
	return i
}

// bucketMid is the geometric middle of bucket i, in milliseconds.
func bucketMid(i int) float64 {
	return math.Exp2((float64(i)+0.5)/perDoubling) / 1000
}

// Add records one value in milliseconds. Negative and NaN values are ignored.
func (s *Sketch) Add(ms float64) {
	if !(ms >= 0) {
		return
	}
	if s.buckets == nil {
		s.buckets = make([]uint32, nBuckets)
		s.min, s.max = ms, ms
	}
	s.n++
	s.min = min(s.min, ms)
	s.max = max(s.max, ms)
	b := &s.buckets[bucketOf(ms)]
	if *b < math.MaxUint32 {
		*b++
	}
}

// Merge adds o's values to s.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil || o.n == 0 {
		return
	}
	if s.buckets == nil {
		s.buckets = make([]uint32, nBuckets)
		s.min, s.max = o.min, o.max
	}
	s.n += o.n
	s.min = min(s.min, o.min)
	s.max = max(s.max, o.max)
	for i, c := range o.buckets {
		if c != 0 {
			s.buckets[i] = uint32(min(uint64(s.buckets[i])+uint64(c), math.MaxUint32))
		}
	}
}

// Count is the number of values added.
func (s *Sketch) Count() uint64 { return s.n }

// Max is the largest value added (0 when empty).
func (s *Sketch) Max() float64 { return s.max }

// Quantile returns the value of rank ceil(q·n) (q in [0,1]), within the
// sketch's error, and false when the sketch is empty.
func (s *Sketch) Quantile(q float64) (float64, bool) {
	if s.n == 0 {
		return 0, false
	}
	if q >= 1 {
		return s.max, true
	}
	rank := uint64(math.Ceil(q * float64(s.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range s.buckets {
		seen += uint64(c)
		if seen >= rank {
			v := bucketMid(i)
			return min(max(v, s.min), s.max), true
		}
	}
	return s.max, true
}

// Quantiles are a distribution's summary for reports: nil pointers when
// no value was seen.
type Quantiles struct {
	N   uint64   `json:"n"`
	P50 *float64 `json:"p50_ms"`
	P90 *float64 `json:"p90_ms"`
	P99 *float64 `json:"p99_ms"`
	Max *float64 `json:"max_ms"`
}

// Summary is the sketch's p50, p90, p99 (rounded to the microsecond) and
// max (exact).
func (s *Sketch) Summary() Quantiles {
	q := Quantiles{N: s.n}
	if s.n == 0 {
		return q
	}
	// Rounded to the microsecond: finer digits would claim a precision
	// the sketch does not have.
	at := func(p float64) *float64 { v, _ := s.Quantile(p); v = math.Round(v*1000) / 1000; return &v }
	q.P50, q.P90, q.P99 = at(0.5), at(0.9), at(0.99)
	m := s.max
	q.Max = &m
	return q
}
