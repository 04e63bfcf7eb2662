package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/connscope/connscope/event"
)

var t0 = time.Date(2024, 5, 17, 10, 20, 30, 123456789, time.UTC)

// testRecords are frames every format below carries: all decodable, so
// packet numbers and returned packets line up.
func testRecords(tb testing.TB) []rec {
	var recs []rec
	for i := 0; i < 5; i++ {
		seg := tcpSeg{src: cli4, dst: srv4, sport: uint16(40000 + i), dport: 3306, seq: uint32(i), syn: true}
		if i%2 == 1 {
			seg = tcpSeg{src: srv6, dst: cli6, sport: 3306, dport: uint16(40000 + i), seq: uint32(i), ackFlag: true, payload: bytes.Repeat([]byte{byte(i)}, i*7)}
		}
		recs = append(recs, rec{ts: t0.Add(time.Duration(i) * 1500 * time.Microsecond), data: ether(tb, etherTypeOf(seg.src), seg.ip(tb))})
	}
	return recs
}

func etherTypeOf(a interface{ Is4() bool }) layers.EthernetType {
	if a.Is4() {
		return layers.EthernetTypeIPv4
	}
	return layers.EthernetTypeIPv6
}

type pkt struct {
	number uint64
	offset int64
	iface  int
	ts     time.Time
	sport  uint16
	proc   *event.Process
}

// readAll reads r to the end and returns copies of what it returned.
func readAll(tb testing.TB, r *Reader) ([]pkt, error) {
	tb.Helper()
	var out []pkt
	for {
		p, err := r.Next()
		if err != nil {
			return out, err
		}
		k := pkt{number: p.Number, offset: p.Offset, iface: p.Interface, ts: p.Time, sport: p.SrcPort}
		if p.Process != nil {
			c := *p.Process
			k.proc = &c
		}
		out = append(out, k)
		if len(out) > 1e6 {
			tb.Fatal("endless reader")
		}
	}
}

func pcapngFile(order binary.ByteOrder, recs []rec) []byte {
	n := &ngBuilder{order: order}
	n.section("")
	n.iface(linkEthernet, "eth0", 0)
	for _, r := range recs {
		n.epb(r, 1e6)
	}
	return n.b.Bytes()
}

func TestReadFormats(t *testing.T) {
	recs := testRecords(t)
	type file struct {
		name   string
		data   []byte
		format string
		nanos  bool
		// offset of each record's header, for checking Offset
		magicAt func(b []byte, off int64) bool
	}
	pcapRecordAt := func(order binary.ByteOrder) func(b []byte, off int64) bool {
		return func(b []byte, off int64) bool {
			return off >= 24 && int(order.Uint32(b[off+8:])) == len(recs[0].data) || true
		}
	}
	epbAt := func(order binary.ByteOrder) func(b []byte, off int64) bool {
		return func(b []byte, off int64) bool { return order.Uint32(b[off:]) == pcapngEPB }
	}
	le, be := binary.LittleEndian, binary.BigEndian
	files := []file{
		{"pcap µs LE", pcapFile(le, false, linkEthernet, recs), "pcap", false, pcapRecordAt(le)},
		{"pcap µs BE", pcapFile(be, false, linkEthernet, recs), "pcap", false, pcapRecordAt(be)},
		{"pcap ns LE", pcapFile(le, true, linkEthernet, recs), "pcap", true, pcapRecordAt(le)},
		{"pcap ns BE", pcapFile(be, true, linkEthernet, recs), "pcap", true, pcapRecordAt(be)},
		{"pcapng LE", pcapngFile(le, recs), "pcapng", false, epbAt(le)},
		{"pcapng BE", pcapngFile(be, recs), "pcapng", false, epbAt(be)},
	}
	for _, f := range files {
		for _, gz := range []bool{false, true} {
			name, data, format := f.name, f.data, f.format
			if gz {
				name, data, format = name+" gzip", gzipBytes(t, data), format+"+gzip"
			}
			t.Run(name, func(t *testing.T) {
				r, err := NewReader(bytes.NewReader(data), name)
				if err != nil {
					t.Fatal(err)
				}
				if r.Format() != format {
					t.Errorf("Format() = %q, want %q", r.Format(), format)
				}
				got, err := readAll(t, r)
				if err != io.EOF {
					t.Fatalf("err = %v, want io.EOF", err)
				}
				if len(got) != len(recs) {
					t.Fatalf("read %d packets, want %d", len(got), len(recs))
				}
				var prevOff int64
				for i, p := range got {
					want := recs[i].ts
					if !f.nanos {
						want = want.Truncate(time.Microsecond)
					}
					if !p.ts.Equal(want) {
						t.Errorf("packet %d: time %v, want %v", i+1, p.ts, want)
					}
					if p.number != uint64(i+1) {
						t.Errorf("packet %d: number %d", i+1, p.number)
					}
					if p.offset <= prevOff || !f.magicAt(f.data, p.offset) {
						t.Errorf("packet %d: offset %d does not start its record", i+1, p.offset)
					}
					prevOff = p.offset
				}
				// pcap offsets are exact arithmetic: 24 + sum(16 + caplen).
				if f.format == "pcap" {
					off := int64(24)
					for i := range recs {
						if got[i].offset != off {
							t.Errorf("packet %d: offset %d, want %d", i+1, got[i].offset, off)
						}
						off += 16 + int64(len(recs[i].data))
					}
				}
				if _, err := r.Next(); err != io.EOF {
					t.Errorf("Next after EOF = %v, want io.EOF again", err)
				}
				st := r.Stats()
				if st.Packets != uint64(len(recs)) || st.Malformed != 0 || st.Unsupported != 0 || st.Err != "" || st.Source != name {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
}

func TestPcapngInterfacesAndSections(t *testing.T) {
	seg := tcpSeg{src: cli4, dst: srv4, sport: 1234, dport: 3306, syn: true}
	ip := seg.ip(t)
	n := &ngBuilder{order: binary.LittleEndian}
	n.section("first section")
	n.iface(linkEthernet, "eth0", 0)
	n.iface(linkRaw, "tun0", 9)       // nanoseconds
	n.iface(linkSLL2, "any", 0x80|20) // 2^-20 s
	n.iface(linkIPv4, "ipv4", 3)      // milliseconds
	n.epb(rec{ts: t0, iface: 1, data: ip}, 1e9)
	n.epb(rec{ts: t0, iface: 0, data: ether(t, layers.EthernetTypeIPv4, ip)}, 1e6)
	n.block(0x0bad, make([]byte, 20)) // an unknown block is skipped
	n.epb(rec{ts: t0, iface: 2, data: sll2(etherIPv4, 42, ip)}, 1<<20)
	n.spb(ether(t, layers.EthernetTypeIPv4, ip)) // simple packet block: interface 0, no time
	n.epb(rec{ts: t0, iface: 3, data: ip}, 1e3)
	n.isb(0, 17)
	n.isb(1, 3)
	n.isb(0, 20) // cumulative: replaces 17
	// A second section, big-endian, restarts interface numbering.
	n2 := &ngBuilder{order: binary.BigEndian}
	n2.section("second section")
	n2.iface(linkRaw, "lo", 0)
	n2.epb(rec{ts: t0, iface: 0, data: ip}, 1e6)
	n2.isb(0, 5)
	data := append(n.b.Bytes(), n2.b.Bytes()...)

	r, err := NewReader(bytes.NewReader(data), "mixed")
	if err != nil {
		t.Fatal(err)
	}
	if c := r.SectionComment(); c != "first section" {
		t.Errorf("section comment %q", c)
	}
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatalf("err = %v", err)
	}
	wantIfaces := []int{1, 0, 42, 0, 3, 4}
	wantTimes := []time.Time{t0, t0.Truncate(time.Microsecond), t0.Truncate(time.Microsecond), {}, t0.Truncate(time.Millisecond), t0.Truncate(time.Microsecond)}
	if len(got) != len(wantIfaces) {
		t.Fatalf("read %d packets, want %d", len(got), len(wantIfaces))
	}
	for i, p := range got {
		if p.iface != wantIfaces[i] {
			t.Errorf("packet %d: interface %d, want %d", i+1, p.iface, wantIfaces[i])
		}
		if d := p.ts.Sub(wantTimes[i]); d < -time.Microsecond || d > time.Microsecond || (wantTimes[i].IsZero() != p.ts.IsZero()) {
			t.Errorf("packet %d: time %v, want %v", i+1, p.ts, wantTimes[i])
		}
		if p.sport != 1234 {
			t.Errorf("packet %d: not decoded right: %+v", i+1, p)
		}
	}
	if c := r.SectionComment(); c != "second section" {
		t.Errorf("section comment after the second section %q", c)
	}
	if st := r.Stats(); st.KernelDrops != 20+3+5 {
		t.Errorf("kernel drops %d, want 28 (latest statistics per interface, all sections)", st.KernelDrops)
	}
}

func TestProcessComments(t *testing.T) {
	ip := tcpSeg{src: cli4, dst: srv4, sport: 1, dport: 3306, syn: true}.ip(t)
	procs := []event.Process{
		{PID: 1234, TID: 1234, Comm: "mariadb", FD: 3},
		{PID: 1234, TID: 1234, Comm: "mariadb", FD: 3},
		{PID: 77, TID: 78, Comm: "php-fpm: pool \"www\"", FD: -1},
		{PID: 1, TID: 1, Comm: "\xff\x00odd", FD: 2147483647},
	}
	n := &ngBuilder{order: binary.LittleEndian}
	n.section(ProcessComment(event.Process{}) + " (not a packet)")
	n.iface(linkRaw, "", 0)
	for _, p := range procs {
		n.epb(rec{ts: t0, data: ip, options: [][]byte{[]byte("a note from someone"), []byte(ProcessComment(p))}}, 1e6)
	}
	n.epb(rec{ts: t0, data: ip}, 1e6)                                                           // no comment
	n.epb(rec{ts: t0, data: ip, options: [][]byte{[]byte("connscope: pid=x comm=\"a\"")}}, 1e6) // damaged
	r, err := NewReader(bytes.NewReader(n.b.Bytes()), "comments")
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r)
	if err != io.EOF || len(got) != len(procs)+2 {
		t.Fatalf("read %d, err %v", len(got), err)
	}
	for i, p := range procs {
		if got[i].proc == nil || *got[i].proc != p {
			t.Errorf("packet %d: process %+v, want %+v", i+1, got[i].proc, p)
		}
	}
	for _, k := range got[len(procs):] {
		if k.proc != nil {
			t.Errorf("packet %d: process %+v, want none", k.number, *k.proc)
		}
	}
}

func TestProcessCommentFormat(t *testing.T) {
	cases := []struct {
		comment string
		want    event.Process
		ok      bool
	}{
		{`connscope: pid=1234 tid=1235 comm="mariadb" fd=3`, event.Process{PID: 1234, TID: 1235, Comm: "mariadb", FD: 3}, true},
		{`connscope: comm="php-fpm: pool www" pid=9`, event.Process{PID: 9, Comm: "php-fpm: pool www", FD: -1}, true},
		{`connscope:   pid=9   fd=-1  future="x y" later=7`, event.Process{PID: 9, FD: -1}, true},
		{`connscope: pid=4294967295 tid=0 comm="\"q\"\\" fd=0`, event.Process{PID: 4294967295, Comm: `"q"\`, FD: 0}, true},
		{`connscope: tid=1 comm="x"`, event.Process{}, false},                                     // no pid
		{`connscope: pid=4294967296`, event.Process{}, false},                                     // overflow
		{`connscope: pid=1 comm=unquoted`, event.Process{}, false},                                // comm must be quoted
		{`connscope: pid=1 comm="open`, event.Process{}, false},                                   // unterminated
		{`connscope: pid=1 fd=99999999999`, event.Process{}, false},                               // fd overflow
		{`connscope: pid=1 junk`, event.Process{}, false},                                         // not key=value
		{`something else: pid=1`, event.Process{}, false},                                         // another tool's comment
		{`connscope: pid=1 comm="\q"`, event.Process{}, false},                                    // bad escape
		{`connscope: pid=1 comm="a"fd=2`, event.Process{}, false},                                 // no separator
		{`connscope: pid=12 comm="a b" fd=-7`, event.Process{PID: 12, Comm: "a b", FD: -7}, true}, // round trip below
	}
	for _, c := range cases {
		got, ok := ParseProcessComment(c.comment)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("ParseProcessComment(%q) = %+v, %v; want %+v, %v", c.comment, got, ok, c.want, c.ok)
		}
	}
	for _, p := range []event.Process{{PID: 12, TID: 13, Comm: "a b", FD: -7}, {PID: 1, Comm: "x=y \"z\" \\", FD: 0}, {Comm: "\x80\x81", FD: 5}} {
		c := ProcessComment(p)
		got, ok := ParseProcessComment(c)
		if !ok || got != p {
			t.Errorf("round trip of %+v via %q gave %+v, %v", p, c, got, ok)
		}
	}
}

// TestTruncatedFiles cuts files at every length: the packets before the cut
// come back, then an *Error naming the next packet and its offset (or
// io.EOF when the cut falls between records), and never a panic.
func TestTruncatedFiles(t *testing.T) {
	recs := testRecords(t)
	for _, f := range []struct {
		name string
		data []byte
		head int // header bytes before the first record
	}{
		{"pcap", pcapFile(binary.LittleEndian, false, linkEthernet, recs), 24},
		{"pcapng", pcapngFile(binary.BigEndian, recs), -1},
	} {
		full, err := NewReader(bytes.NewReader(f.data), "full")
		if err != nil {
			t.Fatal(err)
		}
		all, err := readAll(t, full)
		if err != io.EOF {
			t.Fatal(err)
		}
		// The file's blocks (pcap: header, then records) by start offset.
		var starts []int
		if f.head > 0 {
			for off := f.head; off < len(f.data); off += 16 + int(binary.LittleEndian.Uint32(f.data[off+8:])) {
				starts = append(starts, off)
			}
			starts = append([]int{0}, starts...)
		} else {
			for off := 0; off < len(f.data); off += int(binary.BigEndian.Uint32(f.data[off+4:])) {
				starts = append(starts, off)
			}
		}
		starts = append(starts, len(f.data))
		for cut := 0; cut < len(f.data); cut++ {
			r, err := NewReader(bytes.NewReader(f.data[:cut]), "cut")
			if err != nil {
				if cut >= starts[1] {
					t.Errorf("%s cut at %d: open failed after the file header: %v", f.name, cut, err)
				} else if !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "not a pcap") && !strings.Contains(err.Error(), "empty") {
					t.Errorf("%s cut at %d: open error does not explain: %v", f.name, cut, err)
				}
				continue
			}
			got, err := readAll(t, r)
			complete := 0 // packets whose record ends at or before the cut
			for i := range all {
				end := len(f.data)
				if i+1 < len(all) {
					end = int(all[i+1].offset)
				}
				if end <= cut {
					complete++
				}
			}
			if len(got) != complete {
				t.Errorf("%s cut at %d: read %d packets, want %d", f.name, cut, len(got), complete)
			}
			block := 0 // the block the cut falls in
			for i := range starts {
				if starts[i] <= cut {
					block = starts[i]
				}
			}
			if block == cut {
				if err != io.EOF {
					t.Errorf("%s cut at %d (a block boundary): err %v, want io.EOF", f.name, cut, err)
				}
				continue
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%s cut at %d: err %v, want *Error", f.name, cut, err)
				continue
			}
			if e.Packet != uint64(complete+1) || e.Offset != int64(block) {
				t.Errorf("%s cut at %d: error names packet %d at %d, want packet %d at %d: %v", f.name, cut, e.Packet, e.Offset, complete+1, block, e)
			}
			if !strings.Contains(e.Error(), "truncated") {
				t.Errorf("%s cut at %d: error does not say truncated: %v", f.name, cut, e)
			}
			if _, err2 := r.Next(); err2 != err {
				t.Errorf("%s cut at %d: Next after the error returned %v", f.name, cut, err2)
			}
			if r.Stats().Err != err.Error() {
				t.Errorf("%s cut at %d: Stats.Err %q", f.name, cut, r.Stats().Err)
			}
		}
	}
}

func TestTruncatedGzip(t *testing.T) {
	recs := testRecords(t)
	data := gzipBytes(t, pcapFile(binary.LittleEndian, true, linkEthernet, recs))
	for cut := 0; cut < len(data); cut++ {
		r, err := NewReader(bytes.NewReader(data[:cut]), "cut.gz")
		if err != nil {
			continue
		}
		got, err := readAll(t, r)
		if err == io.EOF {
			t.Errorf("cut at %d of %d: a truncated gzip stream ended cleanly after %d packets", cut, len(data), len(got))
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("cut at %d: err %v, want *Error", cut, err)
		}
	}
	// A damaged byte in the compressed data: an error, not garbage packets.
	bad := append([]byte(nil), data...)
	bad[len(bad)-6] ^= 0xff // inside the CRC32 trailer
	r, err := NewReader(bytes.NewReader(bad), "bad.gz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, r); err == io.EOF || !strings.Contains(fmt.Sprint(err), "gzip") {
		t.Errorf("damaged gzip trailer: err %v, want a gzip error", err)
	}
}

func TestCorruptFiles(t *testing.T) {
	recs := testRecords(t)
	le := binary.LittleEndian
	pcap := pcapFile(le, false, linkEthernet, recs)
	second := int64(24 + 16 + len(recs[0].data))

	hugeCaplen := append([]byte(nil), pcap...)
	le.PutUint32(hugeCaplen[second+8:], 0x7fffffff)

	ng := pcapngFile(le, recs)
	r0, _ := NewReader(bytes.NewReader(ng), "x")
	all, _ := readAll(t, r0)
	epb2 := all[1].offset
	badLen := append([]byte(nil), ng...)
	le.PutUint32(badLen[epb2+4:], 13)
	badTail := append([]byte(nil), ng...)
	l := le.Uint32(ng[epb2+4:])
	le.PutUint32(badTail[epb2+int64(l)-4:], l+4)
	badIface := append([]byte(nil), ng...)
	le.PutUint32(badIface[epb2+8:], 7)
	badCaplen := append([]byte(nil), ng...)
	le.PutUint32(badCaplen[epb2+20:], l)

	for _, c := range []struct {
		name   string
		data   []byte
		offset int64
		says   string
	}{
		{"pcap caplen", hugeCaplen, second, "captured bytes"},
		{"pcapng length not a multiple of 4", badLen, epb2, "length of 13"},
		{"pcapng trailing length", badTail, epb2, "at its end"},
		{"pcapng interface", badIface, epb2, "interface 7"},
		{"pcapng caplen", badCaplen, epb2, "captured bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(c.data), c.name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, r)
			var e *Error
			if len(got) != 1 || !errors.As(err, &e) || e.Packet != 2 || e.Offset != c.offset || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "corrupt") {
				t.Errorf("read %d packets, err %v; want 1 packet then a corrupt-file error for packet 2 at %d saying %q", len(got), err, c.offset, c.says)
			}
		})
	}
}

func TestNotACapture(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		says string
	}{
		{"empty", nil, "empty"},
		{"text", []byte("hello, world\n"), "not a pcap or pcapng file"},
		{"short", []byte{0xd4}, "not a pcap"},
		{"gzip of nothing", gzipBytes(t, nil), "empty"},
		{"gzip of text", gzipBytes(t, []byte("<html>")), "not a pcap"},
		{"broken gzip header", []byte{0x1f, 0x8b, 0, 0}, "gzip"},
		{"pcap version 3", func() []byte { b := pcapFile(binary.LittleEndian, false, 1, nil); b[4] = 3; return b }(), "version"},
		{"pcap header cut", pcapFile(binary.LittleEndian, false, 1, nil)[:10], "truncated"},
		{"pcapng version 2", func() []byte {
			n := &ngBuilder{order: binary.LittleEndian}
			n.section("")
			b := n.b.Bytes()
			b[12] = 2
			return b
		}(), "version"},
		{"pcapng bad byte order", func() []byte {
			n := &ngBuilder{order: binary.LittleEndian}
			n.section("")
			b := n.b.Bytes()
			b[8] = 0
			return b
		}(), "byte-order"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(c.data), c.name)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Errorf("err %v, want one saying %q", err, c.says)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pcapng.gz")
	recs := testRecords(t)
	if err := os.WriteFile(path, gzipBytes(t, pcapngFile(binary.LittleEndian, recs)), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r)
	if err != io.EOF || len(got) != len(recs) {
		t.Errorf("read %d, err %v", len(got), err)
	}
	if r.Stats().Source != path {
		t.Errorf("source %q", r.Stats().Source)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if _, err := Open(filepath.Join(dir, "missing.pcap")); err == nil || !strings.Contains(err.Error(), "missing.pcap") {
		t.Errorf("missing file: %v", err)
	}
}

func TestOpenStdin(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdin
	os.Stdin = pr
	defer func() { os.Stdin = saved; pr.Close() }()
	recs := testRecords(t)
	go func() {
		pw.Write(pcapFile(binary.BigEndian, true, linkEthernet, recs))
		pw.Close()
	}()
	r, err := Open("-")
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r)
	if err != io.EOF || len(got) != len(recs) || r.Stats().Source != "stdin" {
		t.Errorf("read %d, err %v, source %q", len(got), err, r.Stats().Source)
	}
}

// stallReader never returns data or an error.
type stallReader struct{}

func (stallReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderWithoutProgress(t *testing.T) {
	hdr := pcapFile(binary.LittleEndian, false, 1, nil)
	r, err := NewReader(io.MultiReader(bytes.NewReader(hdr), stallReader{}), "stall")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil || err == io.EOF {
		t.Errorf("err %v, want an error for a reader that makes no progress", err)
	}
}

func TestUnsupportedAndMalformedCounted(t *testing.T) {
	ok := ether(t, layers.EthernetTypeIPv4, tcpSeg{src: cli4, dst: srv4, sport: 1, dport: 2, syn: true}.ip(t))
	recs := []rec{
		{ts: t0, data: ether(t, layers.EthernetTypeARP, make([]byte, 28))},
		{ts: t0, data: ok[:20]},
		{ts: t0, data: ok},
		{ts: t0, data: nil},
	}
	r, err := NewReader(bytes.NewReader(pcapFile(binary.LittleEndian, false, linkEthernet, recs)), "mix")
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r)
	if err != io.EOF || len(got) != 1 || got[0].number != 3 {
		t.Fatalf("got %+v, %v; want only packet 3", got, err)
	}
	st := r.Stats()
	if st.Packets != 4 || st.Unsupported != 1 || st.Malformed != 2 {
		t.Errorf("stats %+v, want 4 packets, 1 unsupported, 2 malformed", st)
	}
	data, link, iface := r.LastFrame()
	if len(data) != 0 || link != layers.LinkTypeEthernet || iface != 0 {
		t.Errorf("LastFrame = %d bytes, %v, %d", len(data), link, iface)
	}
}

func TestReaderDoesNotAllocate(t *testing.T) {
	const n = 3000
	procComment := []byte(ProcessComment(event.Process{PID: 42, TID: 42, Comm: "php-fpm: pool www", FD: 5}))
	var recs []rec
	for i := 0; i < n; i++ {
		seg := tcpSeg{src: cli4, dst: srv4, sport: uint16(i), dport: 3306, ackFlag: true, payload: []byte("abcdef")}
		recs = append(recs, rec{ts: t0.Add(time.Duration(i) * time.Millisecond), data: sll2(etherIPv4, 2, seg.ip(t)), options: [][]byte{procComment}})
	}
	n2 := &ngBuilder{order: binary.LittleEndian}
	n2.section("")
	n2.iface(linkSLL2, "any", 9)
	for _, r := range recs {
		n2.epb(r, 1e9)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"pcap", pcapFile(binary.LittleEndian, true, linkSLL2, recs)},
		{"pcapng with comments", n2.b.Bytes()},
	} {
		r, err := NewReader(bytes.NewReader(f.data), f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != nil { // first call may set things up
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(n-10, func() {
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.2f allocations per packet, want 0", f.name, allocs)
		}
	}
}

// TestResetPacket pins resetPacket to the composite literal it replaces:
// every field of event.Packet (set here by reflection, so a field added
// later is covered too), alone or all together, is zero after it but the
// four it sets — a field left over from the previous frame would go to
// the engine as this one's.
func TestResetPacket(t *testing.T) {
	set := func(tb testing.TB, p *event.Packet, i int) {
		v := reflect.ValueOf(p).Elem()
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(7)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(7)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Struct:
			switch f.Interface().(type) {
			case time.Time:
				f.Set(reflect.ValueOf(t0))
			case netip.Addr:
				f.Set(reflect.ValueOf(netip.MustParseAddr("2001:db8::7")))
			default:
				tb.Fatalf("field %s: set it in this test", v.Type().Field(i).Name)
			}
		default:
			tb.Fatalf("field %s of kind %s: set it in this test", v.Type().Field(i).Name, f.Kind())
		}
		if f.IsZero() {
			tb.Fatalf("field %s still zero", v.Type().Field(i).Name)
		}
	}
	ts := t0.Add(time.Second)
	want := event.Packet{Time: ts, Number: 9, Offset: 1234, Interface: 3}
	n := reflect.TypeOf(event.Packet{}).NumField()
	var all event.Packet
	for i := 0; i < n; i++ {
		set(t, &all, i)
		var p event.Packet
		set(t, &p, i)
		resetPacket(&p, ts, 9, 1234, 3)
		if !reflect.DeepEqual(p, want) {
			t.Errorf("field %s alone: after resetPacket %+v", reflect.TypeOf(p).Field(i).Name, p)
		}
	}
	resetPacket(&all, ts, 9, 1234, 3)
	if !reflect.DeepEqual(all, want) {
		t.Errorf("every field set: after resetPacket %+v", all)
	}
}
