package live

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/event"
	"github.com/connscope/connscope/report"
)

// A chunk comes back to its reader only once the release has passed its
// newest event, and only after the pipeline collected it (its every value
// taken); a chunk sealed after the last collect stays with the reader.
func TestChunkCycleReclaimsOnlyWhatIsReleased(t *testing.T) {
	c := &chunkCycle[int]{}
	s := recyclingSlab[int]{cycle: c}
	first := s.new()
	s.note(time.Unix(0, 100))
	for range slabChunk - 1 {
		s.new()
		s.note(time.Unix(0, 50)) // older than the first: newest stays 100
	}
	*first = 7
	s.new() // the first chunk is full: sealed
	s.note(time.Unix(0, 300))
	c.collect()
	c.reclaim(99)
	if len(c.free) != 0 {
		t.Fatalf("a chunk whose newest event (100) is not released (99) was reclaimed")
	}
	c.reclaim(100)
	if len(c.free) != 1 || &c.free[0][0] != first {
		t.Fatalf("free = %d chunks, want the first chunk back once 100 is released", len(c.free))
	}
	// The second chunk is not sealed: no release reclaims it.
	c.collect()
	c.reclaim(1000)
	if len(c.free) != 1 {
		t.Fatalf("a chunk still being handed out was reclaimed")
	}
	// Its successor is the reclaimed chunk (not cleared: the reader
	// writes each value whole).
	for range slabChunk - 1 {
		s.new()
	}
	if got := s.new(); got != first {
		t.Fatalf("the reader's next chunk is not the reclaimed one")
	}
	// The second chunk was sealed by that, the reused one is sealed now:
	// neither is reclaimed until collected.
	for range slabChunk {
		s.new()
	}
	c.reclaim(1000)
	if len(c.pending) != 0 || len(c.free) != 0 {
		t.Fatalf("reclaimed a chunk that was never collected (pending %d, free %d)", len(c.pending), len(c.free))
	}
	c.collect()
	c.reclaim(1000)
	if len(c.free) != 2 {
		t.Fatalf("free = %d chunks after collecting the two sealed ones, want 2", len(c.free))
	}
}

// The free list is bounded: what a backlog left over goes to the collector.
func TestChunkCycleKeepsAtMostMaxFreeChunks(t *testing.T) {
	c := &chunkCycle[int]{}
	for range maxFreeChunks + 10 {
		c.seal(make([]int, slabChunk), 1)
	}
	c.collect()
	c.reclaim(1)
	if len(c.free) != maxFreeChunks || len(c.pending) != 0 {
		t.Fatalf("free %d, pending %d: want %d free, none pending", len(c.free), len(c.pending), maxFreeChunks)
	}
}

// Recycling the readers' chunks changes no report: the workload of
// BenchmarkPipeline, with events arriving late, lagging inside the grown
// window and beyond it (held in the merger and the port completer for long,
// and released early past MaxHeld), gives byte for byte the report it gives
// with a fresh copy of every event. Reclaiming a chunk before the release
// passed it would overwrite events the merger or the port completer still
// hold.
func TestRecycledChunksChangeNoReport(t *testing.T) {
	patterns := []lossPattern{
		{name: "in time"},
		{name: "kernel events late", lateFrom: 0.3, lateTo: 0.5, lateKernel: true, lateBy: 1500 * time.Millisecond},
		{name: "packets late", lateFrom: 0.3, lateTo: 0.5, lateBy: 1500 * time.Millisecond},
		{name: "kernel events lagging", lateFrom: 0.2, lateTo: 0.7, lateKernel: true, lateBy: 600 * time.Millisecond},
		{name: "packets lagging", lateFrom: 0.2, lateTo: 0.7, lateBy: 600 * time.Millisecond},
	}
	for _, pat := range patterns {
		for _, maxHeld := range []int{maxHeld, 3000} {
			name := pat.name
			if maxHeld != 65536 {
				name += "/small MaxHeld"
			}
			t.Run(name, func(t *testing.T) {
				fresh := recycleReport(pat, maxHeld, false)
				recycled := recycleReport(pat, maxHeld, true)
				if !bytes.Equal(fresh, recycled) {
					t.Fatalf("the report differs with recycled chunks (%d bytes, fresh copies %d):\n%s", len(recycled), len(fresh), firstDiff(fresh, recycled))
				}
			})
		}
	}
}

// recycleReport runs 4,000 connects at 10,000/s through the pipeline as Run
// drives it and returns the JSON report: the events copied as the readers
// copy them, into chunks that come round again (recycle) or not.
func recycleReport(pat lossPattern, held int, recycle bool) []byte {
	const n = 4000
	kernel, packets, _ := lossWorkload(n, 100*time.Microsecond)
	start := kernel[0].it.Time
	span := time.Duration(n) * 100 * time.Microsecond
	type arrival struct {
		at time.Time
		it event.Item
	}
	var arrivals []arrival
	for src, list := range [][]lossEvent{kernel, packets} {
		for _, ev := range list {
			a := arrival{ev.it.Time.Add(10 * time.Millisecond), ev.it}
			f := float64(ev.it.Time.Sub(start)) / float64(span)
			if pat.lateBy > 0 && (src == 0) == pat.lateKernel && f >= pat.lateFrom && f < pat.lateTo {
				a.at = ev.it.Time.Add(pat.lateBy)
			}
			arrivals = append(arrivals, a)
		}
	}
	slices.SortStableFunc(arrivals, func(x, y arrival) int { return x.at.Compare(y.at) })

	var out bytes.Buffer
	w := report.NewWriter(&out, report.Options{Format: report.JSON, Streaming: true, Rollup: &report.RollupOptions{}})
	now := start
	s := testSession(func() time.Time { return now }, func() (uint64, uint64) { return 0, 0 })
	s.merger.MaxHeld = held
	s.opts.OnConnect = func(c *analyze.Connect) { w.Connect(c) }
	s.opts.Recycle = !w.KeepsConnects()
	s.startEngine(false)
	var copier packetCopier
	var events recyclingSlab[event.Kernel]
	if recycle {
		s.packetChunks, s.kernelChunks = &chunkCycle[event.Packet]{}, &chunkCycle[event.Kernel]{}
		copier.packets.cycle, events.cycle = s.packetChunks, s.kernelChunks
	}
	nextTick := start.Add(activeTick)
	for _, a := range arrivals {
		for !nextTick.After(a.at) {
			now = nextTick
			s.noteLoss()
			s.tick(now)
			nextTick = nextTick.Add(activeTick)
		}
		now = a.at
		// As the readers copy, and the pipeline collects before it takes.
		if a.it.Kernel != nil {
			k := events.new()
			*k = *a.it.Kernel
			events.note(k.Time)
			s.kernelChunks.collect()
			s.addKernel(k, now)
		} else {
			p := copier.clone(a.it.Packet)
			s.packetChunks.collect()
			s.addPacket(p, now)
		}
	}
	for end := now.Add(3 * time.Second); nextTick.Before(end); nextTick = nextTick.Add(activeTick) {
		now = nextTick
		s.noteLoss()
		s.tick(now)
	}
	s.merger.Flush(s.feed)
	w.Summary(s.engine.Close())
	w.Flush()
	return out.Bytes()
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b []byte) string {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i+1, la[i], lb[i])
		}
	}
	return "one is a prefix of the other"
}

// A reader that fills several values at once (room, took) gets the rest
// of its chunk, never a value handed out before, and a chunk is sealed
// only when its last value was handed out, with the newest time noted.
func TestRecyclingSlabRoom(t *testing.T) {
	c := &chunkCycle[int]{}
	s := recyclingSlab[int]{cycle: c}
	seen := map[*int]bool{}
	taken := 0
	for _, n := range []int{1, 100, 155, 3, 253, 256, 7} {
		room := s.room()
		if len(room) == 0 || len(room) > slabChunk {
			t.Fatalf("room of %d values", len(room))
		}
		n = min(n, len(room))
		for i := range room[:n] {
			if seen[&room[i]] {
				t.Fatalf("value %d handed out twice", taken+i)
			}
			seen[&room[i]] = true
			s.note(time.Unix(0, int64(taken+i)))
		}
		s.took(n)
		taken += n
		c.collect()
		if sealed := len(c.pending) * slabChunk; sealed > taken || taken-sealed > slabChunk {
			t.Fatalf("%d values handed out, %d sealed", taken, sealed)
		}
	}
	for i, h := range c.pending {
		if want := int64(i+1)*slabChunk - 1; h.newest != want {
			t.Errorf("a sealed chunk's newest %d, want %d", h.newest, want)
		}
	}
}
