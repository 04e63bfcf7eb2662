// Command readloop is the ceiling `make bench` measures `connscope analyze`
// against: it reads and decodes every packet of a capture with the capture
// package's Reader — exactly the input side of analyze — and does nothing
// else with them.
//
// With -engine it also feeds every packet to the analyze engine (connects
// are counted, not rendered), which separates the engine's cost from the
// reader's and the report's. The engine runs as `connscope analyze
// --format json` runs it: with Options.Recycle (that writer keeps no
// connect, so the engine reuses their memory) and analyze's collector
// settings (GC percent 400, memory limit 80 MiB, unless GOGC or GOMEMLIMIT
// say otherwise; cmd/connscope/gc.go). Without them the engine's figure
// counted about 15 ms of allocating and collecting model objects on the
// bench capture that analyze does not pay. -cpuprofile writes a pprof CPU
// profile:
//
//	readloop -engine -cpuprofile cpu.out FILE && go tool pprof -top cpu.out
//
// Usage: readloop [-engine] [-cpuprofile FILE] FILE
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
)

func main() {
	engine := flag.Bool("engine", false, "also feed every packet to the analyze engine")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to `FILE`")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: readloop [-engine] [-cpuprofile FILE] FILE")
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "readloop:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "readloop:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	r, err := capture.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "readloop:", err)
		os.Exit(1)
	}
	defer r.Close()
	var (
		eng      *analyze.Engine
		connects int
	)
	if *engine {
		eng = analyze.NewEngine(analyze.Options{OnConnect: func(*analyze.Connect) { connects++ }, Recycle: true})
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(400)
		}
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(80 << 20)
		}
	}
	// Touch what the analyzer looks at first, so the loop cannot be
	// optimised into reading headers only.
	var decoded, payloadBytes, syns uint64
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "readloop:", err)
			os.Exit(1)
		}
		decoded++
		payloadBytes += uint64(len(p.Payload))
		if p.TCPFlags&0x02 != 0 {
			syns++
		}
		if eng != nil {
			eng.Packet(p)
		}
	}
	st := r.Stats()
	if eng != nil {
		eng.AddStats(st)
		eng.Close()
	}
	el := time.Since(start)
	fmt.Printf("packets %d decoded %d malformed %d unsupported %d syns %d payload_bytes %d connects %d seconds %.3f packets_per_s %.0f\n",
		st.Packets, decoded, st.Malformed, st.Unsupported, syns, payloadBytes, connects, el.Seconds(), float64(st.Packets)/el.Seconds())
}
