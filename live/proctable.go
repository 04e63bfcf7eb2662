package live

import (
	"net/netip"
	"time"

	"github.com/connscope/connscope/event"
	"github.com/connscope/connscope/internal/seqring"
)

// processTable remembers which process owns which socket 5-tuple, from the
// kernel events seen so far, to label packets (and the recorded file) and,
// under a process filter, to tell the traced processes' packets from the
// rest.
//
// The flows are a FIFO by when each was last seen (internal/seqring, as
// analyze's remembered SYNs), with hash chains threaded through it: a link
// below the tail names a forgotten entry and ends its chain. Learning a flow is a
// push and a bucket's head; a full table forgets its oldest entry, the
// flow seen longest ago, by moving the tail past it. A flow seen
// again more than a second after its entry was pushed is pushed anew (its
// older entry, shadowed, waits to be the oldest); so is a flow whose owner
// changed. A Go map (the old way) paid an assign per connect into a table
// of up to 65,536 flows (cache misses, tombstones), and once full, every
// 6.5 s at 10,000 connects/s, a walk of the whole map, a sort of its
// last-seen times and the deletion of the older half: 13% of the live
// pipeline's CPU in a connbench profile.
type processTable struct {
	seqring.Ring[procEntry]          // at most maxProcessFlows, shadowed entries included
	head                    []uint64 // per bucket: link to its newest entry
	// recent caches the links of the flows looked at last, direct-mapped
	// by ports: a connect's packets and kernel events come together (its
	// SYN, the reply, the kernel's state changes within microseconds), so
	// they mostly find their entry without the bucket's head, a cache miss
	// in a table of a megabyte. A link there is checked like a chain's.
	recent [recentFlows]uint64
}

type procEntry struct {
	key  flowKey
	next uint64 // link to the next older entry of the same bucket
	seen int64  // event time (Unix ns) of the event or packet that pushed it
	event.Process
}

// recentFlows is the size of processTable.recent.
const recentFlows = 256

// procBuckets is the number of chain buckets: two per flow held.
const (
	procBucketBits = 17
	procBuckets    = 1 << procBucketBits
)

// maxProcessFlows bounds the table: when it is full, the flow seen longest
// ago is forgotten (at 10,000 connects/s, one seen 6.5 s before).
const maxProcessFlows = 1 << 16

// flowKey is a flow's two ends in either direction: the lower (address,
// port) first, addresses as 16 bytes (IPv4-mapped IPv6 addresses are their
// IPv4 address, as on the wire) held as big-endian halves, so that ordering
// and comparing them are integer compares (every packet and kernel event
// makes one). No pointers: cheap to hash and compare.
type flowKey struct {
	lo0, lo1, hi0, hi1 uint64
	loPort, hiPort     uint16
}

func makeFlowKey(x, y netip.AddrPort) flowKey {
	x0, x1 := event.AddrHalves(x.Addr())
	y0, y1 := event.AddrHalves(y.Addr())
	px, py := x.Port(), y.Port()
	if x0 > y0 || x0 == y0 && (x1 > y1 || x1 == y1 && px > py) {
		return flowKey{lo0: y0, lo1: y1, hi0: x0, hi1: x1, loPort: py, hiPort: px}
	}
	return flowKey{lo0: x0, lo1: x1, hi0: y0, hi1: y1, loPort: px, hiPort: py}
}

// is says whether k and o are the same flow: field by field, inlined (==
// on the struct, with its padding, calls the type's equality function).
func (k flowKey) is(o flowKey) bool {
	return k.lo1 == o.lo1 && k.loPort == o.loPort && k.hiPort == o.hiPort && k.hi1 == o.hi1 && k.lo0 == o.lo0 && k.hi0 == o.hi0
}

// bucket is key's chain: its addresses and ports mixed (the ports alone
// collide across clients, whose ephemeral ports overlap).
func (k flowKey) bucket() uint64 {
	h := k.lo0 ^ k.lo1 ^ k.hi0<<1 ^ k.hi1<<1 ^ uint64(k.loPort)<<32 ^ uint64(k.hiPort)
	return h * 0x9e3779b97f4a7c15 >> (64 - procBucketBits)
}

func newProcessTable() *processTable { return &processTable{} }

// flows is how many entries the table holds (a flow pushed anew and not
// yet forgotten counts twice).
func (t *processTable) flows() int { return t.Len() }

// find is key's newest entry, nil when the table does not know the flow.
func (t *processTable) find(key flowKey) *procEntry {
	slot := &t.recent[uint8(key.loPort^key.hiPort)]
	if en := t.At(*slot); en != nil && en.key.is(key) {
		return en
	}
	if t.Len() == 0 {
		return nil
	}
	for l := t.head[key.bucket()]; ; {
		en := t.At(l)
		if en == nil {
			return nil
		}
		if en.key.is(key) {
			*slot = l
			return en
		}
		l = en.next
	}
}

// push learns key's owner as of seen (Unix ns), forgetting the oldest
// entry when the table is full (the ring then has its full size).
func (t *processTable) push(key flowKey, p *event.Process, seen int64) {
	if t.head == nil {
		t.head = make([]uint64, procBuckets)
	}
	if t.Len() == maxProcessFlows {
		// Forget the oldest entry: the push that follows writes the new
		// one in its place. Its links, in a bucket's head, the lookup
		// cache or a newer entry, now fall below the tail and end there
		// (no bucket to look at: a cache miss per push).
		t.Pop()
	}
	b := key.bucket()
	s := t.Push(procEntry{key: key, next: t.head[b], seen: seen, Process: *p})
	t.head[b] = s + 1
	t.recent[uint8(key.loPort^key.hiPort)] = s + 1
}

// refresh is how long after its entry's push a flow seen again is pushed
// anew: its place in the FIFO only decides when a full table forgets it,
// so a second's precision spares a push per event.
const refresh = int64(time.Second)

// observe learns a socket's owner from a kernel event that names both ends:
// a TCP connect's state changes and connect() return, and the resolver's
// UDP connect() to its DNS server.
func (t *processTable) observe(k *event.Kernel) {
	if k.Process.PID == 0 || !k.Src.IsValid() || !k.Dst.IsValid() || k.Src.Port() == 0 {
		return
	}
	if k.Kind != event.ConnectCall && k.Kind != event.StateChange {
		return
	}
	if k.Kind == event.ConnectCall && k.SockType == event.SockDgram && k.Dst.Port() != 53 {
		// glibc's address-sorting probes: nothing is sent from them.
		return
	}
	key := makeFlowKey(k.Src, k.Dst)
	ns := k.Time.UnixNano()
	if k.Kind == event.StateChange && k.NewState == event.TCPSynSent {
		// A connect's first event: what the table holds of its 5-tuple,
		// if anything, is an earlier connect's (the port reused), which
		// the push shadows. Walking the bucket's chain for it cost a
		// cache miss on another flow's entry for two connects in five.
		t.push(key, &k.Process, ns)
		return
	}
	if en := t.find(key); en != nil && en.Process == k.Process && ns-en.seen <= refresh {
		return
	}
	t.push(key, &k.Process, ns)
}

// lookup finds the process of a packet's flow (for an ICMP error: of the
// flow it quotes), in either direction.
func (t *processTable) lookup(p *event.Packet) (event.Process, bool) {
	if t.Len() == 0 {
		return event.Process{}, false
	}
	var key flowKey
	if p.ICMP != nil {
		key = makeFlowKey(netip.AddrPortFrom(p.ICMP.QuotedSrc, p.ICMP.QuotedSrcPort), netip.AddrPortFrom(p.ICMP.QuotedDst, p.ICMP.QuotedDstPort))
	} else {
		key = makeFlowKey(netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort))
	}
	en := t.find(key)
	if en == nil {
		return event.Process{}, false
	}
	proc := en.Process
	if ns := p.Time.UnixNano(); ns-en.seen > refresh {
		t.push(key, &proc, ns)
	}
	return proc, true
}
