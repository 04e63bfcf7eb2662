package analyze

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tsharkFrame is one TCP frame as tshark dissects it.
type tsharkFrame struct {
	num            int
	t              time.Time
	stream         int
	src, dst       string // ip:port ([v6]:port)
	syn, ack, rst  bool
	fin            bool
	length         int
	retransmission bool
	version        string
	errorCode      int
	seqRaw, ackRaw uint64
}

var tsharkFields = []string{
	"frame.number", "frame.time_epoch", "tcp.stream",
	"ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
	"tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset", "tcp.flags.fin", "tcp.len",
	"tcp.analysis.retransmission", "mysql.version", "mysql.error_code", "tcp.seq_raw", "tcp.ack_raw",
}

// runTshark dissects the TCP frames of a capture, decoding MySQL on the
// given ports as well as 3306.
func runTshark(t *testing.T, bin, path string, mysqlPorts []uint16) []tsharkFrame {
	t.Helper()
	args := []string{"-r", path, "-n", "-Y", "tcp && !icmp && !icmpv6", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"}
	for _, p := range mysqlPorts {
		if p != 3306 {
			args = append(args, "-d", fmt.Sprintf("tcp.port==%d,mysql", p))
		}
	}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v: %s", path, err, stderr.String())
	}
	var frames []tsharkFrame
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < len(tsharkFields) {
			continue
		}
		var fr tsharkFrame
		fr.num, _ = strconv.Atoi(f[0])
		sec, frac, _ := strings.Cut(f[1], ".")
		s, _ := strconv.ParseInt(sec, 10, 64)
		frac = (frac + "000000000")[:9]
		ns, _ := strconv.ParseInt(frac, 10, 64)
		fr.t = time.Unix(s, ns)
		fr.stream, _ = strconv.Atoi(f[2])
		src, dst := f[3], f[6]
		if src == "" {
			src, dst = "["+f[4]+"]", "["+f[7]+"]"
		}
		fr.src, fr.dst = src+":"+f[5], dst+":"+f[8]
		fr.syn, fr.ack, fr.rst, fr.fin = f[9] == "1", f[10] == "1", f[11] == "1", f[12] == "1"
		fr.length, _ = strconv.Atoi(f[13])
		fr.retransmission = f[14] != ""
		fr.version = f[15]
		fr.errorCode, _ = strconv.Atoi(f[16])
		fr.seqRaw, _ = strconv.ParseUint(f[17], 10, 64)
		fr.ackRaw, _ = strconv.ParseUint(f[18], 10, 64)
		frames = append(frames, fr)
	}
	return frames
}

// streamFigures are the per-stream figures both tools must agree on,
// counted up to the end of the attempt (connscope stops following a
// connection once its connection phase is over).
type streamFigures struct {
	client, server string
	syns           int
	retransmits    int
	rstFrom        string
	greetingDelay  *float64 // first server payload − handshake completion, ms
	version        string
	errorCode      int
}

func figures(frames []tsharkFrame, end time.Time) streamFigures {
	var f streamFigures
	var synAck, hsDone, firstPayload time.Time
	var srvISN uint64
	for _, fr := range frames {
		if fr.syn && !fr.ack && f.client == "" {
			f.client, f.server = fr.src, fr.dst
		}
		if fr.version != "" && f.version == "" {
			f.version = fr.version
		}
		if fr.errorCode != 0 && f.errorCode == 0 {
			f.errorCode = fr.errorCode
		}
		if fr.t.After(end) {
			continue
		}
		fromClient := fr.src == f.client
		switch {
		case fr.syn && !fr.ack:
			f.syns++
		case fr.syn && fr.ack && synAck.IsZero():
			synAck, srvISN = fr.t, fr.seqRaw
		case fromClient && fr.ack && !synAck.IsZero() && hsDone.IsZero() && fr.ackRaw == (srvISN+1)&0xffffffff:
			hsDone = fr.t
		}
		if fr.retransmission {
			f.retransmits++
		}
		if fr.rst && f.rstFrom == "" {
			if fromClient {
				f.rstFrom = "client"
			} else {
				f.rstFrom = "server"
			}
		}
		if !fromClient && fr.length > 0 && firstPayload.IsZero() {
			firstPayload = fr.t
		}
	}
	if hsDone.IsZero() {
		hsDone = synAck
	}
	if !firstPayload.IsZero() && !hsDone.IsZero() {
		d := float64(firstPayload.Sub(hsDone)) / float64(time.Millisecond)
		f.greetingDelay = &d
	}
	return f
}

// TestTsharkCrossCheck compares connscope with tshark on every lab capture:
// per TCP stream, the SYN count, retransmissions, who sent an RST, the
// first server payload's delay after the handshake, and the MySQL greeting
// version and error code.
func TestTsharkCrossCheck(t *testing.T) {
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (apt-get install tshark)")
	}
	for _, m := range loadManifest(t) {
		if !m.Reproduced {
			continue
		}
		for _, file := range []string{m.Any, m.Veth} {
			if file == "" {
				continue
			}
			file := file
			t.Run(file, func(t *testing.T) {
				t.Parallel() // tshark's start-up dominates
				path := filepath.Join(capturesDir, file)
				cs, _ := analyzeFile(t, path)
				attempts := map[string]*Attempt{}
				portSet := map[uint16]bool{}
				for _, c := range cs {
					for _, a := range c.Attempts {
						attempts[a.Client+" "+a.Server] = a
						if c.Port != 0 {
							portSet[c.Port] = true
						}
					}
				}
				var ports []uint16
				for p := range portSet {
					ports = append(ports, p)
				}
				sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
				streams := map[int][]tsharkFrame{}
				for _, fr := range runTshark(t, bin, path, ports) {
					streams[fr.stream] = append(streams[fr.stream], fr)
				}
				ids := make([]int, 0, len(streams))
				for id := range streams {
					ids = append(ids, id)
				}
				sort.Ints(ids)
				checked := 0
				for _, id := range ids {
					frames := streams[id]
					all := figures(frames, time.Unix(1<<40, 0))
					if all.client == "" || strings.HasSuffix(all.server, ":53") {
						continue // no SYN in the capture, or DNS over TCP
					}
					a := attempts[all.client+" "+all.server]
					if a == nil {
						t.Errorf("tshark stream %d (%s → %s) has no connscope attempt", id, all.client, all.server)
						continue
					}
					checked++
					end := a.Start.Add(time.Duration(a.DurationMS*float64(time.Millisecond)) + time.Microsecond)
					f := figures(frames, end)
					where := fmt.Sprintf("stream %d (%s → %s)", id, f.client, f.server)
					if f.syns != a.SYNCount {
						t.Errorf("%s: tshark counts %d SYNs, connscope %d", where, f.syns, a.SYNCount)
					}
					if f.retransmits != a.Retransmits {
						t.Errorf("%s: tshark counts %d retransmissions, connscope %d", where, f.retransmits, a.Retransmits)
					}
					if f.rstFrom != a.RSTFrom {
						t.Errorf("%s: tshark's first RST is from %q, connscope's from %q", where, f.rstFrom, a.RSTFrom)
					}
					// The server's first payload after the handshake: the
					// greeting delay when the server spoke first, the
					// client's first byte plus the server's response when
					// the client did.
					srvFirst := a.GreetingDelayMS
					if a.ClientFirstByteMS != nil && a.ServerResponseMS != nil {
						v := *a.ClientFirstByteMS + *a.ServerResponseMS
						srvFirst = &v
					}
					switch {
					case (f.greetingDelay == nil) != (srvFirst == nil):
						t.Errorf("%s: first server payload after the handshake: tshark %v ms, connscope %v ms", where, fmtPtr(f.greetingDelay), fmtPtr(srvFirst))
					case f.greetingDelay != nil && math.Abs(*f.greetingDelay-*srvFirst) > 0.003:
						t.Errorf("%s: first server payload after the handshake: tshark %.3f ms, connscope %.3f ms", where, *f.greetingDelay, *srvFirst)
					}
					var version string
					var code int
					if mysqlOf(a) != nil {
						version, code = mysqlOf(a).ServerVersion, int(mysqlOf(a).ErrorCode)
					}
					if f.version != version {
						t.Errorf("%s: MySQL server version: tshark %q, connscope %q", where, f.version, version)
					}
					if f.errorCode != code {
						t.Errorf("%s: MySQL error code: tshark %d, connscope %d", where, f.errorCode, code)
					}
				}
				if t.Failed() {
					t.Log(dumpConnects(cs))
				}
				t.Logf("%d TCP streams compared", checked)
			})
		}
	}
}
