package analyze

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/event"
)

// benchRound builds one round of synthetic traffic: established MySQL
// connections (login, then bulk query traffic) mixed with connect attempts
// of most outcomes and DNS lookups. Rounds are replayed with shifted times
// and ports.
func benchRound(tb testing.TB, conns, bulk int) (pkts []event.Packet, span time.Duration) {
	s := newSim(tb, Options{})
	s.record = &pkts
	row := make([]byte, 1400)
	ms := 0.0
	for i := 0; i < conns; i++ {
		client := fmt.Sprintf("10.1.%d.%d:%d", i/250, i%250+1, 30000+i)
		k := s.conn(client, "10.2.0.1:3306")
		k.handshake(ms, 0.1)
		k.server(ms+0.3, mariadbGreeting())
		k.client(ms+0.4, handshakeResponse("app", defaultCaps))
		k.server(ms+0.6, okPacket(2))
		for j := 0; j < bulk; j++ {
			if j%10 == 0 {
				k.client(ms+0.7+float64(j)*0.01, myPacket(0, []byte("\x03SELECT * FROM t")))
			} else {
				k.server(ms+0.7+float64(j)*0.01, row)
			}
		}
		ms += 0.05
		// A failed attempt every 10 connections, cycling through outcomes.
		if i%10 == 0 {
			f := s.conn(fmt.Sprintf("10.3.%d.%d:%d", i/250, i%250+1, 40000+i), "10.2.0.2:3306")
			switch (i / 10) % 5 {
			case 0:
				f.SYN(ms)
				f.refuse(ms + 0.1)
			case 1:
				f.SYN(ms)
				f.icmp(ms+0.1, "10.2.0.2", false, 3, 3)
			case 2:
				f.handshake(ms, 0.1)
				f.server(ms+0.5, errPacket(0, 1040, "08004", "Too many connections"))
				f.serverFIN(ms + 0.6)
			case 3:
				f.handshake(ms, 0.1)
				f.server(ms+0.5, mariadbGreeting())
				f.client(ms+0.6, handshakeResponse("app", defaultCaps))
				f.server(ms+0.8, errPacket(2, 1045, "28000", "Access denied"))
			case 4:
				client := fmt.Sprintf("10.3.%d.%d:5353", i/250, i%250+1)
				s.lookup(ms, ms+0.2, client, "10.2.0.53:53", uint16(i), "db.bench.test", dns.TypeA, 0, ip("10.2.0.1"))
				s.lookup(ms, ms+0.2, client, "10.2.0.53:53", uint16(i+1), "nx.bench.test", dns.TypeA, dns.RcodeNXDomain)
				f.SYN(ms + 1)
			}
		}
	}
	return pkts, time.Duration((ms + 10) * float64(time.Millisecond))
}

// shiftPacket moves a recorded packet into round r: later in time and on
// other client ports, so each round is fresh traffic.
func shiftPacket(dst, src *event.Packet, r int, span time.Duration) {
	*dst = *src
	dst.Time = src.Time.Add(time.Duration(r) * span)
	shift := uint16(r * 7)
	if src.DstPort == 3306 || src.DstPort == 53 {
		dst.SrcPort += shift
	} else if src.SrcPort == 3306 || src.SrcPort == 53 {
		dst.DstPort += shift
	}
	if src.ICMP != nil {
		ic := *src.ICMP
		ic.QuotedSrcPort += shift
		dst.ICMP = &ic
	}
}

func runBench(b *testing.B, conns, bulk int) {
	pkts, span := benchRound(b, conns, bulk)
	var reported int
	e := NewEngine(Options{OnConnect: func(*Connect) { reported++ }})
	// Shift every round once, before timing: the benchmark measures the engine.
	const rounds = 64
	all := make([]event.Packet, 0, rounds*len(pkts))
	for r := 0; r < rounds; r++ {
		for i := range pkts {
			var p event.Packet
			shiftPacket(&p, &pkts[i], r, span)
			all = append(all, p)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var p event.Packet
	for i := 0; i < b.N; i++ {
		round := i / len(all)
		src := &all[i%len(all)]
		p = *src
		if round > 0 {
			p.Time = src.Time.Add(time.Duration(round*rounds) * span)
			p.SrcPort += uint16(round * 13)
			p.DstPort += uint16(round * 13)
		}
		e.Packet(&p)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	e.Close()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pkts/s")
	if reported == 0 && b.N > len(all) {
		b.Fatal("no connect reported")
	}
}

// BenchmarkEngine: mixed traffic, ~90% bulk packets of established
// connections, the rest connects of several outcomes and DNS.
func BenchmarkEngine(b *testing.B) { runBench(b, 200, 50) }

// BenchmarkEngineBulk: established-connection traffic only (the hot path:
// one flow-filter check, early return, no allocation).
func BenchmarkEngineBulk(b *testing.B) {
	pkts, _ := benchRound(b, 1, 0)
	_ = pkts
	k := [2]event.Packet{}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	row := make([]byte, 1400)
	for i := range k {
		k[i] = event.Packet{Proto: event.ProtoTCP, Src: ip("10.1.0.1"), SrcPort: 3306, Dst: ip("10.1.0.2"), DstPort: 30000,
			TCPFlags: event.TCPAck | event.TCPPsh, Payload: row, PayloadLen: len(row)}
	}
	e := NewEngine(Options{})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		p := &k[i&1]
		p.Time = base.Add(time.Duration(i) * time.Microsecond)
		p.Seq = uint32(i) * 1400
		e.Packet(p)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pkts/s")
}

// TestBulkPathAllocs pins the hot path at zero allocations.
func TestBulkPathAllocs(t *testing.T) {
	e := NewEngine(Options{})
	row := make([]byte, 1400)
	p := &event.Packet{Proto: event.ProtoTCP, Src: ip("10.1.0.1"), SrcPort: 3306, Dst: ip("10.1.0.2"), DstPort: 30000,
		TCPFlags: event.TCPAck | event.TCPPsh, Payload: row, PayloadLen: len(row)}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		p.Time = base.Add(time.Duration(i) * time.Microsecond)
		p.Seq = uint32(i) * 1400
		e.Packet(p)
	})
	if allocs != 0 {
		t.Errorf("bulk packet costs %v allocations, want 0", allocs)
	}
}

// TestStateBounded: state follows what is in flight, not what was seen.
func TestStateBounded(t *testing.T) {
	pkts, span := benchRound(t, 200, 5)
	e := NewEngine(Options{})
	var p event.Packet
	for r := 0; r < 50; r++ {
		for i := range pkts {
			shiftPacket(&p, &pkts[i], r, span+2*time.Minute)
			e.Packet(&p)
		}
	}
	// Let the clock run past every timer.
	e.Advance(p.Time.Add(2 * time.Minute))
	if e.inFlight > 0 || e.flows.len() > 0 || len(e.open) > 0 || len(e.cookies) > 0 {
		t.Errorf("after 50 rounds: %d in flight, %d flows, %d open connects, %d cookies", e.inFlight, e.flows.len(), len(e.open), len(e.cookies))
	}
	if len(e.dns.pending) > 0 || len(e.dns.byClient) > 0 || len(e.dns.byAddr) > 0 || len(e.dns.unsettled) > 0 || len(e.dns.aging) > 0 {
		t.Errorf("DNS state left: %d pending, %d clients, %d addresses, %d unsettled, %d aging",
			len(e.dns.pending), len(e.dns.byClient), len(e.dns.byAddr), len(e.dns.unsettled), len(e.dns.aging))
	}
	if e.ended.len() == 0 || e.ended.len() > maxEnded {
		t.Errorf("%d reported SYNs remembered", e.ended.len())
	}
	checkEndedFilter(t, e)
	e.Advance(p.Time.Add(2*time.Minute + endedTTL + time.Second))
	if e.ended.len() > 0 {
		t.Errorf("reported SYNs not forgotten after %s: %d", endedTTL, e.ended.len())
	}
	sum := e.Close()
	checkTables(t, e)
	if sum.Connects < 50*200 {
		t.Errorf("%d connects reported", sum.Connects)
	}
}

// BenchmarkEngineCapture measures the engine alone over a real capture
// (`make bench`'s, kept with BENCH_KEEP=1, or any file) named by
// CONNSCOPE_BENCH_CAPTURE: the packets are decoded into memory once, then
// each iteration feeds all of them to a fresh engine. It reports ns/pkt, the
// engine's share of `connscope analyze`'s per-packet cost:
//
//	CONNSCOPE_BENCH_CAPTURE=/tmp/bench.pcap go test -run '^$' -bench EngineCapture -benchtime 5x ./analyze
func BenchmarkEngineCapture(b *testing.B) { benchCapture(b, Options{}) }

// BenchmarkEngineCaptureRecycle is BenchmarkEngineCapture with the
// engine's options of `connscope analyze --format json` (Options.Recycle:
// the report forgets each connect once written), without the renderer: the
// engine goroutine's share of that command's CPU time.
func BenchmarkEngineCaptureRecycle(b *testing.B) { benchCapture(b, Options{Recycle: true}) }

func benchCapture(b *testing.B, opts Options) {
	path := os.Getenv("CONNSCOPE_BENCH_CAPTURE")
	if path == "" {
		b.Skip("CONNSCOPE_BENCH_CAPTURE not set (e.g. a capture from bench/gencap)")
	}
	pkts := loadCapture(b, path)
	opts.OnConnect = func(*Connect) {}
	b.ReportAllocs()
	_, cpu0 := processClock()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := NewEngine(opts)
		for j := range pkts {
			e.Packet(&pkts[j])
		}
		e.Close()
	}
	b.StopTimer()
	_, cpu1 := processClock()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
	// The CPU time (every thread: the collector's too) varies less than
	// the wall time on a machine shared with other work.
	b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

var loaded struct {
	path string
	pkts []event.Packet
}

// loadCapture decodes a capture into memory once per test binary run: every
// payload in one arena, so the packets cost the garbage collector little.
func loadCapture(b testing.TB, path string) []event.Packet {
	if loaded.path == path {
		return loaded.pkts
	}
	r, err := capture.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var pkts []event.Packet
	var arena []byte
	var offs []int
	for {
		p, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
			break
		}
		c := *p
		offs = append(offs, len(arena))
		arena = append(arena, p.Payload...)
		if p.ICMP != nil {
			ic := *p.ICMP
			c.ICMP = &ic
		}
		if p.Process != nil {
			pr := *p.Process
			c.Process = &pr
		}
		pkts = append(pkts, c)
	}
	for i := range pkts {
		n := len(pkts[i].Payload)
		pkts[i].Payload = arena[offs[i] : offs[i]+n : offs[i]+n]
	}
	loaded.path, loaded.pkts = path, pkts
	return pkts
}

// BenchmarkNoteUnclaimed: a live connect loop to one server, 10,000 SYNs a
// second, none claimed or reported within the second (as while connects
// wait out their kernel linger). Sweeping the list on every SYN made this
// quadratic (about 4% of live trace's CPU at 10,000 connects/s).
func BenchmarkNoteUnclaimed(b *testing.B) {
	e := NewEngine(Options{Live: true})
	server := netip.MustParseAddrPort("127.0.0.1:3306")
	t0 := time.Unix(1e9, 0)
	conn := &connectState{}
	for i := range b.N {
		e.noteUnclaimed(&attempt{server: server, start: t0.Add(time.Duration(i) * 100 * time.Microsecond), conn: conn})
	}
	if n := len(e.unclaimed[server].list); n > 10001+64 && b.N > 20000 {
		b.Fatalf("%d SYNs kept, more than a second's", n)
	}
}

// BenchmarkEngineReadCaptureRecycle is BenchmarkEngineCaptureRecycle with
// the capture read from its file in every iteration (RunSource): the
// goroutine that `connscope analyze --format json` runs beside the
// renderer, the path its wall time is bound by. ns/op is that path's length
// (the file's reading may use a second core), cpu-ns/op what it costs.
func BenchmarkEngineReadCaptureRecycle(b *testing.B) {
	path := os.Getenv("CONNSCOPE_BENCH_CAPTURE")
	if path == "" {
		b.Skip("CONNSCOPE_BENCH_CAPTURE not set (e.g. a capture from bench/gencap)")
	}
	opts := Options{Recycle: true, OnConnect: func(*Connect) {}}
	b.ReportAllocs()
	_, cpu0 := processClock()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := capture.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := RunSource(r, opts); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
	b.StopTimer()
	_, cpu1 := processClock()
	b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
