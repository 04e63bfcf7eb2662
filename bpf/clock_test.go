package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

// fakeClocks is a simulated timeline: every read takes the next delay from
// delays (cycling) before it returns, like a syscall that may be preempted.
type fakeClocks struct {
	now              int64 // true time, ns
	kernelBase       int64 // kernel clock = now + kernelBase
	realBase         int64 // realtime = now + realBase
	delays           []int64
	i                int
	realStepAfter    int64 // from this true time on, realtime jumps by realStep
	realStep         int64
	taiOffsetSeconds int64
}

func (f *fakeClocks) tick() {
	f.now += f.delays[f.i%len(f.delays)]
	f.i++
}

func (f *fakeClocks) kernel() int64 { f.tick(); return f.now + f.kernelBase }

func (f *fakeClocks) real() int64 {
	f.tick()
	r := f.now + f.realBase
	if f.realStepAfter != 0 && f.now >= f.realStepAfter {
		r += f.realStep
	}
	return r
}

// The offset error is within the bound, and the bound is half the
// narrowest bracket: a preempted read widens its bracket, so it loses.
func TestBracketOffset(t *testing.T) {
	cases := []struct {
		name      string
		delays    []int64
		wantBound int64 // half the narrowest kernel-real-kernel bracket (+1 ns rounding)
	}{
		{"steady 100ns reads", []int64{100}, 100 + 1},
		{"asymmetric reads", []int64{30, 170}, 100 + 1},
		{"one tight sample among preempted ones", []int64{5000, 9000, 7000, 40, 60, 80000}, 0},
		{"all preempted", []int64{2_000_000, 3_000_000, 1_500_000}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeClocks{now: 1e12, kernelBase: -7e11, realBase: 1.7e18, delays: tc.delays}
			trueOffset := f.realBase - f.kernelBase
			off, bound, at := bracketOffset(f.kernel, f.real, bracketSamples)
			if err := off - trueOffset; err > bound || -err > bound {
				t.Errorf("offset error %d ns exceeds the bound %d ns", err, bound)
			}
			if tc.wantBound != 0 && bound != tc.wantBound {
				t.Errorf("bound %d ns, want %d", bound, tc.wantBound)
			}
			if at <= 0 {
				t.Errorf("measurement time %d", at)
			}
		})
	}
}

// A step of the wall clock (NTP) is followed once a second of kernel time
// has passed; before that, conversions use the old offset.
func TestWallClockFollowsSteps(t *testing.T) {
	f := &fakeClocks{now: 1e12, realBase: 1.7e18, delays: []int64{50}}
	c := &wallClock{kind: clockMonotonic, readKernel: f.kernel, readReal: f.real}
	c.measure()
	f.realStepAfter, f.realStep = f.now+1, 5*int64(time.Second)

	soon := uint64(f.now + int64(100*time.Millisecond))
	if got, want := c.toWall(soon).UnixNano(), int64(soon)+f.realBase; abs(got-want) > c.bound.Load() {
		t.Errorf("before re-measuring: %d, want %d (old offset)", got, want)
	}
	f.now += 2 * int64(time.Second)
	later := uint64(f.now)
	if got, want := c.toWall(later).UnixNano(), int64(later)+f.realBase+f.realStep; abs(got-want) > c.bound.Load() {
		t.Errorf("after re-measuring: %d, want %d (stepped offset)", got, want)
	}
}

func TestWallClockTAI(t *testing.T) {
	f := &fakeClocks{now: 1e12, delays: []int64{50}}
	c := &wallClock{kind: clockTAI, readKernel: f.kernel, readReal: f.real,
		taiOffset: func() (int64, error) { return 37, nil }}
	c.measure()
	tai := uint64(1.7e18)
	if got, want := c.toWall(tai), time.Unix(0, int64(tai)-37e9); !got.Equal(want) || c.bound.Load() != 0 {
		t.Errorf("TAI %d -> %v (bound %d), want %v exactly", tai, got, c.bound.Load(), want)
	}
	// adjtimex failing falls back to estimating
	c.taiOffset = func() (int64, error) { return 0, errors.New("no adjtimex") }
	c.measure()
	if c.bound.Load() == 0 {
		t.Error("estimated offset claims to be exact")
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// On this machine's clocks, a kernel reading converts to a wall time within
// the wall-clock readings taken around it, give or take the bound.
func TestWallClockSystem(t *testing.T) {
	for _, kind := range []kernelClock{clockMonotonic, clockTAI} {
		t.Run(kind.String(), func(t *testing.T) {
			c := newWallClock(kind)
			bound := c.bound.Load()
			for i := 0; i < 1000; i++ {
				before := time.Now().UnixNano()
				k := c.readKernel()
				after := time.Now().UnixNano()
				w := c.toWall(uint64(k)).UnixNano()
				if w < before-bound || w > after+bound {
					t.Fatalf("kernel %d -> %d, outside [%d, %d] ± %d", k, w, before, after, bound)
				}
			}
			t.Logf("%s: offset bound %v", kind, time.Duration(bound))
		})
	}
}

// packetSocket captures on ifname in ns with kernel (wall clock) timestamps.
type packetSocket struct{ fd int }

func openPacketSocket(ns netns, ifname string) (*packetSocket, error) {
	var p packetSocket
	err := ns.do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		p.fd = fd
		return nil
	})
	return &p, err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// tcpFrame is what the ordering test needs from a captured IPv4 TCP frame.
type tcpFrame struct {
	at       time.Time
	src, dst netip.AddrPort
	flags    uint8
	outgoing bool
}

// next returns the next IPv4 TCP frame, or an error after the timeout.
func (p *packetSocket) next() (tcpFrame, error) {
	buf := make([]byte, 2048)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := unix.Recvmsg(p.fd, buf, oob, 0)
		if err != nil {
			return tcpFrame{}, err
		}
		frame := buf[:n]
		if n < 14+20+20 || binary.BigEndian.Uint16(frame[12:]) != unix.ETH_P_IP || frame[14+9] != unix.IPPROTO_TCP {
			continue
		}
		var f tcpFrame
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return f, err
		}
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
				f.at = time.Unix(int64(binary.LittleEndian.Uint64(m.Data)), int64(binary.LittleEndian.Uint64(m.Data[8:])))
			}
		}
		if f.at.IsZero() {
			return f, errors.New("captured frame without SCM_TIMESTAMPNS")
		}
		ip := frame[14:]
		tcp := ip[int(ip[0]&0x0f)*4:]
		f.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(tcp))
		f.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(tcp[2:]))
		f.flags = tcp[13]
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			f.outgoing = ll.Pkttype == unix.PACKET_OUTGOING
		}
		return f, nil
	}
}

func (p *packetSocket) close() { unix.Close(p.fd) }

// warmTimestamps waits until the packet socket's frames carry the time they
// passed the device rather than the time they were read.
func warmTimestamps(t *testing.T, l *lab, ps *packetSocket) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := connectTCP(l.client, netip.AddrPortFrom(netip.MustParseAddr(serverV4), portClosed), false, time.Second); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		time.Sleep(20 * time.Millisecond)
		frames, late := 0, 0
		for {
			f, err := ps.next()
			if err != nil {
				break
			}
			frames++
			if !f.at.Before(after) {
				late++
			}
		}
		if frames > 0 && late == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("packet timestamps: after 10 s still %d of %d frames stamped when read, not when they passed the device", late, frames)
		}
	}
}

// The tracer's event times and AF_PACKET's packet times are on one clock:
// for a connect to a listening port, connect() is entered, the socket goes
// SYN_SENT, the SYN leaves, the SYN-ACK arrives, the socket is ESTABLISHED
// - in that order, for either kernel clock. Likewise for a refused connect:
// the RST arrives before the socket sees it.
func TestEventsOrderWithPackets(t *testing.T) {
	l := newLab(t)
	serveTCP(t, l.server, portListening)
	pid := uint32(os.Getpid())
	ps, err := openPacketSocket(l.client, "csbpf0")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.close()
	// SO_TIMESTAMPNS turns packet timestamping on through a deferred static
	// key (a work item, late on a loaded machine); until it flips, frames
	// are stamped when read. Exchange packets until every frame of an
	// exchange is stamped before a moment taken after the exchange and well
	// before the frames are read, then drop what was captured.
	warmTimestamps(t, l, ps)
	for _, kind := range []kernelClock{clockTAI, clockMonotonic} {
		t.Run(kind.String(), func(t *testing.T) {
			tr, col := openTracer(t, Options{PIDs: []uint32{pid}, clock: kind})
			name, bound := tr.Clock()
			if name != kind.String() {
				t.Skipf("kernel stamps with %s here, not %s", name, kind)
			}

			for _, port := range []uint16{portListening, portClosed} {
				dst := netip.AddrPortFrom(netip.MustParseAddr(serverV4), port)
				c, err := connectTCP(l.client, dst, true, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				answer := func(ev event.Kernel) bool {
					if port == portListening {
						return ev.Kind == event.StateChange && ev.NewState == event.TCPEstablished
					}
					return ev.Kind == event.ResetReceived
				}
				// Wait for each event the steps use: the RST may close the
				// socket before connect() returns.
				evs, ok := waitSocket(col, pid, c, 3*time.Second, func(evs []event.Kernel) bool {
					return hasConnectCall(evs) && slices.ContainsFunc(evs, answer) &&
						slices.ContainsFunc(evs, func(e event.Kernel) bool { return describe(e) == bindSeen })
				})
				if !ok {
					t.Fatalf("port %d: want the connect call, the SYN_SENT binding and the answer; have:\n%s", port, render(evs))
				}
				var synSent, answered, call event.Kernel
				for _, ev := range evs {
					switch {
					case ev.Kind == event.ConnectCall:
						call = ev
					case ev.Kind == event.StateChange && ev.NewState == event.TCPSynSent:
						synSent = ev
					case answer(ev):
						answered = ev
					}
				}
				src := call.Src
				var syn, reply tcpFrame
				for syn.at.IsZero() || reply.at.IsZero() {
					f, err := ps.next()
					if err != nil {
						t.Fatalf("port %d: capturing the SYN and its answer from %v: %v", port, src, err)
					}
					switch {
					case f.src == src && f.dst == dst && f.flags&0x12 == 0x02:
						syn = f
					case f.src == dst && f.dst == src && (f.flags&0x12 == 0x12 || f.flags&0x04 != 0):
						reply = f
					}
				}
				steps := []struct {
					what string
					at   time.Time
				}{
					{"connect() entered (event)", call.Entered},
					{"SYN_SENT (event)", synSent.Time},
					{"SYN leaves (packet)", syn.at},
					{"answer arrives (packet)", reply.at},
					{describe(answered) + " (event)", answered.Time},
				}
				for i := 1; i < len(steps); i++ {
					a, b := steps[i-1], steps[i]
					if b.at.Before(a.at.Add(-bound)) {
						t.Errorf("port %d: %s at %s comes before %s at %s (bound %v)", port, b.what,
							b.at.Format(time.StampNano), a.what, a.at.Format(time.StampNano), bound)
					}
				}
				var trace string
				for _, s := range steps {
					trace += fmt.Sprintf("\n  %s %s", s.at.Format("15:04:05.000000000"), s.what)
				}
				t.Logf("port %d, %s (offset bound %v):%s", port, name, bound, trace)
			}
		})
	}
}
