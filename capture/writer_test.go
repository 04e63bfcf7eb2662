package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/connscope/connscope/event"
)

type written struct {
	ts    time.Time
	data  []byte
	link  layers.LinkType
	iface string
	wire  int
	proc  *event.Process
}

func writerTestPackets(t *testing.T) []written {
	mariadb := &event.Process{PID: 4242, TID: 4243, Comm: "mariadb", FD: 3}
	php := &event.Process{PID: 77, TID: 77, Comm: "php-fpm: pool \"www\"", FD: -1}
	syn := tcpSeg{src: cli4, dst: srv4, sport: 40000, dport: 3306, seq: 9, syn: true}.ip(t)
	greet := tcpSeg{src: srv6, dst: cli6, sport: 3306, dport: 40001, ackFlag: true, payload: []byte("\x5b\x00\x00\x00\x0a11.4.2-MariaDB")}.ip(t)
	return []written{
		{t0, sll2(etherIPv4, 1, syn), layers.LinkTypeLinuxSLL2, "lo", 0, mariadb},
		{t0.Add(time.Millisecond), sll2(etherIPv6, 5, greet), layers.LinkTypeLinuxSLL2, "veth0", 0, php},
		{t0.Add(2 * time.Millisecond), ether(t, layers.EthernetTypeIPv4, syn), layers.LinkTypeEthernet, "eth0", 0, nil},
		{t0.Add(3 * time.Millisecond), sll2(etherIPv6, 5, greet[:70]), layers.LinkTypeLinuxSLL2, "veth0", 20 + len(greet), mariadb}, // cut by the snap length
	}
}

func TestPcapngWriterRoundTrip(t *testing.T) {
	pkts := writerTestPackets(t)
	path := filepath.Join(t.TempDir(), "trace.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const section = "connscope trace -w trace.pcapng; kernel 6.18"
	w, err := NewPcapngWriter(f, section)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WritePacket(p.ts, p.data, p.link, p.iface, p.wire, p.proc); err != nil {
			t.Fatal(err)
		}
	}
	w.SetDrops(12)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.WritePacket(t0, pkts[0].data, pkts[0].link, "lo", 0, nil); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("write after Close: %v", err)
	}

	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.SectionComment() != section {
		t.Errorf("section comment %q", r.SectionComment())
	}
	var got []pkt
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		k := pkt{number: p.Number, iface: p.Interface, ts: p.Time, sport: p.SrcPort}
		if p.Process != nil {
			c := *p.Process
			k.proc = &c
		}
		got = append(got, k)
		data, link, _ := r.LastFrame()
		if w := pkts[len(got)-1]; !bytes.Equal(data, w.data) || link != w.link {
			t.Errorf("packet %d: frame differs after the round trip", len(got))
		}
	}
	if len(got) != len(pkts) {
		t.Fatalf("read back %d packets, wrote %d", len(got), len(pkts))
	}
	wantIface := []int{1, 5, 2, 5} // SLL2 frames: the ifindex; eth0 is the third interface description
	for i, p := range pkts {
		if !got[i].ts.Equal(p.ts) {
			t.Errorf("packet %d: time %v, want %v", i+1, got[i].ts, p.ts)
		}
		if (got[i].proc == nil) != (p.proc == nil) || (p.proc != nil && *got[i].proc != *p.proc) {
			t.Errorf("packet %d: process %+v, want %+v", i+1, got[i].proc, p.proc)
		}
		if got[i].iface != wantIface[i] {
			t.Errorf("packet %d: interface %d, want %d", i+1, got[i].iface, wantIface[i])
		}
	}
	if st := r.Stats(); st.KernelDrops != 12 {
		t.Errorf("kernel drops read back: %d, want 12", st.KernelDrops)
	}

	checkWithTshark(t, path, pkts)
}

// checkWithTshark reads the file with tshark (when installed): every frame,
// its comment and its interface name.
func checkWithTshark(t *testing.T, path string, pkts []written) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark not installed: not checking that Wireshark reads the file")
		return
	}
	out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "frame.interface_name", "-e", "frame.comment", "-e", "tcp.srcport", "-e", "frame.len").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark failed: %v\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "Running as user") {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(pkts) {
		t.Fatalf("tshark shows %d frames, want %d:\n%s", len(lines), len(pkts), out)
	}
	for i, l := range lines {
		f := strings.Split(l, "|")
		if len(f) != 5 {
			t.Errorf("tshark line %q", l)
			continue
		}
		if f[1] != pkts[i].iface {
			t.Errorf("tshark frame %d: interface %q, want %q", i+1, f[1], pkts[i].iface)
		}
		wantComment := ""
		if pkts[i].proc != nil {
			wantComment = ProcessComment(*pkts[i].proc)
		}
		// tshark's field output escapes quotes ambiguously: compare
		// without backslashes.
		if c := strings.ReplaceAll(f[2], `\`, ""); c != strings.ReplaceAll(wantComment, `\`, "") {
			t.Errorf("tshark frame %d: comment %q, want %q", i+1, c, wantComment)
		}
		if f[3] == "" {
			t.Errorf("tshark frame %d: no TCP decoded: %q", i+1, l)
		}
		wire := pkts[i].wire
		if wire == 0 {
			wire = len(pkts[i].data)
		}
		if f[4] != strconv.Itoa(wire) {
			t.Errorf("tshark frame %d: length %s, want %d", i+1, f[4], wire)
		}
	}
	t.Logf("tshark reads all %d frames with their comments and interfaces", len(lines))
}

// TestPcapngWriterFlushWhileWriting flushes and closes from another goroutine
// (as a SIGINT handler does) while packets are being written: the file is a
// valid capture of whole packets, at every flush and at the end.
func TestPcapngWriterFlushWhileWriting(t *testing.T) {
	pkts := writerTestPackets(t)
	var buf syncBuffer
	w, err := NewPcapngWriter(&buf, "")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	stop := make(chan struct{})
	go func() {
		defer wg.Done()
		for i := 0; i < 50000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%500 == 0 {
				time.Sleep(100 * time.Microsecond) // let the "signal handler" in
			}
			p := pkts[i%len(pkts)]
			if err := w.WritePacket(p.ts, p.data, p.link, p.iface, p.wire, p.proc); err != nil {
				if !errors.Is(err, ErrWriterClosed) {
					t.Error(err)
				}
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		time.Sleep(time.Millisecond)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		n := readBackAll(t, buf.snapshot())
		if n < 0 {
			t.Fatalf("flush %d: the file is not valid", i)
		}
	}
	if err := w.Close(); err != nil { // the "signal handler"
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	n := readBackAll(t, buf.snapshot())
	if n <= 0 {
		t.Fatalf("after Close: %d packets", n)
	}
	t.Logf("%d packets in the closed file", n)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) snapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// readBackAll returns the number of packets in a pcapng image, or -1 if it
// does not read cleanly to the end.
func readBackAll(t *testing.T, data []byte) int {
	r, err := NewReader(bytes.NewReader(data), "written")
	if err != nil {
		t.Logf("open: %v", err)
		return -1
	}
	n := 0
	for {
		p, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Logf("read: %v", err)
			return -1
		}
		if p.SrcPort == 0 {
			return -1
		}
		n++
	}
}
