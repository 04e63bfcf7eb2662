package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

// synSniffer captures the SYNs leaving one interface of a namespace (an
// AF_PACKET socket, as the live capture uses): the ISN each source port
// put on the wire.
type synSniffer struct{ fd int }

func sniffSYNs(t *testing.T, ns netns, dev string) *synSniffer {
	t.Helper()
	s := &synSniffer{fd: -1}
	err := ns.do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		s.fd = fd
		return nil
	})
	if err != nil {
		t.Fatalf("packet socket on %s in %s: %v", dev, ns, err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// syns reads what was captured so far and returns the client SYNs (SYN
// without ACK) by source port, in order.
func (s *synSniffer) syns() (map[uint16][]uint32, error) {
	out := map[uint16][]uint32{}
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		p := buf[:n]
		var l4 []byte
		switch {
		case n >= 20 && p[0]>>4 == 4 && p[9] == unix.IPPROTO_TCP:
			l4 = p[int(p[0]&0xf)*4:]
		case n >= 40 && p[0]>>4 == 6 && p[6] == unix.IPPROTO_TCP:
			l4 = p[40:]
		default:
			continue
		}
		if len(l4) < 14 || l4[13]&(event.TCPSyn|event.TCPAck) != event.TCPSyn {
			continue
		}
		sport := binary.BigEndian.Uint16(l4[0:2])
		out[sport] = append(out[sport], binary.BigEndian.Uint32(l4[4:8]))
	}
}

// TestISNIsTheSYNsSeq: the kernel events of a TCP connect carry the ISN of
// the socket's connect, which is the Seq of the SYN on the wire. The
// analysis pairs a socket with its packets by it (connects reusing one
// 5-tuple within moments of each other cannot be told apart by time). The
// CLOSE→SYN_SENT change comes before the kernel chooses the ISN and must
// carry none; every later event of the connect phase must carry it. A
// socket connected a second time (after a refused connect) carries the
// second connect's ISN, never the first's.
func TestISNIsTheSYNsSeq(t *testing.T) {
	l := newLab(t)
	serveTCP(t, l.server, portListening)
	pid := uint32(os.Getpid())
	_, col := openTracer(t, Options{PIDs: []uint32{pid}})
	sniff := sniffSYNs(t, l.client, "csbpf0")

	v4 := netip.MustParseAddr(serverV4)
	v6 := netip.MustParseAddr(serverV6)
	cases := []struct {
		name        string
		dst         netip.AddrPort
		nonblocking bool
		wait        time.Duration
		twice       bool // connect the same socket again after the first connect failed
		// kinds that must carry the ISN (describe's words)
		want []string
	}{
		{name: "refused/blocking/v4", dst: netip.AddrPortFrom(v4, portClosed), wait: 5 * time.Second,
			want: []string{"connect -ECONNREFUSED", "reset SYN_SENT", closeSeen, refusedSeen}},
		{name: "refused/nonblocking/v6", dst: netip.AddrPortFrom(v6, portClosed), nonblocking: true, wait: 5 * time.Second,
			want: []string{"connect -EINPROGRESS", "reset SYN_SENT", closeSeen, refusedSeen}},
		{name: "accepted/blocking/v4", dst: netip.AddrPortFrom(v4, portListening), wait: 5 * time.Second,
			want: []string{"connect 0", "state SYN_SENT>ESTABLISHED"}},
		{name: "accepted/nonblocking/v6", dst: netip.AddrPortFrom(v6, portListening), nonblocking: true, wait: 5 * time.Second,
			want: []string{"connect -EINPROGRESS", "state SYN_SENT>ESTABLISHED"}},
		{name: "dropped/nonblocking/v4", dst: netip.AddrPortFrom(v4, portDropped), nonblocking: true, wait: 2500 * time.Millisecond,
			want: []string{"connect -EINPROGRESS", retransmitSeen, closeSeen}},
		{name: "refused-twice/blocking/v4", dst: netip.AddrPortFrom(v4, portClosed), wait: 5 * time.Second, twice: true,
			want: []string{"connect -ECONNREFUSED", "reset SYN_SENT", closeSeen, refusedSeen}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := connectTCPTimes(l.client, tc.dst, tc.nonblocking, tc.wait, tc.twice)
			if err != nil {
				t.Fatal(err)
			}
			connects := 1
			if tc.twice {
				connects = 2
			}
			// The socket's events (one cookie, both connects when twice),
			// once every kind wanted came for each connect.
			evs, ok := waitSocket(col, pid, c, 3*time.Second, func(evs []event.Kernel) bool {
				n := kindCounts(evs)
				for _, kind := range tc.want {
					if n[kind] < connects {
						return false
					}
				}
				return true
			})
			defer func() {
				if t.Failed() {
					t.Logf("events of the socket:\n%s", renderISN(evs))
				}
			}()
			if !ok {
				t.Fatalf("incomplete events within 3 s: want %v (x%d)", tc.want, connects)
			}
			syns, err := sniff.syns()
			if err != nil {
				t.Fatalf("reading the captured SYNs: %v", err)
			}
			// Split the events into connects at each CLOSE→SYN_SENT.
			var per [][]event.Kernel
			for _, ev := range evs {
				if ev.Kind == event.StateChange && ev.NewState == event.TCPSynSent {
					per = append(per, nil)
				}
				if len(per) > 0 {
					per[len(per)-1] = append(per[len(per)-1], ev)
				}
			}
			if len(per) != connects {
				t.Fatalf("%d CLOSE>SYN_SENT changes, want %d", len(per), connects)
			}
			var isns []uint32
			used := map[uint16]int{}
			for i, evs := range per {
				var port uint16
				for _, ev := range evs {
					if ev.Src.Port() != 0 {
						port = ev.Src.Port()
					}
				}
				wire := syns[port]
				if len(wire) == 0 {
					t.Fatalf("connect %d: no SYN from port %d captured (captured: %v)", i+1, port, syns)
				}
				// A refused connect reuses its port at once (no TIME_WAIT):
				// both connects of a socket may have used it. SYN
				// retransmits repeat their connect's Seq.
				isn := wire[0]
				if tc.twice {
					// no retransmits: one SYN per connect, in order
					if used[port] >= len(wire) {
						t.Fatalf("connect %d: SYNs from port %d: %v, want one per connect", i+1, port, wire)
					}
					isn = wire[used[port]]
					used[port]++
				} else {
					for _, seq := range wire[1:] {
						if seq != isn {
							t.Fatalf("connect %d: SYNs from port %d have Seqs %v; one connect, want one ISN", i+1, port, wire)
						}
					}
				}
				isns = append(isns, isn)
				have := map[string]bool{}
				for _, ev := range evs {
					d := describe(ev)
					if ev.Kind == event.StateChange && ev.NewState == event.TCPSynSent {
						if ev.ISN != 0 {
							t.Errorf("connect %d: %s carries ISN %d: the kernel chooses it later", i+1, d, ev.ISN)
						}
						continue
					}
					if ev.ISN != isn {
						t.Errorf("connect %d: %s carries ISN %d, its SYN's Seq is %d", i+1, d, ev.ISN, isn)
					}
					have[d] = true
				}
				for _, kind := range tc.want {
					if !have[kind] {
						t.Errorf("connect %d: no %s event", i+1, kind)
					}
				}
			}
			if tc.twice && isns[0] == isns[1] {
				t.Errorf("both connects of the socket sent ISN %d: the test shows nothing", isns[0])
			}
		})
	}
}

func renderISN(evs []event.Kernel) string {
	s := ""
	for _, ev := range evs {
		s += fmt.Sprintf("  %s %-28s src %v isn %d\n", ev.Time.Format("15:04:05.000000"), describe(ev), ev.Src, ev.ISN)
	}
	return s
}

// connectTCPTimes is connectTCP, connecting the same socket again once
// the first connect failed (twice).
func connectTCPTimes(ns netns, dst netip.AddrPort, nonblocking bool, wait time.Duration, twice bool) (tcpClient, error) {
	if !twice {
		return connectTCP(ns, dst, nonblocking, wait)
	}
	var c tcpClient
	err := ns.do(func() error {
		if err := c.identify(); err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		c.fd = fd
		sa := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
		for i := 0; i < 2; i++ {
			err = unix.Connect(fd, sa)
			if !errors.Is(err, unix.ECONNREFUSED) {
				return fmt.Errorf("connect %d of the socket: %v, want ECONNREFUSED (lab broken?)", i+1, err)
			}
		}
		c.connectErr = unix.ECONNREFUSED
		return nil
	})
	return c, err
}
