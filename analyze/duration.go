package analyze

import (
	"strconv"
	"time"
)

// FormatDuration renders a duration for people, the one way connscope
// writes durations everywhere: in evidence and event text here, and in the
// report's tables and timelines. Below a millisecond it keeps microseconds
// ("0.037 ms": what a LAN round trip needs), above about two significant
// digits ("4.5 ms", "250 ms", "3.0 s"). A negative duration (timestamps out
// of order) keeps its sign.
func FormatDuration(d time.Duration) string {
	return FormatMS(float64(d) / float64(time.Millisecond))
}

// FormatMS is FormatDuration for a duration in milliseconds, as the model's
// *_ms fields hold them.
func FormatMS(ms float64) string {
	var buf [32]byte
	b := buf[:0]
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	// The thresholds are where the rounded value reaches the next unit, so
	// that 999.7 ms is "1.0 s", not "1000 ms".
	switch {
	case ms < 0.9995:
		b = append(strconv.AppendFloat(b, ms, 'f', 3, 64), " ms"...)
	case ms < 9.95:
		b = append(strconv.AppendFloat(b, ms, 'f', 1, 64), " ms"...)
	case ms < 999.5:
		b = append(strconv.AppendFloat(b, ms, 'f', 0, 64), " ms"...)
	default:
		b = append(strconv.AppendFloat(b, ms/1000, 'f', 1, 64), " s"...)
	}
	return string(b)
}
