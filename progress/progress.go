// Package progress shows how far a long analysis has read: one line on
// standard error, redrawn in place ("reading 45.2 MB of 120.0 MB (37%),
// 312004 packets, 85.1 MB/s, 1 s left"), throttled, and cleared at the end.
//
// It is for a person watching a terminal: Show says when (standard error
// is a terminal, the report does not go into a pipe, the format is not
// JSON). A Meter counts the bytes read of each file (through the reader
// Through wraps around it) and the packets (Source, or Packet); a
// goroutine draws the line every interval after a first delay, so short
// analyses never show one.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connscope/connscope/event"
)

// Show decides whether to show progress: only when standard error is a
// terminal, never when the report goes into a pipe (a script reads it, or
// a pager shares the terminal), never for JSON (read by programs).
func Show(stderrTerminal, outputPipe, json bool) bool {
	return stderrTerminal && !outputPipe && !json
}

// Meter counts what an analysis read and draws the progress line.
type Meter struct {
	out     io.Writer
	total   int64          // bytes of all files; 0 when unknown (standard input)
	pos     []atomic.Int64 // bytes read of each file, in its current opening
	packets atomic.Int64
	now     func() time.Time
	start   time.Time

	mu    sync.Mutex // serialises writes to out, and shown
	shown bool       // a progress line is on the terminal
	stop  chan struct{}
	done  chan struct{}
}

// New is a meter for files of the given sizes (a size < 0 is unknown,
// e.g. standard input: the line then has no share and no time left),
// drawing on out.
func New(out io.Writer, sizes []int64) *Meter {
	m := &Meter{out: out, pos: make([]atomic.Int64, len(sizes)), now: time.Now}
	for _, s := range sizes {
		if s < 0 {
			m.total = 0
			break
		}
		m.total += s
	}
	return m
}

type counter struct {
	r io.Reader
	n *atomic.Int64
}

func (c counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Through returns the wrapper for file i's bytes (capture.OpenThrough):
// each call starts the file's count again (a file of a set may be opened
// twice).
func (m *Meter) Through(i int) func(io.Reader) io.Reader {
	return func(r io.Reader) io.Reader {
		if m == nil || i < 0 || i >= len(m.pos) {
			return r
		}
		m.pos[i].Store(0)
		return counter{r, &m.pos[i]}
	}
}

// Packet counts one packet read.
func (m *Meter) Packet() {
	if m != nil {
		m.packets.Add(1)
	}
}

// Source is what the analyzer reads packets from (analyze.PacketSource).
type Source interface {
	Next() (*event.Packet, error)
	Stats() event.Stats
}

type source struct {
	Source
	m *Meter
}

func (s source) Next() (*event.Packet, error) {
	p, err := s.Source.Next()
	if err == nil {
		s.m.packets.Add(1)
	}
	return p, err
}

// Source returns src counting its packets (src itself when m is nil).
func (m *Meter) Source(src Source) Source {
	if m == nil {
		return src
	}
	return source{src, m}
}

// Start draws the line first after delay (at once when delay ≤ 0), then
// every interval, until Stop.
func (m *Meter) Start(delay, every time.Duration) {
	if m == nil {
		return
	}
	m.start = m.now()
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	if delay <= 0 {
		m.draw()
	}
	wait := delay
	if delay <= 0 {
		wait = every
	}
	go func() {
		defer close(m.done)
		t := time.NewTimer(wait)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
			m.draw()
			t.Reset(every)
		}
	}()
}

// Stop ends the drawing and clears the line (nothing stays on the
// terminal). Stop may be called more than once.
func (m *Meter) Stop() {
	if m == nil || m.stop == nil {
		return
	}
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	m.clear()
}

const clearLine = "\r\x1b[K"

func (m *Meter) clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shown {
		io.WriteString(m.out, clearLine)
		m.shown = false
	}
}

func (m *Meter) draw() {
	var read int64
	for i := range m.pos {
		read += m.pos[i].Load()
	}
	line := Line(read, m.total, m.packets.Load(), m.now().Sub(m.start))
	m.mu.Lock()
	defer m.mu.Unlock()
	io.WriteString(m.out, clearLine+line)
	m.shown = true
}

// Writer returns w that first clears the progress line (the report and
// the line share the terminal); the next tick draws it again below.
func (m *Meter) Writer(w io.Writer) io.Writer {
	if m == nil {
		return w
	}
	return clearingWriter{w, m}
}

type clearingWriter struct {
	w io.Writer
	m *Meter
}

func (c clearingWriter) Write(p []byte) (int, error) {
	c.m.clear()
	return c.w.Write(p)
}

// Line is the progress line: bytes read (of total when total > 0, with
// the share), packets, the rate and (with a total and a rate) the time
// left at that rate.
func Line(read, total, packets int64, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString("reading ")
	b.WriteString(Bytes(read))
	if total > 0 {
		share := min(100*read/total, 100)
		fmt.Fprintf(&b, " of %s (%d%%)", Bytes(total), share)
	}
	fmt.Fprintf(&b, ", %d %s", packets, plural(packets, "packet", "packets"))
	if elapsed > 0 && read > 0 {
		rate := float64(read) / elapsed.Seconds()
		fmt.Fprintf(&b, ", %s/s", Bytes(int64(rate)))
		if total > 0 && read < total {
			left := time.Duration(float64(total-read) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", %s left", Duration(left))
		}
	}
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Bytes is n in B, kB, MB or GB (powers of 1000), one decimal from kB on.
func Bytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}

// Duration is d rounded up to whole seconds: "1 s", "59 s", "2 min 05 s",
// "1 h 02 min".
func Duration(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", max(s, 1))
	case s < 3600:
		return fmt.Sprintf("%d min %02d s", s/60, s%60)
	}
	return fmt.Sprintf("%d h %02d min", s/3600, s/60%60)
}
