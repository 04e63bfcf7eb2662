package probe

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestListenersCheck(t *testing.T) {
	mysqld := Process{PID: 100, Comm: "mariadbd", User: "mysql", SameNet: true}
	other := Process{PID: 200, Comm: "mariadbd", User: "mysql", SameNet: true}
	target := Target{Protocol: MySQL, Host: "198.51.100.10", Port: 3306}
	v4 := []netip.Addr{netip.MustParseAddr("198.51.100.10")}
	v6 := []netip.Addr{netip.MustParseAddr("2001:db8:2::10")}
	cnf := filepath.Join(writeTree(t, map[string]string{"my.cnf": "[mysqld]\nbind-address = 127.0.0.1\n", "other.cnf": "[mysqld]\nbind-address = *\n"}), "my.cnf")
	mysqld.Args = []string{"--defaults-file=" + cnf}
	other.Args = []string{"--defaults-file=" + filepath.Join(filepath.Dir(cnf), "other.cnf")}
	// The command line wins over the option file it also reads.
	cmdline := mysqld
	cmdline.Args = []string{"--defaults-file=" + cnf, "--bind-address=127.0.0.2"}
	tests := []struct {
		name   string
		procs  []Process
		tcp    []TCPListener
		addrs  []netip.Addr
		target Target
		status Status
		says   string
	}{
		{"all addresses", []Process{mysqld}, []TCPListener{{Addr: ap("0.0.0.0:3306"), PID: 100}}, v4, target, Pass, ""},
		{"[::] covers IPv4 and IPv6", []Process{mysqld}, []TCPListener{{Addr: ap("[::]:3306"), PID: 100}}, append(v4, v6...), target, Pass, ""},
		{"0.0.0.0 does not cover IPv6", []Process{mysqld}, []TCPListener{{Addr: ap("0.0.0.0:3306"), PID: 100}}, v6, target, Fail, "no listener on port 3306 accepts connections to 2001:db8:2::10"},
		{"bind-address 127.0.0.1", []Process{mysqld}, []TCPListener{{Addr: ap("127.0.0.1:3306"), PID: 100}}, v4, target, Fail, "bind_address is 127.0.0.1"},
		{"bind-address from the option file", []Process{mysqld}, []TCPListener{{Addr: ap("127.0.0.1:3306"), PID: 100}}, v4, target, Fail, "pid 100's option file " + cnf + ":2: bind-address = 127.0.0.1"},
		{"bind-address from the command line", []Process{cmdline}, []TCPListener{{Addr: ap("127.0.0.2:3306"), PID: 100}}, v4, target, Fail, "pid 100's command line: --bind-address=127.0.0.2"},
		{"bind-address from the listener's own option file", []Process{other, mysqld}, []TCPListener{{Addr: ap("0.0.0.0:3307"), PID: 200}, {Addr: ap("127.0.0.1:3306"), PID: 100}}, v4, target, Fail, "pid 100's option file " + cnf + ":2"},
		{"skip-networking", []Process{mysqld}, nil, v4, target, Fail, "skip_networking is on"},
		{"skip-networking on one of two servers", []Process{mysqld, other}, []TCPListener{{Addr: ap("0.0.0.0:3307"), PID: 200}}, v4, target, Fail, "pid 100 mariadbd has no TCP listener"},
		{"another port", []Process{mysqld}, []TCPListener{{Addr: ap("0.0.0.0:3307"), PID: 100}}, v4, target, Fail, "listens on port 3307, not 3306"},
		{"someone else on the port", []Process{mysqld}, []TCPListener{{Addr: ap("0.0.0.0:3307"), PID: 100}, {Addr: ap("0.0.0.0:3306"), PID: 300, Comm: "haproxy"}}, v4, target, Fail, "pid 300 haproxy listens on tcp 0.0.0.0:3306"},
		{"no server", nil, nil, v4, target, Skip, "no server process"},
		{"other namespace", []Process{{PID: 100, Comm: "mariadbd"}}, nil, v4, target, Skip, "another network namespace"},
		{"not root", []Process{{PID: 100, Comm: "mariadbd", NetUnknown: true}}, nil, v4, target, Skip, "run the probe as root"},
		{"socket target listened on", []Process{mysqld}, nil, nil, Target{Protocol: MySQL, Socket: "/run/mysqld/mysqld.sock"}, Pass, ""},
		{"socket target not listened on", []Process{mysqld}, nil, nil, Target{Protocol: MySQL, Socket: "/tmp/mysql.sock"}, Fail, "no server process listens on /tmp/mysql.sock"},
		{"postgres listen_addresses", []Process{{PID: 5, Comm: "postgres", SameNet: true}}, []TCPListener{{Addr: ap("127.0.0.1:5432"), PID: 5}}, v4, Target{Protocol: Postgres, Host: "198.51.100.10", Port: 5432}, Fail, "listen_addresses covers only 127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := Kernel{TCP: tc.tcp, Unix: []UnixListener{{Path: "/run/mysqld/mysqld.sock", PID: 100, Comm: "mariadbd"}}}
			c := listenersCheck(&Result{}, tc.target, tc.procs, k, tc.addrs, serverOptions(LocalEnv{}, tc.procs))
			if strings.Contains(strings.Join(c.Evidence, "\n"), "bind-address = *") {
				t.Errorf("cites the other server's bind-address: %q", c.Evidence)
			}
			text := strings.Join(c.Evidence, "\n") + "\n" + c.Fix
			if c.Status != tc.status || !strings.Contains(text, tc.says) {
				t.Fatalf("status %s, want %s saying %q:\n%s", c.Status, tc.status, tc.says, text)
			}
		})
	}
}

func TestEphemeralCheck(t *testing.T) {
	dst := netip.MustParseAddr("198.51.100.10")
	sock := func(sport uint16, state uint8, d string, dport uint16) *netlink.Socket {
		return &netlink.Socket{State: state, ID: netlink.SocketID{SourcePort: sport, DestinationPort: dport, Source: net.ParseIP("192.0.2.10"), Destination: net.ParseIP(d)}}
	}
	tests := []struct {
		name, rng string
		socks     []*netlink.Socket
		status    Status
		says      string
	}{
		{"free", "32768 60999", []*netlink.Socket{sock(40000, tcpTimeWait, "198.51.100.10", 3306)}, Pass, "1 of the range's ports in use (1 TIME_WAIT)"},
		{"exhausted (lab: 40000-40003)", "40000 40003", []*netlink.Socket{
			sock(40000, tcpTimeWait, "198.51.100.10", 3306), sock(40001, tcpTimeWait, "198.51.100.10", 3306),
			sock(40002, tcpTimeWait, "198.51.100.10", 3306), sock(40003, tcpEstablished, "198.51.100.10", 3306),
			sock(40001, tcpTimeWait, "198.51.100.10", 3307), // another destination port
			sock(50000, tcpTimeWait, "198.51.100.10", 3306), // outside the range
		}, Fail, "4 of the range's ports in use (1 ESTABLISHED, 3 TIME_WAIT)"},
		{"over 80%", "40000 40004", []*netlink.Socket{
			sock(40000, tcpTimeWait, "198.51.100.10", 3306), sock(40001, tcpTimeWait, "198.51.100.10", 3306),
			sock(40002, tcpTimeWait, "198.51.100.10", 3306), sock(40003, tcpTimeWait, "198.51.100.10", 3306),
		}, Warn, "over 80%"},
		{"malformed range", "40000", nil, Skip, "not two numbers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{
				"net/ipv4/ip_local_port_range": tc.rng + "\n",
				"net/ipv4/tcp_tw_reuse":        "2\n",
			})
			c := ephemeralCheck(LocalEnv{SysctlRoot: root}, Kernel{Sockets: tc.socks}, Target{Port: 3306}, []netip.Addr{dst})
			text := strings.Join(c.Evidence, "\n") + "\n" + c.Fix
			if c.Status != tc.status || !strings.Contains(text, tc.says) {
				t.Fatalf("status %s, want %s saying %q:\n%s", c.Status, tc.status, tc.says, text)
			}
		})
	}
}

func TestListenQueueCheck(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("198.51.100.10")}
	tests := []struct {
		name   string
		tcp    []TCPListener
		status Status
		says   string
	}{
		{"room", []TCPListener{{Addr: ap("0.0.0.0:3306"), Backlog: 80, Queue: 3}}, Pass, "3 waiting to be accepted, backlog 80"},
		{"full", []TCPListener{{Addr: ap("[::]:3306"), Backlog: 80, Queue: 81}}, Fail, "accept queue is full"},
		{"other address", []TCPListener{{Addr: ap("127.0.0.1:3306"), Backlog: 80}}, Skip, "no listener for the target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := listenQueueCheck(LocalEnv{ProcRoot: t.TempDir()}, Target{Port: 3306}, Kernel{TCP: tc.tcp}, addrs)
			text := strings.Join(c.Evidence, "\n") + "\n" + c.Fix
			if c.Status != tc.status || !strings.Contains(text, tc.says) {
				t.Fatalf("status %s, want %s saying %q:\n%s", c.Status, tc.status, tc.says, text)
			}
		})
	}
}

func TestSocketFilesCheck(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Chmod(live, 0o777)
	plain := filepath.Join(dir, "plain.sock")
	os.WriteFile(plain, nil, 0o644)
	cnf := writeTree(t, map[string]string{"my.cnf": "[client]\nsocket=" + live + "\n[mysqld]\nsocket=" + filepath.Join(dir, "gone.sock") + "\n"})
	opts := ReadOptionFiles(filepath.Join(cnf, "my.cnf"))
	tests := []struct {
		name   string
		target Target
		opts   OptionFiles
		env    LocalEnv
		status Status
		says   []string
	}{
		{"live socket from [client]", Target{Protocol: MySQL, Port: 3306}, ReadOptionFiles(), LocalEnv{SocketPaths: []string{live, filepath.Join(dir, "default.sock")}}, Pass,
			[]string{live + " (default): socket, listening", filepath.Join(dir, "default.sock") + " (default): missing"}},
		{"configured socket missing", Target{Protocol: MySQL, Port: 3306}, opts, LocalEnv{}, Fail,
			[]string{"my.cnf:2 [client]): socket, listening", "gone.sock (" + cnf + "/my.cnf:4 [mysqld]): missing", "gone.sock (" + cnf + "/my.cnf:4 [mysqld]) is missing"}},
		{"not a socket", Target{Protocol: MySQL, Socket: plain}, ReadOptionFiles(), LocalEnv{}, Fail, []string{"exists but is not a socket"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := socketFilesCheck(tc.target, tc.env, nil, Kernel{}, tc.opts, "")
			text := strings.Join(c.Evidence, "\n") + "\n" + c.Fix
			if c.Status != tc.status {
				t.Fatalf("status %s, want %s:\n%s", c.Status, tc.status, text)
			}
			for _, s := range tc.says {
				if !strings.Contains(text, s) {
					t.Errorf("does not say %q:\n%s", s, text)
				}
			}
		})
	}
}

func TestFirewallCheck(t *testing.T) {
	data, err := os.ReadFile("testdata/nft-lab.json")
	if err != nil {
		t.Fatal(err)
	}
	env := LocalEnv{NFT: func(context.Context) ([]byte, error) { return data, nil }}
	c := firewallCheck(context.Background(), env, Target{Port: 3311}, true)
	if c.Status != Fail || !strings.Contains(c.Fix, "nft delete rule inet connscope_lab input handle 3") {
		t.Errorf("3311: %s %q %q", c.Status, c.Evidence, c.Fix)
	}
	c = firewallCheck(context.Background(), env, Target{Port: 3306}, true)
	if c.Status != Pass {
		t.Errorf("3306: %s %q", c.Status, c.Evidence)
	}
	pol, _ := os.ReadFile("testdata/nft-policy.json")
	env.NFT = func(context.Context) ([]byte, error) { return pol, nil }
	if c := firewallCheck(context.Background(), env, Target{Port: 22}, true); c.Status != Warn || !strings.Contains(strings.Join(c.Evidence, "\n"), "policy drop") {
		t.Errorf("22 under a drop policy: %s %q", c.Status, c.Evidence)
	}
}

func TestConnectCheckSYNRetransmits(t *testing.T) {
	r := &Result{Attempts: []Attempt{
		{Network: "tcp", Addr: ap("198.51.100.10:3306"), Outcome: OutcomeOK, Connect: 2 * 1e9, SYNRetrans: 2},
	}}
	c := connectCheck(r)
	if c.Status != Warn || !strings.Contains(c.Evidence[0], "after 2 SYN retransmit(s)") {
		t.Fatalf("%s %q", c.Status, c.Evidence)
	}
	r.Attempts[0].SYNRetrans, r.Attempts[0].Connect = 0, 1e5
	if c := connectCheck(r); c.Status != Pass {
		t.Fatalf("no retransmit: %s %q", c.Status, c.Evidence)
	}
	// TCP_INFO of a real connect on loopback: no retransmit, an RTT.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := connectOne(context.Background(), "tcp", l.Addr().String(), MySQL, 100*1e6)
	if a.SYNRetrans != 0 || a.RTT <= 0 {
		t.Errorf("loopback connect: SYN retransmits %d, RTT %v", a.SYNRetrans, a.RTT)
	}
}
