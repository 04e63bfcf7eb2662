package report

import (
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strings"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/proto"
)

// Redactor replaces IP addresses, host names and MySQL user names with
// stable pseudonyms: the same input gets the same pseudonym for the life of
// the Redactor (one run), so relations ("both attempts went to the same
// server") survive redaction while the values do not.
//
//	IPv4 address → ip4-1, ip4-2, ...   (IPv4-mapped IPv6 counts as IPv4)
//	IPv6 address → ip6-1, ...
//	host name    → name-1.example, ...
//	user name    → user-1, ...
//
// Ports, outcomes, MySQL error codes, process names and times are kept.
// Database names inside server messages are kept too, unless a command line
// named them (see CommandLine): then they are db-1, db-2, ... everywhere.
//
// Names and users are learned from the structured fields (the connect's name,
// DNS questions and non-address answers, the MySQL user) and from server
// messages of the forms 'user'@'host' and Host 'host'; every occurrence of a
// learned value is replaced in every text field. A final pass replaces any
// remaining IPv4 or IPv6 literal, learned or not.
//
// A Redactor is not safe for concurrent use.
type Redactor struct {
	ip4, ip6 map[netip.Addr]string
	names    map[string]string // lower-cased, without trailing dot
	users    map[string]string
	dbs      map[string]string // database names from command lines (and PostgreSQL StartupMessages)
	apps     map[string]string // PostgreSQL application_name values
	sources  map[string]string // file names (see Source)
}

// NewRedactor returns a Redactor with no pseudonyms assigned yet.
func NewRedactor() *Redactor {
	return &Redactor{
		ip4:   map[netip.Addr]string{},
		ip6:   map[netip.Addr]string{},
		names: map[string]string{},
		users: map[string]string{},
		dbs:   map[string]string{},
		apps:  map[string]string{},

		sources: map[string]string{},
	}
}

// quoted are the registered protocols' patterns of server messages that
// quote names between single quotes (proto.Protocol.Quoted).
var quoted = func() []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, p := range analyze.Protocols() {
		out = append(out, p.Quoted...)
	}
	return out
}()

// Connect returns a redacted deep copy of c; c itself is not modified.
func (r *Redactor) Connect(c *analyze.Connect) *analyze.Connect {
	if c == nil {
		return nil
	}
	r.learnConnect(c)
	out := *c
	transform{str: r.Text}.apply(reflect.ValueOf(&out).Elem())
	// A protocol's fields that hold a name on its own (a user, a database)
	// get its pseudonym (out's are copies: transform copied them).
	for i, a := range out.Attempts {
		if orig := c.Attempts[i]; a != nil && a.App != nil && a.App.Info != nil {
			a.App.Info.Pseudonymize(orig.App.Info, r.pseudonym)
		}
		if a != nil {
			redactEventNames(a.Events, c.Attempts[i].Events, r)
		}
	}
	return &out
}

// redactEventNames replaces the user and database a timeline step names
// standing alone (its facts) with their pseudonyms; events are the
// redacted copy of orig.
func redactEventNames(events, orig []analyze.Event, r *Redactor) {
	for j := range events {
		d, o := events[j].Msg, orig[j].Msg
		if d == nil || o == nil {
			continue
		}
		if o.User != "" {
			d.User = r.users[o.User]
		}
		if o.Database != "" {
			d.Database = r.dbs[o.Database]
		}
	}
}

// pseudonym is a learned name's pseudonym ("" for one not learned).
func (r *Redactor) pseudonym(n proto.Name) string {
	switch n.Kind {
	case proto.User:
		return r.users[n.Value]
	case proto.Database:
		return r.dbs[n.Value]
	case proto.Application:
		return r.apps[n.Value]
	case proto.Host:
		return r.names[normalizeName(n.Value)]
	}
	return ""
}

// Summary returns a redacted copy of s (its error texts may quote addresses).
func (r *Redactor) Summary(s analyze.Summary) analyze.Summary {
	r.learnStrings(reflect.ValueOf(s))
	transform{str: r.Text}.apply(reflect.ValueOf(&s).Elem())
	return s
}

// learnConnect assigns pseudonyms to every name and user c mentions, before
// any text is rewritten, so that a name learned from a late field is also
// replaced in the fields before it.
func (r *Redactor) learnConnect(c *analyze.Connect) {
	r.learnName(c.Name)
	for _, q := range c.Resolution {
		r.learnName(q.Name)
		for _, a := range q.Answers {
			r.learnAnswer(a)
		}
	}
	for _, a := range c.Attempts {
		if a == nil {
			continue
		}
		for _, e := range a.Events {
			if d := e.Msg; d != nil {
				r.learnUser(d.User)
				if d.Database != "" {
					r.db(d.Database)
				}
			}
		}
		if a.App == nil || a.App.Info == nil {
			continue
		}
		for _, n := range a.App.Info.Names() {
			switch n.Kind {
			case proto.User:
				r.learnUser(n.Value)
			case proto.Database:
				if n.Value != "" {
					r.db(n.Value)
				}
			case proto.Application:
				if _, ok := r.apps[n.Value]; !ok && n.Value != "" {
					r.apps[n.Value] = fmt.Sprintf("app-%d", len(r.apps)+1)
				}
			case proto.Host:
				r.learnHost(n.Value)
			}
		}
	}
	r.learnStrings(reflect.ValueOf(c).Elem())
}

// learnAnswer learns the names in a DNS answer ("10.0.0.2", "db.example",
// "CNAME db.example", ...); addresses need no learning.
func (r *Redactor) learnAnswer(a string) {
	for _, f := range strings.Fields(a) {
		f = strings.Trim(f, "(),;")
		if _, err := netip.ParseAddr(f); err == nil {
			continue
		}
		if strings.Contains(strings.TrimSuffix(f, "."), ".") {
			r.learnName(f)
		}
	}
}

// learnStrings scans every string in v for the protocols' server-message
// patterns that quote users, databases and hosts (proto.Protocol.Quoted).
func (r *Redactor) learnStrings(v reflect.Value) {
	walkStrings(v, func(s string) {
		if !strings.Contains(s, "'") {
			return // the patterns quote with single quotes
		}
		for _, re := range quoted {
			for _, m := range re.FindAllStringSubmatch(s, -1) {
				for i, group := range re.SubexpNames() {
					switch group {
					case "user":
						r.learnUser(m[i])
					case "host":
						r.learnHost(m[i])
					case "database":
						if m[i] != "" {
							r.db(m[i])
						}
					}
				}
			}
		}
	})
}

// learnHost learns a host as a server prints it: an address (left to the
// address pass), a name, or a pattern such as '%' (kept).
func (r *Redactor) learnHost(h string) {
	if _, err := netip.ParseAddr(h); err == nil || h == "" || h == "%" || h == "localhost" {
		return
	}
	r.learnName(h)
}

func normalizeName(n string) string {
	return strings.ToLower(strings.TrimSuffix(n, "."))
}

func (r *Redactor) learnName(n string) {
	n = normalizeName(n)
	if n == "" || n == "localhost" {
		return
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return
	}
	if _, ok := r.names[n]; !ok {
		r.names[n] = fmt.Sprintf("name-%d.example", len(r.names)+1)
	}
}

func (r *Redactor) learnUser(u string) {
	if u == "" {
		return
	}
	if _, ok := r.users[u]; !ok {
		r.users[u] = fmt.Sprintf("user-%d", len(r.users)+1)
	}
}

// Addr returns the pseudonym of an address (assigning one if new).
func (r *Redactor) Addr(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	m, prefix := r.ip6, "ip6"
	if a.Is4() {
		m, prefix = r.ip4, "ip4"
	}
	p, ok := m[a]
	if !ok {
		p = fmt.Sprintf("%s-%d", prefix, len(m)+1)
		m[a] = p
	}
	return p
}

// Text redacts one free-form text: file names (see Source), learned users
// (where quoted or named as a user), learned database names (where quoted),
// learned names, then every address literal.
func (r *Redactor) Text(s string) string {
	if s == "" {
		return s
	}
	s = r.replaceSources(s)
	s = r.replaceUsers(s)
	s = r.replaceQuoted(s, r.dbs)
	s = r.replaceNames(s)
	return r.replaceAddrs(s)
}

// replaceUsers replaces learned users where they appear quoted ('u', "u",
// `u`) or right after the word "user".
func (r *Redactor) replaceUsers(s string) string {
	if len(r.users) == 0 {
		return s
	}
	var b strings.Builder
	changed := false
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\'' || c == '"' || c == '`' {
			if j := strings.IndexByte(s[i+1:], c); j >= 0 {
				inner := s[i+1 : i+1+j]
				if p, ok := r.users[inner]; ok {
					if !changed {
						b.WriteString(s[:i])
						changed = true
					}
					b.WriteByte(c)
					b.WriteString(p)
					b.WriteByte(c)
					i += j + 2
					continue
				}
			}
		}
		if hasWordPrefix(s, i, "user ") {
			rest := s[i+5:]
			end := strings.IndexAny(rest, " ,;:)(\n\t'\"`")
			if end < 0 {
				end = len(rest)
			}
			if p, ok := r.users[rest[:end]]; ok && end > 0 {
				if !changed {
					b.WriteString(s[:i])
					changed = true
				}
				b.WriteString(s[i : i+5])
				b.WriteString(p)
				i += 5 + end
				continue
			}
		}
		if changed {
			b.WriteByte(c)
		}
		i++
	}
	if !changed {
		return s
	}
	return b.String()
}

// hasWordPrefix reports whether s[i:] starts with the (lower-case) word w,
// case-insensitively, at a word boundary.
func hasWordPrefix(s string, i int, w string) bool {
	if i+len(w) > len(s) || !strings.EqualFold(s[i:i+len(w)], w) {
		return false
	}
	return i == 0 || !isWordByte(s[i-1])
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isNameByte(c byte) bool {
	return isWordByte(c) || c == '-' || c == '.'
}

// replaceNames replaces every token that is a learned name (tokens are runs
// of letters, digits, '-', '_' and '.'; a trailing dot is kept).
func (r *Redactor) replaceNames(s string) string {
	if len(r.names) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isNameByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		tok := s[i:j]
		trimmed := strings.TrimRight(tok, ".")
		if p, ok := r.names[strings.ToLower(trimmed)]; ok {
			b.WriteString(s[last:i])
			b.WriteString(p)
			last = i + len(trimmed)
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isAddrByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
}

// replaceAddrs replaces every IPv4 and IPv6 literal (also "a.b.c.d:port")
// with its pseudonym. A candidate must stand on its own: the bytes around it
// are not letters or digits, so "std::map" or a version "10.11.6" stay.
func (r *Redactor) replaceAddrs(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isAddrByte(s[i]) || (i > 0 && isWordByte(s[i-1])) {
			i++
			continue
		}
		j := i
		for j < len(s) && isAddrByte(s[j]) {
			j++
		}
		run := s[i:j]
		next := i + 1
		if j == len(s) || !isWordByte(s[j]) {
			if a, n, ok := parseAddrPrefix(run); ok {
				b.WriteString(s[last:i])
				b.WriteString(r.Addr(a))
				last = i + n
				next = last
			}
		}
		if next == i+1 {
			next = j
		}
		i = next
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// parseAddrPrefix parses a run of address bytes as an address, an IPv4
// address with a port, or either followed by sentence punctuation; it
// returns the address and how many bytes of run it spans.
func parseAddrPrefix(run string) (netip.Addr, int, bool) {
	for _, cand := range []string{run, strings.TrimRight(run, "."), strings.TrimRight(run, ".:")} {
		if !strings.ContainsAny(cand, ".:") {
			continue
		}
		if a, err := netip.ParseAddr(cand); err == nil {
			return a, len(cand), true
		}
		if ap, err := netip.ParseAddrPort(cand); err == nil && ap.Addr().Is4() {
			return ap.Addr(), strings.LastIndexByte(cand, ':'), true
		}
	}
	return netip.Addr{}, 0, false
}

// walkStrings calls fn for every plain string reachable from v.
func walkStrings(v reflect.Value, fn func(string)) {
	switch v.Kind() {
	case reflect.String:
		if v.Type() == stringType {
			fn(v.String())
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if t.Field(i).IsExported() {
				walkStrings(v.Field(i), fn)
			}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), fn)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkStrings(v.Index(i), fn)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walkStrings(it.Key(), fn)
			walkStrings(it.Value(), fn)
		}
	}
}
