package bpf

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"

	"github.com/connscope/connscope/event"
)

// The drop reasons the analysis relies on, on this machine's kernel: an nft
// drop of an incoming SYN is NETFILTER_DROP for that SYN's flow (received),
// a SYN to a port nobody listens on is NO_SOCKET, and an nft drop of an
// outgoing SYN is NETFILTER_DROP attributed to the connecting process and
// socket. The port filter keeps other ports' drops in the kernel.
func TestDropReasons(t *testing.T) {
	l := newLab(t)
	const portOutDropped = 12
	rules := t.TempDir() + "/out.nft"
	if err := os.WriteFile(rules, []byte(fmt.Sprintf(`table inet csbpfout {
	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport %d drop
	}
}
`, portOutDropped)), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "exec", string(l.client), "nft", "-f", rules)

	pid := uint32(os.Getpid())
	tr, col := openTracer(t, Options{Ports: []uint16{portDropped, portClosed, portOutDropped}})
	for _, u := range tr.Unavailable() {
		if strings.HasPrefix(u, "tp_btf kfree_skb:") {
			t.Skipf("kernel drop reasons unavailable here: %s", u)
		}
	}

	v4 := netip.MustParseAddr(serverV4)
	v6 := netip.MustParseAddr(serverV6)
	cases := []struct {
		name     string
		dst      netip.AddrPort
		reason   string
		incoming bool
		owned    bool // carries the connecting process and socket
	}{
		{"nft-input/v4", netip.AddrPortFrom(v4, portDropped), "NETFILTER_DROP", true, false},
		{"nft-input/v6", netip.AddrPortFrom(v6, portDropped), "NETFILTER_DROP", true, false},
		{"closed/v4", netip.AddrPortFrom(v4, portClosed), "NO_SOCKET", true, false},
		{"closed/v6", netip.AddrPortFrom(v6, portClosed), "NO_SOCKET", true, false},
		{"nft-output/v4", netip.AddrPortFrom(v4, portOutDropped), "NETFILTER_DROP", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := connectTCP(l.client, tc.dst, true, 300*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			// The connecting socket's local port, from its events (the
			// connect call's return has it).
			sport, ok := waitFor(col, 5*time.Second, func(evs []event.Kernel) (uint16, bool) {
				for _, ev := range attemptEvents(evs, pid, c) {
					if ev.Src.Port() != 0 {
						return ev.Src.Port(), true
					}
				}
				return 0, false
			})
			if !ok {
				t.Fatalf("no event with the local port of the connect to %s", tc.dst)
			}
			drop, ok := waitFor(col, 5*time.Second, func(evs []event.Kernel) (event.Kernel, bool) {
				for _, ev := range evs {
					if ev.Kind == event.PacketDrop && ev.Dst == tc.dst && ev.Src.Port() == sport {
						return ev, true
					}
				}
				return event.Kernel{}, false
			})
			if !ok {
				t.Fatalf("no drop reported for the SYN %d → %s; events: %s", sport, tc.dst, renderDrops(col.snapshot()))
			}
			d := drop.Drop
			if d == nil {
				t.Fatal("drop event without Drop")
			}
			if d.Reason != tc.reason || d.Incoming != tc.incoming || d.Proto != event.ProtoTCP || d.TCPFlags&event.TCPSyn == 0 {
				t.Errorf("drop = %s incoming=%v proto=%d flags=%#x; want %s incoming=%v, a TCP SYN",
					d.Reason, d.Incoming, d.Proto, d.TCPFlags, tc.reason, tc.incoming)
			}
			if wantSrc := tc.dst.Addr(); (wantSrc.Is4() && drop.Src.Addr() != netip.MustParseAddr(clientV4)) ||
				(wantSrc.Is6() && drop.Src.Addr() != netip.MustParseAddr(clientV6)) {
				t.Errorf("drop source %s, want the client's address", drop.Src)
			}
			if d.Ifindex == 0 && tc.incoming {
				t.Errorf("incoming drop without its interface")
			}
			if tc.owned {
				evs := attemptEvents(col.snapshot(), pid, c)
				if len(evs) == 0 || drop.Cookie != evs[0].Cookie || drop.Process.PID != pid || drop.Process.TID != uint32(c.tid) {
					t.Errorf("outgoing drop attributed to cookie %d pid %d tid %d; want the connecting socket (pid %d tid %d)",
						drop.Cookie, drop.Process.PID, drop.Process.TID, pid, c.tid)
				}
			} else if drop.Process.PID != 0 {
				t.Errorf("incoming drop attributed to pid %d: the receiving host's softirq has no process", drop.Process.PID)
			}
			if drop.Time.Before(c.before.Add(-time.Second)) || drop.Time.After(c.after.Add(time.Second)) {
				t.Errorf("drop at %s, connect() between %s and %s", drop.Time.Format(time.StampMicro), c.before.Format(time.StampMicro), c.after.Format(time.StampMicro))
			}
			t.Logf("%s: %s at %s (ifindex %d)", tc.name, d.Reason, d.Location, d.Ifindex)
		})
	}

	// Ports outside the filter stay in the kernel: a SYN to the lab's
	// rejected port (10) is dropped by nft's reject on the server, but the
	// tracer follows 9, 11 and 12 only.
	t.Run("filtered", func(t *testing.T) {
		if _, err := connectTCP(l.client, netip.AddrPortFrom(v4, portRejected), true, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// A followed drop afterwards: once it arrived, the earlier one
		// would have too.
		c, err := connectTCP(l.client, netip.AddrPortFrom(v4, portClosed), true, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		_, ok := waitFor(col, 5*time.Second, func(evs []event.Kernel) (bool, bool) {
			for _, ev := range evs {
				if ev.Kind == event.PacketDrop && ev.Dst.Port() == portClosed && !ev.Time.Before(c.before) {
					return true, true
				}
			}
			return false, false
		})
		if !ok {
			t.Fatal("the followed drop (port 11) was not reported")
		}
		for _, ev := range col.snapshot() {
			if ev.Kind == event.PacketDrop && ev.Src.Port() != portDropped && ev.Src.Port() != portClosed && ev.Src.Port() != portOutDropped &&
				ev.Dst.Port() != portDropped && ev.Dst.Port() != portClosed && ev.Dst.Port() != portOutDropped {
				t.Errorf("drop of a port outside the filter reported: %s", renderDrops([]event.Kernel{ev}))
			}
		}
	})
}

// Under a pid filter without a port filter a drop passes only when a traced
// process's socket sent the packet: the incoming SYN dropped on the server
// is nobody's (the tracer reports no event of another process).
func TestDropsUnderPIDFilter(t *testing.T) {
	l := newLab(t)
	const portOutDropped = 12
	rules := t.TempDir() + "/out.nft"
	if err := os.WriteFile(rules, []byte(fmt.Sprintf("table inet csbpfout {\n chain output {\n  type filter hook output priority 0; policy accept;\n  tcp dport %d drop\n }\n}\n", portOutDropped)), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "exec", string(l.client), "nft", "-f", rules)
	pid := uint32(os.Getpid())
	tr, col := openTracer(t, Options{PIDs: []uint32{pid}})
	for _, u := range tr.Unavailable() {
		if strings.HasPrefix(u, "tp_btf kfree_skb:") {
			t.Skipf("kernel drop reasons unavailable here: %s", u)
		}
	}
	v4 := netip.MustParseAddr(serverV4)
	if _, err := connectTCP(l.client, netip.AddrPortFrom(v4, portDropped), true, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := connectTCP(l.client, netip.AddrPortFrom(v4, portOutDropped), true, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitFor(col, 5*time.Second, func(evs []event.Kernel) (bool, bool) {
		for _, ev := range evs {
			if ev.Kind == event.PacketDrop && ev.Dst.Port() == portOutDropped && ev.Process.PID == pid {
				return true, true
			}
		}
		return false, false
	}); !ok {
		t.Fatalf("the traced process's own dropped SYN was not reported: %s", renderDrops(col.snapshot()))
	}
	for _, ev := range col.snapshot() {
		if ev.Kind == event.PacketDrop && ev.Process.PID != pid {
			t.Errorf("a drop of no traced process passed the pid filter: %s", renderDrops([]event.Kernel{ev}))
		}
	}
}

func renderDrops(evs []event.Kernel) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Kind != event.PacketDrop || ev.Drop == nil {
			continue
		}
		fmt.Fprintf(&b, "[%s → %s %s in=%v flags=%#x at %s] ", ev.Src, ev.Dst, ev.Drop.Reason, ev.Drop.Incoming, ev.Drop.TCPFlags, ev.Drop.Location)
	}
	if b.Len() == 0 {
		return "(no drops)"
	}
	return b.String()
}

// btfSpec builds a BTF spec holding types, as a kernel's would.
func btfSpec(t *testing.T, types ...btf.Type) *btf.Spec {
	t.Helper()
	var b btf.Builder
	for _, typ := range types {
		if _, err := b.Add(typ); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// The reasons' names and values come from BTF: a kernel that numbers them
// differently is read as it numbers them, and one without the enum (or
// without NOT_SPECIFIED, which the kernel-side filter needs) is refused.
func TestDropReasonsFromBTF(t *testing.T) {
	build := func(name string, values ...btf.EnumValue) *btf.Spec {
		t.Helper()
		return btfSpec(t, &btf.Enum{Name: name, Size: 4, Values: values})
	}
	r, err := dropReasonsFrom(build("skb_drop_reason",
		btf.EnumValue{Name: "SKB_NOT_DROPPED_YET", Value: 0},
		btf.EnumValue{Name: "SKB_CONSUMED", Value: 1},
		btf.EnumValue{Name: "SKB_DROP_REASON_NOT_SPECIFIED", Value: 7},
		btf.EnumValue{Name: "SKB_DROP_REASON_NETFILTER_DROP", Value: 3},
		btf.EnumValue{Name: "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW", Value: 40},
		btf.EnumValue{Name: "SKB_DROP_REASON_MAX", Value: 41},
		btf.EnumValue{Name: "SKB_DROP_REASON_SUBSYS_MASK", Value: 0xffff0000},
	))
	if err != nil {
		t.Fatal(err)
	}
	if r.notSpecified != 7 || r.listenOverflow != 40 {
		t.Errorf("NOT_SPECIFIED=%d TCP_LISTEN_OVERFLOW=%d, want 7 and 40", r.notSpecified, r.listenOverflow)
	}
	for code, want := range map[uint32]string{3: "NETFILTER_DROP", 40: "TCP_LISTEN_OVERFLOW", 41: "reason 41", 0x10002: "reason 65538"} {
		if got := r.name(code); got != want {
			t.Errorf("name(%d) = %q, want %q", code, got, want)
		}
	}
	for _, spec := range []*btf.Spec{
		build("other_enum", btf.EnumValue{Name: "SKB_DROP_REASON_NOT_SPECIFIED", Value: 2}),
		build("skb_drop_reason", btf.EnumValue{Name: "SKB_DROP_REASON_NO_SOCKET", Value: 3}),
	} {
		if _, err := dropReasonsFrom(spec); err != errNoDropReasons {
			t.Errorf("dropReasonsFrom = %v, want errNoDropReasons", err)
		}
	}

	// This kernel's enum has the reasons the analysis names.
	kr, err := loadDropReasons()
	if err != nil {
		t.Skipf("this kernel has no drop reasons: %v", err)
	}
	known := map[string]bool{}
	for _, n := range kr.names {
		known[n] = true
	}
	for _, n := range []string{"NETFILTER_DROP", "NO_SOCKET", "TCP_LISTEN_OVERFLOW", "NEIGH_FAILED"} {
		if !known[n] {
			t.Errorf("this kernel's enum skb_drop_reason lacks %s", n)
		}
	}
}

// The symbolizer names the function that contains an address, from text
// symbols only; it reads the table once, at the first name asked for.
func TestSymbolizer(t *testing.T) {
	path := t.TempDir() + "/kallsyms"
	os.WriteFile(path, []byte("ffffffff81000000 T _stext\nffffffff81001000 t nf_hook_slow\nffffffff81002000 D some_data\nffffffff81003000 T tcp_v4_rcv\t[mod]\n0000000000000000 T hidden\n"), 0o644)
	s := &symbolizer{path: path}
	for addr, want := range map[uint64]string{
		0xffffffff81001010: "nf_hook_slow",
		0xffffffff81002010: "nf_hook_slow", // data symbols do not end a function
		0xffffffff81003001: "tcp_v4_rcv",
		0xffffffff81000000: "_stext",
		0xffffffff80000000: "",
		0:                  "",
		0xffffffff91000000: "", // far past every symbol
	} {
		if got := s.name(addr); got != want {
			t.Errorf("name(%#x) = %q, want %q", addr, got, want)
		}
	}
	os.Remove(path)
	if got := s.name(0xffffffff81001010); got != "nf_hook_slow" {
		t.Errorf("after kallsyms went away: %q, want the table read once", got)
	}
	// Out of address order (modules follow the kernel's text), with two
	// names at one address: the later one in the file names it, as before
	// the sort.
	unsorted := t.TempDir() + "/kallsyms"
	os.WriteFile(unsorted, []byte("ffffffffc0001000 t mod_fn\t[mod]\nFFFFFFFF81001000 T first_alias\nffffffff81001000 T second_alias\nffffffff81000000 T _stext\n10000000000000000 T too_long\nffffffffzz000000 T not_hex\nffffffff81005000 t\n"), 0o644)
	u := &symbolizer{path: unsorted}
	for addr, want := range map[uint64]string{
		0xffffffff81000010: "_stext",
		0xffffffff81001010: "second_alias",
		0xffffffffc0001001: "mod_fn",
	} {
		if got := u.name(addr); got != want {
			t.Errorf("unsorted: name(%#x) = %q, want %q", addr, got, want)
		}
	}
	if n := len(u.table.addrs); n != 4 {
		t.Errorf("unsorted: %d symbols, want 4 (lines without a name, or with a bad address, are none)", n)
	}
	hidden := &symbolizer{path: t.TempDir() + "/none"}
	if got := hidden.name(0xffffffff81001010); got != "" {
		t.Errorf("without kallsyms: %q", got)
	}
}
