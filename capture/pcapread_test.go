package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// chunkReader returns at most a random few bytes to KB per Read, so that
// records end anywhere in the input's buffer and past it.
type chunkReader struct {
	r   io.Reader
	rnd *rand.Rand
}

func (c chunkReader) Read(p []byte) (int, error) {
	n := 1 + c.rnd.IntN(9000)
	if n < len(p) {
		p = p[:n]
	}
	return c.r.Read(p)
}

// TestPcapRecordsAcrossReads: every record of a pcap file is read whole
// and at its offset whether it was buffered already or must be
// read first (input.fill), records as large as the buffer included, and the
// file's end is io.EOF after the last.
func TestPcapRecordsAcrossReads(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 13))
	var recs []rec
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 3000 {
		n := 1 + rnd.IntN(1500)
		if i%500 == 7 {
			n = pcapMaxSnaplen - rnd.IntN(64) // about the buffer's size, with its header beyond
		}
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(i + j)
		}
		recs = append(recs, rec{ts: t0.Add(time.Duration(i) * time.Millisecond), data: data})
	}
	file := pcapFile(binary.LittleEndian, true, linkRaw, recs)
	for _, chunked := range []bool{false, true} {
		var src io.Reader = bytes.NewReader(file)
		if chunked {
			src = chunkReader{src, rand.New(rand.NewPCG(1, 2))}
		}
		r := &Reader{name: "t", in: newInput(src)}
		r.format = "pcap"
		if err := r.pcapOpen(); err != nil {
			t.Fatal(err)
		}
		off := int64(pcapHeaderLen)
		for i, want := range recs {
			data, wire, ts, _, got, err := r.pcapNext()
			if err != nil {
				t.Fatalf("chunked %v: record %d: %v", chunked, i, err)
			}
			if got != off || !bytes.Equal(data, want.data) || wire != len(want.data) || !ts.Equal(want.ts) {
				t.Fatalf("chunked %v: record %d at %d (want %d): %d bytes (want %d), equal %v, time %v", chunked, i, got, off, len(data), len(want.data), bytes.Equal(data, want.data), ts)
			}
			off += pcapRecordLen + int64(len(want.data))
		}
		if _, _, _, _, _, err := r.pcapNext(); err != io.EOF {
			t.Fatalf("chunked %v: after the last record: %v, want io.EOF", chunked, err)
		}
	}
}
