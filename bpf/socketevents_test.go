package bpf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/event"
)

// The tests assert what the analysis relies on, not the order in which a
// kernel happens to report things: which kinds of events a socket shows and
// how often, and the few orders that are causal. Kinds are as describe
// renders them.
const (
	bindSeen       = "state CLOSE>SYN_SENT"
	closeSeen      = "state SYN_SENT>CLOSE"
	retransmitSeen = "retransmit SYN_SENT"
	refusedSeen    = "sock_error ECONNREFUSED"
)

// count bounds how often one kind of event occurs: at least min, at most
// max (max < 0: no limit).
type count struct{ min, max int }

var (
	once        = count{1, 1}
	atLeastOnce = count{1, -1}
	anyNumber   = count{0, -1}
)

func (c count) String() string {
	switch {
	case c.max < 0:
		return fmt.Sprintf(">=%d", c.min)
	case c.min == c.max:
		return fmt.Sprint(c.min)
	}
	return fmt.Sprintf("%d..%d", c.min, c.max)
}

func fmtCounts(want map[string]count) string {
	var parts []string
	for kind, c := range want {
		parts = append(parts, fmt.Sprintf("%s x%s", kind, c))
	}
	slices.Sort(parts)
	return "[" + strings.Join(parts, ", ") + "]"
}

func hasConnectCall(evs []event.Kernel) bool {
	return slices.ContainsFunc(evs, func(e event.Kernel) bool { return e.Kind == event.ConnectCall })
}

// checked returns the socket events a test checks: all but the connect
// calls; with open (a connection the client then closes) only those up to
// ESTABLISHED.
func checked(evs []event.Kernel, open bool) []event.Kernel {
	var out []event.Kernel
	for _, ev := range evs {
		if ev.Kind == event.ConnectCall {
			continue
		}
		out = append(out, ev)
		if open && ev.Kind == event.StateChange && ev.NewState == event.TCPEstablished {
			break
		}
	}
	return out
}

func kindCounts(evs []event.Kernel) map[string]int {
	n := make(map[string]int)
	for _, ev := range evs {
		n[describe(ev)]++
	}
	return n
}

// minimaMet reports whether every kind want requires has occurred often
// enough.
func minimaMet(evs []event.Kernel, want map[string]count) bool {
	n := kindCounts(evs)
	for kind, c := range want {
		if n[kind] < c.min {
			return false
		}
	}
	return true
}

// checkSocketEvents checks one socket's events (sorted by time) against
// want, and the orders the analysis relies on: the socket is bound at
// SYN_SENT before anything else happens to it, and SYN retransmits come
// before the socket leaves SYN_SENT. It returns one line per problem.
func checkSocketEvents(evs []event.Kernel, want map[string]count) []string {
	var problems []string
	n := kindCounts(evs)
	kinds := make([]string, 0, len(n)+len(want))
	for kind := range n {
		kinds = append(kinds, kind)
	}
	for kind := range want {
		if _, ok := n[kind]; !ok {
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		c, listed := want[kind]
		switch {
		case !listed:
			problems = append(problems, fmt.Sprintf("%s occurred %d times, want none", kind, n[kind]))
		case n[kind] < c.min || c.max >= 0 && n[kind] > c.max:
			problems = append(problems, fmt.Sprintf("%s occurred %d times, want %s", kind, n[kind], c))
		}
	}
	if _, ok := want[bindSeen]; ok && len(evs) > 0 && describe(evs[0]) != bindSeen {
		problems = append(problems, fmt.Sprintf("first event %s, want the binding %s", describe(evs[0]), bindSeen))
	}
	left := slices.IndexFunc(evs, func(e event.Kernel) bool {
		return e.Kind == event.StateChange && e.OldState == event.TCPSynSent
	})
	if left >= 0 {
		for _, ev := range evs[left+1:] {
			if ev.Kind == event.Retransmit && ev.State == event.TCPSynSent {
				problems = append(problems, fmt.Sprintf("%s at %s after %s at %s", describe(ev),
					ev.Time.Format(time.StampNano), describe(evs[left]), evs[left].Time.Format(time.StampNano)))
			}
		}
	}
	return problems
}

// waitSocket waits until done holds for the events of c's socket, then until
// no new event of that socket has arrived for three reader polls (the kernel
// may report more than done needs, a second socket error, a little later),
// or until timeout. It returns the events sorted by time and whether done
// held.
func waitSocket(col *collector, pid uint32, c tcpClient, timeout time.Duration, done func([]event.Kernel) bool) ([]event.Kernel, bool) {
	const quiet = 3 * pollInterval
	deadline := time.Now().Add(timeout)
	seen, since := -1, time.Now()
	for {
		evs := attemptEvents(col.snapshot(), pid, c)
		ok := done(evs)
		now := time.Now()
		if len(evs) != seen {
			seen, since = len(evs), now
		}
		if ok && now.Sub(since) >= quiet || now.After(deadline) {
			return evs, ok
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCheckSocketEvents(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ev := func(ms int, kind string) event.Kernel {
		k := event.Kernel{Time: t0.Add(time.Duration(ms) * time.Millisecond)}
		switch kind {
		case bindSeen:
			k.Kind, k.OldState, k.NewState = event.StateChange, event.TCPClose, event.TCPSynSent
		case closeSeen:
			k.Kind, k.OldState, k.NewState = event.StateChange, event.TCPSynSent, event.TCPClose
		case retransmitSeen:
			k.Kind, k.State = event.Retransmit, event.TCPSynSent
		case refusedSeen:
			k.Kind, k.Errno = event.SocketError, int32(unix.ECONNREFUSED)
		}
		return k
	}
	want := map[string]count{bindSeen: once, retransmitSeen: anyNumber, closeSeen: once, refusedSeen: atLeastOnce}
	tests := []struct {
		name     string
		evs      []event.Kernel
		problems int
	}{
		{"6.18: error before and after CLOSE", []event.Kernel{ev(0, bindSeen), ev(1000, retransmitSeen), ev(1001, refusedSeen), ev(1002, closeSeen), ev(1003, refusedSeen)}, 0},
		{"error after CLOSE, no retransmit", []event.Kernel{ev(0, bindSeen), ev(1, closeSeen), ev(2, refusedSeen)}, 0},
		{"no socket error", []event.Kernel{ev(0, bindSeen), ev(1, closeSeen)}, 1},
		{"two CLOSEs", []event.Kernel{ev(0, bindSeen), ev(1, closeSeen), ev(2, refusedSeen), ev(3, closeSeen)}, 1},
		{"retransmit after CLOSE", []event.Kernel{ev(0, bindSeen), ev(1, closeSeen), ev(2, refusedSeen), ev(3, retransmitSeen)}, 1},
		{"not bound first", []event.Kernel{ev(0, refusedSeen), ev(1, bindSeen), ev(2, closeSeen)}, 1},
		{"an unlisted kind", []event.Kernel{ev(0, bindSeen), ev(1, closeSeen), ev(2, refusedSeen), {Kind: event.ResetReceived, State: event.TCPSynSent, Time: t0.Add(3 * time.Millisecond)}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkSocketEvents(tc.evs, want); len(got) != tc.problems {
				t.Errorf("problems %q, want %d", got, tc.problems)
			}
		})
	}
}

// CaughtUp turns true only once Next has read what the kernel recorded
// before the given time (the live pipeline's stop waits for it).
func TestCaughtUp(t *testing.T) {
	tr := traceSelf(t)
	before := time.Now()
	net.Dial("unix", "/nonexistent/csbpf-caughtup.sock") // one connect event
	if tr.CaughtUp(before) {
		t.Fatal("CaughtUp before Next read anything")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := tr.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.CaughtUp(before) {
		t.Fatalf("read %s stamped %v (connect after %v), still not caught up", describe(ev), ev.Time, before)
	}
	// Idle: Next finding the ring empty catches up to a later time.
	after := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 3*pollInterval)
	defer cancel()
	if _, err := tr.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an idle ring: %v", err)
	}
	if !tr.CaughtUp(after) {
		t.Error("Next found the ring empty after the time asked about, yet not caught up")
	}
	if rt := tr.ReadThrough(); rt.Before(after) {
		t.Errorf("ReadThrough %v, before %v when Next found the ring empty", rt, after)
	}
}

// An idle reader stops polling and waits idlePoll; the programs wake it for
// the first event after a quiet spell, so that event still arrives at once,
// and CaughtUp interrupts the long wait. Without the wakeup, each event here
// would wait up to idlePoll (5 s).
func TestIdleReaderWokenByNextEvent(t *testing.T) {
	requireEBPF(t)
	tr, col := openTracer(t, Options{PIDs: []uint32{uint32(os.Getpid())}})
	idle := func() bool {
		// The reader counts an idle wait just before it blocks in it.
		deadline := time.Now().Add(3 * time.Second)
		for n := tr.idleWaits.Load(); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if tr.idleWaits.Load() > n {
				return true
			}
		}
		return false
	}
	for round := range 3 {
		if !idle() {
			t.Fatalf("round %d: the reader never went into an idle wait on a quiet ring", round)
		}
		path := fmt.Sprintf("/nonexistent/csbpf-idle-%d.sock", round)
		before := time.Now()
		net.Dial("unix", path) // one connect event
		_, ok := waitFor(col, time.Second, func(evs []event.Kernel) (struct{}, bool) {
			return struct{}{}, slices.ContainsFunc(evs, func(ev event.Kernel) bool { return ev.Kind == event.ConnectCall && ev.UnixPath == path })
		})
		if !ok {
			t.Fatalf("round %d: the connect event was not read within 1 s of the connect (the reader was idle, waiting up to %v)", round, idlePoll)
		}
		t.Logf("round %d: read %v after the connect", round, time.Since(before).Round(time.Millisecond))
	}
	if !idle() {
		t.Fatal("the reader never went into an idle wait on a quiet ring")
	}
	at := time.Now()
	deadline := at.Add(time.Second)
	for !tr.CaughtUp(at) {
		if time.Now().After(deadline) {
			t.Fatalf("an idle reader asked to catch up to %v had not looked at its ring 1 s later", at)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A stop that cannot wait for the reader: DiscardUnread counts the events
// the ring still holds from before the stop, and only those.
func TestDiscardUnread(t *testing.T) {
	tr := traceSelf(t)
	dial := func(name string) { net.Dial("unix", "/nonexistent/csbpf-unread-"+name+".sock") } // one connect event each
	for i := range 3 {
		dial(fmt.Sprint(i))
	}
	stop := time.Now()
	dial("after") // after the stop: discarded, not counted
	if got := tr.DiscardUnread(stop); got != 3 {
		t.Errorf("DiscardUnread(stop) = %d, want the 3 connects made before it", got)
	}
	if got := tr.DiscardUnread(time.Now()); got != 0 {
		t.Errorf("a second DiscardUnread found %d events: the first did not empty the ring", got)
	}
	if st := tr.Stats(); st.Unread != 3 || st.Events != 0 {
		t.Errorf("Stats: Unread %d, Events %d; want 3 and 0 (nothing was read)", st.Unread, st.Events)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*pollInterval)
	defer cancel()
	if ev, err := tr.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next after the discard: %s, %v; want nothing left", describe(ev), err)
	}
}
