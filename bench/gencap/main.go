// Command gencap writes a large, deterministic LINUX_SLL2 pcap for `make
// bench`: bulk MySQL traffic (COM_QUERY and result sets) on long-lived
// connections, mixed with thousands of connects of every outcome the
// analyzer names — ok logins (some after a slow greeting), refused, dropped
// SYNs, ICMP unreachable, greeting after the client gave up, no greeting,
// server closing before the greeting, 1040/1130 instead of the greeting,
// 1045 after login, a wrong protocol, IPv6 blackholes with IPv4 fallback —
// and the DNS lookups before them, NXDOMAIN included.
//
// The same -seed always gives the same bytes. Next to the capture it writes
// FILE.expected.json: the packet count and the outcome every generated
// attempt and connect should get, so the benchmark can check that the fast
// path is also the right one.
//
// Usage:
//
//	gencap [-seed N] [-packets N] [-connects N] [-duration D] -o FILE
//	gencap -verify ANALYZE.jsonl -o FILE
package main

import (
	"bufio"
	"container/heap"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"
)

func main() {
	var (
		out        = flag.String("o", "", "write the capture to `FILE` (required)")
		seed       = flag.Uint64("seed", 1, "random seed: the same seed writes the same file")
		packets    = flag.Int("packets", 1_200_000, "approximate number of packets to write")
		connects   = flag.Int("connects", 6000, "number of generated connects (each one of the scenarios)")
		duration   = flag.Duration("duration", 10*time.Minute, "time the capture spans")
		dupShare   = flag.Float64("dups", 0.02, "share of connects whose frames are captured twice (two interfaces)")
		verifyJSON = flag.String("verify", "", "instead of generating, compare the summary of `analyze --format json` output in `FILE` with -o FILE's expected.json")
	)
	flag.Parse()
	if *verifyJSON != "" && *out != "" {
		ok, err := verify(*out, *verifyJSON)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gencap: %v\n", err)
			os.Exit(1)
		}
		if !ok {
			fmt.Println("analyze's counts differ from what was generated (see the marked rows)")
			os.Exit(1)
		}
		fmt.Println("analyze found exactly what was generated")
		return
	}
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: gencap [-seed N] [-packets N] [-connects N] [-duration D] -o FILE")
		os.Exit(2)
	}
	g := newGen(*seed, *dupShare)
	n, err := g.write(*out, *packets, *connects, *duration)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gencap: %v\n", err)
		os.Exit(1)
	}
	exp := expected{Packets: n, Seed: *seed, Attempts: g.attempts, Connects: g.connects, Scenarios: g.scenarios, DuplicateFrames: g.dupFrames}
	b, _ := json.MarshalIndent(exp, "", "  ")
	if err := os.WriteFile(*out+".expected.json", append(b, '\n'), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "gencap: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gencap: wrote %d packets (%d connects, %d duplicate frames) to %s\n", n, *connects, g.dupFrames, *out)
}

// expected is what FILE.expected.json holds.
type expected struct {
	Seed            uint64         `json:"seed"`
	Packets         int            `json:"packets"`
	DuplicateFrames int            `json:"duplicate_frames"`
	Attempts        map[string]int `json:"attempts"`  // attempts by outcome
	Connects        map[string]int `json:"connects"`  // connects by outcome
	Scenarios       map[string]int `json:"scenarios"` // connects by generating scenario
}

// stream is a time-ordered source of frames: one connect scenario, or one
// bulk connection that generates its next query/response when it runs dry.
type stream struct {
	frames []frame
	i      int
	refill func(s *stream) bool
}

func (s *stream) next() int64 { return s.frames[s.i].us }

type streamHeap []*stream

func (h streamHeap) Len() int           { return len(h) }
func (h streamHeap) Less(i, j int) bool { return h[i].next() < h[j].next() }
func (h streamHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)        { *h = append(*h, x.(*stream)) }
func (h *streamHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}

var epoch = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC).UnixMicro()

// write generates the capture and returns the number of frames written.
func (g *gen) write(path string, packets, connects int, span time.Duration) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// pcap header: microsecond timestamps, snap length 262144, LINUX_SLL2.
	hdr := le.AppendUint32(nil, 0xa1b2c3d4)
	hdr = le.AppendUint16(hdr, 2)
	hdr = le.AppendUint16(hdr, 4)
	hdr = le.AppendUint32(hdr, 0)
	hdr = le.AppendUint32(hdr, 0)
	hdr = le.AppendUint32(hdr, 262144)
	hdr = le.AppendUint32(hdr, 276)
	w.Write(hdr)

	spanUS := span.Microseconds()
	h := &streamHeap{}
	// Connect scenarios start spread over the span, leaving 30 s at the end
	// so that every one of them is over before the capture ends.
	scenarioFrames := 0
	usable := max(spanUS-31_000_000, 1)
	for i := range connects {
		start := epoch + 1_000_000 + g.rng.Int64N(usable)
		if scenarioKinds[i%len(scenarioKinds)] == "aaaa_blackhole_fallback" {
			// Evenly spaced, so that a dual-stack host (50 of them, taken
			// in turn) runs one fallback at a time: two overlapping ones
			// from the same host cannot be told apart on the wire.
			k := int64(i / len(scenarioKinds))
			n := int64(connects/len(scenarioKinds) + 1)
			start = epoch + 1_000_000 + k*usable/n
		}
		frames := g.scenario(i, start)
		scenarioFrames += len(frames)
		if len(frames) > 0 {
			heap.Push(h, &stream{frames: frames})
		}
	}
	// Bulk connections fill the rest: half were established before the
	// capture began, half log in inside it. Each repeats query/response
	// cycles at an interval chosen to reach the packet target.
	const bulkConns = 64
	perCycle := g.cyclePackets()
	bulkPackets := max(packets-scenarioFrames, 0)
	cycles := float64(bulkPackets) / perCycle / bulkConns
	interval := int64(float64(spanUS) / max(cycles, 1))
	for i := range bulkConns {
		s := g.bulk(i, i%2 == 1, epoch+g.rng.Int64N(interval), epoch+spanUS, interval)
		if len(s.frames) > 0 {
			heap.Push(h, s)
		}
	}

	n := 0
	var rec [16]byte
	for h.Len() > 0 {
		s := (*h)[0]
		fr := s.frames[s.i]
		le.PutUint32(rec[0:], uint32(fr.us/1_000_000))
		le.PutUint32(rec[4:], uint32(fr.us%1_000_000))
		le.PutUint32(rec[8:], uint32(len(fr.data)))
		le.PutUint32(rec[12:], uint32(len(fr.data)))
		w.Write(rec[:])
		w.Write(fr.data)
		n++
		s.i++
		if s.i == len(s.frames) {
			s.frames, s.i = s.frames[:0], 0
			if s.refill == nil || !s.refill(s) {
				heap.Pop(h)
				continue
			}
		}
		heap.Fix(h, 0)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return n, err
	}
	return n, f.Close()
}

// gen holds the generator's state; everything random comes from rng.
type gen struct {
	rng       *rand.Rand
	dupShare  float64
	ipid      uint16
	ports     map[netip.Addr]uint16
	connID    uint32
	dnsID     uint16
	attempts  map[string]int
	connects  map[string]int
	scenarios map[string]int
	dupFrames int
}

func newGen(seed uint64, dupShare float64) *gen {
	return &gen{
		rng:       rand.New(rand.NewPCG(seed, 0x636f6e6e73636f70)),
		dupShare:  dupShare,
		ports:     map[netip.Addr]uint16{},
		connID:    1000,
		attempts:  map[string]int{},
		connects:  map[string]int{},
		scenarios: map[string]int{},
	}
}

var (
	clients4 = addrs("10.1.0.", 1, 200)
	clients6 = addrs("fd00:1::", 1, 200) // clients6[i] is the same host as clients4[i]
	// Dual-stack hosts for the AAAA-blackhole scenario, used by nothing
	// else: another connect from the same host to the same server within
	// its 3 s would be indistinguishable, on the wire, from the fallback.
	dualHosts4 = addrs("10.1.1.", 1, 50)
	dualHosts6 = addrs("fd00:1::1:", 1, 50)
	servers4   = addrs("10.2.0.", 1, 4)
	server6    = netip.MustParseAddr("fd00:2::1")
	// blackhole6 is an IPv6 address whose SYNs are dropped (AAAA blackhole).
	blackhole6 = netip.MustParseAddr("fd00:2::99")
	silent4    = netip.MustParseAddr("10.2.0.66") // a firewall drops SYNs to it
	router     = netip.MustParseAddr("10.1.0.254")
	resolver   = netip.MustParseAddr("10.0.0.53")
	sshHost    = netip.MustParseAddr("10.2.0.22")
)

func addrs(prefix string, from, to int) []netip.Addr {
	var out []netip.Addr
	for i := from; i <= to; i++ {
		out = append(out, netip.MustParseAddr(fmt.Sprintf("%s%d", prefix, i)))
	}
	return out
}

// pairedV6 is the IPv6 address of the host that has IPv4 address a.
func pairedV6(a netip.Addr) netip.Addr {
	for i, c := range clients4 {
		if c == a {
			return clients6[i]
		}
	}
	for i, c := range dualHosts4 {
		if c == a {
			return dualHosts6[i]
		}
	}
	panic("no IPv6 address for " + a.String())
}

func (g *gen) port(client netip.Addr) uint16 {
	p := g.ports[client]
	if p < 32768 || p >= 60999 {
		p = 32768 + uint16(g.rng.IntN(2000))
	}
	p += 1 + uint16(g.rng.IntN(3))
	g.ports[client] = p
	return p
}

// flow builds the frames of one TCP connection, as captured on the client
// host with `tcpdump -i any` (client frames outgoing, server frames incoming).
type flow struct {
	g        *gen
	cli, srv netip.AddrPort
	cseq     uint32 // next sequence number the client sends
	sseq     uint32
	frames   []frame
	dup      bool // also captured on a second interface
}

func (g *gen) newFlow(cli, srv netip.Addr, srvPort uint16) *flow {
	return &flow{g: g, cli: netip.AddrPortFrom(cli, g.port(cli)), srv: netip.AddrPortFrom(srv, srvPort),
		cseq: g.rng.Uint32(), sseq: g.rng.Uint32(), dup: g.rng.Float64() < g.dupShare}
}

func (g *gen) frame(us int64, src, dst netip.Addr, proto uint8, l4 []byte, csumOff int, outgoing, dup bool, out []frame) []frame {
	g.ipid++
	ttl := uint8(64)
	pt := byte(sllOutgoing)
	if !outgoing {
		pt = sllHost
		ttl = 63
	}
	b := make([]byte, 0, sll2Len+40+len(l4))
	b = sll2(b, src.Is6(), 2, pt)
	b = ipPacket(b, src, dst, proto, g.ipid, ttl, l4, csumOff)
	out = append(out, frame{us, b})
	if dup {
		// The same frame seen again on the bridge a few microseconds later.
		d := append([]byte(nil), b...)
		be.PutUint32(d[4:], 3)
		out = append(out, frame{us + 3, d})
		g.dupFrames++
	}
	return out
}

func tsval(us int64) uint32 { return uint32(us / 1000) }

// c2s and s2c add a segment from the client or the server; they advance the
// sender's sequence number by the payload (and SYN/FIN).
func (f *flow) c2s(us int64, flags uint8, payload []byte) {
	ack := uint32(0)
	if flags&flagACK != 0 {
		ack = f.sseq
	}
	seg := tcpSegment(f.cli.Port(), f.srv.Port(), f.cseq, ack, flags, 502, tsval(us), tsval(us)-1, payload)
	f.frames = f.g.frame(us, f.cli.Addr(), f.srv.Addr(), protoTCP, seg, 16, true, f.dup, f.frames)
	f.cseq += uint32(len(payload))
	if flags&(flagSYN|flagFIN) != 0 {
		f.cseq++
	}
}

func (f *flow) s2c(us int64, flags uint8, payload []byte) {
	ack := uint32(0)
	if flags&flagACK != 0 {
		ack = f.cseq
	}
	seg := tcpSegment(f.srv.Port(), f.cli.Port(), f.sseq, ack, flags, 509, tsval(us)+7, tsval(us), payload)
	f.frames = f.g.frame(us, f.srv.Addr(), f.cli.Addr(), protoTCP, seg, 16, false, f.dup, f.frames)
	f.sseq += uint32(len(payload))
	if flags&(flagSYN|flagFIN) != 0 {
		f.sseq++
	}
}

// handshake is SYN, SYN-ACK, ACK; it returns the time after it.
func (f *flow) handshake(us, rtt int64) int64 {
	f.c2s(us, flagSYN, nil)
	f.s2c(us+rtt, flagSYN|flagACK, nil)
	f.c2s(us+rtt+20, flagACK, nil)
	return us + rtt + 20
}

// sendData sends payload in MSS-sized segments from the server, the client
// acknowledging every second one; it returns the time after it.
func (f *flow) serverData(us int64, payload []byte) int64 {
	const mss = 1448
	segs := 0
	for len(payload) > 0 {
		n := min(len(payload), mss)
		us += 8 + int64(n/200)
		f.s2c(us, flagPSH|flagACK, payload[:n])
		payload = payload[n:]
		segs++
		if segs%2 == 0 || len(payload) == 0 {
			f.c2s(us+30, flagACK, nil)
		}
	}
	return us + 30
}

// closeByClient is the client's FIN and the server's FIN-ACK and last ACK.
func (f *flow) closeByClient(us int64) int64 {
	f.c2s(us, flagFIN|flagACK, nil)
	f.s2c(us+60, flagFIN|flagACK, nil)
	f.c2s(us+90, flagACK, nil)
	return us + 90
}

func (g *gen) rtt() int64 { return 80 + g.rng.Int64N(400) }

// dnsLookup adds a query and its answer (after latency µs) to frames.
func (g *gen) dnsLookup(frames []frame, us int64, client netip.Addr, name string, qtype uint16, rcode int, answer []netip.Addr, latency int64) []frame {
	g.dnsID++
	id := g.dnsID
	sport := g.port(client)
	q := udpDatagram(sport, 53, dnsQuery(id, name, qtype))
	frames = g.frame(us, client, resolver, protoUDP, q, 6, true, false, frames)
	var raw [][]byte
	for _, a := range answer {
		raw = append(raw, a.AsSlice())
	}
	r := udpDatagram(53, sport, dnsAnswer(id, name, qtype, rcode, raw))
	return g.frame(us+latency, resolver, client, protoUDP, r, 6, false, false, frames)
}

// scenarioKinds are the connect scenarios, in the rotation connects take.
var scenarioKinds = []string{
	"ok", "ok", "ok", "ok_named", "ok_named", "ok_v6", "slow_greeting_ok",
	"refused", "refused_v6", "dropped", "icmp_port", "icmp_admin", "greeting_late", "no_greeting",
	"closed_before_greeting", "err_1040", "err_1130", "auth_1045", "wrong_protocol",
	"nxdomain", "aaaa_blackhole_fallback",
}

// scenario generates connect number i starting at us.
func (g *gen) scenario(i int, us int64) []frame {
	kind := scenarioKinds[i%len(scenarioKinds)]
	g.scenarios[kind]++
	cli := clients4[g.rng.IntN(len(clients4))]
	srv := servers4[g.rng.IntN(len(servers4))]
	var frames []frame
	outcome := func(attempts ...string) {
		for _, a := range attempts {
			g.attempts[a]++
		}
		g.connects[attempts[len(attempts)-1]]++
	}
	switch kind {
	case "ok", "ok_named", "ok_v6", "slow_greeting_ok":
		if kind == "ok_v6" {
			cli, srv = clients6[g.rng.IntN(len(clients6))], server6
		}
		if kind == "ok_named" {
			name := fmt.Sprintf("db%d.shop.internal", 1+g.rng.IntN(4))
			lat := 200 + g.rng.Int64N(2000)
			frames = g.dnsLookup(frames, us, cli, name, dnsA, rcodeOK, []netip.Addr{srv}, lat)
			us += lat + 50
		}
		f := g.newFlow(cli, srv, 3306)
		f.frames = frames
		delay := 300 + g.rng.Int64N(1500)
		if kind == "slow_greeting_ok" {
			delay = 1_500_000 + g.rng.Int64N(1_000_000)
		}
		g.login(f, us, delay, "app", true)
		outcome("ok")
		return f.frames
	case "refused", "refused_v6":
		if kind == "refused_v6" {
			cli, srv = clients6[g.rng.IntN(len(clients6))], server6
		}
		f := g.newFlow(cli, srv, 3307)
		f.c2s(us, flagSYN, nil)
		f.s2c(us+g.rtt(), flagRST|flagACK, nil)
		outcome("refused")
		return f.frames
	case "dropped":
		f := g.newFlow(cli, silent4, 3306)
		g.dropped(f, us)
		outcome("timeout")
		return f.frames
	case "icmp_port", "icmp_admin":
		f := g.newFlow(cli, srv, 3306)
		f.c2s(us, flagSYN, nil)
		syn := f.frames[len(f.frames)-1].data[sll2Len:]
		from, code := srv, uint8(3)
		if kind == "icmp_admin" {
			from, code = router, 13
		}
		// Type 3 (unreachable), quoting the SYN's IP header and first 8 bytes.
		quote := syn[:min(len(syn), 28)]
		icmp := append([]byte{3, code, 0, 0, 0, 0, 0, 0}, quote...)
		icmp[2], icmp[3] = 0, 0
		c := checksum(icmp, 0)
		be.PutUint16(icmp[2:], c)
		f.frames = g.frame(us+g.rtt(), from, cli, protoICMP, icmp, -1, false, f.dup, f.frames)
		outcome("unreachable")
		return f.frames
	case "greeting_late":
		// The client waits 3 s for the greeting, gives up; it arrives at ~5 s
		// and the client's kernel answers it with RST.
		f := g.newFlow(cli, srv, 3306)
		t := f.handshake(us, g.rtt())
		f.c2s(t+3_000_000, flagFIN|flagACK, nil)
		f.s2c(t+3_000_100, flagACK, nil)
		gt := t + 5_000_000 + g.rng.Int64N(500_000)
		g.connID++
		f.s2c(gt, flagPSH|flagACK, greeting(g.rng, g.connID, true))
		f.c2s(gt+40, flagRST, nil)
		outcome("greeting_late")
		return f.frames
	case "no_greeting":
		f := g.newFlow(cli, srv, 3306)
		t := f.handshake(us, g.rtt())
		f.closeByClient(t + 10_000_000)
		outcome("no_greeting")
		return f.frames
	case "closed_before_greeting":
		f := g.newFlow(cli, srv, 3306)
		t := f.handshake(us, g.rtt())
		f.s2c(t+200, flagFIN|flagACK, nil)
		f.c2s(t+260, flagFIN|flagACK, nil)
		f.s2c(t+300, flagACK, nil)
		outcome("closed_before_greeting")
		return f.frames
	case "err_1040", "err_1130":
		f := g.newFlow(cli, srv, 3306)
		t := f.handshake(us, g.rtt())
		var p []byte
		if kind == "err_1040" {
			p = errPacket(0, 1040, "", "Too many connections")
		} else {
			p = errPacket(0, 1130, "", fmt.Sprintf("Host '%s' is not allowed to connect to this MariaDB server", cli))
		}
		f.s2c(t+400, flagPSH|flagACK, p)
		f.s2c(t+420, flagFIN|flagACK, nil)
		f.c2s(t+480, flagACK, nil)
		f.closeByClient(t + 600)
		outcome("rejected")
		return f.frames
	case "auth_1045":
		f := g.newFlow(cli, srv, 3306)
		g.login(f, us, 400+g.rng.Int64N(800), "reporting", false)
		outcome("auth_failed")
		return f.frames
	case "wrong_protocol":
		f := g.newFlow(cli, sshHost, 3306)
		t := f.handshake(us, g.rtt())
		f.s2c(t+2000, flagPSH|flagACK, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
		f.c2s(t+2040, flagACK, nil)
		f.closeByClient(t + 2100)
		outcome("wrong_protocol")
		return f.frames
	case "nxdomain":
		name := fmt.Sprintf("db-%d.old.shop.internal", g.rng.IntN(1000))
		frames = g.dnsLookup(frames, us, cli, name, dnsA, rcodeNXName, nil, 300+g.rng.Int64N(3000))
		frames = g.dnsLookup(frames, us+5, cli, name, dnsAAAA, rcodeNXName, nil, 300+g.rng.Int64N(3000))
		sortFrames(frames)
		// No attempt: only the connect counts (as unresolved).
		g.connects["unresolved"]++
		return frames
	case "aaaa_blackhole_fallback":
		// The name has an AAAA record nobody answers for; the client's
		// 3 s connect timeout runs out on IPv6, then IPv4 logs in.
		cli = dualHosts4[(i/len(scenarioKinds))%len(dualHosts4)]
		cli6 := pairedV6(cli)
		lat := 200 + g.rng.Int64N(1000)
		frames = g.dnsLookup(frames, us, cli, "dual.shop.internal", dnsAAAA, rcodeOK, []netip.Addr{blackhole6}, lat)
		frames = g.dnsLookup(frames, us+5, cli, "dual.shop.internal", dnsA, rcodeOK, []netip.Addr{srv}, lat+40)
		sortFrames(frames)
		us += lat + 100
		f6 := g.newFlow(cli6, blackhole6, 3306)
		f6.frames = frames
		g.dropped(f6, us)
		f4 := g.newFlow(cli, srv, 3306)
		f4.frames = f6.frames
		g.login(f4, us+3_000_000, 300+g.rng.Int64N(1000), "app", true)
		sortFrames(f4.frames)
		outcome("timeout", "ok")
		return f4.frames
	}
	panic("unknown scenario " + kind)
}

// dropped is a SYN nobody answers: retransmitted after 1 s, then the
// client's 3 s connect timeout closes the socket (which sends nothing).
func (g *gen) dropped(f *flow, us int64) {
	f.c2s(us, flagSYN, nil)
	f.cseq--
	f.c2s(us+1_000_000+g.rng.Int64N(20_000), flagSYN, nil)
}

// login connects, waits greetDelay µs for the greeting, logs in as user and
// either runs one query and quits (ok) or gets ERR 1045.
func (g *gen) login(f *flow, us, greetDelay int64, user string, ok bool) {
	t := f.handshake(us, g.rtt())
	t += greetDelay
	g.connID++
	f.s2c(t, flagPSH|flagACK, greeting(g.rng, g.connID, true))
	f.c2s(t+40, flagACK, nil)
	t += 200 + g.rng.Int64N(300)
	f.c2s(t, flagPSH|flagACK, handshakeResponse(g.rng, user, "shop"))
	t += 300 + g.rng.Int64N(700)
	if !ok {
		f.s2c(t, flagPSH|flagACK, errPacket(2, 1045, "28000",
			fmt.Sprintf("Access denied for user '%s'@'%s' (using password: YES)", user, f.cli.Addr())))
		f.s2c(t+20, flagFIN|flagACK, nil)
		f.c2s(t+60, flagACK, nil)
		f.closeByClient(t + 100)
		return
	}
	f.s2c(t, flagPSH|flagACK, okPacket(2))
	f.c2s(t+40, flagACK, nil)
	q, rows := randomQuery(g.rng)
	t += 100
	f.c2s(t, flagPSH|flagACK, comQuery(q))
	t = f.serverData(t+300+g.rng.Int64N(2000), resultSet(g.rng, rows))
	f.c2s(t+100, flagPSH|flagACK, comQuit())
	f.closeByClient(t + 150)
}

// bulk is a long-lived application connection issuing queries every
// interval µs (with jitter) until end. A connection established inside the
// capture logs in first.
func (g *gen) bulk(i int, loginInCapture bool, start, end, interval int64) *stream {
	cli := clients4[i%len(clients4)]
	srv := servers4[i%len(servers4)]
	f := g.newFlow(cli, srv, 3306)
	f.dup = false
	// Each bulk connection has its own generator so that its cycles do not
	// depend on how the heap interleaves streams.
	rng := rand.New(rand.NewPCG(uint64(i), 0x62756c6b))
	t := start
	if loginInCapture {
		t0 := f.handshake(t, 150)
		g.connID++
		f.s2c(t0+500, flagPSH|flagACK, greeting(rng, g.connID, true))
		f.c2s(t0+540, flagACK, nil)
		f.c2s(t0+800, flagPSH|flagACK, handshakeResponse(rng, "app", "shop"))
		f.s2c(t0+1300, flagPSH|flagACK, okPacket(2))
		f.c2s(t0+1340, flagACK, nil)
		t = t0 + 2000
		g.attempts["ok"]++
		g.connects["ok"]++
		g.scenarios["bulk_login"]++
	}
	s := &stream{frames: f.frames}
	f.frames = nil
	s.refill = func(s *stream) bool {
		if t >= end {
			return false
		}
		f.frames = s.frames[:0]
		q, rows := randomQuery(rng)
		f.c2s(t, flagPSH|flagACK, comQuery(q))
		done := f.serverData(t+200+rng.Int64N(3000), resultSet(rng, rows))
		s.frames = f.frames
		f.frames = nil
		t = max(done+100, t+interval/2+rng.Int64N(interval+1))
		return true
	}
	if len(s.frames) == 0 {
		s.refill(s)
	}
	return s
}

// cyclePackets measures the average number of frames in a bulk query cycle.
func (g *gen) cyclePackets() float64 {
	probe := &gen{rng: rand.New(rand.NewPCG(7, 7)), ports: map[netip.Addr]uint16{}, attempts: map[string]int{}, connects: map[string]int{}, scenarios: map[string]int{}}
	f := probe.newFlow(clients4[0], servers4[0], 3306)
	const n = 2000
	for range n {
		q, rows := randomQuery(probe.rng)
		f.c2s(0, flagPSH|flagACK, comQuery(q))
		f.serverData(0, resultSet(probe.rng, rows))
	}
	return float64(len(f.frames)) / n
}

func sortFrames(fs []frame) {
	// Insertion sort: the lists are short and nearly sorted; stable.
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].us < fs[j-1].us; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}
