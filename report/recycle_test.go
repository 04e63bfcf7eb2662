package report

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/event"
)

// TestRecycledConnectsSameText: where the Writer says it keeps no
// connect (KeepsConnects), the engine may reuse a connect's memory once
// Connect returned (analyze.Options.Recycle): the report of the lab
// captures, one after another in one stream (so that later connects are
// built in the memory of earlier ones), is then byte for byte the report
// without reuse, in every format and mode, among them the offline table
// of --all whose rows and blocks wait for their batch.
func TestRecycledConnectsSameText(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.any.pcap"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no lab captures: %v", err)
	}
	modes := []Options{
		{Format: Table, Rollup: &RollupOptions{All: true}},
		{Format: Markdown, Rollup: &RollupOptions{All: true}, BatchAttempts: 7},
		{Format: Line},
		{Format: Table, Streaming: true, Rollup: &RollupOptions{}},
		{Format: Markdown, Streaming: true, AllTimelines: true},
		{Format: Table, Rollup: &RollupOptions{}},
		{Format: JSON, Rollup: &RollupOptions{}},
	}
	recycled := 0
	for _, opt := range modes {
		report := func(recycle bool) (string, int) {
			src := &chainedCaptures{t: t, files: files}
			defer src.close()
			var out bytes.Buffer
			w := NewWriter(&out, opt)
			w.SetSource("lab")
			connects := 0
			sum, err := analyze.RunSource(src, analyze.Options{
				OnConnect: func(c *analyze.Connect) { connects++; w.Connect(c) },
				Recycle:   recycle && !w.KeepsConnects(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if recycle && !w.KeepsConnects() {
				recycled++
			}
			w.Summary(sum)
			return out.String(), connects
		}
		got, n := report(true)
		want, _ := report(false)
		if n < 50 {
			t.Fatalf("%d connects in the lab captures' stream", n)
		}
		if got != want {
			t.Errorf("%s (streaming %v, all %v): with the connects' memory reused:\n%s", opt.Format,
				opt.Streaming, opt.Rollup != nil && opt.Rollup.All, firstDiff(want, got))
		}
	}
	if recycled == 0 {
		t.Fatal("no report was made with the connects' memory reused")
	}
}

// chainedCaptures is one packet source of several captures, each shifted
// in time to start an hour after the one before ended (their attempts
// long over: none mixes with another's).
type chainedCaptures struct {
	t       *testing.T
	files   []string
	r       *capture.Reader
	shift   time.Duration
	first   bool
	last    time.Time
	packets uint64
}

func (s *chainedCaptures) Next() (*event.Packet, error) {
	for {
		if s.r == nil {
			if len(s.files) == 0 {
				return nil, io.EOF
			}
			r, err := capture.Open(s.files[0])
			s.files = s.files[1:]
			if err != nil {
				continue // a capture without packets
			}
			s.r, s.first = r, true
		}
		p, err := s.r.Next()
		if err == io.EOF {
			s.close()
			continue
		}
		if err != nil {
			s.t.Fatal(err)
		}
		if s.first {
			s.first = false
			if !s.last.IsZero() {
				s.shift = s.last.Add(time.Hour).Sub(p.Time)
			}
		}
		p.Time = p.Time.Add(s.shift)
		s.last = p.Time
		s.packets++
		return p, nil
	}
}

func (s *chainedCaptures) Stats() event.Stats { return event.Stats{Packets: s.packets} }

func (s *chainedCaptures) close() {
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
}

// TestOwnedConnectsSurviveRecycle keeps every connect of the lab captures'
// stream as analyze.Own copies it while the engine reuses the connects'
// memory, and checks each against the connect made without reuse: the
// rollup's held connects and examples rely on it (KeepsConnects is false
// for them).
func TestOwnedConnectsSurviveRecycle(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.any.pcap"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no lab captures: %v", err)
	}
	run := func(recycle bool) []*analyze.Connect {
		src := &chainedCaptures{t: t, files: files}
		defer src.close()
		var kept []*analyze.Connect
		_, err := analyze.RunSource(src, analyze.Options{
			OnConnect: func(c *analyze.Connect) {
				if recycle {
					c = analyze.Own(c)
				}
				kept = append(kept, c)
			},
			Recycle: recycle,
		})
		if err != nil {
			t.Fatal(err)
		}
		return kept
	}
	got, want := run(true), run(false)
	if len(got) != len(want) || len(got) < 50 {
		t.Fatalf("%d connects with reuse, %d without", len(got), len(want))
	}
	resolved := 0
	for i := range want {
		if len(want[i].Resolution) > 0 {
			resolved++
		}
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want[i])
		if !bytes.Equal(g, w) {
			t.Fatalf("connect %d kept with analyze.Own while the memory was reused:\n%s\nwithout reuse:\n%s", i+1, g, w)
		}
	}
	if resolved == 0 {
		t.Fatal("no connect with lookups in the stream: the test does not cover them")
	}
}
