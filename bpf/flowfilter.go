package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// FlowFilterOptions configure LoadFlowFilter. Zero values take the defaults.
type FlowFilterOptions struct {
	// Ports are the target (server) ports: a client SYN to one of them
	// starts tracking its connection, and SYN/FIN/RST are only copied when
	// either port is one of them. Empty: every TCP port.
	Ports []uint16
	// PayloadPackets and PayloadBytes end a connection's connection phase:
	// once its segments carried this many payload segments or bytes (both
	// directions together) the flow is forgotten and its further segments
	// dropped. Defaults 8 segments, 16 KiB (a MySQL handshake with TLS fits).
	PayloadPackets uint32
	PayloadBytes   uint32
	// SnapLen is how many bytes of a passed packet are copied, counted from
	// the link-layer header. Default 1536 (a whole 1500-byte-MTU frame).
	SnapLen uint32
	// MaxFlows bounds the connections tracked at once (an LRU map: the
	// least recently seen flow makes room). Default 16384.
	MaxFlows uint32
}

// Flow filter defaults.
const (
	DefaultFlowPayloadPackets = 8
	DefaultFlowPayloadBytes   = 16 << 10
	DefaultFlowSnapLen        = 1536
	DefaultMaxFlows           = 16384
)

// FlowFilter is a loaded socket filter program. Attach it to an AF_PACKET
// socket with setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, f.FD()); the
// socket keeps its own reference, so the FlowFilter may be closed after
// attaching (Counters then stop working).
type FlowFilter struct {
	prog     *ebpf.Program
	flows    *ebpf.Map
	ports    *ebpf.Map
	counters *ebpf.Map
}

// FlowFilterCounters say what the filter did since it was loaded, summed
// over CPUs and over every socket it is attached to.
type FlowFilterCounters struct {
	PassedControl      uint64 // SYN, FIN, RST
	PassedICMP         uint64 // ICMP and ICMPv6 errors
	PassedDNS          uint64 // UDP or TCP port 53
	PassedFlow         uint64 // segments of connections in their connection phase
	Dropped            uint64 // everything else (payload of established connections, other protocols)
	DroppedLoopbackOut uint64 // outgoing copies on lo (the incoming copy is kept)
	FlowsAdded         uint64 // connections whose tracking started (SYN retransmits count again)
	FlowsDone          uint64 // connections whose budget was used up or that were reset
}

// LoadFlowFilter loads the socket filter of flowfilter.bpf.c. Errors wrap
// ErrPermission or ErrNoBPF when the kernel refuses it, so the caller can fall
// back to a classic BPF filter.
func LoadFlowFilter(opts FlowFilterOptions) (*FlowFilter, error) {
	if opts.PayloadPackets == 0 {
		opts.PayloadPackets = DefaultFlowPayloadPackets
	}
	if opts.PayloadBytes == 0 {
		opts.PayloadBytes = DefaultFlowPayloadBytes
	}
	if opts.SnapLen == 0 {
		opts.SnapLen = DefaultFlowSnapLen
	}
	if opts.MaxFlows == 0 {
		opts.MaxFlows = DefaultMaxFlows
	}
	if err := checkBPF(); err != nil {
		return nil, fmt.Errorf("bpf: flow filter: %w", err)
	}
	spec, err := loadFlowFilter()
	if err != nil {
		return nil, fmt.Errorf("bpf: flow filter: %w", err)
	}
	vars := map[string]any{
		flowFilterVarSnapLen:        opts.SnapLen,
		flowFilterVarPayloadPackets: opts.PayloadPackets,
		flowFilterVarPayloadBytes:   opts.PayloadBytes,
		flowFilterVarFilterPorts:    boolByte(len(opts.Ports) > 0),
	}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("bpf: flow filter: setting %s: %w", name, err)
		}
	}
	spec.Maps[flowFilterMapFlows].MaxEntries = opts.MaxFlows

	var objs flowFilterObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("bpf: flow filter: %w: loading a socket filter program needs CAP_BPF or root: %s", ErrPermission, shortLoadError(err))
		}
		return nil, fmt.Errorf("bpf: flow filter: %w: %s", ErrNoBPF, shortLoadError(err))
	}
	f := &FlowFilter{
		prog:     objs.FlowFilter,
		flows:    objs.Flows,
		ports:    objs.TargetPorts,
		counters: objs.Counters,
	}
	for _, p := range opts.Ports {
		if err := f.ports.Put(p, uint8(1)); err != nil {
			f.Close()
			return nil, fmt.Errorf("bpf: flow filter: adding port %d: %w", p, err)
		}
	}
	return f, nil
}

// FD is the program's file descriptor, for SO_ATTACH_BPF. It stays valid
// until Close.
func (f *FlowFilter) FD() int { return f.prog.FD() }

// Counters reads the filter's counters.
func (f *FlowFilter) Counters() (FlowFilterCounters, error) {
	var c FlowFilterCounters
	fields := map[flowFilterFlowCounter]*uint64{
		flowFilterFlowCounterFC_PASS_CONTROL:      &c.PassedControl,
		flowFilterFlowCounterFC_PASS_ICMP:         &c.PassedICMP,
		flowFilterFlowCounterFC_PASS_DNS:          &c.PassedDNS,
		flowFilterFlowCounterFC_PASS_FLOW:         &c.PassedFlow,
		flowFilterFlowCounterFC_DROP:              &c.Dropped,
		flowFilterFlowCounterFC_DROP_LOOPBACK_OUT: &c.DroppedLoopbackOut,
		flowFilterFlowCounterFC_FLOW_ADDED:        &c.FlowsAdded,
		flowFilterFlowCounterFC_FLOW_DONE:         &c.FlowsDone,
	}
	for idx, dst := range fields {
		var perCPU []uint64
		if err := f.counters.Lookup(uint32(idx), &perCPU); err != nil {
			return c, fmt.Errorf("bpf: flow filter counters: %w", err)
		}
		for _, n := range perCPU {
			*dst += n
		}
	}
	return c, nil
}

// Close releases the program and its maps. Sockets it is attached to keep
// filtering with it.
func (f *FlowFilter) Close() error {
	return errors.Join(f.prog.Close(), f.flows.Close(), f.ports.Close(), f.counters.Close())
}
