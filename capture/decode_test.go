package capture

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/connscope/connscope/event"
)

// exp is what a decoded frame must look like.
type exp struct {
	res          decodeResult
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
	flags        uint8
	seq, ack     uint32
	payload      string
	plen         int
	ipid         uint32
	hop          uint8
	iface        int
	icmp         *event.ICMPError
}

func checkDecode(t *testing.T, link uint16, frame []byte, wireLen int, want exp) {
	t.Helper()
	var dc decoder
	p := event.Packet{Interface: 0}
	if wireLen == 0 {
		wireLen = len(frame)
	}
	res := dc.decodeFrame(&p, link, frame, wireLen)
	if res != want.res {
		t.Fatalf("result = %v, want %v (packet %+v)", res, want.res, p)
	}
	if res != decoded {
		return
	}
	got := exp{res: res, src: p.Src, dst: p.Dst, proto: p.Proto, sport: p.SrcPort, dport: p.DstPort,
		flags: p.TCPFlags, seq: p.Seq, ack: p.Ack, payload: string(p.Payload), plen: p.PayloadLen,
		ipid: p.IPID, hop: p.HopLimit, iface: p.Interface, icmp: p.ICMP}
	if want.hop == 0 {
		got.hop = 0 // not checked
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n got  %+v\n want %+v", got, want)
		if got.icmp != nil && want.icmp != nil {
			t.Errorf("icmp\n got  %+v\n want %+v", *got.icmp, *want.icmp)
		}
	}
}

func TestDecodeLinkTypes(t *testing.T) {
	syn4 := tcpSeg{src: cli4, dst: srv4, sport: 40000, dport: 3306, seq: 1000, syn: true, window: 64240, ipid: 7}
	data6 := tcpSeg{src: srv6, dst: cli6, sport: 3306, dport: 40000, seq: 5000, ack: 1001, ackFlag: true, psh: true, payload: []byte("\x4a\x00\x00\x00\x0a11.4.2")}
	ip4 := syn4.ip(t)
	ip6 := data6.ip(t)
	want4 := exp{res: decoded, src: cli4, dst: srv4, proto: event.ProtoTCP, sport: 40000, dport: 3306,
		flags: event.TCPSyn, seq: 1000, ipid: 7, hop: 64}
	want6 := exp{res: decoded, src: srv6, dst: cli6, proto: event.ProtoTCP, sport: 3306, dport: 40000,
		flags: event.TCPAck | event.TCPPsh, seq: 5000, ack: 1001, payload: string(data6.payload), plen: len(data6.payload), hop: 64}
	with := func(e exp, iface int) exp { e.iface = iface; return e }

	le, be := binary.LittleEndian, binary.BigEndian
	cases := []struct {
		name  string
		link  uint16
		frame []byte
		want  exp
	}{
		{"ethernet v4", linkEthernet, ether(t, layers.EthernetTypeIPv4, ip4), want4},
		{"ethernet v6", linkEthernet, ether(t, layers.EthernetTypeIPv6, ip6), want6},
		{"802.1Q", linkEthernet, ether(t, layers.EthernetTypeIPv4, ip4, layers.EthernetTypeDot1Q), want4},
		{"QinQ 88a8", linkEthernet, ether(t, layers.EthernetTypeIPv6, ip6, layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q), want6},
		{"QinQ 9100", linkEthernet, ether(t, layers.EthernetTypeIPv4, ip4, 0x9100, layers.EthernetTypeDot1Q), want4},
		{"linux sll v4", linkSLL, sll(etherIPv4, ip4), want4},
		{"linux sll v6", linkSLL, sll(etherIPv6, ip6), want6},
		{"linux sll vlan", linkSLL, sll(etherVLAN, append([]byte{0, 100, 0x08, 0x00}, ip4...)), want4},
		{"linux sll2 v4", linkSLL2, sll2(etherIPv4, 7, ip4), with(want4, 7)},
		{"linux sll2 v6", linkSLL2, sll2(etherIPv6, 1, ip6), with(want6, 1)},
		{"raw 12 v4", linkRaw12, ip4, want4},
		{"raw 12 v6", linkRaw12, ip6, want6},
		{"raw 14 v4", linkRaw14, ip4, want4},
		{"raw 101 v6", linkRaw, ip6, want6},
		{"ipv4 228", linkIPv4, ip4, want4},
		{"ipv6 229", linkIPv6, ip6, want6},
		{"null LE inet", linkNull, bsdNull(le, 2, ip4), want4},
		{"null BE inet", linkNull, bsdNull(be, 2, ip4), want4},
		{"null LE inet6 linux", linkNull, bsdNull(le, 10, ip6), want6},
		{"null LE inet6 bsd", linkNull, bsdNull(le, 24, ip6), want6},
		{"null BE inet6 freebsd", linkNull, bsdNull(be, 28, ip6), want6},
		{"null LE inet6 darwin", linkNull, bsdNull(le, 30, ip6), want6},
		{"loop inet", linkLoop, bsdNull(be, 2, ip4), want4},
		{"loop inet6", linkLoop, bsdNull(be, 24, ip6), want6},
		{"pppoe", linkEthernet, ether(t, layers.EthernetTypePPPoESession, append([]byte{0x11, 0, 0, 1, 0, byte(len(ip4) + 2), 0x00, 0x21}, ip4...)), want4},
		{"ppp hdlc", linkPPP, append([]byte{0xff, 0x03, 0x00, 0x57}, ip6...), want6},
		{"ppp compressed", linkPPP, append([]byte{0x21}, ip4...), want4},
		{"cisco hdlc", linkCHDLC, append([]byte{0x0f, 0x00, 0x08, 0x00}, ip4...), want4},
		{"mpls", linkEthernet, ether(t, layers.EthernetTypeMPLSUnicast, append([]byte{0x01, 0x00, 0x01, 0x40}, ip4...)), want4},
		{"mpls two labels", linkEthernet, ether(t, layers.EthernetTypeMPLSUnicast, append([]byte{0x01, 0x00, 0x00, 0x40, 0x01, 0x00, 0x11, 0x40}, ip6...)), want6},

		{"arp", linkEthernet, ether(t, layers.EthernetTypeARP, make([]byte, 28)), exp{res: unsupported}},
		{"802.3 length", linkEthernet, ether(t, 46, make([]byte, 46)), exp{res: unsupported}},
		{"sll2 netlink", linkSLL2, func() []byte { f := sll2(etherIPv4, 1, ip4); f[9] = 0x38; f[8] = 0x03; return f }(), exp{res: unsupported}},
		{"null unknown family", linkNull, bsdNull(le, 7, ip4), exp{res: unsupported}},
		{"unknown link type", 147, ip4, exp{res: unsupported}},
		{"raw not ip", linkRaw, []byte{0x50, 0, 0, 0}, exp{res: malformed}},
		{"ethernet short", linkEthernet, make([]byte, 13), exp{res: malformed}},
		{"sll short", linkSLL, make([]byte, 15), exp{res: malformed}},
		{"sll2 short", linkSLL2, make([]byte, 19), exp{res: malformed}},
		{"vlan short", linkEthernet, append(make([]byte, 12), 0x81, 0x00, 0, 1), exp{res: malformed}},
		{"null short", linkNull, []byte{2, 0}, exp{res: malformed}},
		{"empty raw", linkRaw, nil, exp{res: malformed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkDecode(t, c.link, c.frame, 0, c.want) })
	}
}

func TestDecodeIP(t *testing.T) {
	seg := tcpSeg{src: cli4, dst: srv4, sport: 40000, dport: 3306, seq: 1, ackFlag: true, ack: 2, payload: []byte("0123456789"), ipid: 99}
	wantSeg := exp{res: decoded, src: cli4, dst: srv4, proto: event.ProtoTCP, sport: 40000, dport: 3306,
		flags: event.TCPAck, seq: 1, ack: 2, payload: "0123456789", plen: 10, ipid: 99}

	// A UDP DNS query padded to the Ethernet minimum: the padding is not payload.
	dns := udpIP(t, cli4, srv4, 53000, 53, []byte{1, 2, 3})
	padded := append(append([]byte(nil), dns...), make([]byte, 60-14-len(dns))...)

	tso := seg.ip(t)
	tso[2], tso[3] = 0, 0 // IPv4 total length 0: a TSO super-packet

	firstFrag := tcpSeg{src: cli4, dst: srv4, sport: 1, dport: 2, syn: true, fragMF: true, ipid: 5}.ip(t)
	laterFrag := tcpSeg{src: cli4, dst: srv4, sport: 1, dport: 2, syn: true, fragOffset: 185, ipid: 5}.ip(t)

	badIHL := seg.ip(t)
	badIHL[0] = 0x44
	badDataOffset := seg.ip(t)
	badDataOffset[20+12] = 0x40
	hugeDataOffset := seg.ip(t)
	hugeDataOffset[20+12] = 0xf0 // 60 bytes of header in a 30-byte segment
	udpShortLen := udpIP(t, cli4, srv4, 1, 2, []byte("abc"))
	udpShortLen[20+5] = 4
	udpLongLen := udpIP(t, cli4, srv4, 1, 2, []byte("abc"))
	udpLongLen[20+5] = 200
	udpJumbo := udpIP(t, cli4, srv4, 1, 2, []byte("abc"))
	udpJumbo[20+4], udpJumbo[20+5] = 0, 0

	// The IP length says more than the frame held on the wire: trust the frame.
	overlong := seg.ip(t)
	binary.BigEndian.PutUint16(overlong[2:4], 820)

	gre := seg.ip(t)
	gre[9] = 47
	echo := func() []byte {
		b := icmp4Error(t, srv4, cli4, 8, 0, make([]byte, 8))
		return b
	}()

	cases := []struct {
		name string
		ip   []byte
		keep int // captured bytes of the IP packet (snap length); 0: all
		want exp
	}{
		{"tcp", seg.ip(t), 0, wantSeg},
		{"tcp options", tcpSeg{src: cli4, dst: srv4, sport: 1, dport: 2, syn: true, extraTCPOptBytes: 12}.ip(t), 0,
			exp{res: decoded, src: cli4, dst: srv4, proto: event.ProtoTCP, sport: 1, dport: 2, flags: event.TCPSyn}},
		{"udp padded", padded, 0, exp{res: decoded, src: cli4, dst: srv4, proto: event.ProtoUDP, sport: 53000, dport: 53, payload: "\x01\x02\x03", plen: 3}},
		{"tso zero length", tso, 0, wantSeg},
		{"snap length cut", seg.ip(t), 20 + 20 + 4, func() exp { e := wantSeg; e.payload = "0123"; return e }()},
		{"snap length cuts tcp options", tcpSeg{src: cli4, dst: srv4, sport: 1, dport: 2, syn: true, extraTCPOptBytes: 12}.ip(t), 45,
			exp{res: decoded, src: cli4, dst: srv4, proto: event.ProtoTCP, sport: 1, dport: 2, flags: event.TCPSyn}},
		{"length beyond frame", overlong, 0, wantSeg},
		{"first fragment", firstFrag, 0, exp{res: decoded, src: cli4, dst: srv4, proto: event.ProtoTCP, sport: 1, dport: 2, flags: event.TCPSyn, ipid: 5}},
		{"later fragment", laterFrag, 0, exp{res: unsupported}},
		{"gre", gre, 0, exp{res: unsupported}},
		{"icmp echo", echo, 0, exp{res: unsupported}},
		{"ipv4 short", seg.ip(t)[:19], 0, exp{res: malformed}}, // the Ethernet padding is not an IP header either
		{"ipv4 bad ihl", badIHL, 0, exp{res: malformed}},
		{"tcp short", func() []byte { b := seg.ip(t)[:20+19]; b[2], b[3] = 0, 39; return b }(), 0, exp{res: malformed}},
		{"tcp data offset < 5", badDataOffset, 0, exp{res: malformed}},
		{"tcp data offset beyond segment", hugeDataOffset, 0, exp{res: malformed}},
		{"udp length < 8", udpShortLen, 0, exp{res: malformed}},
		{"udp length beyond ip", udpLongLen, 0, exp{res: malformed}},
		{"udp length 0", udpJumbo, 0, exp{res: decoded, src: cli4, dst: srv4, proto: event.ProtoUDP, sport: 1, dport: 2, payload: "abc", plen: 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frame := ether(t, layers.EthernetTypeIPv4, c.ip)
			wireLen := len(frame)
			if c.keep != 0 {
				frame = frame[:14+c.keep]
			}
			checkDecode(t, linkEthernet, frame, wireLen, c.want)
		})
	}
}

func TestDecodeIPv6ExtensionHeaders(t *testing.T) {
	seg := tcpSeg{src: cli6, dst: srv6, sport: 40000, dport: 3306, seq: 77, syn: true}
	tcp := seg.transport(t)
	want := exp{res: decoded, src: cli6, dst: srv6, proto: event.ProtoTCP, sport: 40000, dport: 3306, flags: event.TCPSyn, seq: 77, ipid: 0x12345}
	withID := func(id uint32) exp { e := want; e.ipid = id; return e }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	ah := make([]byte, 16)
	ah[0], ah[1] = 6, 2 // (2+2)*4 = 16 bytes

	cases := []struct {
		name string
		next uint8
		body []byte
		want exp
	}{
		{"none", 6, tcp, want},
		{"hop-by-hop", 0, cat(ext6(6, 1), tcp), want},
		{"hop-by-hop routing destination", 0, cat(ext6(43, 1), ext6(60, 3), ext6(6, 2), tcp), want},
		{"first fragment", 44, cat(frag6(6, 0, true, 0xabcdef01), tcp), withID(0xabcdef01)},
		{"destination then fragment", 60, cat(ext6(44, 1), frag6(6, 0, true, 42), tcp), withID(42)},
		{"authentication header", 51, cat(ah, tcp), want},
		{"later fragment", 44, cat(frag6(6, 100, false, 1), tcp[:16]), exp{res: unsupported}},
		{"no next header", 59, nil, exp{res: unsupported}},
		{"esp", 50, make([]byte, 32), exp{res: unsupported}},
		{"truncated extension", 0, ext6(6, 2)[:8], exp{res: malformed}},
		{"extension header only 1 byte", 43, []byte{6}, exp{res: malformed}},
		{"fragment header short", 44, make([]byte, 4), exp{res: malformed}},
		{"endless chain", 0, cat(ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1),
			ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1), ext6(0, 1)), exp{res: malformed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkDecode(t, linkRaw, ipv6Raw(cli6, srv6, c.next, 0x12345, c.body), 0, c.want)
		})
	}
}

func TestDecodeICMPErrors(t *testing.T) {
	syn4 := tcpSeg{src: cli4, dst: srv4, sport: 40000, dport: 3306, seq: 0xdeadbeef, syn: true}.ip(t)
	udp4 := udpIP(t, cli4, srv4, 53001, 53, []byte("query"))
	syn6 := tcpSeg{src: cli6, dst: srv6, sport: 40001, dport: 3306, seq: 0x01020304, syn: true}.ip(t)
	router4 := netip.MustParseAddr("10.0.0.254")
	router6 := netip.MustParseAddr("fd00::fe")

	full4 := &event.ICMPError{Type: 3, Code: 3, QuotedSrc: cli4, QuotedDst: srv4, QuotedProto: event.ProtoTCP,
		QuotedSrcPort: 40000, QuotedDstPort: 3306, QuotedSeq: 0xdeadbeef, QuotedHasSeq: true}
	withType := func(e *event.ICMPError, typ, code uint8) *event.ICMPError {
		c := *e
		c.Type, c.Code = typ, code
		return &c
	}
	noSeq := func(e *event.ICMPError) *event.ICMPError { c := *e; c.QuotedSeq, c.QuotedHasSeq = 0, false; return &c }
	noPorts := func(e *event.ICMPError) *event.ICMPError {
		c := *noSeq(e)
		c.QuotedSrcPort, c.QuotedDstPort = 0, 0
		return &c
	}
	full6 := &event.ICMPError{V6: true, Type: 1, Code: 4, QuotedSrc: cli6, QuotedDst: srv6, QuotedProto: event.ProtoTCP,
		QuotedSrcPort: 40001, QuotedDstPort: 3306, QuotedSeq: 0x01020304, QuotedHasSeq: true}

	// An IPv6 quote whose packet has a fragment header before TCP.
	tcp6 := tcpSeg{src: cli6, dst: srv6, sport: 40001, dport: 3306, seq: 0x01020304, syn: true}.transport(t)
	fragQuote := ipv6Raw(cli6, srv6, 44, 0, append(frag6(6, 0, true, 9), tcp6...))
	laterFragQuote := ipv6Raw(cli6, srv6, 44, 0, append(frag6(6, 3, false, 9), tcp6...))
	hbhQuote := ipv6Raw(cli6, srv6, 0, 0, append(ext6(6, 1), tcp6...))

	icmp4 := func(typ, code uint8, quote []byte) []byte { return icmp4Error(t, router4, cli4, typ, code, quote) }
	icmp6 := func(typ, code uint8, quote []byte) []byte { return icmp6Error(t, router6, cli6, typ, code, quote) }
	w4 := func(e *event.ICMPError) exp {
		return exp{res: decoded, src: router4, dst: cli4, proto: event.ProtoICMP, icmp: e}
	}
	w6 := func(e *event.ICMPError) exp {
		return exp{res: decoded, src: router6, dst: cli6, proto: event.ProtoICMPv6, icmp: e}
	}
	cases := []struct {
		name  string
		frame []byte
		want  exp
	}{
		{"port unreachable, full quote", icmp4(3, 3, syn4), w4(full4)},
		{"host unreachable, RFC 792 quote (8 bytes)", icmp4(3, 1, syn4[:28]), w4(withType(full4, 3, 1))},
		{"admin prohibited, 4-byte quote", icmp4(3, 13, syn4[:24]), w4(noSeq(withType(full4, 3, 13)))},
		{"time exceeded, header only", icmp4(11, 0, syn4[:20]), w4(noPorts(withType(full4, 11, 0)))},
		{"parameter problem, udp quote", icmp4(12, 0, udp4), w4(&event.ICMPError{Type: 12, QuotedSrc: cli4, QuotedDst: srv4, QuotedProto: event.ProtoUDP, QuotedSrcPort: 53001, QuotedDstPort: 53})},
		{"quote of a later fragment", icmp4(3, 4, func() []byte { q := append([]byte(nil), syn4...); q[6], q[7] = 0, 10; return q }()), w4(noPorts(withType(full4, 3, 4)))},
		{"quoted ip header truncated", icmp4(3, 3, syn4[:12]), exp{res: malformed}},
		{"no quote", icmp4(3, 3, nil), exp{res: malformed}},
		{"quote not ipv4", icmp4(3, 3, syn6), exp{res: malformed}},
		{"echo reply", icmp4(0, 0, make([]byte, 8)), exp{res: unsupported}},
		{"redirect", icmp4(5, 1, syn4), exp{res: unsupported}},

		{"v6 admin prohibited? no: port unreachable", icmp6(1, 4, syn6), w6(full6)},
		{"v6 packet too big", icmp6(2, 0, syn6[:48]), w6(withType(full6, 2, 0))},
		{"v6 time exceeded, header only", icmp6(3, 0, syn6[:40]), w6(noPorts(withType(full6, 3, 0)))},
		{"v6 parameter problem, 4 transport bytes", icmp6(4, 0, syn6[:44]), w6(noSeq(withType(full6, 4, 0)))},
		{"v6 quote with fragment header", icmp6(1, 0, fragQuote), w6(withType(full6, 1, 0))},
		{"v6 quote of a later fragment", icmp6(1, 0, laterFragQuote), w6(noPorts(withType(full6, 1, 0)))},
		{"v6 quote with hop-by-hop", icmp6(1, 1, hbhQuote), w6(withType(full6, 1, 1))},
		{"v6 quote cut inside extension header", icmp6(1, 1, hbhQuote[:44]), w6(noPorts(withType(full6, 1, 1)))},
		{"v6 quote cut before extension header", icmp6(1, 1, hbhQuote[:40]), w6(func() *event.ICMPError {
			c := noPorts(withType(full6, 1, 1))
			c.QuotedProto = 0 // hop-by-hop: the quote ends before the transport
			return c
		}())},
		{"v6 quoted header truncated", icmp6(1, 0, syn6[:30]), exp{res: malformed}},
		{"v6 echo request", icmp6Error(t, router6, cli6, 128, 0, nil), exp{res: unsupported}},
		{"v6 neighbour solicitation", icmp6Error(t, router6, cli6, 135, 0, make([]byte, 20)), exp{res: unsupported}},
		{"icmp header short", func() []byte { b := icmp4(3, 3, nil); b[3] = 24; return b[:24] }(), exp{res: malformed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkDecode(t, linkRaw, c.frame, 0, c.want)
		})
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	frames := [][]byte{
		sll2(etherIPv4, 3, tcpSeg{src: cli4, dst: srv4, sport: 1, dport: 2, syn: true}.ip(t)),
		sll2(etherIPv6, 3, tcpSeg{src: cli6, dst: srv6, sport: 1, dport: 2, payload: []byte("x")}.ip(t)),
		sll2(etherIPv4, 3, icmp4Error(t, srv4, cli4, 3, 3, tcpSeg{src: cli4, dst: srv4, sport: 1, dport: 2, syn: true}.ip(t))),
	}
	var dc decoder
	var p event.Packet
	allocs := testing.AllocsPerRun(1000, func() {
		for _, f := range frames {
			p = event.Packet{}
			if dc.decodeFrame(&p, linkSLL2, f, len(f)) != decoded {
				t.Fatal("not decoded")
			}
		}
	})
	if allocs != 0 {
		t.Errorf("decodeFrame allocates %.1f times per run, want 0", allocs)
	}
}
