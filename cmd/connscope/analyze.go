package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/live"
	"github.com/connscope/connscope/progress"
	"github.com/connscope/connscope/report"
	"github.com/connscope/connscope/rollup"
)

// Progress on standard error (progress.Show decides when): the first line
// after progressDelay (short analyses show none), then every
// progressEvery. Variables, so that the tests can set them and the
// terminal and pipe decisions.
var (
	progressDelay = time.Second
	progressEvery = 250 * time.Millisecond
	isTerminal    = func(w io.Writer) bool {
		f, ok := w.(*os.File)
		return ok && term.IsTerminal(int(f.Fd()))
	}
	isPipe = func(w io.Writer) bool {
		f, ok := w.(*os.File)
		if !ok {
			return false
		}
		st, err := f.Stat()
		return err == nil && st.Mode()&os.ModeNamedPipe != 0
	}
)

// parseLocalPortRange parses --local-port-range: "FIRST-LAST" (or
// "FIRST LAST", as sysctl prints it); "" is unknown (zero).
func parseLocalPortRange(s string) ([2]int, error) {
	if strings.TrimSpace(s) == "" {
		return [2]int{}, nil
	}
	f := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == ' ' || r == '\t' })
	if len(f) != 2 {
		return [2]int{}, errors.New("give FIRST-LAST, e.g. 32768-60999 (sysctl net.ipv4.ip_local_port_range on the client)")
	}
	var r [2]int
	for i, x := range f {
		n, err := strconv.Atoi(x)
		if err != nil || n < 1 || n > 65535 {
			return [2]int{}, fmt.Errorf("%q is not a port number (1-65535)", x)
		}
		r[i] = n
	}
	if r[0] > r[1] {
		return [2]int{}, fmt.Errorf("the first port %d is above the last %d", r[0], r[1])
	}
	return r, nil
}

// fileSizes are the sizes of the files for the progress meter; -1 for
// standard input or a file that cannot be examined (no total then).
func fileSizes(files []string) []int64 {
	sizes := make([]int64, len(files))
	for i, name := range files {
		sizes[i] = -1
		if name == "-" {
			continue
		}
		if st, err := os.Stat(name); err == nil && st.Mode().IsRegular() {
			sizes[i] = st.Size()
		}
	}
	return sizes
}

func init() {
	commands["analyze"] = func(args []string) int {
		analyzeGC()
		return analyzeCommand(args, os.Stdin, os.Stdout, os.Stderr)
	}
}

const analyzeUsage = `Usage: connscope analyze [flags] FILE... | -r DIR | -

Reads pcap or pcapng captures (gzip-compressed or not; - reads standard
input, e.g. tcpdump -w - | connscope analyze -) and prints, per connect, what
each connection attempt ran into: name lookup, SYN, RST, ICMP, greeting,
MySQL login.

Several files (or -r DIR, or a quoted glob such as 'db.pcap*') are one
incident: their packets are merged by timestamp into one stream, so the
rotated files of one capture (tcpdump -C/-G) and captures of the same
traffic on several interfaces read as one. A packet found in two files
(same addresses, ports, flags, seq, ack, window, length and IP ID within
1 ms) is a duplicate: counted in the summary and ignored. Errors name the
file, packet number and byte offset.

Flags:
  --format table|markdown|json|line
                                output format (default table; markdown for
                                tickets; json: one line per connect, then a
                                summary line; line: one compact line per
                                connect, like tcpconnect)
  --port N                      only attempts to server port N (repeatable,
                                or comma-separated: --port 3306,3307)
  --host H                      only connects touching H: an address, a CIDR
                                prefix or a name (repeatable)
  --failed                      only connects that did not end ok (the
                                summary still counts all)
  --redact                      replace addresses, names and user names with
                                stable pseudonyms (ip4-1, name-1.example,
                                user-1) for public tickets; file names are
                                shown as capture-1, capture-2, ...
  -r DIR                        read every file of DIR (hidden files left
                                out) as part of the set (repeatable)
  -o FILE                       write the report to FILE instead of standard
                                output (errors still go to standard error)
  --all                         with more than 20 connects, still print every
                                connect (the rollup and patterns follow)
  --group-by server|client|process|outcome
                                what the rollup groups by, with the outcome
                                and reason (default server)
  --examples N                  with more than 20 connects, the worst N
                                connects of each failing group (default 3)
  --local-port-range FIRST-LAST the clients' net.ipv4.ip_local_port_range
                                when the capture was taken (ephemeral_ports
                                measures against it; default: Linux's
                                32768-60999, and the pattern says it assumed
                                it)

Up to 20 connects, every connect is printed. With more, the table and
Markdown formats print the summary and the patterns found (accept_backlog,
syn_loss, port_scan, ...) first, then the rollup (groups of attempts with
counts, percentiles and the numbers of their worst examples), the time
view and the worst examples of each failing group; JSON adds "pattern",
"group" and "timeseries" records before its summary line.

On a terminal, an analysis that takes more than a second shows on standard
error how far it has read: bytes of the total, packets, rate and time left,
one line redrawn in place and cleared at the end; never when the report
goes into a pipe, and never for JSON.

Exit status: 0 when every file was read to its end (whatever the connects'
outcomes), 1 when a file could not be opened or is damaged (the results up
to the damage are printed, and the error names the packet and byte offset)
or when not one of its packets could be decoded, 2 for a usage error.
`

// portList is a repeatable --port flag that also takes comma-separated lists.
type portList []uint16

func (p *portList) String() string { return fmt.Sprint([]uint16(*p)) }

func (p *portList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not a port number (1-65535)", f)
		}
		*p = append(*p, uint16(n))
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty value")
	}
	*s = append(*s, v)
	return nil
}

// analyzeCommand runs `connscope analyze` and returns its exit status.
func analyzeCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		format   = fs.String("format", "table", "")
		ports    portList
		hosts    stringList
		failed   = fs.Bool("failed", false, "")
		redact   = fs.Bool("redact", false, "")
		output   = fs.String("o", "", "")
		all      = fs.Bool("all", false, "")
		groupBy  = fs.String("group-by", "server", "")
		examples = fs.Int("examples", rollup.DefaultExamples, "")
		portRng  = fs.String("local-port-range", "", "")
	)
	fs.Var(&ports, "port", "")
	fs.Var(&hosts, "host", "")
	var dirs stringList
	fs.Var(&dirs, "r", "")

	// Flags may come before or after the files: parse, take one file, repeat.
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, analyzeUsage)
				return 0
			}
			fmt.Fprintf(stderr, "connscope analyze: %v\n\n%s", err, analyzeUsage)
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	f, err := report.ParseFormat(*format)
	if err != nil {
		fmt.Fprintf(stderr, "connscope analyze: --format: %v\n", err)
		return 2
	}
	by, ok := rollup.ParseGroupBy(*groupBy)
	if !ok {
		fmt.Fprintf(stderr, "connscope analyze: --group-by %q: use server, client, process or outcome\n", *groupBy)
		return 2
	}
	if *examples < 1 {
		fmt.Fprintf(stderr, "connscope analyze: --examples %d: give 1 or more (--all prints every connect)\n", *examples)
		return 2
	}
	localPorts, err := parseLocalPortRange(*portRng)
	if err != nil {
		fmt.Fprintf(stderr, "connscope analyze: --local-port-range %q: %v\n", *portRng, err)
		return 2
	}
	files, err = expandFiles(files, dirs)
	if err != nil {
		fmt.Fprintf(stderr, "connscope analyze: %v\n", err)
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "connscope analyze: no capture file given: name one or more pcap/pcapng files, or - to read standard input\n\n%s", analyzeUsage)
		return 2
	}
	stdinUses := 0
	for _, name := range files {
		if name == "-" {
			stdinUses++
		}
	}
	if stdinUses > 1 {
		fmt.Fprintln(stderr, "connscope analyze: - (standard input) is named more than once: it can be read only once")
		return 2
	}

	out, closeOut, err := live.OpenOutput(*output, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "connscope analyze: -o %s: %v\n", *output, err)
		return 1
	}
	defer closeOut()
	var meter *progress.Meter
	if progress.Show(isTerminal(stderr), *output == "" && isPipe(stdout), f == report.JSON) {
		meter = progress.New(stderr, fileSizes(files))
		if *output == "" { // the report shares the terminal with the line
			out = meter.Writer(out)
		}
		meter.Start(progressDelay, progressEvery)
		defer meter.Stop()
	}
	w := report.NewWriter(out, report.Options{Format: f, Redact: *redact, FailedOnly: *failed,
		Rollup: &report.RollupOptions{All: *all, GroupBy: by, Examples: *examples, PortRange: localPorts}})
	var (
		total    analyze.Summary
		problems []string
	)
	if len(files) == 1 {
		sum, err := analyzeFile(files[0], stdin, w, analyze.Options{Ports: ports, Hosts: hosts}, meter)
		addSummary(&total, sum)
		if err != nil {
			problems = append(problems, err.Error())
		}
	} else {
		sum, errs := analyzeSet(files, stdin, w, analyze.Options{Ports: ports, Hosts: hosts}, meter)
		total = sum
		for _, err := range errs {
			problems = append(problems, err.Error())
		}
	}
	meter.Stop() // the line is cleared before the report's end is written
	if err := w.Summary(total); err != nil {
		fmt.Fprintf(stderr, "connscope analyze: writing the report: %v\n", err)
		return 1
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "connscope analyze: %s\n", w.RedactText(p))
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}

// analyzeFile feeds one capture through its own engine into w and returns
// the engine's summary. A damaged file still yields its results so far; the
// error (naming the packet and byte offset) is returned and is also in the
// summary's errors. m (nil: no progress shown) counts the bytes and packets.
func analyzeFile(name string, stdin io.Reader, w *report.Writer, opts analyze.Options, m *progress.Meter) (analyze.Summary, error) {
	var (
		r   *capture.Reader
		err error
	)
	source := name
	if name == "-" {
		source = "stdin"
	}
	// Named first, so that under --redact an error quoting the file name
	// shows its pseudonym.
	if err := w.SetSource(source); err != nil {
		return analyze.Summary{}, err
	}
	switch {
	case name == "-":
		r, err = capture.NewReader(m.Through(0)(stdin), source)
	case m != nil:
		r, err = capture.OpenThrough(name, m.Through(0))
	default:
		r, err = capture.Open(name)
	}
	if err != nil {
		return analyze.Summary{Errors: []string{err.Error()}}, fmt.Errorf("%v\n  (nothing was analyzed from %s)", err, source)
	}
	defer r.Close()
	var writeErr error
	opts.OnConnect = func(c *analyze.Connect) {
		if err := w.Connect(c); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	opts.Recycle = !w.KeepsConnects()
	opts.Pipeline = mayPipeline([]string{name})
	// The reader's counters (and its error, if any) go into the summary.
	sum, readErr := analyze.RunSource(m.Source(r), opts)
	if writeErr != nil {
		return sum, writeErr
	}
	if readErr == nil {
		readErr = undecodable(source, sum)
		if readErr != nil {
			sum.Errors = append(sum.Errors, readErr.Error())
		}
	}
	return sum, readErr
}

// mayPipeline says whether the connects of files may be rendered on a
// second goroutine (analyze.Options.Pipeline): only for regular files, not
// for standard input or another pipe (tcpdump -w - | connscope analyze -),
// whose reader gets each connect as it completes rather than with a batch.
func mayPipeline(files []string) bool {
	for _, size := range fileSizes(files) {
		if size < 0 {
			return false
		}
	}
	return true
}

// undecodable is an error when the capture had packets and not one of them
// could be decoded: a file whose link type does not match its frames (or
// that is not a packet capture at all) must not look like a quiet network.
func undecodable(source string, sum analyze.Summary) error {
	if sum.Packets == 0 || sum.Malformed < sum.Packets {
		return nil
	}
	return fmt.Errorf("%s: none of its %d packets could be decoded (all malformed): check that the capture's link type matches its frames, or re-capture with tcpdump -w", source, sum.Packets)
}

// addSummary adds s to total field by field: counters add up, counts by
// outcome merge, errors append. It walks the struct so that a counter added
// to analyze.Summary later is summed too.
func addSummary(total *analyze.Summary, s analyze.Summary) {
	tv, sv := reflect.ValueOf(total).Elem(), reflect.ValueOf(s)
	for i := 0; i < tv.NumField(); i++ {
		t, f := tv.Field(i), sv.Field(i)
		switch t.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32:
			t.SetInt(t.Int() + f.Int())
		case reflect.Uint, reflect.Uint64, reflect.Uint32:
			t.SetUint(t.Uint() + f.Uint())
		case reflect.Float64:
			t.SetFloat(t.Float() + f.Float())
		case reflect.Slice:
			t.Set(reflect.AppendSlice(t, f))
		case reflect.Map:
			if f.Len() == 0 {
				continue
			}
			if t.IsNil() {
				t.Set(reflect.MakeMap(t.Type()))
			}
			it := f.MapRange()
			for it.Next() {
				old := t.MapIndex(it.Key())
				v := it.Value().Int()
				if old.IsValid() {
					v += old.Int()
				}
				t.SetMapIndex(it.Key(), reflect.ValueOf(v).Convert(t.Type().Elem()))
			}
		}
	}
}
