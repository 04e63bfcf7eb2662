package analyze

import (
	"net/netip"

	"github.com/connscope/connscope/event"
	"github.com/connscope/connscope/internal/seqring"
)

// Pairing a kernel socket with its packets by the ISN.
//
// A client port is free again the moment a refused connect closes (no
// TIME_WAIT), so a connect loop puts two or three connects on one 5-tuple
// within half a millisecond: closer together than the skew between the
// packets' clock and the delivery of kernel events. Which attempt holds the
// 5-tuple when a kernel event arrives then says nothing about whose event
// it is. The initial sequence number does: the kernel's events of a connect
// carry the ISN of its socket (event.Kernel.ISN, once the SYN was sent), and
// the connect's SYN carries it as its Seq. A kernel event with an ISN joins
// only the attempt of that ISN (isnIndex), a SYN joins the kernel attempt
// of its Seq, and an attempt known to be another connect (another ISN) is
// never taken for it. Without an ISN (older sources, the SYN_SENT change
// before the kernel chose it, offline captures) the pairing by 5-tuple and
// time stays as it was.
//
// Live only: offline sources carry no ISN. An attempt's memory is reused
// once its connect is reported (report), so the index checks an attempt's
// seq before it hands it out (isnVal).

// isnKey is a connect: its 5-tuple and its ISN.
type isnKey struct {
	key flowKey
	isn uint32
}

// isnEntry is a reported connect, held for isnTTL.
type isnEntry struct {
	k  isnKey
	at int64
	// next: 1 + the seq of the next older entry of its bucket (isnHash),
	// 0 for none.
	next uint64
}

// isnVal is an open connect's attempt: a, while a.seq is seq (an entry
// left behind, its attempt reported under another key, must not find the
// attempt that reuses its memory).
type isnVal struct {
	a   *attempt
	seq uint64
	at  int64
}

// attempt is v's attempt, nil once its memory serves another.
func (v isnVal) attempt() *attempt {
	if v.a == nil || v.a.seq != v.seq {
		return nil
	}
	return v.a
}

// isnIndex finds the attempts of connects by 5-tuple and ISN (open: not
// reported yet), and remembers for isnTTL the connects reported: a kernel
// event of one of those belongs to a connect already reported and must
// not start another. Reported connects are kept without their attempts
// (live, an attempt is garbage once reported: holding 5 s of them made
// the garbage collector scan hundreds of MB). A FIFO in time order, a
// ring, expires the reported ones; the open ones are looked over in their
// map when the oldest may have expired (openOldest): an entry of its own
// in the ring for each (a cold write at each connect, and a map look-up
// that missed at each expiry) served only the few never reported.
//
// The reported connects are found through hash chains threaded through
// the ring, not a map: the index holds about isnTTL of them (50,000 at
// 10,000 connects/s, megabytes), and a map insert at each report plus a
// look-up and a delete at each expiry were cache misses nearly every time.
// A chain costs a write to add and a compare to expire (internal/seqring).
type isnIndex struct {
	open map[isnKey]isnVal
	// openOldest is at most the oldest time of the open entries (Unix
	// ns): none expires before it is isnTTL old.
	openOldest int64
	seqring.Ring[isnEntry]
	// doneHead: per bucket of isnHash, 1 + the seq of its newest done
	// entry. doneBits: a bucket's bit is set exactly while that entry is
	// held (so while the bucket holds any done entry). Every TCP kernel
	// event asks whether its connect was reported (reportedISN): the bits
	// (64 KB) answer "no" for sure for nearly every one without touching
	// the heads or the ring.
	doneHead []uint64
	doneBits []uint64
}

// isnBuckets is the number of buckets of the done chains (about ten per
// connect held at 10,000 connects/s).
const isnBuckets = 1 << 19

// isnHash is the bucket of a connect with these ports (in either order)
// and ISN. The ISN is random per connect (RFC 6528), so its bits and the
// ports spread the keys; the addresses are left out (makeKey's As16 costs
// more than the check, and they rarely tell connects apart).
func isnHash(portA, portB uint16, isn uint32) uint32 {
	return (isn ^ uint32(portA^portB)*0x9E3779B1) & (isnBuckets - 1)
}

// hash is k's bucket (isnHash).
func (k isnKey) hash() uint32 {
	return isnHash(uint16(k.key.ports>>16), uint16(k.key.ports), k.isn)
}

// isnTTL: the kernel events of a connect come within the reorder window
// and the kernel's linger, far below this; it bounds the index (10,000
// connects a second: 50,000 reported entries of 64 bytes without
// pointers).
const isnTTL = recentTTL

func (x *isnIndex) add(k isnKey, a *attempt, now int64) {
	if x.open == nil {
		x.open = make(map[isnKey]isnVal)
		x.doneHead = make([]uint64, isnBuckets)
		x.doneBits = make([]uint64, isnBuckets/64)
	}
	if len(x.open) == 0 || now < x.openOldest {
		x.openOldest = now
	}
	x.open[k] = isnVal{a: a, seq: a.seq, at: now}
}

// reported moves k from open to done, if a holds it.
func (x *isnIndex) reported(k isnKey, a *attempt, now int64) {
	if v, ok := x.open[k]; !ok || v.attempt() != a {
		return
	}
	delete(x.open, k)
	h := k.hash()
	s := x.Push(isnEntry{k: k, at: now, next: x.doneHead[h]})
	x.doneHead[h] = s + 1
	x.doneBits[h>>6] |= 1 << (h & 63)
}

// mayBeDone says whether bucket h holds a done entry (false: surely not).
func (x *isnIndex) mayBeDone(h uint32) bool {
	return x.doneBits != nil && x.doneBits[h>>6]&(1<<(h&63)) != 0
}

// isDone says whether a done entry of k is held; h is k's bucket.
func (x *isnIndex) isDone(k isnKey, h uint32) bool {
	if !x.mayBeDone(h) {
		return false
	}
	for en := x.At(x.doneHead[h]); en != nil; en = x.At(en.next) {
		if en.k == k {
			return true
		}
	}
	return false
}

func (x *isnIndex) expire(now int64) {
	if len(x.open) > 0 && now-x.openOldest > isnTTL {
		// Attempts dropped unreported, or open that long: those noted
		// isnTTL ago go; the oldest left says when to look again.
		oldest := now
		for k, v := range x.open {
			if now-v.at > isnTTL {
				delete(x.open, k)
			} else if v.at < oldest {
				oldest = v.at
			}
		}
		x.openOldest = oldest
	}
	for x.Len() > 0 {
		en := x.Oldest()
		if now-en.at <= isnTTL {
			return
		}
		if h := en.k.hash(); x.doneHead[h] == x.Tail()+1 {
			// The newest done entry of its bucket: the older ones
			// expired before it, the bucket is empty now.
			x.doneHead[h] = 0
			x.doneBits[h>>6] &^= 1 << (h & 63)
		}
		x.Pop()
	}
}

// socketISN is the ISN of the attempt's connect as far as known: the
// kernel's word, else its SYN's Seq; 0 when neither is known.
func (a *attempt) socketISN() uint32 {
	if a.kISN != 0 {
		return a.kISN
	}
	if a.synCount > 0 {
		return a.isn
	}
	return 0
}

// otherConnect reports whether the attempt is known to be another connect
// than the one whose ISN is isn (0: unknown, nothing is known).
func (a *attempt) otherConnect(isn uint32) bool {
	s := a.socketISN()
	return isn != 0 && s != 0 && s != isn
}

// noteISN indexes a (live) under its 5-tuple and the ISN now known.
func (e *Engine) noteISN(a *attempt, isn uint32) {
	if !e.opts.Live || isn == 0 || a.unix != "" || a.client.Port() == 0 || !a.client.IsValid() {
		return
	}
	key, _ := makeKey(a.client.Addr(), a.client.Port(), a.server.Addr(), a.server.Port())
	e.isns.add(isnKey{key: key, isn: isn}, a, e.nowNS)
}

// byISN is the open attempt of the connect client→server with this ISN,
// if its SYN or its kernel events were seen.
func (e *Engine) byISN(client, server netip.AddrPort, isn uint32) *attempt {
	if isn == 0 || len(e.isns.open) == 0 {
		return nil
	}
	key, _ := makeKey(client.Addr(), client.Port(), server.Addr(), server.Port())
	a := e.isns.open[isnKey{key: key, isn: isn}].attempt()
	if a == nil || a.socketISN() != isn || a.client.Port() != client.Port() {
		return nil // the attempt learned another port or ISN since (a pairing by time, corrected)
	}
	return a
}

// reportedISN says whether the connect client→server with this ISN was
// reported lately.
func (e *Engine) reportedISN(client, server netip.AddrPort, isn uint32) bool {
	if isn == 0 || !client.IsValid() || !server.IsValid() || client.Port() == 0 {
		return false
	}
	h := isnHash(client.Port(), server.Port(), isn)
	if !e.isns.mayBeDone(h) {
		return false // no reported connect has these ports and ISN (the bucket's bit is clear)
	}
	key, _ := makeKey(client.Addr(), client.Port(), server.Addr(), server.Port())
	return e.isns.isDone(isnKey{key: key, isn: isn}, h)
}

// isnReported notes a's connect reported (report).
func (e *Engine) isnReported(a *attempt) {
	if len(e.isns.open) == 0 || a.client.Port() == 0 || !a.client.IsValid() {
		return
	}
	key, _ := makeKey(a.client.Addr(), a.client.Port(), a.server.Addr(), a.server.Port())
	if a.kISN != 0 {
		e.isns.reported(isnKey{key: key, isn: a.kISN}, a, e.nowNS)
	}
	if a.synCount > 0 && a.isn != a.kISN {
		e.isns.reported(isnKey{key: key, isn: a.isn}, a, e.nowNS)
	}
}

// reported says whether the attempt's connect was reported.
func (a *attempt) reported() bool { return a.conn != nil && a.conn.reported }

// learnISN records the ISN a kernel event of a's socket carries, and
// indexes a under it.
func (e *Engine) learnISN(a *attempt, k *event.Kernel) {
	if k.ISN == 0 || a.kISN != 0 || a.otherConnect(k.ISN) {
		return
	}
	a.kISN = k.ISN
	if a.synCount == 0 || a.isn != k.ISN {
		e.noteISN(a, k.ISN)
	}
}

// takeSocket binds kernel socket k (its cookie) to w, the attempt of its
// ISN: the socket's own kernel attempt, if it had one apart (its SYN_SENT
// came without the ISN), merges into w; an attempt that held the cookie
// by a pairing in time that the ISN contradicts gives it up.
func (e *Engine) takeSocket(w *attempt, k *event.Kernel) {
	old := e.cookies[k.Cookie]
	if old == w || k.Cookie == 0 {
		return
	}
	if old != nil && !old.wire && !old.reported() && (old.kISN == 0 || old.kISN == k.ISN) {
		// The socket's kernel view, apart from its packets so far.
		e.untrack(old)
		e.mergeKernel(w, old)
		return
	}
	if old != nil && old.cookie == k.Cookie {
		old.cookie = 0
	}
	w.cookie = k.Cookie
	e.cookies[k.Cookie] = w
}
