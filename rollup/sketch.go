package rollup

import "math"

// Sketch is a bounded-memory distribution of durations in milliseconds:
// a log-linear histogram (each doubling from 1 µs to 2^35 µs, 9.5 hours,
// split in 64 equal buckets, as in HdrHistogram), plus the exact count,
// minimum and maximum.
//
// Error: a quantile is reported as the middle of its bucket, clamped to
// [min, max], so it is within ±0.8 % of a value that really has that rank
// (a bucket is at most 1/64 of its lower bound wide). Values below 1 µs
// share the first bucket (reported as the minimum); values above the range
// share the last one (reported up to the maximum). The maximum is exact.
// A doubling's 64 counters (256 bytes) are allocated with its first value,
// so an empty Sketch costs nothing and a typical one a few doublings.
// Finding a value's bucket takes its float64 exponent and the top six bits
// of its mantissa: no logarithm.
type Sketch struct {
	n        uint64
	min, max float64
	// last is octaves[lastOct] (nil before the first value): the values of
	// one distribution mostly fall in one doubling, and Add then reads its
	// counters without loading the octaves array (another cache line, most
	// often cold: a rollup's sketches are many, and the engine's work
	// between two connects evicts them).
	last    *[perDoubling]uint32
	lastOct int
	octaves [doublings]*[perDoubling]uint32
}

const (
	perDoubling = 64
	subBits     = 6 // log2(perDoubling)
	doublings   = 35
)

// bucketOf is the doubling (floor(log2(µs))) and the bucket within it.
func bucketOf(ms float64) (oct, sub int) {
	us := ms * 1000
	if !(us >= 1) { // also NaN
		return 0, 0
	}
	bits := math.Float64bits(us)
	oct = int(bits>>52&0x7ff) - 1023
	if oct >= doublings {
		return doublings - 1, perDoubling - 1
	}
	return oct, int(bits >> (52 - subBits) & (perDoubling - 1))
}

// bucketMid is the middle of a bucket, in milliseconds.
func bucketMid(oct, sub int) float64 {
	return math.Ldexp(1+(float64(sub)+0.5)/perDoubling, oct) / 1000
}

// Add records one value in milliseconds. Negative and NaN values are ignored.
func (s *Sketch) Add(ms float64) {
	if !(ms >= 0) {
		return
	}
	if s.n == 0 {
		s.min, s.max = ms, ms
	}
	s.n++
	s.min = min(s.min, ms)
	s.max = max(s.max, ms)
	oct, sub := bucketOf(ms)
	o := s.last
	if o == nil || oct != s.lastOct {
		o = s.octaves[oct]
		if o == nil {
			o = new([perDoubling]uint32)
			s.octaves[oct] = o
		}
		s.last, s.lastOct = o, oct
	}
	if o[sub] < math.MaxUint32 {
		o[sub]++
	}
}

// Merge adds o's values to s.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil || o.n == 0 {
		return
	}
	if s.n == 0 {
		s.min, s.max = o.min, o.max
	}
	s.n += o.n
	s.min = min(s.min, o.min)
	s.max = max(s.max, o.max)
	for i, src := range o.octaves {
		if src == nil {
			continue
		}
		dst := s.octaves[i]
		if dst == nil {
			dst = new([perDoubling]uint32)
			s.octaves[i] = dst
		}
		for j, c := range src {
			dst[j] = uint32(min(uint64(dst[j])+uint64(c), math.MaxUint32))
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
	for i, o := range s.octaves {
		if o == nil {
			continue
		}
		for j, c := range o {
			seen += uint64(c)
			if seen >= rank {
				return min(max(bucketMid(i, j), s.min), s.max), true
			}
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
