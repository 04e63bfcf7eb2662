package report

import (
	"encoding/json"
	"testing"

	"github.com/connscope/connscope/analyze"
)

// TestEventWordsJSON checks that the JSON line's words of a timeline step
// (appendEventWordsJSON, which writes the handshake's steps straight into
// the line) are EventWords encoded as encoding/json encodes a string: for
// every handshake variant, an address that needs escaping, and the steps
// worded the ordinary way.
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
