package capture

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// The x/net/bpf VM implements no ancillary loads, so the tests build the
// same program with the three ancillary values read from a 12-byte prefix
// instead (protocol, packet type, device type), the packet after it.
var testAncillary = ancillary{
	load: func(e bpf.Extension) bpf.Instruction {
		switch e {
		case bpf.ExtProto:
			return bpf.LoadAbsolute{Off: 0, Size: 4}
		case bpf.ExtType:
			return bpf.LoadAbsolute{Off: 4, Size: 4}
		case bpf.ExtLinkLayerType:
			return bpf.LoadAbsolute{Off: 8, Size: 4}
		}
		panic("unexpected extension")
	},
	base: 12,
}

type sockMeta struct {
	proto   uint32 // ethertype
	pktType uint32 // PACKET_HOST 0, PACKET_OUTGOING 4
	hatype  uint32 // ARPHRD_ETHER 1, ARPHRD_LOOPBACK 772
}

var (
	ethIn  = sockMeta{etherTypeIPv4, 0, 1}
	ethOut = sockMeta{etherTypeIPv4, packetOutgoing, 1}
	loIn   = sockMeta{etherTypeIPv4, 0, arphrdLoopback}
	loOut  = sockMeta{etherTypeIPv4, packetOutgoing, arphrdLoopback}
	eth6   = sockMeta{etherTypeIPv6, 0, 1}
)

func runFilter(t *testing.T, vm *bpf.VM, m sockMeta, pkt []byte) int {
	t.Helper()
	in := make([]byte, 12, 12+len(pkt))
	binary.BigEndian.PutUint32(in[0:4], m.proto)
	binary.BigEndian.PutUint32(in[4:8], m.pktType)
	binary.BigEndian.PutUint32(in[8:12], m.hatype)
	n, err := vm.Run(append(in, pkt...))
	if err != nil {
		t.Fatalf("filter: %v", err)
	}
	return n
}

func TestClassicFilter(t *testing.T) {
	prog, err := classicFilter([]uint16{3306, 5432}, 0, testAncillary)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	lo4 := netip.MustParseAddr("127.0.0.1")
	payload := []byte("\x5b\x00\x00\x00\x0a11.4.2-MariaDB")
	seg4 := func(s tcpSeg) []byte { s.src, s.dst = cli4, srv4; return s.ip(t) }
	seg6 := func(s tcpSeg) []byte { s.src, s.dst = cli6, srv6; return s.ip(t) }
	withOptions := func(b []byte) []byte {
		// Insert 4 bytes of IPv4 options (NOPs): header length 24.
		out := append([]byte(nil), b[:20]...)
		out = append(out, 1, 1, 1, 1)
		out = append(out, b[20:]...)
		out[0] = 0x46
		binary.BigEndian.PutUint16(out[2:4], uint16(len(out)))
		return out
	}
	laterFrag := seg4(tcpSeg{sport: 3306, dport: 40000, ackFlag: true, payload: payload, fragOffset: 100})
	firstFrag := seg4(tcpSeg{sport: 40000, dport: 80, syn: true, fragMF: true})
	tcp6 := tcpSeg{src: cli6, dst: srv6, sport: 40000, dport: 5001, ackFlag: true, payload: payload}.transport(t)

	const (
		drop = 0
		tcp  = DefaultSnapLen
		dns  = snapDNS
		icmp = snapICMP
	)
	cases := []struct {
		name string
		meta sockMeta
		pkt  []byte
		want int
	}{
		{"SYN any port", ethIn, seg4(tcpSeg{sport: 40000, dport: 8080, syn: true}), tcp},
		{"SYN-ACK", ethIn, seg4(tcpSeg{sport: 8080, dport: 40000, syn: true, ackFlag: true}), tcp},
		{"RST", ethIn, seg4(tcpSeg{sport: 5001, dport: 40000, rst: true, ackFlag: true}), tcp},
		{"FIN with data, other port", ethIn, seg4(tcpSeg{sport: 5001, dport: 40000, fin: true, ackFlag: true, payload: payload}), tcp},
		{"greeting from 3306", ethIn, seg4(tcpSeg{sport: 3306, dport: 40000, ackFlag: true, psh: true, payload: payload}), tcp},
		{"login to 3306", ethOut, seg4(tcpSeg{sport: 40000, dport: 3306, ackFlag: true, payload: payload}), tcp},
		{"payload on second port", ethIn, seg4(tcpSeg{sport: 40000, dport: 5432, ackFlag: true, payload: payload}), tcp},
		{"pure ACK on 3306", ethIn, seg4(tcpSeg{sport: 40000, dport: 3306, ackFlag: true}), drop},
		{"bulk on another port", ethIn, seg4(tcpSeg{sport: 5001, dport: 40000, ackFlag: true, payload: payload}), drop},
		{"pure ACK elsewhere", ethIn, seg4(tcpSeg{sport: 5001, dport: 40000, ackFlag: true}), drop},
		{"ip options, payload on 3306", ethIn, withOptions(seg4(tcpSeg{sport: 3306, dport: 40000, ackFlag: true, payload: payload})), tcp},
		{"ip options, pure ACK on 3306", ethIn, withOptions(seg4(tcpSeg{sport: 3306, dport: 40000, ackFlag: true})), drop},
		{"tcp options, pure ACK on 3306", ethIn, seg4(tcpSeg{sport: 3306, dport: 40000, ackFlag: true, extraTCPOptBytes: 12}), drop},
		{"later fragment", ethIn, laterFrag, drop},
		{"first fragment", ethIn, firstFrag, tcp},
		{"dns query", ethOut, udpIP(t, cli4, srv4, 40000, 53, []byte("q")), dns},
		{"dns answer", ethIn, udpIP(t, srv4, cli4, 53, 40000, []byte("a")), dns},
		{"dns over tcp, pure ACK", ethIn, seg4(tcpSeg{sport: 40000, dport: 53, ackFlag: true}), dns},
		{"mdns", ethIn, udpIP(t, cli4, srv4, 5353, 5353, []byte("m")), drop},
		{"other udp", ethIn, udpIP(t, cli4, srv4, 40000, 9999, []byte("u")), drop},
		{"icmp port unreachable", ethIn, icmp4Error(t, srv4, cli4, 3, 3, seg4(tcpSeg{sport: 1, dport: 2, syn: true})), icmp},
		{"icmp time exceeded", ethIn, icmp4Error(t, srv4, cli4, 11, 0, seg4(tcpSeg{sport: 1, dport: 2, syn: true})), icmp},
		{"icmp parameter problem", ethIn, icmp4Error(t, srv4, cli4, 12, 0, seg4(tcpSeg{sport: 1, dport: 2, syn: true})), icmp},
		{"icmp echo", ethIn, icmp4Error(t, srv4, cli4, 8, 0, make([]byte, 8)), drop},
		{"icmp redirect", ethIn, icmp4Error(t, srv4, cli4, 5, 0, make([]byte, 28)), drop},
		{"gre", ethIn, func() []byte { b := seg4(tcpSeg{sport: 1, dport: 2, syn: true}); b[9] = 47; return b }(), drop},
		{"arp", sockMeta{0x0806, 0, 1}, make([]byte, 28), drop},
		{"truncated", ethIn, seg4(tcpSeg{sport: 1, dport: 2, syn: true})[:30], drop},

		{"loopback incoming SYN", loIn, tcpSeg{src: lo4, dst: lo4, sport: 40000, dport: 3306, syn: true}.ip(t), tcp},
		{"loopback outgoing SYN", loOut, tcpSeg{src: lo4, dst: lo4, sport: 40000, dport: 3306, syn: true}.ip(t), drop},
		{"loopback outgoing DNS", loOut, udpIP(t, lo4, lo4, 40000, 53, []byte("q")), drop},
		{"ethernet outgoing SYN", ethOut, seg4(tcpSeg{sport: 40000, dport: 3306, syn: true}), tcp},

		{"v6 SYN", eth6, seg6(tcpSeg{sport: 40000, dport: 3306, syn: true}), tcp},
		{"v6 greeting", eth6, seg6(tcpSeg{sport: 3306, dport: 40000, ackFlag: true, payload: payload}), tcp},
		{"v6 pure ACK on 3306", eth6, seg6(tcpSeg{sport: 3306, dport: 40000, ackFlag: true}), drop},
		{"v6 bulk elsewhere", eth6, seg6(tcpSeg{sport: 5001, dport: 40000, ackFlag: true, payload: payload}), drop},
		{"v6 dns", eth6, udpIP(t, cli6, srv6, 40000, 53, []byte("q")), dns},
		{"v6 unreachable", eth6, icmp6Error(t, srv6, cli6, 1, 4, seg6(tcpSeg{sport: 1, dport: 2, syn: true})), icmp},
		{"v6 packet too big", eth6, icmp6Error(t, srv6, cli6, 2, 0, seg6(tcpSeg{sport: 1, dport: 2, syn: true})), icmp},
		{"v6 parameter problem", eth6, icmp6Error(t, srv6, cli6, 4, 0, seg6(tcpSeg{sport: 1, dport: 2, syn: true})), icmp},
		{"v6 echo", eth6, icmp6Error(t, srv6, cli6, 128, 0, nil), drop},
		{"v6 neighbour solicitation", eth6, icmp6Error(t, srv6, cli6, 135, 0, make([]byte, 20)), drop},
		{"v6 hop-by-hop (let through)", eth6, ipv6Raw(cli6, srv6, 0, 0, append(ext6(6, 1), tcp6...)), tcp},
		{"v6 fragment (let through)", eth6, ipv6Raw(cli6, srv6, 44, 0, append(frag6(6, 0, true, 1), tcp6...)), tcp},
		{"v6 no next header", eth6, ipv6Raw(cli6, srv6, 59, 0, nil), drop},
		{"v6 loopback outgoing", sockMeta{etherTypeIPv6, packetOutgoing, arphrdLoopback}, seg6(tcpSeg{sport: 1, dport: 2, syn: true}), drop},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := runFilter(t, vm, c.meta, c.pkt); got != c.want {
				t.Errorf("filter returned %d, want %d", got, c.want)
			}
		})
	}
}

func TestClassicFilterOptions(t *testing.T) {
	payload := tcpSeg{src: cli4, dst: srv4, sport: 40000, dport: 3306, ackFlag: true, payload: []byte("x")}.ip(t)
	// One port, snap 300.
	prog, err := classicFilter([]uint16{3306}, 300, testAncillary)
	if err != nil {
		t.Fatal(err)
	}
	vm, _ := bpf.NewVM(prog)
	if got := runFilter(t, vm, ethIn, payload); got != 300 {
		t.Errorf("port 3306, snap 300: got %d", got)
	}
	// The most ports allowed still assembles (every jump in range) and matches the last one.
	ports := make([]uint16, maxPayloadPorts)
	for i := range ports {
		ports[i] = uint16(10000 + i)
	}
	prog, err = classicFilter(ports, 0, testAncillary)
	if err != nil {
		t.Fatal(err)
	}
	vm, _ = bpf.NewVM(prog)
	last := tcpSeg{src: cli4, dst: srv4, sport: 40000, dport: ports[len(ports)-1], ackFlag: true, payload: []byte("x")}.ip(t)
	if got := runFilter(t, vm, ethIn, last); got != DefaultSnapLen {
		t.Errorf("last of %d ports: got %d", len(ports), got)
	}
	if got := runFilter(t, vm, ethIn, payload); got != 0 {
		t.Errorf("3306 not in the list: got %d", got)
	}
	if _, err := classicFilter(make([]uint16, maxPayloadPorts+1), 0, testAncillary); err == nil {
		t.Error("too many ports accepted")
	}
	if _, err := classicFilter([]uint16{3306}, 64, testAncillary); err == nil {
		t.Error("tiny snap length accepted")
	}
	if _, err := classicFilter(nil, 0, testAncillary); err == nil || !strings.Contains(err.Error(), "no payload ports") {
		t.Errorf("no payload ports: err %v, want an error naming the missing ports", err)
	}
	// The kernel form assembles.
	raw, err := ClassicFilter([]uint16{3306}, 0)
	if err != nil || len(raw) == 0 {
		t.Fatalf("ClassicFilter: %d instructions, %v", len(raw), err)
	}
	t.Logf("classic filter: %d instructions with one payload port", len(raw))
}
