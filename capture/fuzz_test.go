package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/connscope/connscope/event"
)

// corpusSeeds returns small files of the tcpdump corpus as fuzz seeds (none
// when the corpus is absent: the synthetic seeds still run).
func corpusSeeds(maxSize int64, maxFiles int) [][]byte {
	dir, err := os.Getwd()
	if err != nil {
		return nil
	}
	for {
		c := filepath.Join(dir, "shared", "corpus", "tcpdump")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			dir = c
			break
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
		dir = filepath.Dir(dir)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	var seeds [][]byte
	for _, f := range m {
		if st, err := os.Stat(f); err != nil || st.Size() > maxSize {
			continue
		}
		if b, err := os.ReadFile(f); err == nil {
			seeds = append(seeds, b)
		}
		if len(seeds) >= maxFiles {
			break
		}
	}
	return seeds
}

func syntheticFileSeeds(tb testing.TB) [][]byte {
	recs := testRecords(tb)[:2]
	ip := tcpSeg{src: cli4, dst: srv4, sport: 1, dport: 2, syn: true}.ip(tb)
	n := &ngBuilder{order: binary.BigEndian}
	n.section("section")
	n.iface(linkSLL2, "any", 9)
	n.iface(linkRaw, "tun", 0x80|10)
	n.epb(rec{ts: t0, iface: 0, data: sll2(etherIPv4, 3, ip), options: [][]byte{[]byte(ProcessComment(event.Process{PID: 1, Comm: "a b"}))}}, 1e9)
	n.epb(rec{ts: t0, iface: 1, data: ip}, 1024)
	n.spb(sll2(etherIPv4, 3, ip))
	n.isb(0, 5)
	pcap := pcapFile(binary.LittleEndian, false, linkEthernet, recs)
	return [][]byte{
		pcap,
		pcapFile(binary.BigEndian, true, linkSLL, []rec{{ts: t0, data: sll(etherIPv6, tcpSeg{src: cli6, dst: srv6, sport: 1, dport: 2, syn: true}.ip(tb))}}),
		n.b.Bytes(),
		gzipBytes(tb, pcap),
		gzipBytes(tb, n.b.Bytes()),
	}
}

// FuzzReader feeds whole files (pcap, pcapng, gzip) to the reader.
func FuzzReader(f *testing.F) {
	for _, s := range syntheticFileSeeds(f) {
		f.Add(s)
	}
	for _, s := range corpusSeeds(512, 200) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			if r != nil {
				t.Fatal("reader and error")
			}
			return
		}
		var lastNumber uint64
		lastOffset := int64(-1)
		var decodedCount uint64
		for i := 0; ; i++ {
			if i > len(data)+10 {
				t.Fatalf("more packets than bytes: the reader does not terminate")
			}
			p, err := r.Next()
			if err != nil {
				if again, _ := r.Next(); again != nil {
					t.Fatal("Next returned a packet after an error")
				}
				if err != io.EOF && r.Stats().Err == "" {
					t.Errorf("error %v not in Stats.Err", err)
				}
				break
			}
			decodedCount++
			if p.Number <= lastNumber || p.Offset <= lastOffset {
				t.Fatalf("packet %d at %d after packet %d at %d", p.Number, p.Offset, lastNumber, lastOffset)
			}
			lastNumber, lastOffset = p.Number, p.Offset
			checkPacket(t, p)
		}
		st := r.Stats()
		if st.Packets != decodedCount+st.Malformed+st.Unsupported {
			t.Errorf("stats do not add up: %+v, %d decoded", st, decodedCount)
		}
	})
}

func checkPacket(t *testing.T, p *event.Packet) {
	t.Helper()
	switch p.Proto {
	case event.ProtoTCP, event.ProtoUDP:
		if p.ICMP != nil {
			t.Fatalf("TCP/UDP packet with ICMP: %+v", p)
		}
		if len(p.Payload) > p.PayloadLen || p.PayloadLen < 0 {
			t.Fatalf("payload %d bytes but PayloadLen %d", len(p.Payload), p.PayloadLen)
		}
	case event.ProtoICMP, event.ProtoICMPv6:
		if p.ICMP == nil || !p.ICMP.QuotedSrc.IsValid() || p.ICMP.V6 != (p.Proto == event.ProtoICMPv6) {
			t.Fatalf("ICMP packet without a valid quote: %+v", p)
		}
		if p.ICMP.QuotedSrc.Is4() == p.ICMP.V6 {
			t.Fatalf("ICMP quote of the wrong family: %+v", p.ICMP)
		}
	default:
		t.Fatalf("decoded packet with protocol %d", p.Proto)
	}
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
		t.Fatalf("bad addresses %v %v", p.Src, p.Dst)
	}
}

// FuzzDecodeFrame feeds single frames of every supported link type to the
// decoder.
func FuzzDecodeFrame(f *testing.F) {
	syn4 := tcpSeg{src: cli4, dst: srv4, sport: 40000, dport: 3306, seq: 1, syn: true}.ip(f)
	data6 := tcpSeg{src: srv6, dst: cli6, sport: 3306, dport: 40000, ackFlag: true, payload: []byte("greeting")}.ip(f)
	tcp6 := tcpSeg{src: cli6, dst: srv6, sport: 1, dport: 2, syn: true}.transport(f)
	ext := ipv6Raw(cli6, srv6, 0, 1, append(append(ext6(44, 1), frag6(6, 0, true, 7)...), tcp6...))
	dns := udpIP(f, cli4, srv4, 5353, 53, []byte{0, 1, 1, 0, 0, 1})
	icmp4 := icmp4Error(f, srv4, cli4, 3, 3, syn4[:28])
	icmp6 := icmp6Error(f, srv6, cli6, 1, 4, ext)
	le := binary.LittleEndian
	seeds := []struct {
		link  uint16
		frame []byte
	}{
		{linkEthernet, ether(f, layers.EthernetTypeIPv4, syn4)},
		{linkEthernet, ether(f, layers.EthernetTypeIPv6, data6, layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q)},
		{linkEthernet, ether(f, layers.EthernetTypeIPv4, icmp4, layers.EthernetTypeDot1Q)},
		{linkEthernet, ether(f, layers.EthernetTypeMPLSUnicast, append([]byte{0, 0, 1, 64}, dns...))},
		{linkSLL, sll(etherIPv4, dns)},
		{linkSLL2, sll2(etherIPv6, 2, icmp6)},
		{linkSLL2, sll2(etherIPv6, 2, ext)},
		{linkRaw, data6},
		{linkRaw12, icmp4},
		{linkRaw14, syn4},
		{linkIPv4, dns},
		{linkIPv6, icmp6},
		{linkNull, bsdNull(le, 30, data6)},
		{linkLoop, bsdNull(binary.BigEndian, 2, syn4)},
		{linkPPP, append([]byte{0xff, 3, 0, 0x21}, syn4...)},
		{linkCHDLC, append([]byte{0x0f, 0, 0x86, 0xdd}, data6...)},
	}
	for _, s := range seeds {
		f.Add(s.link, s.frame, uint16(0))
		f.Add(s.link, s.frame, uint16(1000)) // cut by the snap length
	}
	f.Fuzz(func(t *testing.T, link uint16, frame []byte, cut uint16) {
		var dc decoder
		var p event.Packet
		before := append([]byte(nil), frame...)
		switch dc.decodeFrame(&p, link, frame, len(frame)+int(cut)) {
		case decoded:
			checkPacket(t, &p)
			if len(p.Payload) > 0 && !within(p.Payload, frame) {
				t.Fatal("payload does not alias the frame")
			}
		case unsupported, malformed:
		default:
			t.Fatal("unknown result")
		}
		if !bytes.Equal(before, frame) {
			t.Fatal("decodeFrame modified the frame")
		}
	})
}

// within reports whether sub is a slice of buf's memory.
func within(sub, buf []byte) bool {
	for i := range buf {
		if &buf[i] == &sub[0] {
			return i+len(sub) <= len(buf)
		}
	}
	return false
}

// FuzzProcessComment parses arbitrary comments; whatever parses must survive
// a format/parse round trip.
func FuzzProcessComment(f *testing.F) {
	for _, s := range []string{
		`connscope: pid=1234 tid=1235 comm="mariadb" fd=3`,
		`connscope: pid=9 comm="php-fpm: pool \"www\"" fd=-1 extra="x y"`,
		`connscope: pid=1 comm="\xff\x00"`,
		`another tool's comment`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		p, ok := ParseProcessComment(c)
		if !ok {
			return
		}
		again, ok := ParseProcessComment(ProcessComment(p))
		if !ok || again != p {
			t.Fatalf("%q parsed to %+v, which formats to %q and parses to %+v, %v", c, p, ProcessComment(p), again, ok)
		}
	})
}
