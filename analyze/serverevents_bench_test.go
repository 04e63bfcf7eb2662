package analyze

import (
	"net/netip"
	"testing"
	"time"

	"github.com/connscope/connscope/event"
)

// BenchmarkLiveServerSide feeds the live engine the kernel events and
// packets of a loopback connect loop traced on both ends, as connbench
// makes them (half accepted with a greeting, half refused): besides the
// client's socket events, the server's handshake and accept, and for a
// refused connect the kernel's drop of the SYN and its RST.
func BenchmarkLiveServerSide(b *testing.B) {
	const n = 20000
	base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	lo := netip.MustParseAddr("127.0.0.1")
	okSrv, refusedSrv := netip.AddrPortFrom(lo, 14306), netip.AddrPortFrom(lo, 14307)
	proc := event.Process{PID: 4242, TID: 4242, Comm: "connbench", FD: 13}
	type item struct {
		k *event.Kernel
		p *event.Packet
	}
	var items []item
	for i := range n {
		t := base.Add(time.Duration(i) * 100 * time.Microsecond)
		us := func(d int) time.Time { return t.Add(time.Duration(d) * time.Microsecond) }
		client := netip.AddrPortFrom(lo, uint16(20000+i%40000))
		srv, refused := okSrv, i%2 == 1
		if refused {
			srv = refusedSrv
		}
		cookie := uint64(1000 + i)
		cisn, sisn := uint32(1000*i+1), uint32(7000*i+1)
		kev := func(at time.Time, k event.Kernel) {
			k.Time, k.Family, k.SockType = at, event.FamilyInet, event.SockStream
			if k.Cookie == 0 && k.Kind != event.ResetSent && k.Kind != event.PacketDrop {
				k.Cookie, k.Process = cookie, proc
			}
			if !k.Src.IsValid() {
				k.Src, k.Dst = client, srv
			}
			if k.ISN == 0 && k.Process.PID != 0 && k.Kind != event.Accepted {
				k.ISN = cisn
			}
			items = append(items, item{k: &k})
		}
		pkt := func(at time.Time, fromClient bool, flags uint8, seq, ack uint32, payload string) {
			p := &event.Packet{Time: at, Proto: event.ProtoTCP, TCPFlags: flags, Seq: seq, Ack: ack, Window: 65535,
				Src: client.Addr(), SrcPort: client.Port(), Dst: srv.Addr(), DstPort: srv.Port(), Offset: -1, Interface: 1, Process: &proc}
			if !fromClient {
				p.Src, p.SrcPort, p.Dst, p.DstPort = srv.Addr(), srv.Port(), client.Addr(), client.Port()
			}
			if payload != "" {
				p.Payload, p.PayloadLen = []byte(payload), len(payload)
			}
			items = append(items, item{p: p})
		}
		kev(us(0), event.Kernel{Kind: event.StateChange, OldState: event.TCPClose, NewState: event.TCPSynSent, State: event.TCPSynSent})
		pkt(us(3), true, event.TCPSyn, cisn, 0, "")
		if refused {
			kev(us(4), event.Kernel{Kind: event.ResetSent, Src: srv, Dst: client, Process: event.Process{FD: -1},
				Reset: &event.Reset{Reason: "NO_SOCKET", Passive: true, Answers: event.TCPSyn}})
			kev(us(5), event.Kernel{Kind: event.PacketDrop, Process: event.Process{FD: -1},
				Drop: &event.Drop{Reason: "NO_SOCKET", Location: "tcp_v4_rcv", Incoming: true, Proto: event.ProtoTCP, TCPFlags: event.TCPSyn, Seq: cisn}})
			pkt(us(5), false, event.TCPRst|event.TCPAck, 0, cisn+1, "")
			kev(us(6), event.Kernel{Kind: event.ResetReceived, State: event.TCPSynSent})
			kev(us(6), event.Kernel{Kind: event.StateChange, OldState: event.TCPSynSent, NewState: event.TCPClose, State: event.TCPClose})
			kev(us(6), event.Kernel{Kind: event.SocketError, Errno: 111})
			kev(us(7), event.Kernel{Kind: event.ConnectCall, Ret: -111, Entered: us(-2)})
			continue
		}
		pkt(us(4), false, event.TCPSyn|event.TCPAck, sisn, cisn+1, "")
		kev(us(5), event.Kernel{Kind: event.StateChange, OldState: event.TCPSynSent, NewState: event.TCPEstablished, State: event.TCPEstablished})
		pkt(us(6), true, event.TCPAck, cisn+1, sisn+1, "")
		kev(us(7), event.Kernel{Kind: event.ChildEstablished, Cookie: 900000 + cookie, Src: srv, Dst: client, Process: event.Process{FD: -1}, State: event.TCPEstablished})
		kev(us(8), event.Kernel{Kind: event.ConnectCall, Ret: 0, Entered: us(-2)})
		kev(us(21), event.Kernel{Kind: event.Accepted, Cookie: 900000 + cookie, Src: srv, Dst: client,
			Process: event.Process{PID: 4242, TID: 4242, Comm: "connbench", FD: 11}, State: event.TCPEstablished})
		pkt(us(23), false, event.TCPPsh|event.TCPAck, sisn+1, cisn+1, "hello\r\n")
		pkt(us(27), false, event.TCPFin|event.TCPAck, sisn+8, cisn+1, "")
		pkt(us(30), true, event.TCPFin|event.TCPAck, cisn+1, sisn+9, "")
		pkt(us(33), false, event.TCPAck, sisn+9, cisn+2, "")
		kev(us(34), event.Kernel{Kind: event.StateChange, OldState: event.TCPLastAck, NewState: event.TCPClose, State: event.TCPClose})
	}
	b.ReportAllocs()
	b.ResetTimer()
	reported := 0
	for range b.N {
		e := NewEngine(Options{Live: true, Recycle: true, OnConnect: func(*Connect) { reported++ }})
		next := base.Add(100 * time.Millisecond)
		for _, it := range items {
			t := base
			if it.k != nil {
				t = it.k.Time
			} else {
				t = it.p.Time
			}
			if t.After(next) {
				e.Advance(next.Add(-200 * time.Millisecond))
				next = next.Add(100 * time.Millisecond)
			}
			if it.k != nil {
				e.Kernel(it.k)
			} else {
				e.Packet(it.p)
			}
		}
		e.Close()
	}
	b.StopTimer()
	if reported != b.N*n {
		b.Fatalf("reported %d connects, want %d", reported, b.N*n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/connect")
}
