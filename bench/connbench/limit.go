package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// atLimit runs the loop unpaced (16 workers connecting as fast as they
// can: the machine's limit, where connscope gets less CPU than the load
// needs), alone and under connscope, prints both rows and says whether
// connscope degraded as it must: by incomplete attempts (or connects not
// reported) only when it counted losses (kernel drops, lost or late
// events), never by reporting a connect twice, inventing attempts or
// deciding one wrongly: with an outcome a paced run that lost nothing did
// not give on the same port (paced; without one, refused on the closed
// port and not on the listener's).
func atLimit(d time.Duration, paced map[[2]string]int64) bool {
	var rows []*result
	for _, t := range []tracer{none{}, connscope{bin: bin}} {
		if err := warmPageCache(int64(d.Seconds()+1) * 40000 * 4 << 10); err != nil {
			fmt.Fprintf(os.Stderr, "connbench: warming the page cache: %v\n", err)
			os.Exit(1)
		}
		r, err := measure(t, 0, d)
		if err != nil {
			fmt.Fprintf(os.Stderr, "connbench: unpaced under %s: %v\n", t.name(), err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "connbench: unpaced %s: %s, attempts %d, incomplete %d, without a port %d\n", r.label(), r.brief(), r.attempts, r.incomplete, r.port0)
		rows = append(rows, r)
	}
	setTotals(rows)
	cs := rows[1]
	if paced != nil {
		cs.wrongDecided = unexpected(cs.outcomes, paced)
	}
	target := "degrades only by incomplete attempts with counted losses: none reported twice, none invented, none decided wrongly"
	miss := limitMisses(cs)
	verdict := "met"
	if len(miss) > 0 {
		verdict = "**missed**: " + strings.Join(miss, "; ")
	}
	verdict += fmt.Sprintf(" (%d incomplete, %d without a port, %d late events)", cs.incomplete, cs.port0, cs.late)
	fmt.Println(rows[0].row(0, "", ""))
	fmt.Println(cs.row(0, target, verdict))
	return len(miss) == 0
}

// limitMisses says how a run at the machine's limit degraded wrongly.
func limitMisses(r *result) []string {
	var miss []string
	if r.dups > 0 {
		miss = append(miss, fmt.Sprintf("%d connects reported twice", r.dups))
	}
	if r.attempts > r.made {
		miss = append(miss, fmt.Sprintf("%d attempts for %d connects made", r.attempts, r.made))
	}
	if r.wrongDecided > 0 {
		miss = append(miss, fmt.Sprintf("%d attempts decided with the wrong outcome", r.wrongDecided))
	}
	if r.drops+r.lost+r.late == 0 && (r.incomplete > 0 || r.port0 > 0 || r.once < r.made) {
		miss = append(miss, fmt.Sprintf("%d incomplete, %d without a port, %d of %d reported, with no loss counted", r.incomplete, r.port0, r.once, r.made))
	}
	return miss
}

// unexpected counts the decided attempts (not incomplete) whose outcome the
// reference run never gave on their port.
func unexpected(got, ref map[[2]string]int64) int64 {
	var n int64
	for k, c := range got {
		if k[1] != "incomplete" && ref[k] == 0 {
			n += c
		}
	}
	return n
}
