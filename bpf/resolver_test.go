package bpf

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/event"
)

const resolverTestName = "db.csbpf.test"

// serveDNS answers A and AAAA queries for resolverTestName with the lab
// server's addresses (NXDOMAIN otherwise) on UDP port 53 in ns.
func serveDNS(t *testing.T, ns netns, listen string) {
	t.Helper()
	var pc net.PacketConn
	if err := ns.do(func() (err error) {
		pc, err = net.ListenPacket("udp", listen)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n]); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
}

// dnsAnswer builds the response to a one-question query, or nil for
// something that is not one.
func dnsAnswer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	// question: labels, then type and class
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]

	resp := append([]byte(nil), q[:2]...)       // id
	resp = append(resp, 0x81, 0x80)             // response, recursion desired+available, NOERROR
	resp = append(resp, 0, 1, 0, 0, 0, 0, 0, 0) // counts, patched below
	resp = append(resp, question...)
	var rdata []byte
	switch {
	case !strings.EqualFold(strings.Join(labels, "."), resolverTestName):
		resp[3] |= 3 // NXDOMAIN
	case qtype == 1:
		a := netip.MustParseAddr(serverV4).As4()
		rdata = a[:]
	case qtype == 28:
		a := netip.MustParseAddr(serverV6).As16()
		rdata = a[:]
	}
	if rdata != nil {
		binary.BigEndian.PutUint16(resp[6:], 1)
		resp = append(resp, 0xc0, 12) // name: pointer to the question
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = append(resp, 0, 1, 0, 0, 0, 60) // class IN, TTL 60
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}

// TestResolverConnects runs a real glibc lookup (getent ahosts) in the
// client namespace, whose resolv.conf points at a DNS server in the server
// namespace. glibc connect()s a UDP socket to the DNS server, then, to sort
// the two answers (RFC 6724), connects a UDP socket to each candidate
// without sending anything. Both kinds pass a port filter for another port.
func TestResolverConnects(t *testing.T) {
	l := newLab(t)
	requireTools(t, "getent")
	serveDNS(t, l.server, net.JoinHostPort(serverV4, "53"))
	etc := filepath.Join("/etc/netns", string(l.client))
	_, statErr := os.Stat("/etc/netns")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(etc)
		if os.IsNotExist(statErr) {
			os.Remove("/etc/netns") // this test created it; fails harmlessly if no longer empty
		}
	})
	resolv := "nameserver " + serverV4 + "\noptions timeout:2 attempts:1\n"
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		t.Fatal(err)
	}

	_, col := openTracer(t, Options{PIDs: []uint32{uint32(os.Getpid())}, FollowChildren: true, Ports: []uint16{portListening}})
	cmd := exec.Command("ip", "netns", "exec", string(l.client), "getent", "ahosts", resolverTestName)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("getent ahosts %s: %v\n%s", resolverTestName, err, out)
	}
	if !strings.Contains(string(out), serverV4) || !strings.Contains(string(out), serverV6) {
		t.Fatalf("getent did not resolve both addresses:\n%s", out)
	}
	getent := uint32(cmd.Process.Pid) // ip netns exec execs getent in place

	dns := netip.AddrPortFrom(netip.MustParseAddr(serverV4), 53)
	candidates := []netip.Addr{netip.MustParseAddr(serverV6), netip.MustParseAddr(serverV4)}
	// glibc's own order: the query, then (answers in hand) the sorting
	// connects. How many DNS connects it makes (one socket for A and AAAA,
	// or one each) is glibc's business: wait for one DNS connect and one
	// sorting connect per candidate, then for the stragglers.
	isDNS := func(ev event.Kernel) bool { return ev.Dst.Port() == 53 }
	udpOf := func(all []event.Kernel) []event.Kernel {
		var udp []event.Kernel
		for _, ev := range all {
			if ev.Kind == event.ConnectCall && ev.Process.PID == getent && ev.SockType == event.SockDgram {
				udp = append(udp, ev)
			}
		}
		slices.SortStableFunc(udp, func(a, b event.Kernel) int { return a.Time.Compare(b.Time) })
		return udp
	}
	complete := func(udp []event.Kernel) bool {
		if !slices.ContainsFunc(udp, isDNS) {
			return false
		}
		for _, c := range candidates {
			if !slices.ContainsFunc(udp, func(ev event.Kernel) bool { return !isDNS(ev) && ev.Dst.Addr() == c }) {
				return false
			}
		}
		return true
	}
	evs, ok := waitFor(col, 3*time.Second, func(all []event.Kernel) ([]event.Kernel, bool) {
		udp := udpOf(all)
		return udp, complete(udp)
	})
	if !ok {
		t.Fatalf("want a UDP connect to the DNS server and one per candidate %v; have:\n%s\nall events:\n%s", candidates, render(evs), render(col.snapshot()))
	}
	time.Sleep(3 * pollInterval) // stragglers
	evs = udpOf(col.snapshot())
	if first := evs[0]; !isDNS(first) {
		t.Errorf("first UDP connect %s to %v, want one to the DNS server %v:\n%s", describe(first), first.Dst, dns, render(evs))
	}
	for _, ev := range evs {
		if ev.Ret != 0 || ev.Process.Comm != "getent" {
			t.Errorf("UDP connect %s to %v by %q: want success by getent", describe(ev), ev.Dst, ev.Process.Comm)
		}
		if isDNS(ev) {
			if ev.Dst != dns {
				t.Errorf("DNS connect to %v, want %v", ev.Dst, dns)
			}
			continue
		}
		if ev.Dst.Port() != 0 || !slices.Contains(candidates, ev.Dst.Addr()) {
			t.Errorf("address-sorting connect to %v: want a candidate %v with port 0 (no service given)", ev.Dst, candidates)
		}
		wantFamily := uint16(event.FamilyInet)
		if ev.Dst.Addr().Is6() {
			wantFamily = event.FamilyInet6
		}
		if ev.Family != wantFamily || !ev.Src.Addr().IsValid() {
			t.Errorf("address-sorting connect to %v: family %d src %v", ev.Dst, ev.Family, ev.Src)
		}
	}
	t.Logf("resolver connects:\n%s", render(evs))
}
