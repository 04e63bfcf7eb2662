package analyze

import (
	"fmt"
	"testing"
)

// TestConnectsFinished: the engine reports connects with their Attempts
// unfinished (buildAttemptUnfinished: the client's text, the protocol's
// App, RTTMS, the delays, the facts' ServerFirstMS, the steps' offsets
// and order; the connect's DurationMS and its lookups' LatencyMS), and
// they are finished at once on one goroutine, or by a pipeline's renderer
// before OnConnect, and before Options.Keep reads them. Whatever reads a
// connect must find it whole.
func TestConnectsFinished(t *testing.T) {
	script := func(s *sim) {
		for i := 0; i < 600; i++ {
			t0 := float64(i) * 5000
			client := fmt.Sprintf("10.0.0.5:%d", 20000+i)
			k := s.conn(client, "192.0.2.20:3306")
			switch i % 3 {
			case 0:
				k.lookedUpLogin(uint16(i), t0)
			case 1:
				k.SYN(t0)
				k.refuse(t0 + 0.3)
			case 2:
				k.SYN(t0)
				k.SYN(t0 + 1000)
				k.icmp(t0+1000.5, "10.0.0.1", false, 3, 1)
			}
		}
	}
	check := func(where string, i int, c *Connect) {
		t.Helper()
		if c.Client != "10.0.0.5" {
			t.Fatalf("%s: connect's client %q, want 10.0.0.5", where, c.Client)
		}
		if i%3 == 0 && (len(c.Resolution) != 1 || c.Resolution[0].answered || ptrMS(c.Resolution[0].LatencyMS) != 1) {
			t.Fatalf("%s: connect %d's lookups %+v, want one answered in 1 ms", where, i, c.Resolution)
		}
		// The connect lasts at least as long as its attempt (its lookup
		// before it).
		if last := c.Attempts[len(c.Attempts)-1]; c.hasEnd || c.DurationMS <= 0 || c.DurationMS < last.DurationMS {
			t.Fatalf("%s: connect %s lasted %v ms, its attempt %v", where, c.Client, c.DurationMS, last.DurationMS)
		}
		for _, at := range c.Attempts {
			if at.unfinished || at.clientAddr.IsValid() || at.appOf != nil || at.appInfo != nil {
				t.Fatalf("%s: attempt %s unfinished", where, at.Client)
			}
			if i%3 == 0 && (at.App == nil || at.App.Protocol != "mysql" || at.App.Info == nil) {
				t.Fatalf("%s: attempt %s without its MySQL session's App: %+v", where, at.Client, at.App)
			}
			if i%3 == 0 && (at.hasRTT || at.RTTMS == nil || *at.RTTMS != 0.2) {
				t.Fatalf("%s: attempt %s's handshake RTT %v, want 0.2 ms", where, at.Client, ptrMS(at.RTTMS))
			}
			// The greeting came 0.79 ms after the handshake was done.
			if f := at.Facts; i%3 == 0 && (f.hasServerFirst || f.ServerFirstMS == nil || *f.ServerFirstMS != 0.79) {
				t.Fatalf("%s: attempt %s's server spoke first after %v ms, want 0.79", where, at.Client, ptrMS(f.ServerFirstMS))
			}
			if i%3 == 0 && (at.delays.has != 0 || at.GreetingDelayMS == nil || *at.GreetingDelayMS != 0.79 || at.ClientFirstByteMS != nil) {
				t.Fatalf("%s: attempt %s's greeting delay %v ms, client's first byte %v ms, want 0.79 and none", where, at.Client, ptrMS(at.GreetingDelayMS), ptrMS(at.ClientFirstByteMS))
			}
			if want := fmt.Sprintf("10.0.0.5:%d", 20000+i); at.Client != want {
				t.Fatalf("%s: attempt's client %q, want %q", where, at.Client, want)
			}
			if len(at.Events) < 2 {
				t.Fatalf("%s: attempt %s has %d steps", where, at.Client, len(at.Events))
			}
			for i, ev := range at.Events {
				if want := ms(ev.Time.Sub(at.Start)); ev.TMS != want {
					t.Fatalf("%s: attempt %s step %d at %v ms, want %v", where, at.Client, i, ev.TMS, want)
				}
				if i > 0 && ev.Time.Before(at.Events[i-1].Time) {
					t.Fatalf("%s: attempt %s step %d before the one in front of it", where, at.Client, i)
				}
			}
		}
	}
	for _, tc := range []struct {
		name     string
		pipeline bool
		keep     bool
	}{
		{"one goroutine", false, false},
		{"one goroutine, Keep", false, true},
		{"pipeline", true, false},
		{"pipeline, Keep", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pipeline {
				PipelineAtOnce(t)
			}
			started := pipesStarted
			n, kept := 0, 0
			opts := Options{Recycle: true, Pipeline: tc.pipeline, OnConnect: func(c *Connect) {
				check("OnConnect", n, c)
				n++
			}}
			if tc.keep {
				opts.Keep = func(c *Connect) bool {
					check("Keep", kept, c)
					kept++
					return true
				}
			}
			s := newSim(t, opts)
			script(s)
			s.close()
			if n != 600 {
				t.Fatalf("%d connects, want 600", n)
			}
			if got := pipesStarted > started; got != tc.pipeline {
				t.Fatalf("pipeline started: %v", got)
			}
		})
	}
}

// ptrMS is *p, or -1 for nil.
func ptrMS(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}
