package live

import (
	"net/netip"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/event"
)

// What a -w recording keeps of the client's side of a TCP connection
// (server payload, DNS and every header are kept as captured). Blanked bytes
// are zeroed in place, so frame and segment lengths, sequence numbers and
// offsets stay what they were, and tshark and `connscope analyze` read the
// file as before:
//
//   - A registered protocol with Scrub rules (proto.Scrub: MySQL when the
//     server's first payload is its greeting, PostgreSQL when the client's
//     first bytes are its startup or a request): what its rules keep (the
//     headers, the user name, TLS after a request), the rest blanked
//     (auth responses, passwords, queries).
//   - TLS from the first client byte: kept (ciphertext; the ClientHello
//     holds no credentials).
//   - DNS over TCP (server port 53): kept; the analysis reads the queries.
//   - Any other protocol: the first keptClientBytes bytes of the client's
//     stream are kept (enough to recognise "GET /", "*2\r\n$4" or "USER"),
//     the rest is blanked: an HTTP Authorization header, a Redis AUTH, an
//     FTP PASS.
//
// The analysis reads from client payload only what the protocols' rules
// keep (framing, the user name, the TLS record headers after a request),
// and otherwise lengths and times, so a scrubbed file gives the same
// outcomes.
// Client bytes whose place in the stream is unknown (no SYN seen, out of
// order beyond a gap, beyond proto.ClientStreamLimit) are blanked whole. The TCP
// payload an ICMP error quotes is blanked; the quoted headers are kept.
//
// Segments the snap length cut (a classic-filter capture, a cut AF_PACKET
// frame): stream positions advance by the segment's length on the wire
// (sequence numbers), and the bytes captured are judged at their true
// offsets. A packet cut short is stepped over by its length. When a
// protocol's header falls in bytes that were not captured, the packet
// boundaries after it are unknown: no later client byte is kept (the
// analysis cannot frame that direction either, so its verdict does not
// change), except TLS after a request the rules recognised (see
// proto.Scrub.Keep).
const (
	keptClientBytes = 8
	// scrubIdle is how long a flow without packets is remembered.
	scrubIdle = 2 * time.Minute
)

type scrubMode uint8

const (
	scrubUndecided scrubMode = iota
	scrubProtocol            // scrubFlow.rules say what to keep
	scrubTLS
	scrubDNS
	scrubOther
)

// scrubRules are the registered protocols' rules (proto.Protocol.Scrub).
var scrubRules = func() []*proto.Scrub {
	var out []*proto.Scrub
	for _, p := range analyze.Protocols() {
		if p.Scrub != nil {
			out = append(out, p.Scrub)
		}
	}
	return out
}()

type scrubKey struct{ lo, hi netip.AddrPort }

type scrubFlow struct {
	client   netip.AddrPort
	isn      uint32 // client's initial sequence number
	haveISN  bool
	mode     scrubMode
	rules    *proto.Scrub // scrubProtocol's
	cs       proto.ClientStream
	srvFirst byte // the server's first payload byte (PostgreSQL: 'S' or 'G' accepts an encryption request)
	srvSeen  bool // the server's first payload segment was seen
	lastSeen time.Time
}

// scrubber blanks credentials in the frames a -w recording writes (see
// keptClientBytes). It is used from the session's pipeline goroutine only.
type scrubber struct {
	flows     map[scrubKey]*scrubFlow
	packets   int
	unwritten int // frames left out: payload not locatable
}

func newScrubber() *scrubber { return &scrubber{flows: map[scrubKey]*scrubFlow{}} }

func keyOf(a, b netip.AddrPort) scrubKey {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return scrubKey{a, b}
}

// frame scrubs p.Frame.Data in place. It returns false when the frame holds
// TCP payload it cannot locate (it must then not be written).
func (s *scrubber) frame(p *event.Packet) bool {
	if p.Frame != nil && p.ICMP != nil && p.ICMP.QuotedProto == event.ProtoTCP {
		// An ICMP error may quote a client's login segment: its quoted IP
		// and TCP headers are kept (the analysis matches them), the quoted
		// payload is blanked.
		if off, n, ok := capture.QuotedTCPPayload(p.Frame.Data, p.Frame.LinkType, p.Frame.WireLen); ok {
			clear(p.Frame.Data[off : off+n])
		}
		return true
	}
	if p.Frame == nil || p.Proto != event.ProtoTCP {
		return true
	}
	s.packets++
	if s.packets%4096 == 0 {
		s.forget(p.Time.Add(-scrubIdle))
	}
	src := netip.AddrPortFrom(p.Src, p.SrcPort)
	dst := netip.AddrPortFrom(p.Dst, p.DstPort)
	k := keyOf(src, dst)
	f := s.flows[k]
	switch {
	case p.TCPFlags&(event.TCPSyn|event.TCPAck) == event.TCPSyn:
		if f == nil || !f.haveISN || f.client != src || f.isn != p.Seq {
			f = &scrubFlow{client: src, isn: p.Seq, haveISN: true}
			s.flows[k] = f
		}
	case p.TCPFlags&(event.TCPSyn|event.TCPAck) == event.TCPSyn|event.TCPAck:
		if f == nil || !f.haveISN {
			f = &scrubFlow{client: dst, isn: p.Ack - 1, haveISN: true}
			s.flows[k] = f
		}
	}
	if f == nil {
		// The handshake was not seen: the lower port is taken for the
		// server's, and the client's bytes are blanked whole.
		client := src
		if src.Port() < dst.Port() {
			client = dst
		}
		f = &scrubFlow{client: client}
		s.flows[k] = f
	}
	f.lastSeen = p.Time
	if server := src; f.mode == scrubUndecided {
		if src == f.client {
			server = dst
		}
		if server.Port() == 53 {
			f.mode = scrubDNS
		}
	}
	if p.PayloadLen == 0 {
		return true
	}
	off, n, ok := capture.TransportPayload(p.Frame.Data, p.Frame.LinkType, p.Frame.WireLen)
	if !ok {
		return false
	}
	payload := p.Frame.Data[off : off+n]
	if src != f.client {
		if !f.srvSeen {
			// The server's first segment; its first byte stays unknown
			// (0) when the capture kept none of it.
			f.srvSeen = true
			if len(payload) > 0 {
				f.srvFirst = payload[0]
			}
		}
		if f.mode == scrubUndecided && len(payload) > 0 {
			f.mode = scrubOther
			for _, r := range scrubRules {
				if r.Server != nil && r.Server(payload) {
					f.mode, f.rules = scrubProtocol, r
					break
				}
			}
		}
		return true
	}
	if !f.haveISN {
		clear(payload)
		return true
	}
	rel := p.Seq - (f.isn + 1)
	if rel >= 1<<31 {
		clear(payload) // before the first byte: not a stream position
		return true
	}
	start := int(rel)
	if f.mode == scrubUndecided && start == 0 && len(payload) > 0 {
		f.mode, f.rules = clientFirstMode(payload)
	}
	// Only a protocol's rules parse the stream; its positions advance by
	// the wire length, so a segment the snap length cut leaves a hole
	// instead of shifting what follows.
	if f.mode == scrubProtocol {
		f.cs.Add(start, payload, max(p.PayloadLen, len(payload)))
	}
	blankClient(f, payload, start)
	return true
}

// forget drops flows not seen since before.
func (s *scrubber) forget(before time.Time) {
	for k, f := range s.flows {
		if f.lastSeen.Before(before) {
			delete(s.flows, k)
		}
	}
}

// clientFirstMode names the protocol of a client that speaks first.
func clientFirstMode(b []byte) (scrubMode, *proto.Scrub) {
	if looksTLS(b) {
		return scrubTLS, nil
	}
	for _, r := range scrubRules {
		if r.Client != nil && r.Client(b) {
			return scrubProtocol, r
		}
	}
	return scrubOther, nil
}

func looksTLS(b []byte) bool {
	return len(b) >= 3 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4
}

// blankClient zeroes the bytes of payload (the client's stream from offset
// start) that are not to be kept.
func blankClient(f *scrubFlow, payload []byte, start int) {
	end := start + len(payload)
	switch f.mode {
	case scrubTLS, scrubDNS:
		return
	case scrubProtocol:
		keep := f.rules.Keep(&f.cs, f.srvFirst)
		// Zero everything outside the kept spans.
		pos := start
		for _, k := range keep {
			if k.End <= pos {
				continue
			}
			if k.Start >= end {
				break
			}
			if k.Start > pos {
				clear(payload[pos-start : k.Start-start])
			}
			pos = min(k.End, end)
		}
		if pos < end {
			clear(payload[pos-start:])
		}
	default: // scrubOther, scrubUndecided (client bytes before any protocol is known)
		if end > keptClientBytes {
			from := max(start, keptClientBytes)
			clear(payload[from-start:])
		}
	}
}
