// Command livebench measures what `connscope trace` costs while the machine
// carries traffic, for bench/live.sh (issue 5's performance goals):
//
//	(a) bulk loopback TCP on a port that is not a target port
//	(b) bulk traffic on established connections to the target port
//	(c) a paced loop of connects to the target port (default 5,000/s)
//
// For each, it starts `connscope trace --port PORT --comm livebench
// --format json` on the loopback, waits until it is tracing, generates the
// load from this process for the given duration, and reads connscope's CPU
// time (all its threads, /proc/PID/task/*/schedstat) over exactly the load
// window — startup (loading eBPF programs) is not counted. Then it stops the
// trace with SIGINT and reads its JSON summary: packets captured, kernel
// drops, eBPF events lost, connects reported. It prints a Markdown table and
// exits 1 if a target is missed:
//
//   - (a) and (b): connscope uses under 1% of one core
//   - (c): no packet dropped by the kernel, no eBPF event lost, and every
//     connect made is reported
//
// Traffic goes to 127.0.0.1 only. Needs root (connscope trace does).
//
// Usage: livebench -connscope PATH [-port 13306] [-duration 10s] [-rate 5000] [-rates 5000,10000]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("connscope", "", "the connscope binary to measure")
	port := flag.Int("port", 13306, "the target port (connscope trace --port)")
	otherPort := flag.Int("other-port", 13400, "the non-target port of (a)")
	duration := flag.Duration("duration", 10*time.Second, "load duration per measurement")
	rates := flag.String("rates", "5000", "connect rates (per second) for (c), comma-separated; the first is judged")
	streams := flag.Int("streams", 4, "bulk TCP connections for (a) and (b)")
	only := flag.String("only", "", "run only the measurements whose name contains this (e.g. \"(c)\")")
	flag.StringVar(&keepDir, "keep", "", "copy each run's JSON report into `DIR` (for a closer look)")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "usage: livebench -connscope PATH [flags]")
		os.Exit(2)
	}
	var connectRates []int
	for _, f := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "livebench: -rates: %q is not a rate\n", f)
			os.Exit(2)
		}
		connectRates = append(connectRates, n)
	}

	var rows []row
	measure := func(name, target string, load func(stop <-chan struct{}) string, judge func(r *row) bool) {
		if !strings.Contains(name, *only) {
			return
		}
		r, err := run(*bin, *port, *duration, load)
		if err != nil {
			fmt.Fprintf(os.Stderr, "livebench: %s: %v\n", name, err)
			os.Exit(1)
		}
		r.name, r.target = name, target
		r.met = judge(r)
		rows = append(rows, *r)
		fmt.Fprintf(os.Stderr, "livebench: %s: %s; connscope CPU %.2f%% of a core\n", name, r.load, r.cpuPercent)
	}
	measure("idle (no load)", "—", func(stop <-chan struct{}) string { <-stop; return "none" },
		func(r *row) bool { return true })
	measure("(a) bulk TCP on a non-target port", "< 1% of a core", bulk(*otherPort, *streams),
		func(r *row) bool { return r.cpuPercent < 1 })
	measure("(b) bulk TCP on established target-port connections", "< 1% of a core", bulk(*port, *streams),
		func(r *row) bool { return r.cpuPercent < 1 })
	for i, rate := range connectRates {
		var made atomic.Int64
		target := "no drops, no lost events, all reported"
		if i > 0 {
			target = "(information)"
		}
		measure(fmt.Sprintf("(c) %d connects/s to the target port", rate), target, connectLoop(*port, rate, &made),
			func(r *row) bool {
				r.made = made.Load()
				ok := r.summary.KernelDrops == 0 && r.summary.RingBufferLost == 0 && int64(r.summary.Connects) == r.made
				return ok || i > 0
			})
	}

	uname, _ := exec.Command("uname", "-r").Output()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("### connscope trace under load: %s per measurement, loopback, target port %d, %d CPUs, kernel %s, load average %s\n\n",
		*duration, *port, runtime.NumCPU(), strings.TrimSpace(string(uname)), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Println("| load | achieved | connscope CPU (% of one core) | packets captured | kernel drops | eBPF events lost | connects reported / made | target | |")
	fmt.Println("|:--|--:|--:|--:|--:|--:|--:|:--|:--|")
	failed := false
	for _, r := range rows {
		verdict := "met"
		if !r.met {
			verdict = "**missed**"
			failed = true
		}
		if r.target == "—" || r.target == "(information)" {
			verdict = ""
		}
		reported := "—"
		if r.made > 0 {
			reported = fmt.Sprintf("%d / %d", r.summary.Connects, r.made)
		}
		fmt.Printf("| %s | %s | %.2f%% | %d | %d | %d | %s | %s | %s |\n", r.name, r.load, r.cpuPercent,
			r.summary.Packets, r.summary.KernelDrops, r.summary.RingBufferLost, reported, r.target, verdict)
	}
	fmt.Println()
	fmt.Println("CPU is connscope's own (all threads, /proc/PID/task/*/schedstat) over the load window only; startup is not counted.")
	if failed {
		os.Exit(1)
	}
}

// keepDir, when set, receives a copy of each run's report.
var keepDir string

type row struct {
	name, target, load string
	cpuPercent         float64
	summary            summary
	made               int64
	met                bool
}

type summary struct {
	Kind           string `json:"kind"`
	Connects       int    `json:"connects"`
	Packets        uint64 `json:"packets"`
	KernelDrops    uint64 `json:"kernel_drops"`
	RingBufferLost uint64 `json:"ring_buffer_lost"`
}

// run starts a trace, applies load for d once it is tracing, and returns
// connscope's CPU share over the load window and its summary.
func run(bin string, port int, d time.Duration, load func(stop <-chan struct{}) string) (*row, error) {
	dir, err := os.MkdirTemp("", "livebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	report := filepath.Join(dir, "report.json")
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "trace", "--port", strconv.Itoa(port), "--comm", strings.TrimSpace(string(comm)),
		"--format", "json", "-o", report)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer cmd.Process.Kill()
	ready := make(chan error, 1)
	var errText bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			errText.WriteString(sc.Text() + "\n")
			if !signalled && strings.HasPrefix(sc.Text(), "connscope: tracing ") {
				ready <- nil
				signalled = true
			}
		}
		if !signalled {
			ready <- fmt.Errorf("connscope trace ended before tracing:\n%s", errText.String())
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			return nil, err
		}
	case <-time.After(30 * time.Second):
		return nil, errors.New("connscope trace did not start within 30 s")
	}
	time.Sleep(500 * time.Millisecond) // let startup work settle

	stop := make(chan struct{})
	loadDone := make(chan string, 1)
	cpu0, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	go func() { loadDone <- load(stop) }()
	time.Sleep(d)
	close(stop)
	achieved := <-loadDone
	cpu1, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	wall := time.Since(t0)
	// The last connects must be decided and reported before the stop.
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("connscope trace: %v\n%s", err, errText.String())
	}
	s, err := readSummary(report)
	if err != nil {
		return nil, err
	}
	if keepDir != "" {
		data, _ := os.ReadFile(report)
		os.WriteFile(filepath.Join(keepDir, fmt.Sprintf("report-%d.json", time.Now().UnixNano())), data, 0o644)
	}
	return &row{load: achieved, cpuPercent: 100 * (cpu1 - cpu0).Seconds() / wall.Seconds(), summary: s}, nil
}

// cpuTime sums the CPU time of every thread of pid (schedstat: ns on CPU).
func cpuTime(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("reading the CPU time of pid %d: no /proc/%d/task/*/schedstat", pid, pid)
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited: its time is lost, which only understates
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q", t, b)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

func readSummary(path string) (summary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return summary{}, err
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	var s summary
	if err := json.Unmarshal(lines[len(lines)-1], &s); err != nil || s.Kind != "summary" {
		return summary{}, fmt.Errorf("no JSON summary at the end of the report: %q", lines[len(lines)-1])
	}
	return s, nil
}

// bulk sends data as fast as it can over n established loopback connections
// to port, until stop.
func bulk(port, n int) func(stop <-chan struct{}) string {
	return func(stop <-chan struct{}) string {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return "listen failed: " + err.Error()
		}
		defer ln.Close()
		var received atomic.Int64
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					n, _ := io.Copy(io.Discard, c)
					received.Add(n)
					c.Close()
				}()
			}
		}()
		var conns []net.Conn
		for i := 0; i < n; i++ {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return "dial failed: " + err.Error()
			}
			conns = append(conns, c)
		}
		// The connects above are the connection phase; measure from here.
		start := time.Now()
		var wg sync.WaitGroup
		var sent atomic.Int64
		buf := make([]byte, 256<<10)
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					n, err := c.Write(buf)
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
		<-stop
		for _, c := range conns {
			c.SetDeadline(time.Now())
		}
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
		secs := time.Since(start).Seconds()
		return fmt.Sprintf("%.1f GB/s over %d connections", float64(sent.Load())/secs/1e9, n)
	}
}

// tooManyConnections is what a full MySQL server sends instead of a
// greeting: ERR 1040, SQLSTATE 08004 (a valid MySQL packet, so the target
// port's connects are decoded as MySQL and come out rejected).
var tooManyConnections = func() []byte {
	payload := append([]byte{0xff, 0x10, 0x04, '#'}, "08004Too many connections"...)
	return append([]byte{byte(len(payload)), 0, 0, 0}, payload...)
}()

// connectLoop makes rate connects per second to port: the server answers
// with ERR 1040 and closes first (so the client's ports do not pile up in
// TIME_WAIT); the client reads to EOF and closes.
func connectLoop(port, rate int, made *atomic.Int64) func(stop <-chan struct{}) string {
	return func(stop <-chan struct{}) string {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return "listen failed: " + err.Error()
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write(tooManyConnections)
				c.Close()
			}
		}()
		var failed atomic.Int64
		const workers = 32
		jobs := make(chan struct{}, rate)
		var wg sync.WaitGroup
		for i := 0; i < workers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 64)
				for range jobs {
					c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
					if err != nil {
						failed.Add(1)
						continue
					}
					made.Add(1)
					for {
						if _, err := c.Read(buf); err != nil {
							break
						}
					}
					c.Close()
				}
			}()
		}
		// Pace in 1 ms steps, carrying fractions over.
		start := time.Now()
		tick := time.NewTicker(time.Millisecond)
		issued := 0
	loop:
		for {
			select {
			case <-stop:
				break loop
			case now := <-tick.C:
				due := int(now.Sub(start).Seconds() * float64(rate))
				for ; issued < due; issued++ {
					select {
					case jobs <- struct{}{}:
					default: // workers are behind: the rate is not met, counted below
					}
				}
			}
		}
		tick.Stop()
		close(jobs)
		wg.Wait()
		secs := time.Since(start).Seconds()
		s := fmt.Sprintf("%.0f connects/s (%d made", float64(made.Load())/secs, made.Load())
		if f := failed.Load(); f > 0 {
			s += fmt.Sprintf(", %d failed", f)
		}
		return s + ")"
	}
}
