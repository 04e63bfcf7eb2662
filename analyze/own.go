package analyze

import "slices"

// Own is a copy of c that shares no memory the engine writes again when it
// reuses a handed-out connect's memory (Options.Recycle): the Connect, its
// lookups, its attempts, their facts, decisions and timelines with their
// protocol messages. A connect kept past OnConnect while the engine
// recycles (a report's held connects and examples) must be owned. The
// rest (strings, the engine's step details, a lookup's answers, the
// resolver's evidence) is made anew for every connect and is shared.
func Own(c *Connect) *Connect {
	cc := *c
	cc.Resolution = slices.Clone(c.Resolution)
	if c.Attempts != nil {
		cc.Attempts = make([]*Attempt, len(c.Attempts))
	}
	for i, a := range c.Attempts {
		if a == nil {
			continue
		}
		ac := *a
		if a.Facts != nil {
			f := *a.Facts
			ac.Facts = &f
		}
		ac.Events = slices.Clone(a.Events)
		for i := range ac.Events {
			if m := ac.Events[i].Msg; m != nil {
				mc := *m
				ac.Events[i].Msg = &mc
			}
		}
		ac.msgs = nil
		if a.found != nil {
			fd := *a.found
			ac.found = &fd
		}
		cc.Attempts[i] = &ac
	}
	return &cc
}
