package live

import (
	"net/netip"
	"testing"
	"time"

	"github.com/connscope/connscope/event"
)

// BenchmarkProcessTable: a connect loop at 10,000 connects/s, long past
// filling the table: per connect (op) its kernel events and packets as the
// pipeline feeds them (SYN_SENT, connect()'s return, two more state changes; the SYN, the reply and four more packets), and, every 64th, a
// packet no traced socket owns.
func BenchmarkProcessTable(b *testing.B) {
	pt := newProcessTable()
	server := netip.MustParseAddrPort("127.0.0.1:3306")
	client := netip.MustParseAddr("127.0.0.1")
	k := &event.Kernel{Kind: event.StateChange, Family: event.FamilyInet, SockType: event.SockStream, Dst: server,
		Process: event.Process{PID: 42, TID: 42, Comm: "loop", FD: 3}}
	p := &event.Packet{Proto: event.ProtoTCP, Dst: server.Addr(), DstPort: server.Port()}
	i := 0
	for b.Loop() {
		t := t0.Add(time.Duration(i) * 100 * time.Microsecond)
		port := uint16(10000 + i%50000)
		k.Src = netip.AddrPortFrom(client, port)
		p.Src, p.SrcPort = client, port
		for e, to := range []uint8{event.TCPSynSent, 0, event.TCPEstablished, event.TCPFinWait1} {
			k.Kind, k.NewState = event.StateChange, to
			if e == 1 {
				k.Kind = event.ConnectCall
			}
			k.Time = t.Add(time.Duration(e) * 10 * time.Microsecond)
			pt.observe(k)
			p.Time = k.Time
			pt.lookup(p)
			pt.lookup(p)
		}
		if i%64 == 0 {
			p.SrcPort = 1 + uint16(i%1000)
			pt.lookup(p)
		}
		i++
	}
}
