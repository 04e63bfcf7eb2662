package analyze

import (
	"net/netip"
	"testing"
	"time"
)

var newAttemptSink *attempt

// BenchmarkNewAttempt is the cost of a new attempt's memory when none is
// spare (live tracing: each SYN or SYN_SENT makes one).
func BenchmarkNewAttempt(b *testing.B) {
	e := NewEngine(Options{Live: true})
	client, server := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:3306")
	t := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		newAttemptSink = e.newAttempt(client, server, t)
	}
}
