package live

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/connscope/connscope/analyze"
)

// The listen and accept queue counters of the traced network namespace
// (TcpExt in /proc/net/netstat), read when the trace starts and when it
// ends: the summary shows how much they grew.

// netstatPath is the calling thread's namespace's counters: /proc/net is
// /proc/self/net, the namespace of the process's main thread, not of the
// thread inNetns switched.
const netstatPath = "/proc/thread-self/net/netstat"

// listenCounters reads the counters in namespace ns ("" the current one).
func listenCounters(ns string) (analyze.ListenCounters, error) {
	var c analyze.ListenCounters
	err := inNetns(ns, func() error {
		f, err := os.Open(netstatPath)
		if err != nil {
			return err
		}
		defer f.Close()
		c, err = parseListenCounters(f)
		return err
	})
	if err != nil {
		return c, fmt.Errorf("listen counters: %w", err)
	}
	return c, nil
}

// parseListenCounters reads TcpExt's ListenOverflows, ListenDrops,
// SyncookiesSent and TCPReqQFullDrop from /proc/net/netstat's format: a line
// of names and a line of values per group ("TcpExt: SyncookiesSent ..." then
// "TcpExt: 0 ..."). A counter this kernel lacks stays 0; no TcpExt group,
// or names and values that do not pair up, is an error.
func parseListenCounters(r io.Reader) (analyze.ListenCounters, error) {
	var c analyze.ListenCounters
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var names []string
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "TcpExt:")
		if !ok {
			names = nil
			continue
		}
		fields := strings.Fields(rest)
		if names == nil {
			names = fields
			continue
		}
		if len(fields) != len(names) {
			return c, fmt.Errorf("TcpExt: %d names but %d values", len(names), len(fields))
		}
		for i, name := range names {
			var dst *uint64
			switch name {
			case "ListenOverflows":
				dst = &c.ListenOverflows
			case "ListenDrops":
				dst = &c.ListenDrops
			case "SyncookiesSent":
				dst = &c.SyncookiesSent
			case "TCPReqQFullDrop":
				dst = &c.ReqQFullDrop
			default:
				continue
			}
			v, err := strconv.ParseUint(fields[i], 10, 64)
			if err != nil {
				return c, fmt.Errorf("TcpExt %s: %w", name, err)
			}
			*dst = v
		}
		return c, nil
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	return c, fmt.Errorf("no TcpExt counters")
}

// listenDelta is how much each counter grew from a to b (a counter that
// went down, as after the namespace was recreated, counts from 0).
func listenDelta(a, b analyze.ListenCounters) *analyze.ListenCounters {
	d := func(x, y uint64) uint64 {
		if y < x {
			return y
		}
		return y - x
	}
	return &analyze.ListenCounters{
		ListenOverflows: d(a.ListenOverflows, b.ListenOverflows),
		ListenDrops:     d(a.ListenDrops, b.ListenDrops),
		SyncookiesSent:  d(a.SyncookiesSent, b.SyncookiesSent),
		ReqQFullDrop:    d(a.ReqQFullDrop, b.ReqQFullDrop),
	}
}
