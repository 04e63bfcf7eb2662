package analyze

import (
	"testing"

	"github.com/connscope/connscope/event"
)

// TestBulkSegmentsKeepTheBooks checks what a segment of a connection the
// engine does not follow (bulk traffic, handled by Packet's short path,
// passing) still does: it counts as a packet, a truncated one counts as a
// truncated segment, it moves the event clock, and when that makes a
// sweep due the idle attempts are decided and their connects reported at
// once — not only at Close.
func TestBulkSegmentsKeepTheBooks(t *testing.T) {
	for _, tc := range []struct {
		name          string
		bulkAtMS      float64 // the bulk segment's time (the SYN is at 0)
		truncated     bool    // the bulk segment's payload was cut by the snap length
		wantReported  int     // connects reported before Close
		wantTruncated uint64
	}{
		{name: "before the next sweep", bulkAtMS: 50, wantReported: 0},
		{name: "after the idle timeout: the sweep it makes due decides the attempt", bulkAtMS: 40_000, wantReported: 1},
		{name: "truncated bulk segment", bulkAtMS: 50, truncated: true, wantReported: 0, wantTruncated: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{IdleTimeout: 30e9})
			s.conn("10.0.0.1:40000", "10.0.0.2:3306").SYN(0)
			bulk := s.conn("10.0.0.1:50000", "10.0.0.3:3306") // no SYN seen: not followed
			p := bulk.pkt(tc.bulkAtMS, false, event.TCPAck|event.TCPPsh, []byte("result set bytes"))
			if tc.truncated {
				p.PayloadLen = 1400
			}
			s.feed(p)
			if got := len(s.got); got != tc.wantReported {
				t.Errorf("connects reported before Close = %d, want %d", got, tc.wantReported)
			}
			if got := s.e.now; !got.Equal(s.at(tc.bulkAtMS)) {
				t.Errorf("event clock = %v, want the bulk segment's time %v", got, s.at(tc.bulkAtMS))
			}
			sum := s.close()
			if sum.Packets != 2 {
				t.Errorf("summary packets = %d, want 2 (the SYN and the bulk segment)", sum.Packets)
			}
			if sum.TruncatedSegments != tc.wantTruncated {
				t.Errorf("summary truncated segments = %d, want %d", sum.TruncatedSegments, tc.wantTruncated)
			}
			if len(s.got) != 1 {
				t.Fatalf("connects after Close = %d, want 1", len(s.got))
			}
		})
	}
}
