package report

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/proto"
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
	reflect.TypeOf(analyze.Connect{}):  "client:string name:string port:uint16 outcome:string reason:uint16 start:struct duration_ms:float64 resolution:slice attempts:slice evidence:slice causes:slice pid:uint32 comm:string resolver:ptr untried:slice",
	reflect.TypeOf(analyze.Resolver{}): "servers:slice candidates:slice",
	reflect.TypeOf(analyze.Query{}):    "name:string type:string server:string rcode:string answers:slice latency_ms:ptr retries:int start:struct error:string transport:string",
	reflect.TypeOf(analyze.Attempt{}):  "client:string server:string outcome:string reason:uint16 facts:ptr syn_count:int retransmits:int rst_from:string rtt_ms:ptr greeting_delay_ms:ptr duration_ms:float64 start:struct events:slice -:ptr evidence:slice causes:slice pid:uint32 comm:string fd:ptr errno:string client_first_byte_ms:ptr server_response_ms:ptr slow:ptr server_side:bool",
	reflect.TypeOf(analyze.Event{}):    "t_ms:float64 kind:string dir:string what:string -:struct EventAttrs:struct",
	reflect.TypeOf(proto.Attrs{}):      "proto:string note:string addr:string n:int bytes:int elapsed_ms:float64 errno:string Detail:ptr Msg:ptr",
	reflect.TypeOf(proto.Detail{}):     "icmp:ptr state_from:string state_to:string pid:uint32 comm:string name:string qtype:string rcode:string alert:string banner:string expected:string drop_reason:string packet:string location:string fd:int32 rst_reason:string",
	reflect.TypeOf(proto.Msg{}):        "code:int sqlstate:string severity:string message:string cut:bool version:string protocol:string id:uint64 auth:string tls:string user:string database:string command:string",
	reflect.TypeOf(proto.ICMP{}):       "from:string v6:bool type:uint8 code:uint8 quoted_seq:uint32 isn:uint32",
	reflect.TypeOf(analyze.Facts{}):    "syns:int elapsed_ms:float64 closed_by:string close:string server_bytes:int client_bytes:int icmp:ptr errno:string -:slice banner:string tls_alert:string lost_at:int would_be:uint16 reply_ms:ptr syn_span_ms:ptr answered_syn:int since_first_syn_ms:ptr after_give_up_ms:ptr quiet_ms:ptr phase:string soft_errors:slice syn_ack_ms:ptr since_last_syn_ms:ptr retransmit_due_ms:ptr since_handshake_ms:ptr since_request_ms:ptr since_server_ms:ptr server_first_ms:ptr client_first_ms:ptr request_acked_ms:ptr client_gave_up_ms:ptr client_close:string server_close:string ended:string next_address:string at_once:bool wire:bool expected:string intended:string protocol:string tls_cut_side:string tls_cut_at:int cut:ptr slow:slice lost:ptr kernel_drop:ptr accept:ptr listeners:ptr rst_sent:ptr",
	reflect.TypeOf(analyze.ICMPFact{}): "from:string v6:bool type:uint8 code:uint8 local:bool from_client:bool",
	reflect.TypeOf(analyze.Slow{}):     "part:string ms:float64",
	// The facts' rarer objects (appendFactObjects).
	reflect.TypeOf(analyze.SoftErrorFact{}): "syn:int at_ms:float64",
	reflect.TypeOf(analyze.CutFact{}):       "from:string at_ms:float64 kept:int len:int",
	reflect.TypeOf(analyze.SlowFact{}):      "part:string step:string ms:float64 acked_ms:ptr",
	reflect.TypeOf(analyze.LostFact{}):      "kernel_events:uint64 packets:uint64 late_events:uint64",
	reflect.TypeOf(analyze.RSTFact{}):       "from:string reason:string answers:string",
	reflect.TypeOf(analyze.DropFact{}):      "reason:string packet:string received:bool location:string dir:string",
	reflect.TypeOf(analyze.AcceptFact{}):    "by:string pid:uint32 queued_ms:ptr handshake_ms:ptr syn_ack_retransmits:int ack_dropped:string",
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
		if !f.IsExported() {
			continue // never encoded
		}
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
	if jc.Kind == "connect" { // every line the Writer writes: no escaping of it
		b = append(b, `{"kind":"connect"`...)
	} else {
		b = appendJSONString(append(b, `{"kind":`...), jc.Kind)
	}
	if jc.Source != "" {
		b = append(b, `,"source":`...)
		b = appendJSONString(b, jc.Source)
	}
	b = append(b, `,"number":`...)
	b = appendInt(b, int64(jc.Number))
	b = append(b, `,"client":`...)
	b = appendJSONString(b, c.Client)
	if c.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, c.Name)
	}
	b = append(b, `,"port":`...)
	b = appendUint(b, uint64(c.Port))
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, string(c.Outcome))
	b = append(b, `,"reason":`...)
	b = appendReasonJSON(b, c.Reason)
	b = append(b, `,"start":`...)
	// An attempt most often starts when its connect does: its start is
	// then copied from the connect's, not formatted again.
	start := textAt{t: c.Start, from: len(b)}
	b = appendJSONTime(b, c.Start)
	start.to = len(b)
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
	// The connect's evidence and causes are most often its decisive
	// attempt's lists themselves (analyze.Explain shares them): those are
	// copied from where the attempt's were written, not escaped again.
	var evidence, causes []byte
	{
		b = append(b, '[')
		for i, a := range c.Attempts {
			if i > 0 {
				b = append(b, ',')
			}
			at := attemptLists{start: start}
			if i < len(jc.words) {
				at.words = &jc.words[i]
			}
			b = appendAttempt(b, a, &at)
			if a != nil {
				ev, ca := at.lists(a)
				if sameList(ev, c.Evidence) {
					evidence = b[at.evidence[0]:at.evidence[1]]
				}
				if sameList(ca, c.Causes) {
					causes = b[at.causes[0]:at.causes[1]]
				}
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"evidence":`...)
	if evidence != nil {
		b = append(b, evidence...)
	} else {
		b = appendJSONStrings(b, c.Evidence)
	}
	b = append(b, `,"causes":`...)
	if causes != nil {
		b = append(b, causes...)
	} else {
		b = appendJSONStrings(b, c.Causes)
	}
	if c.PID != 0 {
		b = append(b, `,"pid":`...)
		b = appendUint(b, uint64(c.PID))
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
	if len(c.Untried) > 0 {
		b = append(b, `,"untried":`...)
		b = appendJSONStrings(b, c.Untried)
	}
	return append(b, "}\n"...), nil
}

// reasonJSON is every reason's id as a JSON string, indexed by the
// reason (made once; ids never change): each connect's and attempt's
// reason is copied, not escaped again.
var reasonJSON = func() []string {
	rs := analyze.Reasons()
	t := make([]string, 1, len(rs)+1)
	t[0] = string(appendJSONString(nil, analyze.Reason(0).String()))
	for _, r := range rs {
		for len(t) <= int(r) {
			t = append(t, "")
		}
		t[r] = string(appendJSONString(nil, r.String()))
	}
	return t
}()

// appendReasonJSON appends r's id as a JSON string.
func appendReasonJSON(b []byte, r analyze.Reason) []byte {
	if int(r) < len(reasonJSON) && reasonJSON[r] != "" {
		return append(b, reasonJSON[r]...)
	}
	return appendJSONString(b, r.String()) // (not in the table: r is no reason, "reason(N)")
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
	b = appendInt(b, int64(q.Retries))
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

// attemptLists is where appendAttempt wrote the attempt's evidence and
// causes in b (start, end). start, when set, is a time already written in
// b (the connect's start). words, when set, are the attempt's evidence
// and causes, made apart from it (analyze.ExplainWords): written instead
// of its own.
type attemptLists struct {
	evidence, causes [2]int
	start            textAt
	words            *analyze.AttemptWords
}

// lists is the evidence and causes appendAttempt writes for a.
func (l *attemptLists) lists(a *analyze.Attempt) (evidence, causes []string) {
	if l.words != nil {
		return l.words.Evidence, l.words.Causes
	}
	return a.Evidence, a.Causes
}

// textAt is time t as appendJSONTime wrote it, at b[from:to].
type textAt struct {
	t        time.Time
	from, to int
}

// sameList says whether x and y are the same non-empty list: the same
// strings in the same memory.
func sameList(x, y []string) bool {
	return len(x) > 0 && len(x) == len(y) && &x[0] == &y[0]
}

func appendAttempt(b []byte, a *analyze.Attempt, lists *attemptLists) []byte {
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
	b = appendReasonJSON(b, a.Reason)
	if a.Facts != nil {
		b = append(b, `,"facts":`...)
		b = appendFacts(b, a.Facts)
	}
	b = append(b, `,"syn_count":`...)
	b = appendInt(b, int64(a.SYNCount))
	b = append(b, `,"retransmits":`...)
	b = appendInt(b, int64(a.Retransmits))
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
	if st := lists.start; st.to > st.from && a.Start == st.t {
		// The same time, the same fields (==, not Equal): the same text.
		b = append(b, b[st.from:st.to]...)
	} else {
		b = appendJSONTime(b, a.Start)
	}
	b = append(b, `,"events":`...)
	{
		b = append(b, '[')
		for i := range a.Events {
			e := &a.Events[i] // by pointer: no copy of each event
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
			if e.What == "" { // not worded yet (Writer.Connect leaves it to here)
				b = appendEventWordsJSON(b, e)
			} else {
				b = appendJSONString(b, e.What)
			}
			b = appendEventAttrs(b, &e.EventAttrs)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if app := a.App; app != nil && app.Info != nil {
		// The protocol's object under its key (analyze.Attempt.MarshalJSON):
		// written by the protocol when it can (proto.JSONAppender), else by
		// encoding/json.
		b = append(b, ',')
		b = append(appendJSONString(b, string(app.Protocol)), ':')
		if w, ok := app.Info.(proto.JSONAppender); ok {
			b = w.AppendJSON(b)
		} else {
			out, err := json.Marshal(app.Info)
			if err != nil {
				out = []byte("null") // (encoding/json's path fails the line instead)
			}
			b = append(b, out...)
		}
	}
	evidence, causes := lists.lists(a)
	b = append(b, `,"evidence":`...)
	lists.evidence[0] = len(b)
	b = appendJSONStrings(b, evidence)
	lists.evidence[1] = len(b)
	b = append(b, `,"causes":`...)
	lists.causes[0] = len(b)
	b = appendJSONStrings(b, causes)
	lists.causes[1] = len(b)
	if a.PID != 0 {
		b = append(b, `,"pid":`...)
		b = appendUint(b, uint64(a.PID))
	}
	if a.Comm != "" {
		b = append(b, `,"comm":`...)
		b = appendJSONString(b, a.Comm)
	}
	if a.FD != nil {
		b = append(b, `,"fd":`...)
		b = appendInt(b, int64(*a.FD))
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
	if a.ServerSide {
		b = append(b, `,"server_side":true`...)
	}
	return append(b, '}')
}

// appendEventAttrs appends a timeline step's facts, each as
// ,"key":value, in the model's field order, leaving out the zero ones
// (their tags are omitempty).
func appendEventAttrs(b []byte, a *proto.Attrs) []byte {
	b = appendOptString(b, `,"proto":`, a.Proto)
	b = appendOptString(b, `,"note":`, a.Note)
	b = appendOptString(b, `,"addr":`, a.Addr)
	b = appendOptInt(b, `,"n":`, int64(a.N))
	b = appendOptInt(b, `,"bytes":`, int64(a.Bytes))
	if a.ElapsedMS != 0 {
		b = appendJSONFloat(append(b, `,"elapsed_ms":`...), a.ElapsedMS)
	}
	b = appendOptString(b, `,"errno":`, a.Errno)
	if d := a.Detail; d != nil {
		b = appendDetail(b, d)
	}
	if m := a.Msg; m != nil {
		b = appendMsg(b, m)
	}
	return b
}

// appendDetail appends the facts of the engine's rarer steps.
func appendDetail(b []byte, d *proto.Detail) []byte {
	if ic := d.ICMP; ic != nil {
		b = append(b, `,"icmp":{"from":`...)
		b = appendJSONString(b, ic.From)
		b = append(b, `,"v6":`...)
		b = strconv.AppendBool(b, ic.V6)
		b = append(b, `,"type":`...)
		b = appendUint(b, uint64(ic.Type))
		b = append(b, `,"code":`...)
		b = appendUint(b, uint64(ic.Code))
		b = appendOptInt(b, `,"quoted_seq":`, int64(ic.QuotedSeq))
		b = appendOptInt(b, `,"isn":`, int64(ic.ISN))
		b = append(b, '}')
	}
	b = appendOptString(b, `,"state_from":`, d.StateFrom)
	b = appendOptString(b, `,"state_to":`, d.StateTo)
	b = appendOptInt(b, `,"pid":`, int64(d.PID))
	b = appendOptString(b, `,"comm":`, d.Comm)
	b = appendOptString(b, `,"name":`, d.Name)
	b = appendOptString(b, `,"qtype":`, d.QType)
	b = appendOptString(b, `,"rcode":`, d.Rcode)
	b = appendOptString(b, `,"alert":`, d.Alert)
	b = appendOptString(b, `,"banner":`, d.Banner)
	b = appendOptString(b, `,"expected":`, d.Expected)
	b = appendOptString(b, `,"drop_reason":`, d.DropReason)
	b = appendOptString(b, `,"packet":`, d.Packet)
	b = appendOptString(b, `,"location":`, d.Location)
	b = appendOptInt(b, `,"fd":`, int64(d.FD))
	return appendOptString(b, `,"rst_reason":`, d.RSTReason)
}

// appendMsg appends a protocol message's facts.
func appendMsg(b []byte, d *proto.Msg) []byte {
	b = appendOptInt(b, `,"code":`, int64(d.Code))
	b = appendOptString(b, `,"sqlstate":`, d.SQLState)
	b = appendOptString(b, `,"severity":`, d.Severity)
	b = appendOptString(b, `,"message":`, d.Message)
	if d.Cut {
		b = append(b, `,"cut":true`...)
	}
	b = appendOptString(b, `,"version":`, d.Version)
	b = appendOptString(b, `,"protocol":`, d.Protocol)
	if d.ID != 0 {
		b = appendUint(append(b, `,"id":`...), d.ID)
	}
	b = appendOptString(b, `,"auth":`, d.Auth)
	b = appendOptString(b, `,"tls":`, d.TLS)
	b = appendOptString(b, `,"user":`, d.User)
	b = appendOptString(b, `,"database":`, d.Database)
	b = appendOptString(b, `,"command":`, d.Command)
	return b
}

// appendOptString appends key and s unless s is empty (omitempty).
func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// appendOptInt appends key and n unless n is 0 (omitempty).
func appendOptInt(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	return appendInt(append(b, key...), n)
}

// appendFacts writes an attempt's facts as encoding/json does (field
// order, omitempty); the listener inventory, rare and nested deeper, goes
// through encoding/json itself.
func appendFacts(b []byte, f *analyze.Facts) []byte {
	b = append(b, '{')
	if f.SYNs != 0 {
		b = append(b, `"syns":`...)
		b = appendInt(b, int64(f.SYNs))
		b = append(b, ',')
	}
	b = append(b, `"elapsed_ms":`...)
	b = appendJSONFloat(b, f.ElapsedMS)
	key := func(name string) {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
	}
	str := func(name, v string) {
		if v != "" {
			key(name)
			b = appendJSONString(b, v)
		}
	}
	num := func(name string, v int64) {
		if v != 0 {
			key(name)
			b = appendInt(b, v)
		}
	}
	dur := func(name string, v *float64) {
		if v != nil {
			key(name)
			b = appendJSONFloat(b, *v)
		}
	}
	flag := func(name string, v bool) {
		if v {
			key(name)
			b = append(b, "true"...)
		}
	}
	raw := func(name string, v any) {
		key(name)
		out, err := json.Marshal(v)
		if err != nil {
			out = []byte("null")
		}
		b = append(b, out...)
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
		b = appendUint(b, uint64(ic.Type))
		b = append(b, `,"code":`...)
		b = appendUint(b, uint64(ic.Code))
		flag("local", ic.Local)
		flag("from_client", ic.FromClient)
		b = append(b, '}')
	}
	str("errno", f.Errno)
	for _, x := range f.App {
		b = append(b, ',')
		b = append(appendJSONString(b, x.Key), ':')
		b = appendJSONValue(b, x.Value)
	}
	str("banner", f.Banner)
	str("tls_alert", f.TLSAlert)
	num("lost_at", int64(f.LostAt))
	if f.WouldBe != 0 {
		str("would_be", f.WouldBe.String())
	}
	dur("reply_ms", f.ReplyMS)
	dur("syn_span_ms", f.SYNSpanMS)
	num("answered_syn", int64(f.AnsweredSYN))
	dur("since_first_syn_ms", f.SinceFirstSYNMS)
	dur("after_give_up_ms", f.AfterGiveUpMS)
	dur("quiet_ms", f.QuietMS)
	str("phase", f.Phase)
	if len(f.SoftErrors) > 0 {
		key("soft_errors")
		b = appendSoftErrors(b, f.SoftErrors)
	}
	dur("syn_ack_ms", f.SYNACKMS)
	dur("since_last_syn_ms", f.SinceLastSYNMS)
	dur("retransmit_due_ms", f.RetransmitDueMS)
	dur("since_handshake_ms", f.SinceHandshakeMS)
	dur("since_request_ms", f.SinceRequestMS)
	dur("since_server_ms", f.SinceServerMS)
	dur("server_first_ms", f.ServerFirstMS)
	dur("client_first_ms", f.ClientFirstMS)
	dur("request_acked_ms", f.RequestAckedMS)
	dur("client_gave_up_ms", f.ClientGaveUpMS)
	str("client_close", f.ClientClose)
	str("server_close", f.ServerClose)
	str("ended", f.Ended)
	str("next_address", f.NextAddress)
	flag("at_once", f.AtOnce)
	flag("wire", f.Wire)
	str("expected", f.Expected)
	str("intended", f.Intended)
	str("protocol", f.Protocol)
	str("tls_cut_side", f.TLSCutSide)
	num("tls_cut_at", int64(f.TLSCutAt))
	if f.Cut != nil {
		key("cut")
		b = appendCut(b, f.Cut)
	}
	if len(f.Slow) > 0 {
		key("slow")
		b = appendSlowFacts(b, f.Slow)
	}
	if f.Lost != nil {
		key("lost")
		b = appendLost(b, f.Lost)
	}
	// kernel_drop and accept come with most live connects: written by
	// hand (a refused connect's NO_SOCKET drop, an accepted one's accept).
	if d := f.KernelDrop; d != nil {
		key("kernel_drop")
		b = append(b, `{"reason":`...)
		b = appendJSONString(b, d.Reason)
		b = append(b, `,"packet":`...)
		b = appendJSONString(b, d.Packet)
		b = append(b, `,"received":`...)
		b = strconv.AppendBool(b, d.Received)
		if d.Location != "" {
			b = append(b, `,"location":`...)
			b = appendJSONString(b, d.Location)
		}
		b = append(b, `,"dir":`...)
		b = appendJSONString(b, string(d.Dir))
		b = append(b, '}')
	}
	if a := f.Accept; a != nil {
		key("accept")
		b = append(b, '{')
		n := len(b)
		field := func(name string) {
			if len(b) > n {
				b = append(b, ',')
			}
			b = append(b, name...)
		}
		if a.By != "" {
			field(`"by":`)
			b = appendJSONString(b, a.By)
		}
		if a.PID != 0 {
			field(`"pid":`)
			b = appendUint(b, uint64(a.PID))
		}
		if a.QueuedMS != nil {
			field(`"queued_ms":`)
			b = appendJSONFloat(b, *a.QueuedMS)
		}
		if a.HandshakeMS != nil {
			field(`"handshake_ms":`)
			b = appendJSONFloat(b, *a.HandshakeMS)
		}
		if a.SYNACKRetransmits != 0 {
			field(`"syn_ack_retransmits":`)
			b = appendInt(b, int64(a.SYNACKRetransmits))
		}
		if a.ACKDropped != "" {
			field(`"ack_dropped":`)
			b = appendJSONString(b, a.ACKDropped)
		}
		b = append(b, '}')
	}
	if f.Listeners != nil {
		raw("listeners", f.Listeners)
	}
	if f.RSTSent != nil {
		key("rst_sent")
		b = appendRSTSent(b, f.RSTSent)
	}
	return append(b, '}')
}

// The facts' rarer objects, as encoding/json writes them (written by hand:
// one encoding/json call costs more than the rest of the line).

func appendSoftErrors(b []byte, ss []analyze.SoftErrorFact) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendInt(append(b, `{"syn":`...), int64(s.SYN))
		b = append(appendJSONFloat(append(b, `,"at_ms":`...), s.AtMS), '}')
	}
	return append(b, ']')
}

func appendCut(b []byte, c *analyze.CutFact) []byte {
	b = appendJSONString(append(b, `{"from":`...), c.From)
	b = appendJSONFloat(append(b, `,"at_ms":`...), c.AtMS)
	b = appendInt(append(b, `,"kept":`...), int64(c.Kept))
	b = appendInt(append(b, `,"len":`...), int64(c.Len))
	return append(b, '}')
}

func appendSlowFacts(b []byte, ss []analyze.SlowFact) []byte {
	b = append(b, '[')
	for i := range ss {
		s := &ss[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(append(b, `{"part":`...), s.Part)
		b = appendJSONString(append(b, `,"step":`...), s.Step)
		b = appendJSONFloat(append(b, `,"ms":`...), s.MS)
		if s.AckedMS != nil {
			b = appendJSONFloat(append(b, `,"acked_ms":`...), *s.AckedMS)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendLost(b []byte, l *analyze.LostFact) []byte {
	b = append(b, '{')
	n := len(b)
	for _, x := range [...]struct {
		key string
		v   uint64
	}{{`"kernel_events":`, l.KernelEvents}, {`"packets":`, l.Packets}, {`"late_events":`, l.LateEvents}} {
		if x.v == 0 {
			continue
		}
		if len(b) > n {
			b = append(b, ',')
		}
		b = appendUint(append(b, x.key...), x.v)
	}
	return append(b, '}')
}

func appendRSTSent(b []byte, r *analyze.RSTFact) []byte {
	b = appendJSONString(append(b, `{"from":`...), r.From)
	b = appendOptString(b, `,"reason":`, r.Reason)
	b = appendOptString(b, `,"answers":`, r.Answers)
	return append(b, '}')
}

// appendJSONValue appends a protocol fact's value (proto.Fact: a string
// or an integer) as encoding/json writes it.
func appendJSONValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v)
	case uint8:
		return appendUint(b, uint64(v))
	case uint16:
		return appendUint(b, uint64(v))
	case uint32:
		return appendUint(b, uint64(v))
	case uint64:
		return appendUint(b, v)
	case int:
		return appendInt(b, int64(v))
	case int32:
		return appendInt(b, int64(v))
	case int64:
		return appendInt(b, v)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, out...)
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
	if u := t.Unix(); u >= 0 && u < 253402300800 && t.Location() == time.UTC {
		// The model's times (UTC, 1970 to 9999) without t.Year(), which
		// costs as much as the date appendRFC3339NanoUTC makes.
		b = append(b, '"')
		b = appendRFC3339NanoUTC(b, t)
		return append(b, '"')
	}
	if y := t.Year(); y < 0 || y > 9999 {
		// encoding/json refuses these; keep the line valid.
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = appendRFC3339NanoUTC(b, t)
	return append(b, '"')
}

// appendRFC3339NanoUTC is t.AppendFormat(b, time.RFC3339Nano), written
// by hand for the model's times (UTC, from 1970 to 9999): every connect
// line has several, and the by-hand date costs less than half of
// AppendFormat's. Other times go through AppendFormat
// (TestAppendRFC3339NanoUTC compares the two).
func appendRFC3339NanoUTC(b []byte, t time.Time) []byte {
	u := t.Unix()
	if t.Location() != time.UTC || u < 0 || u >= 253402300800 { // 10000-01-01
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	days, secs := u/86400, int(u%86400)
	// The civil date of a day number (H. Hinnant, "chrono-Compatible
	// Low-Level Date Algorithms"), for days >= 0: eras of 400 years from
	// 0000-03-01.
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	year := int(yoe + era*400)
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := int(doy - (153*mp+2)/5 + 1)
	month := int(mp + 3)
	if month > 12 {
		month -= 12
	}
	if month <= 2 {
		year++
	}
	var buf [30]byte // 2006-01-02T15:04:05.999999999Z
	d := buf[:20]
	put2 := func(i, v int) { d[i], d[i+1] = byte('0'+v/10), byte('0'+v%10) }
	put2(0, year/100)
	put2(2, year%100)
	d[4] = '-'
	put2(5, month)
	d[7] = '-'
	put2(8, day)
	d[10] = 'T'
	put2(11, secs/3600)
	d[13] = ':'
	put2(14, secs/60%60)
	d[16] = ':'
	put2(17, secs%60)
	if ns := t.Nanosecond(); ns != 0 {
		d = buf[:29]
		d[19] = '.'
		for i := 28; i >= 20; i-- {
			d[i] = byte('0' + ns%10)
			ns /= 10
		}
		for d[len(d)-1] == '0' { // RFC3339Nano drops trailing zeros
			d = d[:len(d)-1]
		}
		d = d[:len(d)+1]
	}
	d[len(d)-1] = 'Z'
	return append(b, d...)
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
	if f == 0 && !math.Signbit(f) {
		return append(b, '0')
	}
	// The model's floats are milliseconds made from nanoseconds
	// (proto.MSOf): whole multiples of 1e-6 for which the shortest
	// representation is the decimal k/1e6 itself, written here from the
	// integer without strconv's shortest-digit search. That holds when f
	// is the double nearest to k/1e6 (checked) and doubles that far from
	// zero are less than 1e-6 apart (|f| < 1e9; 2^33 would do), so no
	// other multiple of 1e-6 maps to f.
	// (RoundToEven: one instruction on amd64, where Round is not; which
	// integer a tie goes to does not matter, the check decides.)
	if f != 0 && f > -1e9 && f < 1e9 {
		if k := math.RoundToEven(f * 1e6); k/1e6 == f {
			return appendMicros(b, int64(k))
		}
	}
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

// appendMicros writes n millionths as a decimal without trailing zeros:
// 1500000 as 1.5, -2 as -0.000002. Every connect line has a dozen of
// them: the whole part (appendUint) and the six digits of the fraction
// are written straight into b, each digit from its own division by a
// constant (not one after the other), and the fraction's trailing zeros
// dropped by shortening b.
func appendMicros(b []byte, n int64) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	whole, frac := uint64(n)/1e6, uint64(n)%1e6
	b = appendUint(b, whole)
	if frac == 0 {
		return b
	}
	at := len(b)
	b = slices.Grow(b, 7)
	d := (*[7]byte)(b[at : at+7])
	d[0] = '.'
	d[1] = byte('0' + frac/100000)
	d[2] = byte('0' + frac/10000%10)
	d[3] = byte('0' + frac/1000%10)
	d[4] = byte('0' + frac/100%10)
	d[5] = byte('0' + frac/10%10)
	d[6] = byte('0' + frac%10)
	k := 7
	for d[k-1] == '0' { // (frac != 0: a digit that is not 0 stops it)
		k--
	}
	return b[:at+k]
}

// appendJSONString appends s as encoding/json writes a string.
func appendJSONString(b []byte, s string) []byte { return proto.AppendJSONString(b, s) }

// appendEventWordsJSON appends EventWords(e) as a JSON string. A
// handshake step's words, and a protocol's that has AppendWords, are
// written straight into b, then escaped there when they need it (rarely:
// a quoted name).
func appendEventWordsJSON(b []byte, e *analyze.Event) []byte {
	n := len(b)
	if e.Proto != "" {
		if words := analyze.ProtocolAppendWords(e.Proto); words != nil {
			if b = words(append(b, '"'), string(e.Kind), proto.Dir(e.Dir), &e.EventAttrs); len(b) > n+1 {
				return quoteWordsJSON(b, n)
			}
			b = b[:n] // no words of the protocol's: EventWords has others
		}
	} else if out, ok := appendStepWords(append(b, '"'), e); ok {
		if plainStepWords(e) {
			return append(out, '"')
		}
		return quoteWordsJSON(out, n)
	}
	return appendJSONString(b[:n], EventWords(e))
}

// plainStepWords says, without reading them, that e's words
// (appendStepWords) go into a JSON string as they are: e is of a kind
// whose words are only plain ASCII of their own, numbers, and e's address
// and errno, and those two are plain (JSONPlain). Most of a timeline's
// steps are (the handshake's, FIN and RST): their words are not scanned
// again after they were written.
func plainStepWords(e *analyze.Event) bool {
	switch e.Kind {
	case analyze.EvSYN, analyze.EvSYNRetransmit, analyze.EvSYNACK, analyze.EvFIN, analyze.EvRST, analyze.EvClientGaveUp,
		analyze.EvKernelConnect, analyze.EvKernelError, analyze.EvKernelRetrans, analyze.EvKernelRST:
		return proto.JSONPlainString(e.Addr) && proto.JSONPlainString(e.Errno)
	}
	return false
}

// quoteWordsJSON makes b[n:], a quote and words as they are, a JSON
// string: the closing quote when nothing needs escaping (JSONVerbatim:
// also words with an arrow or a dash), else the words from the first
// character that needs it (JSONVerbatimPrefix: the part before is
// scanned once) escaped after them and moved over them.
func quoteWordsJSON(b []byte, n int) []byte {
	raw := b[n+1:]
	i := proto.JSONVerbatimPrefix(raw)
	if i == len(raw) {
		return append(b, '"')
	}
	at := n + 1 + i // where the escaped rest goes
	end := len(b)
	b = proto.AppendJSONBytes(b, raw[i:]) // "rest escaped"
	at += copy(b[at:], b[end+1:])         // without its opening quote
	return b[:at]
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

// appendInt is strconv.AppendInt(b, n, 10): see appendUint.
func appendInt(b []byte, n int64) []byte {
	if n < 0 {
		return strconv.AppendInt(b, n, 10) // (rare: no model count is negative)
	}
	return appendUint(b, uint64(n))
}

// appendUint is strconv.AppendUint(b, n, 10) with the digits written
// straight into b's memory, each from a division by a constant: a connect
// line has a dozen small numbers (counts, ports, its number), and
// strconv formats each in a buffer of its own and copies it (a memmove
// call), some 4% of writing a line.
func appendUint(b []byte, n uint64) []byte {
	var d int // digits
	switch {
	case n < 10:
		return append(b, byte('0'+n))
	case n < 100:
		return append(b, byte('0'+n/10), byte('0'+n%10))
	case n < 1000:
		d = 3
	case n < 10000:
		d = 4
	case n < 100000:
		d = 5
	case n < 1000000:
		d = 6
	case n < 10000000:
		d = 7
	default:
		return strconv.AppendUint(b, n, 10)
	}
	at := len(b)
	b = slices.Grow(b, d)[:at+d]
	for i := at + d - 1; i > at; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	b[at] = byte('0' + n)
	return b
}
