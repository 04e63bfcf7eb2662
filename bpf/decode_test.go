package bpf

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/connscope/connscope/event"
)

func TestRecordLayout(t *testing.T) {
	// The C structs (headers/connscope.h) as bpf2go saw them.
	if eventSize != 96 || connectEventSize != 224 {
		t.Errorf("event %d bytes, connect_event %d bytes; connscope.h says 96 and 224 (regenerate?)", eventSize, connectEventSize)
	}
	if dropEventSize != 120 {
		t.Errorf("drop_event %d bytes; connscope.h says 120 (regenerate?)", dropEventSize)
	}
	if resetEventSize != 104 {
		t.Errorf("reset_event %d bytes; connscope.h says 104 (regenerate?)", resetEventSize)
	}
	if off := unsafe.Offsetof(tracerConnectEvent{}.Path); off != 112 {
		t.Errorf("connect_event.path at %d, want 112", off)
	}
}

func TestUnixPath(t *testing.T) {
	path := func(s string) []byte {
		b := make([]byte, 108)
		copy(b, s)
		return b
	}
	cases := []struct {
		name    string
		path    []byte
		addrlen uint32
		want    string
	}{
		{"pathname, NUL counted", path("/run/mysqld/mysqld.sock"), 2 + 24, "/run/mysqld/mysqld.sock"},
		{"pathname, NUL not counted", path("/run/mysqld/mysqld.sock"), 2 + 23, "/run/mysqld/mysqld.sock"},
		{"pathname, sizeof(sockaddr_un)", path("/tmp/x"), 110, "/tmp/x"},
		{"abstract", path("\x00csbpf"), 2 + 6, "@csbpf"},
		{"abstract with NULs inside", path("\x00a\x00b"), 2 + 4, "@a@b"},
		{"abstract, trailing NUL is part of the name", path("\x00name\x00"), 2 + 6, "@name@"},
		{"unnamed (autobind)", path(""), 2, ""},
		{"addrlen too short", path("/x"), 1, ""},
		{"addrlen beyond sun_path", path("/x"), 500, "/x"},
	}
	for _, tc := range cases {
		if got := unixPath(tc.path, tc.addrlen); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func testTracer() *Tracer {
	c := &wallClock{kind: clockTAI, readKernel: func() int64 { return 1e18 }, taiOffset: func() (int64, error) { return 0, nil }}
	c.measure()
	return &Tracer{clock: c, comms: map[[16]int8]string{}}
}

func comm(s string) (c [16]int8) {
	for i := 0; i < len(s) && i < 15; i++ {
		c[i] = int8(s[i])
	}
	return c
}

func record(v any) []byte {
	switch r := v.(type) {
	case *tracerEvent:
		return unsafe.Slice((*byte)(unsafe.Pointer(r)), eventSize)
	case *tracerConnectEvent:
		return unsafe.Slice((*byte)(unsafe.Pointer(r)), connectEventSize)
	case *tracerDropEvent:
		return unsafe.Slice((*byte)(unsafe.Pointer(r)), dropEventSize)
	case *tracerResetEvent:
		return unsafe.Slice((*byte)(unsafe.Pointer(r)), resetEventSize)
	}
	panic("record type")
}

func TestDecode(t *testing.T) {
	tr := testTracer()
	base := time.Unix(0, 1e18)

	ce := &tracerConnectEvent{EnterTs: 1e18 + 1000, Addrlen: 16}
	ce.E = tracerEvent{Ts: 1e18 + 5000, Cookie: 42, Pid: 10, Tid: 11, Fd: 3, Ret: -111, Family: event.FamilyInet,
		Type: event.SockStream, Sport: 40000, Dport: 3306, Kind: uint8(event.ConnectCall), Comm: comm("mariadb")}
	copy(ce.E.Saddr[:], []byte{192, 0, 2, 1})
	copy(ce.E.Daddr[:], []byte{192, 0, 2, 2})
	got, ok := tr.decode(record(ce))
	want := event.Kernel{
		Time: base.Add(5 * time.Microsecond), Entered: base.Add(time.Microsecond), Kind: event.ConnectCall,
		Process: event.Process{PID: 10, TID: 11, Comm: "mariadb", FD: 3}, Cookie: 42,
		Family: event.FamilyInet, SockType: event.SockStream,
		Src: netip.MustParseAddrPort("192.0.2.1:40000"), Dst: netip.MustParseAddrPort("192.0.2.2:3306"), Ret: -111,
	}
	if !ok || !got.Time.Equal(want.Time) || !got.Entered.Equal(want.Entered) {
		t.Fatalf("decode: ok=%v %+v", ok, got)
	}
	got.Time, got.Entered, want.Time, want.Entered = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("connect:\n got %+v\nwant %+v", got, want)
	}

	se := &tracerEvent{Ts: 1e18, Cookie: 42, Pid: 10, Tid: 11, Fd: 3, Family: event.FamilyInet6, Type: event.SockStream,
		Sport: 40000, Dport: 3306, Kind: uint8(event.StateChange), OldState: event.TCPSynSent, NewState: event.TCPClose,
		State: event.TCPClose, Comm: comm("mariadb")}
	mapped := netip.MustParseAddr("::ffff:192.0.2.2").As16()
	se.Daddr = mapped
	se.Saddr = netip.MustParseAddr("2001:db8::1").As16()
	got, ok = tr.decode(record(se))
	if !ok || got.Kind != event.StateChange || got.OldState != event.TCPSynSent || got.NewState != event.TCPClose ||
		got.Dst.String() != "192.0.2.2:3306" || got.Src.String() != "[2001:db8::1]:40000" || got.Family != event.FamilyInet6 {
		t.Errorf("state: ok=%v %+v", ok, got)
	}

	se.Kind, se.Ret = uint8(event.SocketError), 111
	if got, ok = tr.decode(record(se)); !ok || got.Errno != 111 || got.Ret != 0 {
		t.Errorf("sock_error: ok=%v %+v", ok, got)
	}

	ue := &tracerConnectEvent{EnterTs: 1e18, Addrlen: 2 + 7}
	ue.E = tracerEvent{Ts: 1e18, Kind: uint8(event.ConnectCall), Family: event.FamilyUnix, Type: event.SockStream, Ret: -2}
	copy(ue.Path[:], "\x00csbpf\x00")
	if got, ok = tr.decode(record(ue)); !ok || got.UnixPath != "@csbpf@" || got.Dst.IsValid() || got.Src.IsValid() || got.Ret != -2 {
		t.Errorf("unix: ok=%v %+v", ok, got)
	}

	// malformed: short records, unknown kinds
	if _, ok := tr.decode(record(ce)[:eventSize]); ok {
		t.Error("a connect record cut to the common header decoded")
	}
	if _, ok := tr.decode(record(se)[:10]); ok {
		t.Error("a 10-byte record decoded")
	}
	se.Kind = 99
	if _, ok := tr.decode(record(se)); ok {
		t.Error("kind 99 decoded")
	}
}

// decodeInto overwrites the whole event: the live reader decodes into
// memory that held earlier events, and nothing of a drop, a unix connect or
// a connect() return may stay on the next record's event.
func TestDecodeIntoOverwrites(t *testing.T) {
	tr := testTracer()
	tr.drops = &dropReasons{names: map[uint32]string{5: "NETFILTER_DROP"}}
	tr.syms = &symbolizer{path: "/nonexistent"}
	d := &tracerDropEvent{Seq: 77, Ifindex: 4, Proto: event.ProtoTCP, TcpFlags: event.TCPSyn, Incoming: 1}
	d.E = tracerEvent{Ts: 1e18, Fd: -1, Ret: 5, Family: event.FamilyInet, Type: event.SockStream,
		Sport: 40000, Dport: 3306, Kind: uint8(event.PacketDrop)}
	ue := &tracerConnectEvent{EnterTs: 1e18, Addrlen: 2 + 7}
	ue.E = tracerEvent{Ts: 1e18, Kind: uint8(event.ConnectCall), Family: event.FamilyUnix, Type: event.SockStream, Ret: -2, Pid: 9, Comm: comm("x")}
	copy(ue.Path[:], "\x00csbpf\x00")
	se := &tracerEvent{Ts: 1e18 + 5000, Cookie: 42, Family: event.FamilyInet, Type: event.SockStream,
		Sport: 40001, Dport: 3306, Kind: uint8(event.StateChange), OldState: event.TCPSynSent, NewState: event.TCPClose, State: event.TCPClose}
	want, ok := tr.decode(record(se))
	if !ok {
		t.Fatal("state change not decoded")
	}
	for i, before := range [][]byte{record(d), record(ue)} {
		var k event.Kernel
		if !tr.decodeInto(before, &k) {
			t.Fatal("first record not decoded")
		}
		if !tr.decodeInto(record(se), &k) {
			t.Fatal("state change not decoded into a used event")
		}
		if k != want {
			t.Errorf("after record %d (%s): got %+v\nwant %+v", i, []string{"drop", "unix connect"}[i], k, want)
		}
	}
}

// Ring buffer records come from the kernel, but decode must not trust them:
// any bytes give an event or a refusal, never a panic.
func FuzzDecode(f *testing.F) {
	ce := &tracerConnectEvent{Addrlen: 9}
	ce.E = tracerEvent{Kind: uint8(event.ConnectCall), Family: event.FamilyUnix}
	f.Add(append([]byte(nil), record(ce)...))
	se := &tracerEvent{Kind: uint8(event.StateChange), Family: event.FamilyInet6}
	f.Add(append([]byte(nil), record(se)...))
	f.Add([]byte{1, 2, 3})
	tr := testTracer()
	f.Fuzz(func(t *testing.T, raw []byte) {
		// a copy with 8-byte alignment, as the ring buffer reader's buffer has
		buf := make([]uint64, (len(raw)+7)/8)
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)*8)[:len(raw)]
		copy(b, raw)
		ev, ok := tr.decode(b)
		if ok && (ev.Kind < event.ConnectCall || ev.Kind > event.ResetSent) {
			t.Errorf("decoded kind %d", ev.Kind)
		}
	})
}

// A drop record becomes a PacketDrop with the reason named by the kernel's
// enum (as loaded), its direction and the segment's flags; a record cut
// short is malformed, not a drop without details.
func TestDecodeDrop(t *testing.T) {
	tr := testTracer()
	tr.drops = &dropReasons{names: map[uint32]string{5: "NETFILTER_DROP"}}
	tr.syms = &symbolizer{path: "/nonexistent"}
	d := &tracerDropEvent{Seq: 77, Ifindex: 4, Proto: event.ProtoTCP, TcpFlags: event.TCPSyn, Incoming: 1}
	d.E = tracerEvent{Ts: 1e18 + 5000, Fd: -1, Ret: 5, Family: event.FamilyInet6, Type: event.SockStream,
		Sport: 40000, Dport: 3306, Kind: uint8(event.PacketDrop)}
	copy(d.E.Saddr[:], netip.MustParseAddr("2001:db8::1").AsSlice())
	copy(d.E.Daddr[:], netip.MustParseAddr("2001:db8::2").AsSlice())
	k, ok := tr.decode(record(d))
	if !ok {
		t.Fatal("drop record not decoded")
	}
	want := event.Drop{Reason: "NETFILTER_DROP", Code: 5, Incoming: true, Ifindex: 4, Proto: event.ProtoTCP, TCPFlags: event.TCPSyn, Seq: 77}
	if k.Kind != event.PacketDrop || k.Drop == nil || *k.Drop != want ||
		k.Src != netip.MustParseAddrPort("[2001:db8::1]:40000") || k.Dst != netip.MustParseAddrPort("[2001:db8::2]:3306") {
		t.Errorf("decoded %+v drop %+v", k, k.Drop)
	}
	d.E.Ret = 9
	if k, _ := tr.decode(record(d)); k.Drop == nil || k.Drop.Reason != "reason 9" {
		t.Errorf("unnamed reason decoded as %+v", k.Drop)
	}
	if _, ok := tr.decode(record(d)[:eventSize]); ok {
		t.Error("a drop record cut to the common header was decoded")
	}
}

// A reset record becomes a ResetSent with the reason named by the kernel's
// enum when its tracepoint has one (none otherwise: no number passed off as
// a name), passive or not, and the flags it answers; a SYN-ACK retransmit
// record says how many went before. Records cut short are malformed.
func TestDecodeResetAndSYNACK(t *testing.T) {
	tr := testTracer()
	r := &tracerResetEvent{Passive: 1, Answers: event.TCPSyn}
	r.E = tracerEvent{Ts: 1e18, Fd: -1, Ret: 1, Family: event.FamilyInet, Type: event.SockStream,
		Sport: 3306, Dport: 40000, Kind: uint8(event.ResetSent)}
	copy(r.E.Saddr[:], []byte{192, 0, 2, 2})
	copy(r.E.Daddr[:], []byte{192, 0, 2, 1})
	for _, tc := range []struct {
		rsts *resetReasons
		want event.Reset
	}{
		{&resetReasons{hasReason: true, names: map[uint32]string{1: "NO_SOCKET"}}, event.Reset{Reason: "NO_SOCKET", Code: 1, Passive: true, Answers: event.TCPSyn}},
		{&resetReasons{}, event.Reset{Passive: true, Answers: event.TCPSyn}},
	} {
		tr.rsts = tc.rsts
		k, ok := tr.decode(record(r))
		if !ok || k.Kind != event.ResetSent || k.Reset == nil || *k.Reset != tc.want ||
			k.Src != netip.MustParseAddrPort("192.0.2.2:3306") || k.Dst != netip.MustParseAddrPort("192.0.2.1:40000") || k.State != 0 {
			t.Errorf("reasons %+v: decoded ok=%v %+v reset %+v, want %+v", tc.rsts, ok, k, k.Reset, tc.want)
		}
	}
	if _, ok := tr.decode(record(r)[:eventSize]); ok {
		t.Error("a reset record cut to the common header was decoded")
	}

	s := &tracerEvent{Ts: 1e18, Fd: -1, Ret: 2, Family: event.FamilyInet, Type: event.SockStream,
		Sport: 3306, Dport: 40000, State: event.TCPSynRecv, Kind: uint8(event.SYNACKRetransmit)}
	copy(s.Saddr[:], []byte{192, 0, 2, 2})
	copy(s.Daddr[:], []byte{192, 0, 2, 1})
	k, ok := tr.decode(record(s))
	if !ok || k.Kind != event.SYNACKRetransmit || k.Retransmits != 2 || k.Ret != 0 || k.Src.Port() != 3306 || k.Dst.Port() != 40000 {
		t.Errorf("SYN-ACK retransmit decoded ok=%v %+v", ok, k)
	}
}
