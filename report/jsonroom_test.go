package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// TestJSONLinesInWriterBuffer checks the JSON lines written straight into
// the Writer's buffer: many lines (the buffer fills and is flushed between
// two lines) and lines longer than the room a line is given and than the
// whole buffer (written from memory of their own) come out as each line
// encoded on its own, in order.
func TestJSONLinesInWriterBuffer(t *testing.T) {
	base := fixtureConnects()
	var cs []*analyze.Connect
	for i := 0; i < 600; i++ {
		cs = append(cs, base[i%len(base)])
		if i == 50 || i == 120 {
			cs = append(cs, longConnect(base[0], 30))  // > lineRoom
			cs = append(cs, longConnect(base[0], 700)) // > the Writer's buffer
		}
	}
	var out bytes.Buffer
	w := NewWriter(&out, Options{Format: JSON})
	var want bytes.Buffer
	for i, c := range cs {
		if err := w.Connect(c); err != nil {
			t.Fatal(err)
		}
		line, err := appendConnectLine(nil, jsonConnect{Kind: "connect", Number: i + 1, Connect: explained(c, false)})
		if err != nil {
			t.Fatal(err)
		}
		want.Write(line)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if long := longConnect(base[0], 700); len(mustLine(t, long)) <= outBufferSize {
		t.Fatalf("the long connect's line is %d bytes: not longer than the buffer", len(mustLine(t, long)))
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		got, exp := strings.Split(out.String(), "\n"), strings.Split(want.String(), "\n")
		for i := range min(len(got), len(exp)) {
			if got[i] != exp[i] {
				t.Fatalf("line %d differs:\n got %.300s\nwant %.300s", i+1, got[i], exp[i])
			}
		}
		t.Fatalf("%d lines, want %d", len(got), len(exp))
	}
}

// TestJSONWriteErrorStops checks that a write error stops the JSON lines:
// the first error is returned by every later call, and nothing more is
// written.
func TestJSONWriteErrorStops(t *testing.T) {
	fw := &failingWriter{after: 100 << 10}
	w := NewWriter(fw, Options{Format: JSON})
	c := longConnect(fixtureConnects()[0], 30)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = w.Connect(c)
	}
	if err == nil {
		t.Fatal("no error after writing past the writer's limit")
	}
	n := fw.n
	if err2 := w.Connect(c); !errors.Is(err2, errWriteLimit) || fw.n != n {
		t.Errorf("after the error: %v, %d more bytes written", err2, fw.n-n)
	}
}

var errWriteLimit = errors.New("write limit")

type failingWriter struct{ n, after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n+len(p) > f.after {
		return 0, errWriteLimit
	}
	f.n += len(p)
	return len(p), nil
}

// longConnect is c with its first attempt repeated n times.
func longConnect(c *analyze.Connect, n int) *analyze.Connect {
	cc := *c
	cc.Attempts = nil
	for range n {
		cc.Attempts = append(cc.Attempts, c.Attempts[0])
	}
	return &cc
}

func mustLine(t *testing.T, c *analyze.Connect) []byte {
	line, err := appendConnectLine(nil, jsonConnect{Kind: "connect", Number: 1, Connect: explained(c, false)})
	if err != nil {
		t.Fatal(err)
	}
	return line
}
