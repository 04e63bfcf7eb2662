package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// pkt describes a crafted Ethernet frame for the flow filter.
type pkt struct {
	src, dst     string // addresses decide IPv4 or IPv6
	proto        uint8  // 0: TCP
	sport, dport uint16
	flags        uint8 // TCP flags
	payload      int   // transport payload bytes
	icmpType     uint8
	fragOffset   uint16  // IPv4 fragment offset in 8-byte units
	v6ext        []uint8 // IPv6 extension headers (next-header values) before the transport header
	v6fragOffset uint16  // for an IPv6 fragment header in v6ext
	etherType    uint16  // override (e.g. ARP)
	truncate     int     // cut the frame to this many bytes
	ihl          uint8   // IPv4 header length override, in 32-bit words
}

const (
	synF = 0x02
	ackF = 0x10
	rstF = 0x04
	finF = 0x01
	pshF = 0x08
)

func (p pkt) frame() []byte {
	src, dst := netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst)
	proto := p.proto
	if proto == 0 {
		proto = unix.IPPROTO_TCP
	}
	var l4 []byte
	switch proto {
	case unix.IPPROTO_TCP:
		l4 = make([]byte, 20+p.payload)
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
		binary.BigEndian.PutUint32(l4[4:], 1000)
		l4[12] = 5 << 4
		l4[13] = p.flags
	case unix.IPPROTO_UDP:
		l4 = make([]byte, 8+p.payload)
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		l4 = make([]byte, 8+28)
		l4[0] = p.icmpType
	}

	eth := make([]byte, 14)
	eth[0] = 0x02 // a unicast MAC that is not the test device's: PACKET_OTHERHOST
	var ip []byte
	if src.Is4() {
		binary.BigEndian.PutUint16(eth[12:], unix.ETH_P_IP)
		ip = make([]byte, 20)
		ip[0] = 0x45
		if p.ihl != 0 {
			ip[0] = 0x40 | p.ihl
		}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		binary.BigEndian.PutUint16(ip[6:], p.fragOffset)
		ip[8] = 64
		ip[9] = proto
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
	} else {
		binary.BigEndian.PutUint16(eth[12:], unix.ETH_P_IPV6)
		var ext []byte
		for i, nh := range p.v6ext {
			next := proto
			if i+1 < len(p.v6ext) {
				next = p.v6ext[i+1]
			}
			h := make([]byte, 8)
			h[0] = next
			if nh == unix.IPPROTO_FRAGMENT {
				binary.BigEndian.PutUint16(h[2:], p.v6fragOffset<<3)
			}
			ext = append(ext, h...)
		}
		first := proto
		if len(p.v6ext) > 0 {
			first = p.v6ext[0]
		}
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ext)+len(l4)))
		ip[6] = first
		ip[7] = 64
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		ip = append(ip, ext...)
	}
	if p.etherType != 0 {
		binary.BigEndian.PutUint16(eth[12:], p.etherType)
	}
	f := append(append(eth, ip...), l4...)
	if p.truncate > 0 && p.truncate < len(f) {
		f = f[:p.truncate]
	}
	return f
}

const (
	cli  = "192.0.2.1"
	srv  = "192.0.2.2"
	cli6 = "2001:db8::1"
	srv6 = "2001:db8::2"
)

// Client -> server and server -> client segments of one connection.
func c2s(flags uint8, payload int) pkt {
	return pkt{src: cli, dst: srv, sport: 40000, dport: 3306, flags: flags, payload: payload}
}
func s2c(flags uint8, payload int) pkt {
	return pkt{src: srv, dst: cli, sport: 3306, dport: 40000, flags: flags, payload: payload}
}

type filterStep struct {
	name string
	pkt  pkt
	pass bool
}

func TestFlowFilterVerdicts(t *testing.T) {
	requireEBPF(t)
	const snap = 700
	cases := []struct {
		name  string
		opts  FlowFilterOptions
		steps []filterStep
	}{
		{
			name: "connection phase then budget",
			opts: FlowFilterOptions{Ports: []uint16{3306}, PayloadPackets: 4},
			steps: []filterStep{
				{"payload before any SYN", s2c(pshF|ackF, 100), false},
				{"SYN to the target port", c2s(synF, 0), true},
				{"SYN-ACK", s2c(synF|ackF, 0), true},
				{"handshake ACK", c2s(ackF, 0), true},
				{"greeting (payload 1)", s2c(pshF|ackF, 90), true},
				{"pure ACK in between", c2s(ackF, 0), true},
				{"handshake response (2)", c2s(pshF|ackF, 200), true},
				{"auth switch (3)", s2c(pshF|ackF, 40), true},
				{"OK packet (4): budget used up", s2c(pshF|ackF, 11), true},
				{"first query: established payload", c2s(pshF|ackF, 30), false},
				{"its pure ACK", s2c(ackF, 0), false},
				{"FIN on the target port", c2s(finF|ackF, 0), true},
				{"RST on the target port", s2c(rstF, 0), true},
			},
		},
		{
			name: "byte budget",
			opts: FlowFilterOptions{Ports: []uint16{3306}, PayloadBytes: 1000},
			steps: []filterStep{
				{"SYN", c2s(synF, 0), true},
				{"600 bytes", s2c(ackF, 600), true},
				{"500 bytes: crosses 1000", s2c(ackF, 500), true},
				{"more", s2c(ackF, 500), false},
			},
		},
		{
			name: "reset ends tracking",
			opts: FlowFilterOptions{Ports: []uint16{3306}},
			steps: []filterStep{
				{"SYN", c2s(synF, 0), true},
				{"RST from the server", s2c(rstF|ackF, 0), true},
				{"late payload", s2c(ackF, 10), false},
				{"SYN retransmit starts again", c2s(synF, 0), true},
				{"payload", s2c(ackF, 10), true},
			},
		},
		{
			// A connect that ends before the budget: FINs both ways end the
			// tracking (else the finished flow stays in the LRU map until
			// evicted); one FIN does not, the other side may still send.
			name: "a FIN each way ends tracking",
			opts: FlowFilterOptions{Ports: []uint16{3306}},
			steps: []filterStep{
				{"SYN", c2s(synF, 0), true},
				{"SYN-ACK", s2c(synF|ackF, 0), true},
				{"client FIN before any greeting", c2s(finF|ackF, 0), true},
				{"client FIN retransmitted", c2s(finF|ackF, 0), true},
				{"greeting after the client's FIN", s2c(pshF|ackF, 90), true},
				{"server FIN with its last bytes", s2c(finF|pshF|ackF, 20), true},
				{"payload after both FINs", s2c(ackF, 10), false},
				{"a FIN retransmitted later: control", s2c(finF|ackF, 0), true},
				{"SYN of a new connect on the 4-tuple", c2s(synF, 0), true},
				{"its greeting", s2c(pshF|ackF, 90), true},
			},
		},
		{
			name: "the server's FIN alone keeps tracking",
			opts: FlowFilterOptions{Ports: []uint16{3306}},
			steps: []filterStep{
				{"SYN", c2s(synF, 0), true},
				{"greeting and FIN", s2c(finF|pshF|ackF, 90), true},
				{"server FIN retransmitted", s2c(finF|ackF, 0), true},
				{"client's bytes after the server's FIN", c2s(pshF|ackF, 30), true},
				{"client FIN", c2s(finF|ackF, 0), true},
				{"client bytes after both FINs", c2s(ackF, 30), false},
			},
		},
		{
			name: "other ports with a port filter",
			opts: FlowFilterOptions{Ports: []uint16{3306}},
			steps: []filterStep{
				{"SYN to port 80", pkt{src: cli, dst: srv, sport: 40001, dport: 80, flags: synF}, false},
				{"RST from port 80", pkt{src: srv, dst: cli, sport: 80, dport: 40001, flags: rstF}, false},
				{"payload on port 80", pkt{src: srv, dst: cli, sport: 80, dport: 40001, flags: ackF, payload: 100}, false},
				{"RST from 3306 without a tracked flow", pkt{src: srv, dst: cli, sport: 3306, dport: 40002, flags: rstF}, true},
			},
		},
		{
			name: "every port without a port filter",
			opts: FlowFilterOptions{},
			steps: []filterStep{
				{"SYN to port 80", pkt{src: cli, dst: srv, sport: 40001, dport: 80, flags: synF}, true},
				{"payload on port 80", pkt{src: srv, dst: cli, sport: 80, dport: 40001, flags: ackF, payload: 100}, true},
				{"unrelated payload on port 443", pkt{src: srv, dst: cli, sport: 443, dport: 40009, flags: ackF, payload: 100}, false},
			},
		},
		{
			name: "IPv6 with extension headers",
			opts: FlowFilterOptions{Ports: []uint16{3306}},
			steps: []filterStep{
				{"SYN", pkt{src: cli6, dst: srv6, sport: 40000, dport: 3306, flags: synF}, true},
				{"SYN-ACK behind hop-by-hop and destination options", pkt{src: srv6, dst: cli6, sport: 3306, dport: 40000, flags: synF | ackF, v6ext: []uint8{unix.IPPROTO_HOPOPTS, unix.IPPROTO_DSTOPTS}}, true},
				{"greeting in a first fragment", pkt{src: srv6, dst: cli6, sport: 3306, dport: 40000, flags: ackF, payload: 50, v6ext: []uint8{unix.IPPROTO_FRAGMENT}}, true},
				{"a later fragment (no TCP header)", pkt{src: srv6, dst: cli6, sport: 3306, dport: 40000, flags: ackF, payload: 50, v6ext: []uint8{unix.IPPROTO_FRAGMENT}, v6fragOffset: 100}, false},
				{"payload", pkt{src: cli6, dst: srv6, sport: 40000, dport: 3306, flags: ackF, payload: 50}, true},
			},
		},
		{
			name: "ICMP, DNS and the rest",
			opts: FlowFilterOptions{Ports: []uint16{3306}},
			steps: []filterStep{
				{"ICMP port unreachable", pkt{src: srv, dst: cli, proto: unix.IPPROTO_ICMP, icmpType: 3}, true},
				{"ICMP time exceeded", pkt{src: srv, dst: cli, proto: unix.IPPROTO_ICMP, icmpType: 11}, true},
				{"ICMP echo request", pkt{src: srv, dst: cli, proto: unix.IPPROTO_ICMP, icmpType: 8}, false},
				{"ICMPv6 destination unreachable", pkt{src: srv6, dst: cli6, proto: unix.IPPROTO_ICMPV6, icmpType: 1}, true},
				{"ICMPv6 packet too big", pkt{src: srv6, dst: cli6, proto: unix.IPPROTO_ICMPV6, icmpType: 2}, true},
				{"ICMPv6 neighbour solicitation", pkt{src: srv6, dst: cli6, proto: unix.IPPROTO_ICMPV6, icmpType: 135}, false},
				{"DNS query", pkt{src: cli, dst: srv, proto: unix.IPPROTO_UDP, sport: 5353, dport: 53, payload: 30}, true},
				{"DNS answer over IPv6", pkt{src: srv6, dst: cli6, proto: unix.IPPROTO_UDP, sport: 53, dport: 5353, payload: 80}, true},
				{"DNS over TCP payload", pkt{src: srv, dst: cli, sport: 53, dport: 40100, flags: ackF, payload: 80}, true},
				{"other UDP", pkt{src: cli, dst: srv, proto: unix.IPPROTO_UDP, sport: 5000, dport: 123, payload: 48}, false},
				{"IPv4 non-first fragment", pkt{src: srv, dst: cli, sport: 3306, dport: 40000, flags: synF, fragOffset: 10}, false},
				{"ARP", pkt{src: cli, dst: srv, proto: unix.IPPROTO_UDP, etherType: unix.ETH_P_ARP}, false},
				// (BPF_PROG_TEST_RUN refuses frames shorter than an IPv4 header)
				{"IPv4 options beyond the frame", pkt{src: cli, dst: srv, sport: 40000, dport: 3306, flags: synF, ihl: 15}, false},
				{"truncated TCP header", pkt{src: cli, dst: srv, sport: 40000, dport: 3306, flags: synF, truncate: 14 + 20 + 8}, false},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.SnapLen = snap
			f, err := LoadFlowFilter(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, s := range tc.steps {
				ret, err := f.prog.Run(&ebpf.RunOptions{Data: s.pkt.frame()})
				if err != nil {
					t.Fatalf("%s: test run: %v", s.name, err)
				}
				want := uint32(0)
				if s.pass {
					want = snap
				}
				if ret != want {
					t.Errorf("%s: filter returned %d, want %d", s.name, ret, want)
				}
			}
		})
	}
}

func TestFlowFilterCounters(t *testing.T) {
	requireEBPF(t)
	f, err := LoadFlowFilter(FlowFilterOptions{Ports: []uint16{3306}, PayloadPackets: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range []pkt{
		c2s(synF, 0), s2c(synF|ackF, 0), s2c(ackF, 10), s2c(ackF, 10),
		{src: srv, dst: cli, proto: unix.IPPROTO_ICMP, icmpType: 3},
		{src: cli, dst: srv, proto: unix.IPPROTO_UDP, sport: 5353, dport: 53},
	} {
		if _, err := f.prog.Run(&ebpf.RunOptions{Data: p.frame()}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.Counters()
	if err != nil {
		t.Fatal(err)
	}
	// SYN: control, flow added. SYN-ACK and the first payload: flow (done
	// after 1 payload segment). Second payload: dropped.
	want := FlowFilterCounters{PassedControl: 1, PassedICMP: 1, PassedDNS: 1, PassedFlow: 2, Dropped: 1, FlowsAdded: 1, FlowsDone: 1}
	if got != want {
		t.Errorf("counters %+v, want %+v", got, want)
	}
}

// On a real AF_PACKET socket on lo: every packet once (the outgoing copy is
// dropped), the connection phase complete, the bulk transfer after it not
// copied at all - compared with an unfiltered socket on the same traffic.
func TestFlowFilterOnLoopback(t *testing.T) {
	requireEBPF(t)
	requireTools(t, "ip")
	ns := netns(fmt.Sprintf("csbpf-%d-lo", os.Getpid()))
	addNetns(t, ns)

	f, err := LoadFlowFilter(FlowFilterOptions{Ports: []uint16{3306}, PayloadPackets: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	filtered, err := openPacketSocket(ns, "lo")
	if err != nil {
		t.Fatal(err)
	}
	defer filtered.close()
	if err := unix.SetsockoptInt(filtered.fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, f.FD()); err != nil {
		t.Fatalf("SO_ATTACH_BPF: %v", err)
	}
	unfiltered, err := openPacketSocket(ns, "lo")
	if err != nil {
		t.Fatal(err)
	}
	defer unfiltered.close()

	// Server: greeting, read the client's 2 messages, then 50 KB of bulk.
	var ln net.Listener
	if err := ns.do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:3306"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const bulk = 50 * 1000
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(make([]byte, 90))
		buf := make([]byte, 64)
		io.ReadFull(c, buf[:32])
		io.ReadFull(c, buf[:16])
		for sent := 0; sent < bulk; sent += 1000 {
			c.Write(make([]byte, 1000))
			time.Sleep(time.Millisecond) // separate segments
		}
	}()
	if err := ns.do(func() error {
		c, err := net.Dial("tcp", "127.0.0.1:3306")
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 90)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		c.Write(make([]byte, 32))
		time.Sleep(time.Millisecond)
		c.Write(make([]byte, 16))
		_, err = io.Copy(io.Discard, io.LimitReader(c, bulk))
		return err
	}); err != nil {
		t.Fatal(err)
	}

	drain := func(p *packetSocket) (frames []tcpFrame) {
		for {
			fr, err := p.next()
			if errors.Is(err, unix.EAGAIN) {
				return frames
			}
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, fr)
		}
	}
	got, all := drain(filtered), drain(unfiltered)
	if len(all) < 2*50 {
		t.Fatalf("unfiltered socket saw only %d frames", len(all))
	}
	var outgoing, syn, synack, fin int
	for _, fr := range got {
		if fr.outgoing {
			outgoing++
		}
		switch {
		case fr.flags&(synF|ackF) == synF:
			syn++
		case fr.flags&(synF|ackF) == synF|ackF:
			synack++
		case fr.flags&finF != 0:
			fin++
		}
	}
	if outgoing != 0 || syn != 1 || synack != 1 || fin < 1 {
		t.Errorf("filtered: %d outgoing copies, %d SYN, %d SYN-ACK, %d FIN; want 0, 1, 1, >=1", outgoing, syn, synack, fin)
	}
	// The filter keeps the handshake, greeting, 2 client messages, the
	// first bulk segment (4th payload), the ACKs in between and the FINs.
	if len(got) > 20 || len(got)*4 > len(all) {
		t.Errorf("filtered socket copied %d frames of %d: bulk payload leaked", len(got), len(all))
	}
	c, err := f.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.DroppedLoopbackOut == 0 || c.Dropped == 0 || c.FlowsAdded != 1 || c.FlowsDone != 1 {
		t.Errorf("counters %+v", c)
	}
	t.Logf("lo: unfiltered %d frames, filtered %d; counters %+v", len(all), len(got), c)
}
