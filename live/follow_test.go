package live

import (
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/event"
)

// The traced processes' listeners are followed on the addresses they
// serve: their own, or with a wildcard every local address of the family
// (:: also IPv4's); packets to and from those and connects to them are the
// traced processes', others' are not.
func TestFollowedListeners(t *testing.T) {
	local := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("2001:db8:2::10")}
	l := func(addr string, pid uint32) event.Listener {
		ap := netip.MustParseAddrPort(addr)
		f := uint16(event.FamilyInet)
		if ap.Addr().Is6() {
			f = event.FamilyInet6
		}
		return event.Listener{Family: f, Addr: ap, PID: pid, Comm: "mariadbd"}
	}
	tests := []struct {
		name      string
		listeners []event.Listener
		in, out   []string // server addresses followed, not followed
		notice    string
	}{
		{"wildcard IPv4", []event.Listener{l("0.0.0.0:3306", 812)}, []string{"127.0.0.1:3306", "198.51.100.10:3306"}, []string{"[2001:db8:2::10]:3306", "198.51.100.10:3307", "203.0.113.1:3306"},
			"mariadbd[812] on 0.0.0.0:3306"},
		{"wildcard IPv6 takes IPv4 too", []event.Listener{l("[::]:3306", 812)}, []string{"198.51.100.10:3306", "[2001:db8:2::10]:3306"}, nil, "mariadbd[812] on [::]:3306"},
		{"one address", []event.Listener{l("127.0.0.1:3306", 812)}, []string{"127.0.0.1:3306"}, []string{"198.51.100.10:3306"}, "on 127.0.0.1:3306"},
		{"another process's listener", []event.Listener{l("0.0.0.0:3306", 900)}, nil, []string{"198.51.100.10:3306"}, ""},
		{"no process found", []event.Listener{l("0.0.0.0:3306", 0)}, nil, []string{"198.51.100.10:3306"}, ""},
		{"no TCP", []event.Listener{{NoTCP: true, PID: 812, Comm: "mariadbd"}}, nil, []string{"198.51.100.10:3306"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFollowed([]uint32{812}, false, func() ([]netip.Addr, error) { return local, nil })
			var notices []string
			f.update(tc.listeners, func(s string) { notices = append(notices, s) })
			if got := strings.Join(notices, "\n"); (tc.notice == "") != (got == "") || !strings.Contains(got, tc.notice) {
				t.Errorf("notices %q, want one with %q", got, tc.notice)
			}
			for _, want := range []struct {
				addrs    []string
				followed bool
			}{{tc.in, true}, {tc.out, false}} {
				for _, s := range want.addrs {
					srv := netip.MustParseAddrPort(s)
					to := &event.Packet{Proto: event.ProtoTCP, Src: netip.MustParseAddr("192.0.2.10"), SrcPort: 40000, Dst: srv.Addr(), DstPort: srv.Port()}
					from := &event.Packet{Proto: event.ProtoTCP, Dst: netip.MustParseAddr("192.0.2.10"), DstPort: 40000, Src: srv.Addr(), SrcPort: srv.Port()}
					udp := *to
					udp.Proto = event.ProtoUDP
					c := &analyze.Connect{Attempts: []*analyze.Attempt{{Client: "192.0.2.10:40000", Server: s}}}
					if f.packet(to) != want.followed || f.packet(from) != want.followed || f.connect(c) != want.followed || f.packet(&udp) {
						t.Errorf("%s: followed packets to/from it %v/%v, connect %v, UDP %v; want %v", s, f.packet(to), f.packet(from), f.connect(c), f.packet(&udp), want.followed)
					}
				}
			}
		})
	}
	var none *followed
	if none.packet(&event.Packet{Proto: event.ProtoTCP}) {
		t.Error("no pid filter: a packet followed")
	}
}

// With children followed, a descendant of a traced process is traced (a
// server started by a shell script under `run`); without, only the roots.
func TestFollowedDescendants(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	self, pid := uint32(os.Getpid()), uint32(child.Process.Pid)
	if got := parentPID(pid); got != self {
		t.Fatalf("parentPID(%d) = %d, want %d", pid, got, self)
	}
	if !newFollowed([]uint32{self}, true, nil).traced(pid) {
		t.Error("a child of a root, children followed: not traced")
	}
	if newFollowed([]uint32{self}, false, nil).traced(pid) {
		t.Error("a child of a root, children not followed: traced")
	}
	if newFollowed([]uint32{pid}, true, nil).traced(self) {
		t.Error("the parent of a root: traced")
	}
}

// The tracer is given the listen ports of the traced processes' listeners
// (their server-side kernel events then pass its pid filter), each once,
// never another process's; a failure is said.
func TestFollowedServerPorts(t *testing.T) {
	l := func(addr string, pid uint32) event.Listener {
		return event.Listener{Family: event.FamilyInet, Addr: netip.MustParseAddrPort(addr), PID: pid, Comm: "mariadbd"}
	}
	var given []uint16
	fail := map[uint16]bool{8080: true}
	f := newFollowed([]uint32{812}, false, func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil })
	f.serverPort = func(p uint16) error {
		given = append(given, p)
		if fail[p] {
			return os.ErrPermission
		}
		return nil
	}
	var notices []string
	notice := func(s string) { notices = append(notices, s) }
	f.update([]event.Listener{l("0.0.0.0:3306", 812), l("0.0.0.0:5432", 900), {NoTCP: true, PID: 812}}, notice)
	f.update([]event.Listener{l("0.0.0.0:3306", 812), l("127.0.0.1:3306", 812), l("127.0.0.1:8080", 812)}, notice)
	if want := []uint16{3306, 8080}; !slices.Equal(given, want) {
		t.Errorf("ports given to the tracer %v, want %v", given, want)
	}
	if got := strings.Join(notices, "\n"); !strings.Contains(got, "127.0.0.1:8080: permission denied") {
		t.Errorf("notices %q, want the failure for 8080", got)
	}
}
