package bpf

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf/btf"

	"github.com/connscope/connscope/event"
)

// dropEventSize is the size of an EV_DROP record.
var dropEventSize = int(unsafe.Sizeof(tracerDropEvent{}))

// dropReasonPrefix is the prefix of enum skb_drop_reason's names, left out of
// event.Drop.Reason.
const dropReasonPrefix = "SKB_DROP_REASON_"

// dropReasons are the names of enum skb_drop_reason as the running kernel
// numbers them (the values change between kernels: read from its BTF, never
// hard-coded).
type dropReasons struct {
	names          map[uint32]string
	notSpecified   uint32 // NOT_SPECIFIED: filtered out in the kernel
	listenOverflow uint32 // TCP_LISTEN_OVERFLOW, 0 when the kernel has none
}

// errNoDropReasons says the kernel's BTF has no enum skb_drop_reason (Linux
// before 5.17) or no NOT_SPECIFIED in it: kfree_skb would report nothing the
// analysis could use.
var errNoDropReasons = errors.New("the kernel's BTF has no enum skb_drop_reason with NOT_SPECIFIED (Linux 5.17+)")

// loadDropReasons reads enum skb_drop_reason from the kernel's BTF.
func loadDropReasons() (*dropReasons, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("reading the kernel's BTF: %w", err)
	}
	return dropReasonsFrom(spec)
}

func dropReasonsFrom(spec *btf.Spec) (*dropReasons, error) {
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		return nil, errNoDropReasons
	}
	r := &dropReasons{names: make(map[uint32]string, len(enum.Values))}
	found := false
	for _, v := range enum.Values {
		if v.Value > 0xffffffff {
			continue // SUBSYS_MASK and the like: not reasons
		}
		n := uint32(v.Value)
		name := strings.TrimPrefix(v.Name, dropReasonPrefix)
		switch name {
		case "NOT_SPECIFIED":
			r.notSpecified, found = n, true
		case "TCP_LISTEN_OVERFLOW":
			r.listenOverflow = n
		case "MAX", "SUBSYS_MASK":
			continue
		}
		if _, dup := r.names[n]; !dup {
			r.names[n] = name
		}
	}
	if !found {
		return nil, errNoDropReasons
	}
	return r, nil
}

// name is a reason's name, or "reason N" for a value the enum does not name
// (a subsystem's reasons, e.g. mac80211's, live outside it).
func (r *dropReasons) name(code uint32) string {
	if r != nil {
		if n, ok := r.names[code]; ok {
			return n
		}
	}
	return "reason " + strconv.FormatUint(uint64(code), 10)
}

// symbolizer names kernel code addresses from /proc/kallsyms: the function
// containing a drop's location. Reading kallsyms costs about 40 ms of CPU
// here, most of it the kernel's (it generates 120,000 lines), so it is read
// once, when the first drop with a location is decoded: the reader stalls
// that once (the ring takes the slack), and a trace that sees no drop never
// pays it (read at open, in the background, it was most of `trace`'s CPU
// in its first seconds under bulk traffic).
type symbolizer struct {
	path  string
	table *symTable // nil when kallsyms is unreadable or its addresses hidden
	once  sync.Once
}

// symTable is the kernel's text symbols sorted by address; names are
// slices of one string.
type symTable struct {
	addrs []uint64
	ends  []uint32 // names[ends[i-1]:ends[i]] is symbol i's name
	names string
}

// kernelSymbols is the running kernel's: one table per process, however
// many tracers it opens (tests and benchmarks open one per block).
var kernelSymbols = &symbolizer{path: "/proc/kallsyms"}

func newSymbolizer() *symbolizer { return kernelSymbols }

// name is the text symbol containing addr, "" when it is not known:
// kallsyms unreadable, addresses hidden by kernel.kptr_restrict, or no
// symbolizer (a tracer without kfree_skb). The first call loads the table.
// Only the ring reader's goroutine calls it.
func (s *symbolizer) name(addr uint64) string {
	if s == nil || addr == 0 {
		return ""
	}
	s.once.Do(func() { s.table = loadSymbols(s.path) })
	t := s.table
	if t == nil {
		return ""
	}
	i := sort.Search(len(t.addrs), func(i int) bool { return t.addrs[i] > addr }) - 1
	// A location far past its symbol is past the end of the kernel's text
	// (a module without symbols): not that symbol.
	if i < 0 || addr-t.addrs[i] > 1<<20 {
		return ""
	}
	return t.name(i)
}

func loadSymbols(path string) *symTable {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	// Parsed in place, the names appended to one buffer: a string and a
	// symbol struct per line, then a sort of the 120,000 of them, made the
	// load 68 ms of CPU and 38 MB. The kernel lists them in address order,
	// but for a few (sorted only when not in order). Its reads are 64 KB
	// at a time, not the scanner's first 4 KB: the kernel's work per read
	// of kallsyms is most of the load.
	var (
		addrs []uint64
		ends  []uint32
		names []byte
	)
	sorted := true
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		// "ffffffff81000000 T _stext" (module symbols add "\t[module]")
		line := sc.Bytes()
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 || len(line) < sp+4 || (line[sp+1] != 't' && line[sp+1] != 'T') || line[sp+2] != ' ' {
			continue
		}
		a, ok := parseHex(line[:sp])
		if !ok || a == 0 {
			continue
		}
		name := line[sp+3:]
		if tab := bytes.IndexByte(name, '\t'); tab >= 0 {
			name = name[:tab]
		}
		if n := len(addrs); n > 0 && a < addrs[n-1] {
			sorted = false
		}
		if len(addrs) == cap(addrs) {
			// Doubling: append grows a large slice by a quarter, which
			// copied the names (3 MB) over and over.
			addrs, ends = slices.Grow(addrs, max(len(addrs), 4096)), slices.Grow(ends, max(len(ends), 4096))
		}
		if len(names)+len(name) > cap(names) {
			names = slices.Grow(names, max(len(names), 64<<10))
		}
		addrs = append(addrs, a)
		names = append(names, name...)
		ends = append(ends, uint32(len(names)))
	}
	if len(addrs) == 0 {
		return nil // unreadable, or every address hidden (kptr_restrict)
	}
	t := &symTable{addrs: addrs, ends: ends, names: string(names)}
	if !sorted {
		t = t.sortedByAddr()
	}
	return t
}

// parseHex is strconv.ParseUint(string(b), 16, 64) without the string.
func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// sortedByAddr is t in address order; symbols at one address stay in the
// order they were listed.
func (t *symTable) sortedByAddr() *symTable {
	type at struct {
		addr uint64
		i    int
	}
	order := make([]at, len(t.addrs))
	for i, a := range t.addrs {
		order[i] = at{a, i}
	}
	slices.SortStableFunc(order, func(x, y at) int { return cmp.Compare(x.addr, y.addr) })
	s := &symTable{addrs: make([]uint64, len(order)), ends: make([]uint32, len(order))}
	names := make([]byte, 0, len(t.names))
	for i, o := range order {
		s.addrs[i] = o.addr
		names = append(names, t.name(o.i)...)
		s.ends[i] = uint32(len(names))
	}
	s.names = string(names)
	return s
}

// name is symbol i's name.
func (t *symTable) name(i int) string {
	from := uint32(0)
	if i > 0 {
		from = t.ends[i-1]
	}
	return t.names[from:t.ends[i]]
}

// decodeDrop fills the drop-specific part of an EV_DROP record.
func (t *Tracer) decodeDrop(raw []byte, k *event.Kernel) bool {
	if len(raw) < dropEventSize {
		return false
	}
	d := (*tracerDropEvent)(unsafe.Pointer(&raw[0]))
	code := uint32(d.E.Ret)
	k.Drop = &event.Drop{
		Reason:   t.drops.name(code),
		Code:     code,
		Location: t.syms.name(d.Location),
		Incoming: d.Incoming != 0,
		Ifindex:  int(d.Ifindex),
		Proto:    d.Proto,
		TCPFlags: d.TcpFlags,
		Seq:      d.Seq,
		ICMPType: d.IcmpType,
		ICMPCode: d.IcmpCode,
	}
	k.State = 0
	return true
}
