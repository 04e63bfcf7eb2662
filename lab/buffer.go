package lab

import (
	"bytes"
	"sync"
)

// LockedBuffer is a bytes.Buffer safe for the writer goroutine of an
// exec.Cmd and a reader polling it (the recorders wait for a server's or a
// capture's "ready" line this way).
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
