package report

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/connscope/connscope/analyze"
)

// A connect line is written by hand rather than by encoding/json: on a big
// capture the report is on the hot path. Measured (make bench's generated
// capture, 1.2 M packets, 6032 connects): 1.5 µs per connect here against
// 7.3-10 µs through encoding/json (BenchmarkJSONConnect vs
// BenchmarkJSONConnectEncodingJSON), and `analyze --format json` takes
// 0.17 s CPU / 0.18 s wall against 0.20 s / 0.29 s (best of 5) — more than
// the 10% the design allows. The output is byte for byte what
// encoding/json writes for jsonConnect: tests check it on every fixture, on
// a connect with every field set, and on every connect of every lab
// capture, plain and redacted (json_test.go).
//
// Lists (resolution, attempts, events, evidence, causes, answers) are
// always arrays, never null, so consumers can iterate without a check.
//
// If analyze's model gains, loses or retypes a field, fastJSON turns false
// at start-up and every line goes through encoding/json again — correct
// output first; the test then fails until appendConnect is brought up to
// date.

// jsonFields lists, per model type, the JSON names and Go kinds
// appendConnect knows, in field order.
var jsonFields = map[reflect.Type]string{
	reflect.TypeOf(analyze.Connect{}):  "client:string name:string port:uint16 outcome:string reason:uint16 start:struct duration_ms:float64 resolution:slice attempts:slice evidence:slice causes:slice pid:uint32 comm:string resolver:ptr",
	reflect.TypeOf(analyze.Resolver{}): "servers:slice candidates:slice",
	reflect.TypeOf(analyze.Query{}):    "name:string type:string server:string rcode:string answers:slice latency_ms:ptr retries:int start:struct error:string transport:string",
	reflect.TypeOf(analyze.Attempt{}):  "client:string server:string outcome:string reason:uint16 facts:ptr syn_count:int retransmits:int rst_from:string rtt_ms:ptr greeting_delay_ms:ptr duration_ms:float64 start:struct events:slice mysql:ptr postgres:ptr evidence:slice causes:slice pid:uint32 comm:string fd:ptr errno:string client_first_byte_ms:ptr server_response_ms:ptr slow:ptr",
	reflect.TypeOf(analyze.Event{}):    "t_ms:float64 kind:string dir:string what:string -:struct",
	reflect.TypeOf(analyze.Facts{}):    "syns:int elapsed_ms:float64 closed_by:string close:string server_bytes:int client_bytes:int icmp:ptr errno:string mysql_error:uint16 sqlstate:string banner:string tls_alert:string lost_at:int would_be:uint16 kernel_drop:ptr accept:ptr",
	reflect.TypeOf(analyze.ICMPFact{}): "from:string v6:bool type:uint8 code:uint8",
	reflect.TypeOf(analyze.Slow{}):     "part:string ms:float64",
	reflect.TypeOf(analyze.MySQL{}):    "protocol:uint8 server_version:string connection_id:uint32 auth_plugin:string tls_offered:ptr tls_requested:bool encrypted:bool user:string error_code:uint16 sqlstate:string error_message:string error_message_cut:bool",

	// The server's side (facts.kernel_drop, facts.accept).
	reflect.TypeOf(analyze.DropFact{}):   "reason:string packet:string received:bool location:string",
	reflect.TypeOf(analyze.AcceptFact{}): "by:string pid:uint32 queued_ms:ptr",
}

// fastJSON reports whether the model still has exactly the fields
// appendConnect writes.
var fastJSON = modelMatches()

func modelMatches() bool {
	for t, want := range jsonFields {
		if describeFields(t) != want {
			return false
		}
	}
	return true
}

// describeFields renders t's fields as "jsonname:kind ..." for comparison
// with jsonFields.
func describeFields(t reflect.Type) string {
	var parts []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		parts = append(parts, name+":"+f.Type.Kind().String())
	}
	return strings.Join(parts, " ")
}

// appendConnectLine appends the JSON line of jc (with its newline). Lists
// are never null: a missing list is written as [].
func appendConnectLine(b []byte, jc jsonConnect) ([]byte, error) {
	if !fastJSON {
		c := *jc.Connect
		transform{emptySlices: true}.apply(reflect.ValueOf(&c).Elem())
		jc.Connect = &c
		out, err := json.Marshal(jc)
		if err != nil {
			return b, err
		}
		return append(append(b, out...), '\n'), nil
	}
	c := jc.Connect
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, jc.Kind)
	if jc.Source != "" {
		b = append(b, `,"source":`...)
		b = appendJSONString(b, jc.Source)
	}
	b = append(b, `,"number":`...)
	b = strconv.AppendInt(b, int64(jc.Number), 10)
	b = append(b, `,"client":`...)
	b = appendJSONString(b, c.Client)
	if c.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, c.Name)
	}
	b = append(b, `,"port":`...)
	b = strconv.AppendUint(b, uint64(c.Port), 10)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, string(c.Outcome))
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, c.Reason.String())
	b = append(b, `,"start":`...)
	b = appendJSONTime(b, c.Start)
	b = append(b, `,"duration_ms":`...)
	b = appendJSONFloat(b, c.DurationMS)
	b = append(b, `,"resolution":`...)
	{
		b = append(b, '[')
		for i := range c.Resolution {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuery(b, &c.Resolution[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"attempts":`...)
	{
		b = append(b, '[')
		for i, a := range c.Attempts {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAttempt(b, a)
		}
		b = append(b, ']')
	}
	b = append(b, `,"evidence":`...)
	b = appendJSONStrings(b, c.Evidence)
	b = append(b, `,"causes":`...)
	b = appendJSONStrings(b, c.Causes)
	if c.PID != 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendUint(b, uint64(c.PID), 10)
	}
	if c.Comm != "" {
		b = append(b, `,"comm":`...)
		b = appendJSONString(b, c.Comm)
	}
	if r := c.Resolver; r != nil {
		b = append(b, `,"resolver":{`...)
		first := true
		if len(r.Servers) > 0 {
			b = append(b, `"servers":`...)
			b = appendJSONStrings(b, r.Servers)
			first = false
		}
		if len(r.Candidates) > 0 {
			if !first {
				b = append(b, ',')
			}
			b = append(b, `"candidates":`...)
			b = appendJSONStrings(b, r.Candidates)
		}
		b = append(b, '}')
	}
	return append(b, "}\n"...), nil
}

func appendQuery(b []byte, q *analyze.Query) []byte {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, q.Name)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, q.Type)
	b = append(b, `,"server":`...)
	b = appendJSONString(b, q.Server)
	b = append(b, `,"rcode":`...)
	b = appendJSONString(b, q.Rcode)
	b = append(b, `,"answers":`...)
	b = appendJSONStrings(b, q.Answers)
	b = append(b, `,"latency_ms":`...)
	b = appendJSONFloatPtr(b, q.LatencyMS)
	b = append(b, `,"retries":`...)
	b = strconv.AppendInt(b, int64(q.Retries), 10)
	b = append(b, `,"start":`...)
	b = appendJSONTime(b, q.Start)
	if q.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, q.Error)
	}
	b = append(b, `,"transport":`...)
	b = appendJSONString(b, q.Transport)
	return append(b, '}')
}

func appendAttempt(b []byte, a *analyze.Attempt) []byte {
	if a == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"client":`...)
	b = appendJSONString(b, a.Client)
	b = append(b, `,"server":`...)
	b = appendJSONString(b, a.Server)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, string(a.Outcome))
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, a.Reason.String())
	if a.Facts != nil {
		b = append(b, `,"facts":`...)
		b = appendFacts(b, a.Facts)
	}
	b = append(b, `,"syn_count":`...)
	b = strconv.AppendInt(b, int64(a.SYNCount), 10)
	b = append(b, `,"retransmits":`...)
	b = strconv.AppendInt(b, int64(a.Retransmits), 10)
	if a.RSTFrom != "" {
		b = append(b, `,"rst_from":`...)
		b = appendJSONString(b, a.RSTFrom)
	}
	b = append(b, `,"rtt_ms":`...)
	b = appendJSONFloatPtr(b, a.RTTMS)
	b = append(b, `,"greeting_delay_ms":`...)
	b = appendJSONFloatPtr(b, a.GreetingDelayMS)
	b = append(b, `,"duration_ms":`...)
	b = appendJSONFloat(b, a.DurationMS)
	b = append(b, `,"start":`...)
	b = appendJSONTime(b, a.Start)
	b = append(b, `,"events":`...)
	{
		b = append(b, '[')
		for i, e := range a.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"t_ms":`...)
			b = appendJSONFloat(b, e.TMS)
			b = append(b, `,"kind":`...)
			b = appendJSONString(b, string(e.Kind))
			if e.Dir != "" {
				b = append(b, `,"dir":`...)
				b = appendJSONString(b, string(e.Dir))
			}
			b = append(b, `,"what":`...)
			b = appendJSONString(b, e.What)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if m := a.MySQL; m != nil {
		b = append(b, `,"mysql":`...)
		b = appendMySQL(b, m)
	}
	if p := a.Postgres; p != nil {
		// Rare (PostgreSQL attempts only): encoding/json writes it (it
		// cannot fail: strings and bools).
		out, _ := json.Marshal(p)
		b = append(append(b, `,"postgres":`...), out...)
	}
	b = append(b, `,"evidence":`...)
	b = appendJSONStrings(b, a.Evidence)
	b = append(b, `,"causes":`...)
	b = appendJSONStrings(b, a.Causes)
	if a.PID != 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendUint(b, uint64(a.PID), 10)
	}
	if a.Comm != "" {
		b = append(b, `,"comm":`...)
		b = appendJSONString(b, a.Comm)
	}
	if a.FD != nil {
		b = append(b, `,"fd":`...)
		b = strconv.AppendInt(b, int64(*a.FD), 10)
	}
	if a.Errno != "" {
		b = append(b, `,"errno":`...)
		b = appendJSONString(b, a.Errno)
	}
	if a.ClientFirstByteMS != nil {
		b = append(b, `,"client_first_byte_ms":`...)
		b = appendJSONFloatPtr(b, a.ClientFirstByteMS)
	}
	if a.ServerResponseMS != nil {
		b = append(b, `,"server_response_ms":`...)
		b = appendJSONFloatPtr(b, a.ServerResponseMS)
	}
	if a.Slow != nil {
		b = append(b, `,"slow":{"part":`...)
		b = appendJSONString(b, a.Slow.Part)
		b = append(b, `,"ms":`...)
		b = appendJSONFloat(b, a.Slow.MS)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendFacts(b []byte, f *analyze.Facts) []byte {
	b = append(b, '{')
	if f.SYNs != 0 {
		b = append(b, `"syns":`...)
		b = strconv.AppendInt(b, int64(f.SYNs), 10)
		b = append(b, ',')
	}
	b = append(b, `"elapsed_ms":`...)
	b = appendJSONFloat(b, f.ElapsedMS)
	str := func(name, v string) {
		if v != "" {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = appendJSONString(b, v)
		}
	}
	num := func(name string, v int64) {
		if v != 0 {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = strconv.AppendInt(b, v, 10)
		}
	}
	str("closed_by", f.ClosedBy)
	str("close", f.Close)
	num("server_bytes", int64(f.ServerBytes))
	num("client_bytes", int64(f.ClientBytes))
	if ic := f.ICMP; ic != nil {
		b = append(b, `,"icmp":{"from":`...)
		b = appendJSONString(b, ic.From)
		b = append(b, `,"v6":`...)
		b = strconv.AppendBool(b, ic.V6)
		b = append(b, `,"type":`...)
		b = strconv.AppendUint(b, uint64(ic.Type), 10)
		b = append(b, `,"code":`...)
		b = strconv.AppendUint(b, uint64(ic.Code), 10)
		b = append(b, '}')
	}
	str("errno", f.Errno)
	num("mysql_error", int64(f.MySQLError))
	str("sqlstate", f.SQLState)
	str("banner", f.Banner)
	str("tls_alert", f.TLSAlert)
	num("lost_at", int64(f.LostAt))
	if f.WouldBe != 0 {
		str("would_be", f.WouldBe.String())
	}
	if d := f.KernelDrop; d != nil {
		b = append(b, `,"kernel_drop":{"reason":`...)
		b = appendJSONString(b, d.Reason)
		b = append(b, `,"packet":`...)
		b = appendJSONString(b, d.Packet)
		b = append(b, `,"received":`...)
		b = strconv.AppendBool(b, d.Received)
		str("location", d.Location)
		b = append(b, '}')
	}
	if ac := f.Accept; ac != nil {
		b = append(b, `,"accept":{`...)
		n := len(b)
		sep := func() {
			if len(b) > n {
				b = append(b, ',')
			}
		}
		if ac.By != "" {
			b = append(b, `"by":`...)
			b = appendJSONString(b, ac.By)
		}
		if ac.PID != 0 {
			sep()
			b = append(b, `"pid":`...)
			b = strconv.AppendUint(b, uint64(ac.PID), 10)
		}
		if ac.QueuedMS != nil {
			sep()
			b = append(b, `"queued_ms":`...)
			b = appendJSONFloat(b, *ac.QueuedMS)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendMySQL(b []byte, m *analyze.MySQL) []byte {
	start := len(b)
	b = append(b, '{')
	sep := func() {
		if len(b) > start+1 {
			b = append(b, ',')
		}
	}
	if m.Protocol != 0 {
		sep()
		b = append(b, `"protocol":`...)
		b = strconv.AppendUint(b, uint64(m.Protocol), 10)
	}
	if m.ServerVersion != "" {
		sep()
		b = append(b, `"server_version":`...)
		b = appendJSONString(b, m.ServerVersion)
	}
	if m.ConnectionID != 0 {
		sep()
		b = append(b, `"connection_id":`...)
		b = strconv.AppendUint(b, uint64(m.ConnectionID), 10)
	}
	if m.AuthPlugin != "" {
		sep()
		b = append(b, `"auth_plugin":`...)
		b = appendJSONString(b, m.AuthPlugin)
	}
	if m.TLSOffered != nil {
		sep()
		b = append(b, `"tls_offered":`...)
		b = strconv.AppendBool(b, *m.TLSOffered)
	}
	if m.TLSRequested {
		sep()
		b = append(b, `"tls_requested":true`...)
	}
	if m.Encrypted {
		sep()
		b = append(b, `"encrypted":true`...)
	}
	if m.User != "" {
		sep()
		b = append(b, `"user":`...)
		b = appendJSONString(b, m.User)
	}
	if m.ErrorCode != 0 {
		sep()
		b = append(b, `"error_code":`...)
		b = strconv.AppendUint(b, uint64(m.ErrorCode), 10)
	}
	if m.SQLState != "" {
		sep()
		b = append(b, `"sqlstate":`...)
		b = appendJSONString(b, m.SQLState)
	}
	if m.ErrorMessage != "" {
		sep()
		b = append(b, `"error_message":`...)
		b = appendJSONString(b, m.ErrorMessage)
	}
	if m.ErrorMessageCut {
		sep()
		b = append(b, `"error_message_cut":true`...)
	}
	return append(b, '}')
}

func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

func appendJSONTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		// encoding/json refuses these; keep the line valid.
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendJSONFloatPtr(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, "null"...)
	}
	return appendJSONFloat(b, *f)
}

// appendJSONFloat formats f as encoding/json does (shortest repr, 'e'
// notation only for very small or large magnitudes).
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does by default: HTML-safe
// (<, >, & escaped), invalid UTF-8 as U+FFFD, U+2028/U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// modelTypes lists the types jsonFields covers, for tests.
func modelTypes() []reflect.Type {
	var ts []reflect.Type
	for t := range jsonFields {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b reflect.Type) int { return strings.Compare(a.Name(), b.Name()) })
	return ts
}
