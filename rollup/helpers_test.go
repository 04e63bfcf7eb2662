package rollup

import (
	"fmt"
	"github.com/connscope/connscope/analyze/proto"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func reason(t testing.TB, id string) analyze.Reason {
	t.Helper()
	var r analyze.Reason
	if err := r.UnmarshalText([]byte(id)); err != nil {
		t.Fatal(err)
	}
	return r
}

// at describes one attempt the way the engine reports it: its SYNs (1 s
// apart, as Linux retransmits), the SYN-ACK rtt ms after the last SYN (no
// SYN-ACK when rtt < 0), the server's first bytes first ms after the
// handshake (none when < 0), the client's FIN at fin ms after the start
// (none when 0).
type at struct {
	client, server string
	startS         float64 // seconds after t0
	syns           int
	rtt, first     float64
	fin            float64
	reason         string
	comm           string
	mysqlErr       uint16
}

func ptr(f float64) *float64 { return &f }

func (a at) attempt(t testing.TB) *analyze.Attempt {
	r := reason(t, a.reason)
	start := t0.Add(time.Duration(a.startS * float64(time.Second)))
	out := &analyze.Attempt{Client: a.client, Server: a.server, Outcome: r.Outcome(), Reason: r, SYNCount: a.syns,
		Start: start, Comm: a.comm, Facts: &analyze.Facts{SYNs: a.syns}}
	if a.mysqlErr != 0 {
		out.Facts.App = []proto.Fact{{Key: "mysql_error", Value: a.mysqlErr}}
	}
	ev := func(ms float64, k analyze.EventKind, d analyze.Dir) {
		out.Events = append(out.Events, analyze.Event{TMS: ms, Kind: k, Dir: d, Time: start.Add(time.Duration(ms * float64(time.Millisecond)))})
		out.DurationMS = max(out.DurationMS, ms)
	}
	for i := 0; i < a.syns; i++ {
		k := analyze.EvSYN
		if i > 0 {
			k = analyze.EvSYNRetransmit
		}
		ev(float64(i)*1000, k, analyze.DirC2S)
	}
	if a.rtt >= 0 && a.syns > 0 {
		sa := float64(a.syns-1)*1000 + a.rtt
		out.RTTMS = ptr(a.rtt)
		ev(sa, analyze.EvSYNACK, analyze.DirS2C)
		if a.fin > 0 {
			ev(a.fin, analyze.EvFIN, analyze.DirC2S)
		}
		if a.first >= 0 {
			out.GreetingDelayMS = ptr(a.first)
			ev(sa+a.first, analyze.EvGreeting, analyze.DirS2C)
		}
	} else if a.fin > 0 {
		ev(a.fin, analyze.EvClientGaveUp, "")
	}
	return out
}

// connect is a connect of one or more attempts, numbered n.
func connect(t testing.TB, name string, port uint16, atts ...at) *analyze.Connect {
	c := &analyze.Connect{Name: name, Port: port}
	for _, a := range atts {
		x := a.attempt(t)
		c.Attempts = append(c.Attempts, x)
		if c.Start.IsZero() {
			c.Start, c.Client, c.Comm = x.Start, a.client, a.comm
		}
	}
	last := c.Attempts[len(c.Attempts)-1]
	c.Outcome, c.Reason = last.Outcome, last.Reason
	c.DurationMS = float64(last.Start.Add(time.Duration(last.DurationMS*float64(time.Millisecond))).Sub(c.Start)) / float64(time.Millisecond)
	return c
}

func addAll(r *Rollup, cs ...*analyze.Connect) {
	for i, c := range cs {
		r.Add(r.Connects()+1, c)
		_ = i
	}
}

func ep(host string, port int) string { return fmt.Sprintf("%s:%d", host, port) }
