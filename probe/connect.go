package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/postgres"
	"github.com/connscope/connscope/analyze/proto"
)

func dur(d time.Duration) string { return proto.Dur(d) }

// Outcomes of one address, in connscope's vocabulary.
const (
	OutcomeOK                   = "ok"
	OutcomeRefused              = "refused"
	OutcomeTimeout              = "timeout"
	OutcomeUnreachable          = "unreachable"
	OutcomeNoRoute              = "no_route"
	OutcomeNoLocalPort          = "no_local_port"
	OutcomePermissionDenied     = "permission_denied"
	OutcomeSocketMissing        = "socket_missing"
	OutcomeNotSocket            = "not_a_socket"
	OutcomeNoGreeting           = "no_greeting"
	OutcomeClosedBeforeGreeting = "closed_before_greeting"
	OutcomeRejected             = "rejected"
	OutcomeWrongProtocol        = "wrong_protocol"
	OutcomeAuthFailed           = "auth_failed"
	OutcomeTLSFailed            = "tls_failed"
	OutcomeError                = "error"
)

// Greeting is what the server's first bytes said.
type Greeting struct {
	// MySQL: the HandshakeV10, or the ERR sent instead of it.
	MySQL    *mysql.Greeting `json:"-"`
	MySQLErr *mysql.Err      `json:"-"`
	// PostgreSQL: the answer to an SSLRequest ('S' or 'N'), or an error.
	PGAnswer byte
	PGErr    *postgres.ErrorFields `json:"-"`
	// Raw is a printable rendering of the first bytes when they are not
	// the protocol's (wrong_protocol).
	Raw string
}

// Attempt is one connect to one address (or the socket), and what followed.
type Attempt struct {
	Network string         // tcp or unix
	Addr    netip.AddrPort // for tcp
	Socket  string         // for unix
	Local   netip.AddrPort // the source address and port the kernel chose

	Outcome string
	Errno   string // the connect's errno name, when it failed
	Detail  string // the failure in words

	Connect time.Duration // connect() to established (or to the failure)
	// SYNRetrans is how many times the kernel re-sent the SYN before the
	// connect succeeded (TCP_INFO total_retrans right after it), -1 unknown.
	SYNRetrans int
	// RTT is the kernel's round-trip estimate right after the connect
	// (TCP_INFO rtt: the SYN/SYN-ACK time), 0 unknown.
	RTT       time.Duration
	FirstByte time.Duration // established to the server's first bytes (or to giving up)
	Total     time.Duration

	Greeting *Greeting
	Login    *Login
}

// Where names the attempt's destination.
func (a *Attempt) Where() string {
	if a.Network == "unix" {
		return a.Socket
	}
	return a.Addr.String()
}

// Connected reports whether the connect itself succeeded.
func (a *Attempt) Connected() bool {
	switch a.Outcome {
	case OutcomeOK, OutcomeNoGreeting, OutcomeClosedBeforeGreeting, OutcomeRejected, OutcomeWrongProtocol:
		return true
	}
	return false
}

// connectOne connects to one destination, with timeout for the connect and
// again for the server's first bytes, reads them with connscope's decoder for
// the protocol, and closes.
func connectOne(ctx context.Context, network, addr string, protocol string, timeout time.Duration) Attempt {
	a := Attempt{Network: network}
	if network == "unix" {
		a.Socket = addr
	} else {
		a.Addr = netip.MustParseAddrPort(addr)
	}
	start := time.Now()
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, network, addr)
	a.Connect = time.Since(start)
	if err != nil {
		a.Outcome, a.Errno, a.Detail = classifyDial(err, network, timeout)
		if a.Outcome == OutcomeUnreachable && a.Errno == "ENETUNREACH" && network == "tcp" {
			if _, ok := defaultSource(a.Addr.Addr()); !ok {
				a.Outcome = OutcomeNoRoute
				a.Detail = "no route to " + a.Addr.Addr().String() + " in this host's routing table (nothing was sent)"
			}
		}
		a.Total = a.Connect
		return a
	}
	defer c.Close()
	a.SYNRetrans = -1
	if tc, ok := c.LocalAddr().(*net.TCPAddr); ok {
		ap := tc.AddrPort()
		a.Local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		a.SYNRetrans, a.RTT = tcpInfo(c.(*net.TCPConn))
	}
	t1 := time.Now()
	c.SetDeadline(t1.Add(timeout))
	// Ctrl-C (ctx) ends the wait for the first bytes at once.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	switch protocol {
	case Postgres:
		readPG(c, &a, timeout)
	default:
		readMySQL(c, &a, timeout)
	}
	a.FirstByte = time.Since(t1)
	a.Total = time.Since(start)
	if ctx.Err() != nil && a.Outcome == OutcomeNoGreeting {
		a.Detail = fmt.Sprintf("connected; the probe was interrupted %s later, before the server's first bytes", dur(a.FirstByte))
	}
	return a
}

// readMySQL reads the server's first packet: greeting or ERR.
func readMySQL(c net.Conn, a *Attempt, timeout time.Duration) {
	buf := make([]byte, 0, 512)
	tmp := make([]byte, 512)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if len(buf) > 0 {
			yes, lerr := mysql.LooksLikeGreeting(buf)
			if lerr == nil && !yes {
				a.Outcome = OutcomeWrongProtocol
				a.Greeting = &Greeting{Raw: printable(buf)}
				a.Detail = "the server's first bytes are not a MySQL greeting: " + printable(buf)
				return
			}
			if lerr == nil || !errors.Is(lerr, mysql.ErrShort) {
				p, seq, _, ferr := mysql.Frame(buf)
				if ferr == nil {
					decodeMySQLFirst(p, seq, a, buf)
					return
				}
				if !errors.Is(ferr, mysql.ErrShort) {
					a.Outcome = OutcomeWrongProtocol
					a.Greeting = &Greeting{Raw: printable(buf)}
					a.Detail = fmt.Sprintf("the server's first bytes are not a MySQL packet (%v): %s", ferr, printable(buf))
					return
				}
			}
		}
		if len(buf) > mysql.MaxConnPhasePacket {
			a.Outcome = OutcomeWrongProtocol
			a.Detail = "more than 16 KiB without a complete MySQL packet"
			return
		}
		if err != nil {
			switch {
			case isTimeout(err):
				a.Outcome = OutcomeNoGreeting
				if len(buf) > 0 {
					a.Detail = fmt.Sprintf("connected, but the greeting was incomplete after %s (%d bytes)", dur(timeout), len(buf))
				} else {
					a.Detail = fmt.Sprintf("connected, but no greeting within %s", dur(timeout))
				}
			case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
				a.Outcome = OutcomeClosedBeforeGreeting
				a.Detail = "connected, then the server closed the connection before its greeting (" + errText(err) + ")"
			default:
				a.Outcome = OutcomeClosedBeforeGreeting
				a.Detail = "connected, then reading the greeting failed: " + errText(err)
			}
			return
		}
	}
}

func decodeMySQLFirst(p []byte, seq uint8, a *Attempt, raw []byte) {
	switch mysql.ServerKind(p, seq) {
	case mysql.KindGreeting:
		g, err := mysql.ParseGreeting(p)
		if err != nil {
			a.Outcome = OutcomeWrongProtocol
			a.Detail = "malformed MySQL greeting: " + err.Error()
			return
		}
		a.Outcome = OutcomeOK
		a.Greeting = &Greeting{MySQL: &g}
	case mysql.KindErr:
		e, err := mysql.ParseErr(p)
		if err != nil {
			a.Outcome = OutcomeWrongProtocol
			a.Detail = "malformed MySQL ERR packet: " + err.Error()
			return
		}
		a.Outcome = OutcomeRejected
		a.Greeting = &Greeting{MySQLErr: &e}
		a.Detail = fmt.Sprintf("the server sent ERR %d instead of a greeting: %s", e.Code, e.Message)
	default:
		a.Outcome = OutcomeWrongProtocol
		a.Greeting = &Greeting{Raw: printable(raw)}
		a.Detail = "the server's first packet is not a MySQL greeting: " + printable(raw)
	}
}

// readPG sends an SSLRequest (8 bytes, nothing about the client) and reads
// the one-byte answer: 'S' or 'N' prove a PostgreSQL server; an ErrorResponse
// is a refusal.
func readPG(c net.Conn, a *Attempt, timeout time.Duration) {
	if _, err := c.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		a.Outcome = OutcomeClosedBeforeGreeting
		a.Detail = "connected, then sending the SSLRequest failed: " + errText(err)
		return
	}
	buf := make([]byte, 0, 256)
	tmp := make([]byte, 256)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if len(buf) > 0 {
			m, _, perr := postgres.NextServer(buf, true)
			switch {
			case perr == nil && m.Error != nil:
				a.Outcome = OutcomeRejected
				a.Greeting = &Greeting{PGErr: m.Error}
				a.Detail = fmt.Sprintf("the server answered the SSLRequest with an error: %s %s", m.Error.Code, m.Error.Message)
				return
			case perr == nil && (m.Answer == 'S' || m.Answer == 'N'):
				a.Outcome = OutcomeOK
				a.Greeting = &Greeting{PGAnswer: m.Answer}
				return
			case perr == nil || !errors.Is(perr, postgres.ErrShort):
				a.Outcome = OutcomeWrongProtocol
				a.Greeting = &Greeting{Raw: printable(buf)}
				a.Detail = "the answer to an SSLRequest is not PostgreSQL's: " + printable(buf)
				return
			}
		}
		if err != nil {
			switch {
			case isTimeout(err):
				a.Outcome = OutcomeNoGreeting
				a.Detail = fmt.Sprintf("connected, but no answer to the SSLRequest within %s", dur(timeout))
			default:
				a.Outcome = OutcomeClosedBeforeGreeting
				a.Detail = "connected, then the server closed the connection without answering the SSLRequest (" + errText(err) + ")"
			}
			return
		}
	}
}

// classifyDial names a failed connect.
func classifyDial(err error, network string, timeout time.Duration) (outcome, errno, detail string) {
	var en syscall.Errno
	if errors.As(err, &en) {
		errno = errnoName(en)
		switch en {
		case syscall.ECONNREFUSED:
			if network == "unix" {
				return OutcomeRefused, errno, "the socket file exists but nobody listens on it (stale socket: the server is down or uses another path)"
			}
			return OutcomeRefused, errno, "connection refused: nothing listens on this address and port (or a firewall answered with a reset)"
		case syscall.ETIMEDOUT:
			return OutcomeTimeout, errno, "the kernel gave up: no answer to the SYNs"
		case syscall.EHOSTUNREACH:
			return OutcomeUnreachable, errno, "no route to host (ICMP host unreachable or admin prohibited, or ARP/NDP got no answer)"
		case syscall.ENETUNREACH:
			return OutcomeUnreachable, errno, "network unreachable"
		case syscall.EADDRNOTAVAIL:
			return OutcomeNoLocalPort, errno, "no free local port (or source address) for this destination: the ephemeral port range is used up"
		case syscall.EACCES, syscall.EPERM:
			if network == "unix" {
				return OutcomePermissionDenied, errno, "permission denied: the socket or a directory above it does not let this user in"
			}
			return OutcomePermissionDenied, errno, "permission denied by this host (a local firewall rule or policy on output)"
		case syscall.ENOENT:
			return OutcomeSocketMissing, errno, "no such socket file"
		case syscall.ENOTSOCK:
			return OutcomeNotSocket, errno, "the path exists but is not a socket"
		case syscall.ECONNRESET:
			return OutcomeRefused, errno, "connection reset during the connect"
		}
		return OutcomeError, errno, errText(err)
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return OutcomeTimeout, "", fmt.Sprintf("no answer to the connect within %s (--timeout)", dur(timeout))
	}
	return OutcomeError, "", errText(err)
}

var errnoNames = map[syscall.Errno]string{
	syscall.ECONNREFUSED: "ECONNREFUSED", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EHOSTUNREACH: "EHOSTUNREACH",
	syscall.ENETUNREACH: "ENETUNREACH", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL", syscall.EACCES: "EACCES",
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.ENOTSOCK: "ENOTSOCK", syscall.ECONNRESET: "ECONNRESET",
	syscall.EPROTOTYPE: "EPROTOTYPE", syscall.ENOTDIR: "ENOTDIR",
}

func errnoName(e syscall.Errno) string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// errText is an error without Go's "dial tcp …:" wrapping noise.
func errText(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

// printable renders up to 48 bytes: printable ASCII as is, others as \xNN.
func printable(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i == 48 {
			s.WriteString("…")
			break
		}
		if c >= 0x20 && c < 0x7f {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, "\\x%02x", c)
		}
	}
	return s.String()
}

// tcpInfo reads the SYN retransmits and the RTT of a just-connected socket.
func tcpInfo(c *net.TCPConn) (retrans int, rtt time.Duration) {
	retrans = -1
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil {
			retrans = int(ti.Total_retrans)
			rtt = time.Duration(ti.Rtt) * time.Microsecond
		}
	})
	return
}
