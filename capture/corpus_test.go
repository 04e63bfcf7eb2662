package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// corpusDir finds the shared tcpdump corpus: shared/corpus/tcpdump beside the
// repository (../shared/corpus/tcpdump from the module root).
func corpusDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		c := filepath.Join(dir, "shared", "corpus", "tcpdump")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("tcpdump corpus not found: expected shared/corpus/tcpdump beside the repository (../shared/corpus/tcpdump from the module root)")
		}
		dir = parent
	}
}

func corpusFiles(tb testing.TB) []string {
	dir := corpusDir(tb)
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "*.pcap.gz", "*.pcapng.gz"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			tb.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		tb.Skipf("no capture files in %s", dir)
	}
	return files
}

type corpusResult struct {
	opened                                bool
	err                                   error // open error or the error that ended reading
	frames, decoded, malformed, unsupport uint64
	panicked                              string
}

func readCorpusFile(path string) (res corpusResult) {
	defer func() {
		if p := recover(); p != nil {
			res.panicked = fmt.Sprintf("%v\n%s", p, debug.Stack())
		}
	}()
	r, err := Open(path)
	if err != nil {
		res.err = err
		return res
	}
	defer r.Close()
	res.opened = true
	for {
		_, err := r.Next()
		if err != nil {
			if err != io.EOF {
				res.err = err
			}
			break
		}
		res.decoded++
	}
	st := r.Stats()
	res.frames, res.malformed, res.unsupport = st.Packets, st.Malformed, st.Unsupported
	return res
}

// TestCorpus reads every file of the tcpdump corpus (real and deliberately
// malformed captures): no panic, no hang, and each file gives packets or a
// clear error.
func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	const perFile = 20 * time.Second
	var total corpusResult
	var withErrors, openFailed int
	for _, path := range files {
		name := filepath.Base(path)
		done := make(chan corpusResult, 1)
		go func() { done <- readCorpusFile(path) }()
		var res corpusResult
		select {
		case res = <-done:
		case <-time.After(perFile):
			t.Errorf("%s: no result after %v: the reader hangs", name, perFile)
			continue
		}
		if res.panicked != "" {
			t.Errorf("%s: panic: %s", name, res.panicked)
			continue
		}
		switch {
		case !res.opened:
			openFailed++
			if !strings.Contains(res.err.Error(), name) {
				t.Errorf("%s: open error does not name the file: %v", name, res.err)
			}
			t.Logf("%s: not opened: %v", name, res.err)
		case res.err != nil:
			withErrors++
			var e *Error
			if !errors.As(res.err, &e) || e.Packet == 0 {
				t.Errorf("%s: error is not a *capture.Error naming packet and offset: %v", name, res.err)
			}
			t.Logf("%s: %d packets, then: %v", name, res.frames, res.err)
		case res.frames == 0:
			t.Logf("%s: a valid capture without packets", name)
		}
		if res.decoded+res.malformed+res.unsupport != res.frames {
			t.Errorf("%s: %d frames but %d decoded + %d malformed + %d unsupported", name, res.frames, res.decoded, res.malformed, res.unsupport)
		}
		total.frames += res.frames
		total.decoded += res.decoded
		total.malformed += res.malformed
		total.unsupport += res.unsupport
	}
	t.Logf("corpus: %d files, %d not opened, %d ended with an error; %d frames: %d decoded, %d malformed, %d unsupported",
		len(files), openFailed, withErrors, total.frames, total.decoded, total.malformed, total.unsupport)
}

type rawFrame struct {
	data []byte
	link uint16
	ts   time.Time
}

// TestCorpusAgainstPcapgo reads every corpus file with both this package's
// record reader and gopacket's pcapgo, an independent implementation, and
// requires the same frames, link types and timestamps for as far as pcapgo
// reads.
func TestCorpusAgainstPcapgo(t *testing.T) {
	files := corpusFiles(t)
	compared, frames := 0, 0
	for _, path := range files {
		name := filepath.Base(path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		theirs, theirErr := readWithPcapgo(data)
		if len(theirs) == 0 {
			continue
		}
		r, err := NewReader(bytes.NewReader(data), name)
		if err != nil {
			t.Errorf("%s: pcapgo reads %d frames but Open fails: %v", name, len(theirs), err)
			continue
		}
		var ours []rawFrame
		for {
			var (
				d    []byte
				ts   time.Time
				link uint16
				err  error
			)
			if r.format == "pcap" {
				d, _, ts, link, _, err = r.pcapNext()
			} else {
				d, _, ts, _, link, _, _, err = r.pcapngNext()
			}
			if err != nil {
				break
			}
			r.stats.Packets++
			ours = append(ours, rawFrame{append([]byte(nil), d...), link, ts})
		}
		if len(ours) < len(theirs) || (theirErr == nil && len(ours) != len(theirs)) {
			t.Errorf("%s: read %d frames, pcapgo %d (pcapgo error: %v)", name, len(ours), len(theirs), theirErr)
		}
		for i := 0; i < len(theirs) && i < len(ours); i++ {
			o, p := ours[i], theirs[i]
			// pcapgo multiplies a microsecond field of 10^6 or more by 1000
			// in 32 bits; this package carries it into the seconds, as
			// libpcap does. Such frames differ by a multiple of 2^32 ns.
			d := o.ts.UnixNano() - p.ts.UnixNano()
			pcapgoOverflow := d > 0 && d%(1<<32) == 0
			if !bytes.Equal(o.data, p.data) || o.link != p.link || !(o.ts.Equal(p.ts) || pcapgoOverflow) {
				t.Errorf("%s: frame %d differs: %d bytes link %d at %v; pcapgo %d bytes link %d at %v", name, i+1, len(o.data), o.link, o.ts, len(p.data), p.link, p.ts)
				break
			}
		}
		compared++
		frames += len(theirs)
	}
	t.Logf("compared %d files, %d frames with pcapgo", compared, frames)
}

func readWithPcapgo(data []byte) (frames []rawFrame, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pcapgo panicked: %v", p)
		}
	}()
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var src source
	var link layers.LinkType
	if len(data) >= 4 && bytes.Equal(data[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, err
		}
		src = ng
	} else {
		pr, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		pr.SetSnaplen(pcapMaxSnaplen) // read oversized records like tcpdump and this package do
		src, link = pr, pr.LinkType()
	}
	for {
		d, ci, err := src.ReadPacketData()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return frames, err
		}
		l := link
		if len(ci.AncillaryData) > 0 {
			if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				l = lt
			}
		}
		frames = append(frames, rawFrame{d, uint16(l), ci.Timestamp})
	}
}
