package live

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/connscope/connscope/analyze"
)

// OwnTrace traces this process's own connects (connscope probe as root)
// through the same pipeline as run: packets and eBPF into one engine.
type OwnTrace struct {
	s      *Session
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	connects []*analyze.Connect
	sum      analyze.Summary
	err      error
	notices  []string
}

// TraceOwn starts tracing the calling process (all its threads) and no
// other; clientTimeout is the analyzer's hint of how long the process waits
// per address. It fails as Start does (no privileges, no source at all).
// Notices (a source that could not open) are kept for Stop.
func TraceOwn(clientTimeout time.Duration) (*OwnTrace, error) {
	t := &OwnTrace{done: make(chan struct{})}
	s, err := Start(Options{
		FilterPIDs:    true,
		ClientTimeout: clientTimeout,
		OnConnect: func(c *analyze.Connect) {
			t.mu.Lock()
			t.connects = append(t.connects, c)
			t.mu.Unlock()
		},
		Notice: func(n string) {
			t.mu.Lock()
			t.notices = append(t.notices, n)
			t.mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	if err := s.AddPID(os.Getpid()); err != nil {
		s.Close()
		return nil, err
	}
	t.s = s
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	go func() {
		defer close(t.done)
		sum, err := s.Run(ctx)
		t.mu.Lock()
		t.sum, t.err = sum, err
		t.mu.Unlock()
	}()
	return t, nil
}

// Describe says what the trace reads (see Session.Describe).
func (t *OwnTrace) Describe() string { return t.s.Describe() }

// Stop ends the trace once what the kernel captured has arrived, decides
// every open attempt, and returns the connects (in report order), the
// summary (drops, losses) and the notices.
func (t *OwnTrace) Stop() ([]*analyze.Connect, analyze.Summary, []string, error) {
	t.cancel()
	<-t.done
	t.s.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.connects, t.sum, t.notices, t.err
}
