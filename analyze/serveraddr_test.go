package analyze

import (
	"fmt"
	"testing"

	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// The server-side steps name their addresses and the accepting process as
// text made once and shared (the attempt's own client and server text, the
// last "comm[pid]" of a PID): each must still say exactly which end and
// which process — a RST to the client names the client, one to the server
// the server; processes whose PIDs share a slot of the name cache, and a
// process that changed its name, each get their own.
func TestServerStepsNameTheirEnds(t *testing.T) {
	type acceptBy struct {
		pid  uint32
		comm string
	}
	accepts := []acceptBy{
		{812, "mariadbd"},
		{812 + synSentWays, "haproxy"}, // the same slot of the cache
		{812, "mariadbd"},
		{812, "mysqld"}, // the process's name changed (exec)
		{9, "sshd"},
	}
	s := newSim(t, Options{})
	for i, by := range accepts {
		client := fmt.Sprintf("192.0.2.10:%d", 41000+i)
		k := s.conn(client, srv)
		at := float64(i * 10)
		k.handshake(at, 0.1)
		cookie := uint64(9000 + i)
		s.kernel(&event.Kernel{Time: s.at(at + 0.2), Kind: event.ChildEstablished, Cookie: cookie, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(srv), Dst: ap(client), Process: event.Process{FD: -1}, State: event.TCPEstablished})
		// Each connect waits its own time in the accept queue.
		s.kernel(&event.Kernel{Time: s.at(at + 0.3 + float64(i)), Kind: event.Accepted, Cookie: cookie, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(srv), Dst: ap(client), Process: event.Process{PID: by.pid, TID: by.pid, Comm: by.comm, FD: 7}, State: event.TCPEstablished})
		// The client's socket aborts: its kernel sends the RST to the server.
		s.kernel(&event.Kernel{Time: s.at(at + 5), Kind: event.ResetSent, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(client), Dst: ap(srv), Process: event.Process{FD: -1}, Reset: &event.Reset{}})
		k.clientRST(at + 5.01)
	}
	// A SYN to a closed port: the server's kernel sends the RST to the client.
	refused := "192.0.2.11:42000"
	k := s.conn(refused, "192.0.2.20:3307")
	k.SYN(100)
	s.kernel(&event.Kernel{Time: s.at(100.05), Kind: event.ResetSent, Family: event.FamilyInet, SockType: event.SockStream,
		Src: ap("192.0.2.20:3307"), Dst: ap(refused), Process: event.Process{FD: -1},
		Reset: &event.Reset{Reason: "NO_SOCKET", Passive: true, Answers: event.TCPSyn}})
	k.refuse(100.06)
	s.close()

	byClient := map[string]*Attempt{}
	for _, c := range s.got {
		for i := range c.Attempts {
			byClient[c.Attempts[i].Client] = c.Attempts[i]
		}
	}
	stepAddr := func(a *Attempt, kind EventKind) string {
		for _, ev := range a.Events {
			if ev.Kind == kind {
				return ev.Addr
			}
		}
		return "(no step)"
	}
	for i, by := range accepts {
		client := fmt.Sprintf("192.0.2.10:%d", 41000+i)
		a := byClient[client]
		if a == nil {
			t.Fatalf("no attempt of %s:\n%s", client, dumpConnects(s.got))
		}
		if got := stepAddr(a, EvServerHandshake); got != srv {
			t.Errorf("%s: server handshake step names %q, want the server %s", client, got, srv)
		}
		if got := stepAddr(a, EvKernelRSTSent); got != srv {
			t.Errorf("%s: its socket's RST step names %q, want the server %s it went to", client, got, srv)
		}
		want := fmt.Sprintf("%s[%d]", by.comm, by.pid)
		if f := a.Facts.Accept; f == nil || f.By != want || f.PID != by.pid {
			t.Errorf("%s: facts.accept %+v, want by %q, pid %d", client, f, want, by.pid)
		} else if f.QueuedMS == nil || *f.QueuedMS != 0.1+float64(i) || f.HandshakeMS == nil || *f.HandshakeMS != 0.2 {
			// The fact is made again at the accept: both times, each
			// attempt its own.
			t.Errorf("%s: facts.accept queued %v ms, handshake %v ms, want %v and 0.2", client, msOf(f.QueuedMS), msOf(f.HandshakeMS), 0.1+float64(i))
		}
		if a.Client != client || a.Server != srv {
			t.Errorf("attempt %s → %s, want %s → %s", a.Client, a.Server, client, srv)
		}
	}
	a := byClient[refused]
	if a == nil {
		t.Fatalf("no attempt of %s:\n%s", refused, dumpConnects(s.got))
	}
	if got := stepAddr(a, EvKernelRSTSent); got != refused {
		t.Errorf("the server kernel's RST step names %q, want the client %s it went to", got, refused)
	}
}

// Drop and RST steps alike share their Detail (detailCache): each step
// still carries its own reason, packet and kernel function while more
// kinds than the cache holds take turns, and a RST that answers nothing
// names no packet.
func TestKernelStepDetailsWhileShared(t *testing.T) {
	type want struct{ drop, location, rst, answers string }
	// Neighbours alike in all but one field (the cache holds the last
	// two connects' steps), and exact repeats.
	pattern := []want{
		{"NO_SOCKET", "tcp_v4_rcv", "NO_SOCKET", "SYN"},
		{"NO_SOCKET", "tcp_v4_rcv", "NO_SOCKET", "SYN"},
		{"NO_SOCKET", "nf_hook_slow", "NO_SOCKET", ""}, // active: the socket aborted, no segment answered
		{"NETFILTER_DROP", "nf_hook_slow", "NOT_SPECIFIED", "SYN"},
		{"NETFILTER_DROP", "nf_hook_slow", "", "SYN"}, // an older kernel: no reason
		{"NO_SOCKET", "tcp_v4_rcv", "NOT_SPECIFIED", "SYN"},
		{"NO_SOCKET", "tcp_v4_rcv", "NO_SOCKET", "SYN"},
	}
	wants := append(append([]want(nil), pattern...), pattern...)
	s := newSim(t, Options{})
	for i, w := range wants {
		client := fmt.Sprintf("192.0.2.10:%d", 43000+i)
		k := s.conn(client, srv)
		at := float64(i * 10)
		k.SYN(at)
		s.kernel(&event.Kernel{Time: s.at(at + 0.02), Kind: event.PacketDrop, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(client), Dst: ap(srv), Process: event.Process{FD: -1},
			Drop: &event.Drop{Reason: w.drop, Location: w.location, Incoming: true, Proto: event.ProtoTCP, TCPFlags: event.TCPSyn}})
		r := event.Reset{Reason: w.rst, Passive: w.answers != ""}
		if r.Passive {
			r.Answers = event.TCPSyn
		}
		s.kernel(&event.Kernel{Time: s.at(at + 0.05), Kind: event.ResetSent, Family: event.FamilyInet, SockType: event.SockStream,
			Src: ap(srv), Dst: ap(client), Process: event.Process{FD: -1}, Reset: &r})
		k.refuse(at + 0.06)
	}
	s.close()
	got := map[string]*Attempt{}
	for _, c := range s.got {
		for _, a := range c.Attempts {
			got[a.Client] = a
		}
	}
	for i, w := range wants {
		client := fmt.Sprintf("192.0.2.10:%d", 43000+i)
		a := got[client]
		if a == nil {
			t.Fatalf("no attempt of %s:\n%s", client, dumpConnects(s.got))
		}
		var drop, rst bool
		for _, ev := range a.Events {
			d := ev.Detail
			switch ev.Kind {
			case EvKernelDrop:
				drop = true
				if d == nil || d.DropReason != w.drop || d.Location != w.location || d.Packet != "SYN" || d.RSTReason != "" {
					t.Errorf("%s: drop step detail %+v, want %s SYN in %s", client, d, w.drop, w.location)
				}
			case EvKernelRSTSent:
				rst = true
				if d == nil || d.RSTReason != w.rst || d.Packet != w.answers || d.DropReason != "" || d.Location != "" {
					t.Errorf("%s: RST step detail %+v, want reason %q answering %q", client, d, w.rst, w.answers)
				}
			}
		}
		if !drop || !rst {
			t.Errorf("%s: drop step %v, RST step %v, want both:\n%s", client, drop, rst, dumpConnects(s.got))
		}
	}
}

func msOf(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestDetailCacheHitAllocatesNothing: a drop's or RST's Detail the cache
// holds is given as it is, with no allocation (the step's Detail is made
// on the heap only when the cache has none equal to it).
func TestDetailCacheHitAllocatesNothing(t *testing.T) {
	var c detailCache
	drop := proto.Detail{DropReason: "NO_SOCKET", Packet: "SYN", Location: "tcp_v4_rcv"}
	rst := proto.Detail{RSTReason: "NO_SOCKET", Packet: "SYN"}
	held := c.get(drop)
	if c.get(rst) == held || *held != drop {
		t.Fatalf("cache gave %+v for %+v", held, drop)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if c.get(drop) != held {
			t.Fatal("a held Detail was made again")
		}
	}); allocs != 0 {
		t.Errorf("a cache hit allocated %.0f times", allocs)
	}
}
