package report

import (
	"strconv"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/proto"
)

// The timeline's words. The engine records each step as a kind, a
// direction and facts (analyze.Event); the words are made here, when a
// connect is rendered, before redaction (so that --redact hides the
// addresses and names the words quote, as in every other text). A
// protocol's own steps (Event.Proto set) are worded by the Words function
// it registered.

// wordEvents gives a's timeline steps their What from their kind and facts,
// on a copy of a.Events (a is the renderer's own copy of an attempt; the
// timeline it shares with the caller's connect is not modified). A step
// that already has words (a connect built by hand, or read back from JSON)
// keeps them.
func wordEvents(a *analyze.Attempt) {
	need := false
	for i := range a.Events {
		if a.Events[i].What == "" {
			need = true
			break
		}
	}
	if !need {
		return
	}
	events := make([]analyze.Event, len(a.Events))
	copy(events, a.Events)
	for j := range events {
		if e := &events[j]; e.What == "" {
			e.What = EventWords(e)
		}
	}
	a.Events = events
}

// EventWords is a timeline step in words, as every format shows it: "SYN
// to 192.0.2.10:3306", "SYN retransmit #1 (+1.0 s)", "ICMP port
// unreachable (type 3 code 3) from 192.0.2.1". A kind it does not know is
// shown as the kind itself.
func EventWords(e *analyze.Event) string {
	if e.Proto != "" {
		if w := analyze.ProtocolWords(e.Proto); w != nil {
			if s := w(string(e.Kind), proto.Dir(e.Dir), &e.EventAttrs); s != "" {
				return s
			}
		}
	}
	var buf [128]byte
	if b, ok := appendStepWords(buf[:0], e); ok {
		return string(b)
	}
	d := e.Detail
	if d == nil {
		d = &proto.Detail{}
	}
	dur := func() string { return analyze.FormatMS(e.ElapsedMS) }
	n := func(i int) string { return strconv.Itoa(i) }
	switch e.Kind {
	case analyze.EvSYNData:
		return "SYN carries " + n(e.Bytes) + " bytes of data (TCP Fast Open)"
	case analyze.EvSYNACKRetrans:
		return "SYN-ACK retransmit"
	case analyze.EvNotDecoded:
		if e.Note == analyze.NoteNotTLS {
			return "bytes after the SSLRequest are not TLS records"
		}
	case analyze.EvTLSClientHello:
		return "TLS ClientHello"
	case analyze.EvTLSServerHello:
		return "TLS handshake from the server"
	case analyze.EvTLSAlert:
		w := "TLS alert from the " + who(e.Dir)
		if d.Alert != "" {
			w += " " + d.Alert
		}
		return w
	case analyze.EvTLSEstablished:
		return "TLS established (the rest is encrypted)"
	case analyze.EvDNSQuery:
		return "server looks up the client's name: " + d.QType + " " + d.Name + " to " + e.Addr
	case analyze.EvDNSAnswer:
		return d.QType + " " + d.Name + " answered " + d.Rcode + " after " + dur()
	case analyze.EvTruncated:
		return "… further events not recorded"
	}
	return string(e.Kind)
}

// appendEventWords appends EventWords(e) (a text format's timeline line):
// the words appended straight into the line where they can be, as JSON's
// appendEventWordsJSON does.
func appendEventWords(b []byte, e *analyze.Event) []byte {
	n := len(b)
	if e.Proto != "" {
		if words := analyze.ProtocolAppendWords(e.Proto); words != nil {
			if b = words(b, string(e.Kind), proto.Dir(e.Dir), &e.EventAttrs); len(b) > n {
				return b
			}
		}
	} else if out, ok := appendStepWords(b, e); ok {
		return out
	}
	return append(b[:n], EventWords(e)...)
}

// appendHandshakeWords appends the words of the handshake's steps — SYN,
// SYN retransmit, SYN-ACK: most of every timeline — and reports whether e
// is one (without a protocol's words). Written into b rather than joined
// into a new string: the JSON format appends them straight into its line
// (and escapes them there if they need it). Only appends: EventWords'
// buffer stays on the stack.
func appendHandshakeWords(b []byte, e *analyze.Event) ([]byte, bool) {
	switch e.Kind {
	case analyze.EvSYN:
		return append(append(b, "SYN to "...), e.Addr...), true
	case analyze.EvSYNRetransmit:
		b = appendInt(append(b, "SYN retransmit #"...), int64(e.N))
		if e.Note == analyze.NoteAfterSYNACK {
			return append(b, " (after the SYN-ACK)"...), true
		}
		b = append(proto.AppendMS(append(b, " (+"...), e.ElapsedMS), ')')
		if e.Note == analyze.NoteAfterVerdict {
			b = append(b, " after the verdict"...)
		}
		return b, true
	case analyze.EvSYNACK:
		b = append(append(b, "SYN-ACK from "...), e.Addr...)
		switch {
		case e.Note == analyze.NoteAfterVerdict:
			return append(b, " (after the attempt was decided)"...), true
		case e.N > 0:
			b = proto.AppendMS(append(b, " (RTT "...), e.ElapsedMS)
			return append(appendInt(append(b, ", answering SYN #"...), int64(e.N)), ')'), true
		}
		return append(proto.AppendMS(append(b, " (RTT "...), e.ElapsedMS), ')'), true
	}
	return b, false
}

// who names a step's sender by its direction.
func who(d analyze.Dir) string {
	if d == analyze.DirS2C {
		return "server"
	}
	return "client"
}

// appendStepWords appends the words of the steps most timelines are made
// of — the handshake's (appendHandshakeWords), FIN and RST, the kernel's
// connect(), socket error, RST and state changes, the first payloads, the
// client moving on, the server side's kernel steps and the kernel's drops
// (appendServerKernelWords) — and reports whether e is one of them. Appending
// (instead of joining strings) makes no garbage: the JSON format writes
// them straight into its line, EventWords into a buffer on its stack.
func appendStepWords(b []byte, e *analyze.Event) ([]byte, bool) {
	if out, ok := appendHandshakeWords(b, e); ok {
		return out, true
	}
	switch e.Kind {
	case analyze.EvFIN, analyze.EvRST:
		return appendCloseWords(b, e), true
	case analyze.EvKernelConnect:
		b = append(append(append(b, "connect("...), e.Addr...), ") = "...)
		if e.Errno != "" {
			return append(append(b, '-'), e.Errno...), true
		}
		return append(b, '0'), true
	case analyze.EvKernelError:
		return append(append(b, "socket error "...), e.Errno...), true
	case analyze.EvKernelRetrans:
		if e.N > 0 {
			return appendInt(append(b, "kernel: SYN retransmit #"...), int64(e.N)), true
		}
		return append(b, "kernel: retransmit"...), true
	case analyze.EvKernelRST:
		return append(b, "kernel: RST received"...), true
	case analyze.EvKernelState:
		var from, to string
		if d := e.Detail; d != nil {
			from, to = d.StateFrom, d.StateTo
		}
		b = append(append(append(append(b, "kernel: socket "...), from...), "→"...), to...)
		if to == "SYN_SENT" {
			b = appendUint(append(b, " (pid "...), uint64(e.Detail.PID))
			b = append(append(append(b, ' '), e.Detail.Comm...), ')')
		}
		return b, true
	case analyze.EvClientData:
		if e.Note == analyze.NoteClientFirst {
			b = appendInt(append(b, "client sends first ("...), int64(e.Bytes))
			return append(analyze.AppendServerFirstNames(append(b, " bytes) — not a "...)), " client"...), true
		}
		return append(appendInt(append(b, "client answers ("...), int64(e.Bytes)), " bytes)"...), true
	case analyze.EvServerData:
		var banner, expected string
		if d := e.Detail; d != nil {
			banner, expected = d.Banner, d.Expected
		}
		switch e.Note {
		case analyze.NoteAfterVerdict:
			b = appendInt(append(b, "server's first payload ("...), int64(e.Bytes))
			return append(b, " bytes) after the attempt was decided"...), true
		case analyze.NoteAfterClientGaveUp:
			b = proto.AppendQuote(append(b, "server's first payload "...), banner)
			b = proto.AppendMS(append(b, " ("...), e.ElapsedMS)
			return append(b, " after the handshake), after the client gave up"...), true
		case analyze.NoteNotExpected:
			b = append(append(append(b, "server's first payload is not "...), expected...), ": "...)
			return proto.AppendQuote(b, banner), true
		case analyze.NoteOtherProtocol:
			b = proto.AppendMS(append(b, "server's first payload ("...), e.ElapsedMS)
			b = append(analyze.AppendServerFirstNames(append(b, " after the handshake), not "...)), ": "...)
			return proto.AppendQuote(b, banner), true
		case analyze.NoteAnswersClient:
			b = proto.AppendMS(append(b, "server's first payload, "...), e.ElapsedMS)
			return proto.AppendQuote(append(b, " after the client's first bytes: "...), banner), true
		}
	case analyze.EvClientGaveUp:
		return append(append(append(b, "client moved on to the next address ("...), e.Addr...), ')'), true
	}
	return appendServerKernelWords(b, e)
}

// appendServerKernelWords appends the words of the kernel's steps on the
// server's side, of its drops and of ICMP errors (the rest of
// appendStepWords), and reports whether e is one.
func appendServerKernelWords(b []byte, e *analyze.Event) ([]byte, bool) {
	d := e.Detail
	if d == nil {
		d = &proto.Detail{}
	}
	switch e.Kind {
	case analyze.EvICMPError:
		return appendICMPWords(b, d.ICMP, e.Note), true
	case analyze.EvKernelDrop:
		how := "it received"
		if e.Note == analyze.NoteSending {
			how = "it was sending"
		}
		b = append(append(append(append(append(b, "kernel dropped the "...), d.Packet...), ' '), how...), ": "...)
		b = append(b, d.DropReason...)
		if d.Location != "" {
			b = append(append(append(b, " (in "...), d.Location...), ')')
		}
		return b, true
	case analyze.EvServerHandshake:
		return append(append(b, "server kernel: handshake complete, queued for accept() on "...), e.Addr...), true
	case analyze.EvAccepted:
		b = append(append(append(b, "accept() by "...), d.Comm...), '[')
		b = appendInt(append(appendUint(b, uint64(d.PID)), "] (fd "...), int64(d.FD))
		b = append(b, ')')
		if e.ElapsedMS > 0 {
			b = append(proto.AppendMS(append(b, " after "...), e.ElapsedMS), " in the accept queue"...)
		}
		return b, true
	case analyze.EvKernelSYNACKRetrans:
		b = appendInt(append(b, "server kernel: SYN-ACK retransmit #"...), int64(e.N))
		return append(append(append(b, " to "...), e.Addr...), " (no ACK completed the handshake)"...), true
	case analyze.EvKernelRSTSent:
		b = append(append(b, "kernel sent a RST to "...), e.Addr...)
		if e.Note == analyze.NoteAborted {
			b = append(b, ", aborting the connection"...)
		} else if d.Packet != "" {
			b = append(append(b, " answering the "...), d.Packet...)
		}
		if d.RSTReason != "" {
			b = append(append(b, ": "...), d.RSTReason...)
		}
		return b, true
	}
	return b, false
}

// appendCloseWords appends the words of a FIN or RST the engine recorded.
func appendCloseWords(b []byte, e *analyze.Event) []byte {
	how := "FIN"
	if e.Kind == analyze.EvRST {
		how = "RST"
	}
	b = append(b, how...)
	if e.Dir == analyze.DirS2C {
		switch e.Note {
		case analyze.NoteBannerUnanswered:
			return append(b, " from the server; the client never answered its first bytes"...)
		case analyze.NotePartialGreeting:
			b = appendInt(append(b, " from the server after "...), int64(e.Bytes))
			return append(b, " bytes that are not a complete greeting"...)
		case analyze.NoteAnswersSYN:
			return append(append(b, " from "...), e.Addr...)
		case analyze.NoteAfterClientGaveUp:
			return append(b, " from the server (after the client gave up)"...)
		case analyze.NoteNoAnswer:
			return append(b, " from the server without a reply to the client's data"...)
		case analyze.NoteNoServerByte:
			b = proto.AppendMS(append(b, " from the server before any payload ("...), e.ElapsedMS)
			return append(b, " after the handshake)"...)
		case analyze.NoteDuringTLS:
			return append(b, " from the server during the TLS handshake"...)
		}
		return append(b, " from the server"...)
	}
	switch e.Note {
	case analyze.NoteBannerUnanswered:
		return append(b, " from the client, which never answered the server's first bytes"...)
	case analyze.NoteBeforeReply:
		return append(proto.AppendMS(append(b, " from the client before any reply (+"...), e.ElapsedMS), ')')
	case analyze.NoteAnswersSYNACK:
		return append(b, " from the client answering the SYN-ACK: it had given up"...)
	case analyze.NoteClosedAtOnce:
		b = proto.AppendMS(append(b, " from the client "...), e.ElapsedMS)
		return append(b, " after the handshake: client closed without sending"...)
	case analyze.NoteNoAnswer:
		return proto.AppendMS(append(b, " from the client: gave up waiting for an answer to its first bytes after "...), e.ElapsedMS)
	case analyze.NoteNoServerByte:
		return proto.AppendMS(append(b, " from the client: gave up waiting for the server's first byte after "...), e.ElapsedMS)
	case analyze.NoteDuringTLS:
		return append(b, " from the client during the TLS handshake"...)
	}
	return append(b, " from the client"...)
}

// appendICMPWords appends the words of an ICMP error step: "ICMP port
// unreachable (type 3 code 3) from 192.0.2.1". Appended, not joined: an
// unreachable or filtered server's every attempt has one.
func appendICMPWords(b []byte, ic *proto.ICMP, note string) []byte {
	if ic == nil {
		return append(b, "ICMP error"...)
	}
	b = append(append(analyze.AppendICMPDescription(b, ic.V6, ic.Type, ic.Code), " from "...), ic.From...)
	switch note {
	case analyze.NoteAboutServer:
		b = append(b, " about a packet of the server"...)
	case analyze.NoteOtherSYN:
		b = appendUint(append(b, " quoting seq "...), uint64(ic.QuotedSeq))
		b = append(appendUint(append(b, ", not this SYN ("...), uint64(ic.ISN)), "): ignored"...)
	}
	return b
}
