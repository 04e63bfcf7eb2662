package report

import (
	"math/rand/v2"
	"testing"
	"time"
)

// appendRFC3339NanoUTC writes exactly what time.AppendFormat writes for
// RFC3339Nano: dates across the whole range (leap years, century years,
// the first and last second of each year it meets), fractions with and
// without trailing zeros, and times it hands to AppendFormat (before
// 1970, after 9999, not UTC).
func TestAppendRFC3339NanoUTC(t *testing.T) {
	var ts []time.Time
	for _, s := range []string{"1970-01-01T00:00:00Z", "1999-12-31T23:59:59.999999999Z", "2000-02-29T12:00:00.5Z",
		"2100-02-28T23:59:59Z", "2100-03-01T00:00:00Z", "2400-02-29T00:00:00.000000001Z", "9999-12-31T23:59:59.999999999Z",
		"2025-03-14T09:00:00.000806Z", "1969-12-31T23:59:59.9Z", "0001-01-01T00:00:00Z"} {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tm, tm.UTC(), tm.In(time.FixedZone("x", 3600)), tm.Local())
	}
	ts = append(ts, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{})
	for y := 1970; y <= 9999; y++ {
		ts = append(ts, time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y, 12, 31, 23, 59, 59, 100, time.UTC),
			time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 300000 {
		sec, nsec := r.Int64N(253402300800), r.Int64N(1e9)
		tm := time.Unix(sec, nsec).UTC()
		if r.IntN(4) == 0 {
			tm = tm.Truncate(time.Duration(r.Int64N(int64(time.Second)) + 1))
		}
		ts = append(ts, tm)
	}
	for _, tm := range ts {
		want := tm.AppendFormat([]byte("x"), time.RFC3339Nano)
		if got := appendRFC3339NanoUTC([]byte("x"), tm); string(got) != string(want) {
			t.Fatalf("%v: got %s, AppendFormat writes %s", tm, got, want)
		}
	}
}

func FuzzAppendRFC3339NanoUTC(f *testing.F) {
	f.Add(int64(1741942800), int64(806000))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		tm := time.Unix(sec, nsec).UTC()
		want := tm.AppendFormat(nil, time.RFC3339Nano)
		if got := appendRFC3339NanoUTC(nil, tm); string(got) != string(want) {
			t.Fatalf("%d, %d: got %s, AppendFormat writes %s", sec, nsec, got, want)
		}
	})
}
