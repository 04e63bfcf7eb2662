package analyze

import (
	"fmt"
	"testing"
)

// TestStreamBuffersReused: connection phases one after another reuse the
// stream buffers of those released before them (initStream), and no byte
// of an earlier connect reaches a later one: each greeting, split across
// two segments so that it is buffered, is read as its own, also after a
// connect whose server sent half a greeting and closed (bytes left in the
// buffer when it was released).
func TestStreamBuffersReused(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		count int
	}{
		{"kept connects", Options{}, 6},
		{"recycled connects", Options{Recycle: true}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var versions []string
			opts := tt.opts
			opts.OnConnect = func(c *Connect) {
				for _, a := range c.Attempts {
					v := "-"
					for _, e := range a.Events {
						if e.Kind == EvGreeting && e.Msg != nil {
							v = e.Msg.Version
						}
					}
					versions = append(versions, v)
				}
			}
			s := newSim(t, opts)
			var want []string
			ms := 0.0
			for i := range tt.count {
				k := s.conn(fmt.Sprintf("10.0.0.1:%d", 40000+i), "10.0.0.2:3306")
				k.handshake(ms, 0.2)
				g := greeting(fmt.Sprintf("10.11.%d-MariaDB-%s", i, string(rune('a'+i))), uint32(100+i), defaultCaps, "mysql_native_password")
				if i == 2 {
					// Half a greeting, then the server closes.
					k.server(ms+1, g[:len(g)/2])
					k.serverFIN(ms + 2)
					k.clientFIN(ms + 2.1)
				} else {
					k.server(ms+1, g[:9])
					k.server(ms+1.5, g[9:])
					k.client(ms+2, handshakeResponse("app", defaultCaps))
					k.server(ms+2.5, okPacket(2))
					k.clientFIN(ms + 3)
				}
				// (half a greeting still holds the whole version)
				want = append(want, fmt.Sprintf("10.11.%d-MariaDB-%s", i, string(rune('a'+i))))
				ms += 3000 // each connect reported before the next one starts
			}
			s.close()
			if fmt.Sprint(versions) != fmt.Sprint(want) {
				t.Errorf("greeting versions %q, want %q", versions, want)
			}
			if len(s.e.streamBufs) == 0 {
				t.Errorf("no stream buffer kept for reuse")
			}
		})
	}
}
