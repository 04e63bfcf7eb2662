package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// The classic BPF filter the live capture attaches when no eBPF filter is
// given. It runs in the kernel on every packet of the capture socket, which
// is a SOCK_DGRAM packet socket: the packet starts at its network header on
// every interface type (Ethernet, loopback, tun, …), and the link-level
// facts come from ancillary loads (protocol, packet type, device type).
//
// It passes exactly what the analyzer needs:
//   - every TCP segment with SYN, FIN or RST (attempts, answers, give-ups),
//   - TCP segments with payload to or from a payload port (the server's
//     first bytes and the MySQL connection phase),
//   - DNS over UDP and TCP (port 53),
//   - ICMP errors (types 3, 11, 12) and ICMPv6 errors (types 1–4),
//   - IPv6 packets with extension headers (the fast path does not walk
//     them; letting them through is safer than losing an attempt),
//
// and drops the outgoing copy of every packet on a loopback device (the
// kernel shows each loopback packet twice: sent, then received).
//
// A classic filter has no memory, so it cannot tell the connection phase
// from an established connection: bulk data on a payload port passes too
// (cut to the snap length), while bulk data on any other port never leaves
// the kernel. The eBPF filter in package bpf tracks flows and does better.
//
// IPv4 fragments after the first are dropped (the analyzer cannot use them);
// VLAN-tagged frames whose tag the NIC did not strip are not IP to the
// kernel and are dropped.

// Snap lengths the filter returns (bytes from the network header on).
const (
	// DefaultSnapLen covers IP and TCP headers with options (≤ 120 bytes)
	// and ~390 bytes of payload: a MySQL greeting (~100–130 bytes), an ERR
	// packet with a long host name in its message, or a login request up to
	// the user name.
	DefaultSnapLen = 512
	// snapDNS keeps a whole ordinary DNS message: names and every answer.
	snapDNS = 1500
	// snapICMP keeps the outer header, the ICMP header and the quoted IP
	// header with its first transport bytes (options and extension
	// headers included).
	snapICMP = 256
	// maxPayloadPorts keeps every jump of the port chains within the 255
	// instructions a classic BPF conditional jump can skip.
	maxPayloadPorts = 100
)

// Values of the ancillary loads.
const (
	arphrdLoopback = 772
	packetOutgoing = 4
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
)

// ancillary says where the filter reads link-level facts from: the kernel's
// ancillary loads in production, a test prefix in the VM (which implements
// no ancillary loads), with the packet starting base bytes later.
type ancillary struct {
	load func(bpf.Extension) bpf.Instruction
	base uint32
}

var kernelAncillary = ancillary{load: func(e bpf.Extension) bpf.Instruction { return bpf.LoadExtension{Num: e} }}

// ClassicFilter returns the classic BPF program the live capture attaches:
// see the comment above for what it passes. payloadPorts are the ports
// whose payload it passes, named by the caller (capture knows no
// protocols: live fills them from analyze's registered protocols or the
// --port filter); at least one. snapLen 0 means DefaultSnapLen.
func ClassicFilter(payloadPorts []uint16, snapLen int) ([]bpf.RawInstruction, error) {
	prog, err := classicFilter(payloadPorts, snapLen, kernelAncillary)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("capture: assembling the packet filter: %w", err)
	}
	return raw, nil
}

func classicFilter(payloadPorts []uint16, snapLen int, anc ancillary) ([]bpf.Instruction, error) {
	if len(payloadPorts) == 0 {
		return nil, fmt.Errorf("capture: no payload ports: the caller must name the TCP ports whose payload the classic filter passes")
	}
	if len(payloadPorts) > maxPayloadPorts {
		return nil, fmt.Errorf("capture: %d payload ports, the classic filter takes at most %d", len(payloadPorts), maxPayloadPorts)
	}
	if snapLen == 0 {
		snapLen = DefaultSnapLen
	}
	if snapLen < 128 {
		return nil, fmt.Errorf("capture: snap length %d is too small to hold IP and TCP headers (at least 128)", snapLen)
	}
	b := anc.base
	a := &asm{labels: map[string]int{}}

	// Loopback: drop the outgoing copy.
	a.emit(anc.load(bpf.ExtLinkLayerType))
	a.jumpIf(bpf.JumpEqual, arphrdLoopback, "", "protocol")
	a.emit(anc.load(bpf.ExtType))
	a.jumpIf(bpf.JumpEqual, packetOutgoing, "drop", "")
	a.label("protocol")
	a.emit(anc.load(bpf.ExtProto))
	a.jumpIf(bpf.JumpEqual, etherTypeIPv4, "ipv4", "")
	a.jumpIf(bpf.JumpEqual, etherTypeIPv6, "ipv6", "drop")

	// IPv4: X = header length, M[0] = transport length.
	a.label("ipv4")
	a.emit(bpf.LoadAbsolute{Off: b + 6, Size: 2})
	a.jumpIf(bpf.JumpBitsSet, 0x1fff, "drop", "") // a later fragment
	a.emit(bpf.LoadMemShift{Off: b})
	a.emit(bpf.LoadAbsolute{Off: b + 2, Size: 2})
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpSub})
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	a.emit(bpf.LoadAbsolute{Off: b + 9, Size: 1})
	a.jumpIf(bpf.JumpEqual, 6, "tcp", "")
	a.jumpIf(bpf.JumpEqual, 17, "udp", "")
	a.jumpIf(bpf.JumpEqual, 1, "", "drop")
	a.emit(bpf.LoadIndirect{Off: b, Size: 1}) // ICMP type
	a.jumpIf(bpf.JumpEqual, 3, "icmp", "")
	a.jumpIf(bpf.JumpEqual, 11, "icmp", "")
	a.jumpIf(bpf.JumpEqual, 12, "icmp", "drop")

	// IPv6 without extension headers: X = 40, M[0] = payload length.
	a.label("ipv6")
	a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	a.emit(bpf.LoadAbsolute{Off: b + 4, Size: 2})
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	a.emit(bpf.LoadAbsolute{Off: b + 6, Size: 1})
	a.jumpIf(bpf.JumpEqual, 6, "tcp", "")
	a.jumpIf(bpf.JumpEqual, 17, "udp", "")
	a.jumpIf(bpf.JumpEqual, 58, "icmp6", "")
	for _, ext := range []uint32{0, 43, 44, 51, 60} { // hop-by-hop, routing, fragment, AH, destination
		a.jumpIf(bpf.JumpEqual, ext, "ext6", "")
	}
	a.jump("drop")
	a.label("icmp6")
	a.emit(bpf.LoadAbsolute{Off: b + 40, Size: 1})
	a.jumpIf(bpf.JumpGreaterOrEqual, 1, "", "drop")
	a.jumpIf(bpf.JumpGreaterThan, 4, "drop", "icmp")

	// TCP at X.
	a.label("tcp")
	a.emit(bpf.LoadIndirect{Off: b + 13, Size: 1})
	a.jumpIf(bpf.JumpBitsSet, 0x07, "tcp-accept", "") // FIN, SYN, RST
	a.emit(bpf.LoadIndirect{Off: b, Size: 2})         // source port
	a.jumpIf(bpf.JumpEqual, 53, "dns", "")
	for _, p := range payloadPorts {
		a.jumpIf(bpf.JumpEqual, uint32(p), "tcp-payload", "")
	}
	a.emit(bpf.LoadIndirect{Off: b + 2, Size: 2}) // destination port
	a.jumpIf(bpf.JumpEqual, 53, "dns", "")
	for _, p := range payloadPorts {
		a.jumpIf(bpf.JumpEqual, uint32(p), "tcp-payload", "")
	}
	a.jump("drop")
	a.label("tcp-payload")
	a.emit(bpf.LoadIndirect{Off: b + 12, Size: 1}) // data offset
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	a.emit(bpf.TAX{})
	a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpSub}) // payload length
	a.jumpIf(bpf.JumpGreaterThan, 0, "tcp-accept", "drop")

	// UDP at X: DNS only.
	a.label("udp")
	a.emit(bpf.LoadIndirect{Off: b, Size: 2})
	a.jumpIf(bpf.JumpEqual, 53, "dns", "")
	a.emit(bpf.LoadIndirect{Off: b + 2, Size: 2})
	a.jumpIf(bpf.JumpEqual, 53, "dns", "drop")

	a.label("tcp-accept")
	a.emit(bpf.RetConstant{Val: uint32(snapLen)})
	a.label("ext6")
	a.emit(bpf.RetConstant{Val: uint32(snapLen)})
	a.label("dns")
	a.emit(bpf.RetConstant{Val: snapDNS})
	a.label("icmp")
	a.emit(bpf.RetConstant{Val: snapICMP})
	a.label("drop")
	a.emit(bpf.RetConstant{Val: 0})
	return a.assemble()
}

// asm resolves named jump targets into classic BPF's relative skips.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at              int
	ifTrue, ifFalse string // "" = the next instruction
	always          bool
}

func (a *asm) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *asm) label(name string) { a.labels[name] = len(a.ins) }

func (a *asm) jumpIf(cond bpf.JumpTest, val uint32, ifTrue, ifFalse string) {
	a.fixups = append(a.fixups, fixup{at: len(a.ins), ifTrue: ifTrue, ifFalse: ifFalse})
	a.emit(bpf.JumpIf{Cond: cond, Val: val})
}

func (a *asm) jump(to string) {
	a.fixups = append(a.fixups, fixup{at: len(a.ins), ifTrue: to, always: true})
	a.emit(bpf.Jump{})
}

func (a *asm) assemble() ([]bpf.Instruction, error) {
	skip := func(from int, label string) (int, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok {
			return 0, fmt.Errorf("capture: filter jumps to unknown label %q", label)
		}
		s := to - from - 1
		if s < 0 || s > 255 {
			return 0, fmt.Errorf("capture: filter jump from %d to %q spans %d instructions", from, label, s)
		}
		return s, nil
	}
	for _, f := range a.fixups {
		t, err := skip(f.at, f.ifTrue)
		if err != nil {
			return nil, err
		}
		if f.always {
			a.ins[f.at] = bpf.Jump{Skip: uint32(t)}
			continue
		}
		e, err := skip(f.at, f.ifFalse)
		if err != nil {
			return nil, err
		}
		j := a.ins[f.at].(bpf.JumpIf)
		j.SkipTrue, j.SkipFalse = uint8(t), uint8(e)
		a.ins[f.at] = j
	}
	return a.ins, nil
}
