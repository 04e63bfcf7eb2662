package analyze

import (
	"fmt"
	"strings"
	"testing"

	"github.com/connscope/connscope/event"
)

// TestPortlessSocketLateAfterReport: live, a socket's SYN_SENT comes with
// port 0 (Linux picks the port after it) and its later events, which name
// the port and the connect's ISN, arrive after the reorder window, when its
// connect was already reported from its packets (a stalled tracer). The
// late events must retire the port-0 attempt of the same socket: the
// connect is reported once, not a second time as an incomplete attempt
// with port 0. Several connects to one server within the SYN window keep
// the pairing by time from doing it instead.
func TestPortlessSocketLateAfterReport(t *testing.T) {
	const server = "192.0.2.20:5000"
	s := newSim(t, Options{Live: true})
	type sock struct {
		client string
		isn    uint32
		at     float64
	}
	socks := []sock{{"192.0.2.10:40001", 0x1111, 0}, {"192.0.2.10:40002", 0x2222, 0.5}, {"192.0.2.10:40003", 0x3333, 1}}
	kev := func(i int, ms float64, kind event.KernelKind, withPort bool, f func(k *event.Kernel)) *event.Kernel {
		so := socks[i]
		k := &event.Kernel{Time: s.at(ms), Kind: kind, Process: event.Process{PID: 700, TID: 700, Comm: "loop", FD: int32(10 + i)},
			Cookie: uint64(900 + i), Family: event.FamilyInet, SockType: event.SockStream, Src: ap(so.client), Dst: ap(server), ISN: so.isn}
		if !withPort {
			k.Src, k.ISN = ap("192.0.2.10:0"), 0
		}
		f(k)
		return k
	}
	// In order: each socket's SYN_SENT (port 0), its SYN and the RST.
	for i, so := range socks {
		s.kernel(kev(i, so.at, event.StateChange, false, func(k *event.Kernel) {
			k.OldState, k.NewState, k.State = event.TCPClose, event.TCPSynSent, event.TCPSynSent
		}))
		c := s.conn(so.client, server)
		c.cisn, c.cseq = so.isn, so.isn+1
		c.SYN(so.at + 0.01)
		c.refuse(so.at + 0.05)
	}
	s.e.Advance(s.at(200)) // past the kernel linger: reported from the packets
	reported := len(s.got)
	// The sockets' later events, late.
	for i, so := range socks {
		for _, k := range []*event.Kernel{
			kev(i, so.at+0.051, event.ResetReceived, true, func(k *event.Kernel) { k.State = event.TCPSynSent }),
			kev(i, so.at+0.052, event.StateChange, true, func(k *event.Kernel) {
				k.OldState, k.NewState, k.State = event.TCPSynSent, event.TCPClose, event.TCPClose
			}),
			kev(i, so.at+0.053, event.ConnectCall, true, func(k *event.Kernel) { k.Ret = -errECONNREFUSED }),
		} {
			s.e.LateKernel(k)
		}
	}
	s.e.Advance(s.at(5000))
	sum := s.close()
	if reported != len(socks) {
		t.Logf("%d connects reported before the late events (want %d)", reported, len(socks))
	}
	var attempts []string
	for _, c := range s.got {
		for _, a := range c.Attempts {
			attempts = append(attempts, fmt.Sprintf("%s %s", a.Client, a.Outcome))
			if strings.HasSuffix(a.Client, ":0") {
				t.Errorf("a port-0 attempt %s (%s): the socket's connect was already reported from its packets", a.Outcome, a.Reason)
			}
		}
	}
	if len(attempts) != len(socks) {
		t.Errorf("%d attempts reported, want %d (one per connect): %v", len(attempts), len(socks), attempts)
	}
	if sum.IncompleteLoss != 0 {
		t.Errorf("%d attempts incomplete for lost evidence, want 0: nothing was lost, only late", sum.IncompleteLoss)
	}
}
