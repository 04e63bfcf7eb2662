package analyze

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/postgres"
	"github.com/connscope/connscope/analyze/proto"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the README's reason list from the reason table")

// reasonsSeen records every reason the package's tests made the engine
// give (decidedHook), for TestMain's coverage check.
var reasonsSeen = struct {
	sync.Mutex
	m map[Reason]bool
}{m: map[Reason]bool{}}

// uncoveredReasons are the reasons no unit test or lab capture produces,
// each with why. TestMain fails when one of the others is never given, or
// when one of these is.
var uncoveredReasons = map[Reason]string{
	ReasonServerClosedPartial: "no input found that reaches it: when the server closes, classifyServer(final) has already made a partial first packet a cut greeting, an ERR or another protocol; kept as the verdict should that change",
}

func TestMain(m *testing.M) {
	flag.Parse()
	decidedHook = func(r Reason) {
		reasonsSeen.Lock()
		reasonsSeen.m[r] = true
		reasonsSeen.Unlock()
	}
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		dueCheck = checkDueByScan // due_test.go (not while benchmarking: it looks at every attempt)
	}
	code := m.Run()
	if dueMismatch.msg != "" {
		fmt.Fprintln(os.Stderr, "FAIL sweep schedule (due.go):", dueMismatch.msg)
		code = 1
	}
	if code == 0 && fullRun() {
		if msg := reasonCoverage(); msg != "" {
			fmt.Fprintln(os.Stderr, "FAIL reason coverage:\n"+msg)
			code = 1
		}
	}
	os.Exit(code)
}

// fullRun reports whether every test ran (no -run, no -short) over the lab
// captures, so that a reason never given is a gap, not a test left out.
func fullRun() bool {
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		return false
	}
	if testing.Short() {
		return false
	}
	_, err := os.Stat(filepath.Join(capturesDir, "manifest.json"))
	return err == nil
}

func reasonCoverage() string {
	reasonsSeen.Lock()
	defer reasonsSeen.Unlock()
	var b strings.Builder
	for _, r := range Reasons() {
		why, listed := uncoveredReasons[r]
		switch {
		case !reasonsSeen.m[r] && !listed:
			fmt.Fprintf(&b, "  %s: no unit test or lab capture gives it (add one, or list it in uncoveredReasons with why)\n", r)
		case reasonsSeen.m[r] && listed:
			fmt.Fprintf(&b, "  %s: listed as uncovered (%s) but a test gives it: remove it from uncoveredReasons\n", r, why)
		}
	}
	return b.String()
}

// TestReasonTable checks the table: every reason has a unique namespaced
// id, a known outcome and a meaning, and its id reads back.
func TestReasonTable(t *testing.T) {
	outcomes := []Outcome{OK, Refused, Unreachable, Timeout, NoGreeting, GreetingLate, ClosedBeforeGreeting, Rejected, WrongProtocol, AuthFailed, TLSFailed, Incomplete, Unresolved, SocketMissing, PermissionDenied, NoRoute, NoLocalPort}
	namespaces := []string{"tcp", "icmp", "kernel", "dns", "tls", "mysql", "pg", "app", "capture"}
	seen := map[string]bool{}
	usedOutcomes := map[Outcome]bool{}
	for _, r := range Reasons() {
		id := r.String()
		ns, name, ok := strings.Cut(id, ".")
		if !ok || !slices.Contains(namespaces, ns) || name == "" || strings.ToLower(id) != id || strings.ContainsAny(id, " -") {
			t.Errorf("reason %d: id %q is not namespace.snake_case with a known namespace %v", r, id, namespaces)
		}
		if seen[id] {
			t.Errorf("reason id %q declared twice", id)
		}
		seen[id] = true
		if !slices.Contains(outcomes, r.Outcome()) {
			t.Errorf("%s: outcome %q is not an Outcome", id, r.Outcome())
		}
		usedOutcomes[r.Outcome()] = true
		if r.Meaning() == "" {
			t.Errorf("%s: no meaning", id)
		}
		var back Reason
		if err := back.UnmarshalText([]byte(id)); err != nil || back != r {
			t.Errorf("%s reads back as %v (%v)", id, back, err)
		}
	}
	for _, o := range outcomes {
		if !usedOutcomes[o] {
			t.Errorf("no reason has outcome %s", o)
		}
	}
	var r Reason
	if err := r.UnmarshalText([]byte("tcp.no_such_reason")); err == nil {
		t.Errorf("an unknown id was accepted")
	}
	b, err := json.Marshal(&Attempt{Outcome: Refused, Reason: ReasonRSTFromServer, Facts: &Facts{WouldBe: ReasonSYNUnanswered}})
	if err != nil || !strings.Contains(string(b), `"reason":"tcp.rst_from_server"`) || !strings.Contains(string(b), `"would_be":"tcp.syn_unanswered"`) {
		t.Errorf("JSON %s (%v) lacks the reason ids", b, err)
	}
}

// TestCausesForEveryReason: every failing reason has at least one cause.
func TestCausesForEveryReason(t *testing.T) {
	e := NewEngine(Options{})
	for _, r := range Reasons() {
		if r.Outcome() == OK || r.Outcome() == Unresolved {
			continue
		}
		a := &attempt{reason: r, outcome: r.Outcome()}
		if strings.HasPrefix(r.String(), "mysql.") || r == ReasonTLSNotOffered || r == ReasonNotMySQLBanner {
			a = mysqlErrAttempt(e, 1045)
			a.reason, a.outcome = r, r.Outcome()
		}
		if strings.HasPrefix(r.String(), "pg.") {
			a = &attempt{out: &Attempt{}, reason: r, outcome: r.Outcome()}
			e.startSession(a, &postgres.Protocol, proto.Yes, nil)
		}
		if strings.HasSuffix(r.String(), "_unix") || r == ReasonENOENT || r == ReasonUnixOtherErrno {
			a.unix = "/run/mysqld/mysqld.sock"
		}
		if len(causesFor(e, a)) == 0 {
			t.Errorf("%s (%s): no causes", r, r.Outcome())
		}
	}
}

// TestEvidenceForEveryProtocolReason: every reason a protocol declares
// (but its WrongBanner one, which the engine words) has evidence words
// from its registered Evidence, for any finding: a session that decides
// with it never leaves an attempt unworded.
func TestEvidenceForEveryProtocolReason(t *testing.T) {
	for _, p := range protocols {
		for _, d := range p.Reasons {
			if d.ID == p.WrongBanner {
				continue
			}
			for _, f := range []proto.Finding{{}, {Step: "x", ClosedBy: "client", Close: "FIN"}, {ClosedBy: "server", Close: "RST"}} {
				if ev := p.Evidence(d.ID, nil, &f); len(ev) == 0 || ev[0] == "" {
					t.Errorf("%s: no evidence for %s with %+v", p.Name, d.ID, f)
				}
			}
		}
	}
}

// readmeReasons renders the README's list of reasons from the table.
func readmeReasons() string {
	var b strings.Builder
	b.WriteString("| reason | outcome | meaning |\n|---|---|---|\n")
	for _, r := range Reasons() {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", r, r.Outcome(), strings.ReplaceAll(r.Meaning(), "|", "\\|"))
	}
	return b.String()
}

const readmeBegin, readmeEnd = "<!-- reasons:begin (go test ./analyze -run TestREADMEReasons -update-readme) -->\n", "<!-- reasons:end -->"

// TestREADMEReasons: the README lists every reason id with its outcome and
// meaning, exactly as the table says.
func TestREADMEReasons(t *testing.T) {
	path := "../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no reason list between %q and %q", readmeBegin, readmeEnd)
	}
	want := readmeReasons()
	got := s[i+len(readmeBegin) : j]
	if got == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile(path, []byte(s[:i+len(readmeBegin)]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, r := range Reasons() {
		if !strings.Contains(got, "`"+r.String()+"`") {
			t.Errorf("README.md does not list %s", r)
		}
	}
	t.Errorf("README.md's reason list differs from the table: run go test ./analyze -run TestREADMEReasons -update-readme")
}

// labReasons are the reasons each lab scenario's attempts must get (by
// scenario, or scenario/client where the clients differ), in order; for an
// unresolved connect, its reason.
var labReasons = map[string][]Reason{
	"ok-v4":                      {ReasonLoginOK},
	"ok-v6":                      {ReasonLoginOK},
	"ok-name":                    {ReasonLoginOK},
	"ok-name-v4only":             {ReasonLoginOK},
	"refused":                    {ReasonRSTFromServer},
	"reject-reset":               {ReasonRSTFromServer},
	"drop":                       {ReasonSYNUnanswered},
	"reject-port":                {ReasonICMPPortUnreachable},
	"reject-port6":               {ReasonICMPPortUnreachable},
	"reject-admin":               {ReasonICMPAdminProhibited},
	"reject-admin6":              {ReasonICMPAdminProhibited},
	"arp-fail":                   {ReasonNoARPReply},
	"ndp-fail":                   {ReasonNoARPReply},
	"host-unreach":               {ReasonICMPHostUnreachable},
	"host-unreach6":              {ReasonICMPNetUnreachable}, // ICMPv6 type 1 code 0, no route to destination
	"greeting-2s":                {ReasonLoginOK},
	"greeting-5s/mariadb":        {ReasonGreetingLate},
	"greeting-5s/php":            {ReasonLoginOK},
	"no-greeting":                {ReasonNoServerBytes},
	"ptr-slow":                   {ReasonLoginOK},
	"ptr-never/mariadb":          {ReasonGreetingLate},
	"ptr-never/php":              {ReasonLoginOK},
	"wrong-protocol":             {ReasonClientSilentToBanner},
	"host-not-allowed":           {ReasonErrAtGreeting},
	"too-many-connections":       {ReasonErrAtGreeting},
	"too-many-connections-login": {ReasonErrAfterLogin},
	"wrong-password":             {ReasonAccessDenied},
	"db-denied":                  {ReasonAccessDenied},
	"tls-required":               {ReasonTLSNotOffered},
	"tls-ok":                     {ReasonTLSCompleted},
	"aaaa-blackhole/mariadb":     {ReasonSYNUnanswered, ReasonLoginOK},
	"aaaa-blackhole/php":         {ReasonSYNUnanswered},
	"dns-late":                   {ReasonLoginOK},
	"nxdomain":                   {ReasonNXDomain},
	"dns-never":                  {ReasonNoAnswer},
	// Kernel-only failures: nothing of them is on the wire, so no attempt.
	"no-route":        {},
	"no-route6":       {},
	"socket-ok":       {},
	"socket-missing":  {},
	"socket-denied":   {},
	"socket-stale":    {},
	"port-exhaustion": {},

	// PostgreSQL.
	"pg-ok-v4":          {ReasonPGLoginOK},
	"pg-ok-v6":          {ReasonPGLoginOK},
	"pg-ok-name":        {ReasonPGLoginOK},
	"pg-refused":        {ReasonRSTFromServer},
	"pg-drop":           {ReasonSYNUnanswered},
	"pg-too-many":       {ReasonPGTooManyClients},
	"pg-reserved":       {ReasonPGTooManyClients},
	"pg-hba-reject":     {ReasonPGHBARejected},
	"pg-wrong-password": {ReasonPGPasswordFailed},
	"pg-db-missing":     {ReasonPGDatabaseMissing},
	"pg-ssl-required":   {ReasonPGSSLRefused},
	"pg-starting-up":    {ReasonPGCannotConnectNow},
	"pg-socket-ok":      {},
	"pg-socket-missing": {},
	"pg-socket-denied":  {},
	"pg-socket-stale":   {},
}

// TestLabReasons checks every lab capture: each attempt has a reason whose
// outcome is its outcome, the connect's reason is its deciding attempt's,
// and each scenario gets the reasons labReasons expects.
func TestLabReasons(t *testing.T) {
	for _, m := range loadManifest(t) {
		if !m.Reproduced {
			continue
		}
		want, ok := labReasons[m.Scenario+"/"+m.Client]
		if !ok {
			want, ok = labReasons[m.Scenario]
		}
		if !ok {
			t.Errorf("scenario %s (%s): no expected reason in labReasons", m.Scenario, m.Client)
			continue
		}
		for _, file := range []string{m.Any, m.Veth} {
			if file == "" {
				continue
			}
			t.Run(file, func(t *testing.T) {
				cs, _ := analyzeFile(t, filepath.Join(capturesDir, file))
				var got []Reason
				for _, c := range cs {
					for _, a := range c.Attempts {
						if a.Reason == 0 || a.Reason.Outcome() != a.Outcome {
							t.Errorf("attempt %s→%s: reason %q (outcome %s) for outcome %s", a.Client, a.Server, a.Reason, a.Reason.Outcome(), a.Outcome)
						}
						if a.Facts == nil {
							t.Errorf("attempt %s→%s: no facts", a.Client, a.Server)
						}
						for _, ev := range a.Events {
							if ev.Kind == "" || !slices.Contains([]Dir{"", DirC2S, DirS2C, DirLocal}, ev.Dir) {
								t.Errorf("attempt %s→%s: event %+v has kind %q, dir %q", a.Client, a.Server, ev.EventAttrs, ev.Kind, ev.Dir)
							}
						}
						got = append(got, a.Reason)
					}
					switch {
					case len(c.Attempts) > 0:
						if last := c.Attempts[len(c.Attempts)-1]; c.Reason != last.Reason {
							t.Errorf("connect reason %s, its last attempt's %s", c.Reason, last.Reason)
						}
					case c.Outcome == Unresolved:
						got = append(got, c.Reason)
					}
					if c.Reason.Outcome() != c.Outcome {
						t.Errorf("connect reason %q (outcome %s) for outcome %s", c.Reason, c.Reason.Outcome(), c.Outcome)
					}
				}
				exp := want
				if strings.HasSuffix(file, ".veth.pcapng") && (m.Scenario == "arp-fail" || m.Scenario == "ndp-fail") {
					exp = []Reason{} // the SYN never left: nothing on the veth
				}
				if len(got) == 0 {
					got = []Reason{}
				}
				if !reflect.DeepEqual(got, exp) {
					t.Errorf("reasons %v, want %v", got, exp)
				}
			})
		}
	}
}

// mysqlErrAttempt is an attempt whose MySQL session decoded an ERR with
// the given code instead of a greeting.
func mysqlErrAttempt(e *Engine, code uint16) *attempt {
	a := &attempt{out: &Attempt{}}
	body := append([]byte{0xff, byte(code), byte(code >> 8), '#'}, "28000Access denied"...)
	a.s2c.buf = append([]byte{byte(len(body)), 0, 0, 0}, body...)
	e.startSession(a, &mysql.Protocol, proto.Yes, nil)
	a.sess.Server(time.Unix(1, 0), true)
	return a
}
