package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
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
// containing a drop's location. Locations are few (a dozen functions drop
// packets in practice), so each new one is looked up by one scan of the
// file and remembered.
type symbolizer struct {
	path  string
	cache map[uint64]string
}

func newSymbolizer() *symbolizer {
	return &symbolizer{path: "/proc/kallsyms", cache: map[uint64]string{}}
}

// name is the text symbol containing addr, "" when kallsyms cannot say
// (unreadable, or addresses hidden by kernel.kptr_restrict).
func (s *symbolizer) name(addr uint64) string {
	if addr == 0 {
		return ""
	}
	if n, ok := s.cache[addr]; ok {
		return n
	}
	n := s.lookup(addr)
	if len(s.cache) >= 1024 {
		clear(s.cache)
	}
	s.cache[addr] = n
	return n
}

func (s *symbolizer) lookup(addr uint64) string {
	f, err := os.Open(s.path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var best uint64
	name := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "ffffffff81000000 T _stext" (module symbols add " [module]")
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 3 || (f[1] != "t" && f[1] != "T") {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || a == 0 || a > addr || a < best {
			continue
		}
		best, name = a, f[2]
	}
	// A location far past its symbol is past the end of the kernel's text
	// (a module without symbols): not that symbol.
	if addr-best > 1<<20 {
		return ""
	}
	return name
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
