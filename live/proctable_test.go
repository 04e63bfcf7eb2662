package live

import (
	"net/netip"
	"slices"
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

// TestPipelineLabelsPastFullTable: a connect loop (every connect its own
// process, client ports reused after 40,000 connects) runs through the
// pipeline, under a process filter, long enough to go round a full process
// table: every packet reaches the engine labelled with its own connect's
// process (none left out as another process's, none with the process of
// the port's previous connect).
func TestPipelineLabelsPastFullTable(t *testing.T) {
	n := maxProcessFlows + 30000
	kernel, packets, _ := lossWorkload(n, 100*time.Microsecond)
	type arrival struct {
		at   time.Time
		conn int
		it   event.Item
	}
	var arrivals []arrival
	for _, list := range [][]lossEvent{kernel, packets} {
		for _, ev := range list {
			arrivals = append(arrivals, arrival{ev.it.Time.Add(10 * time.Millisecond), ev.conn, ev.it})
		}
	}
	slices.SortStableFunc(arrivals, func(x, y arrival) int { return x.at.Compare(y.at) })
	now := arrivals[0].at
	s := testSession(func() time.Time { return now }, func() (uint64, uint64) { return 0, 0 })
	s.onlyTraced = true
	s.startEngine(false)
	type fed struct {
		p    *event.Packet
		conn int
	}
	var copies []fed
	nextTick := now.Add(activeTick)
	for _, a := range arrivals {
		for !nextTick.After(a.at) {
			now = nextTick
			s.tick(now)
			nextTick = nextTick.Add(activeTick)
		}
		now = a.at
		if a.it.Kernel != nil {
			k := *a.it.Kernel
			s.addKernel(&k, now)
		} else {
			p := a.it.Packet.Clone()
			copies = append(copies, fed{p, a.conn})
			s.addPacket(p, now)
		}
	}
	s.merger.Flush(s.feed)
	s.engine.Close()
	if s.foreign != 0 || s.traced != uint64(len(copies)) {
		t.Errorf("%d of %d packets left out as another process's, %d fed", s.foreign, len(copies), s.traced)
	}
	wrong := 0
	for _, f := range copies {
		if want := uint32(5000 + f.conn); f.p.Process == nil || f.p.Process.PID != want {
			if wrong++; wrong <= 5 {
				t.Errorf("connect %d: a packet labelled %+v, want pid %d", f.conn, f.p.Process, want)
			}
		}
	}
	if wrong > 5 {
		t.Errorf("%d packets labelled wrongly in all", wrong)
	}
}
