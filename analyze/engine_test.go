package analyze

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/proto"
	"github.com/connscope/connscope/event"
)

const (
	cli  = "192.0.2.10:40000"
	srv  = "192.0.2.20:3306"
	cli6 = "[2001:db8::10]:40002"
	srv6 = "[2001:db8::20]:3306"
	dnsS = "192.0.2.53:53"
)

func near(got *float64, want, tol float64) bool {
	return got != nil && math.Abs(*got-want) <= tol
}

func TestEngineOutcomes(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		script func(s *sim)
		want   []Outcome // every attempt, in report order
		check  func(t *testing.T, cs []*Connect, sum Summary)
	}{
		{
			name: "ok: greeting and login",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.2)
				k.server(0.7, mariadbGreeting())
				k.client(1, handshakeResponse("app", defaultCaps))
				k.server(2, okPacket(2))
				k.client(3, myPacket(0, []byte{3, 's', 'e', 'l'}))
			},
			want: []Outcome{OK},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if mysqlOf(a) == nil || mysqlOf(a).ServerVersion != "5.5.5-10.11.6-MariaDB-0+deb12u1" || mysqlOf(a).ConnectionID != 42 || mysqlOf(a).User != "app" || mysqlOf(a).AuthPlugin != "mysql_native_password" {
					t.Errorf("mysql = %+v", mysqlOf(a))
				}
				if mysqlOf(a).TLSOffered == nil || !*mysqlOf(a).TLSOffered {
					t.Errorf("TLS offered not seen")
				}
				if !near(a.RTTMS, 0.2, 0.001) || !near(a.GreetingDelayMS, 0.49, 0.001) {
					t.Errorf("rtt %v greeting %v", *a.RTTMS, *a.GreetingDelayMS)
				}
				if a.SYNCount != 1 || a.Client != cli || a.Server != srv {
					t.Errorf("attempt %+v", a)
				}
				js, _ := json.Marshal(cs[0])
				if strings.Contains(string(js), "SECRET") {
					t.Errorf("auth response leaked into the output: %s", js)
				}
			},
		},
		{
			name: "refused: SYN answered by RST",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.SYN(0)
				k.refuse(0.1)
			},
			want: []Outcome{Refused},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				f := a.Facts
				if a.Reason != ReasonRSTFromServer || f.AnsweredSYN != 1 || !near(f.ReplyMS, 0.1, 0.0001) || f.ServerClose != "RST" {
					t.Errorf("reason %s facts %+v", a.Reason, f)
				}
				if f.Intended != "MySQL" { // port 3306: MySQL's advice (error 115) follows the causes
					t.Errorf("intended %q", f.Intended)
				}
			},
		},
		{
			name: "timeout: SYN retransmits, capture ends",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.SYN(0)
				k.SYN(1000)
				k.SYN(3000)
				s.udp(3500, "192.0.2.99:1", "192.0.2.98:2", []byte("x")) // the clock runs on
			},
			want: []Outcome{Timeout},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if a.SYNCount != 3 || a.Retransmits != 2 {
					t.Errorf("syn_count %d retransmits %d", a.SYNCount, a.Retransmits)
				}
				f := a.Facts
				if a.Reason != ReasonSYNUnanswered || f.SYNs != 3 || !near(f.SYNSpanMS, 3000, 0.001) || f.Ended != "capture_end" || !near(f.SinceLastSYNMS, 500, 0.001) {
					t.Errorf("reason %s facts %+v", a.Reason, f)
				}
			},
		},
		{
			name: "timeout decided on the event clock, before the capture ends",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.SYN(0)
				k.SYN(1000)
				// 2 s later a retransmit is due; 4 s after it it's overdue.
				s.udp(6000, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
				if len(s.got) != 1 || s.got[0].Outcome != Timeout {
					s.t.Errorf("connect not reported on the event clock: %d reported", len(s.got))
				}
			},
			want: []Outcome{Timeout},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				if f := cs[0].Attempts[0].Facts; f.Ended != "no_retransmit" || !near(f.RetransmitDueMS, 3000, 0.001) {
					t.Errorf("facts %+v", f)
				}
			},
		},
		{
			name: "incomplete: capture ends right after the SYN",
			script: func(s *sim) {
				s.conn(cli, srv).SYN(0)
				s.udp(200, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
			},
			want: []Outcome{Incomplete},
		},
		{
			name: "unreachable: ICMP port unreachable from the server (firewall reject)",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.SYN(0)
				k.icmp(0.3, "192.0.2.20", false, 3, 3)
			},
			want: []Outcome{Unreachable},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				f := a.Facts
				if a.Reason != ReasonICMPPortUnreachable || f.ICMP == nil || *f.ICMP != (ICMPFact{From: "192.0.2.20", Type: 3, Code: 3}) || f.AnsweredSYN != 1 || !near(f.ReplyMS, 0.3, 0.0001) {
					t.Errorf("reason %s facts %+v icmp %+v", a.Reason, f, f.ICMP)
				}
			},
		},
		{
			name: "unreachable: router host unreachable",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.SYN(0)
				k.SYN(1000)
				k.icmp(3000, "192.0.2.1", false, 3, 1)
			},
			want: []Outcome{Unreachable},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if f := a.Facts; a.Reason != ReasonICMPHostUnreachable || f.ICMP == nil || f.ICMP.From != "192.0.2.1" || f.ICMP.FromClient || f.ICMP.Local || f.AnsweredSYN != 2 {
					t.Errorf("reason %s facts %+v", a.Reason, f)
				}
			},
		},
		{
			name: "unreachable: ICMPv6 admin prohibited",
			script: func(s *sim) {
				k := s.conn(cli6, srv6)
				k.SYN(0)
				k.icmp(0.2, "2001:db8::20", true, 1, 1)
			},
			want: []Outcome{Unreachable},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if a.Client != cli6 || a.Server != srv6 || a.Reason != ReasonICMPAdminProhibited || a.Facts.ICMP == nil || !a.Facts.ICMP.V6 || a.Facts.ICMP.Code != 1 {
					t.Errorf("attempt %s→%s reason %s facts %+v", a.Client, a.Server, a.Reason, a.Facts)
				}
			},
		},
		{
			name: "unreachable: ARP failure, ICMP generated locally, SYN never on the wire",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.icmp(3000, "192.0.2.10", false, 3, 1)
			},
			want: []Outcome{Unreachable},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if f := a.Facts; a.SYNCount != 0 || a.Reason != ReasonNoARPReply || f.AnsweredSYN != 0 || f.ICMP == nil || !f.ICMP.FromClient {
					t.Errorf("syn %d reason %s facts %+v", a.SYNCount, a.Reason, f)
				}
			},
		},
		{
			name: "ICMP quoting another sequence number is ignored",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.SYN(0)
				k.cisn = 7
				k.icmp(0.3, "192.0.2.20", false, 3, 3)
				k.cisn = 1000
				k.SYNACK(0.5)
				k.ACK(0.6)
				k.server(1, mariadbGreeting())
			},
			want: []Outcome{OK},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				if !hasEvent(cs[0].Attempts[0], EvICMPError, func(e *Event, d *proto.Detail, _ *proto.Msg) bool {
					return e.Note == NoteOtherSYN && d.ICMP != nil && d.ICMP.QuotedSeq == 7 && d.ICMP.Type == 3 && d.ICMP.Code == 3
				}) {
					t.Errorf("events %+v", cs[0].Attempts[0].Events)
				}
			},
		},
		{
			name: "no_greeting: connected, server silent, client gives up",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.clientFIN(3000)
			},
			want: []Outcome{NoGreeting},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if f := a.Facts; a.GreetingDelayMS != nil || a.Reason != ReasonNoServerBytes || f.Ended != "client_close" || f.ClientClose != "FIN" || !near(f.SinceHandshakeMS, 2999.89, 0.0001) {
					t.Errorf("reason %s facts %+v", a.Reason, f)
				}
			},
		},
		{
			name: "greeting_late: greeting after the client's FIN",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.clientFIN(3000)
				k.server(5000, mariadbGreeting())
			},
			want: []Outcome{GreetingLate},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if !near(a.GreetingDelayMS, 4999.89, 0.01) || mysqlOf(a) == nil || mysqlOf(a).ServerVersion == "" {
					t.Errorf("greeting %v mysql %+v", a.GreetingDelayMS, mysqlOf(a))
				}
				if !hasSubstring(a.Causes, "skip_name_resolve") {
					t.Errorf("causes %q", a.Causes)
				}
			},
		},
		{
			name: "ok with a slow greeting inside the timeout",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.server(2000.11, mariadbGreeting())
				k.clientFIN(2001)
			},
			want: []Outcome{OK},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if !near(a.GreetingDelayMS, 2000, 0.01) || !hasSubstring(a.Evidence, "the greeting took 2.0 s") || !hasSubstring(a.Causes, "reverse DNS") {
					t.Errorf("greeting %v evidence %q causes %q", a.GreetingDelayMS, a.Evidence, a.Causes)
				}
			},
		},
		{
			name: "closed_before_greeting",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.serverFIN(1)
			},
			want: []Outcome{ClosedBeforeGreeting},
		},
		{
			name: "rejected: 1130 at greeting, pre-4.1 ERR without SQLSTATE",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.server(0.5, errPacket(0, 1130, "", "Host '192.0.2.10' is not allowed to connect to this MariaDB server"))
				k.serverFIN(0.6)
			},
			want: []Outcome{Rejected},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				m := mysqlOf(cs[0].Attempts[0])
				if m == nil || m.ErrorCode != 1130 || m.SQLState != "" || !strings.HasPrefix(m.ErrorMessage, "Host '192.0.2.10'") {
					t.Errorf("mysql %+v", m)
				}
				if !hasSubstring(cs[0].Attempts[0].Causes, "user@host") {
					t.Errorf("causes %q", cs[0].Attempts[0].Causes)
				}
			},
		},
		{
			name: "rejected: 1040 too many connections",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.server(0.5, errPacket(0, 1040, "08004", "Too many connections"))
			},
			want: []Outcome{Rejected},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if mysqlOf(a).SQLState != "08004" || !hasSubstring(a.Causes, "max_connections") {
					t.Errorf("mysql %+v causes %q", mysqlOf(a), a.Causes)
				}
			},
		},
		{
			name: "auth_failed: 1045 after the login",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.server(0.5, mariadbGreeting())
				k.client(1, handshakeResponse("app", defaultCaps))
				k.server(3, errPacket(2, 1045, "28000", "Access denied for user 'app'@'192.0.2.10' (using password: YES)"))
			},
			want: []Outcome{AuthFailed},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				m := mysqlOf(cs[0].Attempts[0])
				if m.User != "app" || m.ErrorCode != 1045 || m.SQLState != "28000" {
					t.Errorf("mysql %+v", m)
				}
			},
		},
		{
			name: "auth switch then OK",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.server(0.5, mariadbGreeting())
				k.client(1, handshakeResponse("app", defaultCaps))
				k.server(2, myPacket(2, append([]byte{0xfe}, "caching_sha2_password\x00SCRAMBLE0123456789\x00"...)))
				k.client(3, myPacket(3, []byte("SECRETRESPONSE")))
				k.server(4, myPacket(4, []byte{1, 3}))
				k.server(4.1, okPacket(5))
			},
			want: []Outcome{OK},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if mysqlOf(a).AuthPlugin != "caching_sha2_password" || !hasEvent(a, EvAuthMoreData, func(e *Event, _ *proto.Detail, _ *proto.Msg) bool { return e.Note == mysql.NoteFastAuthOK }) {
					t.Errorf("mysql %+v", mysqlOf(a))
				}
			},
		},
		{
			name: "wrong_protocol: SSH banner on 3306",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.server(1, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"))
				k.clientFIN(3000)
			},
			want: []Outcome{WrongProtocol},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				if f := cs[0].Attempts[0].Facts; f.Banner != "SSH-2.0-OpenSSH_9.2p1 Debian-2" || f.Expected != "MySQL" {
					t.Errorf("facts %+v", f)
				}
			},
		},
		{
			name: "unreachable: first ICMPv6 kept as a soft error, the retransmit ends it (one attempt)",
			script: func(s *sim) {
				k := s.conn(cli6, srv6)
				k.SYN(0)
				k.icmp(0.05, "2001:db8::20", true, 1, 4)
				k.SYN(1000)
				k.icmp(1000.05, "2001:db8::20", true, 1, 4)
			},
			want: []Outcome{Unreachable},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if f := a.Facts; a.SYNCount != 2 || a.DurationMS != 1000.05 || f.AnsweredSYN != 1 || len(f.SoftErrors) != 1 || f.SoftErrors[0] != (SoftErrorFact{SYN: 1, AtMS: 1000}) {
					t.Errorf("syn %d duration %v facts %+v", a.SYNCount, a.DurationMS, f)
				}
			},
		},
		{
			name: "wrong_protocol on another port: SSH banner, silent client, server closes",
			script: func(s *sim) {
				k := s.conn(cli, "192.0.2.20:3323")
				k.handshake(0, 0.1)
				k.server(1, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
				k.serverFIN(500)
				k.clientFIN(501)
			},
			want: []Outcome{WrongProtocol},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if f := a.Facts; a.Reason != ReasonClientSilentToBanner || f.ClosedBy != "server" || f.Close != "FIN" || !near(f.SinceServerMS, 499, 0.001) {
					t.Errorf("reason %s facts %+v", a.Reason, f)
				}
			},
		},
		{
			name: "an SSH client answering an SSH server is ok",
			script: func(s *sim) {
				k := s.conn(cli, "192.0.2.20:2222")
				k.handshake(0, 0.1)
				k.server(1, []byte("SSH-2.0-OpenSSH_9.2p1\r\n"))
				k.client(2, []byte("SSH-2.0-OpenSSH_9.6\r\n"))
				k.serverFIN(500)
			},
			want: []Outcome{OK},
		},
		{
			name: "another TCP service keeps its TCP timeline",
			script: func(s *sim) {
				k := s.conn(cli, "192.0.2.20:22")
				k.handshake(0, 0.1)
				k.server(5, []byte("SSH-2.0-OpenSSH_9.2p1\r\n"))
			},
			want: []Outcome{OK},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if mysqlOf(a) != nil || !near(a.GreetingDelayMS, 4.89, 0.01) {
					t.Errorf("mysql %+v greeting %v", mysqlOf(a), a.GreetingDelayMS)
				}
			},
		},
		{
			name: "client-first protocol (HTTP) is ok",
			script: func(s *sim) {
				k := s.conn(cli, "192.0.2.20:80")
				k.handshake(0, 0.1)
				k.client(0.2, []byte("GET / HTTP/1.1\r\n\r\n"))
				k.server(3, []byte("HTTP/1.1 200 OK\r\n\r\n"))
			},
			want: []Outcome{OK},
		},
		{
			name: "TLS established: encrypted, ok",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.server(0.5, mariadbGreeting())
				k.client(1, sslRequest())
				k.client(1.1, tlsRecord(22, 300))
				k.server(2, append(tlsRecord(22, 90), tlsRecord(20, 1)...))
				k.server(2.1, tlsRecord(23, 1500))
				k.client(3, append(tlsRecord(20, 1), tlsRecord(23, 60)...))
				k.server(4, tlsRecord(23, 40))
			},
			want: []Outcome{OK},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				m := mysqlOf(cs[0].Attempts[0])
				if !m.TLSRequested || !m.Encrypted {
					t.Errorf("mysql %+v", m)
				}
			},
		},
		{
			name: "tls_failed: alert from the server",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.server(0.5, mariadbGreeting())
				k.client(1, sslRequest())
				k.client(1.1, tlsRecord(22, 300))
				k.server(2, tlsAlert(70))
				k.serverFIN(2.1)
			},
			want: []Outcome{TLSFailed},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				if a := cs[0].Attempts[0]; a.Reason != ReasonTLSAlert || a.Facts.TLSAlert != "server protocol_version" {
					t.Errorf("reason %s facts %+v", a.Reason, a.Facts)
				}
			},
		},
		{
			name: "tls_failed: client requires TLS the server does not offer",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				k.server(0.5, greeting("10.11.6-MariaDB", 7, defaultCaps&^0x800, "mysql_native_password"))
				k.clientFIN(0.8)
			},
			want: []Outcome{TLSFailed},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				if !hasSubstring(cs[0].Attempts[0].Causes, "does not offer it") {
					t.Errorf("causes %q", cs[0].Attempts[0].Causes)
				}
			},
		},
		{
			name: "greeting split across segments, delivered out of order, with a retransmit",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				g := mariadbGreeting()
				first, second := g[:10], g[10:]
				base := k.sseq
				k.sseq = base + 10
				k.server(0.5, second)
				k.sseq = base
				k.server(0.6, first)
				k.sseq = base
				k.server(0.7, first) // retransmit
				k.sseq = base + uint32(len(g))
				k.client(1, handshakeResponse("bob", defaultCaps))
				k.server(2, okPacket(2))
			},
			want: []Outcome{OK},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if mysqlOf(a).User != "bob" || mysqlOf(a).ConnectionID != 42 || a.Retransmits != 1 {
					t.Errorf("mysql %+v retransmits %d", mysqlOf(a), a.Retransmits)
				}
			},
		},
		{
			name: "greeting cut by the snap length still names the server",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.handshake(0, 0.1)
				g := mariadbGreeting()
				p := k.pkt(0.5, false, event.TCPAck|event.TCPPsh, g[:40])
				p.PayloadLen = len(g)
				s.feed(p)
				k.sseq += uint32(len(g))
				k.client(1, handshakeResponse("app", defaultCaps))
				k.server(2, okPacket(2))
			},
			want: []Outcome{OK},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if mysqlOf(a).ServerVersion != "5.5.5-10.11.6-MariaDB-0+deb12u1" || mysqlOf(a).User != "app" {
					t.Errorf("mysql %+v", mysqlOf(a))
				}
			},
		},
		{
			name: "duplicate frames are not retransmits",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.SYN(0)
				p := k.pkt(0.001, true, event.TCPSyn, nil)
				p.Seq, p.Ack, p.IPID = k.cisn, 0, 1 // same IP ID as the first SYN
				p.Interface = 1
				s.feed(p)
				k.refuse(0.1)
			},
			want: []Outcome{Refused},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				if cs[0].Attempts[0].SYNCount != 1 || sum.Duplicates != 1 {
					t.Errorf("syn_count %d duplicates %d", cs[0].Attempts[0].SYNCount, sum.Duplicates)
				}
			},
		},
		{
			name: "process from pcapng packet comments (connscope trace -w)",
			script: func(s *sim) {
				k := s.conn(cli, "192.0.2.20:3323")
				proc := &event.Process{PID: 77, TID: 77, Comm: "mariadb", FD: 4}
				p := k.pkt(0, true, event.TCPSyn, nil)
				p.Seq, p.Ack, p.Process = k.cisn, 0, proc
				s.feed(p)
				k.SYNACK(0.1)
				k.ACK(0.2)
				k.server(1, []byte("SSH-2.0-OpenSSH_9.2p1\r\n")) // a MySQL client: wrong protocol at once
			},
			want: []Outcome{WrongProtocol},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				a := cs[0].Attempts[0]
				if a.PID != 77 || a.Comm != "mariadb" || a.FD == nil || *a.FD != 4 || cs[0].PID != 77 {
					t.Errorf("attempt pid %d comm %q fd %v; connect pid %d", a.PID, a.Comm, a.FD, cs[0].PID)
				}
			},
		},
		{
			name: "port filter",
			opts: Options{Ports: []uint16{3306}},
			script: func(s *sim) {
				s.conn("192.0.2.10:40001", "192.0.2.20:80").handshake(0, 1)
				k := s.conn(cli, srv)
				k.SYN(0)
				k.refuse(1)
			},
			want: []Outcome{Refused},
		},
		{
			name: "host filter by address",
			opts: Options{Hosts: []string{"192.0.2.21"}},
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.SYN(0)
				k.refuse(1)
				k2 := s.conn("192.0.2.10:40001", "192.0.2.21:3306")
				k2.SYN(0)
				k2.refuse(1)
			},
			want: []Outcome{Refused},
			check: func(t *testing.T, cs []*Connect, sum Summary) {
				if cs[0].Attempts[0].Server != "192.0.2.21:3306" || sum.Connects != 1 {
					t.Errorf("got %s, %d connects", cs[0].Attempts[0].Server, sum.Connects)
				}
			},
		},
		{
			name: "port reuse: same 5-tuple, new ISN, is a new attempt",
			script: func(s *sim) {
				k := s.conn(cli, srv)
				k.SYN(0)
				k.refuse(0.1)
				k.cisn = 90000
				k.SYN(100)
				k.refuse(100.1)
			},
			want: []Outcome{Refused, Refused},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.opts)
			tc.script(s)
			sum := s.close()
			if got := attemptOutcomes(s.got); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("outcomes = %v, want %v\n%s", got, tc.want, dumpConnects(s.got))
			}
			for _, c := range s.got {
				if len(c.Attempts) > 0 && c.Outcome != c.Attempts[len(c.Attempts)-1].Outcome {
					t.Errorf("connect outcome %s != last attempt's %s", c.Outcome, c.Attempts[len(c.Attempts)-1].Outcome)
				}
				for _, a := range c.Attempts {
					if len(a.Evidence) == 0 {
						t.Errorf("attempt %s→%s (%s) has no evidence", a.Client, a.Server, a.Outcome)
					}
				}
			}
			if sum.Attempts != len(tc.want) {
				t.Errorf("summary attempts %d, want %d", sum.Attempts, len(tc.want))
			}
			if tc.check != nil {
				tc.check(t, s.got, sum)
			}
			if t.Failed() {
				t.Log(dumpConnects(s.got))
			}
		})
	}
}

func dumpConnects(cs []*Connect) string {
	var sb strings.Builder
	for _, c := range cs {
		b, _ := json.MarshalIndent(c, "", "  ")
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return sb.String()
}

func TestConnectGrouping(t *testing.T) {
	v4 := ip("192.0.2.20")
	v6 := ip("2001:db8::20")
	t.Run("AAAA blackhole, then IPv4 ok", func(t *testing.T) {
		s := newSim(t, Options{})
		s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, v4)
		s.lookup(0.1, 0.5, "192.0.2.10:5353", dnsS, 2, "db.lab.test", dns.TypeAAAA, 0, v6)
		k6 := s.conn(cli6, srv6)
		k6.SYN(1)
		k6.SYN(1001)
		k4 := s.conn(cli, srv)
		k4.handshake(3001, 0.1)
		k4.server(3002, mariadbGreeting())
		k4.client(3003, handshakeResponse("app", defaultCaps))
		k4.server(3004, okPacket(2))
		s.close()
		if len(s.got) != 1 {
			t.Fatalf("%d connects, want 1\n%s", len(s.got), dumpConnects(s.got))
		}
		c := s.got[0]
		if c.Name != "db.lab.test" || c.Outcome != OK || len(c.Resolution) != 2 || len(c.Attempts) != 2 {
			t.Fatalf("connect %s", dumpConnects(s.got))
		}
		if c.Attempts[0].Outcome != Timeout || c.Attempts[1].Outcome != OK {
			t.Errorf("attempts %s, %s", c.Attempts[0].Outcome, c.Attempts[1].Outcome)
		}
		if f := c.Attempts[0].Facts; f.Ended != "next_address" || f.NextAddress != "192.0.2.20:3306" || c.Attempts[0].DurationMS != 3000 {
			t.Errorf("first attempt: facts %+v, %v ms", f, c.Attempts[0].DurationMS)
		}
		q := c.Resolution[0]
		if q.Type != "A" || q.Rcode != "NOERROR" || !near(q.LatencyMS, 0.4, 0.001) || q.Server != dnsS || !reflect.DeepEqual(q.Answers, []string{"192.0.2.20"}) {
			t.Errorf("query %+v", q)
		}
		if c.DurationMS != 3004 {
			t.Errorf("duration %v", c.DurationMS)
		}
	})
	// A client walking its address list stops at its last attempt: that
	// attempt's outcome and reason are the connect's, whatever the
	// earlier ones were.
	for _, tc := range []struct {
		name         string
		refusedFirst bool
		first, last  Outcome
		lastReason   Reason
	}{
		{"IPv6 silent, then IPv4 refused", false, Timeout, Refused, ReasonRSTFromServer},
		{"IPv6 refused, then IPv4 silent", true, Refused, Timeout, ReasonSYNUnanswered},
	} {
		t.Run(tc.name+": the last attempt decides", func(t *testing.T) {
			s := newSim(t, Options{})
			s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, v4)
			s.lookup(0.1, 0.5, "192.0.2.10:5353", dnsS, 2, "db.lab.test", dns.TypeAAAA, 0, v6)
			k6, k4 := s.conn(cli6, srv6), s.conn(cli, srv)
			if tc.refusedFirst {
				k6.SYN(1)
				k6.refuse(1.1)
				k4.SYN(2)
				k4.SYN(1002)
				k4.SYN(3002)
			} else {
				k6.SYN(1)
				k6.SYN(1001)
				k4.SYN(3001)
				k4.refuse(3001.1)
			}
			s.udp(9000, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
			s.close()
			if len(s.got) != 1 || len(s.got[0].Attempts) != 2 {
				t.Fatalf("want one connect of two attempts:\n%s", dumpConnects(s.got))
			}
			c := s.got[0]
			if c.Attempts[0].Outcome != tc.first || c.Attempts[1].Outcome != tc.last {
				t.Fatalf("attempts %s, %s; want %s, %s", c.Attempts[0].Outcome, c.Attempts[1].Outcome, tc.first, tc.last)
			}
			if c.Outcome != tc.last || c.Reason != tc.lastReason {
				t.Errorf("connect %s (%s), want the last attempt's: %s (%s)", c.Outcome, c.Reason, tc.last, tc.lastReason)
			}
		})
	}
	t.Run("AAAA blackhole without fallback (PHP)", func(t *testing.T) {
		s := newSim(t, Options{})
		s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, v4)
		s.lookup(0.1, 0.5, "192.0.2.10:5353", dnsS, 2, "db.lab.test", dns.TypeAAAA, 0, v6)
		k6 := s.conn(cli6, srv6)
		k6.SYN(1)
		k6.SYN(1001)
		s.udp(9000, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
		s.close()
		if len(s.got) != 1 || len(s.got[0].Attempts) != 1 || s.got[0].Outcome != Timeout {
			t.Fatalf("%s", dumpConnects(s.got))
		}
		if !reflect.DeepEqual(s.got[0].Untried, []string{"192.0.2.20"}) {
			t.Errorf("untried %q", s.got[0].Untried)
		}
	})
	t.Run("NXDOMAIN is unresolved", func(t *testing.T) {
		s := newSim(t, Options{})
		s.lookup(0, 0.3, "192.0.2.10:5353", dnsS, 1, "nx.lab.test", dns.TypeA, dns.RcodeNXDomain)
		s.lookup(0.1, 0.4, "192.0.2.10:5353", dnsS, 2, "nx.lab.test", dns.TypeAAAA, dns.RcodeNXDomain)
		s.udp(5000, "192.0.2.99:1", "192.0.2.98:2", []byte("x"))
		if len(s.got) != 1 {
			t.Fatalf("unresolved connect not reported on the event clock")
		}
		s.close()
		c := s.got[0]
		if c.Outcome != Unresolved || len(c.Attempts) != 0 || len(c.Resolution) != 2 || c.Name != "nx.lab.test" || c.Client != "192.0.2.10" {
			t.Fatalf("%s", dumpConnects(s.got))
		}
		if !hasSubstring(c.Causes, "NXDOMAIN") || !hasSubstring(c.Evidence, "A nx.lab.test → NXDOMAIN from 192.0.2.53:53 after 0.300 ms") {
			t.Errorf("causes %q evidence %q", c.Causes, c.Evidence)
		}
	})
	t.Run("DNS never answers: retries, unresolved", func(t *testing.T) {
		s := newSim(t, Options{})
		s.lookup(0, -1, "192.0.2.10:5353", dnsS, 1, "slow.lab.test", dns.TypeA, 0)
		s.lookup(5000, -1, "192.0.2.10:5353", dnsS, 1, "slow.lab.test", dns.TypeA, 0)
		s.close()
		if len(s.got) != 1 || s.got[0].Outcome != Unresolved {
			t.Fatalf("%s", dumpConnects(s.got))
		}
		q := s.got[0].Resolution[0]
		if q.Retries != 1 || q.LatencyMS != nil || q.Rcode != "" || q.Error != "no answer" {
			t.Errorf("query %+v", q)
		}
		if !hasSubstring(s.got[0].Causes, "never answered") {
			t.Errorf("causes %q", s.got[0].Causes)
		}
	})
	t.Run("late DNS answer then connect", func(t *testing.T) {
		s := newSim(t, Options{})
		s.lookup(0, 2500, "192.0.2.10:5353", dnsS, 1, "late.lab.test", dns.TypeA, 0, v4)
		k := s.conn(cli, srv)
		k.handshake(2501, 0.1)
		k.server(2502, mariadbGreeting())
		s.close()
		c := s.got[0]
		if c.Name != "late.lab.test" || c.Outcome != OK || !near(c.Resolution[0].LatencyMS, 2500, 0.01) {
			t.Fatalf("%s", dumpConnects(s.got))
		}
		if !hasSubstring(c.Evidence, "name resolution was slow: A late.lab.test → NOERROR from 192.0.2.53:53 after 2.5 s") {
			t.Errorf("evidence %q", c.Evidence)
		}
	})
	t.Run("search list: NXDOMAIN for the first name, then the next one resolves", func(t *testing.T) {
		s := newSim(t, Options{})
		s.lookup(0, 0.2, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, dns.RcodeNXDomain)
		s.lookup(0.3, 0.5, "192.0.2.10:5353", dnsS, 2, "db", dns.TypeA, 0, v4)
		k := s.conn(cli, srv)
		k.SYN(1)
		k.refuse(1.1)
		s.close()
		if len(s.got) != 1 || len(s.got[0].Resolution) != 2 || s.got[0].Outcome != Refused || s.got[0].Name != "db" {
			t.Fatalf("%s", dumpConnects(s.got))
		}
	})
	t.Run("without DNS every attempt is its own connect", func(t *testing.T) {
		s := newSim(t, Options{})
		k6 := s.conn(cli6, srv6)
		k6.SYN(0)
		k6.refuse(0.1)
		k := s.conn(cli, srv)
		k.SYN(0.2)
		k.refuse(0.3)
		s.close()
		if len(s.got) != 2 {
			t.Fatalf("%s", dumpConnects(s.got))
		}
	})
	t.Run("host filter matches the resolved name", func(t *testing.T) {
		s := newSim(t, Options{Hosts: []string{"db.lab.test"}})
		s.lookup(0, 0.4, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, v4)
		k := s.conn(cli, srv)
		k.SYN(1)
		k.refuse(1.1)
		k2 := s.conn("192.0.2.10:40009", "192.0.2.30:3306")
		k2.SYN(2)
		k2.refuse(2.1)
		s.close()
		if len(s.got) != 1 || s.got[0].Name != "db.lab.test" {
			t.Fatalf("%s", dumpConnects(s.got))
		}
	})
}

func TestKernelEvents(t *testing.T) {
	proc := event.Process{PID: 4242, TID: 4242, Comm: "mariadb", FD: 3}
	kev := func(s *sim, ms float64, kind event.KernelKind, f func(k *event.Kernel)) {
		k := &event.Kernel{Time: s.at(ms), Kind: kind, Process: proc, Cookie: 77, Family: event.FamilyInet, SockType: event.SockStream}
		f(k)
		s.kernel(k)
	}
	unix := func(ret int32) func(s *sim) {
		return func(s *sim) {
			kev(s, 0, event.ConnectCall, func(k *event.Kernel) {
				k.Family = event.FamilyUnix
				k.UnixPath = "/run/mysqld/mysqld.sock"
				k.Ret = ret
			})
		}
	}
	tests := []struct {
		name   string
		opts   Options
		script func(s *sim)
		want   []Outcome
		check  func(t *testing.T, a *Attempt)
	}{
		{name: "unix socket missing", script: unix(-errENOENT), want: []Outcome{SocketMissing},
			check: func(t *testing.T, a *Attempt) {
				if a.Server != "/run/mysqld/mysqld.sock" || a.Client != "unix" || a.Errno != "ENOENT" || a.PID != 4242 || a.Comm != "mariadb" || a.FD == nil || *a.FD != 3 {
					t.Errorf("attempt %+v", a)
				}
			}},
		{name: "unix socket permission denied", script: unix(-errEACCES), want: []Outcome{PermissionDenied}},
		{name: "unix socket stale", script: unix(-errECONNREFUSED), want: []Outcome{Refused},
			check: func(t *testing.T, a *Attempt) {
				if a.Reason != ReasonECONNREFUSEDUnix || a.Facts.Errno != "ECONNREFUSED" {
					t.Errorf("reason %s facts %+v", a.Reason, a.Facts)
				}
			}},
		{name: "unix socket ok", script: unix(0), want: []Outcome{OK}},
		{name: "nscd socket is not an attempt", script: func(s *sim) {
			kev(s, 0, event.ConnectCall, func(k *event.Kernel) {
				k.Family = event.FamilyUnix
				k.UnixPath = "/var/run/nscd/socket"
				k.Ret = -errENOENT
			})
		}},
		{name: "no route: connect() fails at once", script: func(s *sim) {
			kev(s, 0, event.ConnectCall, func(k *event.Kernel) {
				k.Dst = ap("198.51.100.7:3306")
				k.Ret = -errENETUNREACH
			})
		}, want: []Outcome{NoRoute}, check: func(t *testing.T, a *Attempt) {
			if a.Errno != "ENETUNREACH" || a.Server != "198.51.100.7:3306" || a.SYNCount != 0 {
				t.Errorf("attempt %+v", a)
			}
		}},
		{name: "no local port: EADDRNOTAVAIL", script: func(s *sim) {
			kev(s, 0, event.StateChange, func(k *event.Kernel) {
				k.Src = ap("192.0.2.10:0")
				k.Dst = ap(srv)
				k.OldState, k.NewState = event.TCPClose, event.TCPSynSent
			})
			kev(s, 0.01, event.StateChange, func(k *event.Kernel) {
				k.Src = ap("192.0.2.10:0")
				k.Dst = ap(srv)
				k.OldState, k.NewState = event.TCPSynSent, event.TCPClose
			})
			kev(s, 0.02, event.ConnectCall, func(k *event.Kernel) {
				k.Dst = ap(srv)
				k.Ret = -errEADDRNOTAVAIL
			})
		}, want: []Outcome{NoLocalPort}, check: func(t *testing.T, a *Attempt) {
			if a.Errno != "EADDRNOTAVAIL" || a.Reason != ReasonEADDRNOTAVAIL || a.Facts.AtOnce {
				t.Errorf("attempt %+v", a)
			}
		}},
		{name: "packets and kernel events: refused with process and errno", script: func(s *sim) {
			kev(s, 0, event.StateChange, func(k *event.Kernel) {
				k.Src, k.Dst = ap(cli), ap(srv)
				k.OldState, k.NewState = event.TCPClose, event.TCPSynSent
			})
			c := s.conn(cli, srv)
			c.SYN(0.01)
			kev(s, 0.02, event.ConnectCall, func(k *event.Kernel) { k.Dst = ap(srv); k.Ret = -errEINPROGRESS })
			c.refuse(0.1)
			kev(s, 0.11, event.ResetReceived, func(k *event.Kernel) {})
			kev(s, 0.12, event.SocketError, func(k *event.Kernel) { k.Errno = errECONNREFUSED })
			kev(s, 0.13, event.StateChange, func(k *event.Kernel) {
				k.OldState, k.NewState = event.TCPSynSent, event.TCPClose
			})
		}, want: []Outcome{Refused}, check: func(t *testing.T, a *Attempt) {
			if a.PID != 4242 || a.Comm != "mariadb" || a.Errno != "ECONNREFUSED" || a.SYNCount != 1 {
				t.Errorf("attempt %+v", a)
			}
			if !hasEvent(a, EvKernelConnect, func(e *Event, _ *proto.Detail, _ *proto.Msg) bool { return e.Errno == "EINPROGRESS" }) ||
				!hasEvent(a, EvKernelError, func(e *Event, _ *proto.Detail, _ *proto.Msg) bool { return e.Errno == "ECONNREFUSED" }) ||
				!hasEvent(a, EvKernelState, func(_ *Event, d *proto.Detail, _ *proto.Msg) bool {
					return d.StateFrom == "CLOSE" && d.StateTo == "SYN_SENT" && d.PID == 4242 && d.Comm == "mariadb"
				}) {
				t.Errorf("events %+v", a.Events)
			}
			if e := a.Events[0]; e.TMS != 0 || e.Kind != EvKernelState || e.Detail == nil || e.Detail.StateTo != "SYN_SENT" {
				t.Errorf("timeline does not start with the kernel event: %+v", a.Events[0])
			}
		}},
		{name: "signal interrupts a blocking connect (ERESTARTSYS): not a failure", script: func(s *sim) {
			kev(s, 0, event.StateChange, func(k *event.Kernel) {
				k.Src, k.Dst = ap(cli), ap(srv)
				k.OldState, k.NewState = event.TCPClose, event.TCPSynSent
			})
			c := s.conn(cli, srv)
			c.SYN(0.01)
			kev(s, 0.5, event.ConnectCall, func(k *event.Kernel) { k.Dst = ap(srv); k.Ret = -errERESTARTSYS })
			c.refuse(0.6)
			kev(s, 0.61, event.SocketError, func(k *event.Kernel) { k.Errno = errECONNREFUSED })
		}, want: []Outcome{Refused}, check: func(t *testing.T, a *Attempt) {
			if a.Errno != "ECONNREFUSED" || a.Reason != ReasonRSTFromServer {
				t.Errorf("errno %q reason %s, want ECONNREFUSED %s", a.Errno, a.Reason, ReasonRSTFromServer)
			}
			if !hasEvent(a, EvKernelConnect, func(e *Event, _ *proto.Detail, _ *proto.Msg) bool { return e.Errno == "ERESTARTSYS" }) {
				t.Errorf("events %+v: want connect() = -ERESTARTSYS by name", a.Events)
			}
		}},
		{name: "signal interrupts a blocking unix connect: undecided, not errno 512", script: unix(-errERESTARTSYS), want: []Outcome{Incomplete}},
		{name: "ARP failure: SYN never leaves, EHOSTUNREACH", script: func(s *sim) {
			s.udp(0, "192.0.2.99:1", "192.0.2.98:2", []byte("x")) // the capture is running
			kev(s, 0, event.StateChange, func(k *event.Kernel) {
				k.Src, k.Dst = ap(cli), ap("192.0.2.77:3306")
				k.OldState, k.NewState = event.TCPClose, event.TCPSynSent
			})
			kev(s, 1000, event.Retransmit, func(k *event.Kernel) {})
			kev(s, 3000, event.SocketError, func(k *event.Kernel) { k.Errno = errEHOSTUNREACH })
		}, want: []Outcome{Unreachable}, check: func(t *testing.T, a *Attempt) {
			if a.Reason != ReasonNoARPReply || a.Facts.Errno != "EHOSTUNREACH" || a.Facts.Wire || a.Errno != "EHOSTUNREACH" {
				t.Errorf("attempt %+v", a)
			}
		}},
		{name: "kernel only: timeout, client closes in SYN_SENT", opts: Options{NoPackets: true}, script: func(s *sim) {
			kev(s, 0, event.StateChange, func(k *event.Kernel) {
				k.Src, k.Dst = ap(cli), ap(srv)
				k.OldState, k.NewState = event.TCPClose, event.TCPSynSent
			})
			kev(s, 1000, event.Retransmit, func(k *event.Kernel) {})
			kev(s, 3000, event.StateChange, func(k *event.Kernel) {
				k.OldState, k.NewState = event.TCPSynSent, event.TCPClose
			})
		}, want: []Outcome{Timeout}, check: func(t *testing.T, a *Attempt) {
			if f := a.Facts; a.SYNCount != 2 || a.DurationMS != 3000 || f.Ended != "socket_close" || !near(f.SinceFirstSYNMS, 3000, 0.001) {
				t.Errorf("attempt %+v", a)
			}
		}},
		{name: "kernel only: connected is ok", opts: Options{NoPackets: true}, script: func(s *sim) {
			kev(s, 0, event.StateChange, func(k *event.Kernel) {
				k.Src, k.Dst = ap(cli), ap(srv)
				k.OldState, k.NewState = event.TCPClose, event.TCPSynSent
			})
			kev(s, 0.2, event.StateChange, func(k *event.Kernel) {
				k.OldState, k.NewState = event.TCPSynSent, event.TCPEstablished
			})
		}, want: []Outcome{OK}, check: func(t *testing.T, a *Attempt) {
			if !near(a.RTTMS, 0.2, 0.001) {
				t.Errorf("rtt %v", a.RTTMS)
			}
		}},
		{name: "resolver UDP connects are evidence, not attempts", script: func(s *sim) {
			kev(s, 0, event.ConnectCall, func(k *event.Kernel) {
				k.SockType = event.SockDgram
				k.Src, k.Dst = ap("192.0.2.10:5353"), ap(dnsS)
			})
			s.lookup(0.1, 0.3, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, ip("192.0.2.20"))
			for i, cand := range []string{"[2001:db8::20]:3306", "192.0.2.20:3306"} {
				kev(s, 0.4+float64(i)/10, event.ConnectCall, func(k *event.Kernel) {
					k.SockType = event.SockDgram
					k.Family = event.FamilyInet6
					k.Dst = ap(cand)
				})
			}
			kev(s, 1, event.StateChange, func(k *event.Kernel) {
				k.Src, k.Dst = ap(cli), ap(srv)
				k.OldState, k.NewState = event.TCPClose, event.TCPSynSent
			})
			c := s.conn(cli, srv)
			c.SYN(1.01)
			c.refuse(1.1)
		}, want: []Outcome{Refused}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.opts)
			tc.script(s)
			s.close()
			if got := attemptOutcomes(s.got); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("outcomes = %v, want %v\n%s", got, tc.want, dumpConnects(s.got))
			}
			if tc.check != nil && len(s.got) > 0 {
				tc.check(t, s.got[0].Attempts[0])
			}
			if t.Failed() {
				t.Log(dumpConnects(s.got))
			}
		})
	}
}

func TestResolverEvidence(t *testing.T) {
	s := newSim(t, Options{})
	proc := event.Process{PID: 99, Comm: "php", FD: 5}
	s.kernel(&event.Kernel{Time: s.at(0), Kind: event.ConnectCall, Process: proc, Family: event.FamilyInet, SockType: event.SockDgram,
		Src: ap("192.0.2.10:5353"), Dst: ap(dnsS)})
	s.lookup(0.1, 0.3, "192.0.2.10:5353", dnsS, 1, "db.lab.test", dns.TypeA, 0, ip("192.0.2.20"))
	for i, cand := range []string{"[2001:db8::20]:3306", "192.0.2.20:3306"} {
		s.kernel(&event.Kernel{Time: s.at(0.4 + float64(i)/10), Kind: event.ConnectCall, Process: proc, Family: event.FamilyInet6, SockType: event.SockDgram, Dst: ap(cand)})
	}
	s.kernel(&event.Kernel{Time: s.at(1), Kind: event.StateChange, Process: proc, Cookie: 5, Family: event.FamilyInet, SockType: event.SockStream,
		Src: ap(cli), Dst: ap(srv), OldState: event.TCPClose, NewState: event.TCPSynSent})
	c := s.conn(cli, srv)
	c.SYN(1.01)
	c.refuse(1.1)
	s.e.Advance(s.at(2000))
	if len(s.got) != 1 {
		t.Fatalf("connect not reported after Advance: %d", len(s.got))
	}
	got := s.got[0]
	if got.PID != 99 || got.Comm != "php" || got.Name != "db.lab.test" || got.Resolver == nil {
		t.Fatalf("%s", dumpConnects(s.got))
	}
	if !reflect.DeepEqual(got.Resolver.Servers, []string{dnsS}) || !reflect.DeepEqual(got.Resolver.Candidates, []string{"2001:db8::20", "192.0.2.20"}) {
		t.Errorf("resolver %+v", got.Resolver)
	}
	if got.Resolution[0].Start != s.at(0.1) {
		t.Errorf("resolution start %v", got.Resolution[0].Start)
	}
}

// TestPortFilterUnixSockets: a unix socket has no port; under a port
// filter it is followed only when --host names its path, or when its path
// names MySQL and a filtered port is a MySQL port.
func TestPortFilterUnixSockets(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		opts  Options
		shown bool
	}{
		{"no filter, any socket", "/run/app/app.sock", Options{}, true},
		{"no filter, mysql socket", "/run/mysqld/mysqld.sock", Options{}, true},
		{"unrelated port, mysql socket", "/run/mysqld/mysqld.sock", Options{Ports: []uint16{28001, 28002}}, false},
		{"unrelated port, other socket", "/run/app/app.sock", Options{Ports: []uint16{28001}}, false},
		{"mysql port, mysql socket", "/run/mysqld/mysqld.sock", Options{Ports: []uint16{28001, 3306}}, true},
		{"mysql port, other socket", "/run/app/app.sock", Options{Ports: []uint16{3306}}, false},
		{"custom mysql port", "/var/lib/mysql/mysql.sock", Options{Ports: []uint16{3307}, MySQLPorts: []uint16{3307}}, true},
		{"host names the path", "/run/app/app.sock", Options{Ports: []uint16{28001}, Hosts: []string{"/run/app/app.sock"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.opts)
			s.kernel(&event.Kernel{Time: s.at(0), Kind: event.ConnectCall, Family: event.FamilyUnix, SockType: event.SockStream,
				UnixPath: tc.path, Ret: -errENOENT, Process: event.Process{PID: 7, TID: 7, Comm: "client"}})
			s.close()
			if shown := len(s.got) == 1; shown != tc.shown {
				t.Errorf("connect to %s with %+v: %d connects reported, want shown=%v", tc.path, tc.opts, len(s.got), tc.shown)
			}
		})
	}
}

// TestConnectThenCloseCheck: a client that closes at once after the
// handshake (within closedAtOnce), having sent and received nothing, is a
// connect-then-close health check: ok, not a failed greeting. A client that
// waited (a connect timeout of seconds) keeps its no_greeting verdict.
func TestConnectThenCloseCheck(t *testing.T) {
	tests := []struct {
		name   string
		server string
		script func(k *conn)
		want   Reason
		// since is the client's wait before its close (facts.since_handshake_ms; 0: not checked)
		since float64
	}{
		{"FIN at once, other port", "192.0.2.20:28001", func(k *conn) {
			k.handshake(0, 0.1)
			k.clientFIN(0.15)
			k.serverFIN(0.2)
		}, ReasonClientClosedNoSend, 0.04},
		{"RST at once, other port", "192.0.2.20:28001", func(k *conn) {
			k.handshake(0, 0.1)
			k.clientRST(0.12)
		}, ReasonClientClosedNoSend, 0.01},
		{"FIN at once, MySQL port", "192.0.2.20:3306", func(k *conn) {
			k.handshake(0, 0.1)
			k.clientFIN(0.15)
			k.serverFIN(0.2)
		}, ReasonClientClosedNoSend, 0},
		{"greeting racing the close is ignored", "192.0.2.20:3306", func(k *conn) {
			k.handshake(0, 0.1)
			k.clientFIN(0.15)
			k.server(0.3, mariadbGreeting())
			k.serverFIN(0.4)
		}, ReasonClientClosedNoSend, 0},
		{"waited 3 s for a greeting", "192.0.2.20:3306", func(k *conn) {
			k.handshake(0, 0.1)
			k.clientFIN(3000.2)
			k.serverFIN(3000.3)
		}, ReasonNoServerBytes, 0},
		{"connect() returned late on a loaded host, then FIN at once", "192.0.2.20:28001", func(k *conn) {
			k.handshake(0, 0.1)
			k.s.kernel(&event.Kernel{Time: k.s.at(300.1), Kind: event.ConnectCall, Family: event.FamilyInet, SockType: event.SockStream,
				Src: ap("192.0.2.10:40100"), Dst: ap("192.0.2.20:28001"), Ret: 0, Process: event.Process{PID: 9, TID: 9, Comm: "checker"}})
			k.clientFIN(300.15)
			k.serverFIN(300.2)
		}, ReasonClientClosedNoSend, 0.05},
		{"waited 250 ms, other port", "192.0.2.20:28001", func(k *conn) {
			k.handshake(0, 0.1)
			k.clientFIN(250.2)
			k.serverFIN(250.3)
		}, ReasonNoServerBytes, 0},
		{"client sent data, then closed at once", "192.0.2.20:28001", func(k *conn) {
			k.handshake(0, 0.1)
			k.client(0.12, []byte("GET / HTTP/1.0\r\n\r\n"))
			k.clientFIN(0.13)
			k.serverFIN(0.2)
		}, ReasonRequestUnanswered, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Options{})
			tc.script(s.conn("192.0.2.10:40100", tc.server))
			s.close()
			if len(s.got) != 1 || len(s.got[0].Attempts) != 1 {
				t.Fatalf("%s", dumpConnects(s.got))
			}
			a := s.got[0].Attempts[0]
			if a.Reason != tc.want || tc.since != 0 && !near(a.Facts.SinceHandshakeMS, tc.since, 0.0001) {
				t.Errorf("reason %s, facts %+v; want %s after %v ms\n%s", a.Reason, a.Facts, tc.want, tc.since, dumpConnects(s.got))
			}
		})
	}
}

// TestBuildAttemptTimelineOrder: a timeline whose steps came out of time
// order (a kernel event stamped before the packet handled ahead of it) is
// sorted, stably, and every step's offset is from the attempt's start —
// and one in order keeps its order and gets the same offsets.
func TestBuildAttemptTimelineOrder(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	for _, tc := range []struct {
		name  string
		steps []float64
		want  []float64 // offsets after building, in timeline order
		kinds []EventKind
	}{
		{"in order", []float64{0, 1.5, 3}, []float64{0, 1.5, 3}, []EventKind{EvSYN, EvSYNACK, EvRST}},
		{"out of order", []float64{0, 3, 1.5, 1.5}, []float64{0, 1.5, 1.5, 3}, []EventKind{EvSYN, EvSYNACK, EvFIN, EvRST}},
	} {
		e := NewEngine(Options{})
		a := e.newAttempt(ap("10.0.0.1:40000"), ap("10.0.0.2:3306"), t0)
		kinds := []EventKind{EvSYN, EvRST, EvSYNACK, EvFIN}
		if len(tc.steps) == 3 {
			kinds = []EventKind{EvSYN, EvSYNACK, EvRST}
		}
		for i, ms := range tc.steps {
			a.event(at(ms), kinds[i], DirC2S, EventAttrs{})
		}
		a.final, a.endAt = true, at(3)
		out := e.buildAttempt(a)
		var got []float64
		var gotKinds []EventKind
		for _, ev := range out.Events {
			got = append(got, ev.TMS)
			gotKinds = append(gotKinds, ev.Kind)
		}
		if !slices.Equal(got, tc.want) || !slices.Equal(gotKinds, tc.kinds) {
			t.Errorf("%s: offsets %v kinds %v, want %v %v", tc.name, got, gotKinds, tc.want, tc.kinds)
		}
	}
}
