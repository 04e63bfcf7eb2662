package probe

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name, conf string
		servers    []string
		search     []string
		ndots      int
		timeout    time.Duration
		attempts   int
		defaulted  bool
	}{
		{"empty: glibc defaults", "", []string{"127.0.0.1:53"}, nil, 1, 5 * time.Second, 2, true},
		{"lab client", "nameserver 198.51.100.53\noptions timeout:1 attempts:2\n", []string{"198.51.100.53:53"}, nil, 1, time.Second, 2, false},
		{"at most three servers", "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 10.0.0.4\n", []string{"10.0.0.1:53", "10.0.0.2:53", "[::1]:53"}, nil, 1, 5 * time.Second, 2, false},
		{"last search wins over domain", "domain a.example\nsearch b.example c.example # comment\n", []string{"127.0.0.1:53"}, []string{"b.example", "c.example"}, 1, 5 * time.Second, 2, true},
		{"limits", "options ndots:40 timeout:99 attempts:9\n", []string{"127.0.0.1:53"}, nil, 15, 30 * time.Second, 5, true},
		{"comments and bad server", "; x\n# y\nnameserver not-an-ip\nnameserver 192.0.2.53 ; z\n", []string{"192.0.2.53:53"}, nil, 1, 5 * time.Second, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ParseResolvConf("resolv.conf", strings.NewReader(tc.conf))
			var servers []string
			for _, s := range c.Servers {
				servers = append(servers, s.String())
			}
			if !reflect.DeepEqual(servers, tc.servers) || !reflect.DeepEqual(c.Search, tc.search) || c.Ndots != tc.ndots || c.Timeout != tc.timeout || c.Attempts != tc.attempts || c.Defaulted != tc.defaulted {
				t.Fatalf("got %+v", c)
			}
		})
	}
}

func TestCandidateNames(t *testing.T) {
	conf := ResolvConf{Search: []string{"a.example", "b.example."}, Ndots: 1}
	tests := []struct {
		name  string
		ndots int
		want  []string
	}{
		{"db", 1, []string{"db.a.example", "db.b.example", "db"}},
		{"db.corp", 1, []string{"db.corp", "db.corp.a.example", "db.corp.b.example"}},
		{"db.corp", 2, []string{"db.corp.a.example", "db.corp.b.example", "db.corp"}},
		{"db.corp.", 1, []string{"db.corp"}},
	}
	for _, tc := range tests {
		conf.Ndots = tc.ndots
		if got := CandidateNames(tc.name, conf); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CandidateNames(%q, ndots %d) = %q, want %q", tc.name, tc.ndots, got, tc.want)
		}
	}
}

func TestLookupHosts(t *testing.T) {
	hosts := "127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.0.2.5 db.example db # the db\n# 192.0.2.6 db\n192.0.2.7 DB.Example.\nbogus db\n"
	got := LookupHosts(strings.NewReader(hosts), "db.example")
	want := []HostsMatch{{3, netip.MustParseAddr("192.0.2.5")}, {5, netip.MustParseAddr("192.0.2.7")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := LookupHosts(strings.NewReader(hosts), "localhost"); len(got) != 2 {
		t.Fatalf("localhost: got %v, want the IPv4 and IPv6 lines", got)
	}
}

func TestHostsSources(t *testing.T) {
	tests := []struct{ conf, want string }{
		{"", "files dns"},
		{"passwd: files\nhosts:          files mdns4_minimal [NOTFOUND=return] dns myhostname\n", "files mdns4_minimal dns myhostname"},
		{"hosts: dns files # x\n", "dns files"},
	}
	for _, tc := range tests {
		if got := strings.Join(HostsSources(strings.NewReader(tc.conf)), " "); got != tc.want {
			t.Errorf("HostsSources(%q) = %q, want %q", tc.conf, got, tc.want)
		}
	}
}

// dnsServer is a real UDP DNS server on 127.0.0.1 answering from a table:
// "name/A" → addresses, "name/AAAA" → addresses; names under nx are
// NXDOMAIN, under silent never answered, under late answered after delay.
type dnsServer struct {
	conn    *net.UDPConn
	answers map[string][]string
	nx      map[string]bool
	silent  map[string]bool
	delay   map[string]time.Duration
}

func startDNS(t *testing.T, s *dnsServer) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s.conn = c
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Questions) != 1 {
				continue
			}
			q := m.Questions[0]
			name := strings.TrimSuffix(q.Name.String(), ".")
			if s.silent[name] {
				continue
			}
			key := name + "/" + typeName(q.Type)
			resp := dnsmessage.Message{Header: dnsmessage.Header{ID: m.ID, Response: true, RecursionAvailable: true}, Questions: m.Questions}
			if s.nx[name] {
				resp.RCode = dnsmessage.RCodeNameError
			}
			for _, a := range s.answers[key] {
				ip := netip.MustParseAddr(a)
				h := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
				if ip.Is4() {
					h.Type = dnsmessage.TypeA
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: ip.As4()}})
				} else {
					h.Type = dnsmessage.TypeAAAA
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: ip.As16()}})
				}
			}
			out, _ := resp.Pack()
			d := s.delay[name]
			go func() {
				time.Sleep(d)
				c.WriteToUDPAddrPort(out, from)
			}()
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// testResolver writes the three files and sends every query to the test
// server (resolv.conf cannot name a port).
func testResolver(t *testing.T, srv netip.AddrPort, hosts, resolv, nss string) *Resolver {
	dir := t.TempDir()
	w := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return &Resolver{
		HostsPath: w("hosts", hosts), ResolvConfPath: w("resolv.conf", resolv), NSSwitchPath: w("nsswitch.conf", nss),
		Exchange: func(ctx context.Context, _ netip.AddrPort, msg []byte) ([]byte, error) {
			return exchangeUDP(ctx, srv, msg)
		},
		Source: func(dst netip.Addr) (netip.Addr, bool) {
			if dst.Is4() {
				return netip.MustParseAddr("192.0.2.10"), true
			}
			return netip.MustParseAddr("2001:db8:1::10"), true
		},
	}
}

func TestResolve(t *testing.T) {
	srv := startDNS(t, &dnsServer{
		answers: map[string][]string{
			"dual.test/A": {"198.51.100.10"}, "dual.test/AAAA": {"2001:db8:2::10"},
			"db.corp.test/A": {"198.51.100.20"},
			"late.test/A":    {"198.51.100.30"},
		},
		nx:     map[string]bool{"nx.test": true, "db.corp.test.corp.test": true, "db.corp.test": false},
		silent: map[string]bool{"never.test": true},
		delay:  map[string]time.Duration{"late.test": 300 * time.Millisecond},
	})
	const hosts = "192.0.2.77 pinned.test\n"
	tests := []struct {
		name, target, resolv, nss string
		addrs                     []string
		queries                   []string // type name rcode-or-error-prefix
		err                       string
	}{
		{name: "dual stack: IPv6 first (RFC 6724 precedence)", target: "dual.test", resolv: "nameserver 192.0.2.53\n",
			addrs: []string{"2001:db8:2::10", "198.51.100.10"}, queries: []string{"hosts pinned?", "A dual.test NOERROR", "AAAA dual.test NOERROR"}},
		{name: "hosts file first, DNS not asked", target: "pinned.test", resolv: "nameserver 192.0.2.53\n",
			addrs: []string{"192.0.2.77"}, queries: []string{"hosts pinned?"}},
		{name: "dns before files", target: "pinned.test", resolv: "nameserver 192.0.2.53\n", nss: "hosts: dns files\n",
			addrs: []string{"192.0.2.77"}, queries: []string{"A pinned.test NOERROR", "AAAA pinned.test NOERROR", "hosts pinned?"}},
		{name: "search domain tried first for a short name", target: "db", resolv: "nameserver 192.0.2.53\nsearch corp.test\n",
			addrs: []string{"198.51.100.20"}, queries: []string{"hosts pinned?", "A db.corp.test NOERROR", "AAAA db.corp.test NOERROR"}},
		{name: "NXDOMAIN", target: "nx.test", resolv: "nameserver 192.0.2.53\n",
			queries: []string{"hosts pinned?", "A nx.test NXDOMAIN", "AAAA nx.test NXDOMAIN"}, err: "nx.test: NXDOMAIN"},
		{name: "never answered: each attempt timed out", target: "never.test", resolv: "nameserver 192.0.2.53\noptions timeout:1 attempts:2\n",
			queries: []string{"hosts pinned?", "A never.test no answer within 1.0 s", "A never.test no answer within 1.0 s", "AAAA never.test no answer within 1.0 s", "AAAA never.test no answer within 1.0 s"}, err: "no answer"},
		{name: "late answer", target: "late.test", resolv: "nameserver 192.0.2.53\n",
			addrs: []string{"198.51.100.30"}, queries: []string{"hosts pinned?", "A late.test NOERROR", "AAAA late.test NOERROR"}},
		{name: "address literal", target: "192.0.2.1", addrs: []string{"192.0.2.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nss := tc.nss
			if nss == "" {
				nss = "hosts: files dns\n"
			}
			r := testResolver(t, srv, hosts, tc.resolv, nss)
			res := r.Resolve(context.Background(), tc.target)
			var addrs []string
			for _, a := range res.Addrs {
				addrs = append(addrs, a.String())
			}
			if !reflect.DeepEqual(addrs, tc.addrs) {
				t.Errorf("addresses %q, want %q", addrs, tc.addrs)
			}
			var qs []string
			for _, q := range res.Queries {
				s := q.Type + " " + q.Name
				switch {
				case q.Type == "hosts":
					s = "hosts pinned?"
				case q.Err != "":
					s += " " + q.Err
				default:
					s += " " + q.Rcode
				}
				qs = append(qs, s)
			}
			if len(qs) != len(tc.queries) {
				t.Fatalf("queries %q, want %q", qs, tc.queries)
			}
			for i := range qs {
				if !strings.HasPrefix(qs[i], tc.queries[i]) {
					t.Errorf("query %d = %q, want %q…", i, qs[i], tc.queries[i])
				}
			}
			if !strings.Contains(res.Err, tc.err) || (tc.err == "") != (res.Err == "") {
				t.Errorf("error %q, want %q", res.Err, tc.err)
			}
			if strings.HasPrefix(tc.name, "never answered") {
				// A and AAAA are asked at once (as glibc does): the
				// lookup lasts about half the queries' summed time.
				var sum time.Duration
				for _, q := range res.Queries {
					sum += q.Time
				}
				if res.Time >= sum*3/4 {
					t.Errorf("lookup took %v for queries summing %v: A and AAAA were not asked at once", res.Time, sum)
				}
			}
			if tc.name == "late answer" && res.Queries[1].Time < 250*time.Millisecond {
				t.Errorf("the late answer's time is %v, want about 300 ms", res.Queries[1].Time)
			}
		})
	}
}

func TestServerTimeout(t *testing.T) {
	three := ResolvConf{Timeout: 5 * time.Second, Servers: make([]netip.AddrPort, 3)}
	one := ResolvConf{Timeout: time.Second, Servers: make([]netip.AddrPort, 1)}
	two := ResolvConf{Timeout: 5 * time.Second, Servers: make([]netip.AddrPort, 2)}
	tests := []struct {
		c    ResolvConf
		i    int
		want time.Duration
	}{
		{three, 0, 5 * time.Second}, {three, 1, 3 * time.Second}, {three, 2, 6 * time.Second},
		{two, 0, 5 * time.Second}, {two, 1, 5 * time.Second},
		{one, 0, time.Second},
		{ResolvConf{Timeout: time.Second, Servers: make([]netip.AddrPort, 3)}, 1, time.Second}, // 2/3 rounds to 0: at least 1 s
	}
	for _, tc := range tests {
		if got := ServerTimeout(tc.c, tc.i); got != tc.want {
			t.Errorf("%d servers, timeout %v, server %d: %v, want %v", len(tc.c.Servers), tc.c.Timeout, tc.i, got, tc.want)
		}
	}
}
