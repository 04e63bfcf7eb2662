package report

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/postgres"
	"github.com/connscope/connscope/analyze/proto"
)

// TestEventWords pins the words of every kind of timeline step (and each of
// its notes) made from the facts the engine and the protocols record: the
// same words the engine used to write itself.
func TestEventWords(t *testing.T) {
	type A = analyze.EventAttrs
	type D = proto.Detail
	type M = proto.Msg
	const srv = "198.51.100.10:3306"
	ev := func(k analyze.EventKind, d analyze.Dir, a A) analyze.Event {
		return analyze.Event{Kind: k, Dir: d, EventAttrs: a}
	}
	c2s, s2c, local := analyze.DirC2S, analyze.DirS2C, analyze.DirLocal
	my := func(k analyze.EventKind, d analyze.Dir, a A) analyze.Event { a.Proto = "MySQL"; return ev(k, d, a) }
	pg := func(k analyze.EventKind, d analyze.Dir, a A) analyze.Event {
		a.Proto = "PostgreSQL"
		return ev(k, d, a)
	}
	tests := []struct {
		e    analyze.Event
		want string
	}{
		// TCP
		{ev(analyze.EvSYN, c2s, A{Addr: srv}), "SYN to 198.51.100.10:3306"},
		{ev(analyze.EvSYNData, c2s, A{Bytes: 17}), "SYN carries 17 bytes of data (TCP Fast Open)"},
		{ev(analyze.EvSYNRetransmit, c2s, A{N: 2, ElapsedMS: 3001.2}), "SYN retransmit #2 (+3.0 s)"},
		{ev(analyze.EvSYNRetransmit, c2s, A{Note: analyze.NoteAfterVerdict, N: 3, ElapsedMS: 7000}), "SYN retransmit #3 (+7.0 s) after the verdict"},
		{ev(analyze.EvSYNRetransmit, c2s, A{Note: analyze.NoteAfterSYNACK, N: 1}), "SYN retransmit #1 (after the SYN-ACK)"},
		{ev(analyze.EvSYNACKRetrans, s2c, A{}), "SYN-ACK retransmit"},
		{ev(analyze.EvSYNACK, s2c, A{Addr: srv, ElapsedMS: 0.106}), "SYN-ACK from 198.51.100.10:3306 (RTT 0.106 ms)"},
		{ev(analyze.EvSYNACK, s2c, A{Addr: srv, ElapsedMS: 0}), "SYN-ACK from 198.51.100.10:3306 (RTT 0.000 ms)"},
		{ev(analyze.EvSYNACK, s2c, A{Addr: srv, ElapsedMS: 1.26, N: 2}), "SYN-ACK from 198.51.100.10:3306 (RTT 1.3 ms, answering SYN #2)"},
		{ev(analyze.EvSYNACK, s2c, A{Addr: srv, Note: analyze.NoteAfterVerdict}), "SYN-ACK from 198.51.100.10:3306 (after the attempt was decided)"},
		{ev(analyze.EvClientData, c2s, A{Note: analyze.NoteAnswersBanner, Bytes: 21}), "client answers (21 bytes)"},
		{ev(analyze.EvClientData, c2s, A{Note: analyze.NoteClientFirst, Bytes: 78}), "client sends first (78 bytes) — not a MySQL client"},
		{ev(analyze.EvServerData, s2c, A{Note: analyze.NoteAfterVerdict, Bytes: 90}), "server's first payload (90 bytes) after the attempt was decided"},
		{ev(analyze.EvServerData, s2c, A{Note: analyze.NoteAfterClientGaveUp, ElapsedMS: 5000, Detail: &D{Banner: "SSH-2.0-OpenSSH_9.2p1"}}),
			`server's first payload "SSH-2.0-OpenSSH_9.2p1" (5.0 s after the handshake), after the client gave up`},
		{ev(analyze.EvServerData, s2c, A{Note: analyze.NoteNotExpected, Detail: &D{Banner: "SSH-2.0-OpenSSH_9.2p1", Expected: "MySQL"}}),
			`server's first payload is not MySQL: "SSH-2.0-OpenSSH_9.2p1"`},
		{ev(analyze.EvServerData, s2c, A{Note: analyze.NoteOtherProtocol, ElapsedMS: 2.5, Detail: &D{Banner: "220 smtp \"ready\""}}),
			`server's first payload (2.5 ms after the handshake), not MySQL: "220 smtp \"ready\""`},
		{ev(analyze.EvServerData, s2c, A{Note: analyze.NoteAnswersClient, ElapsedMS: 60, Detail: &D{Banner: "HTTP/1.1 200 OK"}}),
			`server's first payload, 60 ms after the client's first bytes: "HTTP/1.1 200 OK"`},
		{ev(analyze.EvNotDecoded, "", A{Note: analyze.NoteNotTLS}), "bytes after the SSLRequest are not TLS records"},
		{ev(analyze.EvTLSClientHello, c2s, A{}), "TLS ClientHello"},
		{ev(analyze.EvTLSServerHello, s2c, A{}), "TLS handshake from the server"},
		{ev(analyze.EvTLSAlert, s2c, A{Detail: &D{Alert: "handshake_failure"}}), "TLS alert from the server handshake_failure"},
		{ev(analyze.EvTLSAlert, c2s, A{}), "TLS alert from the client"},
		{ev(analyze.EvTLSEstablished, "", A{}), "TLS established (the rest is encrypted)"},
		{ev(analyze.EvClientGaveUp, local, A{Addr: "[2001:db8::10]:3306"}), "client moved on to the next address ([2001:db8::10]:3306)"},
		{ev(analyze.EvTruncated, "", A{}), "… further events not recorded"},
		// Closes, from the client
		{ev(analyze.EvFIN, c2s, A{}), "FIN from the client"},
		{ev(analyze.EvRST, c2s, A{Note: analyze.NoteBannerUnanswered}), "RST from the client, which never answered the server's first bytes"},
		{ev(analyze.EvRST, c2s, A{Note: analyze.NoteBeforeReply, ElapsedMS: 3000}), "RST from the client before any reply (+3.0 s)"},
		{ev(analyze.EvRST, c2s, A{Note: analyze.NoteAnswersSYNACK}), "RST from the client answering the SYN-ACK: it had given up"},
		{ev(analyze.EvFIN, c2s, A{Note: analyze.NoteClosedAtOnce, ElapsedMS: 0.2}), "FIN from the client 0.200 ms after the handshake: client closed without sending"},
		{ev(analyze.EvFIN, c2s, A{Note: analyze.NoteNoAnswer, ElapsedMS: 10000}), "FIN from the client: gave up waiting for an answer to its first bytes after 10.0 s"},
		{ev(analyze.EvFIN, c2s, A{Note: analyze.NoteNoServerByte, ElapsedMS: 3000}), "FIN from the client: gave up waiting for the server's first byte after 3.0 s"},
		{ev(analyze.EvRST, c2s, A{Note: analyze.NoteDuringTLS}), "RST from the client during the TLS handshake"},
		// Closes, from the server
		{ev(analyze.EvFIN, s2c, A{}), "FIN from the server"},
		{ev(analyze.EvFIN, s2c, A{Note: analyze.NoteBannerUnanswered}), "FIN from the server; the client never answered its first bytes"},
		{ev(analyze.EvFIN, s2c, A{Note: analyze.NotePartialGreeting, Bytes: 12}), "FIN from the server after 12 bytes that are not a complete greeting"},
		{ev(analyze.EvRST, s2c, A{Note: analyze.NoteAnswersSYN, Addr: srv}), "RST from 198.51.100.10:3306"},
		{ev(analyze.EvFIN, s2c, A{Note: analyze.NoteAfterClientGaveUp}), "FIN from the server (after the client gave up)"},
		{ev(analyze.EvRST, s2c, A{Note: analyze.NoteNoAnswer}), "RST from the server without a reply to the client's data"},
		{ev(analyze.EvFIN, s2c, A{Note: analyze.NoteNoServerByte, ElapsedMS: 0.5}), "FIN from the server before any payload (0.500 ms after the handshake)"},
		{ev(analyze.EvRST, s2c, A{Note: analyze.NoteDuringTLS}), "RST from the server during the TLS handshake"},
		// ICMP
		{ev(analyze.EvICMPError, s2c, A{Detail: &D{ICMP: &proto.ICMP{From: "192.0.2.1", Type: 3, Code: 3}}}), "ICMP port unreachable (type 3 code 3) from 192.0.2.1"},
		{ev(analyze.EvICMPError, local, A{Detail: &D{ICMP: &proto.ICMP{From: "192.0.2.10", Type: 3, Code: 1}}}), "ICMP host unreachable (type 3 code 1) from 192.0.2.10"},
		{ev(analyze.EvICMPError, s2c, A{Detail: &D{ICMP: &proto.ICMP{From: "2001:db8::1", V6: true, Type: 1, Code: 1}}}), "ICMPv6 administratively prohibited (type 1 code 1) from 2001:db8::1"},
		{ev(analyze.EvICMPError, s2c, A{Note: analyze.NoteAboutServer, Detail: &D{ICMP: &proto.ICMP{From: "192.0.2.1", Type: 3, Code: 13}}}),
			"ICMP communication administratively prohibited (type 3 code 13) from 192.0.2.1 about a packet of the server"},
		{ev(analyze.EvICMPError, s2c, A{Note: analyze.NoteOtherSYN, Detail: &D{ICMP: &proto.ICMP{From: "192.0.2.1", Type: 3, Code: 3, QuotedSeq: 7, ISN: 1000}}}),
			"ICMP port unreachable (type 3 code 3) from 192.0.2.1 quoting seq 7, not this SYN (1000): ignored"},
		{ev(analyze.EvICMPError, s2c, A{}), "ICMP error"},
		{ev(analyze.EvICMPError, s2c, A{Detail: &D{ICMP: &proto.ICMP{From: "192.0.2.1", Type: 250, Code: 255}}}), "ICMP error (type 250 code 255) from 192.0.2.1"},
		// DNS (the server's reverse lookup)
		{ev(analyze.EvDNSQuery, "", A{Note: analyze.NotePTRForClient, Addr: "192.0.2.53:53", Detail: &D{Name: "10.2.0.192.in-addr.arpa", QType: "PTR"}}),
			"server looks up the client's name: PTR 10.2.0.192.in-addr.arpa to 192.0.2.53:53"},
		{ev(analyze.EvDNSAnswer, "", A{Note: analyze.NotePTRForClient, ElapsedMS: 5003, Detail: &D{Name: "10.2.0.192.in-addr.arpa", QType: "PTR", Rcode: "SERVFAIL"}}),
			"PTR 10.2.0.192.in-addr.arpa answered SERVFAIL after 5.0 s"},
		// Kernel (eBPF)
		{ev(analyze.EvKernelConnect, local, A{Errno: "EINPROGRESS"}), "connect() = -EINPROGRESS"},
		{ev(analyze.EvKernelConnect, local, A{}), "connect() = 0"},
		{ev(analyze.EvKernelConnect, local, A{Addr: "/run/mysqld/mysqld.sock", Errno: "ENOENT"}), "connect(/run/mysqld/mysqld.sock) = -ENOENT"},
		{ev(analyze.EvKernelError, local, A{Errno: "ECONNREFUSED"}), "socket error ECONNREFUSED"},
		{ev(analyze.EvKernelRetrans, local, A{N: 2}), "kernel: SYN retransmit #2"},
		{ev(analyze.EvKernelRetrans, local, A{}), "kernel: retransmit"},
		{ev(analyze.EvKernelRST, local, A{}), "kernel: RST received"},
		{ev(analyze.EvKernelState, local, A{Detail: &D{StateFrom: "CLOSE", StateTo: "SYN_SENT", PID: 4242, Comm: "mariadb"}}), "kernel: socket CLOSE→SYN_SENT (pid 4242 mariadb)"},
		{ev(analyze.EvKernelState, local, A{Detail: &D{StateFrom: "SYN_SENT", StateTo: "ESTABLISHED"}}), "kernel: socket SYN_SENT→ESTABLISHED"},
		// The server's side and the kernel's drops (eBPF)
		{ev(analyze.EvKernelDrop, local, A{Detail: &D{DropReason: "NETFILTER_DROP", Packet: "SYN", Location: "nft_do_chain"}}), "kernel dropped the SYN it received: NETFILTER_DROP (in nft_do_chain)"},
		{ev(analyze.EvKernelDrop, local, A{Note: analyze.NoteSending, Detail: &D{DropReason: "NEIGH_FAILED", Packet: "SYN"}}), "kernel dropped the SYN it was sending: NEIGH_FAILED"},
		{ev(analyze.EvServerHandshake, local, A{Addr: srv}), "server kernel: handshake complete, queued for accept() on 198.51.100.10:3306"},
		{ev(analyze.EvAccepted, local, A{ElapsedMS: 3000.1, Detail: &D{PID: 812, Comm: "mariadbd", FD: 42}}), "accept() by mariadbd[812] (fd 42) after 3.0 s in the accept queue"},
		{ev(analyze.EvAccepted, local, A{Detail: &D{PID: 812, Comm: "mariadbd", FD: 42}}), "accept() by mariadbd[812] (fd 42)"},
		{ev(analyze.EvKernelSYNACKRetrans, local, A{N: 2, Addr: "192.0.2.1:40000"}), "server kernel: SYN-ACK retransmit #2 to 192.0.2.1:40000 (no ACK completed the handshake)"},
		{ev(analyze.EvKernelRSTSent, local, A{Addr: "192.0.2.1:40000", Detail: &D{Packet: "SYN", RSTReason: "NO_SOCKET"}}), "kernel sent a RST to 192.0.2.1:40000 answering the SYN: NO_SOCKET"},
		{ev(analyze.EvKernelRSTSent, local, A{Addr: "192.0.2.1:40000", Detail: &D{Packet: "ACK"}}), "kernel sent a RST to 192.0.2.1:40000 answering the ACK"},
		{ev(analyze.EvKernelRSTSent, local, A{Addr: srv, Note: analyze.NoteAborted, Detail: &D{RSTReason: "TCP_ABORT_ON_CLOSE"}}), "kernel sent a RST to 198.51.100.10:3306, aborting the connection: TCP_ABORT_ON_CLOSE"},
		// MySQL (its Words)
		{my(analyze.EvNotDecoded, s2c, A{Note: mysql.NoteFirstCut, Bytes: 20}), "server's first payload cut by the snap length after 20 bytes: too short to tell a MySQL greeting; following the client and TCP"},
		{my(analyze.EvNotDecoded, s2c, A{Note: mysql.NoteNotMySQL}), "server sent bytes that are not a MySQL packet; decoding stops"},
		{my(analyze.EvNotDecoded, s2c, A{Note: mysql.NoteLost, Bytes: 96}), "the server's bytes from byte 96 on cannot be decoded (the snap length cut a packet); following TCP only"},
		{my(analyze.EvNotDecoded, s2c, A{Note: mysql.NoteMalformedGreeting, Msg: &M{Message: "no NUL after the version"}}), "malformed MySQL greeting: no NUL after the version"},
		{my(analyze.EvNotDecoded, c2s, A{Note: mysql.NoteMalformedLogin, Msg: &M{Message: "short"}}), "client reply to the greeting is malformed or cut: short"},
		{my(analyze.EvGreeting, s2c, A{ElapsedMS: 0.178, Msg: &M{Protocol: "10", Version: "5.5.5-10.11.19-MariaDB-0+deb12u1", ID: 5, Auth: "mysql_native_password", TLS: mysql.TLSOffered}}),
			"greeting: MySQL protocol 10, server 5.5.5-10.11.19-MariaDB-0+deb12u1, connection id 5, plugin mysql_native_password, TLS offered (0.178 ms after the handshake)"},
		{my(analyze.EvGreeting, s2c, A{ElapsedMS: 5000, Msg: &M{Protocol: "10", Version: "8.0.36", TLS: mysql.TLSUnknown, Cut: true}}),
			"greeting: MySQL protocol 10, server 8.0.36, connection id 0, plugin (none), TLS unknown (5.0 s after the handshake) (greeting cut short in the capture)"},
		{my(analyze.EvGreeting, s2c, A{ElapsedMS: 1, Msg: &M{Protocol: "10", Version: "8.0.36", ID: 9, Auth: "caching_sha2_password", TLS: mysql.TLSNotOffered}}),
			"greeting: MySQL protocol 10, server 8.0.36, connection id 9, plugin caching_sha2_password, no TLS (1.0 ms after the handshake)"},
		{my(analyze.EvMySQLErr, s2c, A{Note: mysql.NoteGreetingCodeCut}), "ERR instead of a greeting, cut by the snap length before its code"},
		{my(analyze.EvMySQLErr, s2c, A{Note: mysql.NoteCodeCut}), "ERR cut by the snap length before its code"},
		{my(analyze.EvMySQLErr, s2c, A{Note: mysql.NoteInsteadOfGreeting, Msg: &M{Code: 1040, SQLState: "08004", Message: "Too many connections"}}), "ERROR 1040 (08004): Too many connections (instead of a greeting)"},
		{my(analyze.EvMySQLErr, s2c, A{Note: mysql.NoteBeforeLogin, Msg: &M{Code: 1130, Message: "Host 'x' is not allowed", Cut: true}}), "ERROR 1130: Host 'x' is not allowed… (message cut in the capture) (before the login)"},
		{my(analyze.EvMySQLErr, s2c, A{Note: mysql.NoteAfterLogin, Msg: &M{Code: 1045, SQLState: "28000", Message: "Access denied"}}), "ERROR 1045 (28000): Access denied (after the login)"},
		{my(analyze.EvMySQLOK, s2c, A{}), "server OK before any login (unexpected)"},
		{my(analyze.EvLoginOK, s2c, A{}), "OK: logged in"},
		{my(analyze.EvAuthSwitch, s2c, A{Msg: &M{Auth: "mysql_native_password"}}), "auth switch to mysql_native_password"},
		{my(analyze.EvAuthMoreData, s2c, A{}), "auth more data"},
		{my(analyze.EvAuthMoreData, s2c, A{Note: mysql.NoteFastAuthOK}), "auth more data: fast auth OK"},
		{my(analyze.EvAuthMoreData, s2c, A{Note: mysql.NoteFullAuth}), "auth more data: full authentication required"},
		{my(analyze.EvCommand, c2s, A{Msg: &M{Command: "COM_QUERY"}}), "client command COM_QUERY: logged in"},
		{my(analyze.EvSSLRequest, c2s, A{}), "SSLRequest: TLS starts"},
		{my(analyze.EvLogin, c2s, A{Msg: &M{User: "app"}}), `HandshakeResponse: login as "app"`},
		{my(analyze.EvLogin, c2s, A{Msg: &M{User: "appl", Cut: true}}), `HandshakeResponse (cut in the capture): login as "appl"`},
		{my(analyze.EvFIN, c2s, A{Note: mysql.NoteAfterGreeting}), "FIN from the client after the greeting, without logging in"},
		{my(analyze.EvRST, c2s, A{Note: mysql.NoteAwaitingResult}), "RST from the client while waiting for the login result"},
		{my(analyze.EvFIN, s2c, A{Note: mysql.NoteBeforeLogin}), "FIN from the server before the client logged in"},
		{my(analyze.EvRST, s2c, A{Note: mysql.NoteAfterLogin}), "RST from the server after the login, without OK or ERR"},
		// PostgreSQL (its Words)
		{pg(analyze.EvNotDecoded, s2c, A{Note: postgres.NoteNotPostgres, Msg: &M{Message: "bad length"}}), "not a PostgreSQL message; decoding stops: bad length"},
		{pg(analyze.EvSSLRequest, c2s, A{Note: postgres.NoteSSL}), "SSLRequest: the client asks for TLS"},
		{pg(analyze.EvSSLRequest, c2s, A{Note: postgres.NoteGSSENC}), "GSSENCRequest: the client asks for GSSAPI encryption"},
		{pg(analyze.EvCommand, c2s, A{Msg: &M{Command: "CancelRequest", ID: 4711}}), "CancelRequest for backend 4711"},
		{pg(analyze.EvCommand, c2s, A{Msg: &M{Command: "Terminate"}}), "Terminate"},
		{pg(analyze.EvLogin, c2s, A{Msg: &M{Protocol: "3.0", User: "alice", Database: "payroll"}}), `StartupMessage: protocol 3.0, user "alice", database "payroll"`},
		{pg(analyze.EvLogin, c2s, A{Msg: &M{Protocol: "3.0", User: "alice", Cut: true}}), `StartupMessage: protocol 3.0, user "alice" (cut in the capture)`},
		{pg(analyze.EvLogin, c2s, A{Note: postgres.NoteAuthResponse}), "the client answers the Authentication request"},
		{pg(analyze.EvSSLAnswer, s2c, A{Note: postgres.NoteTLSAccepted}), "'S': the server accepts TLS"},
		{pg(analyze.EvSSLAnswer, s2c, A{Note: postgres.NoteNoEncryption}), "'N': the server does not do TLS (or GSSAPI encryption) here"},
		{pg(analyze.EvSSLAnswer, s2c, A{Note: postgres.NoteGSSEncryption}), "'G': GSSAPI encryption follows (not decoded)"},
		{pg(analyze.EvAuthOK, s2c, A{}), "AuthenticationOk"},
		{pg(analyze.EvAuthRequest, s2c, A{Msg: &M{Auth: "scram-sha-256"}}), "the server asks for authentication: scram-sha-256"},
		{pg(analyze.EvLoginOK, s2c, A{}), "ReadyForQuery: logged in"},
		{pg(analyze.EvLoginOK, s2c, A{Msg: &M{Version: "15.10"}}), "ReadyForQuery: logged in (server 15.10)"},
		{pg(analyze.EvServerData, s2c, A{Note: postgres.NoteNegotiateVersion, Msg: &M{Protocol: "3.0"}}), "NegotiateProtocolVersion: the server supports up to 3.0"},
		{pg(analyze.EvPGError, s2c, A{Msg: &M{Severity: "FATAL", SQLState: "53300", Message: "sorry, too many clients already"}}),
			"ErrorResponse FATAL 53300 too_many_connections: sorry, too many clients already"},
		{pg(analyze.EvPGError, s2c, A{Msg: &M{SQLState: "XX999", Message: "odd", Cut: true}}), "ErrorResponse XX999: odd (cut in the capture)"},
		{pg(analyze.EvFIN, c2s, A{Note: postgres.NoteAfterN}), "FIN from the client after the server's 'N', without a StartupMessage"},
		{pg(analyze.EvFIN, c2s, A{Note: postgres.NoteAuthUnanswered}), "FIN from the client without answering the authentication request"},
		{pg(analyze.EvRST, c2s, A{Note: postgres.NoteAwaitingAuthResult}), "RST from the client while waiting for the authentication result"},
		{pg(analyze.EvFIN, c2s, A{Note: postgres.NoteAwaitingServer}), "FIN from the client while waiting for the server"},
		{pg(analyze.EvFIN, c2s, A{Note: postgres.NoteAfterAuthOK}), "FIN from the client after AuthenticationOk"},
		{pg(analyze.EvRST, s2c, A{Note: postgres.NoteAfterAuthOK}), "RST from the server after AuthenticationOk"},
		{pg(analyze.EvFIN, s2c, A{Note: postgres.NoteDuringStartup}), "FIN from the server during the startup, without an ErrorResponse"},
		// A protocol step its Words does not know falls back to the engine's words.
		{my(analyze.EvFIN, c2s, A{}), "FIN from the client"},
		// A kind nobody knows is shown as itself.
		{ev("something_new", "", A{}), "something_new"},
	}
	covered := map[analyze.EventKind]bool{}
	for _, tc := range tests {
		covered[tc.e.Kind] = true
		if got := EventWords(&tc.e); got != tc.want {
			t.Errorf("%s %s %+v %+v %+v:\n got  %q\n want %q", tc.e.Kind, tc.e.Dir, tc.e.EventAttrs, tc.e.Detail, tc.e.Msg, got, tc.want)
		}
		// The JSON line writes the same words, straight into it.
		if want, _ := json.Marshal(tc.want); string(appendEventWordsJSON([]byte("x"), &tc.e)) != "x"+string(want) {
			t.Errorf("%s %s %+v: JSON words %s, want %s", tc.e.Kind, tc.e.Dir, tc.e.EventAttrs, appendEventWordsJSON(nil, &tc.e), want)
		}
	}
	for _, k := range eventKinds(t) {
		if !covered[k] {
			t.Errorf("kind %q (analyze/model.go) has no words pinned here", k)
		}
	}
}

// eventKinds are the EventKind constants analyze declares (model.go).
func eventKinds(t *testing.T) []analyze.EventKind {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "analyze", "model.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []analyze.EventKind
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			v := sp.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "EventKind" {
				continue
			}
			for _, val := range v.Values {
				if lit, ok := val.(*ast.BasicLit); ok {
					s, _ := strconv.Unquote(lit.Value)
					kinds = append(kinds, analyze.EventKind(s))
				}
			}
		}
	}
	if len(kinds) < 30 {
		t.Fatalf("found only %d EventKind constants in analyze/model.go", len(kinds))
	}
	return kinds
}

// TestEventWordsBeforeRedaction: the Writer makes the words of a connect's
// steps before it redacts (so --redact hides what the words quote, and the
// names a step's facts hold), and leaves the caller's connect unchanged.
func TestEventWordsBeforeRedaction(t *testing.T) {
	c := &analyze.Connect{Client: "192.0.2.10", Port: 5432, Outcome: analyze.AuthFailed, Attempts: []*analyze.Attempt{{
		Client: "192.0.2.10:40000", Server: "198.51.100.20:5432", Outcome: analyze.AuthFailed,
		Events: []analyze.Event{
			{Kind: analyze.EvSYN, Dir: analyze.DirC2S, EventAttrs: analyze.EventAttrs{Addr: "198.51.100.20:5432"}},
			{Kind: analyze.EvLogin, Dir: analyze.DirC2S, EventAttrs: analyze.EventAttrs{Proto: "PostgreSQL",
				Msg: &proto.Msg{Protocol: "3.0", User: "alice", Database: "payroll"}}},
			{Kind: analyze.EvFIN, Dir: analyze.DirS2C, What: "words given by hand"},
		},
	}}}
	for _, redact := range []bool{false, true} {
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{Format: JSON, Redact: redact})
		if err := w.Connect(c); err != nil {
			t.Fatal(err)
		}
		if err := w.Summary(analyze.Summary{}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		want := []string{`"what":"SYN to 198.51.100.20:5432","addr":"198.51.100.20:5432"`,
			`"what":"StartupMessage: protocol 3.0, user \"alice\", database \"payroll\"","proto":"PostgreSQL","protocol":"3.0","user":"alice","database":"payroll"`,
			`"what":"words given by hand"`}
		if redact {
			want = []string{`"what":"SYN to ip4-2:5432","addr":"ip4-2:5432"`,
				`"what":"StartupMessage: protocol 3.0, user \"user-1\", database \"db-1\"","proto":"PostgreSQL","protocol":"3.0","user":"user-1","database":"db-1"`}
			for _, secret := range []string{"alice", "payroll", "198.51.100.20", "192.0.2.10"} {
				if strings.Contains(out, secret) {
					t.Errorf("redacted output shows %q:\n%s", secret, out)
				}
			}
		}
		for _, s := range want {
			if !strings.Contains(out, s) {
				t.Errorf("redact=%v: output lacks %s:\n%s", redact, s, out)
			}
		}
	}
	for _, e := range c.Attempts[0].Events[:2] {
		if e.What != "" {
			t.Errorf("the Writer changed the caller's connect: %s has words %q", e.Kind, e.What)
		}
	}
	if d := c.Attempts[0].Events[1].Msg; d.User != "alice" || d.Database != "payroll" {
		t.Errorf("the Writer changed the caller's facts: %+v", d)
	}
}
