package analyze

import (
	"math"
	"time"
)

// The sweep's schedule: which tracked attempts to look at.
//
// Every sweep (100 ms of event time) used to ask dueAt of every attempt in
// the flow table: offline, on a connect-heavy capture, about 150 attempts
// per sweep, most of them with 30 s to go, which was a tenth of the
// engine's CPU time (a cache miss or two per attempt, and time.Time
// arithmetic). Now the tracked attempts are in a binary heap by the event
// time from which dueAt can hold (dueFrom, as their state was when last
// scheduled), and a sweep looks only at those whose time has come.
//
// An attempt's state changes only when an event of its own is handled (a
// segment, an ICMP error, a kernel event, a merge of its kernel view); each
// of those marks it touched, and the next sweep schedules it anew before it
// looks at the heap. So a scheduled time is never later than the one its
// state gives when the sweep looks, and the sweep still decides with dueAt
// itself: a time that came too early (the state moved on) only reschedules.
// The package's tests check every sweep against a look at every tracked
// attempt (dueCheck).

// dueEntry is a tracked attempt and the event time (Unix ns) from which
// the sweep looks at it.
type dueEntry struct {
	at int64
	a  *attempt
}

// dueHeap is a binary min-heap by at. Each attempt in it knows its
// position (attempt.dueIdx, one-based: 0 is "not in the heap", the zero
// value of a new or reused attempt), so that untrack removes it at once:
// a reported attempt must not wait in the heap for its time (live, that
// kept every attempt of the last 30 s from the garbage collector).
type dueHeap []dueEntry

func (h *dueHeap) set(i int, en dueEntry) {
	(*h)[i] = en
	en.a.dueIdx = int32(i + 1)
}

func (h *dueHeap) up(i int) {
	en := (*h)[i]
	for i > 0 {
		p := (i - 1) / 2
		if (*h)[p].at <= en.at {
			break
		}
		h.set(i, (*h)[p])
		i = p
	}
	h.set(i, en)
}

func (h *dueHeap) down(i int) {
	n := len(*h)
	en := (*h)[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && (*h)[c+1].at < (*h)[c].at {
			c++
		}
		if (*h)[c].at >= en.at {
			break
		}
		h.set(i, (*h)[c])
		i = c
	}
	h.set(i, en)
}

// schedule puts a in the heap at time at, or moves it there.
func (h *dueHeap) schedule(a *attempt, at int64) {
	if a.dueIdx == 0 {
		*h = append(*h, dueEntry{})
		h.set(len(*h)-1, dueEntry{at: at, a: a})
		h.up(len(*h) - 1)
		return
	}
	i := int(a.dueIdx - 1)
	old := (*h)[i].at
	(*h)[i].at = at
	if at < old {
		h.up(i)
	} else {
		h.down(i)
	}
}

// remove takes a out of the heap, if it is in it.
func (h *dueHeap) remove(a *attempt) {
	if a.dueIdx == 0 {
		return
	}
	i := int(a.dueIdx - 1)
	a.dueIdx = 0
	last := len(*h) - 1
	if i != last {
		moved := (*h)[last]
		(*h)[last] = dueEntry{}
		*h = (*h)[:last]
		h.set(i, moved)
		h.down(i)
		h.up(int(moved.a.dueIdx - 1))
		return
	}
	(*h)[last] = dueEntry{}
	*h = (*h)[:last]
}

// touch notes that an event changed a: the next sweep schedules it anew
// (dueFrom) before it looks at the heap.
func (e *Engine) touch(a *attempt) {
	if !a.touched {
		if n := len(e.touchedList); n >= maxTouched && n > 2*len(e.tracked) {
			// Attempts reported and reused before a sweep came (event
			// time standing still) are in the list again under their new
			// life: schedule now rather than let it grow with every
			// attempt. Scheduling early is always right (see above).
			e.reschedule()
		}
		a.touched = true
		e.touchedList = append(e.touchedList, a)
	}
}

// maxTouched is the length of Engine.touchedList from which touch
// schedules at once when the list is mostly attempts no longer tracked.
const maxTouched = 4096

// reschedule schedules the attempts touched since the last sweep that are
// still in the flow table. An attempt in the list may have been reported
// and its memory reused since (Engine.spare): it is then a new attempt,
// and scheduling it by its own state is just as right.
func (e *Engine) reschedule() {
	for i, a := range e.touchedList {
		a.touched = false
		if a.keyed {
			e.due.schedule(a, e.dueFrom(a))
		}
		e.touchedList[i] = nil
	}
	e.touchedList = e.touchedList[:0]
}

// dueTracked appends to due the undecided tracked attempts that dueAt says
// are due, and to idle the DNS-over-TCP flows idle for IdleTimeout,
// looking only at the attempts whose scheduled time has come; those not
// due yet are scheduled again.
func (e *Engine) dueTracked(due, idle []*attempt) ([]*attempt, []*attempt) {
	e.reschedule()
	h := &e.due
	for len(*h) > 0 && (*h)[0].at <= e.nowNS {
		a := (*h)[0].a
		switch {
		case a.dnsFlow != nil:
			if e.now.Sub(a.lastActivity) > e.opts.IdleTimeout {
				idle = append(idle, a)
				h.remove(a) // untracked by the sweep
				continue
			}
		case a.final:
			// Decided, kept in the flow table until reported: the sweep
			// has nothing more to decide.
			h.remove(a)
			continue
		case a.dueAt(e):
			due = append(due, a)
			h.remove(a) // decided by the sweep, or scheduled again if not (touch)
			e.touch(a)
			continue
		}
		at := e.dueFrom(a)
		if at <= e.nowNS {
			// dueFrom disagrees with dueAt (it must not): look again at
			// the next sweep rather than loop here.
			at = e.nowNS + 1
		}
		h.schedule(a, at)
	}
	return due, idle
}

// dueFrom is the event time (Unix ns) from which a.dueAt holds as a is now
// (for a DNS-over-TCP flow: from which it is idle): dueAt's cases, each
// "now - t > wait" (or >= for the kernel linger) solved for now. Out of
// int64's range it saturates; a time too early only makes the sweep look
// again.
func (e *Engine) dueFrom(a *attempt) int64 {
	if a.dnsFlow != nil {
		return after(a.lastActivity, e.opts.IdleTimeout)
	}
	switch {
	case !a.wire && a.kSynSent.IsZero():
		return after(a.start, e.opts.IdleTimeout)
	case !a.connected() && !a.kClosed.IsZero():
		return atOrAfter(a.kClosed, kernelLinger)
	case !a.connected():
		_, last := a.synTimes()
		return after(last, nextRetransmitWait(a)+time.Second)
	case !a.wire && !e.opts.NoPackets:
		return after(a.kConnected, kernelConnectedWait)
	case a.firstSrvData.IsZero() && a.clientClose != notClosed:
		return after(a.clientGaveAt, e.opts.IdleTimeout)
	default:
		return after(a.lastActivity, e.opts.IdleTimeout)
	}
}

// after is the first event time (Unix ns) at which now.Sub(t) > d.
func after(t time.Time, d time.Duration) int64 { return addSat(unixNanos(t), int64(d)+1) }

// atOrAfter is the first event time (Unix ns) at which now.Sub(t) >= d.
func atOrAfter(t time.Time, d time.Duration) int64 { return addSat(unixNanos(t), int64(d)) }

// addSat is x+d (d >= 0), at most math.MaxInt64.
func addSat(x, d int64) int64 {
	if x > math.MaxInt64-d {
		return math.MaxInt64
	}
	return x + d
}

// dueCheck, when set (by the package's tests), sees each sweep's findings
// before they are acted on: the attempts due and the DNS flows idle, while
// every tracked attempt is still in e.tracked.
var dueCheck func(e *Engine, due, idle []*attempt)
