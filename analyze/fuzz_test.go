package analyze

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/event"
)

// fuzzEndpoints is a small address book so fuzzed packets collide with
// each other's flows.
var fuzzEndpoints = []netip.AddrPort{
	ap("192.0.2.10:40000"), ap("192.0.2.20:3306"), ap("192.0.2.10:40001"), ap("192.0.2.53:53"),
	ap("[2001:db8::10]:40002"), ap("[2001:db8::20]:3306"), ap("192.0.2.20:22"), ap("192.0.2.1:0"),
}

// checkInvariants verifies what must hold for any input.
func checkInvariants(t *testing.T, cs []*Connect, sum Summary) {
	t.Helper()
	n := 0
	for _, c := range cs {
		if c.Outcome == "" {
			t.Fatalf("connect without outcome: %+v", c)
		}
		if len(c.Attempts) == 0 && c.Outcome != Unresolved {
			t.Fatalf("connect without attempts is %s", c.Outcome)
		}
		if len(c.Attempts) > 0 && c.Outcome != c.Attempts[len(c.Attempts)-1].Outcome {
			t.Fatalf("connect outcome %s differs from its last attempt's", c.Outcome)
		}
		for _, a := range c.Attempts {
			n++
			if a.Outcome == "" || a.Outcome == Unresolved || len(a.Evidence) == 0 {
				t.Fatalf("attempt %+v", a)
			}
			if a.DurationMS < 0 {
				t.Fatalf("negative duration %v", a.DurationMS)
			}
		}
	}
	if n != sum.Attempts {
		t.Fatalf("summary counts %d attempts, %d reported", sum.Attempts, n)
	}
}

// FuzzEngine feeds arbitrary packet and kernel event sequences: the engine
// must never panic, and its reports must stay consistent.
// snapCut is how many payload bytes a fuzzed packet lost to the snap
// length (the top two bits of its op byte pick one): none, a few, or most
// of a segment.
var snapCut = [4]int{0, 1, 3, 1200}

func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 0, 0, 0, 1, 1, 0, 0x12, 0, 0, 1, 0, 0x10, 5, 0, 0, 0})
	g := mariadbGreeting()
	seed := []byte{0, 0, 1, 2, 10, 1, 0, 1, 18, 10, 1, 0, 0x18, byte(len(g))}
	f.Add(append(seed, g...))
	// SYN, RST, the same SYN again (a late retransmit), then a new ISN on
	// the same 5-tuple (a new attempt).
	f.Add([]byte{0, 0, 1, 0, 0x02, 0, 0, 1, 0, 1, 0x14, 0, 0, 0, 1, 200, 0x02, 0, 0, 16, 1, 250, 0x02, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []*Connect
		e := NewEngine(Options{OnConnect: func(c *Connect) { Explain(c); got = append(got, c) }, MaxInFlight: 64})
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		seqs := [4]uint32{1000, 50000, 1000 + 1<<31, 7}
		for len(data) >= 6 {
			op, a, b, dt, fl, n := data[0], data[1], data[2], data[3], data[4], int(data[5])
			data = data[6:]
			now = now.Add(time.Duration(dt) * time.Duration(1+int(op>>4)*int(op>>4)) * time.Millisecond)
			src, dst := fuzzEndpoints[int(a)%len(fuzzEndpoints)], fuzzEndpoints[int(b)%len(fuzzEndpoints)]
			if n > len(data) {
				n = len(data)
			}
			payload := data[:n]
			data = data[n:]
			switch op & 3 {
			case 0, 1: // TCP
				p := &event.Packet{Time: now, Proto: event.ProtoTCP, Src: src.Addr(), SrcPort: src.Port(), Dst: dst.Addr(), DstPort: dst.Port(),
					TCPFlags: fl, Seq: seqs[int(a>>4)&3] + uint32(b>>4), Ack: seqs[int(b>>4)&3] + uint32(a>>6), Payload: payload, PayloadLen: len(payload) + snapCut[op>>6]}
				e.Packet(p)
			case 2: // UDP (DNS when a port is 53)
				e.Packet(&event.Packet{Time: now, Proto: event.ProtoUDP, Src: src.Addr(), SrcPort: src.Port(), Dst: dst.Addr(), DstPort: dst.Port(), Payload: payload, PayloadLen: len(payload) + snapCut[op>>6]})
			case 3: // kernel event
				k := &event.Kernel{Time: now, Kind: event.KernelKind(fl%6 + 0), Cookie: uint64(a % 4), Family: event.FamilyInet,
					SockType: uint16(1 + b%2), Src: src, Dst: dst, Ret: -int32(n % 120), Errno: int32(fl % 120), OldState: a % 12, NewState: b % 12,
					Process: event.Process{PID: uint32(a), Comm: "fuzz", FD: int32(b)}}
				if op&0x40 != 0 {
					k.Family = event.FamilyUnix
					k.UnixPath = string(payload)
				}
				e.Kernel(k)
			}
		}
		sum := e.Close()
		checkInvariants(t, got, sum)
		checkTables(t, e)
	})
}

// checkTables verifies that a closed engine left no flow behind and that
// the flow filter agrees with the flow table.
func checkTables(t *testing.T, e *Engine) {
	t.Helper()
	var counted, occupied uint64
	for h := range 1 << 16 {
		counted += uint64(filterCount(t, &e.filter, uint16(h)))
	}
	for _, w := range e.filter.occupied {
		occupied += uint64(bits.OnesCount64(w))
	}
	if e.flows.len() != 0 || e.inFlight != 0 || counted != 0 || occupied != 0 {
		t.Fatalf("after Close: %d flows, %d in flight, flow filter counts %d, %d indexes marked occupied", e.flows.len(), e.inFlight, counted, occupied)
	}
	checkEndedFilter(t, e)
}

// checkEndedFilter: the remembered SYNs' buckets are marked exactly
// while they hold entries, and every entry is on its bucket's chain.
func checkEndedFilter(t testing.TB, e *Engine) {
	t.Helper()
	checkEndedMarks(t, &e.ended)
}

// filterCount is how many flows f counts at index h: 0 or 1 by its
// occupied bit, the kept count where several is set (at least 2).
func filterCount(t testing.TB, f *flowFilter, h uint16) uint32 {
	w, bit := h>>6, uint64(1)<<(h&63)
	switch {
	case f.several[w]&bit != 0:
		if f.occupied[w]&bit == 0 || f.counts[h] < 2 {
			t.Fatalf("flow filter at %d: several marked, occupied %v, count %d", h, f.occupied[w]&bit != 0, f.counts[h])
		}
		return f.counts[h]
	case f.occupied[w]&bit != 0:
		return 1
	}
	return 0
}

// FuzzICMPMatch feeds ICMP errors with arbitrary quotes at attempts in
// flight: matching must never panic and only ever decide an attempt whose
// SYN the quote names.
func FuzzICMPMatch(f *testing.F) {
	f.Add(uint8(3), uint8(3), false, uint8(0), uint8(1), uint16(40000), uint16(3306), uint32(1000), true, uint8(1))
	f.Add(uint8(1), uint8(4), true, uint8(4), uint8(5), uint16(40002), uint16(3306), uint32(1000), true, uint8(5))
	f.Add(uint8(3), uint8(1), false, uint8(0), uint8(1), uint16(40000), uint16(3306), uint32(0), false, uint8(0))
	f.Fuzz(func(t *testing.T, typ, code uint8, v6 bool, qs, qd uint8, qsp, qdp uint16, qseq uint32, hasSeq bool, from uint8) {
		s := newSim(t, Options{})
		k4 := s.conn(cli, srv)
		k4.SYN(0)
		k6 := s.conn(cli6, srv6)
		k6.SYN(0.1)
		src := fuzzEndpoints[int(from)%len(fuzzEndpoints)].Addr()
		quotedSrc := fuzzEndpoints[int(qs)%len(fuzzEndpoints)].Addr()
		quotedDst := fuzzEndpoints[int(qd)%len(fuzzEndpoints)].Addr()
		proto := uint8(event.ProtoICMP)
		if v6 {
			proto = event.ProtoICMPv6
		}
		s.feed(&event.Packet{Time: s.at(1), Proto: proto, Src: src, Dst: quotedSrc, ICMP: &event.ICMPError{
			V6: v6, Type: typ, Code: code, QuotedSrc: quotedSrc, QuotedDst: quotedDst, QuotedProto: event.ProtoTCP,
			QuotedSrcPort: qsp, QuotedDstPort: qdp, QuotedSeq: qseq, QuotedHasSeq: hasSeq}})
		s.feed(&event.Packet{Time: s.at(2), Proto: proto, Src: src, Dst: quotedSrc, ICMP: &event.ICMPError{
			V6: v6, Type: typ, Code: code, QuotedSrc: quotedSrc, QuotedDst: quotedDst, QuotedProto: event.ProtoUDP,
			QuotedSrcPort: qsp, QuotedDstPort: 53}})
		sum := s.close()
		checkInvariants(t, s.got, sum)
		for _, c := range s.got {
			for _, a := range c.Attempts {
				if a.Outcome != Unreachable {
					continue
				}
				match := a.Client == netip.AddrPortFrom(quotedSrc, qsp).String() && a.Server == netip.AddrPortFrom(quotedDst, qdp).String()
				if !match {
					t.Fatalf("attempt %s→%s decided by an ICMP quoting %s:%d→%s:%d", a.Client, a.Server, quotedSrc, qsp, quotedDst, qdp)
				}
				if hasSeq && a.SYNCount > 0 && qseq != 1000 {
					t.Fatalf("ICMP quoting seq %d decided the attempt", qseq)
				}
			}
		}
	})
}

// FuzzDNSTracking feeds arbitrary DNS payloads as queries and answers
// between a client and a server, then an attempt: no panic, consistent reports.
func FuzzDNSTracking(f *testing.F) {
	f.Add(dnsMsg(1, false, 0, "db.lab.test", dns.TypeA), dnsMsg(1, true, 0, "db.lab.test", dns.TypeA, ip("192.0.2.20")))
	f.Add(dnsMsg(2, false, 0, "nx.lab.test", dns.TypeAAAA), dnsMsg(2, true, 3, "nx.lab.test", dns.TypeAAAA))
	f.Fuzz(func(t *testing.T, q, r []byte) {
		s := newSim(t, Options{})
		s.udp(0, "192.0.2.10:5353", dnsS, q)
		s.udp(1, dnsS, "192.0.2.10:5353", r)
		// The same over TCP, with the length prefix.
		k := s.conn("192.0.2.10:40100", dnsS)
		k.handshake(2, 0.1)
		k.client(3, append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...))
		k.server(4, append(binary.BigEndian.AppendUint16(nil, uint16(len(r))), r...))
		c := s.conn(cli, srv)
		c.SYN(5)
		c.refuse(5.1)
		sum := s.close()
		checkInvariants(t, s.got, sum)
	})
}
