package live

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/event"
)

// The shapes the live sources produce for a loopback connect() made by Go's
// net.Dial (non-blocking), as `trace` records them: half to a server that
// greets ("hello") and closes, half to a closed port.
const (
	lossOKServer       = "127.0.0.1:14306"
	lossRefusedServer  = "127.0.0.1:14307"
	lossErrConnRefused = 111
)

type lossEvent struct {
	conn int // index of the connect it belongs to
	it   event.Item
}

// lossWorkload returns n connects, every gap apart, as the kernel events and
// the packets of each (each list in time order), and each connect's client.
func lossWorkload(n int, gap time.Duration) (kernel, packets []lossEvent, clients []netip.AddrPort) {
	base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	lo := netip.MustParseAddr("127.0.0.1")
	for i := range n {
		t := base.Add(time.Duration(i) * gap)
		us := func(d int) time.Time { return t.Add(time.Duration(d) * time.Microsecond) }
		// Ports 20000-59999, reused after 40,000 connects (4 s at 10,000/s).
		client := netip.AddrPortFrom(lo, uint16(20000+i%40000))
		clients = append(clients, client)
		srv := netip.MustParseAddrPort(lossOKServer)
		refused := i%2 == 1
		if refused {
			srv = netip.MustParseAddrPort(lossRefusedServer)
		}
		cookie := uint64(1000 + i)
		proc := event.Process{PID: uint32(5000 + i), TID: uint32(5000 + i), Comm: "loadgen", FD: 3}
		kev := func(at time.Time, k event.Kernel) {
			k.Time, k.Cookie, k.Process, k.Family, k.SockType, k.Dst = at, cookie, proc, event.FamilyInet, event.SockStream, srv
			if k.Src == (netip.AddrPort{}) {
				k.Src = client
			}
			kernel = append(kernel, lossEvent{i, event.Item{Time: at, Kernel: &k}})
		}
		state := func(at time.Time, from, to uint8) {
			kev(at, event.Kernel{Kind: event.StateChange, OldState: from, NewState: to, State: to})
		}
		pkt := func(at time.Time, fromClient bool, flags uint8, seq, ack uint32, payload string) {
			p := &event.Packet{Time: at, Proto: event.ProtoTCP, TCPFlags: flags, Seq: seq, Ack: ack, Window: 65535,
				Src: client.Addr(), SrcPort: client.Port(), Dst: srv.Addr(), DstPort: srv.Port(), Offset: -1, Interface: 1}
			if !fromClient {
				p.Src, p.SrcPort, p.Dst, p.DstPort = srv.Addr(), srv.Port(), client.Addr(), client.Port()
			}
			if payload != "" {
				p.Payload, p.PayloadLen = []byte(payload), len(payload)
			}
			packets = append(packets, lossEvent{i, event.Item{Time: at, Packet: p}})
		}
		cisn, sisn := uint32(1000*i+1), uint32(7000*i+1)
		// SYN_SENT comes before the local port is chosen: port 0.
		kev(us(0), event.Kernel{Kind: event.StateChange, OldState: event.TCPClose, NewState: event.TCPSynSent, State: event.TCPSynSent,
			Src: netip.AddrPortFrom(lo, 0)})
		pkt(us(8), true, event.TCPSyn, cisn, 0, "")
		if refused {
			pkt(us(12), false, event.TCPRst|event.TCPAck, 0, cisn+1, "")
			kev(us(13), event.Kernel{Kind: event.ResetReceived, State: event.TCPSynSent})
			state(us(14), event.TCPSynSent, event.TCPClose)
			kev(us(15), event.Kernel{Kind: event.SocketError, Errno: lossErrConnRefused})
			kev(us(20), event.Kernel{Kind: event.ConnectCall, Ret: -115, Entered: us(-2)})
			continue
		}
		pkt(us(12), false, event.TCPSyn|event.TCPAck, sisn, cisn+1, "")
		state(us(14), event.TCPSynSent, event.TCPEstablished)
		pkt(us(16), true, event.TCPAck, cisn+1, sisn+1, "")
		kev(us(20), event.Kernel{Kind: event.ConnectCall, Ret: -115, Entered: us(-2)})
		pkt(us(900), false, event.TCPPsh|event.TCPAck, sisn+1, cisn+1, "hello\r\n")
		pkt(us(910), false, event.TCPFin|event.TCPAck, sisn+8, cisn+1, "")
		state(us(915), event.TCPEstablished, event.TCPCloseWait)
		pkt(us(950), true, event.TCPFin|event.TCPAck, cisn+1, sisn+9, "")
		state(us(955), event.TCPCloseWait, event.TCPLastAck)
		pkt(us(980), false, event.TCPAck, sisn+9, cisn+2, "")
		state(us(985), event.TCPLastAck, event.TCPClose)
	}
	return kernel, packets, clients
}

// lossPattern says what happens to each event on its way to the pipeline:
// dropped (never arrives, counted by its source), or delivered after lag.
type lossPattern struct {
	name        string
	kernelDrop  float64 // share of kernel events lost (eBPF ring buffer full)
	packetDrop  float64 // share of packets dropped by the kernel
	lateFrom    float64 // [lateFrom, lateTo) of the run: one source falls far behind
	lateTo      float64
	lateKernel  bool          // the kernel source falls behind (else the packets)
	lateBy      time.Duration // how far behind
	dropBetween [2]float64    // if set, drops only hit this part of the run
}

func TestLossNeverInventsAnOutcome(t *testing.T) {
	const n = 3000
	const gap = 700 * time.Microsecond // ≈1,400 connects/s: 2.1 s of events
	patterns := []lossPattern{
		{name: "no loss"},
		{name: "kernel events lost", kernelDrop: 0.3},
		{name: "packets dropped", packetDrop: 0.3},
		{name: "kernel events and packets lost", kernelDrop: 0.2, packetDrop: 0.2},
		{name: "packets later than the largest window", lateFrom: 0.3, lateTo: 0.6, lateBy: 1500 * time.Millisecond},
		{name: "kernel events later than the largest window", lateFrom: 0.3, lateTo: 0.6, lateKernel: true, lateBy: 1500 * time.Millisecond},
		{name: "packets lagging inside the grown window", lateFrom: 0.2, lateTo: 0.8, lateBy: 600 * time.Millisecond},
		{name: "a burst of loss and lateness", kernelDrop: 0.5, packetDrop: 0.5, dropBetween: [2]float64{0.4, 0.5},
			lateFrom: 0.45, lateTo: 0.7, lateBy: 1200 * time.Millisecond},
	}
	for seed := uint64(1); seed <= 3; seed++ {
		for _, pat := range patterns {
			t.Run(fmt.Sprintf("%s/seed%d", pat.name, seed), func(t *testing.T) {
				runLossPattern(t, pat, seed, n, gap)
			})
		}
	}
}

// testSession is a pipeline without sources, fed by the test as Run
// would be: the 200 ms reorder window growing to 1 s, the clock and the
// sources' loss counters as the test tells them.
func testSession(clock func() time.Time, lossCounters func() (uint64, uint64)) *Session {
	return &Session{
		opts:         Options{ReorderWindow: 200 * time.Millisecond, MaxReorderWindow: time.Second},
		merger:       &event.Merger{Window: 200 * time.Millisecond, MaxWindow: time.Second},
		procs:        newProcessTable(),
		ports:        newPortCompleter(),
		clock:        clock,
		lossCounters: lossCounters,
	}
}

// runLossPattern feeds the workload through the live pipeline (port
// completer, reorder merger, engine, ticks as Run does them) with the loss
// of pat, and checks that loss never invents an outcome.
func runLossPattern(t *testing.T, pat lossPattern, seed uint64, n int, gap time.Duration) {
	kernel, packets, clients := lossWorkload(n, gap)
	rng := rand.New(rand.NewPCG(seed, 0x10557))
	span := time.Duration(n) * gap
	start := kernel[0].it.Time

	type arrival struct {
		at time.Time // wall time it reaches the pipeline
		lossEvent
		lostKernel, lostPacket bool // not delivered: only its source's counter grows
	}
	// onTime[i]: connect i had its first event (SYN_SENT or SYN) delivered
	// within the reorder window.
	onTime := make([]bool, n)
	var arrivals []arrival
	part := func(at time.Time) float64 { return float64(at.Sub(start)) / float64(span) }
	for src, list := range [][]lossEvent{kernel, packets} {
		isKernel := src == 0
		drop := pat.packetDrop
		if isKernel {
			drop = pat.kernelDrop
		}
		for _, ev := range list {
			a := arrival{at: ev.it.Time.Add(50 * time.Microsecond), lossEvent: ev}
			f := part(ev.it.Time)
			inDrop := pat.dropBetween == [2]float64{} || (f >= pat.dropBetween[0] && f < pat.dropBetween[1])
			if drop > 0 && inDrop && rng.Float64() < drop {
				a.lostKernel, a.lostPacket = isKernel, !isKernel
			} else if pat.lateBy > 0 && isKernel == pat.lateKernel && f >= pat.lateFrom && f < pat.lateTo {
				a.at = ev.it.Time.Add(pat.lateBy)
			}
			first := (isKernel && ev.it.Kernel.Kind == event.StateChange && ev.it.Kernel.NewState == event.TCPSynSent) ||
				(!isKernel && ev.it.Packet.TCPFlags == event.TCPSyn)
			if first && !a.lostKernel && !a.lostPacket && a.at.Sub(ev.it.Time) < 150*time.Millisecond {
				onTime[ev.conn] = true
			}
			arrivals = append(arrivals, a)
		}
	}
	slices.SortStableFunc(arrivals, func(x, y arrival) int { return x.at.Compare(y.at) })

	var reported []*analyze.Connect
	now := start
	var lost, drops uint64
	s := testSession(func() time.Time { return now }, func() (uint64, uint64) { return lost, drops })
	s.opts.OnConnect = func(c *analyze.Connect) { reported = append(reported, c) }
	s.startEngine(false)

	nextTick := start.Add(activeTick)
	for _, a := range arrivals {
		for !nextTick.After(a.at) {
			now = nextTick
			s.noteLoss()
			s.tick(now)
			nextTick = nextTick.Add(activeTick)
		}
		now = a.at
		switch {
		case a.lostKernel:
			lost++
		case a.lostPacket:
			drops++
		case a.it.Kernel != nil:
			k := *a.it.Kernel
			s.addKernel(&k, now)
		default:
			s.addPacket(a.it.Packet.Clone(), now)
		}
	}
	for end := now.Add(3 * time.Second); nextTick.Before(end); nextTick = nextTick.Add(activeTick) {
		now = nextTick
		s.noteLoss()
		s.tick(now)
	}
	s.noteLoss()
	s.merger.Flush(s.feed)
	// As Run does: the sources' counters, then the summary.
	s.engine.AddStats(event.Stats{Source: "ebpf", RingBufferLost: lost})
	s.engine.AddStats(event.Stats{Source: "afpacket", KernelDrops: drops})
	sum := s.engine.Close()

	// Which connect each reported attempt is: by its process (every
	// connect has its own pid), else by its client port.
	byPort := map[netip.AddrPort]int{}
	for i, c := range clients {
		byPort[c] = i
	}
	seen := map[int]string{}
	var attempts, incomplete int
	for _, c := range reported {
		for _, a := range c.Attempts {
			attempts++
			idx := -1
			if a.PID >= 5000 && int(a.PID-5000) < n {
				idx = int(a.PID - 5000)
			} else if i, ok := byPort[netip.MustParseAddrPort(a.Client)]; ok {
				idx = i
			}
			if idx < 0 {
				t.Errorf("an attempt of no connect that was made: %s → %s %s %v", a.Client, a.Server, a.Outcome, a.Evidence)
				continue
			}
			desc := fmt.Sprintf("%s → %s: %s %v", a.Client, a.Server, a.Outcome, a.Evidence)
			if prev, dup := seen[idx]; dup {
				t.Errorf("connect %d (client %s) reported twice:\n  %s\n  %s", idx, clients[idx], prev, desc)
			}
			seen[idx] = desc
			want := analyze.WrongProtocol // "hello" from the server, then its FIN
			if idx%2 == 1 {
				want = analyze.Refused
			}
			switch {
			case a.Outcome == want:
			case a.Outcome == analyze.Incomplete:
				incomplete++
				if pat.kernelDrop == 0 && pat.packetDrop == 0 && pat.lateBy == 0 {
					t.Errorf("incomplete without any loss: %s", desc)
				}
			default:
				t.Errorf("connect %d: invented outcome (want %s or incomplete): %s", idx, want, desc)
			}
		}
	}
	// Reconcile: every connect is reported once, unless none of its
	// starting events (SYN_SENT, SYN) reached the pipeline in time — then
	// its events are in the loss counters or the late counters.
	unseen := 0
	for i := range n {
		if _, ok := seen[i]; ok {
			continue
		}
		unseen++
		if onTime[i] {
			t.Errorf("connect %d (client %s) had its SYN_SENT or SYN delivered in time, yet was not reported", i, clients[i])
		}
	}
	if attempts+unseen != n {
		t.Errorf("reported %d attempts + %d connects without evidence = %d, want %d made", attempts, unseen, attempts+unseen, n)
	}
	if unseen > 0 && lost+drops+sum.LateEvents == 0 {
		t.Errorf("%d connects unreported, yet nothing was counted as lost or late", unseen)
	}
	if pat.lateBy > time.Second && sum.LateEvents == 0 {
		t.Errorf("events %v late were not counted (late_events 0)", pat.lateBy)
	}
	if sum.LateAfterReport+sum.LateUnmatched > sum.LateEvents {
		t.Errorf("late events: %d after report + %d unmatched > %d late", sum.LateAfterReport, sum.LateUnmatched, sum.LateEvents)
	}
	// The summary's first line says the report is partial, and by how much.
	if lossy := lost+drops+sum.LateEvents > 0; lossy != sum.LostEvidence() {
		t.Errorf("Summary.LostEvidence() = %v with %d kernel events lost, %d packets dropped, %d late", sum.LostEvidence(), lost, drops, sum.LateEvents)
	}
	if got := sum.Outcomes[analyze.Timeout]; got > 0 {
		t.Errorf("%d timeouts, and no connect timed out", got)
	}
	if uint64(incomplete) < sum.IncompleteLoss {
		t.Errorf("incomplete_loss %d > %d incomplete attempts", sum.IncompleteLoss, incomplete)
	}
	t.Logf("%d made: %d reported (%d incomplete, %d for lost evidence), %d unseen; %d kernel events lost, %d packets dropped, %d late (%d after their report, %d unmatched)",
		n, attempts, incomplete, sum.IncompleteLoss, unseen, lost, drops, sum.LateEvents, sum.LateAfterReport, sum.LateUnmatched)
}
