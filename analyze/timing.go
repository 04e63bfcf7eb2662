package analyze

import (
	"time"

	"github.com/connscope/connscope/event"
)

// Which side spoke first, and which part of an attempt was slow.
//
// An attempt is client-first when the client's first payload byte came
// before the server's (or the server sent none): HTTP, Redis, TLS from the
// first byte, PostgreSQL. It is server-first when the server's came first
// (MySQL's greeting, SSH, SMTP banners). The timings follow from that:
//
//   - greeting_delay_ms (server-first only): handshake complete → the
//     server's first payload byte;
//   - client_first_byte_ms (client-first only): handshake complete → the
//     client's first payload byte (0 for data on the SYN, TCP Fast Open);
//   - server_response_ms (client-first only): the client's first payload →
//     the server's first payload byte (nil, left out of JSON: the server never answered).
//
// "Handshake complete" is the client's ACK of the SYN-ACK (else the
// SYN-ACK, else the kernel's ESTABLISHED).
//
// Slow names the part that took the time, when one part crossed its
// threshold (the largest over its threshold when several did):
//
//   - network: SYN → handshake complete ≥ SlowHandshake (200 ms), SYN
//     retransmits included (a dropped SYN, a full accept queue, a long
//     path); or the server's ACK of the client's first bytes came ≥
//     SlowServer after them (the request took that long to arrive);
//   - client: handshake complete → the client's first byte ≥ SlowClient
//     (500 ms), client-first attempts only: the client paused before its
//     request;
//   - server: the server's first byte came ≥ SlowServer (500 ms) after
//     the client's first bytes had arrived (their ACK; when the server
//     acknowledged them only with its reply, after they were sent),
//     client-first attempts only. For server-first attempts
//     greeting_delay_ms is the server's part and the greeting verdicts
//     (greeting_late, no_greeting) already name a slow server.
//
// It is a finding on every attempt, ok ones too: a 1 s server is slow even
// when the client waited for it.
const (
	SlowHandshake = 200 * time.Millisecond
	SlowClient    = 500 * time.Millisecond
	SlowServer    = 500 * time.Millisecond
)

// Slow is the part of an attempt that took the time (see SlowHandshake).
type Slow struct {
	// Part is "network", "client" or "server".
	Part string `json:"part"`
	// MS is that part's time in milliseconds.
	MS float64 `json:"ms"`
}

// Slow parts.
const (
	SlowNetwork    = "network"
	SlowPartClient = "client"
	SlowPartServer = "server"
)

// clientFirst says the client's first payload came before the server's
// (or the server sent none).
func (a *attempt) clientFirst() bool {
	return !a.firstCliData.IsZero() && (a.firstSrvData.IsZero() || a.firstCliData.Before(a.firstSrvData))
}

// noteTiming records, from a server segment, when the server acknowledged
// the client's first payload (the request arrived).
func (a *attempt) noteTiming(p *event.Packet, fromClient bool) {
	if fromClient {
		if p.PayloadLen > 0 && !a.reqEndSet && a.firstCliData.IsZero() {
			a.reqEnd = p.Seq + uint32(p.PayloadLen)
			if p.TCPFlags&event.TCPSyn != 0 {
				a.reqEnd++ // the SYN's sequence number comes first
			}
			a.reqEndSet = true
		}
		return
	}
	if a.reqEndSet && a.reqAckAt.IsZero() && p.TCPFlags&event.TCPAck != 0 && int32(p.Ack-a.reqEnd) >= 0 {
		a.reqAckAt = p.Time
	}
}

// timing takes the attempt's delays, which finishAttempt writes into at
// (attemptDelays.fill).
func (a *attempt) timing(at *Attempt) {
	if !a.connected() {
		return
	}
	d := &at.delays
	hs := a.handshakeDone()
	if a.clientFirst() {
		d.has |= hasFirstByte
		if a.firstCliData.After(hs) {
			d.firstByte = a.firstCliData.Sub(hs)
		}
		if !a.firstSrvData.IsZero() {
			d.has |= hasResponse
			d.response = a.firstSrvData.Sub(a.firstCliData)
		}
	} else if !a.firstSrvData.IsZero() {
		d.has |= hasGreeting
		d.greeting = a.firstSrvData.Sub(hs)
	}
}

// attemptDelays are an attempt's delays as timing took them: the client's
// first bytes after the handshake and the server's response to them, or
// the server's greeting after the handshake.
type attemptDelays struct {
	firstByte, response, greeting time.Duration
	has                           uint8
}

const (
	hasFirstByte = 1 << iota
	hasResponse
	hasGreeting
)

// fill sets at's ClientFirstByteMS, ServerResponseMS and GreetingDelayMS
// from the delays taken, and forgets them.
func (d *attemptDelays) fill(at *Attempt) {
	if d.has&hasFirstByte != 0 {
		at.ClientFirstByteMS = msp(d.firstByte)
	}
	if d.has&hasResponse != 0 {
		at.ServerResponseMS = msp(d.response)
	}
	if d.has&hasGreeting != 0 {
		at.GreetingDelayMS = msp(d.greeting)
	}
	*d = attemptDelays{}
}

// slowParts lists the parts of a connected attempt over their thresholds,
// with what each measured, largest first.
func (a *attempt) slowParts() (parts []SlowFact) {
	var first time.Time
	if a.wire && !a.firstSYN.IsZero() {
		first = a.firstSYN
	} else {
		first = a.kSynSent
	}
	if !a.connected() {
		return nil
	}
	hs := a.handshakeDone()
	add := func(part, step string, d time.Duration, acked *float64) {
		s := SlowFact{Part: part, Step: step, MS: ms(d), AckedMS: acked}
		i := 0
		for i < len(parts) && parts[i].MS >= s.MS {
			i++
		}
		parts = append(parts[:i], append([]SlowFact{s}, parts[i:]...)...)
	}
	if !first.IsZero() && hs.Sub(first) >= SlowHandshake {
		add(SlowNetwork, "handshake", hs.Sub(first), nil)
	}
	if a.clientFirst() {
		if d := a.firstCliData.Sub(hs); d >= SlowClient {
			add(SlowPartClient, "first_bytes", d, nil)
		}
		if a.firstSrvData.IsZero() {
			return parts
		}
		arrived := a.firstCliData
		acked := !a.reqAckAt.IsZero() && a.reqAckAt.Before(a.firstSrvData)
		if acked {
			if d := a.reqAckAt.Sub(a.firstCliData); d >= SlowServer {
				add(SlowNetwork, "ack", d, nil)
			}
			arrived = a.reqAckAt
		}
		if d := a.firstSrvData.Sub(arrived); d >= SlowServer {
			var at *float64
			if acked {
				at = msp(arrived.Sub(a.start))
			}
			add(SlowPartServer, "answer", d, at)
		}
	}
	// Server-first (MySQL's greeting, banners): greeting_delay_ms is the
	// server's part, and the greeting verdicts (greeting_late, no_greeting,
	// the greeting's evidence) already name a slow server; no finding is
	// added.
	return parts
}

// unanswered records the facts of a client-first attempt whose server never
// answered the client's first bytes until end (ended: how the wait ended,
// Facts.Ended).
func (a *attempt) unanswered(end time.Time, ended string) {
	if a.final {
		return
	}
	a.facts.Ended = ended
	a.facts.ClientFirstMS = msp(nonNegative(a.firstCliData.Sub(a.handshakeDone())))
	a.facts.SinceRequestMS = msp(end.Sub(a.firstCliData))
	if !a.reqAckAt.IsZero() {
		a.facts.RequestAckedMS = msp(a.reqAckAt.Sub(a.start))
	}
}

// idleEnd is Facts.Ended for a verdict on silence: the capture's end, or the idle timeout.
func idleEnd(closing bool) string {
	if closing {
		return "capture_end"
	}
	return "idle"
}

// msp is a duration fact.
func msp(d time.Duration) *float64 {
	v := ms(d)
	return &v
}

func nonNegative(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
