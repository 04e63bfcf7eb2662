package rollup

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
)

// TestAddFiguresAsAdd checks that AddFigures, which leaves the attempts'
// groups and examples for the batch, gives the rollup Add gives: the same
// groups in the same order with the same examples (failing groups',
// decided at once by Add, and the ok ones'), the "other" group, patterns,
// time view and counts, after every connect and at the end. The connects
// are the volume captures' (patterns of every kind) and the lab's, thrice, in
// batches that end mid-connect, with few groups (most attempts "other")
// and with the defaults.
func TestAddFiguresAsAdd(t *testing.T) {
	var cs []*analyze.Connect
	var paths []string
	for _, glob := range []string{"../testdata/volume/*.pcap", "../testdata/captures/*.any.pcap"} {
		ps, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, ps...)
	}
	for _, p := range paths {
		r, err := capture.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) { cs = append(cs, c) }}); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		r.Close()
	}
	// Each three times (numbered on): more than two batches.
	cs = append(append(cs, cs...), cs...)
	if len(cs) < 2*batchSize {
		t.Fatalf("%d connects: want more than two batches", len(cs))
	}
	for _, opt := range []Options{{}, {MaxGroups: 4, Examples: 2}, {GroupBy: ByClient, Examples: 1}} {
		now, later := New(opt), New(opt)
		for i, c := range cs {
			now.Add(i+1, c)
			later.AddFigures(i+1, c)
			if later.Connects() != now.Connects() || later.Attempts() != now.Attempts() {
				t.Fatalf("%+v: connect %d: %d connects, %d attempts; Add: %d, %d", opt, i+1, later.Connects(), later.Attempts(), now.Connects(), now.Attempts())
			}
			if i%997 == 0 { // also between batches
				sameRollup(t, now, later)
			}
		}
		sameRollup(t, now, later)
	}
}

func sameRollup(t *testing.T, want, got *Rollup) {
	t.Helper()
	wg, gg := want.Groups(), got.Groups()
	if len(wg) != len(gg) {
		t.Fatalf("%d groups; Add: %d", len(gg), len(wg))
	}
	for i := range wg {
		if !reflect.DeepEqual(wg[i], gg[i]) {
			t.Fatalf("group %d: %+v\nAdd: %+v", i, gg[i], wg[i])
		}
	}
	if !reflect.DeepEqual(want.Patterns(), got.Patterns()) {
		t.Fatalf("patterns: %+v\nAdd: %+v", got.Patterns(), want.Patterns())
	}
	// (A bin's outcomes are in no order once bins merged: their maps.)
	wt, gt := want.Time(), got.Time()
	if !reflect.DeepEqual(wt.Bins(), gt.Bins()) || !reflect.DeepEqual(wt.Servers(), gt.Servers()) || wt.NotFollowed != gt.NotFollowed {
		t.Fatalf("time view: %+v\nAdd: %+v", gt.Bins(), wt.Bins())
	}
	if !reflect.DeepEqual(want.Outcomes(), got.Outcomes()) {
		t.Fatalf("outcomes %v; Add: %v", got.Outcomes(), want.Outcomes())
	}
}
