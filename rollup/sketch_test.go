package rollup

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

// TestSketchQuantiles checks every reported quantile against the exact
// value of that rank, within the documented ±0.8 %.
func TestSketchQuantiles(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	cases := []struct {
		name   string
		values []float64
	}{
		{"one value", []float64{3.5}},
		{"two values", []float64{0.044, 5005}},
		{"constant", slices.Repeat([]float64{1000}, 50)},
		{"sub-microsecond", []float64{0.0001, 0.0002, 0.0005}},
		{"uniform 0-10 s", func() []float64 {
			v := make([]float64, 10000)
			for i := range v {
				v[i] = rng.Float64() * 10000
			}
			return v
		}()},
		{"lognormal", func() []float64 {
			v := make([]float64, 5000)
			for i := range v {
				v[i] = math.Exp(rng.NormFloat64()*2 + 1)
			}
			return v
		}()},
		{"bimodal 1 ms and 1 s (SYN retransmit)", append(slices.Repeat([]float64{0.9}, 97), 1001, 1002, 1003)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s Sketch
			for _, v := range tc.values {
				s.Add(v)
			}
			sorted := slices.Sorted(slices.Values(tc.values))
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
				got, ok := s.Quantile(q)
				if !ok {
					t.Fatalf("q%.2f: empty", q)
				}
				rank := int(math.Ceil(q * float64(len(sorted))))
				rank = max(rank, 1)
				want := sorted[rank-1]
				if want < 0.001 { // below 1 µs: the first bucket, reported as the minimum
					if got != sorted[0] && got > 0.001 {
						t.Errorf("q%.2f = %g, want ≤ 1 µs", q, got)
					}
					continue
				}
				if rel := math.Abs(got-want) / want; rel > 0.008 {
					t.Errorf("q%.2f = %g, exact %g: error %.2f%% > 0.8%%", q, got, want, rel*100)
				}
			}
			if s.Max() != sorted[len(sorted)-1] {
				t.Errorf("max = %g, want %g", s.Max(), sorted[len(sorted)-1])
			}
		})
	}
}

func TestSketchEmptyAndMerge(t *testing.T) {
	var s Sketch
	if _, ok := s.Quantile(0.5); ok {
		t.Fatal("empty sketch gave a quantile")
	}
	if q := s.Summary(); q.P50 != nil || q.Max != nil || q.N != 0 {
		t.Fatalf("empty summary = %+v", q)
	}
	s.Add(-1)
	s.Add(math.NaN())
	if s.Count() != 0 {
		t.Fatalf("negative/NaN counted: %d", s.Count())
	}
	var a, b Sketch
	for i := 1; i <= 50; i++ {
		a.Add(float64(i))
		b.Add(float64(i + 50))
	}
	a.Merge(&b)
	if a.Count() != 100 || a.Max() != 100 {
		t.Fatalf("merged count %d max %g", a.Count(), a.Max())
	}
	if p, _ := a.Quantile(0.5); math.Abs(p-50)/50 > 0.011 {
		t.Fatalf("merged p50 = %g, want 50", p)
	}
}

// bucketOf puts every value in the bucket whose bounds hold it.
func TestBucketOf(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 100000; i++ {
		ms := math.Exp(rng.Float64()*30 - 8)
		oct, sub := bucketOf(ms)
		us := ms * 1000
		if us < 1 {
			if oct != 0 || sub != 0 {
				t.Fatalf("bucketOf(%g) = %d/%d, want the first", ms, oct, sub)
			}
			continue
		}
		lo := math.Ldexp(1+float64(sub)/perDoubling, oct)
		hi := math.Ldexp(1+float64(sub+1)/perDoubling, oct)
		if oct == doublings-1 && sub == perDoubling-1 {
			continue // the last bucket takes everything above
		}
		if us < lo || us >= hi {
			t.Fatalf("bucketOf(%g) = %d/%d: [%g, %g) µs does not hold %g µs", ms, oct, sub, lo, hi, us)
		}
	}
}
