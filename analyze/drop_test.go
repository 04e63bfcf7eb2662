package analyze

import (
	"strings"
	"testing"

	"github.com/connscope/connscope/event"
)

// Kernel drop reasons join their attempt and, for a SYN nobody answered,
// say why: the verdict names the kernel's reason, the facts carry it, the
// timeline shows each drop and the causes point at this host.
func TestKernelDrops(t *testing.T) {
	proc := event.Process{PID: 4242, TID: 4242, Comm: "mariadb", FD: 3}
	// drop reports a handshake packet dropped by the traced host: the
	// client's SYN (fromClient) or the server's SYN-ACK.
	drop := func(s *sim, ms float64, reason string, fromClient, received bool, cookie uint64) {
		k := &event.Kernel{Time: s.at(ms), Kind: event.PacketDrop, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(cli), Dst: ap(srv), Process: event.Process{FD: -1},
			Drop: &event.Drop{Reason: reason, Location: "nft_do_chain", Incoming: received, Proto: event.ProtoTCP, TCPFlags: event.TCPSyn}}
		if !fromClient {
			k.Src, k.Dst = k.Dst, k.Src
			k.Drop.TCPFlags |= event.TCPAck
		}
		if cookie != 0 {
			k.Cookie, k.Process = cookie, proc
		}
		s.kernel(k)
	}
	kev := func(s *sim, ms float64, kind event.KernelKind, f func(k *event.Kernel)) {
		k := &event.Kernel{Time: s.at(ms), Kind: kind, Process: proc, Cookie: 77, Family: event.FamilyInet, SockType: event.SockStream, Src: ap(cli), Dst: ap(srv)}
		f(k)
		s.kernel(k)
	}
	synSent := func(s *sim, ms float64) {
		kev(s, ms, event.StateChange, func(k *event.Kernel) { k.OldState, k.NewState = event.TCPClose, event.TCPSynSent })
	}
	// droppedSYNs: the wire on the server's host shows the client's SYNs,
	// each dropped by the host's kernel, until the client gives up.
	droppedSYNs := func(reason string) func(s *sim) {
		return func(s *sim) {
			k := s.conn(cli, srv)
			for _, ms := range []float64{0, 1000, 3000} {
				k.SYN(ms)
				drop(s, ms+0.02, reason, true, true, 0)
			}
			s.udp(30000, "192.0.2.99:1", "192.0.2.98:2", []byte("x")) // time passes
		}
	}
	tests := []struct {
		name     string
		opts     Options
		script   func(s *sim)
		reason   Reason
		fact     *DropFact // nil: none
		drops    int       // kernel_drop steps in the timeline
		evidence string
		cause    string // "" : none of the drop causes
	}{
		{"nft input drop on the server's host", Options{}, droppedSYNs("NETFILTER_DROP"), ReasonKernelNetfilterDrop,
			&DropFact{Reason: "NETFILTER_DROP", Packet: "SYN", Received: true, Location: "nft_do_chain", Dir: DirC2S}, 3,
			"the kernel of this host dropped the SYN it received: NETFILTER_DROP (in nft_do_chain)", "drops the SYNs it receives for 192.0.2.20:3306"},
		{"accept queue full", Options{}, droppedSYNs("TCP_LISTEN_OVERFLOW"), ReasonKernelListenOverflow,
			&DropFact{Reason: "TCP_LISTEN_OVERFLOW", Packet: "SYN", Received: true, Location: "nft_do_chain", Dir: DirC2S}, 3,
			"TCP_LISTEN_OVERFLOW", "full accept queue"},
		{"another reason", Options{}, droppedSYNs("SOCKET_FILTER"), ReasonKernelDropped,
			&DropFact{Reason: "SOCKET_FILTER", Packet: "SYN", Received: true, Location: "nft_do_chain", Dir: DirC2S}, 3,
			"SOCKET_FILTER", "reason SOCKET_FILTER"},
		{"nft output drop on the client, kernel events only", Options{NoPackets: true}, func(s *sim) {
			synSent(s, 0)
			drop(s, 0.01, "NETFILTER_DROP", true, false, 77)
			kev(s, 1000, event.Retransmit, func(k *event.Kernel) { k.State = event.TCPSynSent })
			drop(s, 1000.01, "NETFILTER_DROP", true, false, 77)
			kev(s, 130000, event.SocketError, func(k *event.Kernel) { k.Errno = errETIMEDOUT })
		}, ReasonKernelNetfilterDrop, &DropFact{Reason: "NETFILTER_DROP", Packet: "SYN", Location: "nft_do_chain", Dir: DirC2S}, 2,
			"dropped the SYN it was sending: NETFILTER_DROP", "output rule on this host (the client) drops its own SYNs"},
		{"the client's input drops the SYN-ACK", Options{NoPackets: true}, func(s *sim) {
			synSent(s, 0)
			drop(s, 0.3, "NETFILTER_DROP", false, true, 0)
			kev(s, 130000, event.SocketError, func(k *event.Kernel) { k.Errno = errETIMEDOUT })
		}, ReasonKernelNetfilterDrop, &DropFact{Reason: "NETFILTER_DROP", Packet: "SYN-ACK", Received: true, Location: "nft_do_chain", Dir: DirS2C}, 1,
			"dropped the SYN-ACK it received", "drops the SYN-ACK coming back from 192.0.2.20:3306"},
		{"a closed port: the RST decides, the kernel says NO_SOCKET", Options{}, func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			drop(s, 0.02, "NO_SOCKET", true, true, 0)
			k.refuse(0.03)
		}, ReasonRSTFromServer, &DropFact{Reason: "NO_SOCKET", Packet: "SYN", Received: true, Location: "nft_do_chain", Dir: DirC2S}, 1,
			"dropped the SYN it received: NO_SOCKET", ""},
		{"a closed port, as the kernel orders it: RST out, then the SYN freed", Options{}, func(s *sim) {
			// The tracer runs: the client's socket reached SYN_SENT.
			synSent(s, 0)
			k := s.conn(cli, srv)
			k.SYN(0.01)
			k.refuse(0.02)
			drop(s, 0.021, "NO_SOCKET", true, true, 0)
		}, ReasonRSTFromServer, &DropFact{Reason: "NO_SOCKET", Packet: "SYN", Received: true, Location: "nft_do_chain", Dir: DirC2S}, 1,
			"dropped the SYN it received: NO_SOCKET", ""},
		{"no ARP reply: the kernel says NEIGH_FAILED", Options{NoPackets: true}, func(s *sim) {
			synSent(s, 0)
			kev(s, 1000, event.Retransmit, func(k *event.Kernel) { k.State = event.TCPSynSent })
			drop(s, 2500, "NEIGH_FAILED", true, false, 77) // the neighbour entry fails
			kev(s, 2500.1, event.SocketError, func(k *event.Kernel) { k.Errno = errEHOSTUNREACH })
		}, ReasonEHOSTUNREACH, &DropFact{Reason: "NEIGH_FAILED", Packet: "SYN", Location: "nft_do_chain", Dir: DirC2S}, 1,
			"dropped the SYN it was sending: NEIGH_FAILED", ""},
		{"an ICMP error purged with its socket after it did its work", Options{}, func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			k.icmp(0.05, "192.0.2.20", false, 3, 3)
			s.kernel(&event.Kernel{Time: s.at(0.1), Kind: event.PacketDrop, Family: event.FamilyInet, SockType: event.SockStream,
				Src: ap(cli), Dst: ap(srv), Drop: &event.Drop{Reason: "QUEUE_PURGE", Location: "skb_queue_purge_reason", Incoming: true, Proto: event.ProtoICMP, ICMPType: 3, ICMPCode: 3}})
		}, ReasonICMPPortUnreachable, nil, 0, "", ""},
		{"a drop of another flow changes nothing", Options{}, func(s *sim) {
			k := s.conn(cli, srv)
			for _, ms := range []float64{0, 1000, 3000} {
				k.SYN(ms)
			}
			other := &event.Kernel{Time: s.at(1), Kind: event.PacketDrop, Family: event.FamilyInet, SockType: event.SockStream,
				Src: ap("192.0.2.10:40001"), Dst: ap(srv), Drop: &event.Drop{Reason: "NETFILTER_DROP", Incoming: true, Proto: event.ProtoTCP, TCPFlags: event.TCPSyn}}
			s.kernel(other)
			s.udp(30000, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
		}, ReasonSYNUnanswered, nil, 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.opts)
			tc.script(s)
			s.close()
			if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
				t.Fatalf("want one attempt:\n%s", dumpConnects(s.got))
			}
			a := s.got[0].Attempts[0]
			if a.Reason != tc.reason || a.Outcome != tc.reason.Outcome() {
				t.Errorf("reason %s (%s), want %s\n%s", a.Reason, a.Outcome, tc.reason, dumpConnects(s.got))
			}
			switch {
			case tc.fact == nil && a.Facts.KernelDrop != nil:
				t.Errorf("facts.kernel_drop %+v, want none", a.Facts.KernelDrop)
			case tc.fact != nil && (a.Facts.KernelDrop == nil || *a.Facts.KernelDrop != *tc.fact):
				t.Errorf("facts.kernel_drop %+v, want %+v", a.Facts.KernelDrop, tc.fact)
			}
			n := 0
			for _, ev := range a.Events {
				if ev.Kind == EvKernelDrop {
					n++
					if ev.Dir != DirLocal {
						t.Errorf("kernel_drop step with direction %q", ev.Dir)
					}
				}
			}
			if n != tc.drops {
				t.Errorf("%d kernel_drop steps, want %d\n%s", n, tc.drops, dumpConnects(s.got))
			}
			if tc.evidence != "" && !hasSubstring(a.Evidence, tc.evidence) {
				t.Errorf("evidence %q lacks %q", a.Evidence, tc.evidence)
			}
			if tc.cause != "" && !hasSubstring(a.Causes, tc.cause) {
				t.Errorf("causes %q lack %q", a.Causes, tc.cause)
			}
			if tc.cause == "" {
				for _, c := range a.Causes {
					if strings.Contains(c, "netfilter") && tc.reason != ReasonKernelNetfilterDrop && strings.Contains(c, "this host") {
						t.Errorf("a drop cause for %s: %q", tc.reason, c)
					}
				}
			}
		})
	}
}

// A drop that reaches the engine late (live: the eBPF reader lagged past
// the reorder window) still joins its attempt while the attempt's connect
// is not reported; after that it is counted as late after the report.
func TestKernelDropLate(t *testing.T) {
	lateDrop := func(s *sim, ms float64) {
		s.e.LateKernel(&event.Kernel{Time: s.at(ms), Kind: event.PacketDrop, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(cli), Dst: ap(srv), Drop: &event.Drop{Reason: "NO_SOCKET", Incoming: true, Proto: event.ProtoTCP, TCPFlags: event.TCPSyn}})
	}
	for _, reportedFirst := range []bool{false, true} {
		s := newSim(t, Options{Live: true})
		s.kernel(&event.Kernel{Time: s.at(0), Kind: event.StateChange, Cookie: 77, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(cli), Dst: ap(srv), OldState: event.TCPClose, NewState: event.TCPSynSent, Process: event.Process{PID: 4242, Comm: "mariadb"}})
		k := s.conn(cli, srv)
		k.SYN(0.01)
		k.refuse(0.02)
		if reportedFirst {
			s.e.Advance(s.at(500))
			if len(s.got) != 1 {
				t.Fatalf("the connect was not reported by +500 ms:\n%s", dumpConnects(s.got))
			}
		}
		lateDrop(s, 0.021)
		sum := s.close()
		if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
			t.Fatalf("want one attempt:\n%s", dumpConnects(s.got))
		}
		a := s.got[0].Attempts[0]
		joined := a.Facts.KernelDrop != nil && a.Facts.KernelDrop.Reason == "NO_SOCKET" && hasSubstring(a.Evidence, "NO_SOCKET")
		if joined == reportedFirst {
			t.Errorf("reported first %v: the late drop joined %v (facts %+v evidence %q)", reportedFirst, joined, a.Facts.KernelDrop, a.Evidence)
		}
		if want := uint64(0); reportedFirst && sum.LateAfterReport != 1 || !reportedFirst && sum.LateAfterReport != want {
			t.Errorf("reported first %v: late_after_report %d", reportedFirst, sum.LateAfterReport)
		}
	}
}
