package rollup

import (
	"slices"
	"sort"
	"time"

	"github.com/connscope/connscope/analyze"
)

// intervals are the time view's interval sizes, smallest first; each is a
// multiple of the one before, so bins merge exactly when the view grows.
var intervals = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

const (
	// maxBins is how many intervals the view spans at most: when attempts
	// span more, the interval grows to the next size.
	maxBins = 60
	// maxConcServers is how many servers' concurrency is followed (the
	// first ones seen with an established connection).
	maxConcServers = 16
)

// TimeView counts attempts by outcome per interval (by the attempt's
// start) and, per server, the established connections open during each
// interval. Memory is bounded: at most maxBins intervals (the interval
// grows 1 s → 5 s → 10 s → 30 s → 1 min → … as the attempts' span does).
//
// An established connection counts from its SYN-ACK to the first FIN or
// RST in its timeline, or else to the end of its attempt: the engine stops
// following a connection once its connection phase is decided, so a
// connection that stayed open longer is counted only that long — the
// counts are a lower bound of the connections really open.
type TimeView struct {
	iv      int // index into intervals
	minI    int64
	maxI    int64
	have    bool
	bins    map[int64]*tbin
	servers []string
	last    *tbin // the bin of lastI (attempts come in bursts: most hit the same bin)
	lastI   int64
	// lastServer is the index of the last server counted (-1: none).
	lastServer int
	// NotFollowed counts established connections of servers beyond the
	// first maxConcServers (not in the concurrency counts).
	NotFollowed int
}

// tbin is one interval: attempts by outcome (a short list: few outcomes
// per interval) and, per server index, the established connections.
type tbin struct {
	outcomes []ocount
	conc     []int
}

type ocount struct {
	o analyze.Outcome
	n int
}

func (b *tbin) addOutcome(o analyze.Outcome, n int) {
	for i := range b.outcomes {
		if b.outcomes[i].o == o {
			b.outcomes[i].n += n
			return
		}
	}
	b.outcomes = append(b.outcomes, ocount{o, n})
}

func newTimeView() *TimeView {
	return &TimeView{bins: map[int64]*tbin{}, lastServer: -1}
}

// bin is interval i's bin, made when missing.
func (t *TimeView) bin(i int64) *tbin {
	if t.last != nil && t.lastI == i {
		return t.last
	}
	b := t.bins[i]
	if b == nil {
		b = &tbin{}
		t.bins[i] = b
	}
	t.last, t.lastI = b, i
	return b
}

// Interval is the current interval size.
func (t *TimeView) Interval() time.Duration { return intervals[t.iv] }

func (t *TimeView) index(at time.Time) int64 {
	return at.UnixNano() / int64(intervals[t.iv])
}

// cover makes sure bins lo..hi fit in maxBins, growing the interval as
// needed; it returns lo and hi in the (possibly new) interval.
func (t *TimeView) cover(from, to time.Time) (int64, int64) {
	for {
		lo, hi := t.index(from), t.index(to)
		nlo, nhi := lo, hi
		if t.have {
			nlo, nhi = min(lo, t.minI), max(hi, t.maxI)
		}
		if nhi-nlo < maxBins || t.iv == len(intervals)-1 {
			t.minI, t.maxI, t.have = nlo, nhi, true
			return lo, hi
		}
		t.grow()
	}
}

// grow moves to the next interval size, merging the bins.
func (t *TimeView) grow() {
	f := int64(intervals[t.iv+1] / intervals[t.iv])
	t.iv++
	div := func(i int64) int64 { // floor division
		if i < 0 {
			return -((-i + f - 1) / f)
		}
		return i / f
	}
	bins := map[int64]*tbin{}
	for i, b := range t.bins {
		d := bins[div(i)]
		if d == nil {
			d = &tbin{}
			bins[div(i)] = d
		}
		for _, oc := range b.outcomes {
			d.addOutcome(oc.o, oc.n)
		}
		// Open during the larger interval: at least the most open during
		// any of its parts (a lower bound, as before).
		if len(d.conc) < len(b.conc) {
			d.conc = append(d.conc, make([]int, len(b.conc)-len(d.conc))...)
		}
		for s, n := range b.conc {
			d.conc[s] = max(d.conc[s], n)
		}
	}
	t.bins = bins
	t.last = nil
	if t.have {
		t.minI, t.maxI = div(t.minI), div(t.maxI)
	}
}

func (t *TimeView) add(o *obs) {
	if o.start.IsZero() {
		return
	}
	i, _ := t.cover(o.start, o.start)
	t.bin(i).addOutcome(o.outcome, 1)
	if o.synAck.IsZero() || o.server == "" {
		return
	}
	end := o.closed
	if end.IsZero() || end.Before(o.synAck) {
		end = o.end
	}
	if end.Before(o.synAck) {
		end = o.synAck
	}
	s := t.lastServer
	if s < 0 || t.servers[s] != o.server {
		if g := o.group; g != nil && g.concAt > 0 && g.concOf == o.server {
			s = g.concAt - 1
		} else {
			s = slices.Index(t.servers, o.server)
		}
	}
	if s < 0 {
		if len(t.servers) >= maxConcServers {
			t.NotFollowed++
			return
		}
		t.servers = append(t.servers, o.server)
		s = len(t.servers) - 1
	}
	t.lastServer = s
	if g := o.group; g != nil {
		g.concOf, g.concAt = o.server, s+1
	}
	lo, hi := t.cover(o.synAck, end)
	for i := lo; i <= hi; i++ {
		b := t.bin(i)
		if len(b.conc) <= s {
			b.conc = append(b.conc, make([]int, s+1-len(b.conc))...)
		}
		b.conc[s]++
	}
}

// Bin is one interval of the time view.
type Bin struct {
	Start    time.Time               `json:"start"`
	Outcomes map[analyze.Outcome]int `json:"outcomes"` // attempts started in the interval, by outcome
	// Established is, per server, the connections open during the
	// interval (a lower bound, see TimeView).
	Established map[string]int `json:"established,omitempty"`
}

// Bins returns every interval from the first attempt's to the last's,
// empty ones included.
func (t *TimeView) Bins() []Bin {
	if !t.have {
		return nil
	}
	iv := intervals[t.iv]
	var out []Bin
	for i := t.minI; i <= t.maxI; i++ {
		b := Bin{Start: time.Unix(0, i*int64(iv)).UTC(), Outcomes: map[analyze.Outcome]int{}}
		tb := t.bins[i]
		if tb == nil {
			tb = &tbin{}
		}
		for _, oc := range tb.outcomes {
			b.Outcomes[oc.o] = oc.n
		}
		for s, n := range tb.conc {
			if n > 0 {
				if b.Established == nil {
					b.Established = map[string]int{}
				}
				b.Established[t.servers[s]] = n
			}
		}
		out = append(out, b)
	}
	return out
}

// Servers lists the servers whose established connections are counted.
func (t *TimeView) Servers() []string { return slices.Clone(t.servers) }

// PeakEstablished is the most connections to server open during one
// interval between from and to (inclusive), 0 when none was seen.
func (t *TimeView) PeakEstablished(server string, from, to time.Time) int {
	s := slices.Index(t.servers, server)
	if s < 0 || !t.have {
		return 0
	}
	peak := 0
	for i := t.index(from); i <= t.index(to); i++ {
		if b := t.bins[i]; b != nil && s < len(b.conc) {
			peak = max(peak, b.conc[s])
		}
	}
	return peak
}

// Time is the rollup's time view (with the pending attempts' figures added).
func (r *Rollup) Time() *TimeView { r.flush(); return r.time }

// sortedOutcomes lists the keys of m with a count, in a stable order.
func sortedOutcomes(m map[analyze.Outcome]int) []analyze.Outcome {
	var out []analyze.Outcome
	for o, n := range m {
		if n > 0 {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
