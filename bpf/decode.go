package bpf

import (
	"bytes"
	"net/netip"
	"unsafe"

	"github.com/connscope/connscope/event"
)

// Record sizes as the kernel writes them (checked against the generated
// types in tests).
const (
	eventSize        = int(unsafe.Sizeof(tracerEvent{}))
	connectEventSize = int(unsafe.Sizeof(tracerConnectEvent{}))
)

const evConnect = uint8(event.ConnectCall)

// decode turns one ring buffer record into an event.Kernel. It reports
// false for a record too short for its kind.
func (t *Tracer) decode(raw []byte) (event.Kernel, bool) {
	var k event.Kernel
	if !t.decodeInto(raw, &k) {
		return event.Kernel{}, false
	}
	return k, true
}

// decodeInto is decode writing into *k, which it overwrites whole (the
// reader's copy, so that the 224-byte event is not copied on its way out of
// Next; garbage when it reports false). The record's memory is the
// generated struct's (same compiler, same target endianness: bpf2go's bpfel
// objects only build on little-endian hosts), so it is read in place.
func (t *Tracer) decodeInto(raw []byte, k *event.Kernel) bool {
	if len(raw) < eventSize {
		return false
	}
	e := (*tracerEvent)(unsafe.Pointer(&raw[0]))
	*k = event.Kernel{
		Time: t.clock.toWall(e.Ts),
		Kind: event.KernelKind(e.Kind),
		Process: event.Process{
			PID:  e.Pid,
			TID:  e.Tid,
			Comm: t.comm(e.Comm),
			FD:   e.Fd,
		},
		Cookie:   e.Cookie,
		Family:   e.Family,
		SockType: e.Type,
		State:    e.State,
		ISN:      e.Isn,
	}
	switch k.Kind {
	case event.ConnectCall:
		if len(raw) < connectEventSize {
			return false
		}
		c := (*tracerConnectEvent)(unsafe.Pointer(&raw[0]))
		k.Ret = e.Ret
		k.State = 0
		k.Entered = t.clock.toWall(c.EnterTs)
		if e.Family == event.FamilyUnix {
			k.UnixPath = unixPath(c.Path[:], c.Addrlen)
			return true
		}
	case event.StateChange:
		k.OldState, k.NewState = e.OldState, e.NewState
	case event.SocketError:
		k.Errno = e.Ret
	case event.Retransmit, event.ResetReceived, event.ChildEstablished, event.Accepted:
	case event.SYNACKRetransmit:
		k.Retransmits = uint8(e.Ret)
	case event.ResetSent:
		if !t.decodeReset(raw, k) {
			return false
		}
	case event.PacketDrop:
		if !t.decodeDrop(raw, k) {
			return false
		}
	default:
		return false
	}
	k.Src = addrPort(e.Family, &e.Saddr, e.Sport)
	k.Dst = addrPort(e.Family, &e.Daddr, e.Dport)
	return true
}

// addrPort converts a kernel address. IPv4-mapped IPv6 addresses (an
// AF_INET6 socket talking IPv4) are unmapped: the wire carries IPv4, and
// that is what packets show; Family still says the socket is AF_INET6.
func addrPort(family uint16, a *[16]uint8, port uint16) netip.AddrPort {
	switch family {
	case event.FamilyInet:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[:4])), port)
	case event.FamilyInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(*a).Unmap(), port)
	}
	return netip.AddrPort{}
}

// unixPath renders sun_path as connect() received it: addrlen counts the
// 2-byte family. A pathname ends at its first NUL; an abstract name (leading
// NUL) is exactly addrlen-3 bytes and is shown like /proc/net/unix shows it:
// "@" for the leading NUL and for any NUL inside the name.
func unixPath(path []byte, addrlen uint32) string {
	n := int(addrlen) - 2
	if n <= 0 {
		return ""
	}
	if n > len(path) {
		n = len(path)
	}
	p := path[:n]
	if p[0] != 0 {
		if i := bytes.IndexByte(p, 0); i >= 0 {
			p = p[:i]
		}
		return string(p)
	}
	b := []byte(string(p)) // copy
	for i := range b {
		if b[i] == 0 {
			b[i] = '@'
		}
	}
	return string(b)
}

// comm converts a task name, reusing strings: few distinct names recur.
func (t *Tracer) comm(c [16]int8) string {
	if c == t.lastComm.raw && t.lastComm.name != "" {
		// A busy process's events come in runs: no hashing of the name.
		return t.lastComm.name
	}
	if s, ok := t.comms[c]; ok {
		t.lastComm.raw, t.lastComm.name = c, s
		return s
	}
	b := make([]byte, 0, len(c))
	for _, ch := range c {
		if ch == 0 {
			break
		}
		b = append(b, byte(ch))
	}
	s := string(b)
	if len(t.comms) >= 4096 {
		clear(t.comms)
	}
	t.comms[c] = s
	t.lastComm.raw, t.lastComm.name = c, s
	return s
}
