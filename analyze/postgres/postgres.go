// Package postgres decodes the PostgreSQL connection phase (frontend/backend
// protocol 3.0, and the version-2 error text servers still send to clients
// they refuse early): the client's SSLRequest, GSSENCRequest, CancelRequest
// and StartupMessage, the password-family messages that follow, and the
// server's one-byte answers to SSLRequest/GSSENCRequest, Authentication
// requests, ErrorResponse and NoticeResponse, ParameterStatus,
// BackendKeyData, ReadyForQuery and NegotiateProtocolVersion.
//
// It owns the framing rules (which messages carry a type byte, which a
// length, which neither), the limits a connection-phase message must respect,
// the SQLSTATEs that explain a refused connect (SQLStateInfo), and the list of
// identifying strings in a message for redaction (Identifiers). It decides no
// outcome: that is the analyzer's job.
//
// It keeps only what explains a connect: protocol versions, parameter names
// and values, authentication methods and SASL mechanism names, error fields,
// process ids. Passwords, SASL and GSSAPI exchanges, MD5 salts and cancel
// secret keys are never copied out of the input.
//
// The decoders are pure functions over bytes. NextClient and NextServer take
// the first message off a stream and say ErrShort when it is not complete
// yet (wait for more bytes); ClientTruncated and ServerTruncated decode what
// is present of a message that will not be completed (a snap length cut it,
// or the connection ended) and mark it Truncated. Every function takes
// untrusted bytes, never panics and reports malformed input as an error
// wrapping ErrNotPostgres. When such a message was framed correctly (its
// length is plausible and all there) and only its content is wrong, Next*
// also return its size n > 0, so that a caller can step over it, and the
// fields decoded before the problem.
package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/connscope/connscope/analyze/proto"
)

// Request codes of the untyped first messages (they sit where a
// StartupMessage carries its protocol version).
const (
	CodeCancelRequest = 80877102 // 1234.5678
	CodeSSLRequest    = 80877103 // 1234.5679
	CodeGSSENCRequest = 80877104 // 1234.5680
	ProtocolV3        = 3 << 16  // 3.0
)

// Limits of the connection phase.
const (
	// MaxStartup is the server's MAX_STARTUP_PACKET_LENGTH: it refuses
	// longer untyped first messages.
	MaxStartup = 10000
	// MaxErrorLen is the most an ErrorResponse or NoticeResponse may
	// announce (libpq uses the same bound). An 'E' whose next byte is not
	// 0 is read as the version-2 error text a server sends before it
	// knows the client's protocol.
	MaxErrorLen = 30000
	// MaxAuthLen bounds Authentication requests (GSSAPI tokens are the
	// largest; libpq itself gives up on a first request over 2000 bytes).
	MaxAuthLen = 65536
	// MaxMessage bounds any other typed message (PostgreSQL's own limit
	// on a message is 1 GB; connection-phase messages are tiny, but the
	// decoder also steps over the first query's results).
	MaxMessage = 1 << 30
	// maxText bounds strings kept from one field.
	maxText = 2048
	// maxSmall bounds ParameterStatus and NegotiateProtocolVersion.
	maxSmall = 1 << 14
)

var (
	// ErrShort means more bytes are needed before the message can be
	// decoded: wait for them (or, when none will come, use the
	// *Truncated decoders).
	ErrShort = errors.New("postgres: message incomplete")
	// ErrNotPostgres means the bytes are not a valid connection-phase
	// message; the wrapping error says what is wrong where.
	ErrNotPostgres = errors.New("postgres: not a PostgreSQL message")
)

// Kind names a message of the connection phase.
type Kind uint8

const (
	KindOther                    Kind = iota // a typed message this package does not decode (Type says which)
	KindSSLRequest                           // client: 1234.5679
	KindGSSENCRequest                        // client: 1234.5680
	KindCancelRequest                        // client: 1234.5678
	KindStartup                              // client: StartupMessage
	KindPassword                             // client 'p': PasswordMessage, SASLResponse or GSSResponse (which depends on the server's last Authentication request)
	KindSASLInitialResponse                  // client 'p' shaped as a SASLInitialResponse
	KindTerminate                            // client 'X'
	KindAnswer                               // server: the one byte answering SSLRequest or GSSENCRequest (Answer)
	KindAuth                                 // server 'R'
	KindError                                // server 'E'
	KindNotice                               // server 'N'
	KindParameterStatus                      // server 'S'
	KindBackendKeyData                       // server 'K'
	KindReadyForQuery                        // server 'Z'
	KindNegotiateProtocolVersion             // server 'v'
)

var kindNames = [...]string{"other", "SSLRequest", "GSSENCRequest", "CancelRequest", "StartupMessage",
	"PasswordMessage", "SASLInitialResponse", "Terminate", "Answer", "Authentication", "ErrorResponse",
	"NoticeResponse", "ParameterStatus", "BackendKeyData", "ReadyForQuery", "NegotiateProtocolVersion"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// AuthType is the code of an Authentication request.
type AuthType uint32

const (
	AuthOk                AuthType = 0
	AuthKerberosV5        AuthType = 2
	AuthCleartextPassword AuthType = 3
	AuthMD5Password       AuthType = 5
	AuthGSS               AuthType = 7
	AuthGSSContinue       AuthType = 8
	AuthSSPI              AuthType = 9
	AuthSASL              AuthType = 10
	AuthSASLContinue      AuthType = 11
	AuthSASLFinal         AuthType = 12
)

var authNames = map[AuthType]string{
	AuthOk: "Ok", AuthKerberosV5: "KerberosV5", AuthCleartextPassword: "CleartextPassword",
	AuthMD5Password: "MD5Password", AuthGSS: "GSS", AuthGSSContinue: "GSSContinue", AuthSSPI: "SSPI",
	AuthSASL: "SASL", AuthSASLContinue: "SASLContinue", AuthSASLFinal: "SASLFinal",
}

func (a AuthType) String() string {
	if s, ok := authNames[a]; ok {
		return s
	}
	return fmt.Sprintf("AuthType(%d)", uint32(a))
}

// Param is one StartupMessage parameter.
type Param struct{ Name, Value string }

// ErrorFields are the fields of an ErrorResponse or NoticeResponse. The
// version-2 error text sets only Message (and Severity when it starts with
// one).
type ErrorFields struct {
	Severity  string // S: localized
	SeverityV string // V: never localized (9.6+)
	Code      string // C: SQLSTATE
	Message   string // M
	Detail    string // D
	Hint      string // H
	File      string // F: server source file
	Line      string // L
	Routine   string // R
	// Other holds the remaining fields by their code (P, W, s, t, …); nil
	// when there are none.
	Other map[byte]string
}

// Message is one decoded message. Only the fields of its Kind are set.
type Message struct {
	Kind Kind
	// Type is the message's type byte ('R', 'E', 'p', …), the answer byte
	// for KindAnswer, 0 for the untyped first messages.
	Type byte
	// Length is the length the message announces (its length field,
	// which counts itself), 0 for an answer or a version-2 error.
	Length int
	// Truncated is set by the *Truncated decoders when the message ended
	// before its announced length: the fields before the cut are set, the
	// last string may be cut short.
	Truncated bool

	// StartupMessage (and the protocol a CancelRequest etc. is not).
	ProtocolMajor, ProtocolMinor uint16
	// Params of a StartupMessage, in order; a "password" parameter (no
	// client sends one) is dropped.
	Params []Param
	// ProcessID of a CancelRequest or BackendKeyData (the secret key is
	// never kept).
	ProcessID uint32

	// Authentication request: the type, and for AuthSASL the offered
	// mechanisms. Salts and SASL/GSS data are not kept.
	Auth       AuthType
	Mechanisms []string
	// Mechanism chosen by a SASLInitialResponse.
	Mechanism string

	// ErrorResponse / NoticeResponse.
	Error *ErrorFields
	// V2Error is set when the error came as version-2 text ('E' and a
	// NUL-terminated string, no length): what a server sends to a client
	// it refuses before knowing its protocol version.
	V2Error bool

	// ParameterStatus.
	Name, Value string
	// ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' failed transaction.
	TxStatus byte
	// NegotiateProtocolVersion: the newest version the server supports as
	// sent, and the protocol options it did not recognise. The protocol
	// documentation calls the field the newest minor version, but
	// PostgreSQL 15 sends the whole version code (196608 = 3.0): see
	// NewestMinor.
	Newest       uint32
	Unrecognized []string

	// Answer to SSLRequest/GSSENCRequest: 'S' (TLS follows), 'N' (no),
	// 'G' (GSSAPI encryption follows). An 'E' answer is a KindError.
	Answer byte
}

// Param returns the value of a StartupMessage parameter ("" when absent).
func (m *Message) Param(name string) string {
	for _, p := range m.Params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// NewestMinor returns the minor version of a NegotiateProtocolVersion's
// Newest field, whether the server sent a bare minor version (as documented)
// or a whole version code (as PostgreSQL does).
func (m *Message) NewestMinor() uint16 { return uint16(m.Newest) }

func (m *Message) String() string {
	switch m.Kind {
	case KindStartup:
		return fmt.Sprintf("StartupMessage %d.%d user=%q database=%q", m.ProtocolMajor, m.ProtocolMinor, m.Param("user"), m.Param("database"))
	case KindAuth:
		return "Authentication" + m.Auth.String()
	case KindError, KindNotice:
		if m.Error != nil {
			return fmt.Sprintf("%s %s %s: %s", m.Kind, m.Error.Severity, m.Error.Code, m.Error.Message)
		}
	case KindAnswer:
		return fmt.Sprintf("Answer %q", m.Answer)
	case KindOther:
		return fmt.Sprintf("message %q (%d bytes)", m.Type, m.Length)
	}
	return m.Kind.String()
}

// NextClient decodes the first client message in b and returns it with the
// number of bytes it occupies. startup says that the next message is an
// untyped one: the connection's first, or the StartupMessage after an 'N'
// answer to SSLRequest/GSSENCRequest. err is ErrShort when b does not hold
// the whole message yet.
func NextClient(b []byte, startup bool) (Message, int, error) {
	return client(b, startup, false)
}

// ClientTruncated decodes what b holds of a client message that will not be
// completed; Truncated is set when the message was cut. It returns ErrShort
// only when b does not even hold the message's framing.
func ClientTruncated(b []byte, startup bool) (Message, error) {
	m, _, err := client(b, startup, true)
	return m, err
}

// NextServer decodes the first server message in b and returns it with the
// number of bytes it occupies. answer says that the client's last message
// was an SSLRequest or GSSENCRequest, so a single answer byte comes next.
// err is ErrShort when b does not hold the whole message yet.
func NextServer(b []byte, answer bool) (Message, int, error) {
	return server(b, answer, false)
}

// ServerTruncated decodes what b holds of a server message that will not be
// completed (see ClientTruncated): the severity and SQLSTATE of an
// ErrorResponse whose message text was cut, for example.
func ServerTruncated(b []byte, answer bool) (Message, error) {
	m, _, err := server(b, answer, true)
	return m, err
}

func client(b []byte, startup, cut bool) (Message, int, error) {
	var m Message
	if startup {
		if len(b) < 8 {
			return m, 0, ErrShort
		}
		length := int(binary.BigEndian.Uint32(b))
		code := binary.BigEndian.Uint32(b[4:])
		if length < 8 || length > MaxStartup {
			return m, 0, fmt.Errorf("%w: untyped first message announces %d bytes (8 to %d allowed)", ErrNotPostgres, length, MaxStartup)
		}
		m.Length = length
		body, n, err := frameBody(b, 0, length, cut)
		if err != nil {
			return Message{}, 0, err
		}
		m.Truncated = cut && len(b) < length
		err = decodeUntyped(&m, code, body[4:])
		return m, n, err
	}
	if len(b) < 5 {
		if cut && len(b) > 0 {
			return m, 0, fmt.Errorf("%w: %d bytes of a message header", ErrShort, len(b))
		}
		return m, 0, ErrShort
	}
	m.Type = b[0]
	length := int(binary.BigEndian.Uint32(b[1:]))
	limit := MaxMessage
	if m.Type == 'p' {
		limit = MaxAuthLen
	}
	if length < 4 || length > limit {
		return m, 0, fmt.Errorf("%w: client message %q announces %d bytes (4 to %d allowed)", ErrNotPostgres, m.Type, length, limit)
	}
	m.Length = length
	body, n, err := frameBody(b, 1, length, cut)
	if err != nil {
		return Message{}, 0, err
	}
	m.Truncated = cut && len(b) < 1+length
	switch m.Type {
	case 'p':
		// Cut before the end of its mechanism name, a SASLInitialResponse
		// reads as KindPassword: which it is takes the whole name.
		m.Kind = KindPassword
		// SASLInitialResponse: mechanism NUL, int32 length (-1 = none), data.
		if i := indexNUL(body, 64); i > 0 && proto.Printable(body[:i]) && len(body) >= i+5 {
			dl := int32(binary.BigEndian.Uint32(body[i+1:]))
			if dl == -1 && len(body) == i+5 || dl >= 0 && (int(dl) == len(body)-i-5 || m.Truncated && int(dl) > len(body)-i-5) {
				m.Kind = KindSASLInitialResponse
				m.Mechanism = string(body[:i])
			}
		}
	case 'X':
		m.Kind = KindTerminate
		if length != 4 {
			return m, 0, fmt.Errorf("%w: Terminate announces %d bytes, not 4", ErrNotPostgres, length)
		}
	}
	return m, n, nil
}

// frameBody returns the bytes after the length field of a message whose
// length field starts at b[off] (off = 1 for typed messages, 0 for untyped),
// and the bytes the message occupies. With cut, a partial body is returned.
func frameBody(b []byte, off, length int, cut bool) ([]byte, int, error) {
	end := off + length
	if len(b) < end {
		if !cut {
			return nil, 0, ErrShort
		}
		return b[off+4:], len(b), nil
	}
	return b[off+4 : end], end, nil
}

func decodeUntyped(m *Message, code uint32, body []byte) error {
	switch code {
	case CodeSSLRequest, CodeGSSENCRequest:
		if m.Length != 8 {
			return fmt.Errorf("%w: SSLRequest/GSSENCRequest of %d bytes, not 8", ErrNotPostgres, m.Length)
		}
		m.Kind = KindSSLRequest
		if code == CodeGSSENCRequest {
			m.Kind = KindGSSENCRequest
		}
		return nil
	case CodeCancelRequest:
		if m.Length != 16 {
			return fmt.Errorf("%w: CancelRequest of %d bytes, not 16", ErrNotPostgres, m.Length)
		}
		m.Kind = KindCancelRequest
		if len(body) >= 4 {
			m.ProcessID = binary.BigEndian.Uint32(body)
		}
		return nil
	}
	m.ProtocolMajor, m.ProtocolMinor = uint16(code>>16), uint16(code)
	if m.ProtocolMajor < 1 || m.ProtocolMajor > 3 {
		return fmt.Errorf("%w: untyped first message with code %d.%d (not a protocol version or request code)", ErrNotPostgres, m.ProtocolMajor, m.ProtocolMinor)
	}
	m.Kind = KindStartup
	if m.ProtocolMajor < 3 {
		return nil // version 1/2 layout (fixed 64/32-byte fields): the server refuses it anyway
	}
	// name NUL value NUL … NUL
	for len(body) > 0 {
		if body[0] == 0 {
			if len(body) != 1 && !m.Truncated {
				return fmt.Errorf("%w: %d bytes after the StartupMessage's final NUL", ErrNotPostgres, len(body)-1)
			}
			return nil
		}
		i := indexNUL(body, len(body))
		if i < 0 {
			if m.Truncated {
				return nil // the cut parameter name tells nothing
			}
			return fmt.Errorf("%w: StartupMessage parameter name not terminated", ErrNotPostgres)
		}
		name := body[:i]
		body = body[i+1:]
		j := indexNUL(body, len(body))
		var value []byte
		if j < 0 {
			if !m.Truncated {
				return fmt.Errorf("%w: StartupMessage parameter %q has no terminated value", ErrNotPostgres, proto.CleanText(name))
			}
			value, body = body, nil
		} else {
			value, body = body[:j], body[j+1:]
		}
		if strings.EqualFold(string(name), "password") {
			continue
		}
		m.Params = append(m.Params, Param{Name: proto.CleanText(name), Value: proto.CleanText(value)})
	}
	if !m.Truncated {
		return fmt.Errorf("%w: StartupMessage without its final NUL", ErrNotPostgres)
	}
	return nil
}

func server(b []byte, answer, cut bool) (Message, int, error) {
	var m Message
	if len(b) == 0 {
		return m, 0, ErrShort
	}
	if answer {
		switch b[0] {
		case 'S', 'N', 'G':
			m.Kind, m.Type, m.Answer = KindAnswer, b[0], b[0]
			return m, 1, nil
		case 'E':
		default:
			return m, 0, fmt.Errorf("%w: answer byte %q to SSLRequest/GSSENCRequest (want S, N, G or E)", ErrNotPostgres, b[0])
		}
	}
	// A version-2 error is 'E' and text; the length of an ErrorResponse
	// (at most MaxErrorLen) starts with a zero byte.
	if b[0] == 'E' && len(b) > 1 && b[1] != 0 {
		return v2Error(b, cut)
	}
	if len(b) < 5 {
		return m, 0, ErrShort
	}
	m.Type = b[0]
	length := int(binary.BigEndian.Uint32(b[1:]))
	limit := MaxMessage
	switch m.Type {
	case 'E', 'N':
		limit = MaxErrorLen
	case 'R':
		limit = MaxAuthLen
	case 'S', 'v':
		limit = maxSmall
	case 'K', 'Z':
		limit = 12
	}
	if length < 4 || length > limit {
		return m, 0, fmt.Errorf("%w: server message %q announces %d bytes (4 to %d allowed)", ErrNotPostgres, m.Type, length, limit)
	}
	m.Length = length
	body, n, err := frameBody(b, 1, length, cut)
	if err != nil {
		return Message{}, 0, err
	}
	m.Truncated = cut && len(b) < 1+length
	err = decodeTyped(&m, body)
	return m, n, err
}

// v2Error decodes 'E' followed by a NUL-terminated text.
func v2Error(b []byte, cut bool) (Message, int, error) {
	m := Message{Kind: KindError, Type: 'E', V2Error: true}
	text := b[1:]
	i := indexNUL(text, MaxErrorLen)
	n := 0
	switch {
	case i >= 0:
		text, n = text[:i], i+2
	case len(text) > MaxErrorLen:
		return Message{}, 0, fmt.Errorf("%w: 'E' is neither an ErrorResponse (bad length) nor a version-2 error (no NUL in %d bytes)", ErrNotPostgres, MaxErrorLen)
	case !cut:
		if !v2Printable(text) {
			return Message{}, 0, fmt.Errorf("%w: 'E' is neither an ErrorResponse (bad length) nor a version-2 error (unprintable text)", ErrNotPostgres)
		}
		return Message{}, 0, ErrShort
	default:
		m.Truncated = true
	}
	if !v2Printable(text) {
		return Message{}, 0, fmt.Errorf("%w: 'E' is neither an ErrorResponse (bad length) nor a version-2 error (unprintable text)", ErrNotPostgres)
	}
	t := strings.TrimRight(string(text), "\n")
	f := &ErrorFields{}
	if sev, rest, ok := strings.Cut(t, ":  "); ok && isSeverity(sev) {
		f.Severity, t = sev, rest
	}
	f.Message = clip(proto.CleanText([]byte(t)))
	m.Error = f
	if n == 0 {
		n = len(b)
	}
	return m, n, nil
}

// v2Printable: version-2 error texts are lines of printable text.
func v2Printable(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func isSeverity(s string) bool {
	switch s {
	case "ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", "DEBUG", "INFO", "LOG":
		return true
	}
	return false
}

func decodeTyped(m *Message, body []byte) error {
	switch m.Type {
	case 'R':
		return decodeAuth(m, body)
	case 'E', 'N':
		m.Kind = KindError
		if m.Type == 'N' {
			m.Kind = KindNotice
		}
		return decodeFields(m, body)
	case 'S':
		m.Kind = KindParameterStatus
		r := reader{b: body}
		name, ok := r.str()
		if !ok {
			if m.Truncated {
				return nil
			}
			return fmt.Errorf("%w: ParameterStatus name not terminated", ErrNotPostgres)
		}
		m.Name = name
		value, ok := r.str()
		if !ok {
			if m.Truncated {
				m.Value = clip(proto.CleanText(r.rest()))
				return nil
			}
			return fmt.Errorf("%w: ParameterStatus %q value not terminated", ErrNotPostgres, name)
		}
		m.Value = value
		return r.end(m, "ParameterStatus")
	case 'K':
		m.Kind = KindBackendKeyData
		if m.Length != 12 {
			return fmt.Errorf("%w: BackendKeyData of %d bytes, not 12", ErrNotPostgres, m.Length)
		}
		if len(body) >= 4 {
			m.ProcessID = binary.BigEndian.Uint32(body)
		}
		return nil
	case 'Z':
		m.Kind = KindReadyForQuery
		if m.Length != 5 {
			return fmt.Errorf("%w: ReadyForQuery of %d bytes, not 5", ErrNotPostgres, m.Length)
		}
		if len(body) == 1 {
			m.TxStatus = body[0]
			if m.TxStatus != 'I' && m.TxStatus != 'T' && m.TxStatus != 'E' {
				return fmt.Errorf("%w: ReadyForQuery status %q (want I, T or E)", ErrNotPostgres, m.TxStatus)
			}
		}
		return nil
	case 'v':
		m.Kind = KindNegotiateProtocolVersion
		r := reader{b: body}
		minor, ok1 := r.u32()
		count, ok2 := r.u32()
		if !ok1 || !ok2 {
			if m.Truncated {
				m.Newest = minor
				return nil
			}
			return fmt.Errorf("%w: NegotiateProtocolVersion shorter than 8 bytes", ErrNotPostgres)
		}
		m.Newest = minor
		if int64(count) > int64(len(body)) {
			if !m.Truncated {
				return fmt.Errorf("%w: NegotiateProtocolVersion lists %d options in %d bytes", ErrNotPostgres, count, len(body))
			}
		}
		for i := uint32(0); i < count; i++ {
			s, ok := r.str()
			if !ok {
				if m.Truncated {
					return nil
				}
				return fmt.Errorf("%w: NegotiateProtocolVersion option %d not terminated", ErrNotPostgres, i)
			}
			m.Unrecognized = append(m.Unrecognized, s)
		}
		return r.end(m, "NegotiateProtocolVersion")
	}
	m.Kind = KindOther
	return nil
}

func decodeAuth(m *Message, body []byte) error {
	m.Kind = KindAuth
	r := reader{b: body}
	code, ok := r.u32()
	if !ok {
		if m.Truncated {
			return nil
		}
		return fmt.Errorf("%w: Authentication request shorter than 8 bytes", ErrNotPostgres)
	}
	m.Auth = AuthType(code)
	if want, ok := authFixedLen[m.Auth]; ok {
		if m.Length != want {
			return fmt.Errorf("%w: Authentication%s of %d bytes, not %d", ErrNotPostgres, m.Auth, m.Length, want)
		}
		return nil // the MD5 salt is not kept
	}
	switch m.Auth {
	case AuthGSSContinue, AuthSASLContinue, AuthSASLFinal:
		return nil // data not kept
	case AuthSASL:
		for {
			s, ok := r.str()
			if !ok {
				if m.Truncated {
					return nil
				}
				return fmt.Errorf("%w: AuthenticationSASL mechanism list not terminated", ErrNotPostgres)
			}
			if s == "" {
				return r.end(m, "AuthenticationSASL")
			}
			m.Mechanisms = append(m.Mechanisms, s)
		}
	}
	return fmt.Errorf("%w: unknown Authentication request type %d", ErrNotPostgres, code)
}

// authFixedLen are the announced lengths of the Authentication requests
// without variable data.
var authFixedLen = map[AuthType]int{AuthOk: 8, AuthKerberosV5: 8, AuthCleartextPassword: 8,
	AuthMD5Password: 12, AuthGSS: 8, AuthSSPI: 8}

func decodeFields(m *Message, body []byte) error {
	f := &ErrorFields{}
	m.Error = f
	r := reader{b: body}
	for {
		code, ok := r.u8()
		if !ok {
			if m.Truncated {
				return nil
			}
			return fmt.Errorf("%w: %s without its final NUL", ErrNotPostgres, m.Kind)
		}
		if code == 0 {
			return r.end(m, m.Kind.String())
		}
		v, ok := r.str()
		if !ok {
			if !m.Truncated {
				return fmt.Errorf("%w: %s field %q not terminated", ErrNotPostgres, m.Kind, code)
			}
			v = clip(proto.CleanText(r.rest())) // the cut value is kept: it is what the capture holds
		}
		switch code {
		case 'S':
			f.Severity = v
		case 'V':
			f.SeverityV = v
		case 'C':
			f.Code = v
		case 'M':
			f.Message = v
		case 'D':
			f.Detail = v
		case 'H':
			f.Hint = v
		case 'F':
			f.File = v
		case 'L':
			f.Line = v
		case 'R':
			f.Routine = v
		default:
			if f.Other == nil {
				f.Other = make(map[byte]string)
			}
			f.Other[code] = v
		}
		if !ok {
			return nil
		}
	}
}

// LooksLikeClientStart says whether b starts like the first message of a
// PostgreSQL client: an SSLRequest or GSSENCRequest (exactly 8 bytes
// announced), a CancelRequest (16), or a protocol 3.0 StartupMessage whose
// first parameter name is printable (protocol 3.x, or 2.0 which servers
// refuse with an error worth seeing). It needs 8 bytes.
func LooksLikeClientStart(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	length := binary.BigEndian.Uint32(b)
	code := binary.BigEndian.Uint32(b[4:])
	switch {
	case code == CodeSSLRequest || code == CodeGSSENCRequest:
		return length == 8
	case code == CodeCancelRequest:
		return length == 16
	case code>>16 == 3 || code == 2<<16:
		if length < 9 || length > MaxStartup {
			return false
		}
		// The first parameter name: printable up to its NUL (or the end of b).
		p := b[8:min(len(b), int(length))]
		if len(p) == 0 {
			return true
		}
		if p[0] == 0 {
			return length == 9 // an empty parameter list
		}
		i := indexNUL(p, len(p))
		if i < 0 {
			i = len(p)
		}
		return proto.Printable(p[:i])
	}
	return false
}

// LooksLikeServerReply says whether b starts like what a PostgreSQL server
// sends first: a one-byte answer to SSLRequest/GSSENCRequest ('S' followed by
// nothing or a TLS record, 'N' or 'G' alone or followed by a reply below), an
// Authentication request, an ErrorResponse whose first field is a severity
// or SQLSTATE, a version-2 error text ("FATAL:  …"), or a
// NegotiateProtocolVersion.
func LooksLikeServerReply(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case 'S':
		return len(b) == 1 || b[1] == 0x16 // TLS handshake record
	case 'N':
		if len(b) == 1 {
			return true
		}
		return looksLikeFirstTyped(b[1:])
	case 'G':
		return len(b) == 1
	}
	return looksLikeFirstTyped(b)
}

func looksLikeFirstTyped(b []byte) bool {
	if len(b) < 6 {
		return false
	}
	length := binary.BigEndian.Uint32(b[1:])
	switch b[0] {
	case 'R':
		if length < 8 || length > 2000 || len(b) < 9 {
			return false
		}
		_, known := authNames[AuthType(binary.BigEndian.Uint32(b[5:]))]
		return known
	case 'E':
		if length < 8 || length > MaxErrorLen {
			return strings.HasPrefix(string(b[1:]), "FATAL:  ") || strings.HasPrefix(string(b[1:]), "ERROR:  ")
		}
		return b[5] == 'S' || b[5] == 'V' || b[5] == 'C'
	case 'v':
		if length < 12 || length > maxSmall || len(b) < 9 {
			return false
		}
		newest := binary.BigEndian.Uint32(b[5:]) // a bare minor, or 3.x as PostgreSQL sends it
		return newest>>16 == 0 || newest>>16 == 3
	}
	return false
}

// Identifiers lists the strings in m that identify a person, a host or a
// database, for a redactor to pseudonymise: a StartupMessage's user,
// database, application_name, options and any parameter this package does not
// know to be harmless; a ParameterStatus's session_authorization and
// application_name; the double-quoted names in an error's message, detail and
// hint (`password authentication failed for user "lab"`, `no pg_hba.conf
// entry for host "192.0.2.10", user "lab", database "secret"`). Empty strings
// and duplicates are left out.
func Identifiers(m Message) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	switch m.Kind {
	case KindStartup:
		for _, p := range m.Params {
			if !harmlessParam[strings.ToLower(p.Name)] {
				add(p.Value)
			}
		}
	case KindParameterStatus:
		if m.Name == "session_authorization" || m.Name == "application_name" {
			add(m.Value)
		}
	case KindError, KindNotice:
		if m.Error != nil {
			for _, s := range []string{m.Error.Message, m.Error.Detail, m.Error.Hint} {
				for _, q := range quoted(s) {
					add(q)
				}
			}
		}
	}
	return out
}

// harmlessParam are StartupMessage parameters whose values identify nobody.
var harmlessParam = map[string]bool{
	"client_encoding": true, "datestyle": true, "intervalstyle": true, "timezone": true,
	"extra_float_digits": true, "replication": true, "standard_conforming_strings": true,
	"lc_messages": true, "geqo": true,
}

// quoted returns the double-quoted substrings of s. A quote that is not
// closed (a cut message) yields the rest of s.
func quoted(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			return out
		}
		s = s[i+1:]
		j := strings.IndexByte(s, '"')
		if j < 0 {
			return append(out, s)
		}
		out = append(out, s[:j])
		s = s[j+1:]
	}
}

type reader struct {
	b   []byte
	off int
}

func (r *reader) rest() []byte { return r.b[r.off:] }

func (r *reader) u8() (byte, bool) {
	if r.off >= len(r.b) {
		return 0, false
	}
	r.off++
	return r.b[r.off-1], true
}

func (r *reader) u32() (uint32, bool) {
	if len(r.b)-r.off < 4 {
		return 0, false
	}
	r.off += 4
	return binary.BigEndian.Uint32(r.b[r.off-4:]), true
}

// str reads a NUL-terminated string, cleaned and clipped to maxText.
func (r *reader) str() (string, bool) {
	rest := r.b[r.off:]
	i := indexNUL(rest, len(rest))
	if i < 0 {
		return "", false
	}
	r.off += i + 1
	return clip(proto.CleanText(rest[:i])), true
}

// end checks that a complete message has no bytes after its last field.
func (r *reader) end(m *Message, what string) error {
	if r.off != len(r.b) && !m.Truncated {
		return fmt.Errorf("%w: %d unexpected bytes after the %s fields", ErrNotPostgres, len(r.b)-r.off, what)
	}
	return nil
}

func indexNUL(b []byte, max int) int {
	if len(b) > max+1 {
		b = b[:max+1]
	}
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	s = s[:maxText]
	for len(s) > 0 && !utf8.ValidString(s) { // s was valid: only its last rune can be cut
		s = s[:len(s)-1]
	}
	return s
}
