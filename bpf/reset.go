package bpf

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf/btf"

	"github.com/connscope/connscope/event"
)

// resetEventSize is the size of an EV_RESET_SENT record.
var resetEventSize = int(unsafe.Sizeof(tracerResetEvent{}))

// rstReasonPrefix is the prefix of enum sk_rst_reason's names, left out of
// event.Reset.Reason.
const rstReasonPrefix = "SK_RST_REASON_"

// errNoSendResetTracepoint says the kernel has no tcp:tcp_send_reset
// tracepoint connscope can attach to with tp_btf.
var errNoSendResetTracepoint = errors.New("the kernel's BTF has no btf_trace_tcp_send_reset (tracepoint tcp:tcp_send_reset, Linux 4.15+) with (sk, skb) arguments")

// resetReasons is what the kernel's BTF says of tcp:tcp_send_reset: whether
// the tracepoint passes a reason (enum sk_rst_reason, Linux 6.10+) and the
// enum's names as this kernel numbers them (never hard-coded).
type resetReasons struct {
	hasReason bool
	names     map[uint32]string
}

// loadResetReasons reads the tracepoint's prototype and enum sk_rst_reason
// from the kernel's BTF.
func loadResetReasons() (*resetReasons, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("reading the kernel's BTF: %w", err)
	}
	return resetReasonsFrom(spec)
}

// resetReasonsFrom fails when the tracepoint is missing or does not pass
// (sk, skb); a kernel whose tracepoint has no reason argument, or whose BTF
// lacks the enum, gives resets without a reason.
func resetReasonsFrom(spec *btf.Spec) (*resetReasons, error) {
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_tcp_send_reset", &td); err != nil {
		return nil, errNoSendResetTracepoint
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return nil, errNoSendResetTracepoint
	}
	fp, ok := ptr.Target.(*btf.FuncProto)
	// void *__data, then the tracepoint's arguments
	if !ok || len(fp.Params) < 3 {
		return nil, errNoSendResetTracepoint
	}
	r := &resetReasons{names: map[uint32]string{}}
	if len(fp.Params) < 4 {
		return r, nil
	}
	var enum *btf.Enum
	if err := spec.TypeByName("sk_rst_reason", &enum); err != nil {
		return r, nil
	}
	r.hasReason = true
	for _, v := range enum.Values {
		name := strings.TrimPrefix(v.Name, rstReasonPrefix)
		if name == "MAX" || v.Value > 0xffffffff {
			continue
		}
		if _, dup := r.names[uint32(v.Value)]; !dup {
			r.names[uint32(v.Value)] = name
		}
	}
	return r, nil
}

// name is a reason's name, "" when the tracepoint has none, "reason N" for
// a value the enum does not name.
func (r *resetReasons) name(code uint32) string {
	if r == nil || !r.hasReason {
		return ""
	}
	if n, ok := r.names[code]; ok {
		return n
	}
	return fmt.Sprintf("reason %d", code)
}

// decodeReset fills the reset-specific part of an EV_RESET_SENT record.
func (t *Tracer) decodeReset(raw []byte, k *event.Kernel) bool {
	if len(raw) < resetEventSize {
		return false
	}
	r := (*tracerResetEvent)(unsafe.Pointer(&raw[0]))
	code := uint32(r.E.Ret)
	if t.rsts == nil || !t.rsts.hasReason {
		code = 0
	}
	k.Reset = &event.Reset{Reason: t.rsts.name(code), Code: code, Passive: r.Passive != 0, Answers: r.Answers}
	return true
}
