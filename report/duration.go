package report

import (
	"strconv"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze"
)

// Durations are written one way everywhere: analyze.FormatMS, which the
// engine also uses for the durations in its evidence and event text, so a
// table cell and the timeline line beside it say the same ("0.044 ms" in the
// RTT column, "SYN-ACK ... (RTT 0.044 ms)" in the timeline). The helpers
// here only adapt it to a place: "-" for an absent value, no space in the
// line format's columns. Timeline offsets are instants, not durations: they
// have their own fixed, signed microsecond format so that they line up.

// fmtMSPtr renders an optional duration; "-" when absent.
func fmtMSPtr(ms *float64) string {
	if ms == nil {
		return "-"
	}
	return analyze.FormatMS(*ms)
}

// compactMS is analyze.FormatMS without the space ("0.213ms"), "-" for
// none: one field per column.
func compactMS(ms *float64) string {
	if ms == nil {
		return "-"
	}
	return strings.ReplaceAll(analyze.FormatMS(*ms), " ", "")
}

// fmtOffset renders a timeline offset: microsecond resolution, in ms below
// one second and in s above.
func fmtOffset(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1000 && ms > -1000 {
		return string(appendSigned3(make([]byte, 0, 16), ms, " ms"))
	}
	// The trailing space lines the decimal point up with the " ms" lines.
	return string(appendSigned3(make([]byte, 0, 16), ms/1000, " s "))
}

// appendSigned3 appends v as fmt's %+.3f does (a sign always), then unit.
func appendSigned3(b []byte, v float64, unit string) []byte {
	n := len(b)
	b = strconv.AppendFloat(append(b, '+'), v, 'f', 3, 64)
	if c := b[n+1]; c == '-' || c == '+' {
		b = append(b[:n], b[n+1:]...) // AppendFloat wrote its own sign
	}
	return append(b, unit...)
}
