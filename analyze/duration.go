package analyze

import (
	"time"

	"github.com/connscope/connscope/analyze/proto"
)

// FormatDuration renders a duration for people, the one way connscope
// writes durations everywhere: in evidence and event text (engine and
// protocol plug-ins, through proto.Dur), and in the report's tables and
// timelines. Below a millisecond it keeps microseconds ("0.037 ms": what a
// LAN round trip needs), above about two significant digits ("4.5 ms",
// "250 ms", "3.0 s"). A negative duration (timestamps out of order) keeps
// its sign.
func FormatDuration(d time.Duration) string { return proto.Dur(d) }

// FormatMS is FormatDuration for a duration in milliseconds, as the model's
// *_ms fields hold them.
func FormatMS(ms float64) string { return proto.MS(ms) }
