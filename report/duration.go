package report

import (
	"strconv"
	"time"

	"github.com/connscope/connscope/analyze/proto"
)

// Durations are written one way everywhere: analyze.FormatMS, which the
// engine also uses for the durations in its evidence and event text, so a
// table cell and the timeline line beside it say the same ("0.044 ms" in the
// RTT column, "SYN-ACK ... (RTT 0.044 ms)" in the timeline). The helpers
// here only adapt it to a place: "-" for an absent value, no space in the
// line format's columns. Timeline offsets are instants, not durations: they
// have their own fixed, signed microsecond format so that they line up.

// appendMSOrDash appends an optional duration; "-" when absent.
func appendMSOrDash(b []byte, ms *float64) []byte {
	if ms == nil {
		return append(b, '-')
	}
	return proto.AppendMS(b, *ms)
}

// compactMS is analyze.FormatMS without the space ("0.213ms"), "-" for
// none: one field per column.
func compactMS(ms *float64) string {
	return string(appendCompactMS(nil, ms))
}

// appendCompactMS appends compactMS(ms).
func appendCompactMS(b []byte, ms *float64) []byte {
	if ms == nil {
		return append(b, '-')
	}
	from := len(b)
	b = proto.AppendMS(b, *ms)
	out := from
	for _, c := range b[from:] {
		if c != ' ' {
			b[out] = c
			out++
		}
	}
	return b[:out]
}

// fmtOffset renders a timeline offset: microsecond resolution, in ms below
// one second and in s above.
func fmtOffset(d time.Duration) string {
	var buf [32]byte
	return string(appendOffset(buf[:0], d))
}

// appendOffset appends fmtOffset(d).
func appendOffset(b []byte, d time.Duration) []byte {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1000 && ms > -1000 {
		return appendSigned3(b, ms, " ms")
	}
	// The trailing space lines the decimal point up with the " ms" lines.
	return appendSigned3(b, ms/1000, " s ")
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
