package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/proto"
)

// TestEventWordsJSON checks that the JSON line's words of a timeline step
// (appendEventWordsJSON, which writes the handshake's steps straight into
// the line) are EventWords encoded as encoding/json encodes a string: for
// every handshake variant, the kernel's steps (both sides, drops), FIN/RST
// and first payloads, each with an address or errno that needs escaping
// where its words name one (plainStepWords)
// (appendStepWords: non-ASCII arrows and dashes, banners that need
// escaping), an address that needs escaping, and the steps worded the
// ordinary way.
func TestEventWordsJSON(t *testing.T) {
	odd := `/run/my "sql" <sock>&` // a unix socket path: quotes and HTML characters
	for _, e := range []analyze.Event{
		{Kind: analyze.EvSYN, EventAttrs: analyze.EventAttrs{Addr: "192.0.2.10:3306"}},
		{Kind: analyze.EvSYN, EventAttrs: analyze.EventAttrs{Addr: odd}},
		{Kind: analyze.EvSYNRetransmit, EventAttrs: analyze.EventAttrs{N: 2, ElapsedMS: 3000}},
		{Kind: analyze.EvSYNRetransmit, EventAttrs: analyze.EventAttrs{N: 1, ElapsedMS: 1012.5, Note: analyze.NoteAfterVerdict}},
		{Kind: analyze.EvSYNRetransmit, EventAttrs: analyze.EventAttrs{N: 3, ElapsedMS: 0.25, Note: analyze.NoteAfterSYNACK}},
		{Kind: analyze.EvSYNACK, EventAttrs: analyze.EventAttrs{Addr: "[2001:db8::1]:5432", ElapsedMS: 0.15}},
		{Kind: analyze.EvSYNACK, EventAttrs: analyze.EventAttrs{Addr: odd, ElapsedMS: 12.3, N: 2}},
		{Kind: analyze.EvSYNACK, EventAttrs: analyze.EventAttrs{Addr: "192.0.2.10:3306", Note: analyze.NoteAfterVerdict}},
		{Kind: analyze.EvSYNACK, EventAttrs: analyze.EventAttrs{Addr: "192.0.2.10:3306", ElapsedMS: -0.004}},
		{Kind: analyze.EvFIN, Dir: analyze.DirS2C, EventAttrs: analyze.EventAttrs{Note: analyze.NoteNoServerByte, ElapsedMS: 5}},
		{Kind: analyze.EvClientGaveUp, EventAttrs: analyze.EventAttrs{Addr: odd}},
		{Kind: analyze.EvKernelState, EventAttrs: analyze.EventAttrs{Detail: &proto.Detail{StateFrom: "CLOSE", StateTo: "SYN_SENT", PID: 7, Comm: `my "db" <x>`}}},
		{Kind: analyze.EvKernelState, EventAttrs: analyze.EventAttrs{Detail: &proto.Detail{StateFrom: "ESTABLISHED", StateTo: "CLOSE_WAIT"}}},
		{Kind: analyze.EvKernelState, EventAttrs: analyze.EventAttrs{Detail: &proto.Detail{StateFrom: "CLOSE", StateTo: "SYN_SENT", PID: 8, Comm: "bad\xffname"}}},
		{Kind: analyze.EvKernelState, EventAttrs: analyze.EventAttrs{Detail: &proto.Detail{StateFrom: "CLOSE", StateTo: "SYN_SENT", PID: 9, Comm: "sep\u2028é"}}},
		{Kind: analyze.EvKernelState},
		{Kind: analyze.EvKernelConnect, EventAttrs: analyze.EventAttrs{Addr: odd, Errno: "ENOENT"}},
		{Kind: analyze.EvKernelConnect, EventAttrs: analyze.EventAttrs{Addr: "192.0.2.10:3306"}},
		{Kind: analyze.EvKernelError, EventAttrs: analyze.EventAttrs{Errno: "ECONNREFUSED"}},
		{Kind: analyze.EvKernelError, EventAttrs: analyze.EventAttrs{Errno: odd}},
		{Kind: analyze.EvFIN, Dir: analyze.DirS2C, EventAttrs: analyze.EventAttrs{Note: analyze.NoteAnswersSYN, Addr: odd}},
		{Kind: analyze.EvRST, Dir: analyze.DirS2C, EventAttrs: analyze.EventAttrs{Note: analyze.NoteAnswersSYN, Addr: "192.0.2.1:3306", Errno: odd}},
		{Kind: analyze.EvKernelRetrans, EventAttrs: analyze.EventAttrs{N: 3}},
		{Kind: analyze.EvKernelRST},
		{Kind: analyze.EvRST, Dir: analyze.DirS2C, EventAttrs: analyze.EventAttrs{Note: analyze.NoteAnswersSYN, Addr: odd}},
		{Kind: analyze.EvFIN, Dir: analyze.DirC2S, EventAttrs: analyze.EventAttrs{Note: analyze.NoteBeforeReply, ElapsedMS: 1500}},
		{Kind: analyze.EvClientData, EventAttrs: analyze.EventAttrs{Note: analyze.NoteClientFirst, Bytes: 5}},
		{Kind: analyze.EvServerData, Dir: analyze.DirS2C, EventAttrs: analyze.EventAttrs{Note: analyze.NoteOtherProtocol, ElapsedMS: 0.884, Detail: &proto.Detail{Banner: "hello <\"x\"> \u2028 é"}}},
		{Kind: analyze.EvServerData, Dir: analyze.DirS2C, EventAttrs: analyze.EventAttrs{Note: analyze.NoteNotExpected, Detail: &proto.Detail{Banner: "SSH-2.0", Expected: "My<SQL>"}}},
		{Kind: analyze.EvServerData, Dir: analyze.DirS2C, EventAttrs: analyze.EventAttrs{Note: "unknown"}},
		{Kind: analyze.EvKernelDrop, EventAttrs: analyze.EventAttrs{Detail: &proto.Detail{Packet: "SYN", DropReason: "NO_SOCKET", Location: "tcp_v4_rcv"}}},
		{Kind: analyze.EvKernelDrop, EventAttrs: analyze.EventAttrs{Note: analyze.NoteSending, Detail: &proto.Detail{Packet: "SYN", DropReason: "NEIGH_FAILED"}}},
		{Kind: analyze.EvKernelDrop},
		{Kind: analyze.EvServerHandshake, EventAttrs: analyze.EventAttrs{Addr: odd}},
		{Kind: analyze.EvAccepted, EventAttrs: analyze.EventAttrs{ElapsedMS: 0.067, Detail: &proto.Detail{Comm: `srv "x"`, PID: 17358, FD: 9}}},
		{Kind: analyze.EvAccepted, EventAttrs: analyze.EventAttrs{Detail: &proto.Detail{Comm: "mariadbd", PID: 1, FD: -1}}},
		{Kind: analyze.EvKernelSYNACKRetrans, EventAttrs: analyze.EventAttrs{N: 2, Addr: "192.0.2.1:40000"}},
		{Kind: analyze.EvKernelRSTSent, EventAttrs: analyze.EventAttrs{Addr: "127.0.0.1:33658", Detail: &proto.Detail{Packet: "SYN", RSTReason: "NO_SOCKET"}}},
		{Kind: analyze.EvKernelRSTSent, EventAttrs: analyze.EventAttrs{Addr: odd, Note: analyze.NoteAborted, Detail: &proto.Detail{RSTReason: "TCP_ABORT_ON_CLOSE"}}},
		{Kind: analyze.EvKernelRSTSent, EventAttrs: analyze.EventAttrs{Addr: "192.0.2.1:1"}},
	} {
		want, err := json.Marshal(EventWords(&e))
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte(`{"what":`)
		got := appendEventWordsJSON(prefix, &e)
		if string(got[len(prefix):]) != string(want) || string(got[:len(prefix)]) != string(prefix) {
			t.Errorf("%s %+v: JSON words %s, want %s", e.Kind, e.EventAttrs, got[len(prefix):], want)
		}
	}
}

// TestQuoteWordsJSON: words written as they are after a quote become the
// JSON string AppendJSONString makes of them — whatever needs escaping,
// wherever it is (the part before it is kept, the rest escaped after the
// words and moved over them), with room in the buffer for the escaped
// text or without (the buffer then grows).
func TestQuoteWordsJSON(t *testing.T) {
	var words []string
	for _, odd := range []string{`"`, `\`, "<", "&", "\n", "\x00", "\xff", "\u2028", "é", "→", "\xe2\x80"} {
		for _, n := range []int{0, 1, 7, 8, 9, 16, 17, 40} {
			for pos := 0; pos <= n; pos += max(1, n/4) {
				base := strings.Repeat("abcdefgh", 6)[:n]
				words = append(words, base[:pos]+odd+base[pos:], base[:pos]+odd+base[pos:]+odd)
			}
		}
	}
	words = append(words, "", "HandshakeResponse: login as \"app\"", `server's first payload is not MySQL: "SSH-2.0-OpenSSH_9.2p1"`)
	for _, w := range words {
		want := `{"what":` + string(proto.AppendJSONString(nil, w))
		for _, room := range []int{0, 4 * len(w)} {
			b := make([]byte, 0, len(`{"what":"`)+len(w)+room)
			b = append(append(b, `{"what":"`...), w...)
			if got := quoteWordsJSON(b, len(`{"what":`)); string(got) != want {
				t.Fatalf("%q (room %d): %s, want %s", w, room, got, want)
			}
		}
	}
}
