package analyze

import (
	"net/netip"
	"testing"
)

// parseIPv4Port reads what netip.ParseAddrPort reads, for the IPv4
// endpoints it takes, and its text is what addrOf would return; anything
// else it leaves to ParseAddrPort.
func TestParseIPv4Port(t *testing.T) {
	for _, tc := range []struct {
		s    string
		fast bool // read by parseIPv4Port itself
	}{
		{"10.2.0.5:3306", true},
		{"0.0.0.0:0", true},
		{"255.255.255.255:65535", true},
		{"1.2.3.4:1", true},
		{"1.2.3.4:65536", false},
		{"1.2.3.4:99999", false},
		{"1.2.3.4:080", false}, // ParseAddrPort reads it (port 80): not AddrPort.String's text
		{"01.2.3.4:80", false},
		{"1.2.3.256:80", false},
		{"1.2.3.1000:80", false},
		{"1.2.3:80", false},
		{"1.2.3.4.5:80", false},
		{"1.2.3.4", false},
		{"1.2.3.4:", false},
		{"1.2.3.4:8a", false},
		{"1.2.3.4:-1", false},
		{":80", false},
		{"", false},
		{"[fd00:2::1]:3307", false},
		{"[::ffff:1.2.3.4]:80", false},
		{"/run/mysqld/mysqld.sock", false},
		{"db.shop.internal:3306", false},
		{"1.2.3.4:80 ", false},
		{"1..3.4:80", false},
	} {
		checkIPv4Port(t, tc.s, tc.fast)
	}
}

func FuzzParseIPv4Port(f *testing.F) {
	for _, s := range []string{"10.2.0.5:3306", "1.2.3.4:080", "[fd00::1]:1", "255.255.255.255:65535", "1.2.3.4:65536"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkIPv4Port(t, s, false) })
}

// checkIPv4Port checks parseIPv4Port(s) against netip.ParseAddrPort and
// addrOf; with mustRead, that parseIPv4Port read s.
func checkIPv4Port(t *testing.T, s string, mustRead bool) {
	t.Helper()
	ap, host, ok := parseIPv4Port(s)
	if mustRead && !ok {
		t.Fatalf("parseIPv4Port(%q) left it to ParseAddrPort", s)
	}
	if !ok {
		return
	}
	want, err := netip.ParseAddrPort(s)
	if err != nil || ap != want {
		t.Fatalf("parseIPv4Port(%q) = %v; ParseAddrPort: %v, %v", s, ap, want, err)
	}
	if w := addrOf(s, want); host != w {
		t.Fatalf("parseIPv4Port(%q) host %q; addrOf: %q", s, host, w)
	}
}
