// Package mysql decodes the MySQL/MariaDB connection phase: the server's
// greeting (HandshakeV10) or the ERR it sends instead, the client's
// SSLRequest and HandshakeResponse, AuthSwitchRequest, and the OK or ERR that
// ends the login.
//
// It keeps only what explains a connect: versions, connection id, plugin
// names, capability bits, user names, error codes and messages. Auth
// scrambles, auth responses and passwords are never copied out of the input.
//
// Every function takes untrusted bytes, never panics, never allocates more
// than the input it is given, and reports malformed input as an error.
package mysql

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/connscope/connscope/analyze/proto"
)

// Capability flags used in the connection phase.
const (
	ClientLongPassword     = 0x00000001
	ClientConnectWithDB    = 0x00000008
	ClientProtocol41       = 0x00000200
	ClientSSL              = 0x00000800
	ClientSecureConnection = 0x00008000
	ClientPluginAuth       = 0x00080000
	ClientConnectAttrs     = 0x00100000
	ClientPluginAuthLenenc = 0x00200000
)

// HeaderLen is the size of a MySQL packet header: 3-byte length, 1-byte sequence id.
const HeaderLen = 4

// MaxConnPhasePacket bounds the packets this package accepts in the
// connection phase. Real greetings are ~100 bytes and handshake responses a
// few hundred (connect attributes included); anything larger is not a
// connection-phase packet, and saying so early lets callers spot non-MySQL
// bytes (an "SSH-" banner reads as a 4.7 MB length).
const MaxConnPhasePacket = 16 << 10

var (
	// ErrShort means more bytes are needed to decide.
	ErrShort = errors.New("mysql: packet incomplete")
	// ErrNotMySQL means the bytes are not a MySQL connection-phase packet.
	ErrNotMySQL = errors.New("mysql: not a MySQL packet")
	// ErrTruncated means a packet ended early (a snap length cut it, or
	// the sender is broken); the fields decoded before the cut are returned.
	ErrTruncated = errors.New("mysql: packet truncated")
)

// Frame splits the first packet off b. It returns the payload, the sequence
// id and the number of bytes the packet occupies in b. err is ErrShort when b
// does not yet hold the whole packet, ErrNotMySQL when the header announces a
// length outside (0, MaxConnPhasePacket].
func Frame(b []byte) (payload []byte, seq uint8, n int, err error) {
	if len(b) < HeaderLen {
		return nil, 0, 0, ErrShort
	}
	length := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if length == 0 || length > MaxConnPhasePacket {
		return nil, 0, 0, ErrNotMySQL
	}
	if len(b) < HeaderLen+length {
		return nil, b[3], 0, ErrShort
	}
	return b[HeaderLen : HeaderLen+length], b[3], HeaderLen + length, nil
}

// Greeting is the server's HandshakeV10 (or the older V9) packet.
type Greeting struct {
	Protocol      uint8
	ServerVersion string
	ConnectionID  uint32
	Capabilities  uint32
	Charset       uint8
	Status        uint16
	AuthPlugin    string
	// CapsKnown is false when the packet ended before the capability flags
	// (then TLSOffered is unknown).
	CapsKnown bool
}

// TLSOffered reports whether the server announced CLIENT_SSL.
func (g *Greeting) TLSOffered() bool { return g.Capabilities&ClientSSL != 0 }

// lastVersion is the server version of the last greeting decoded (any
// engine's: atomic).
var lastVersion atomic.Pointer[string]

// serverVersion is ver as a string: the last greeting's when they are the
// same (a server greets every connect with its version), not a new one
// for each.
func serverVersion(ver []byte) string {
	if p := lastVersion.Load(); p != nil && *p == string(ver) {
		return *p
	}
	s := string(ver)
	lastVersion.Store(&s)
	return s
}

// textCache holds the last texts cleanText made, direct-mapped by length
// and first byte (any engine's: atomic): a few user names (and the
// commonest error messages) make most of a capture's, and each was a new
// string, made by scanning its bytes twice (proto.CleanText).
type textCache [8]atomic.Pointer[string]

// userNames and errMessages are the cleaned user names of client replies
// and the messages of ERR packets.
var userNames, errMessages textCache

// cleanText is proto.CleanText(b): the text the cache holds when it is the
// same bytes (a cleaned text equal to b is b cleaned: valid UTF-8 without
// control characters is kept as it is).
func (c *textCache) cleanText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	slot := &c[(len(b)*31+int(b[0]))&(len(c)-1)]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := proto.CleanText(b)
	slot.Store(&s)
	return s
}

// ParseGreeting decodes a HandshakeV10/V9 payload (without the packet
// header). A payload that ends early returns the fields before the cut and
// an error wrapping ErrTruncated.
func ParseGreeting(p []byte) (Greeting, error) { return parseGreeting(p, true) }

// parseGreeting is ParseGreeting; without text it leaves the server version
// empty (LooksLikeGreeting only asks whether the greeting parses: copying
// the version out was most of what sniffing a greeting allocated).
func parseGreeting(p []byte, text bool) (Greeting, error) {
	var g Greeting
	if len(p) < 1 || (p[0] != 10 && p[0] != 9) {
		return g, ErrNotMySQL
	}
	g.Protocol = p[0]
	r := reader{b: p, off: 1}
	ver, ok := r.nulBytes(64)
	if !ok || len(ver) == 0 || !proto.Printable(ver) {
		return g, fmt.Errorf("%w: bad server version", ErrNotMySQL)
	}
	if text {
		g.ServerVersion = serverVersion(ver)
	}
	id, ok := r.u32()
	if !ok {
		return g, fmt.Errorf("%w after the server version", ErrTruncated)
	}
	g.ConnectionID = id
	if g.Protocol == 9 {
		// V9: the scramble follows as a NUL-terminated string; nothing else we need.
		return g, nil
	}
	if !r.skip(8 + 1) { // auth-plugin-data part 1, filler
		return g, fmt.Errorf("%w in the scramble", ErrTruncated)
	}
	capLo, ok := r.u16()
	if !ok {
		return g, fmt.Errorf("%w before the capabilities", ErrTruncated)
	}
	g.Capabilities = uint32(capLo)
	g.CapsKnown = true
	if r.left() == 0 {
		return g, nil // pre-4.1 servers may end here
	}
	charset, ok1 := r.u8()
	status, ok2 := r.u16()
	capHi, ok3 := r.u16()
	authLen, ok4 := r.u8()
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return g, fmt.Errorf("%w in the capabilities", ErrTruncated)
	}
	g.Charset, g.Status = charset, status
	g.Capabilities |= uint32(capHi) << 16
	if !r.skip(10) { // reserved (MariaDB keeps its extended capabilities in the last 4)
		return g, fmt.Errorf("%w in the reserved bytes", ErrTruncated)
	}
	if g.Capabilities&ClientSecureConnection != 0 {
		n := int(authLen) - 8
		if n < 13 {
			n = 13
		}
		if !r.skip(n) {
			// Some servers omit the scramble's trailing NUL; tolerate the end of data.
			r.off = len(r.b)
		}
	}
	if g.Capabilities&ClientPluginAuth != 0 && r.left() > 0 {
		// MySQL 5.5.7–5.5.9 forgot the terminating NUL: take the rest.
		name, ok := r.nulBytes(64)
		if !ok {
			name = r.b[r.off:min(len(r.b), r.off+64)]
		}
		if proto.Printable(name) {
			g.AuthPlugin = pluginName(name)
		}
	}
	return g, nil
}

// LooksLikeGreetingPrefix judges the first bytes of a greeting that was cut
// (by the snap length) before its end: a plausible header with sequence id
// 0, then 0x0a and a printable version, or 0xff.
func LooksLikeGreetingPrefix(b []byte) bool {
	if len(b) < HeaderLen+1 || b[3] != 0 {
		return false
	}
	length := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if length == 0 || length > MaxConnPhasePacket {
		return false
	}
	switch b[4] {
	case 0xff:
		return true
	case 0x0a, 0x09:
		v := b[5:]
		n := 0
		for _, c := range v {
			if c == 0 {
				break
			}
			if c < 0x20 || c >= 0x7f {
				return false
			}
			n++
		}
		return n > 0
	}
	return false
}

// MaybeGreetingPrefix reports whether b, the captured start of a server's
// first bytes that the capture cut, may still be a MySQL greeting or ERR:
// false only when the bytes that are there already rule it out.
func MaybeGreetingPrefix(b []byte) bool {
	if len(b) >= 3 {
		length := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
		if length == 0 || length > MaxConnPhasePacket {
			return false
		}
	}
	if len(b) >= 4 && b[3] != 0 {
		return false
	}
	if len(b) >= 5 {
		switch b[4] {
		case 0xff:
		case 0x0a, 0x09:
			for _, c := range b[5:] {
				if c == 0 {
					break
				}
				if c < 0x20 || c >= 0x7f {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// Err is an ERR packet.
type Err struct {
	Code     uint16
	SQLState string // "" when the packet carries no SQLSTATE marker (pre-4.1 style, used by MariaDB at greeting)
	Message  string
	// Truncated: the capture cut the packet; Message is its beginning.
	Truncated bool
}

func (e Err) String() string {
	var buf [128]byte
	return string(e.appendTo(buf[:0]))
}

// appendTo appends e.String() to b.
func (e Err) appendTo(b []byte) []byte {
	b = strconv.AppendUint(append(b, "ERROR "...), uint64(e.Code), 10)
	if e.SQLState != "" {
		b = append(append(append(b, " ("...), e.SQLState...), ')')
	}
	b = append(append(b, ": "...), e.Message...)
	if e.Truncated {
		b = append(b, "… (message cut in the capture)"...)
	}
	return b
}

// maxMessage bounds error messages kept (MySQL's own limit is 512 bytes).
const maxMessage = 512

// ParseErr decodes an ERR payload (0xff, code, optional '#'+SQLSTATE, message).
func ParseErr(p []byte) (Err, error) {
	return parseErr(p, false)
}

// ParseErrCut decodes the beginning of an ERR payload the capture cut: the
// code (when its 3 bytes are there), the SQLSTATE (when whole) and the
// message so far, with Truncated set.
func ParseErrCut(p []byte) (Err, error) {
	return parseErr(p, true)
}

func parseErr(p []byte, cut bool) (Err, error) {
	e := Err{Truncated: cut}
	if len(p) < 3 || p[0] != 0xff {
		if cut && len(p) > 0 && p[0] == 0xff {
			return e, fmt.Errorf("%w before the error code", ErrTruncated)
		}
		return e, ErrNotMySQL
	}
	e.Code = binary.LittleEndian.Uint16(p[1:3])
	msg := p[3:]
	if len(msg) >= 6 && msg[0] == '#' && sqlstateChars(msg[1:6]) {
		e.SQLState = string(msg[1:6])
		msg = msg[6:]
	} else if cut && len(msg) < 6 && len(msg) > 0 && msg[0] == '#' && sqlstateChars(msg[1:]) {
		msg = nil // the cut fell inside the SQLSTATE: neither it nor a message is known
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
	}
	e.Message = errMessages.cleanText(msg)
	return e, nil
}

// Kind classifies a server packet in the connection phase by its first byte.
type Kind uint8

const (
	KindUnknown      Kind = iota
	KindOK                // 0x00
	KindErr               // 0xff
	KindAuthSwitch        // 0xfe (AuthSwitchRequest, or OldAuthSwitchRequest when alone)
	KindAuthMoreData      // 0x01
	KindGreeting          // 0x0a / 0x09 with sequence id 0
)

// ServerKind names a server packet of the connection phase.
func ServerKind(payload []byte, seq uint8) Kind {
	if len(payload) == 0 {
		return KindUnknown
	}
	switch payload[0] {
	case 0x00:
		return KindOK
	case 0xff:
		return KindErr
	case 0xfe:
		return KindAuthSwitch
	case 0x01:
		return KindAuthMoreData
	case 0x0a, 0x09:
		if seq == 0 {
			return KindGreeting
		}
	}
	return KindUnknown
}

// AuthSwitchPlugin returns the plugin an AuthSwitchRequest asks for. The
// plugin data (a new scramble) is not returned.
func AuthSwitchPlugin(p []byte) (string, error) {
	if len(p) < 1 || p[0] != 0xfe {
		return "", ErrNotMySQL
	}
	if len(p) == 1 {
		return "mysql_old_password", nil
	}
	r := reader{b: p, off: 1}
	name, ok := r.nulString(64)
	if !ok {
		name = string(p[1:min(len(p), 65)])
	}
	if !proto.Printable(name) {
		return "", fmt.Errorf("%w: unprintable plugin name", ErrNotMySQL)
	}
	return name, nil
}

// ClientHello is what the client's first packet reveals: either an
// SSLRequest (TLS starts next) or a HandshakeResponse with the user name.
type ClientHello struct {
	SSLRequest   bool
	Capabilities uint32
	User         string
	AuthPlugin   string // the plugin the client used, when sent
	// Truncated: the capture cut the packet; User may be its beginning,
	// AuthPlugin may be missing.
	Truncated bool
}

// ParseClientHello decodes the client's reply to the greeting. Only the
// user name and plugin name are copied; the auth response is skipped.
func ParseClientHello(p []byte) (ClientHello, error) {
	return parseClientHello(p, len(p))
}

// ParseClientHelloCut decodes the beginning p of a client reply whose
// header announced length payload bytes (the capture cut the rest). Whether
// it is an SSLRequest is decided by length, never by where the cut fell;
// a user name the cut ends is returned as far as it goes, with Truncated.
func ParseClientHelloCut(p []byte, length int) (ClientHello, error) {
	if length <= len(p) {
		return parseClientHello(p, len(p))
	}
	h, err := parseClientHello(p, length)
	h.Truncated = true
	return h, err
}

// parseClientHello decodes p, the first bytes of a packet of length bytes.
func parseClientHello(p []byte, length int) (ClientHello, error) {
	var h ClientHello
	cut := length > len(p)
	if len(p) < 4 {
		if cut {
			return h, fmt.Errorf("%w before the capabilities", ErrTruncated)
		}
		return h, fmt.Errorf("%w: client reply too short", ErrNotMySQL)
	}
	if uint32(binary.LittleEndian.Uint16(p))&ClientProtocol41 == 0 {
		// HandshakeResponse320: caps(2) max-packet(3) user NUL auth.
		h.Capabilities = uint32(binary.LittleEndian.Uint16(p))
		if length < 5 {
			return h, fmt.Errorf("%w: client reply too short", ErrNotMySQL)
		}
		if h.Capabilities&ClientSSL != 0 && length == 5 {
			h.SSLRequest = true
			return h, nil
		}
		if cut && len(p) <= 5 {
			return h, fmt.Errorf("%w before the user name", ErrTruncated)
		}
		r := reader{b: p, off: 5}
		user, ok := r.nulBytes(256)
		if !ok {
			if cut {
				h.User = userNames.cleanText(p[r.off:min(len(p), r.off+256)])
				return h, nil
			}
			return h, fmt.Errorf("%w: user name not terminated", ErrNotMySQL)
		}
		h.User = userNames.cleanText(user)
		return h, nil
	}
	if length < 32 {
		return h, fmt.Errorf("%w: client reply too short for protocol 4.1", ErrNotMySQL)
	}
	h.Capabilities = binary.LittleEndian.Uint32(p)
	if length == 32 {
		if h.Capabilities&ClientSSL == 0 {
			return h, fmt.Errorf("%w: 32-byte client reply without CLIENT_SSL", ErrNotMySQL)
		}
		h.SSLRequest = true
		return h, nil
	}
	if len(p) <= 32 {
		return h, fmt.Errorf("%w before the user name", ErrTruncated)
	}
	r := reader{b: p, off: 32}
	user, ok := r.nulBytes(256)
	if !ok {
		if cut {
			h.User = userNames.cleanText(p[32:min(len(p), 32+256)])
			return h, nil
		}
		return h, fmt.Errorf("%w: user name not terminated", ErrNotMySQL)
	}
	h.User = userNames.cleanText(user)
	// Skip the auth response to reach the plugin name; never keep it.
	switch {
	case h.Capabilities&ClientPluginAuthLenenc != 0:
		n, ok := r.lenenc()
		if !ok || n > uint64(r.left()) {
			return h, nil
		}
		r.off += int(n)
	case h.Capabilities&ClientSecureConnection != 0:
		n, ok := r.u8()
		if !ok || int(n) > r.left() {
			return h, nil
		}
		r.off += int(n)
	default:
		if _, ok := r.nulBytes(1 << 16); !ok {
			return h, nil
		}
	}
	if h.Capabilities&ClientConnectWithDB != 0 {
		if _, ok := r.nulBytes(256); !ok {
			return h, nil
		}
	}
	if h.Capabilities&ClientPluginAuth != 0 {
		if name, ok := r.nulBytes(64); ok && proto.Printable(name) {
			h.AuthPlugin = pluginName(name)
		}
	}
	return h, nil
}

// CommandName names a command-phase packet by its first byte
// ("COM_QUERY"), or "command 0xNN".
func CommandName(b byte) string {
	switch b {
	case 0x01:
		return "COM_QUIT"
	case 0x02:
		return "COM_INIT_DB"
	case 0x03:
		return "COM_QUERY"
	case 0x0e:
		return "COM_PING"
	case 0x16:
		return "COM_STMT_PREPARE"
	case 0x17:
		return "COM_STMT_EXECUTE"
	case 0x11:
		return "COM_CHANGE_USER"
	case 0x1b:
		return "COM_SET_OPTION"
	}
	return fmt.Sprintf("command 0x%02x", b)
}

// LooksLikeGreeting inspects the first bytes a server sent and says whether
// they are a MySQL greeting or ERR (yes), something else (no), or whether
// more bytes are needed (ErrShort). It never needs more than one packet.
func LooksLikeGreeting(b []byte) (bool, error) {
	ok, _, _, err := looksLikeGreeting(b, false)
	return ok, err
}

// looksLikeGreeting is LooksLikeGreeting. When b is a greeting it judges
// yes to, it also returns it decoded (isGreeting; with text, its server
// version too), so that a session need not decode it again (sniffServer).
func looksLikeGreeting(b []byte, text bool) (ok bool, g Greeting, isGreeting bool, err error) {
	payload, seq, _, err := Frame(b)
	if err == ErrNotMySQL {
		return false, g, false, nil
	}
	if len(b) >= HeaderLen && b[3] != 0 {
		return false, g, false, nil // a greeting always has sequence id 0
	}
	if len(b) > HeaderLen {
		switch b[HeaderLen] {
		case 0x0a, 0x09, 0xff:
		default:
			return false, g, false, nil
		}
	}
	if err != nil {
		return false, g, false, err
	}
	switch ServerKind(payload, seq) {
	case KindGreeting:
		g, perr := parseGreeting(payload, text)
		return perr == nil, g, perr == nil, nil
	case KindErr:
		_, perr := ParseErr(payload)
		return perr == nil, g, false, nil
	}
	return false, g, false, nil
}

// ErrorName is the server's symbolic name for the error codes connscope
// explains ("" when not known).
func ErrorName(code uint16) string { return errorNames[code] }

var errorNames = map[uint16]string{
	1040: "ER_CON_COUNT_ERROR",
	1043: "ER_HANDSHAKE_ERROR",
	1044: "ER_DBACCESS_DENIED_ERROR",
	1045: "ER_ACCESS_DENIED_ERROR",
	1049: "ER_BAD_DB_ERROR",
	1053: "ER_SERVER_SHUTDOWN",
	1129: "ER_HOST_IS_BLOCKED",
	1130: "ER_HOST_NOT_PRIVILEGED",
	1203: "ER_TOO_MANY_USER_CONNECTIONS",
	1226: "ER_USER_LIMIT_REACHED",
	1251: "ER_NOT_SUPPORTED_AUTH_MODE",
	1275: "ER_SERVER_IS_IN_SECURE_AUTH_MODE",
	1524: "ER_PLUGIN_IS_NOT_LOADED",
	1698: "ER_ACCESS_DENIED_NO_PASSWORD_ERROR",
	1820: "ER_MUST_CHANGE_PASSWORD",
	1862: "ER_MUST_CHANGE_PASSWORD_LOGIN",
	3118: "ER_ACCOUNT_HAS_BEEN_LOCKED",
	3159: "ER_SECURE_TRANSPORT_REQUIRED",
	4151: "ER_ACCOUNT_HAS_BEEN_LOCKED",
}

// IsAuthError reports whether an ERR code means the credentials or the
// account's privileges were refused (as opposed to the server refusing the
// host or the connection itself).
func IsAuthError(code uint16) bool {
	switch code {
	case 1044, 1045, 1251, 1275, 1524, 1698, 1820, 1862, 3118, 4151:
		return true
	}
	return false
}

type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) skip(n int) bool {
	if n < 0 || n > r.left() {
		return false
	}
	r.off += n
	return true
}

func (r *reader) u8() (uint8, bool) {
	if r.left() < 1 {
		return 0, false
	}
	v := r.b[r.off]
	r.off++
	return v, true
}

func (r *reader) u16() (uint16, bool) {
	if r.left() < 2 {
		return 0, false
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v, true
}

func (r *reader) u32() (uint32, bool) {
	if r.left() < 4 {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, true
}

func (r *reader) lenenc() (uint64, bool) {
	first, ok := r.u8()
	if !ok {
		return 0, false
	}
	var n int
	switch {
	case first < 0xfb:
		return uint64(first), true
	case first == 0xfc:
		n = 2
	case first == 0xfd:
		n = 3
	case first == 0xfe:
		n = 8
	default:
		return 0, false
	}
	if r.left() < n {
		return 0, false
	}
	var v uint64
	for i := 0; i < n; i++ {
		v |= uint64(r.b[r.off+i]) << (8 * i)
	}
	r.off += n
	return v, true
}

// nulString reads a NUL-terminated string of at most max bytes.
func (r *reader) nulString(max int) (string, bool) {
	b, ok := r.nulBytes(max)
	if !ok {
		return "", false
	}
	return string(b), true
}

// nulBytes is nulString without the copy: the bytes alias the packet.
// The NUL is found by bytes.IndexByte (a word or vector at a time): a
// byte at a time was 12 instructions a byte of every greeting's version,
// scramble and plugin and every login's user name (1% of the engine's
// instructions on connects.pcap).
func (r *reader) nulBytes(max int) ([]byte, bool) {
	rest := r.b[r.off:]
	limit := len(rest)
	if limit > max+1 {
		limit = max + 1
	}
	if i := bytes.IndexByte(rest[:limit], 0); i >= 0 {
		r.off += i + 1
		return rest[:i], true
	}
	return nil, false
}

// pluginName returns an auth plugin name as a string, without allocating
// for the well-known ones (every greeting and login names one).
func pluginName(b []byte) string {
	switch string(b) {
	case "mysql_native_password":
		return "mysql_native_password"
	case "caching_sha2_password":
		return "caching_sha2_password"
	case "sha256_password":
		return "sha256_password"
	case "client_ed25519":
		return "client_ed25519"
	case "mysql_clear_password":
		return "mysql_clear_password"
	case "auth_gssapi_client":
		return "auth_gssapi_client"
	case "dialog":
		return "dialog"
	}
	return string(b)
}

func sqlstateChars(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
