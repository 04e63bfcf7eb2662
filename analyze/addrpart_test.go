package analyze

import (
	"net/netip"
	"testing"
)

// TestAddrPart checks that the address part of an AddrPort's text is its
// Addr's text, for every form netip prints (connectClient relies on it
// for a connect's client).
func TestAddrPart(t *testing.T) {
	for _, s := range []string{
		"10.1.0.185:35903",
		"0.0.0.0:0",
		"[2001:db8::1]:443",
		"[::1]:65535",
		"[fe80::1%eth0]:3306",
		"[::ffff:10.0.0.1]:80",
		"[::ffff:10.0.0.1%veth-a]:80",
		"[::]:1",
	} {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got, want := addrPart(ap.String()), ap.Addr().String(); got != want {
			t.Errorf("addrPart(%q) = %q, want %q", ap.String(), got, want)
		}
	}
}
