package probe

import (
	"net"
	"net/netip"
	"sort"
)

// OrderNote says where a destination address ended up and why, in the
// terms of RFC 6724 section 6 (destination address selection, which glibc's
// getaddrinfo implements with the same default policy table).
type OrderNote struct {
	Addr       netip.Addr
	Source     netip.Addr // the source address the kernel would use; invalid when none
	Usable     bool       // rule 1: there is a route (a source address)
	Precedence int
	Label      int
	Scope      int
}

type policy struct {
	prefix     netip.Prefix
	precedence int
	label      int
}

// The default policy table of RFC 6724 section 2.1 (glibc's without
// /etc/gai.conf), longest prefix first.
var policyTable = []policy{
	{netip.MustParsePrefix("::1/128"), 50, 0},
	{netip.MustParsePrefix("::ffff:0:0/96"), 35, 4},
	{netip.MustParsePrefix("::/96"), 1, 3},
	{netip.MustParsePrefix("2001::/32"), 5, 5},
	{netip.MustParsePrefix("2002::/16"), 30, 2},
	{netip.MustParsePrefix("3ffe::/16"), 1, 12},
	{netip.MustParsePrefix("fec0::/10"), 1, 11},
	{netip.MustParsePrefix("fc00::/7"), 3, 13},
	{netip.MustParsePrefix("::/0"), 40, 1},
}

func classify(a netip.Addr) policy {
	a16 := netip.AddrFrom16(a.As16())
	for _, p := range policyTable {
		if p.prefix.Contains(a16) {
			return p
		}
	}
	return policy{precedence: 40, label: 1}
}

const (
	scopeLinkLocal = 0x2
	scopeSiteLocal = 0x5
	scopeGlobal    = 0xe
)

func scope(a netip.Addr) int {
	if a.Is4() {
		if a.IsLoopback() || a.IsLinkLocalUnicast() {
			return scopeLinkLocal
		}
		return scopeGlobal
	}
	if a.IsMulticast() {
		return int(a.As16()[1] & 0xf)
	}
	if a.IsLoopback() || a.IsLinkLocalUnicast() {
		return scopeLinkLocal
	}
	if netip.MustParsePrefix("fec0::/10").Contains(a) {
		return scopeSiteLocal
	}
	return scopeGlobal
}

// defaultSource asks the kernel which source address a connect to dst would
// use (a connected UDP socket sends nothing).
func defaultSource(dst netip.Addr) (netip.Addr, bool) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return netip.Addr{}, false
	}
	defer c.Close()
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return ap.Addr().Unmap(), true
}

func (r *Resolver) sortAddrs(in []netip.Addr) ([]netip.Addr, []OrderNote) {
	src := r.Source
	if src == nil {
		src = defaultSource
	}
	notes := make([]OrderNote, len(in))
	for i, a := range in {
		n := OrderNote{Addr: a}
		n.Source, n.Usable = src(a)
		p := classify(a)
		n.Precedence, n.Label, n.Scope = p.precedence, p.label, scope(a)
		notes[i] = n
	}
	// Duplicates (an address in two answers) are returned once, first place.
	seen := map[netip.Addr]bool{}
	uniq := notes[:0]
	for _, n := range notes {
		if !seen[n.Addr] {
			seen[n.Addr] = true
			uniq = append(uniq, n)
		}
	}
	notes = uniq
	sort.SliceStable(notes, func(i, j int) bool { return less6724(notes[i], notes[j]) })
	out := make([]netip.Addr, len(notes))
	for i, n := range notes {
		out[i] = n.Addr
	}
	return out, notes
}

// less6724 applies the rules of RFC 6724 section 6 that need no more than
// the addresses and their sources: 1 (usable), 2 (matching scope), 5
// (matching label), 6 (precedence), 8 (smaller scope), 9 (longest matching
// prefix, IPv6 only); rule 10 is the stable sort.
func less6724(a, b OrderNote) bool {
	if a.Usable != b.Usable {
		return a.Usable
	}
	if !a.Usable {
		return false
	}
	as, bs := scope(a.Source) == a.Scope, scope(b.Source) == b.Scope
	if as != bs {
		return as
	}
	al, bl := classify(a.Source).label == a.Label, classify(b.Source).label == b.Label
	if al != bl {
		return al
	}
	if a.Precedence != b.Precedence {
		return a.Precedence > b.Precedence
	}
	if a.Scope != b.Scope {
		return a.Scope < b.Scope
	}
	if a.Addr.Is6() && b.Addr.Is6() && a.Source.Is6() && b.Source.Is6() {
		ap, bp := commonPrefix(a.Addr, a.Source), commonPrefix(b.Addr, b.Source)
		if ap != bp {
			return ap > bp
		}
	}
	return false
}

// commonPrefix counts the leading bits a and b share, up to 64 (RFC 6724
// rule 9 looks only at the prefix part).
func commonPrefix(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := 0; i < 8; i++ {
		d := x[i] ^ y[i]
		if d == 0 {
			n += 8
			continue
		}
		for d&0x80 == 0 {
			n++
			d <<= 1
		}
		return n
	}
	return n
}
