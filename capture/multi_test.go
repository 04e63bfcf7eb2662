package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestMerged reads sets of captures as one stream: the packets (marked by
// their TCP sequence number) must come out in timestamp order, equal times
// in input order, a capture's own disorder kept as in a single file, and a
// damaged or missing capture must not stop the others.
func TestMerged(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	cli, srv := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	// pkt is a packet marked seq at t0 + ms milliseconds.
	type pkt struct{ ms, seq int }
	file := func(pkts ...pkt) []byte {
		var recs []rec
		for _, p := range pkts {
			recs = append(recs, rec{ts: t0.Add(time.Duration(p.ms) * time.Millisecond),
				data: tcpSeg{src: cli, dst: srv, sport: 40000, dport: 3306, seq: uint32(p.seq), syn: true}.ip(t)})
		}
		return pcapFile(binary.LittleEndian, false, linkRaw, recs)
	}
	many := make([][]byte, 2*maxKeptOpen) // more than are kept open: reopened
	var manyWant []int
	for i := range many {
		many[i] = file(pkt{len(many) - i, len(many) - i}) // the last file first in time
		manyWant = append(manyWant, i+1)
	}
	damaged := file(pkt{1, 1}, pkt{3, 3}, pkt{5, 5})
	damaged = damaged[:len(damaged)-10]
	tests := []struct {
		name    string
		files   [][]byte // nil: cannot be opened
		want    []int
		errFile int    // index of the file with an error (-1: none)
		err     string // in its Stats.Err or OpenErr
	}{
		{"interleaved interfaces", [][]byte{file(pkt{1, 1}, pkt{3, 3}, pkt{5, 5}), file(pkt{2, 2}, pkt{4, 4}, pkt{6, 6})}, []int{1, 2, 3, 4, 5, 6}, -1, ""},
		{"rotations given out of order", [][]byte{file(pkt{6, 6}), file(pkt{4, 4}, pkt{5, 5}), file(pkt{1, 1}, pkt{2, 2}, pkt{3, 3})}, []int{1, 2, 3, 4, 5, 6}, -1, ""},
		{"equal times keep input order", [][]byte{file(pkt{1, 1}, pkt{2, 3}), file(pkt{1, 2}, pkt{2, 4})}, []int{1, 2, 3, 4}, -1, ""},
		{"disorder within a file kept", [][]byte{file(pkt{1, 1}, pkt{3, 2}, pkt{2, 3}), file(pkt{4, 4})}, []int{1, 2, 3, 4}, -1, ""},
		{"more files than kept open", many, manyWant, -1, ""},
		{"damaged file", [][]byte{damaged, file(pkt{2, 2}, pkt{4, 4}, pkt{6, 6})}, []int{1, 2, 3, 4, 6}, 0, "f0: packet 3 at byte offset"},
		{"missing file", [][]byte{file(pkt{1, 1}), nil, file(pkt{2, 2})}, []int{1, 2}, 1, "f1: file does not exist"},
		{"empty capture", [][]byte{file(), file(pkt{1, 1})}, []int{1}, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var inputs []Input
			for i, data := range tc.files {
				name := fmt.Sprintf("f%d", i)
				inputs = append(inputs, Input{Name: name, Open: func() (*Reader, error) {
					if data == nil {
						return nil, fmt.Errorf("capture: %s: %w", name, fs.ErrNotExist)
					}
					return NewReader(bytes.NewReader(data), name)
				}})
			}
			mg := NewMerged(inputs)
			defer mg.Close()
			var got []int
			for {
				p, err := mg.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				got = append(got, int(p.Seq))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("order %v, want %v", got, tc.want)
			}
			var total uint64
			for i, res := range mg.Results() {
				msg := res.Stats.Err
				if res.OpenErr != nil {
					msg = res.OpenErr.Error()
				}
				if i == tc.errFile {
					if !strings.Contains(msg, tc.err) {
						t.Errorf("file %d: error %q, want %q", i, msg, tc.err)
					}
				} else if msg != "" {
					t.Errorf("file %d: unexpected error %q", i, msg)
				}
				if res.Name != inputs[i].Name {
					t.Errorf("result %d is named %q", i, res.Name)
				}
				total += res.Stats.Packets
			}
			if total < uint64(len(got)) {
				t.Errorf("the files' counters add up to %d packets, %d were returned", total, len(got))
			}
		})
	}
}
