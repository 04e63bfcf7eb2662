package analyze

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

// sim drives an Engine with synthetic packets on a millisecond clock.
type sim struct {
	t    testing.TB
	t0   time.Time
	e    *Engine
	got  []*Connect
	ipid uint32
	num  uint64
	// record, when set, collects packets instead of feeding the engine.
	record *[]event.Packet
}

func newSim(t testing.TB, opts Options) *sim {
	s := &sim{t: t, t0: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	prev := opts.OnConnect
	opts.OnConnect = func(c *Connect) {
		Explain(c) // the words, as a report gives them
		s.got = append(s.got, c)
		if prev != nil {
			prev(c)
		}
	}
	s.e = NewEngine(opts)
	return s
}

func (s *sim) at(ms float64) time.Time {
	return s.t0.Add(time.Duration(ms * float64(time.Millisecond)))
}

func (s *sim) feed(p *event.Packet) {
	s.num++
	p.Number = s.num
	if p.IPID == 0 {
		s.ipid++
		p.IPID = s.ipid
	}
	if s.record != nil {
		c := *p
		c.Payload = append([]byte(nil), p.Payload...)
		*s.record = append(*s.record, c)
		return
	}
	s.e.Packet(p)
}

func (s *sim) kernel(k *event.Kernel) { s.e.Kernel(k) }

func (s *sim) close() Summary {
	sum := s.e.Close()
	checkEndedFilter(s.t, s.e)
	return sum
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func ip(s string) netip.Addr     { return netip.MustParseAddr(s) }

// conn scripts one TCP connection.
type conn struct {
	s          *sim
	c, srv     netip.AddrPort
	cseq, sseq uint32
	cisn, sisn uint32
}

func (s *sim) conn(client, server string) *conn {
	return &conn{s: s, c: ap(client), srv: ap(server), cisn: 1000, sisn: 50000, cseq: 1001, sseq: 50001}
}

func (k *conn) pkt(ms float64, fromClient bool, flags uint8, payload []byte) *event.Packet {
	p := &event.Packet{Time: k.s.at(ms), Proto: event.ProtoTCP, TCPFlags: flags, Window: 64240, Payload: payload, PayloadLen: len(payload)}
	if fromClient {
		p.Src, p.SrcPort, p.Dst, p.DstPort = k.c.Addr(), k.c.Port(), k.srv.Addr(), k.srv.Port()
		p.Seq, p.Ack = k.cseq, k.sseq
	} else {
		p.Src, p.SrcPort, p.Dst, p.DstPort = k.srv.Addr(), k.srv.Port(), k.c.Addr(), k.c.Port()
		p.Seq, p.Ack = k.sseq, k.cseq
	}
	return p
}

func (k *conn) SYN(ms float64) {
	p := k.pkt(ms, true, event.TCPSyn, nil)
	p.Seq, p.Ack = k.cisn, 0
	k.s.feed(p)
}

func (k *conn) SYNACK(ms float64) {
	p := k.pkt(ms, false, event.TCPSyn|event.TCPAck, nil)
	p.Seq, p.Ack = k.sisn, k.cisn+1
	k.s.feed(p)
}

func (k *conn) ACK(ms float64) { k.s.feed(k.pkt(ms, true, event.TCPAck, nil)) }

// handshake: SYN at ms, SYN-ACK at ms+rtt, ACK right after.
func (k *conn) handshake(ms, rtt float64) {
	k.SYN(ms)
	k.SYNACK(ms + rtt)
	k.ACK(ms + rtt + 0.01)
}

func (k *conn) server(ms float64, b []byte) {
	k.s.feed(k.pkt(ms, false, event.TCPAck|event.TCPPsh, b))
	k.sseq += uint32(len(b))
}

func (k *conn) client(ms float64, b []byte) {
	k.s.feed(k.pkt(ms, true, event.TCPAck|event.TCPPsh, b))
	k.cseq += uint32(len(b))
}

func (k *conn) clientFIN(ms float64) {
	k.s.feed(k.pkt(ms, true, event.TCPAck|event.TCPFin, nil))
	k.cseq++
}

func (k *conn) serverFIN(ms float64) {
	k.s.feed(k.pkt(ms, false, event.TCPAck|event.TCPFin, nil))
	k.sseq++
}

func (k *conn) clientRST(ms float64) { k.s.feed(k.pkt(ms, true, event.TCPRst, nil)) }

// refuse answers the SYN with RST|ACK as a closed port does.
// lookedUpLogin is a client's lookup of db.lab.test (query id, answered
// 192.0.2.20) and a MariaDB login that succeeds on k, from t0 on (ms).
func (k *conn) lookedUpLogin(id uint16, t0 float64) {
	k.s.lookup(t0, t0+1, "10.0.0.5:5353", "10.0.0.53:53", id, "db.lab.test", dns.TypeA, dns.RcodeSuccess, ip("192.0.2.20"))
	k.handshake(t0+2, 0.2)
	k.server(t0+3, mariadbGreeting())
	k.client(t0+4, handshakeResponse("app", 0x000fa685))
	k.server(t0+5, okPacket(2))
	k.clientFIN(t0 + 6)
}

func (k *conn) refuse(ms float64) {
	p := k.pkt(ms, false, event.TCPRst|event.TCPAck, nil)
	p.Seq, p.Ack = 0, k.cisn+1
	k.s.feed(p)
}

// icmp sends an ICMP error from `from` quoting the client's SYN.
func (k *conn) icmp(ms float64, from string, v6 bool, typ, code uint8) {
	proto := uint8(event.ProtoICMP)
	if v6 {
		proto = event.ProtoICMPv6
	}
	k.s.feed(&event.Packet{
		Time: k.s.at(ms), Proto: proto, Src: ip(from), Dst: k.c.Addr(),
		ICMP: &event.ICMPError{V6: v6, Type: typ, Code: code,
			QuotedSrc: k.c.Addr(), QuotedDst: k.srv.Addr(), QuotedProto: event.ProtoTCP,
			QuotedSrcPort: k.c.Port(), QuotedDstPort: k.srv.Port(), QuotedSeq: k.cisn, QuotedHasSeq: true},
	})
}

// MySQL wire builders.

func myPacket(seq uint8, payload []byte) []byte {
	b := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	return append(b, payload...)
}

func greeting(version string, connID uint32, caps uint32, plugin string) []byte {
	p := []byte{10}
	p = append(p, version...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, connID)
	p = append(p, "abcdefgh"...) // scramble part 1
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 33)                          // charset
	p = binary.LittleEndian.AppendUint16(p, 2) // status
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, "ijklmnopqrst"...)
	p = append(p, 0)
	p = append(p, plugin...)
	p = append(p, 0)
	return myPacket(0, p)
}

const defaultCaps = mysql.ClientProtocol41 | mysql.ClientSecureConnection | mysql.ClientPluginAuth | mysql.ClientSSL | mysql.ClientLongPassword

func mariadbGreeting() []byte {
	return greeting("5.5.5-10.11.6-MariaDB-0+deb12u1", 42, defaultCaps, "mysql_native_password")
}

func errPacket(seq uint8, code uint16, sqlstate, msg string) []byte {
	p := []byte{0xff}
	p = binary.LittleEndian.AppendUint16(p, code)
	if sqlstate != "" {
		p = append(p, '#')
		p = append(p, sqlstate...)
	}
	p = append(p, msg...)
	return myPacket(seq, p)
}

func okPacket(seq uint8) []byte { return myPacket(seq, []byte{0, 0, 0, 2, 0, 0, 0}) }

func handshakeResponse(user string, caps uint32) []byte {
	p := binary.LittleEndian.AppendUint32(nil, caps)
	p = binary.LittleEndian.AppendUint32(p, 1<<24)
	p = append(p, 33)
	p = append(p, make([]byte, 23)...)
	p = append(p, user...)
	p = append(p, 0)
	p = append(p, 20)
	p = append(p, "SECRETSCRAMBLESECRET"...) // the auth response: must never surface
	p = append(p, "mysql_native_password"...)
	p = append(p, 0)
	return myPacket(1, p)
}

func sslRequest() []byte {
	p := binary.LittleEndian.AppendUint32(nil, defaultCaps)
	p = binary.LittleEndian.AppendUint32(p, 1<<24)
	p = append(p, 33)
	p = append(p, make([]byte, 23)...)
	return myPacket(1, p)
}

func tlsRecord(typ byte, n int) []byte {
	b := []byte{typ, 3, 3, byte(n >> 8), byte(n)}
	return append(b, make([]byte, n)...)
}

func tlsAlert(desc byte) []byte { return []byte{21, 3, 3, 0, 2, 2, desc} }

// DNS wire builders.

func dnsName(name string) []byte {
	var b []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

func dnsMsg(id uint16, response bool, rcode uint8, name string, qtype uint16, answers ...netip.Addr) []byte {
	flags := uint16(0x0100)
	if response {
		flags |= 0x8000 | 0x0080
	}
	flags |= uint16(rcode)
	b := binary.BigEndian.AppendUint16(nil, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(answers)))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = append(b, dnsName(name)...)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1)
	for _, a := range answers {
		b = append(b, 0xc0, 12)
		if a.Is4() {
			b = binary.BigEndian.AppendUint16(b, 1)
		} else {
			b = binary.BigEndian.AppendUint16(b, 28)
		}
		b = binary.BigEndian.AppendUint16(b, 1)
		b = binary.BigEndian.AppendUint32(b, 60)
		raw := a.AsSlice()
		b = binary.BigEndian.AppendUint16(b, uint16(len(raw)))
		b = append(b, raw...)
	}
	return b
}

func (s *sim) udp(ms float64, src, dst string, payload []byte) {
	sa, da := ap(src), ap(dst)
	s.feed(&event.Packet{Time: s.at(ms), Proto: event.ProtoUDP, Src: sa.Addr(), SrcPort: sa.Port(),
		Dst: da.Addr(), DstPort: da.Port(), Payload: payload, PayloadLen: len(payload)})
}

// lookup scripts a DNS question and its answer (answerMS < 0: none).
func (s *sim) lookup(ms, answerMS float64, client, server string, id uint16, name string, qtype uint16, rcode uint8, answers ...netip.Addr) {
	s.udp(ms, client, server, dnsMsg(id, false, 0, name, qtype))
	if answerMS >= 0 {
		s.udp(answerMS, server, client, dnsMsg(id, true, rcode, name, qtype, answers...))
	}
}

// attemptOutcomes lists every attempt outcome in report order.
func attemptOutcomes(cs []*Connect) []Outcome {
	var out []Outcome
	for _, c := range cs {
		for _, a := range c.Attempts {
			out = append(out, a.Outcome)
		}
	}
	return out
}

func hasSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// hasEvent reports whether a's timeline has a step of kind k for which
// match (nil: any) holds; d and m are the step's Detail and Msg (zero
// values when it has none).
func hasEvent(a *Attempt, k EventKind, match func(e *Event, d *proto.Detail, m *proto.Msg) bool) bool {
	for i := range a.Events {
		e := &a.Events[i]
		if e.Kind != k {
			continue
		}
		d, m := e.Detail, e.Msg
		if d == nil {
			d = &proto.Detail{}
		}
		if m == nil {
			m = &proto.Msg{}
		}
		if match == nil || match(e, d, m) {
			return true
		}
	}
	return false
}

// causesFor words the causes of a hand-made attempt as a report does: the
// engine builds its finding, Explain words it.
func causesFor(e *Engine, a *attempt) []string {
	if a.out == nil {
		a.out = &Attempt{}
	}
	return attemptWords(e.buildAttempt(a)).Causes
}
