package analyze

import "testing"

// ICMPDescription (and AppendICMPDescription, which it is made of) names
// each ICMP and ICMPv6 error type and code it knows, and gives the
// numbers of any other.
func TestICMPDescription(t *testing.T) {
	for _, tc := range []struct {
		v6        bool
		typ, code uint8
		want      string
	}{
		{false, 3, 0, "ICMP network unreachable (type 3 code 0)"},
		{false, 3, 1, "ICMP host unreachable (type 3 code 1)"},
		{false, 3, 2, "ICMP protocol unreachable (type 3 code 2)"},
		{false, 3, 3, "ICMP port unreachable (type 3 code 3)"},
		{false, 3, 4, "ICMP fragmentation needed (type 3 code 4)"},
		{false, 3, 13, "ICMP communication administratively prohibited (type 3 code 13)"},
		{false, 3, 8, "ICMP destination unreachable (type 3 code 8)"},
		{false, 11, 0, "ICMP time exceeded (type 11 code 0)"},
		{false, 12, 1, "ICMP parameter problem (type 12 code 1)"},
		{false, 255, 255, "ICMP error (type 255 code 255)"},
		{true, 1, 0, "ICMPv6 no route to destination (type 1 code 0)"},
		{true, 1, 1, "ICMPv6 administratively prohibited (type 1 code 1)"},
		{true, 1, 4, "ICMPv6 port unreachable (type 1 code 4)"},
		{true, 1, 9, "ICMPv6 destination unreachable (type 1 code 9)"},
		{true, 2, 0, "ICMPv6 packet too big (type 2 code 0)"},
		{true, 3, 1, "ICMPv6 time exceeded (type 3 code 1)"},
		{true, 4, 2, "ICMPv6 parameter problem (type 4 code 2)"},
		{true, 200, 100, "ICMPv6 error (type 200 code 100)"},
	} {
		if got := ICMPDescription(tc.v6, tc.typ, tc.code); got != tc.want {
			t.Errorf("ICMPDescription(%v, %d, %d) = %q, want %q", tc.v6, tc.typ, tc.code, got, tc.want)
		}
		if got := string(AppendICMPDescription([]byte("x"), tc.v6, tc.typ, tc.code)); got != "x"+tc.want {
			t.Errorf("AppendICMPDescription(%v, %d, %d) = %q, want %q", tc.v6, tc.typ, tc.code, got, "x"+tc.want)
		}
	}
}
