package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Frame builders for tests. IP and transport layers are serialized by
// gopacket (so they are built by an independent implementation); link
// headers gopacket cannot serialize (cooked v1/v2, OpenBSD loopback) and
// IPv6 extension headers are built by hand.

var (
	cli4 = netip.MustParseAddr("10.0.0.1")
	srv4 = netip.MustParseAddr("10.0.0.2")
	cli6 = netip.MustParseAddr("fd00::1")
	srv6 = netip.MustParseAddr("fd00::2")
)

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

type tcpSeg struct {
	src, dst         netip.Addr
	sport, dport     uint16
	seq, ack         uint32
	syn, ackFlag     bool
	rst, fin, psh    bool
	window           uint16
	payload          []byte
	ipid             uint16
	ttl              uint8
	fragMF           bool   // IPv4 "more fragments"
	fragOffset       uint16 // IPv4 fragment offset (8-byte units)
	extraTCPOptBytes int    // NOP options to grow the TCP header
}

func (s tcpSeg) tcpLayer() *layers.TCP {
	t := &layers.TCP{
		SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport),
		Seq: s.seq, Ack: s.ack, SYN: s.syn, ACK: s.ackFlag, RST: s.rst, FIN: s.fin, PSH: s.psh,
		Window: s.window,
	}
	for i := 0; i < s.extraTCPOptBytes; i++ {
		t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1})
	}
	return t
}

// ip returns the IP packet (IPv4 or IPv6 by address family) carrying s.
func (s tcpSeg) ip(tb testing.TB) []byte {
	t := s.tcpLayer()
	ttl := s.ttl
	if ttl == 0 {
		ttl = 64
	}
	if s.src.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP(s.src.AsSlice()), DstIP: net.IP(s.dst.AsSlice()), Id: s.ipid,
			FragOffset: s.fragOffset}
		if s.fragMF {
			ip.Flags = layers.IPv4MoreFragments
		}
		t.SetNetworkLayerForChecksum(ip)
		return serialize(tb, ip, t, gopacket.Payload(s.payload))
	}
	ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.IP(s.src.AsSlice()), DstIP: net.IP(s.dst.AsSlice())}
	t.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ip, t, gopacket.Payload(s.payload))
}

// transport returns only the TCP header and payload (for hand-built IPv6
// extension chains).
func (s tcpSeg) transport(tb testing.TB) []byte {
	t := s.tcpLayer()
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.IP(s.src.AsSlice()), DstIP: net.IP(s.dst.AsSlice())}
	t.SetNetworkLayerForChecksum(ip)
	return serialize(tb, t, gopacket.Payload(s.payload))
}

func udpIP(tb testing.TB, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		u.SetNetworkLayerForChecksum(ip)
		return serialize(tb, ip, u, gopacket.Payload(payload))
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ip, u, gopacket.Payload(payload))
}

// icmp4Error returns an IPv4 ICMP error from `from` to `to` quoting quote.
func icmp4Error(tb testing.TB, from, to netip.Addr, typ, code uint8, quote []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4,
		SrcIP: net.IP(from.AsSlice()), DstIP: net.IP(to.AsSlice())}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	return serialize(tb, ip, ic, gopacket.Payload(quote))
}

// icmp6Error returns an ICMPv6 error; the 4 bytes after the checksum (MTU,
// pointer or unused) are zero.
func icmp6Error(tb testing.TB, from, to netip.Addr, typ, code uint8, quote []byte) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: net.IP(from.AsSlice()), DstIP: net.IP(to.AsSlice())}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	ic.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ip, ic, gopacket.Payload(append(make([]byte, 4), quote...)))
}

// ipv6Raw builds an IPv6 packet by hand around an already-built payload
// (extension headers + transport).
func ipv6Raw(src, dst netip.Addr, next uint8, flow uint32, payload []byte) []byte {
	h := make([]byte, 40, 40+len(payload))
	binary.BigEndian.PutUint32(h[0:4], 6<<28|flow&0xfffff)
	binary.BigEndian.PutUint16(h[4:6], uint16(len(payload)))
	h[6] = next
	h[7] = 64
	s, d := src.As16(), dst.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	return append(h, payload...)
}

// ext6 builds a generic IPv6 extension header (hop-by-hop, routing,
// destination options) of 8*(units) bytes.
func ext6(next uint8, units int) []byte {
	h := make([]byte, 8*units)
	h[0] = next
	h[1] = uint8(units - 1)
	if len(h) > 2 {
		h[2] = 1 // PadN option over the rest
		h[3] = uint8(len(h) - 4)
	}
	return h
}

func frag6(next uint8, offset uint16, more bool, id uint32) []byte {
	h := make([]byte, 8)
	h[0] = next
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:4], v)
	binary.BigEndian.PutUint32(h[4:8], id)
	return h
}

// Link-layer wrappers.

func ether(tb testing.TB, etherType layers.EthernetType, l3 []byte, vlans ...layers.EthernetType) []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: etherType}
	ls := []gopacket.SerializableLayer{eth}
	if len(vlans) > 0 {
		// vlans[i] is the TPID of tag i; the last tag carries etherType.
		eth.EthernetType = vlans[0]
		for i := range vlans {
			next := etherType
			if i+1 < len(vlans) {
				next = vlans[i+1]
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(100 + i), Type: next})
		}
	}
	ls = append(ls, gopacket.Payload(l3))
	return serialize(tb, ls...)
}

func sll(proto uint16, l3 []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:2], 4)   // sent by us
	binary.BigEndian.PutUint16(h[2:4], 1)   // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:6], 6)   // address length
	copy(h[6:12], []byte{2, 0, 0, 0, 0, 1}) // address
	binary.BigEndian.PutUint16(h[14:16], proto)
	return append(h, l3...)
}

func sll2(proto uint16, ifindex uint32, l3 []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:2], proto)
	binary.BigEndian.PutUint32(h[4:8], ifindex)
	binary.BigEndian.PutUint16(h[8:10], 1) // ARPHRD_ETHER
	h[10] = 0                              // to us
	h[11] = 6
	copy(h[12:18], []byte{2, 0, 0, 0, 0, 1})
	return append(h, l3...)
}

func bsdNull(order binary.ByteOrder, family uint32, l3 []byte) []byte {
	h := make([]byte, 4)
	order.PutUint32(h, family)
	return append(h, l3...)
}

// Capture files.

type rec struct {
	ts      time.Time
	iface   int
	data    []byte
	wireLen int      // 0: len(data)
	options [][]byte // raw pcapng option values to add as comments
}

func pcapFile(order binary.ByteOrder, nanos bool, link uint16, recs []rec) []byte {
	var b bytes.Buffer
	h := make([]byte, 24)
	magic := uint32(pcapMicro)
	if nanos {
		magic = pcapNano
	}
	order.PutUint32(h[0:4], magic)
	order.PutUint16(h[4:6], 2)
	order.PutUint16(h[6:8], 4)
	order.PutUint32(h[16:20], 65535)
	order.PutUint32(h[20:24], uint32(link))
	b.Write(h)
	for _, r := range recs {
		rh := make([]byte, 16)
		order.PutUint32(rh[0:4], uint32(r.ts.Unix()))
		frac := uint32(r.ts.Nanosecond())
		if !nanos {
			frac /= 1000
		}
		order.PutUint32(rh[4:8], frac)
		order.PutUint32(rh[8:12], uint32(len(r.data)))
		wl := r.wireLen
		if wl == 0 {
			wl = len(r.data)
		}
		order.PutUint32(rh[12:16], uint32(wl))
		b.Write(rh)
		b.Write(r.data)
	}
	return b.Bytes()
}

// ngBuilder writes pcapng blocks by hand (any byte order, any block).
type ngBuilder struct {
	order binary.ByteOrder
	b     bytes.Buffer
}

func ngOption(order binary.ByteOrder, code uint16, val []byte) []byte {
	o := make([]byte, 4, 4+len(val)+3)
	order.PutUint16(o[0:2], code)
	order.PutUint16(o[2:4], uint16(len(val)))
	o = append(o, val...)
	for len(o)%4 != 0 {
		o = append(o, 0)
	}
	return o
}

func (n *ngBuilder) block(typ uint32, body []byte) {
	l := uint32(12 + len(body))
	h := make([]byte, 8)
	n.order.PutUint32(h[0:4], typ)
	n.order.PutUint32(h[4:8], l)
	n.b.Write(h)
	n.b.Write(body)
	t := make([]byte, 4)
	n.order.PutUint32(t, l)
	n.b.Write(t)
}

func (n *ngBuilder) section(comment string) {
	body := make([]byte, 16)
	n.order.PutUint32(body[0:4], pcapngByteOrder)
	n.order.PutUint16(body[4:6], 1)
	binary.LittleEndian.PutUint64(body[8:16], ^uint64(0))
	if comment != "" {
		body = append(body, ngOption(n.order, optComment, []byte(comment))...)
		body = append(body, 0, 0, 0, 0)
	}
	n.block(pcapngSHB, body)
}

// iface adds an IDB; tsresol 0 means the default (microseconds).
func (n *ngBuilder) iface(link uint16, name string, tsresol uint8) {
	body := make([]byte, 8)
	n.order.PutUint16(body[0:2], link)
	n.order.PutUint32(body[4:8], 262144)
	if name != "" {
		body = append(body, ngOption(n.order, optIfName, []byte(name))...)
	}
	if tsresol != 0 {
		body = append(body, ngOption(n.order, optIfTsResol, []byte{tsresol})...)
	}
	body = append(body, 0, 0, 0, 0)
	n.block(pcapngIDB, body)
}

// epb adds an enhanced packet block; units is the interface's timestamp
// units per second.
func (n *ngBuilder) epb(r rec, units uint64) {
	body := make([]byte, 20)
	n.order.PutUint32(body[0:4], uint32(r.iface))
	ts := uint64(r.ts.Unix())*units + uint64(r.ts.Nanosecond())*units/1e9
	n.order.PutUint32(body[4:8], uint32(ts>>32))
	n.order.PutUint32(body[8:12], uint32(ts))
	n.order.PutUint32(body[12:16], uint32(len(r.data)))
	wl := r.wireLen
	if wl == 0 {
		wl = len(r.data)
	}
	n.order.PutUint32(body[16:20], uint32(wl))
	body = append(body, r.data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	for _, c := range r.options {
		body = append(body, ngOption(n.order, optComment, c)...)
	}
	if len(r.options) > 0 {
		body = append(body, 0, 0, 0, 0)
	}
	n.block(pcapngEPB, body)
}

func (n *ngBuilder) spb(data []byte) {
	body := make([]byte, 4)
	n.order.PutUint32(body, uint32(len(data)))
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n.block(pcapngSPB, body)
}

func (n *ngBuilder) isb(iface uint32, ifdrop uint64) {
	body := make([]byte, 12)
	n.order.PutUint32(body[0:4], iface)
	v := make([]byte, 8)
	n.order.PutUint64(v, ifdrop)
	body = append(body, ngOption(n.order, optIsbIfDrop, v)...)
	body = append(body, 0, 0, 0, 0)
	n.block(pcapngISB, body)
}

func gzipBytes(tb testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}
