package report

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
)

// Command lines and file names under redaction.
//
// CommandLine pseudonymises what a client's command line says about where
// it connects: hosts (-h H, -hH, --host=H, --host H, host=H, URL hosts),
// users (-u U, -U U, --user=U, --username, user=U, URL user info), database
// names (-D, -d, --database, --dbname, dbname=, the positional database of
// mysql/mariadb and psql, a database URL's path) and addresses, with the
// same pseudonyms as the rest of the report. It knows the option grammar of
// the MySQL/MariaDB clients and psql and the pg_* tools, URLs in any
// argument, libpq conninfo strings and PDO DSNs (host=…;dbname=…). Inside
// free text (an -e statement, php -r code, a sh -c script: a script is split
// into words and parsed again) it replaces every name, user and address the
// report has learned, every address literal, and every quoted literal that
// looks like a host name ("db01.example.com"). Passwords are masked again
// (--password=, -pX for MySQL clients, password=, URL passwords), although
// the caller masks them first.
//
// A file name becomes capture-1, capture-2, ... (one per distinct name), and
// every later occurrence of the name in a text (an error naming the file)
// is replaced too.

// optKind is what an option's value is.
type optKind uint8

const (
	optNone     optKind = iota
	optValue            // kept, as free text
	optHost             // one host, or a comma-separated list
	optUser             // a user name
	optDB               // a database name, URL or conninfo string
	optPassword         // masked
)

type clientSpec struct {
	short      map[byte]optKind
	long       map[string]optKind
	positional []optKind
	mysqlP     bool // -p takes its value attached only (-pSECRET); -p alone prompts
}

var mysqlClient = &clientSpec{
	short: map[byte]optKind{'h': optHost, 'u': optUser, 'D': optDB, 'P': optValue, 'S': optValue, 'e': optValue, 'p': optPassword},
	long: map[string]optKind{
		"host": optHost, "user": optUser, "database": optDB, "port": optValue, "socket": optValue,
		"execute": optValue, "password": optPassword, "defaults-file": optValue, "defaults-extra-file": optValue,
		"default-character-set": optValue, "init-command": optValue, "connect-timeout": optValue,
		"protocol": optValue, "ssl-ca": optValue, "ssl-cert": optValue, "ssl-key": optValue,
		"ssl-cipher": optValue, "tee": optValue, "prompt": optValue, "delimiter": optValue,
		"bind-address": optValue, "plugin-dir": optValue, "default-auth": optValue,
		"max-allowed-packet": optValue, "login-path": optValue, "character-sets-dir": optValue,
	},
	positional: []optKind{optDB},
	mysqlP:     true,
}

var psqlClient = &clientSpec{
	short: map[byte]optKind{'h': optHost, 'U': optUser, 'd': optDB, 'p': optValue, 'c': optValue, 'f': optValue,
		'v': optValue, 'P': optValue, 'o': optValue, 'L': optValue, 'T': optValue, 'F': optValue, 'R': optValue},
	long: map[string]optKind{
		"host": optHost, "username": optUser, "dbname": optDB, "port": optValue, "command": optValue,
		"file": optValue, "set": optValue, "variable": optValue, "pset": optValue, "output": optValue,
		"log-file": optValue, "table-attr": optValue, "field-separator": optValue, "record-separator": optValue,
	},
	positional: []optKind{optDB, optUser},
}

// genericLong are the long options read in any program's arguments (e.g.
// lab/client.php --host H --user U).
var genericLong = map[string]optKind{
	"host": optHost, "hostname": optHost, "server": optHost, "user": optUser, "username": optUser,
	"database": optDB, "dbname": optDB, "db": optDB, "password": optPassword, "passwd": optPassword, "pass": optPassword,
}

// clientOf returns the option grammar of a program, by its base name.
func clientOf(word string) *clientSpec {
	if word == "" || strings.ContainsAny(word, " \t\n=:'\"") {
		return nil
	}
	base := filepath.Base(word)
	switch {
	case base == "mysql" || base == "mariadb" || strings.HasPrefix(base, "mysql") && !strings.Contains(base, ".") ||
		strings.HasPrefix(base, "mariadb-"):
		return mysqlClient
	case base == "psql" || strings.HasPrefix(base, "pg_") || base == "createdb" || base == "dropdb":
		return psqlClient
	}
	return nil
}

// CommandLine returns a redacted copy of argv (see above).
func (r *Redactor) CommandLine(argv []string) []string {
	// The first pass learns every name, user and database, so that the
	// second replaces a name also where it appears before its option.
	r.redactWords(argv, 0, true)
	return r.redactWords(argv, 0, true)
}

// maxDepth bounds scripts inside scripts (sh -c 'sh -c "..."').
const maxDepth = 4

// redactWords redacts the words of a command line: option values by the
// grammar, and (with free) every other word as free text.
func (r *Redactor) redactWords(words []string, depth int, free bool) []string {
	out := make([]string, len(words))
	copy(out, words)
	done := make([]bool, len(words)) // structurally redacted: no free-text pass
	var (
		spec    *clientSpec
		pos     int
		endOpts bool
	)
	set := func(i int, v string) { out[i], done[i] = v, true }
	for i := 0; i < len(words); i++ {
		w := words[i]
		if s := clientOf(w); s != nil && (spec == nil || endOpts || pos > 0 || i == 0) {
			spec, pos, endOpts = s, 0, false
			done[i] = true
			continue
		}
		if isShellOperator(w) {
			spec = nil
			continue
		}
		if w == "--" {
			endOpts = true
			continue
		}
		if !endOpts && strings.HasPrefix(w, "--") && len(w) > 2 {
			name, val, eq := strings.Cut(w[2:], "=")
			kind := optNone
			if spec != nil {
				kind = spec.long[name]
			}
			if kind == optNone {
				kind = genericLong[name]
			}
			switch {
			case kind == optNone:
			case eq:
				set(i, "--"+name+"="+r.optionValue(kind, val, depth))
			case kind == optPassword && spec != nil:
				// --password alone prompts (mysql) or forces a prompt (psql).
			case i+1 < len(words):
				set(i+1, r.optionValue(kind, words[i+1], depth))
				i++
			}
			continue
		}
		if spec != nil && !endOpts && len(w) > 1 && w[0] == '-' {
		cluster:
			for j := 1; j < len(w); j++ {
				kind := spec.short[w[j]]
				if kind == optNone {
					continue
				}
				switch {
				case spec.mysqlP && w[j] == 'p':
					if j+1 < len(w) {
						set(i, w[:j+1]+maskedPassword)
					}
				case j+1 < len(w):
					set(i, w[:j+1]+r.optionValue(kind, w[j+1:], depth))
				case i+1 < len(words):
					set(i+1, r.optionValue(kind, words[i+1], depth))
					i++
				}
				break cluster
			}
			continue
		}
		if spec != nil {
			if pos < len(spec.positional) {
				set(i, r.optionValue(spec.positional[pos], w, depth))
			}
			pos++
		}
	}
	for i := range out {
		if free && !done[i] {
			out[i] = r.freeText(out[i], depth)
		}
	}
	return out
}

const maskedPassword = "***"

func isShellOperator(w string) bool {
	switch w {
	case ";", "&&", "||", "|", "&", "(", ")", "\n":
		return true
	}
	return false
}

// optionValue redacts an option's value by its kind.
func (r *Redactor) optionValue(kind optKind, v string, depth int) string {
	switch kind {
	case optHost:
		return r.hostList(v)
	case optUser:
		if v == "" {
			return v
		}
		r.learnUser(v)
		return r.users[v]
	case optDB:
		switch {
		case strings.Contains(v, "://"):
			return r.url(v)
		case strings.Contains(v, "="):
			return r.keywords(v)
		case v == "":
			return v
		}
		return r.db(v)
	case optPassword:
		return maskedPassword
	}
	return r.freeText(v, depth)
}

// hostList redacts a host or a comma-separated list of hosts (psql -h),
// each possibly with a port.
func (r *Redactor) hostList(v string) string {
	parts := strings.Split(v, ",")
	for i, h := range parts {
		parts[i] = r.hostPort(h)
	}
	return strings.Join(parts, ",")
}

// hostPort redacts "host", "host:port", "[v6]:port" or a bare address.
func (r *Redactor) hostPort(h string) string {
	if h == "" || h == "localhost" || strings.HasPrefix(h, "/") || h == "%" {
		return h // a unix socket directory, or nothing to hide
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		if strings.HasPrefix(h, "[") {
			return "[" + r.Addr(a) + "]"
		}
		return r.Addr(a)
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		p := r.Addr(ap.Addr())
		if strings.HasPrefix(h, "[") {
			p = "[" + p + "]"
		}
		return p + h[strings.LastIndexByte(h, ':'):]
	}
	host, port := h, ""
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[:i], ":") {
		host, port = h[:i], h[i:]
	}
	if host == "localhost" {
		return h
	}
	r.learnName(host)
	if p, ok := r.names[normalizeName(host)]; ok {
		return p + port
	}
	return h
}

func (r *Redactor) db(v string) string {
	if _, ok := r.dbs[v]; !ok {
		r.dbs[v] = fmt.Sprintf("db-%d", len(r.dbs)+1)
	}
	return r.dbs[v]
}

// dbSchemes are URL schemes whose path names a database.
var dbSchemes = map[string]bool{
	"mysql": true, "mariadb": true, "mysqlx": true, "postgres": true, "postgresql": true,
	"jdbc:mysql": true, "jdbc:mariadb": true, "jdbc:postgresql": true, "mongodb": true, "mongodb+srv": true,
}

// url redacts scheme://user:pw@host:port,host2/db?k=v.
func (r *Redactor) url(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	scheme, rest := u[:i], u[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	var b strings.Builder
	b.WriteString(scheme + "://")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user, _, hasPw := strings.Cut(authority[:at], ":")
		if user != "" {
			r.learnUser(user)
			user = r.users[user]
		}
		b.WriteString(user)
		if hasPw {
			b.WriteString(":" + maskedPassword)
		}
		b.WriteByte('@')
		authority = authority[at+1:]
	}
	b.WriteString(r.hostList(authority))
	path, query, hasQuery := strings.Cut(tail, "?")
	if dbSchemes[strings.ToLower(scheme)] && len(path) > 1 {
		name, more, _ := strings.Cut(path[1:], "/")
		if name != "" {
			path = "/" + r.db(name)
			if more != "" {
				path += "/" + more
			}
		}
	}
	b.WriteString(path)
	if hasQuery {
		b.WriteString("?" + r.keywords(query))
	}
	return b.String()
}

// keywordValue matches key=value pairs of libpq conninfo strings, PDO DSNs
// (mysql:host=h;dbname=d) and URL queries.
var keywordValue = regexp.MustCompile(`(?i)\b(host|hostaddr|server|user|username|uid|dbname|database|password|passwd|pwd)=('[^']*'|"[^"]*"|[^\s;&'",)]*)`)

// keywords redacts the values of host=, user=, dbname=, password= (and
// their synonyms) wherever they appear in s.
func (r *Redactor) keywords(s string) string {
	return keywordValue.ReplaceAllStringFunc(s, func(m string) string {
		k, v, _ := strings.Cut(m, "=")
		q := ""
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
			q, v = v[:1], v[1:len(v)-1]
		}
		if v == "" {
			return m
		}
		switch strings.ToLower(k) {
		case "host", "hostaddr", "server":
			v = r.hostList(v)
		case "user", "username", "uid":
			r.learnUser(v)
			v = r.users[v]
		case "dbname", "database":
			v = r.db(v)
		default:
			v = maskedPassword
		}
		return k + "=" + q + v + q
	})
}

// urlPattern finds URLs in free text.
var urlPattern = regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.:-]*://[^\s'"<>]+`)

// quotedHostname finds quoted literals shaped like a host name.
var quotedHostname = regexp.MustCompile(`["'\x60]([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)["'\x60]`)

// fileExtensions are last labels that make a dotted literal a file name.
var fileExtensions = map[string]bool{
	"php": true, "sql": true, "sock": true, "conf": true, "cnf": true, "txt": true, "log": true, "json": true,
	"sh": true, "py": true, "pem": true, "crt": true, "key": true, "ini": true, "csv": true, "gz": true,
	"pcap": true, "pcapng": true, "html": true, "js": true, "xml": true, "yml": true, "yaml": true, "so": true,
}

// freeText redacts an argument that is not an option value the grammar
// knows: a script is split into words and parsed as a command line; URLs,
// key=value pairs, host-name literals, and what Text replaces.
func (r *Redactor) freeText(s string, depth int) string {
	if s == "" {
		return s
	}
	if depth < maxDepth && strings.ContainsAny(s, " \t\n") {
		s = r.script(s, depth+1)
	}
	s = urlPattern.ReplaceAllStringFunc(s, r.url)
	s = r.keywords(s)
	for _, m := range quotedHostname.FindAllStringSubmatch(s, -1) {
		labels := strings.Split(m[1], ".")
		last := labels[len(labels)-1]
		if len(last) >= 2 && strings.Trim(strings.ToLower(last), "abcdefghijklmnopqrstuvwxyz") == "" && !fileExtensions[strings.ToLower(last)] {
			r.learnName(m[1])
		}
	}
	return r.Text(s)
}

// script parses a shell-like text (sh -c, or any argument with spaces) as
// words and redacts those the command-line grammar recognises, in place:
// everything else in s is left as it was.
func (r *Redactor) script(s string, depth int) string {
	words, spans := shellWords(s)
	if len(words) < 2 {
		return s
	}
	red := r.redactWords(words, depth, false)
	var b strings.Builder
	last := 0
	for i, w := range red {
		if w == words[i] {
			continue
		}
		b.WriteString(s[last:spans[i][0]])
		b.WriteString(QuoteArgs([]string{w}))
		last = spans[i][1]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// shellWords splits s as a POSIX shell would split a simple command line
// (quotes, backslashes; ; | & ( ) and newlines as separate words), and
// returns each word with its byte span in s.
func shellWords(s string) ([]string, [][2]int) {
	var (
		words []string
		spans [][2]int
		cur   strings.Builder
		start = -1
	)
	flush := func(end int) {
		if start >= 0 {
			words = append(words, cur.String())
			spans = append(spans, [2]int{start, end})
			cur.Reset()
			start = -1
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush(i)
		case c == '\n' || c == ';' || c == '|' || c == '&' || c == '(' || c == ')':
			flush(i)
			words = append(words, string(c))
			spans = append(spans, [2]int{i, i + 1})
		case c == '\'':
			if start < 0 {
				start = i
			}
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, nil // unbalanced: not a script
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			if start < 0 {
				start = i
			}
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				cur.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, nil
			}
			i = j
		case c == '\\' && i+1 < len(s):
			if start < 0 {
				start = i
			}
			cur.WriteByte(s[i+1])
			i++
		default:
			if start < 0 {
				start = i
			}
			cur.WriteByte(c)
		}
	}
	flush(len(s))
	return words, spans
}

// replaceQuoted replaces values of m where they appear quoted ('v', "v", `v`).
func (r *Redactor) replaceQuoted(s string, m map[string]string) string {
	if len(m) == 0 || !strings.ContainsAny(s, "'\"`") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\'' && c != '"' && c != '`' {
			continue
		}
		j := strings.IndexByte(s[i+1:], c)
		if j < 0 {
			break
		}
		if p, ok := m[s[i+1:i+1+j]]; ok {
			b.WriteString(s[last : i+1])
			b.WriteString(p)
			last = i + 1 + j
		}
		i += j + 1 // the closing quote
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// Source returns how a source name is shown under redaction: "live" and
// "stdin" as they are, a file name as capture-N.
func (r *Redactor) Source(name string) string {
	switch name {
	case "", "live", "stdin":
		return name
	}
	if p, ok := r.sources[name]; ok {
		return p
	}
	p := fmt.Sprintf("capture-%d", len(r.sources)+1)
	r.sources[name] = p
	return p
}

// replaceSources replaces file names (and their base names) learned by
// Source, longest first.
func (r *Redactor) replaceSources(s string) string {
	if len(r.sources) == 0 {
		return s
	}
	type pair struct{ from, to string }
	var pairs []pair
	for name, p := range r.sources {
		pairs = append(pairs, pair{name, p})
		if base := filepath.Base(name); base != name && base != "." && base != "/" {
			pairs = append(pairs, pair{base, p})
		}
	}
	// Longest first, so that a path is replaced before its base name.
	for i := 1; i < len(pairs); i++ {
		for j := i; j > 0 && len(pairs[j].from) > len(pairs[j-1].from); j-- {
			pairs[j], pairs[j-1] = pairs[j-1], pairs[j]
		}
	}
	for _, p := range pairs {
		if strings.Contains(s, p.from) {
			s = strings.ReplaceAll(s, p.from, p.to)
		}
	}
	return s
}

// QuoteArgs joins args so that a shell would split them back the same way.
func QuoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@+%", r))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
