package capture

import (
	"bytes"
	"strconv"

	"github.com/connscope/connscope/event"
)

// processCommentPrefix starts the per-packet pcapng comment that names the
// packet's process. The full form is
//
//	connscope: pid=1234 tid=1235 comm="php-fpm: pool www" fd=3
//
// Fields are space-separated key=value pairs; comm is always a Go-quoted
// string (strconv.Quote) because a task name may contain spaces, quotes or
// bytes that are not UTF-8. Readers ignore keys they do not know, so fields
// can be added later; fd=-1 (or no fd) means unknown.
const processCommentPrefix = "connscope:"

// ProcessComment formats the pcapng packet comment that records proc. Open
// parses it back into event.Packet.Process.
func ProcessComment(proc event.Process) string {
	b := make([]byte, 0, 64)
	b = append(b, processCommentPrefix...)
	b = append(b, " pid="...)
	b = strconv.AppendUint(b, uint64(proc.PID), 10)
	b = append(b, " tid="...)
	b = strconv.AppendUint(b, uint64(proc.TID), 10)
	b = append(b, " comm="...)
	b = strconv.AppendQuote(b, proc.Comm)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(proc.FD), 10)
	return string(b)
}

// ParseProcessComment parses a comment written by ProcessComment. ok is false
// when the comment is not one (another tool's comment) or is damaged.
func ParseProcessComment(comment string) (proc event.Process, ok bool) {
	var cache commCache
	ok = parseProcessComment([]byte(comment), &proc, &cache)
	return proc, ok
}

// commCache keeps the last decoded comm so that a file full of packets from
// the same process decodes without allocating.
type commCache struct {
	raw  []byte // the quoted form as in the file
	comm string
}

func parseProcessComment(c []byte, proc *event.Process, cache *commCache) bool {
	if !bytes.HasPrefix(c, []byte(processCommentPrefix)) {
		return false
	}
	c = c[len(processCommentPrefix):]
	*proc = event.Process{FD: -1}
	havePID := false
	for {
		for len(c) > 0 && c[0] == ' ' {
			c = c[1:]
		}
		if len(c) == 0 {
			return havePID
		}
		eq := bytes.IndexByte(c, '=')
		if eq <= 0 {
			return false
		}
		key := c[:eq]
		c = c[eq+1:]
		var val []byte
		if len(c) > 0 && c[0] == '"' {
			end := quotedEnd(c)
			if end < 0 {
				return false
			}
			val, c = c[:end], c[end:]
			if len(c) > 0 && c[0] != ' ' {
				return false
			}
		} else {
			sp := bytes.IndexByte(c, ' ')
			if sp < 0 {
				sp = len(c)
			}
			val, c = c[:sp], c[sp:]
		}
		switch string(key) { // no allocation: the compiler compares in place
		case "pid":
			n, ok := parseUint32(val)
			if !ok {
				return false
			}
			proc.PID, havePID = n, true
		case "tid":
			n, ok := parseUint32(val)
			if !ok {
				return false
			}
			proc.TID = n
		case "fd":
			neg := len(val) > 0 && val[0] == '-'
			if neg {
				val = val[1:]
			}
			n, ok := parseUint32(val)
			if !ok || n > 1<<31-1 {
				return false
			}
			proc.FD = int32(n)
			if neg {
				proc.FD = -proc.FD
			}
		case "comm":
			if len(val) == 0 || val[0] != '"' {
				return false
			}
			if !bytes.Equal(val, cache.raw) || cache.raw == nil {
				s, err := strconv.Unquote(string(val))
				if err != nil {
					return false
				}
				cache.raw = append(cache.raw[:0], val...)
				cache.comm = s
			}
			proc.Comm = cache.comm
		}
	}
}

// quotedEnd returns the length of the Go-quoted string at the start of c
// (including both quotes), or -1 if it is not terminated.
func quotedEnd(c []byte) int {
	for i := 1; i < len(c); i++ {
		switch c[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

func parseUint32(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var n uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + uint64(ch-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}
