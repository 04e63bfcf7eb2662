// Package dns is a small, bounded DNS message decoder for connscope: the
// header, the questions and the answer records that matter to a connect
// (A, AAAA, CNAME, PTR). It is written for hostile input: names are limited
// to 255 bytes, compression pointers must point backwards (so loops are
// impossible) and are followed at most MaxPointers times, and record counts
// are capped. It never panics.
package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Record types and classes connscope names.
const (
	TypeA     = 1
	TypeNS    = 2
	TypeCNAME = 5
	TypeSOA   = 6
	TypePTR   = 12
	TypeMX    = 15
	TypeTXT   = 16
	TypeAAAA  = 28
	TypeSRV   = 33
	TypeOPT   = 41
	TypeSVCB  = 64
	TypeHTTPS = 65
	TypeANY   = 255
)

// Response codes.
const (
	RcodeSuccess  = 0
	RcodeFormErr  = 1
	RcodeServFail = 2
	RcodeNXDomain = 3
	RcodeNotImp   = 4
	RcodeRefused  = 5
)

// Limits on what one message may make the decoder do.
const (
	MaxNameLen   = 255 // wire bytes of a name, as RFC 1035 allows
	MaxPointers  = 32  // compression pointers followed per name
	MaxQuestions = 4   // questions decoded (real queries carry one)
	MaxAnswers   = 64  // answer records decoded
	HeaderLen    = 12
)

var (
	ErrShort = errors.New("dns: message truncated")
	ErrName  = errors.New("dns: bad name")
)

// Question is one entry of the question section.
type Question struct {
	Name  string // presentation form, lower case, no trailing dot; "." for the root
	Type  uint16
	Class uint16
}

// Record is one answer record. Addr is set for A/AAAA, Target for
// CNAME/PTR/NS.
type Record struct {
	Name   string
	Type   uint16
	Class  uint16
	TTL    uint32
	Addr   netip.Addr
	Target string
}

// Message is a decoded DNS message.
type Message struct {
	ID        uint16
	Response  bool
	Opcode    uint8
	Rcode     uint8
	Truncated bool
	Questions []Question
	Answers   []Record
	// AnswerCount is the header's count, which may exceed len(Answers)
	// (records past MaxAnswers are not decoded).
	AnswerCount int
	// names are the last names decoded into this Message (ParseInto keeps
	// them from message to message): a name decoded again — an answer's,
	// nearly always the question's; a response's, its query's — is the
	// same string, not a new one.
	names nameCache
}

// nameCache holds the last few names decoded, newest at next-1.
type nameCache struct {
	s    [4]string
	next int
}

// get is name as a string: a held one equal to it, else a new one (held
// from then on).
func (c *nameCache) get(name []byte) string {
	for _, s := range c.s {
		if s == string(name) {
			return s
		}
	}
	s := string(name)
	c.s[c.next] = s
	c.next = (c.next + 1) % len(c.s)
	return s
}

// Parse decodes a DNS message (as carried in UDP; for TCP strip the 2-byte
// length first). A message whose answers are damaged still returns the
// header and questions with the error.
func Parse(b []byte) (Message, error) {
	var m Message
	err := ParseInto(b, &m)
	return m, err
}

// ParseInto is Parse into m, reusing the room of m's Questions and
// Answers: a caller that decodes many messages and keeps none of those
// slices (only the values in them) allocates them once, not for every
// message.
func ParseInto(b []byte, m *Message) error {
	*m = Message{Questions: m.Questions[:0], Answers: m.Answers[:0], names: m.names}
	if len(b) < HeaderLen {
		return ErrShort
	}
	m.ID = binary.BigEndian.Uint16(b)
	flags := binary.BigEndian.Uint16(b[2:])
	m.Response = flags&0x8000 != 0
	m.Opcode = uint8(flags>>11) & 0xf
	m.Truncated = flags&0x0200 != 0
	m.Rcode = uint8(flags & 0xf)
	qd := int(binary.BigEndian.Uint16(b[4:]))
	an := int(binary.BigEndian.Uint16(b[6:]))
	m.AnswerCount = an
	off := HeaderLen
	for i := 0; i < qd; i++ {
		name, n, err := readName(b, off, &m.names)
		if err != nil {
			return fmt.Errorf("question %d: %w", i+1, err)
		}
		off = n
		if len(b)-off < 4 {
			return fmt.Errorf("question %d: %w", i+1, ErrShort)
		}
		if i < MaxQuestions {
			m.Questions = append(m.Questions, Question{
				Name:  name,
				Type:  binary.BigEndian.Uint16(b[off:]),
				Class: binary.BigEndian.Uint16(b[off+2:]),
			})
		}
		off += 4
		if i >= MaxQuestions {
			// Refuse to walk thousands of questions a header may claim.
			return fmt.Errorf("%d questions: more than %d", qd, MaxQuestions)
		}
	}
	for i := 0; i < an && i < MaxAnswers; i++ {
		name, n, err := readName(b, off, &m.names)
		if err != nil {
			return fmt.Errorf("answer %d: %w", i+1, err)
		}
		off = n
		if len(b)-off < 10 {
			return fmt.Errorf("answer %d: %w", i+1, ErrShort)
		}
		r := Record{
			Name:  name,
			Type:  binary.BigEndian.Uint16(b[off:]),
			Class: binary.BigEndian.Uint16(b[off+2:]),
			TTL:   binary.BigEndian.Uint32(b[off+4:]),
		}
		rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
		off += 10
		if len(b)-off < rdlen {
			return fmt.Errorf("answer %d: %w", i+1, ErrShort)
		}
		rdata := b[off : off+rdlen]
		switch r.Type {
		case TypeA:
			if rdlen != 4 {
				return fmt.Errorf("answer %d: A record of %d bytes", i+1, rdlen)
			}
			r.Addr = netip.AddrFrom4([4]byte(rdata))
		case TypeAAAA:
			if rdlen != 16 {
				return fmt.Errorf("answer %d: AAAA record of %d bytes", i+1, rdlen)
			}
			r.Addr = netip.AddrFrom16([16]byte(rdata))
		case TypeCNAME, TypePTR, TypeNS:
			// Compression pointers in RDATA refer to the whole message.
			target, end, err := readName(b, off, &m.names)
			if err != nil || end > off+rdlen {
				return fmt.Errorf("answer %d: bad target name", i+1)
			}
			r.Target = target
		}
		off += rdlen
		m.Answers = append(m.Answers, r)
	}
	return nil
}

// readName decodes the name at off and returns it and the offset just past
// its in-place encoding.
func readName(b []byte, off int, names *nameCache) (string, int, error) {
	var buf [256]byte // most names fit: one allocation, for the result
	name := buf[:0]
	end := -1 // offset after the name where it started (before the first pointer)
	wire := 0
	pointers := 0
	// limit is the offset a pointer must point below: strictly backwards
	// from the label sequence it ends, which makes loops impossible.
	limit := off
	for {
		if off >= len(b) {
			return "", 0, ErrShort
		}
		l := int(b[off])
		switch l & 0xc0 {
		case 0x00:
			if l == 0 {
				if end < 0 {
					end = off + 1
				}
				if len(name) == 0 {
					return ".", end, nil
				}
				return names.get(name), end, nil
			}
			if off+1+l > len(b) {
				return "", 0, ErrShort
			}
			wire += l + 1
			if wire > MaxNameLen {
				return "", 0, fmt.Errorf("%w: longer than %d bytes", ErrName, MaxNameLen)
			}
			if len(name) > 0 {
				name = append(name, '.')
			}
			name = appendLabel(name, b[off+1:off+1+l])
			off += 1 + l
		case 0xc0:
			if off+1 >= len(b) {
				return "", 0, ErrShort
			}
			ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			if end < 0 {
				end = off + 2
			}
			pointers++
			if pointers > MaxPointers {
				return "", 0, fmt.Errorf("%w: more than %d compression pointers", ErrName, MaxPointers)
			}
			if ptr >= limit {
				return "", 0, fmt.Errorf("%w: compression pointer to %d does not point backwards", ErrName, ptr)
			}
			limit = ptr
			off = ptr
		default:
			return "", 0, fmt.Errorf("%w: label type 0x%02x", ErrName, l&0xc0)
		}
	}
}

// appendLabel appends a label in presentation form: lower case, dots and
// unprintable bytes escaped so a hostile name cannot fake structure or
// terminal control sequences.
func appendLabel(dst, label []byte) []byte {
	for _, c := range label {
		switch {
		case c >= 'A' && c <= 'Z':
			dst = append(dst, c+'a'-'A')
		case c == '.' || c == '\\':
			dst = append(dst, '\\', c)
		case c <= 0x20 || c >= 0x7f:
			dst = append(dst, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// TypeString names a record type ("A", "AAAA", ... or "TYPE99").
func TypeString(t uint16) string {
	switch t {
	case TypeA:
		return "A"
	case TypeNS:
		return "NS"
	case TypeCNAME:
		return "CNAME"
	case TypeSOA:
		return "SOA"
	case TypePTR:
		return "PTR"
	case TypeMX:
		return "MX"
	case TypeTXT:
		return "TXT"
	case TypeAAAA:
		return "AAAA"
	case TypeSRV:
		return "SRV"
	case TypeOPT:
		return "OPT"
	case TypeSVCB:
		return "SVCB"
	case TypeHTTPS:
		return "HTTPS"
	case TypeANY:
		return "ANY"
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// RcodeString names a response code ("NOERROR", "NXDOMAIN", ... or "RCODE11").
func RcodeString(r uint8) string {
	switch r {
	case 0:
		return "NOERROR"
	case 1:
		return "FORMERR"
	case 2:
		return "SERVFAIL"
	case 3:
		return "NXDOMAIN"
	case 4:
		return "NOTIMP"
	case 5:
		return "REFUSED"
	case 6:
		return "YXDOMAIN"
	case 7:
		return "YXRRSET"
	case 8:
		return "NXRRSET"
	case 9:
		return "NOTAUTH"
	case 10:
		return "NOTZONE"
	}
	return "RCODE" + strconv.Itoa(int(r))
}

// ReverseAddr returns the address a PTR query name (in-addr.arpa or
// ip6.arpa) asks about.
func ReverseAddr(name string) (netip.Addr, bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		var a [4]byte
		for i, p := range parts {
			v, err := strconv.ParseUint(p, 10, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			a[3-i] = byte(v)
		}
		return netip.AddrFrom4(a), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 32 {
			return netip.Addr{}, false
		}
		var a [16]byte
		for i, p := range parts {
			if len(p) != 1 {
				return netip.Addr{}, false
			}
			v, err := strconv.ParseUint(p, 16, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			nib := 31 - i
			if nib%2 == 0 {
				a[nib/2] |= byte(v) << 4
			} else {
				a[nib/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(a), true
	}
	return netip.Addr{}, false
}
