package analyze

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/connscope/connscope/capture"
)

// TestEngineWritesNoProse: the engine decides with findings (a reason and
// its facts) and writes no sentences: over every lab capture (and the
// client-first ones) its connects and attempts hold no Evidence or Causes
// until Explain words them (the report does), and the only prose riding
// along is a protocol plug-in's own, on attempts its session decided.
// After Explain every attempt has evidence, and every failed one causes.
func TestEngineWritesNoProse(t *testing.T) {
	var files []string
	for _, glob := range []string{"*.pcap", "*.pcapng"} {
		m, _ := filepath.Glob(filepath.Join(capturesDir, glob))
		files = append(files, m...)
	}
	m, _ := filepath.Glob(filepath.Join("..", "testdata", "clientfirst", "*.pcap"))
	files = append(files, m...)
	if len(files) == 0 {
		t.Skip("no lab captures in " + capturesDir)
	}
	attempts := 0
	for _, path := range files {
		r, err := capture.Open(path)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		var got []*Connect
		if _, err := RunSource(r, Options{OnConnect: func(c *Connect) { got = append(got, c) }}); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		r.Close()
		for _, c := range got {
			for _, q := range c.Resolution {
				if err := noProse(q); err != nil {
					t.Errorf("%s: lookup %s %s: %v", path, q.Type, q.Name, err)
				}
			}
			if c.Evidence != nil || c.Causes != nil {
				t.Errorf("%s: the engine worded a connect: evidence %q causes %q", path, c.Evidence, c.Causes)
			}
			for _, a := range c.Attempts {
				attempts++
				if a.Evidence != nil || a.Causes != nil {
					t.Errorf("%s: the engine worded an attempt (%s): evidence %q causes %q", path, a.Reason, a.Evidence, a.Causes)
				}
				decided := a.Reason
				if decided == ReasonEvidenceLost && a.Facts != nil {
					decided = a.Facts.WouldBe
				}
				if fd := a.found; fd != nil {
					// A protocol session's finding: the reason it gave and ids.
					if fd.reason != decided.String() && !fd.unknown {
						t.Errorf("%s: the session decided %s but the attempt holds %s", path, fd.reason, decided)
					}
					if err := noProse(fd.f); err != nil {
						t.Errorf("%s: %s's finding for %s: %v", path, fd.p.Name, fd.reason, err)
					}
				}
				for _, n := range a.notes {
					if err := noProse(n.n); err != nil {
						t.Errorf("%s: a note: %v", path, err)
					}
				}
			}
			Explain(c)
			for _, a := range c.Attempts {
				if len(a.Evidence) == 0 || a.Outcome != OK && len(a.Causes) == 0 {
					t.Errorf("%s: after Explain, attempt %s→%s (%s) lacks evidence or causes", path, a.Client, a.Server, a.Reason)
				}
			}
			if len(c.Attempts) > 0 && len(c.Evidence) == 0 {
				t.Errorf("%s: after Explain, the connect has no evidence", path)
			}
		}
	}
	if attempts == 0 {
		t.Fatal("no attempts in the lab captures")
	}
}

// noProse checks that the string fields of v (a struct: a finding, a
// note, a lookup) hold data — ids, names, addresses, a server's own
// message — and no sentence of the engine's or a plug-in's: no string
// field may hold one of the words every sentence connscope writes uses.
func noProse(v any) error {
	rv := reflect.ValueOf(v)
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		var ss []string
		switch {
		case f.Kind() == reflect.String:
			ss = []string{f.String()}
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			for j := 0; j < f.Len(); j++ {
				ss = append(ss, f.Index(j).String())
			}
		}
		for _, s := range ss {
			for _, w := range strings.Fields(s) {
				switch w {
				case "the", "a", "an", "after", "before", "from", "of", "to", "no", "not", "with", "by":
					return fmt.Errorf("field %s holds prose: %q", rv.Type().Field(i).Name, s)
				}
			}
		}
	}
	return nil
}

// TestExplainKeepsWords: Explain words only what is not worded yet, so a
// connect that already has its words (or a second call) keeps them.
func TestExplainKeepsWords(t *testing.T) {
	at := &Attempt{Server: "192.0.2.20:3306", Outcome: Refused, Reason: ReasonRSTFromServer, Facts: &Facts{AnsweredSYN: 1, ReplyMS: ptr(0.1)}}
	c := &Connect{Outcome: Refused, Reason: ReasonRSTFromServer, Attempts: []*Attempt{at}}
	Explain(c)
	want := "SYN answered by RST from 192.0.2.20:3306 after 0.100 ms"
	if len(at.Evidence) != 1 || at.Evidence[0] != want || len(c.Evidence) != 1 || c.Evidence[0] != want {
		t.Fatalf("evidence %q, connect %q; want %q", at.Evidence, c.Evidence, want)
	}
	at.Evidence = []string{"kept"}
	Explain(c)
	if at.Evidence[0] != "kept" || c.Evidence[0] != want {
		t.Errorf("a second Explain rewrote the words: %q, %q", at.Evidence, c.Evidence)
	}
}

func ptr(v float64) *float64 { return &v }

// TestRestsOnAbsence pins which verdicts rest on absence — true only if
// nothing was missed — and which lost evidence could contradict them
// (the reason table's attribute lossVerdict uses): a timeout on any lost
// event, a verdict on the server's silence or close on lost packets or
// late events, and the ok verdicts that rest on what the packets did not
// show. A verdict on something seen (an RST, an ICMP error, an errno, a
// server's bytes) does not.
func TestRestsOnAbsence(t *testing.T) {
	want := map[Reason]lossKinds{
		ReasonSYNUnanswered:     lostAny,
		ReasonSYNACKAfterGiveUp: lostAny,
		ReasonETIMEDOUT:         lostAny,
		// A drop seen on a traced host explains the silence, which lost
		// events could still contradict (a later SYN answered).
		ReasonKernelNetfilterDrop:   lostAny,
		ReasonKernelListenOverflow:  lostAny,
		ReasonKernelDropped:         lostAny,
		ReasonServerSpokeLate:       lostAny,
		ReasonNoServerBytes:         lostPackets | lostLate,
		ReasonRequestUnanswered:     lostPackets | lostLate,
		ReasonServerClosedSilent:    lostPackets | lostLate,
		ReasonServerClosedPartial:   lostPackets | lostLate,
		ReasonECONNRESETConnected:   lostPackets | lostLate,
		ReasonClientClosedNoSend:    lostPackets | lostLate,
		ReasonServerSentData:        lostPackets | lostLate,
		ReasonClientFirstUnanswered: lostPackets | lostLate,
		ReasonConnectedNoPackets:    lostPackets | lostLate,
	}
	for r := Reason(1); int(r) < engineReasons; r++ {
		if got := r.restsOnAbsence(); got != want[r] {
			t.Errorf("%s rests on absence of %03b, want %03b", r, got, want[r])
		}
	}
	// A protocol's reasons get their outcome's.
	for _, id := range []string{"mysql.login_unanswered", "pg.startup_unanswered"} {
		if r, ok := reasonIDs[id]; ok && r.restsOnAbsence() != restsOn(r.Outcome()) {
			t.Errorf("%s rests on %03b, its outcome %s on %03b", id, r.restsOnAbsence(), r.Outcome(), restsOn(r.Outcome()))
		}
	}
}
