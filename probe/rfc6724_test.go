package probe

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestSortRFC6724(t *testing.T) {
	src := map[string]string{
		"2001:db8:2::10": "2001:db8:1::10", "2001:db8:5::10": "2001:db8:1::10",
		"198.51.100.10": "192.0.2.10", "127.0.0.1": "127.0.0.1", "::1": "::1",
		"fd00::5": "2001:db8:1::10", "fe80::1": "fe80::2", "2002:c000:204::1": "2001:db8:1::10",
		"2001:db8:1::99": "2001:db8:1::10", "2001:db8:ffff::1": "2001:db8:1::10",
		"169.254.1.1": "169.254.1.2",
	}
	source := func(d netip.Addr) (netip.Addr, bool) {
		s, ok := src[d.String()]
		if !ok {
			return netip.Addr{}, false
		}
		return netip.MustParseAddr(s), true
	}
	tests := []struct {
		name    string
		in, out []string
	}{
		{"global IPv6 before IPv4 (precedence 40 > 35)", []string{"198.51.100.10", "2001:db8:2::10"}, []string{"2001:db8:2::10", "198.51.100.10"}},
		{"an address without a route goes last (rule 1)", []string{"2001:db8:4::10", "198.51.100.10"}, []string{"198.51.100.10", "2001:db8:4::10"}},
		{"::1 before 127.0.0.1 (precedence 50)", []string{"127.0.0.1", "::1"}, []string{"::1", "127.0.0.1"}},
		{"ULA after IPv4 (precedence 3)", []string{"fd00::5", "198.51.100.10"}, []string{"198.51.100.10", "fd00::5"}},
		{"6to4 with a native source: label mismatch (rule 5)", []string{"2002:c000:204::1", "198.51.100.10"}, []string{"198.51.100.10", "2002:c000:204::1"}},
		{"longest matching prefix (rule 9)", []string{"2001:db8:ffff::1", "2001:db8:1::99"}, []string{"2001:db8:1::99", "2001:db8:ffff::1"}},
		{"link-local scope with a link-local source before global (rule 8)", []string{"2001:db8:2::10", "fe80::1"}, []string{"fe80::1", "2001:db8:2::10"}},
		{"stable: equal addresses keep their order, duplicates once", []string{"2001:db8:2::10", "2001:db8:5::10", "2001:db8:2::10"}, []string{"2001:db8:2::10", "2001:db8:5::10"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in []netip.Addr
			for _, s := range tc.in {
				in = append(in, netip.MustParseAddr(s))
			}
			r := &Resolver{Source: source}
			got, notes := r.sortAddrs(in)
			var out []string
			for _, a := range got {
				out = append(out, a.String())
			}
			if !reflect.DeepEqual(out, tc.out) {
				t.Fatalf("order %q, want %q (notes %+v)", out, tc.out, notes)
			}
		})
	}
}
