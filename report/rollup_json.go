package report

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/rollup"
)

// The JSON format's rollup records, written before the summary line when
// the run had more connects than the threshold: one {"kind":"pattern"} per
// pattern, one {"kind":"group"} per rollup group, one {"kind":"timeseries"}.

type jsonPattern struct {
	Kind     string       `json:"kind"`
	ID       string       `json:"id"`
	Server   string       `json:"server,omitempty"`
	Client   string       `json:"client,omitempty"`
	Attempts []int        `json:"attempts"`
	More     bool         `json:"attempts_more,omitempty"`
	First    time.Time    `json:"first"`
	Last     time.Time    `json:"last"`
	Evidence []string     `json:"evidence"`
	Causes   []string     `json:"causes"`
	Facts    rollup.Facts `json:"facts"`
}

type jsonSYNs struct {
	None  int `json:"0"`
	One   int `json:"1"`
	Two   int `json:"2"`
	Three int `json:"3+"`
}

type jsonGroup struct {
	Kind      string           `json:"kind"`
	GroupBy   rollup.GroupBy   `json:"group_by"`
	Server    string           `json:"server,omitempty"`
	Client    string           `json:"client,omitempty"`
	Process   string           `json:"process,omitempty"`
	Other     bool             `json:"other,omitempty"`
	Ports     int              `json:"ports,omitempty"`
	Outcome   analyze.Outcome  `json:"outcome"`
	Reason    string           `json:"reason"`
	Count     int              `json:"count"`
	Share     float64          `json:"share"`
	Clients   rollup.Set       `json:"clients"`
	Processes rollup.Set       `json:"processes"`
	Addresses rollup.Set       `json:"addresses"`
	First     time.Time        `json:"first"`
	Last      time.Time        `json:"last"`
	SYNs      jsonSYNs         `json:"syns"`
	RTT       rollup.Quantiles `json:"rtt"`
	Connect   rollup.Quantiles `json:"connect"`
	FirstByte rollup.Quantiles `json:"first_byte"`
	Examples  []int            `json:"examples"`
}

type jsonTimeseries struct {
	Kind      string       `json:"kind"`
	IntervalS float64      `json:"interval_s"`
	Bins      []rollup.Bin `json:"bins"`
}

func (w *Writer) writeJSONRecord(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("report: encoding JSON: %w", err)
		}
		return
	}
	w.write(append(b, '\n'))
}

func redactSet(s rollup.Set, red func(string) string) rollup.Set {
	out := rollup.Set{Values: make([]string, len(s.Values)), More: s.More}
	for i, v := range s.Values {
		out.Values[i] = red(v)
	}
	return out
}

func (w *Writer) rollupJSON(d *rollupData) {
	for _, p := range d.patterns {
		ev := patternEvidence(p)
		for i := range ev {
			ev[i] = d.red(ev[i])
		}
		f := p.Facts
		f.Address, f.Name = d.red(f.Address), d.red(f.Name)
		working := make([]string, len(f.Working))
		for i, x := range f.Working {
			working[i] = d.red(x)
		}
		f.Working = working
		nums := p.Numbers
		if nums == nil {
			nums = []int{}
		}
		w.writeJSONRecord(jsonPattern{Kind: "pattern", ID: p.ID, Server: d.red(p.Server), Client: d.red(p.Client), Attempts: nums, More: p.More,
			First: p.First, Last: p.Last, Evidence: ev, Causes: patternCauses(p), Facts: f})
	}
	for _, g := range d.groups {
		share := 0.0
		if d.attempts > 0 {
			share = float64(g.Count) / float64(d.attempts)
		}
		ex := make([]int, len(g.Examples))
		for i, e := range g.Examples {
			ex[i] = e.Number
		}
		w.writeJSONRecord(jsonGroup{Kind: "group", GroupBy: d.by, Server: d.red(g.Server), Client: d.red(g.Client), Process: g.Process,
			Other: g.Other, Ports: g.Ports, Outcome: g.Outcome, Reason: g.Reason, Count: g.Count, Share: share,
			Clients: redactSet(g.Clients, d.red), Processes: redactSet(g.Processes, func(s string) string { return s }), Addresses: redactSet(g.Addresses, d.red),
			First: g.First, Last: g.Last, SYNs: jsonSYNs{g.SYNs[0], g.SYNs[1], g.SYNs[2], g.SYNs[3]},
			RTT: g.RTT.Summary(), Connect: g.Connect.Summary(), FirstByte: g.FirstByte.Summary(), Examples: ex})
	}
	bins := d.time.Bins()
	for i := range bins {
		if len(bins[i].Established) > 0 && w.red != nil {
			m := map[string]int{}
			for k, n := range bins[i].Established {
				m[d.red(k)] = n
			}
			bins[i].Established = m
		}
	}
	if bins == nil {
		bins = []rollup.Bin{}
	}
	w.writeJSONRecord(jsonTimeseries{Kind: "timeseries", IntervalS: d.time.Interval().Seconds(), Bins: bins})
}
