package analyze

import (
	"fmt"
	"testing"

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
		s.kernel(&event.Kernel{Time: s.at(at + 0.3), Kind: event.Accepted, Cookie: cookie, Family: event.FamilyInet, SockType: event.SockStream,
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
