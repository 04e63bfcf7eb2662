package analyze

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/connscope/connscope/event"
)

// The listener inventory names who listens on the refused port and where:
// a server bound to loopback only explains the RST to its public address;
// a full accept queue at the start explains a timeout; nothing is said when
// the inventory does not bear on the attempt.
func TestListenerCauses(t *testing.T) {
	mariadbd := func(addr string, queue, backlog uint32) event.Listener {
		ap := netip.MustParseAddrPort(addr)
		f := uint16(event.FamilyInet)
		if ap.Addr().Is6() {
			f = event.FamilyInet6
		}
		return event.Listener{Family: f, Addr: ap, AcceptQueue: queue, Backlog: backlog, PID: 812, Comm: "mariadbd",
			UnixSockets: []event.UnixListener{{Path: "/run/mysqld/mysqld.sock", Owner: "mysql:mysql", Mode: 0o777}}}
	}
	noTCP := func(comm string, pid uint32) event.Listener {
		return event.Listener{NoTCP: true, PID: pid, Comm: comm,
			UnixSockets: []event.UnixListener{{Path: "/run/mysqld/mysqld.sock", Owner: "mysql:mysql", Mode: 0o777}}}
	}
	noSocket := func(s *sim) {
		s.kernel(&event.Kernel{Time: s.at(0.02), Kind: event.PacketDrop, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(cli), Dst: ap(srv), Drop: &event.Drop{Reason: "NO_SOCKET", Incoming: true, Proto: event.ProtoTCP, TCPFlags: event.TCPSyn}})
	}
	refused := func(drop bool) func(s *sim) {
		return func(s *sim) {
			k := s.conn(cli, srv)
			k.SYN(0)
			if drop {
				noSocket(s)
			}
			k.refuse(0.03)
		}
	}
	unanswered := func(s *sim) {
		k := s.conn(cli, srv)
		for _, ms := range []float64{0, 1000, 3000} {
			k.SYN(ms)
		}
		s.udp(30000, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
	}
	tests := []struct {
		name      string
		listeners []event.Listener
		script    func(s *sim)
		want      string // a cause containing it; "" : no inventory cause
	}{
		{"loopback only, RST with NO_SOCKET", []event.Listener{mariadbd("127.0.0.1:3306", 0, 80)}, refused(true),
			"mariadbd[812] listens on 127.0.0.1:3306 only; this SYN came to 192.0.2.20:3306, where nothing listens, hence the RST (the kernel: NO_SOCKET): the server is bound to other addresses (its bind or listen address setting), or the client uses the wrong address. It also listens on the unix socket /run/mysqld/mysqld.sock."},
		{"loopback v4 and v6, RST without drop reasons", []event.Listener{mariadbd("127.0.0.1:3306", 0, 80), mariadbd("[::1]:3306", 0, 80)}, refused(false),
			"listens on 127.0.0.1:3306 and [::1]:3306 only"},
		{"listening everywhere: not the cause", []event.Listener{mariadbd("0.0.0.0:3306", 0, 80)}, refused(true), ""},
		{"listening on :: covers IPv4", []event.Listener{mariadbd("[::]:3306", 0, 80)}, refused(true), ""},
		{"another port's listener", []event.Listener{mariadbd("127.0.0.1:3307", 0, 80)}, refused(true),
			"Nothing listened on port 3306 of this host before this attempt (listener inventory)"},
		{"no listener and no NO_SOCKET: maybe another host", []event.Listener{mariadbd("127.0.0.1:3307", 0, 80)}, refused(false), ""},
		{"accept queue full at the start", []event.Listener{mariadbd("0.0.0.0:3306", 80, 80)}, unanswered,
			"mariadbd[812]'s accept queue on 0.0.0.0:3306 was already full (80 waiting, limit 80)"},
		{"accept queue with room", []event.Listener{mariadbd("0.0.0.0:3306", 3, 80)}, unanswered, ""},
		{"skip_networking: mariadbd with no TCP listener", []event.Listener{noTCP("mariadbd", 812)}, refused(true),
			"Nothing listens on port 3306 of this host, hence the RST (the kernel: NO_SOCKET); mariadbd[812] runs here with no TCP listener at all, only the unix socket /run/mysqld/mysqld.sock: skip_networking is on"},
		{"postgres with listen_addresses empty", []event.Listener{noTCP("postgres", 812)}, refused(true),
			"postgres[812] runs here with no TCP listener at all, only the unix socket /run/mysqld/mysqld.sock: listen_addresses is empty"},
		{"skip_networking beside a listener on the port: the listener explains", []event.Listener{mariadbd("127.0.0.1:3306", 0, 80), noTCP("mysqld", 900)}, refused(true),
			"mariadbd[812] listens on 127.0.0.1:3306 only"},
		{"no TCP, but no NO_SOCKET: maybe another host", []event.Listener{noTCP("mariadbd", 812)}, refused(false), ""},
		{"no TCP, the SYN unanswered: not the cause", []event.Listener{noTCP("mariadbd", 812)}, unanswered, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{Listeners: tc.listeners})
			tc.script(s)
			s.close()
			if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
				t.Fatalf("want one attempt:\n%s", dumpConnects(s.got))
			}
			causes := s.got[0].Attempts[0].Causes
			if tc.want != "" && !hasSubstring(causes, tc.want) {
				t.Errorf("causes %q lack %q", causes, tc.want)
			}
			if tc.want == "" {
				for _, c := range causes {
					if strings.Contains(c, "[812]") || strings.Contains(c, "listener inventory") || strings.Contains(c, "no TCP listener") {
						t.Errorf("an inventory cause where none applies: %q", c)
					}
				}
			}
		})
	}
}

// An inventory taken while tracing (SetListeners) applies to the attempts
// that start after it; earlier attempts keep the inventory in force when
// they started.
func TestListenersOverTime(t *testing.T) {
	loopback := event.Listener{Family: event.FamilyInet, Addr: ap("127.0.0.1:3306"), Backlog: 80, PID: 812, Comm: "mariadbd"}
	other := event.Listener{Family: event.FamilyInet, Addr: ap("127.0.0.1:3307"), Backlog: 80, PID: 700, Comm: "socat"}
	const appeared = "mariadbd[812] listens on 127.0.0.1:3306 only"
	const nothing = "Nothing listened on port 3306 of this host before this attempt"
	tests := []struct {
		name    string
		start   []event.Listener
		later   []event.Listener // taken at +5 s
		synAt   float64          // ms
		want    string
		notWant string
	}{
		{"before the server appeared", []event.Listener{other}, []event.Listener{other, loopback}, 1000, nothing, appeared},
		{"after the server appeared", []event.Listener{other}, []event.Listener{other, loopback}, 6000, appeared, nothing},
		{"a server started after the trace began, nothing at the start", nil, []event.Listener{loopback}, 6000, appeared, nothing},
		{"before the server went away", []event.Listener{loopback}, []event.Listener{other}, 1000, appeared, nothing},
		{"after the server went away", []event.Listener{loopback}, []event.Listener{other}, 6000, nothing, appeared},
		{"after every listener went away", []event.Listener{loopback}, nil, 6000, nothing, appeared},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{Listeners: tc.start})
			s.e.SetListeners(s.at(5000), tc.later)
			k := s.conn(cli, srv)
			k.SYN(tc.synAt)
			s.kernel(&event.Kernel{Time: s.at(tc.synAt + 0.02), Kind: event.PacketDrop, Family: event.FamilyInet, SockType: event.SockStream,
				Src: ap(cli), Dst: ap(srv), Drop: &event.Drop{Reason: "NO_SOCKET", Incoming: true, Proto: event.ProtoTCP, TCPFlags: event.TCPSyn}})
			k.refuse(tc.synAt + 0.03)
			s.close()
			if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
				t.Fatalf("want one attempt:\n%s", dumpConnects(s.got))
			}
			causes := s.got[0].Attempts[0].Causes
			if !hasSubstring(causes, tc.want) || hasSubstring(causes, tc.notWant) {
				t.Errorf("causes %q: want %q, not %q", causes, tc.want, tc.notWant)
			}
		})
	}
}
