package analyze

import (
	"testing"

	"github.com/connscope/connscope/event"
)

// A SYN answered by ICMP port unreachable, as Linux reports it on one socket.
// 6.18 reports the socket error twice, before and after SYN_SENT>CLOSE;
// other kernels once, after the CLOSE; a blocking connect() may return
// (woken by the CLOSE) before the last report. Each order is one attempt
// with one outcome, and the timeline shows the socket error once.
func TestKernelSocketErrorOrders(t *testing.T) {
	proc := event.Process{PID: 4242, TID: 4243, Comm: "mariadb", FD: 3}
	const (
		bind    = "bind"    // CLOSE>SYN_SENT (its port filled in by live's portCompleter)
		retrans = "retrans" // the SYN retransmit after the soft error
		sockErr = "sockerr" // sock_error ECONNREFUSED
		closed  = "close"   // SYN_SENT>CLOSE
		refused = "connect" // connect() = -ECONNREFUSED (blocking)
		pending = "pending" // connect() = -EINPROGRESS (non-blocking)
	)
	orders := []struct {
		name string
		seq  []string
	}{
		{"6.18 blocking: error before and after CLOSE, connect returns last", []string{bind, retrans, sockErr, closed, sockErr, refused}},
		{"6.18 blocking: connect returns before the second report", []string{bind, retrans, sockErr, closed, refused, sockErr}},
		{"6.18 non-blocking", []string{bind, pending, retrans, sockErr, closed, sockErr}},
		{"error only after CLOSE", []string{bind, retrans, closed, sockErr, refused}},
		{"error only after CLOSE, connect first", []string{bind, retrans, closed, refused, sockErr}},
		{"first ICMP aborts at once, error twice", []string{bind, pending, sockErr, closed, sockErr}},
	}
	for _, packets := range []bool{false, true} {
		for _, o := range orders {
			name := o.name + "/kernel only"
			if packets {
				name = o.name + "/with packets"
			}
			t.Run(name, func(t *testing.T) {
				s := newSim(t, Options{NoPackets: !packets})
				c := s.conn(cli, srv)
				retransmits := 0
				for _, step := range o.seq {
					if step == retrans {
						retransmits++
					}
				}
				// The wire: the SYN, an ICMP port unreachable for each SYN.
				var wire []func()
				if packets {
					wire = append(wire, func() { c.SYN(0.01) }, func() { c.icmp(0.05, "192.0.2.20", false, 3, 3) })
					if retransmits > 0 {
						wire = append(wire, func() { c.SYN(1000.01) }, func() { c.icmp(1000.05, "192.0.2.20", false, 3, 3) })
					}
				}
				ms := 0.0
				kev := func(kind event.KernelKind, f func(k *event.Kernel)) {
					k := &event.Kernel{Time: s.at(ms), Kind: kind, Process: proc, Cookie: 77,
						Family: event.FamilyInet, SockType: event.SockStream, Src: ap(cli), Dst: ap(srv)}
					f(k)
					s.kernel(k)
				}
				for _, step := range o.seq {
					switch step {
					case bind:
						kev(event.StateChange, func(k *event.Kernel) {
							k.OldState, k.NewState = event.TCPClose, event.TCPSynSent
						})
						if packets {
							wire[0]()
							wire[1]()
						}
						ms = 0.1
					case pending:
						kev(event.ConnectCall, func(k *event.Kernel) { k.Ret = -errEINPROGRESS })
					case retrans:
						ms = 1000
						kev(event.Retransmit, func(k *event.Kernel) { k.State = event.TCPSynSent })
						if packets {
							wire[2]()
							wire[3]()
						}
						ms = 1000.06
					case sockErr:
						kev(event.SocketError, func(k *event.Kernel) { k.Errno = errECONNREFUSED })
					case closed:
						kev(event.StateChange, func(k *event.Kernel) {
							k.OldState, k.NewState = event.TCPSynSent, event.TCPClose
						})
					case refused:
						kev(event.ConnectCall, func(k *event.Kernel) { k.Ret = -errECONNREFUSED })
					}
					ms += 0.001
				}
				s.close()
				if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
					t.Fatalf("%d connects, outcomes %v; want one connect with one attempt\n%s", len(s.got), attemptOutcomes(s.got), dumpConnects(s.got))
				}
				a := s.got[0].Attempts[0]
				want := Refused // from the errno alone
				if packets {
					want = Unreachable // the ICMP error on the wire says more
				}
				if a.Outcome != want || a.Errno != "ECONNREFUSED" || a.PID != 4242 || a.SYNCount != 1+retransmits {
					t.Errorf("outcome %s errno %q pid %d SYNs %d; want %s ECONNREFUSED 4242 %d", a.Outcome, a.Errno, a.PID, a.SYNCount, want, 1+retransmits)
				}
				n := 0
				for _, ev := range a.Events {
					if ev.Kind == EvKernelError {
						n++
					}
				}
				if n != 1 {
					t.Errorf("timeline shows %d socket errors, want 1", n)
				}
				if t.Failed() {
					t.Log(dumpConnects(s.got))
				}
			})
		}
	}
}
