package capture

import (
	"bufio"
	"encoding/binary"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/connscope/connscope/event"
)

// writeBenchCapture writes a `tcpdump -i any`-style pcap (LINUX_SLL2, ns
// timestamps) of n packets of mixed TCP traffic: bulk MySQL result sets on
// established connections, and connection attempts (SYN, SYN-ACK or RST,
// greeting), IPv4 and IPv6.
func writeBenchCapture(tb testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	hdr := make([]byte, 24)
	le := binary.LittleEndian
	le.PutUint32(hdr[0:4], pcapNano)
	le.PutUint16(hdr[4:6], 2)
	le.PutUint16(hdr[6:8], 4)
	le.PutUint32(hdr[16:20], 262144)
	le.PutUint32(hdr[20:24], linkSLL2)
	w.Write(hdr)

	rng := rand.New(rand.NewSource(1))
	bulk := make([]byte, 1448)
	rng.Read(bulk)
	greeting := []byte("\x5b\x00\x00\x00\x0a11.4.2-MariaDB\x00")
	// Pre-build a few frame shapes; vary ports/seq per packet by patching.
	shapes := [][]byte{
		sll2(etherIPv4, 2, tcpSeg{src: cli4, dst: srv4, sport: 40000, dport: 3306, syn: true, window: 64240}.ip(tb)),
		sll2(etherIPv4, 2, tcpSeg{src: srv4, dst: cli4, sport: 3306, dport: 40000, syn: true, ackFlag: true}.ip(tb)),
		sll2(etherIPv4, 2, tcpSeg{src: srv4, dst: cli4, sport: 3306, dport: 40000, psh: true, ackFlag: true, payload: greeting}.ip(tb)),
		sll2(etherIPv4, 2, tcpSeg{src: srv4, dst: cli4, sport: 3306, dport: 40000, ackFlag: true, payload: bulk}.ip(tb)),
		sll2(etherIPv4, 2, tcpSeg{src: cli4, dst: srv4, sport: 40000, dport: 3306, ackFlag: true}.ip(tb)),
		sll2(etherIPv6, 1, tcpSeg{src: cli6, dst: srv6, sport: 40000, dport: 3306, syn: true}.ip(tb)),
		sll2(etherIPv6, 1, tcpSeg{src: srv6, dst: cli6, sport: 3306, dport: 40000, rst: true, ackFlag: true}.ip(tb)),
		sll2(etherIPv6, 1, tcpSeg{src: srv6, dst: cli6, sport: 3306, dport: 40000, ackFlag: true, payload: bulk[:512]}.ip(tb)),
	}
	weights := []int{0, 0, 1, 2, 3, 3, 3, 3, 4, 4, 4, 7, 7, 5, 6, 3}
	rh := make([]byte, 16)
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		frame := shapes[weights[rng.Intn(len(weights))]]
		// distinct client ports and sequence numbers
		off := 20 + 20 // SLL2 + IPv4
		if frame[0] == 0x86 {
			off = 20 + 40
		}
		port := uint16(32768 + i%28000)
		if binary.BigEndian.Uint16(frame[off:]) == 3306 {
			binary.BigEndian.PutUint16(frame[off+2:], port)
		} else {
			binary.BigEndian.PutUint16(frame[off:], port)
		}
		binary.BigEndian.PutUint32(frame[off+4:], uint32(i)*7919)
		ts = ts.Add(time.Duration(rng.Intn(50000)) * time.Nanosecond)
		le.PutUint32(rh[0:4], uint32(ts.Unix()))
		le.PutUint32(rh[4:8], uint32(ts.Nanosecond()))
		le.PutUint32(rh[8:12], uint32(len(frame)))
		le.PutUint32(rh[12:16], uint32(len(frame)))
		w.Write(rh)
		w.Write(frame)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkReadDecode is the bare read-and-decode loop over a file of ~100k
// packets: the ceiling for `connscope analyze` (issue 3 wants analyze at
// half this rate or better). One iteration reads the whole file.
func BenchmarkReadDecode(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "bench-sll2.pcap")
	writeBenchCapture(b, path, n)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	var sink uint64
	for i := 0; i < b.N; i++ {
		r, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for {
			p, err := r.Next()
			if err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
			sink += uint64(p.SrcPort) + uint64(len(p.Payload))
			count++
		}
		r.Close()
		if count != n {
			b.Fatalf("decoded %d of %d packets", count, n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	_ = sink
}

// BenchmarkDecodeFrame is the decoder alone on one SLL2 TCP frame.
func BenchmarkDecodeFrame(b *testing.B) {
	frame := sll2(etherIPv4, 2, tcpSeg{src: cli4, dst: srv4, sport: 3306, dport: 40000, ackFlag: true, payload: make([]byte, 100)}.ip(b))
	var dc decoder
	var p event.Packet
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p = event.Packet{}
		dc.decodeFrame(&p, linkSLL2, frame, len(frame))
	}
}
