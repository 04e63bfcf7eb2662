package analyze

import (
	"net/netip"
	"time"

	"github.com/connscope/connscope/event"
)

// flowKey identifies a TCP connection regardless of direction: the two
// endpoints in canonical order (lower address/port first). It is a flat,
// padding-free value so map hashing is a single memhash (the lookup every
// packet that passes the flow filter pays).
type flowKey struct {
	a0, a1, b0, b1 uint64 // addresses (16-byte form, big-endian halves)
	ports          uint64 // first endpoint's port << 16 | second's
}

// makeKey returns the canonical key for src→dst and whether src is the
// key's first endpoint.
func makeKey(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) (flowKey, bool) {
	s0, s1 := event.AddrHalves(src)
	d0, d1 := event.AddrHalves(dst)
	if s0 < d0 || s0 == d0 && (s1 < d1 || s1 == d1 && sport <= dport) {
		return flowKey{a0: s0, a1: s1, b0: d0, b1: d1, ports: uint64(sport)<<16 | uint64(dport)}, true
	}
	return flowKey{a0: d0, a1: d1, b0: s0, b1: s1, ports: uint64(dport)<<16 | uint64(sport)}, false
}

// hash is the flowHash of the key's ports.
func (k flowKey) hash() uint16 { return flowHash(uint16(k.ports>>16), uint16(k.ports)) }

// flowFilter is a counting filter over the flows table, indexed by the XOR
// of a connection's two ports (the same in both directions): how many
// tracked flows have that port pair. Every TCP packet checks it before
// building the map key — a zero count means "not tracked" for sure, the
// answer for nearly every packet of an established connection. It leaves
// the addresses out on purpose: netip.Addr.As16 costs more than the whole
// check, and the few false positives (another host's connection on the
// same client port) just take the map lookup.
//
// The per-packet check reads occupied, one bit per index (8 KB), not the
// counts (256 KB): with many connections sending, the counts' cache lines
// were evicted between packets by the capture's bytes streaming through,
// and the check was a cache miss nearly every time. A bit is set exactly
// while its count is not zero.
//
// Nor do tracking and untracking read the counts, unless two flows or more
// share an index: several has a bit for those (count >= 2), and only their
// counts are kept. A flow alone on its index (nearly every one) just sets
// and clears its bit; reading its count was a cache miss for every attempt.
type flowFilter struct {
	occupied [1 << 16 / 64]uint64
	several  [1 << 16 / 64]uint64
	counts   [1 << 16]uint32 // valid where several is set
}

// flowHash is the filter index of a TCP connection's ports.
func flowHash(sport, dport uint16) uint16 { return sport ^ dport }

func (f *flowFilter) add(h uint16) {
	w, bit := h>>6, uint64(1)<<(h&63)
	switch {
	case f.occupied[w]&bit == 0:
		f.occupied[w] |= bit
	case f.several[w]&bit == 0:
		f.several[w] |= bit
		f.counts[h] = 2
	default:
		f.counts[h]++
	}
}

func (f *flowFilter) remove(h uint16) {
	w, bit := h>>6, uint64(1)<<(h&63)
	if f.several[w]&bit == 0 {
		f.occupied[w] &^= bit
		return
	}
	f.counts[h]--
	if f.counts[h] == 1 {
		f.several[w] &^= bit
	}
}

func (f *flowFilter) maybe(h uint16) bool { return f.occupied[h>>6]&(1<<(h&63)) != 0 }

// dedupWindow is how close in time two identical frames must be to count
// as one packet seen twice (two interfaces, or -i any seeing a veth and
// its bridge). Real retransmits are separated by at least the minimum RTO
// (200 ms on Linux, 1 s for SYNs) and, over IPv4, carry a new IP ID.
const dedupWindow = time.Millisecond

// dedupSlots is the size of the direct-mapped duplicate cache. A collision
// evicts an entry, which can only make a duplicate go unnoticed (more than
// dedupSlots frames between a frame and its copy within one millisecond).
const dedupSlots = 1 << 13

type dedupEntry struct {
	sig  uint64
	when int64
}

// dedup spots duplicate frames: same addresses, ports, protocol, TCP flags,
// seq, ack, window, payload length and IP ID within dedupWindow. It is a
// fixed array: no allocation, bounded memory.
//
// tags holds a byte of each slot's signature (its top byte; the slot is
// chosen by the bottom bits). The slots (128 KB, a random one per packet
// the analysis uses) were a cache miss nearly every time, and the check
// waited for it; most packets are no duplicate, and their tag (8 KB,
// which stays cached) differs: the slot is then only written, which does
// not wait. The answers are the slots' alone, as without the tags.
type dedup struct {
	slots [dedupSlots]dedupEntry
	tags  [dedupSlots]uint8
}

// seen records p and reports whether an identical frame was seen within
// dedupWindow.
func (d *dedup) seen(p *event.Packet) bool {
	return d.seenSig(packetSignature(p), p.Time.UnixNano())
}

// seenSig is seen for a packet of signature sig at now (Unix ns).
func (d *dedup) seenSig(sig uint64, now int64) bool {
	if sig == 0 {
		sig = 1 // 0 marks an empty slot
	}
	i := sig & (dedupSlots - 1)
	tag := uint8(sig >> 56)
	slot := &d.slots[i]
	// A slot holding sig has sig's tag (an empty slot has tag 0 and sig 0).
	if d.tags[i] == tag && slot.sig == sig {
		dt := now - slot.when
		if dt < 0 {
			dt = -dt
		}
		if dt <= int64(dedupWindow) {
			return true
		}
	}
	slot.sig, slot.when = sig, now
	d.tags[i] = tag
	return false
}

// packetSignature hashes the fields that make two frames the same packet.
func packetSignature(p *event.Packet) uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		h ^= v
		h *= 1099511628211
		h ^= h >> 29
	}
	s0, s1 := event.AddrHalves(p.Src)
	d0, d1 := event.AddrHalves(p.Dst)
	mix(s0)
	mix(s1)
	mix(d0)
	mix(d1)
	mix(uint64(p.Proto)<<56 | uint64(p.SrcPort)<<40 | uint64(p.DstPort)<<24 | uint64(p.TCPFlags)<<16 | uint64(p.Window))
	mix(uint64(p.Seq)<<32 | uint64(p.Ack))
	mix(uint64(p.IPID)<<32 | uint64(uint32(p.PayloadLen)))
	if p.ICMP != nil {
		q := p.ICMP
		_, qs := event.AddrHalves(q.QuotedSrc)
		_, qd := event.AddrHalves(q.QuotedDst)
		mix(uint64(q.Type)<<8 | uint64(q.Code))
		mix(qs ^ qd)
		mix(uint64(q.QuotedSrcPort)<<48 | uint64(q.QuotedDstPort)<<32 | uint64(q.QuotedSeq))
	}
	return h
}
