package live

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/connscope/connscope/event"
)

// The readers' copies come from slabs: each must equal what
// event.Packet.Clone makes and share no memory with the reader's packet
// (which the reader reuses) nor with the copies next to it.
func TestPacketCopierClone(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, byteSlabChunk/4) // past the slab's size limit: allocated alone
	for _, tc := range []struct {
		name string
		p    event.Packet
	}{
		{"bare SYN", event.Packet{TCPFlags: event.TCPSyn}},
		{"payload", event.Packet{Payload: []byte("hello\r\n"), PayloadLen: 7}},
		{"empty payload", event.Packet{Payload: []byte{}}},
		{"ICMP error", event.Packet{Proto: event.ProtoICMP, ICMP: &event.ICMPError{Type: 3, Code: 3, QuotedSrcPort: 40001}}},
		{"frame and process", event.Packet{Payload: []byte("x"), Frame: &event.Frame{Data: []byte("frame bytes"), LinkType: 276, InterfaceName: "lo", WireLen: 40},
			Process: &event.Process{PID: 7, Comm: "mysql"}}},
		{"big frame", event.Packet{Frame: &event.Frame{Data: big}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c packetCopier
			src := tc.p
			src.Time = time.Unix(1, 2)
			src.Src, src.Dst = netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
			want := src.Clone()
			got := c.clone(&src)
			next := c.clone(&src) // its neighbour in the slabs
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("clone = %+v, want %+v", got, want)
			}
			// Overwrite everything the reader's packet points to: the copy stays.
			for _, b := range [][]byte{src.Payload, frameData(&src)} {
				for i := range b {
					b[i] ^= 0xff
				}
			}
			if src.ICMP != nil {
				src.ICMP.Type = 11
			}
			if src.Process != nil {
				src.Process.PID = 8
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("clone changed with the reader's packet: %+v, want %+v", got, want)
			}
			// An append to one copy never reaches its neighbour.
			if len(got.Payload) > 0 {
				_ = append(got.Payload, 0xee)
				if !bytes.Equal(next.Payload, want.Payload) {
					t.Errorf("append to a copy's payload changed the next copy's: %q", next.Payload)
				}
			}
			if got.Frame != nil {
				_ = append(got.Frame.Data, 0xee)
				if !bytes.Equal(next.Frame.Data, want.Frame.Data) {
					t.Errorf("append to a copy's frame changed the next copy's")
				}
			}
		})
	}
}

func frameData(p *event.Packet) []byte {
	if p.Frame == nil {
		return nil
	}
	return p.Frame.Data
}

func TestSlabHandsOutDistinctZeroedValues(t *testing.T) {
	var s slab[event.Kernel]
	seen := map[*event.Kernel]bool{}
	for i := range 3*slabChunk + 1 {
		k := s.new()
		if *k != (event.Kernel{}) {
			t.Fatalf("value %d not zeroed: %+v", i, *k)
		}
		if seen[k] {
			t.Fatalf("value %d handed out twice", i)
		}
		seen[k] = true
		k.Cookie = uint64(i + 1)
	}
}

// A reclaimed chunk is handed out again without being cleared: the packet
// copier writes every copy whole, so a copy made into the place of an
// earlier one (a frame, a process, an ICMP error, a payload) keeps nothing
// of it.
func TestCopyIntoReclaimedChunk(t *testing.T) {
	cycle := &chunkCycle[event.Packet]{}
	c := packetCopier{packets: recyclingSlab[event.Packet]{cycle: cycle}}
	rich := event.Packet{Time: time.Unix(1, 0), Proto: event.ProtoICMP, Payload: []byte("x"), PayloadLen: 1, IPID: 9, Offset: 77,
		ICMP: &event.ICMPError{Type: 3, Code: 3}, Frame: &event.Frame{Data: []byte("frame"), LinkType: 1},
		Process: &event.Process{PID: 7, Comm: "mysql"}}
	first := c.clone(&rich)
	for range slabChunk {
		c.clone(&rich) // fills the first chunk: sealed
	}
	cycle.collect()
	cycle.reclaim(event.OrderKey(time.Unix(2, 0)))
	if len(cycle.free) != 1 {
		t.Fatalf("%d chunks reclaimed, want the first", len(cycle.free))
	}
	bare := event.Packet{Time: time.Unix(3, 0), Proto: event.ProtoTCP, TCPFlags: event.TCPSyn, Offset: -1,
		Src: netip.MustParseAddr("127.0.0.1"), Dst: netip.MustParseAddr("127.0.0.2")}
	var got *event.Packet
	for range slabChunk - 1 { // the rest of the second chunk
		c.clone(&bare)
	}
	if got = c.clone(&bare); got != first {
		t.Fatal("the copier's next chunk is not the reclaimed one")
	}
	if want := bare.Clone(); !reflect.DeepEqual(got, want) {
		t.Errorf("copy into a reclaimed place = %+v, want %+v", got, want)
	}
}
