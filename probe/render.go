package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/report"
)

// Formats.
const (
	FormatTable    = "table"
	FormatMarkdown = "markdown"
	FormatJSON     = "json"
)

// Mark is the checklist symbol of a status.
func (s Status) Mark() string {
	switch s {
	case Pass:
		return "✓"
	case Fail:
		return "✗"
	case Warn:
		return "!"
	}
	return "–"
}

// redactor returns a text filter: identity, or report's Redactor taught the
// names and users this result mentions (addresses are always caught).
func redactor(r *Result, on bool) (func(string) string, *report.Redactor) {
	if !on {
		return func(s string) string { return s }, nil
	}
	red := report.NewRedactor()
	c := &analyze.Connect{Name: r.Target.Host}
	if r.Resolution != nil {
		for _, n := range r.Resolution.Names {
			c.Resolution = append(c.Resolution, analyze.Query{Name: n})
		}
		for _, q := range r.Resolution.Queries {
			for _, cn := range q.CNAMEs {
				c.Resolution = append(c.Resolution, analyze.Query{Name: cn})
			}
		}
	}
	user := r.Target.User
	if r.Login != nil {
		user = r.Login.User
	}
	if user != "" {
		c.Attempts = append(c.Attempts, &analyze.Attempt{App: &analyze.App{Protocol: "mysql", Info: &mysql.Info{User: user}}})
	}
	red.Connect(c)
	return func(s string) string {
		s = red.Text(s)
		// A user named alone (the check's title, "user X") is replaced too.
		if user != "" {
			s = replaceWord(s, user, red.Text("'"+user+"'"))
		}
		return s
	}, red
}

// replaceWord replaces user where it stands as a whole word.
func replaceWord(s, w, quotedPseudo string) string {
	p := strings.Trim(quotedPseudo, "'")
	if p == w {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, w)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		before := i == 0 || !isWordRune(s[i-1])
		after := i+len(w) == len(s) || !isWordRune(s[i+len(w)])
		b.WriteString(s[:i])
		if before && after {
			b.WriteString(p)
		} else {
			b.WriteString(w)
		}
		s = s[i+len(w):]
	}
}

func isWordRune(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// Write renders r in format.
func Write(w io.Writer, r *Result, format string, redact bool) error {
	red, rd := redactor(r, redact)
	switch format {
	case FormatJSON:
		if err := writeJSON(w, r, red); err != nil {
			return err
		}
		return writeTrace(w, r, report.JSON, rd)
	case FormatMarkdown:
		return writeMarkdown(w, r, red, rd)
	case FormatTable, "":
		return writeTable(w, r, red, rd)
	}
	return fmt.Errorf("unknown format %q: use table, markdown or json", format)
}

func header(r *Result) string {
	t := r.Target
	what := t.Protocol + " " + t.String()
	if t.IsSocket() {
		what = t.Protocol + " unix socket " + t.Socket
	}
	return fmt.Sprintf("connscope probe: %s, timeout %s per address", what, dur(r.Timeout))
}

func pad(s string, n int) string {
	if w := utf8.RuneCountInString(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}

func writeTable(w io.Writer, r *Result, red func(string) string, rd *report.Redactor) error {
	var b strings.Builder
	b.WriteString(red(header(r)) + "\n\nCHECKLIST\n")
	width := 0
	for _, c := range r.Checks {
		width = max(width, utf8.RuneCountInString(red(c.Title)))
	}
	for _, c := range r.Checks {
		first, rest := "", []string(nil)
		if len(c.Evidence) > 0 {
			first, rest = c.Evidence[0], c.Evidence[1:]
		}
		if c.Status == Skip {
			first = "not checked: " + first
		}
		fmt.Fprintf(&b, "  %s %s  %s\n", c.Status.Mark(), pad(red(c.Title), width), red(first))
		for _, e := range rest {
			fmt.Fprintf(&b, "    %s  %s\n", strings.Repeat(" ", width), red(e))
		}
		if c.Fix != "" {
			fmt.Fprintf(&b, "    %s  fix: %s\n", strings.Repeat(" ", width), red(c.Fix))
		}
	}
	if len(r.Attempts) > 0 {
		b.WriteString("\nADDRESSES (in the order a client tries them)\n")
		rows := [][]string{{"#", "ADDRESS", "OUTCOME", "CONNECT", "FIRST BYTES", "DETAIL"}}
		for i, a := range r.Attempts {
			fb := "-"
			if a.Connected() {
				fb = dur(a.FirstByte)
			}
			rows = append(rows, []string{fmt.Sprint(i + 1), red(a.Where()), a.Outcome, dur(a.Connect), fb, red(attemptDetail(&a))})
		}
		writeRows(&b, rows)
	}
	if r.Resolution != nil && len(r.Resolution.Queries) > 0 {
		b.WriteString("\nRESOLUTION (" + red(strings.Join(r.Resolution.Sources, " ")) + "; " + red(resolvConfText(&r.Resolution.Conf)) + ")\n")
		for _, q := range r.Resolution.Queries {
			b.WriteString("  " + red(queryText(q)) + "\n")
		}
		if len(r.Resolution.Order) > 1 {
			b.WriteString("  order (RFC 6724): " + red(orderText(r.Resolution.Order)) + "\n")
		}
	}
	if r.Trace != nil {
		b.WriteString("\nTRACED (packets and eBPF, as `connscope run` reports them; the timelines follow)\n")
		rows := [][]string{{"#", "ADDRESS", "OUTCOME", "REASON"}}
		for i, a := range r.Attempts {
			o, why := tracedOutcome(r, &a)
			rows = append(rows, []string{fmt.Sprint(i + 1), red(a.Where()), o, why})
		}
		writeRows(&b, rows)
		b.WriteString("\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
		b.Reset()
		if err := writeTrace(w, r, report.Table, rd); err != nil {
			return err
		}
	}
	if len(r.Findings) > 0 {
		b.WriteString("\nFINDINGS\n")
		for _, f := range r.Findings {
			b.WriteString("  - " + red(f) + "\n")
		}
	}
	fmt.Fprintf(&b, "\nprobe took %s; %s\n", dur(r.Total), red(r.Tracing))
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRows(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		b.WriteString(" ")
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(" " + c)
			} else {
				b.WriteString(" " + pad(c, widths[i]))
			}
		}
		b.WriteString("\n")
	}
}

func attemptDetail(a *Attempt) string {
	if a.Connected() {
		g := greetingText(a)
		if i := strings.Index(g, ": "); i >= 0 && a.Greeting != nil && (a.Greeting.MySQL != nil || a.Greeting.PGAnswer != 0) {
			g = g[i+2:]
		}
		if a.Local.IsValid() {
			g += " (from " + a.Local.String() + ")"
		}
		return g
	}
	d := a.Detail
	if a.Errno != "" {
		d = a.Errno + ": " + d
	}
	return d
}

func queryText(q Query) string {
	if q.Type == "hosts" {
		if q.Err != "" {
			return fmt.Sprintf("%s %s: %s", q.Server, q.Name, q.Err)
		}
		if len(q.Answers) == 0 {
			return fmt.Sprintf("%s: no line for %s", q.Server, q.Name)
		}
		return fmt.Sprintf("%s: %s → %s", q.Server, q.Name, addrList(q.Answers))
	}
	if q.Server == "" {
		return q.Err
	}
	s := fmt.Sprintf("%s %s @%s", q.Type, q.Name, q.Server)
	if q.Try > 1 {
		s += fmt.Sprintf(" (attempt %d)", q.Try)
	}
	if q.Rcode != "" {
		s += ": " + q.Rcode
		if len(q.CNAMEs) > 0 {
			s += " CNAME " + strings.Join(q.CNAMEs, " → ")
		}
		if len(q.Answers) > 0 {
			s += " " + addrList(q.Answers)
		}
		s += " in " + dur(q.Time)
	}
	if q.Err != "" {
		s += ": " + q.Err
	}
	return s
}

func addrList(as []netip.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, " ")
}

func resolvConfText(c *ResolvConf) string {
	var srv []string
	for _, s := range c.Servers {
		srv = append(srv, s.Addr().String())
	}
	s := fmt.Sprintf("%s: nameserver %s", c.Path, strings.Join(srv, " "))
	if c.Defaulted {
		s += " (none configured: glibc's default)"
	}
	if len(c.Search) > 0 {
		s += ", search " + strings.Join(c.Search, " ")
	}
	s += fmt.Sprintf(", ndots %d, timeout %s, attempts %d", c.Ndots, dur(c.Timeout), c.Attempts)
	return s
}

func orderText(notes []OrderNote) string {
	var parts []string
	for _, n := range notes {
		src := "no route"
		if n.Usable {
			src = "from " + n.Source.String()
		}
		parts = append(parts, fmt.Sprintf("%s (%s, precedence %d)", n.Addr, src, n.Precedence))
	}
	return strings.Join(parts, " > ")
}

func mdCell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ")
}

func writeMarkdown(w io.Writer, r *Result, red func(string) string, rd *report.Redactor) error {
	var b strings.Builder
	b.WriteString("### " + mdCell(red(header(r))) + "\n\n| | check | evidence | fix |\n|---|---|---|---|\n")
	for _, c := range r.Checks {
		ev := make([]string, len(c.Evidence))
		for i, e := range c.Evidence {
			ev[i] = mdCell(red(e))
		}
		if c.Status == Skip && len(ev) > 0 {
			ev[0] = "not checked: " + ev[0]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Status.Mark(), mdCell(red(c.Title)), strings.Join(ev, "<br>"), mdCell(red(c.Fix)))
	}
	if len(r.Attempts) > 0 {
		b.WriteString("\n| # | address | outcome | connect | first bytes | detail |\n|---|---|---|---|---|---|\n")
		for i, a := range r.Attempts {
			fb := "-"
			if a.Connected() {
				fb = dur(a.FirstByte)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s |\n", i+1, mdCell(red(a.Where())), a.Outcome, dur(a.Connect), fb, mdCell(red(attemptDetail(&a))))
		}
	}
	if r.Resolution != nil && len(r.Resolution.Queries) > 0 {
		b.WriteString("\nResolution (" + mdCell(red(resolvConfText(&r.Resolution.Conf))) + "):\n\n")
		for _, q := range r.Resolution.Queries {
			b.WriteString("- " + mdCell(red(queryText(q))) + "\n")
		}
	}
	if r.Trace != nil {
		b.WriteString("\nTraced (packets and eBPF, as `connscope run` reports them; the timelines follow):\n\n| # | address | outcome | reason |\n|---|---|---|---|\n")
		for i, a := range r.Attempts {
			o, why := tracedOutcome(r, &a)
			fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", i+1, mdCell(red(a.Where())), o, mdCell(why))
		}
		b.WriteString("\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
		b.Reset()
		if err := writeTrace(w, r, report.Markdown, rd); err != nil {
			return err
		}
	}
	if len(r.Findings) > 0 {
		b.WriteString("\nFindings:\n\n")
		for _, f := range r.Findings {
			b.WriteString("- " + mdCell(red(f)) + "\n")
		}
	}
	fmt.Fprintf(&b, "\nprobe took %s; %s\n", dur(r.Total), mdCell(red(r.Tracing)))
	_, err := io.WriteString(w, b.String())
	return err
}

// JSON Lines: one "check" record per check, one "address" record per
// address, one "query" record per resolution query, then a "probe" record.
type jsonCheck struct {
	Kind     string   `json:"kind"`
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Status   Status   `json:"status"`
	Evidence []string `json:"evidence"`
	Fix      string   `json:"fix,omitempty"`
}

type jsonAddress struct {
	Kind         string      `json:"kind"`
	Order        int         `json:"order"`
	Server       string      `json:"server"`
	Client       string      `json:"client,omitempty"`
	Outcome      string      `json:"outcome"`
	Errno        string      `json:"errno,omitempty"`
	Detail       string      `json:"detail,omitempty"`
	ConnectMS    float64     `json:"connect_ms"`
	SYNRetrans   *int        `json:"syn_retransmits,omitempty"`
	RTTMS        *float64    `json:"rtt_ms,omitempty"`
	FirstBytesMS *float64    `json:"first_bytes_ms"`
	MySQL        *mysql.Info `json:"mysql,omitempty"`
	Postgres     *jsonPG     `json:"postgres,omitempty"`
	Login        *jsonLogin  `json:"login,omitempty"`
	// Traced is the attempt as the live trace decided it (as root).
	Traced *jsonTraced `json:"traced,omitempty"`
}

type jsonTraced struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
}

type jsonPG struct {
	SSLAnswer string `json:"ssl_answer,omitempty"`
	SQLState  string `json:"sqlstate,omitempty"`
	Message   string `json:"error_message,omitempty"`
}

type jsonLogin struct {
	User         string  `json:"user"`
	Database     string  `json:"database,omitempty"`
	PasswordFrom string  `json:"password_from"`
	Outcome      string  `json:"outcome"`
	ErrorCode    int     `json:"error_code,omitempty"`
	SQLState     string  `json:"sqlstate,omitempty"`
	Message      string  `json:"error_message,omitempty"`
	TLS          bool    `json:"tls"`
	TLSVersion   string  `json:"tls_version,omitempty"`
	Certificate  string  `json:"certificate,omitempty"`
	CertVerified string  `json:"certificate_verified,omitempty"`
	MS           float64 `json:"duration_ms"`
}

type jsonQueryRec struct {
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Server  string   `json:"server"`
	Try     int      `json:"try,omitempty"`
	Rcode   string   `json:"rcode"`
	Answers []string `json:"answers"`
	CNAMEs  []string `json:"cnames,omitempty"`
	MS      float64  `json:"latency_ms"`
	Error   string   `json:"error,omitempty"`
}

type jsonProbe struct {
	Kind      string   `json:"kind"`
	Target    string   `json:"target"`
	Protocol  string   `json:"protocol"`
	Port      int      `json:"port"`
	TimeoutMS float64  `json:"timeout_ms"`
	Local     bool     `json:"local"`
	Addresses []string `json:"addresses"`
	Findings  []string `json:"findings"`
	OK        bool     `json:"ok"`
	TotalMS   float64  `json:"total_ms"`
	// Tracing says whether the probe's connects were traced (as root), or
	// what root would add.
	Tracing string `json:"tracing"`
}

func ms(d interface{ Seconds() float64 }) float64 { return d.Seconds() * 1000 }

func writeJSON(w io.Writer, r *Result, red func(string) string) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	reds := func(ss []string) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = red(s)
		}
		return out
	}
	for _, c := range r.Checks {
		if err := enc.Encode(jsonCheck{"check", c.ID, red(c.Title), c.Status, reds(c.Evidence), red(c.Fix)}); err != nil {
			return err
		}
	}
	var addrs []string
	for i, a := range r.Attempts {
		rec := jsonAddress{Kind: "address", Order: i + 1, Server: red(a.Where()), Outcome: a.Outcome, Errno: a.Errno, Detail: red(a.Detail), ConnectMS: ms(a.Connect)}
		addrs = append(addrs, rec.Server)
		if a.Local.IsValid() {
			rec.Client = red(a.Local.String())
		}
		if a.Connected() {
			v := ms(a.FirstByte)
			rec.FirstBytesMS = &v
		}
		if a.SYNRetrans >= 0 && a.Network == "tcp" && a.Connected() {
			n := a.SYNRetrans
			rec.SYNRetrans = &n
		}
		if a.RTT > 0 {
			v := ms(a.RTT)
			rec.RTTMS = &v
		}
		if g := a.Greeting; g != nil {
			switch {
			case g.MySQL != nil:
				tls := g.MySQL.TLSOffered()
				rec.MySQL = &mysql.Info{Protocol: g.MySQL.Protocol, ServerVersion: g.MySQL.ServerVersion, ConnectionID: g.MySQL.ConnectionID, AuthPlugin: g.MySQL.AuthPlugin}
				if g.MySQL.CapsKnown {
					rec.MySQL.TLSOffered = &tls
				}
			case g.MySQLErr != nil:
				rec.MySQL = &mysql.Info{ErrorCode: g.MySQLErr.Code, SQLState: g.MySQLErr.SQLState, ErrorMessage: red(g.MySQLErr.Message)}
			case g.PGAnswer != 0:
				rec.Postgres = &jsonPG{SSLAnswer: string(g.PGAnswer)}
			case g.PGErr != nil:
				rec.Postgres = &jsonPG{SQLState: g.PGErr.Code, Message: red(g.PGErr.Message)}
			}
		}
		if l := r.Login; l != nil && r.LoginAt == a.Where() {
			rec.Login = &jsonLogin{User: red("'" + l.User + "'"), Database: red(l.Database), PasswordFrom: l.PasswordFrom, Outcome: l.Outcome, ErrorCode: l.Code, SQLState: l.SQLState,
				Message: red(l.Message), TLS: l.TLS, TLSVersion: l.TLSVersion, Certificate: red(l.CertSubject), CertVerified: red(l.CertVerified), MS: ms(l.Time)}
			rec.Login.User = strings.Trim(rec.Login.User, "'")
		}
		if t := r.Traced(&a); t != nil {
			rec.Traced = &jsonTraced{Outcome: string(t.Outcome), Reason: t.Reason.String()}
		}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	if r.Resolution != nil {
		for _, q := range r.Resolution.Queries {
			rec := jsonQueryRec{Kind: "query", Name: red(q.Name), Type: q.Type, Server: red(q.Server), Try: q.Try, Rcode: q.Rcode, Answers: []string{}, MS: ms(q.Time), Error: red(q.Err)}
			for _, a := range q.Answers {
				rec.Answers = append(rec.Answers, red(a.String()))
			}
			for _, c := range q.CNAMEs {
				rec.CNAMEs = append(rec.CNAMEs, red(c))
			}
			if err := enc.Encode(rec); err != nil {
				return err
			}
		}
	}
	target := r.Target.String()
	return enc.Encode(jsonProbe{Kind: "probe", Target: red(target), Protocol: r.Target.Protocol, Port: r.Target.Port, TimeoutMS: ms(r.Timeout), Local: r.Local,
		Addresses: addrs, Findings: reds(r.Findings), OK: r.OK(), TotalMS: ms(r.Total), Tracing: red(r.Tracing)})
}

// tracedOutcome is the traced attempt's outcome and reason for a, or what
// the trace lacks.
func tracedOutcome(r *Result, a *Attempt) (string, string) {
	t := r.Traced(a)
	if t == nil {
		return "-", "not in the trace"
	}
	return string(t.Outcome), t.Reason.String()
}

// writeTrace renders the traced connects as `connscope run` does (every
// connect with its timeline, then the summary: drops and losses), with the
// checklist's redactor (nil: not redacted) so that pseudonyms agree.
func writeTrace(w io.Writer, r *Result, format report.Format, rd *report.Redactor) error {
	if r.Trace == nil {
		return nil
	}
	rw := report.NewWriter(w, report.Options{Format: format, Redact: rd != nil, Redactor: rd, Streaming: true, AllTimelines: true})
	for _, c := range r.Trace.Connects {
		if err := rw.Connect(c); err != nil {
			return err
		}
	}
	if err := rw.Summary(r.Trace.Summary); err != nil {
		return err
	}
	return rw.Flush()
}
