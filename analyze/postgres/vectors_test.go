package postgres

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// conversation is one TCP connection of a recorded vector: what the client
// sent and what the server sent, each reassembled in order.
type conversation struct {
	client, server []byte
}

// loadVector reads testdata/<name>.txt as written by testdata/record.sh:
// one TCP segment a line, "<stream> c|s <hex payload>".
func loadVector(t testing.TB, name string) []conversation {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".txt"))
	if err != nil {
		t.Fatalf("vector %s: %v (re-record with testdata/record.sh)", name, err)
	}
	defer f.Close()
	byStream := map[int]*conversation{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			t.Fatalf("%s.txt:%d: want \"<stream> c|s <hex>\", got %q", name, line, sc.Text())
		}
		stream, err1 := strconv.Atoi(fields[0])
		payload, err2 := hex.DecodeString(fields[2])
		if err1 != nil || err2 != nil || (fields[1] != "c" && fields[1] != "s") {
			t.Fatalf("%s.txt:%d: bad line %q", name, line, sc.Text())
		}
		c := byStream[stream]
		if c == nil {
			c = &conversation{}
			byStream[stream] = c
		}
		if fields[1] == "c" {
			c.client = append(c.client, payload...)
		} else {
			c.server = append(c.server, payload...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for id := range byStream {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var out []conversation
	for _, id := range ids {
		out = append(out, *byStream[id])
	}
	return out
}

// step is one message of a conversation: where it starts, what it is, and
// the mode its decoder was called in.
type step struct {
	off  int
	mode bool // startup (client) or answer (server)
	msg  Message
	n    int
}

// walkClient decodes a client stream message by message. The first message
// is untyped; so is the one after an SSLRequest/GSSENCRequest answered 'N'
// (serverAnswers says how the server answered).
func walkClient(t testing.TB, b []byte, serverAnswers []byte) []step {
	t.Helper()
	var steps []step
	startup := true
	for off := 0; off < len(b); {
		m, n, err := NextClient(b[off:], startup)
		if err != nil {
			t.Fatalf("client message at offset %d (startup=%v): %v", off, startup, err)
		}
		steps = append(steps, step{off, startup, m, n})
		off += n
		switch m.Kind {
		case KindSSLRequest, KindGSSENCRequest:
			if len(serverAnswers) == 0 || serverAnswers[0] != 'N' {
				return steps // TLS or GSSAPI follows, or nothing
			}
			serverAnswers = serverAnswers[1:]
		case KindStartup:
			startup = false
		case KindCancelRequest:
			return steps
		}
	}
	return steps
}

// walkServer decodes a server stream; answer says the client started with
// an SSLRequest/GSSENCRequest.
func walkServer(t testing.TB, b []byte, answer bool) []step {
	t.Helper()
	var steps []step
	for off := 0; off < len(b); {
		m, n, err := NextServer(b[off:], answer)
		if err != nil {
			t.Fatalf("server message at offset %d (answer=%v): %v", off, answer, err)
		}
		steps = append(steps, step{off, answer, m, n})
		off += n
		answer = false
	}
	return steps
}

func answers(steps []step) []byte {
	var a []byte
	for _, s := range steps {
		if s.msg.Kind == KindAnswer {
			a = append(a, s.msg.Answer)
		}
	}
	return a
}

func startsWithRequest(b []byte) bool {
	m, _, err := NextClient(b, true)
	return err == nil && (m.Kind == KindSSLRequest || m.Kind == KindGSSENCRequest)
}

// summary is a one-line account of a message for the expectation tables.
func summary(m Message) string {
	switch m.Kind {
	case KindStartup:
		var ps []string
		for _, p := range m.Params {
			ps = append(ps, p.Name+"="+p.Value)
		}
		return fmt.Sprintf("Startup %d.%d %s", m.ProtocolMajor, m.ProtocolMinor, strings.Join(ps, " "))
	case KindAuth:
		if len(m.Mechanisms) > 0 {
			return "Auth" + m.Auth.String() + " " + strings.Join(m.Mechanisms, ",")
		}
		return "Auth" + m.Auth.String()
	case KindError, KindNotice:
		v2 := ""
		if m.V2Error {
			v2 = "v2 "
		}
		return fmt.Sprintf("%s %s%s %s %s", m.Kind, v2, m.Error.Severity, m.Error.Code, m.Error.Message)
	case KindParameterStatus:
		return "ParameterStatus " + m.Name
	case KindReadyForQuery:
		return "ReadyForQuery " + string(m.TxStatus)
	case KindNegotiateProtocolVersion:
		return fmt.Sprintf("NegotiateProtocolVersion 3.%d %s", m.NewestMinor(), strings.Join(m.Unrecognized, ","))
	case KindAnswer:
		return "Answer " + string(m.Answer)
	case KindSASLInitialResponse:
		return "SASLInitialResponse " + m.Mechanism
	case KindCancelRequest:
		return "CancelRequest"
	case KindBackendKeyData:
		return "BackendKeyData"
	case KindOther:
		return "other " + string(m.Type)
	}
	return m.Kind.String()
}

func TestDumpVectors(t *testing.T) {
	if os.Getenv("PG_DUMP") == "" {
		t.Skip("set PG_DUMP=1 to print every vector's decoding")
	}
	names, _ := filepath.Glob("testdata/*.txt")
	for _, p := range names {
		name := strings.TrimSuffix(filepath.Base(p), ".txt")
		if name == "scenarios" || strings.HasPrefix(name, "server.log") {
			continue
		}
		for i, c := range loadVector(t, name) {
			s := walkServer(t, c.server, startsWithRequest(c.client))
			cl := walkClient(t, c.client, answers(s))
			for _, x := range cl {
				t.Logf("%s/%d C %s", name, i, summary(x.msg))
			}
			for _, x := range s {
				t.Logf("%s/%d S %s", name, i, summary(x.msg))
			}
		}
	}
}
