package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// labCaptureFiles lists the lab captures (pcap and pcapng) in name order.
func labCaptureFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		m, _ := filepath.Glob(filepath.Join(capturesDir, pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no lab captures in testdata/captures (make testdata records them)")
	}
	sort.Strings(files)
	return files
}

// jsonRecords runs analyze --format json on args and returns its records,
// each re-encoded without its "source" (the file names differ between a
// capture and its parts) and the exit status.
func jsonRecords(t *testing.T, args ...string) ([]string, int, string) {
	t.Helper()
	out, errs, code := run(nil, append([]string{"--format", "json"}, args...)...)
	var recs []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("analyze %v: a line is not JSON (%v): %s", args, err, line)
		}
		delete(m, "source")
		b, _ := json.Marshal(m)
		recs = append(recs, string(b))
	}
	return recs, code, errs
}

// captureBlocks cuts a capture file into its header (what every part of a
// split needs: the pcap file header, or the pcapng section header and
// interface descriptions) and its packet records, byte for byte.
// between[i] are the non-packet pcapng blocks that came before packet i
// (after packet i-1); they go with that packet.
func captureBlocks(t *testing.T, name string, data []byte) (header []byte, packets, between [][]byte) {
	t.Helper()
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if len(data) < 24 {
		t.Fatalf("%s: too short for a capture", name)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d: // pcap, little-endian
		header = data[:24]
		for off := 24; off < len(data); {
			n := 16 + int(bo.Uint32(data[off+8:]))
			packets = append(packets, data[off:off+n])
			between = append(between, nil)
			off += n
		}
		return header, packets, between
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
		header = data[:24]
		for off := 24; off < len(data); {
			n := 16 + int(bo.Uint32(data[off+8:]))
			packets = append(packets, data[off:off+n])
			between = append(between, nil)
			off += n
		}
		return header, packets, between
	case 0x0a0d0d0a:
		if binary.LittleEndian.Uint32(data[8:]) != 0x1a2b3c4d {
			bo = binary.BigEndian
		}
		var pending []byte
		for off := 0; off < len(data); {
			typ, n := bo.Uint32(data[off:]), int(bo.Uint32(data[off+4:]))
			blk := data[off : off+n]
			off += n
			switch typ {
			case 2, 3, 6: // packet blocks
				packets = append(packets, blk)
				between = append(between, pending)
				pending = nil
			case 0x0a0d0d0a, 1: // section header, interface description
				if len(packets) == 0 {
					header = append(header, blk...)
				} else {
					t.Skipf("%s: a section or interface defined after the first packet: this splitter does not handle it", name)
				}
			default:
				if len(packets) == 0 {
					header = append(header, blk...)
				} else {
					pending = append(pending, blk...)
				}
			}
		}
		if len(pending) > 0 { // blocks after the last packet (statistics)
			packets = append(packets, nil)
			between = append(between, pending)
		}
		return header, packets, between
	}
	t.Fatalf("%s: not a pcap or pcapng file", name)
	return nil, nil, nil
}

// TestSplitCaptureMatchesWhole splits every lab capture in two at every
// packet boundary (byte for byte, as tcpdump -C rotation does) and checks
// that analyzing the two parts together gives the same records —
// connects, outcomes, reasons, timings, rollup and summary — as the
// whole file. Without the merge, a connect cut in two is reported
// incomplete in the first part.
func TestSplitCaptureMatchesWhole(t *testing.T) {
	dir := t.TempDir()
	splits := 0
	for _, path := range labCaptureFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(path)
		header, packets, between := captureBlocks(t, base, data)
		want, wantCode, wantErr := jsonRecords(t, path)
		for k := 1; k < len(packets); k++ {
			var a, b bytes.Buffer
			a.Write(header)
			b.Write(header)
			for i := range packets {
				part := &a
				if i >= k {
					part = &b
				}
				part.Write(between[i])
				part.Write(packets[i])
			}
			pa := filepath.Join(dir, fmt.Sprintf("%s.%d.a", base, k))
			pb := filepath.Join(dir, fmt.Sprintf("%s.%d.b", base, k))
			if err := os.WriteFile(pa, a.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pb, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			got, code, errs := jsonRecords(t, pa, pb)
			if code != wantCode || !equalRecords(got, want) {
				t.Errorf("%s split after packet %d of %d: exit %d (whole: %d), records differ:\n%s\nstderr: %s (whole: %s)",
					base, k, len(packets), code, wantCode, diffRecords(want, got), errs, wantErr)
			}
			os.Remove(pa)
			os.Remove(pb)
			splits++
		}
	}
	t.Logf("%d two-part splits compared", splits)
}

// TestEditcapRotationMatchesWhole splits every lab capture with the real
// editcap -c 1 (every packet in its own file: every boundary at once) and
// with -c 3, reads the parts with -r DIR and expects the whole file's
// records (connects, rollup, patterns, time view, summary).
func TestEditcapRotationMatchesWhole(t *testing.T) {
	editcap, err := exec.LookPath("editcap")
	if err != nil {
		t.Skip("editcap is not installed (apt-get install wireshark-common): the byte-level splits of TestSplitCaptureMatchesWhole still run")
	}
	// The lab's volume captures (hundreds of connects, up to 4,626
	// packets) too: the rollup, patterns and time view must not change.
	volume, _ := filepath.Glob("../../testdata/volume/*.pcap")
	for _, path := range append(labCaptureFiles(t), volume...) {
		want, wantCode, _ := jsonRecords(t, path)
		for _, c := range []string{"1", "3"} {
			dir := t.TempDir()
			out := filepath.Join(dir, "part"+filepath.Ext(path))
			if b, err := exec.Command(editcap, "-c", c, path, out).CombinedOutput(); err != nil {
				t.Fatalf("editcap -c %s %s: %v\n%s", c, path, err, b)
			}
			got, code, errs := jsonRecords(t, "-r", dir)
			if code != wantCode || !equalRecords(got, want) {
				t.Errorf("%s split by editcap -c %s: exit %d (whole: %d), records differ:\n%s\nstderr: %s",
					filepath.Base(path), c, code, wantCode, diffRecords(want, got), errs)
			}
		}
	}
}

func equalRecords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func diffRecords(want, got []string) string {
	var sb strings.Builder
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&sb, "record %d\n  whole: %s\n  parts: %s\n", i+1, w, g)
		}
	}
	return sb.String()
}

// verdicts reduces analyze --format json output to what must not change
// when the same traffic is read from one more interface: per connect its
// client, outcome and reason and each attempt's endpoints, outcome and
// reason; and the summary's connects and outcomes (its duplicates returned
// apart).
func verdicts(t *testing.T, args ...string) (v []string, duplicates float64) {
	t.Helper()
	out, errs, code := run(nil, append([]string{"--format", "json", "--all"}, args...)...)
	if code != 0 {
		t.Fatalf("analyze %v: exit %d: %s", args, code, errs)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Kind, Client, Outcome, Reason string
			Connects                      int
			Outcomes                      map[string]int
			Duplicates                    float64
			Attempts                      json.RawMessage
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("analyze %v: %v: %s", args, err, line)
		}
		switch r.Kind {
		case "connect":
			var atts []struct{ Client, Server, Outcome, Reason string }
			json.Unmarshal(r.Attempts, &atts)
			v = append(v, fmt.Sprintf("connect %s %s %s %v", r.Client, r.Outcome, r.Reason, atts))
		case "summary":
			v = append(v, fmt.Sprintf("summary %d connects %v", r.Connects, r.Outcomes))
			duplicates = r.Duplicates
		}
	}
	return v, duplicates
}

// TestOverlappingInterfaceCaptures reads each lab scenario's two captures
// of the same traffic (tcpdump -i any, and the client's veth in pcapng)
// together: every packet of the second is a duplicate of one in the first,
// microseconds apart. Merged by time, the duplicates are recognised (same
// addresses, ports, flags, seq, ack, window, length and IP ID within 1 ms,
// as within one file) and counted, and the connects, outcomes and reasons
// are those of the first capture alone.
func TestOverlappingInterfaceCaptures(t *testing.T) {
	pairs := 0
	for _, anyPath := range labCaptureFiles(t) {
		if !strings.HasSuffix(anyPath, ".any.pcap") {
			continue
		}
		vethPath := strings.TrimSuffix(anyPath, ".any.pcap") + ".veth.pcapng"
		if _, err := os.Stat(vethPath); err != nil {
			continue
		}
		want, dupAlone := verdicts(t, anyPath)
		vethAlone, _ := verdicts(t, vethPath)
		for _, order := range [][]string{{anyPath, vethPath}, {vethPath, anyPath}} {
			got, dups := verdicts(t, order...)
			if !equalRecords(got, want) {
				t.Errorf("%s + %s: verdicts differ from %s alone:\n%s", filepath.Base(order[0]), filepath.Base(order[1]), filepath.Base(anyPath), diffRecords(want, got))
			}
			if len(vethAlone) > 1 && dups <= dupAlone {
				t.Errorf("%s + %s: %v duplicate frames counted (alone: %v): the veth capture's copies were not recognised", filepath.Base(order[0]), filepath.Base(order[1]), dups, dupAlone)
			}
		}
		pairs++
	}
	if pairs == 0 {
		t.Skip("no .any.pcap/.veth.pcapng pairs among the lab captures")
	}
	t.Logf("%d interface pairs compared", pairs)
}

// TestAnalyzeFileSetArgs: -r DIR and a quoted glob name the same set as the
// files themselves (same records); a file named twice, an empty directory
// and a pattern that matches nothing are usage errors.
func TestAnalyzeFileSetArgs(t *testing.T) {
	data, offsets := writePcap(t, refusedThenMore())
	dir := t.TempDir()
	k := offsets[2] // split after the second packet, as tcpdump -C would
	a, b := filepath.Join(dir, "db.pcap0"), filepath.Join(dir, "db.pcap1")
	os.WriteFile(a, data[:k], 0o644)
	os.WriteFile(b, append(append([]byte(nil), data[:24]...), data[k:]...), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("not a capture"), 0o644)
	whole := writeTemp(t, "whole.pcap", data)
	want, code, errs := jsonRecords(t, whole)
	if code != 0 {
		t.Fatalf("whole: exit %d: %s", code, errs)
	}
	for _, args := range [][]string{{a, b}, {b, a}, {"-r", dir}, {filepath.Join(dir, "db.pcap*")}} {
		got, code, errs := jsonRecords(t, args...)
		if code != 0 || !equalRecords(got, want) {
			t.Errorf("%v: exit %d (%s), records differ from the whole file:\n%s", args, code, errs, diffRecords(want, got))
		}
	}
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{a, "-r", dir}, "is named twice"},
		{[]string{"-r", empty}, "has no capture files"},
		{[]string{filepath.Join(dir, "*.nothing")}, "no file matches"},
	} {
		_, stderr, code := run(nil, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestAnalyzeSetUndecodableAndStdin: in a set, a capture none of whose
// frames decode is named in an error (exit 1) while the others are
// analyzed; standard input (-) joins a set like a file.
func TestAnalyzeSetUndecodableAndStdin(t *testing.T) {
	data, offsets := writePcap(t, refusedThenMore())
	var junk bytes.Buffer
	junk.Write(data[:24]) // the good capture's file header (Ethernet)
	for i := 0; i < 3; i++ {
		var rh [16]byte
		binary.LittleEndian.PutUint32(rh[8:], 3)
		binary.LittleEndian.PutUint32(rh[12:], 3)
		junk.Write(rh[:])
		junk.Write([]byte{1, 2, 3})
	}
	junkPath := writeTemp(t, "junk.pcap", junk.Bytes())
	whole := writeTemp(t, "whole.pcap", data)
	want, _, _ := jsonRecords(t, whole)
	_, stderr, code := run(nil, "--format", "json", junkPath, whole)
	if code != 1 || !strings.Contains(stderr, junkPath+": none of its 3 packets could be decoded") {
		t.Errorf("junk + good: exit %d, stderr %q", code, stderr)
	}
	// The good capture's second half from standard input, its first half
	// from a file: the whole capture's records.
	k := offsets[2]
	first := writeTemp(t, "first.pcap", data[:k])
	second := append(append([]byte(nil), data[:24]...), data[k:]...)
	out, errs, code := run(second, "--format", "json", first, "-")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "source")
		b, _ := json.Marshal(m)
		got = append(got, string(b))
	}
	if code != 0 || !equalRecords(got, want) {
		t.Errorf("file + stdin: exit %d (%s), records differ:\n%s", code, errs, diffRecords(want, got))
	}
}
