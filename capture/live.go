package capture

import (
	"context"
	"time"
)

// LiveOptions configure a live capture (OpenLive).
type LiveOptions struct {
	// Interface to capture on; "" captures on every interface.
	Interface string
	// Context ends the capture when cancelled: Next then returns io.EOF
	// (a waiting Next at once). nil means never.
	Context context.Context
	// PayloadPorts are the TCP ports whose segments with payload the
	// classic filter passes (see ClassicFilter); required: capture knows
	// no protocols, its caller names their ports.
	PayloadPorts []uint16
	// SnapLen is the most bytes kept of a TCP packet, from its network
	// header on; 0 means DefaultSnapLen.
	SnapLen int
	// EBPFFilterFD, when > 0, is an already loaded eBPF socket filter
	// program (BPF_PROG_TYPE_SOCKET_FILTER) attached with SO_ATTACH_BPF
	// instead of the classic filter. The socket is SOCK_DGRAM: the program
	// sees each packet from its network header, with skb->protocol telling
	// IPv4 from IPv6; its return value is the snap length (0 drops). It
	// replaces the classic filter entirely, so it must also drop the
	// outgoing copy of loopback packets (skb->pkt_type == PACKET_OUTGOING
	// on a loopback device), or every loopback packet arrives twice.
	EBPFFilterFD int
	// BufferSize is the size of the kernel ring; 0 means 16 MiB.
	BufferSize int
	// KeepFrames makes Next set event.Packet.Frame (the frame as a
	// LINUX_SLL2 record, as `tcpdump -i any` writes) for recording with
	// PcapngWriter.WriteEvent.
	KeepFrames bool
}

const (
	defaultRingSize = 16 << 20
	// ringBlockSize: the kernel hands a block over when it is full or
	// ringBlockTimeout after its first frame, whichever comes first, so
	// under light traffic every block holds only ringBlockTimeout's worth
	// of frames: with 1 MiB blocks a 16 MiB ring held 160 ms (16 blocks)
	// of traffic whatever its rate, and a reader starved of CPU for longer
	// lost packets. 128 KiB blocks (a 65,535-byte frame still fits) make
	// eight times as many: at least blocks × ringBlockTimeout of slack at
	// any rate, the ring's size at high rates.
	ringBlockSize = 128 << 10
	// ringBlockTimeout is how long the kernel fills a ring block before
	// handing it over anyway: the capture's latency when traffic is light.
	ringBlockTimeout = 10 * time.Millisecond
	// statsInterval is how often Next refreshes the kernel drop counter
	// while idle.
	statsInterval = time.Second
)
