// Package analyze is connscope's correlation engine: it consumes the one
// time-ordered event stream (packets and kernel socket events, package event)
// and keeps state per connection attempt, groups attempts into logical
// connects (name resolution → each address attempt → outcome), and names each
// outcome with its evidence and likely causes.
//
// Offline analysis (pcap/pcapng files) and live tracing feed the same Engine:
//
//	e := analyze.NewEngine(analyze.Options{OnConnect: print})
//	for each packet or kernel event, in time order: e.Packet(p) / e.Kernel(k)
//	live, when idle: e.Advance(time.Now())
//	summary := e.Close()
//
// # Attempts
//
// An attempt is one client 5-tuple from its first SYN; the direction comes
// from the SYN, so captures taken at the client, the server or in between
// read the same. (Kernel events also start attempts: the socket's
// CLOSE→SYN_SENT, or a connect() that failed before anything was sent.)
// A socket's kernel events join its packets by socket cookie, by the ISN
// they carry (the Seq of the socket's SYN: exact even when a refused
// connect's port serves the next connect within microseconds; isn.go), and
// without an ISN by 5-tuple and time.
// Its timeline records every SYN and retransmit, the SYN-ACK (RTT), RSTs and
// FINs with their sender, ICMP errors matched through the header they quote
// (5-tuple and, when quoted, the SYN's sequence number), the server's first
// payload (greeting delay measured from the client's ACK of the SYN-ACK,
// for a server that spoke first; when the client spoke first, the client's
// first byte and the server's response to it instead: see SlowHandshake
// for those timings and the slow part, network, client or server),
// and the application protocol's connection phase, decoded by content on
// any port by a protocol plug-in (package proto; one package under analyze/
// per protocol, registered in protocols.go): MySQL/MariaDB (subpackage
// mysql: greeting or ERR, SSLRequest, HandshakeResponse — the user name
// only, auth data is never kept —, AuthSwitch, OK or ERR) and PostgreSQL
// (subpackage postgres: SSLRequest and the server's 'S'/'N', the
// StartupMessage's user, database and application_name, the
// authentication method, ErrorResponse and its SQLSTATE, AuthenticationOk
// and ReadyForQuery; never a password). The engine owns TCP, the streams,
// timing and the verdict; a plug-in owns what the bytes mean, its reasons
// (mysql.*, pg.*) and their causes. After an SSLRequest the server
// accepted, only TLS record headers are read.
//
// Each direction of the connection phase is reassembled in sequence order
// (bounded buffer; retransmits and out-of-order segments within reason; a
// segment cut by the snap length still yields the fields before the cut).
// An attempt leaves the state table once its outcome is decided, so a packet
// of an established connection costs one look at a counting filter indexed
// by its ports (no map lookup, no allocation). An attempt whose SYN got no
// SYN-ACK stays until its connect is reported: a SYN retransmit (same
// 5-tuple and ISN) that comes after the verdict — an RST the client did not
// accept, a capture that only looked idle — joins its timeline; after the
// report it is counted in Summary.LateRetransmits, never taken for a new
// attempt. Only a SYN with a new ISN on a reused 5-tuple starts one.
//
// Duplicate frames — the same packet captured twice (two interfaces, a veth
// and its bridge): same addresses, ports, flags, seq, ack, window, payload
// length and IP ID within 1 ms — are counted in Summary.Duplicates and
// ignored; retransmits are not duplicates (the RTO is ≥ 200 ms, and IPv4
// retransmits carry a new IP ID).
//
// # Outcomes
//
// Exactly one per attempt; the wire wins over the client's message (client
// libraries print misleading errnos — MariaDB's prints 115 for a refused
// connect).
//
//   - refused: the SYN was answered by RST (closed port, or a firewall's
//     "reject with tcp reset"); kernel ECONNREFUSED without a captured RST;
//     a stale unix socket.
//   - unreachable: an ICMP/ICMPv6 error quoting the SYN. Port unreachable
//     and administratively prohibited (a firewall REJECT) and host/network
//     unreachable (a router) are all unreachable: the type, code and sender
//     are in the evidence and the causes tell them apart. An error the
//     client's own kernel generated about a SYN that never reached the wire
//     (no ARP/NDP reply), or EHOSTUNREACH after SYN_SENT with no reply, is
//     unreachable with "the SYN never left".
//   - timeout: SYNs with no reply, and the client gave up (it tried the next
//     address, closed the socket, or no retransmit came when due), or the
//     capture ended after at least two SYNs or 1 s of silence. Also a login
//     that got no answer before the client gave up.
//   - no_greeting: connected, the server sent nothing, and the client gave
//     up (FIN/RST, or moved to the next address) — or the capture ended
//     after it waited Options.ClientTimeout (default 10 s). When the client
//     spoke first this is "no response to the request"
//     (app.request_unanswered).
//   - greeting_late: the server's first bytes came after the client's FIN/RST.
//   - closed_before_greeting: the server closed (FIN/RST) after the
//     handshake without a complete greeting.
//   - rejected: a server ERR other than an authentication error (1040,
//     1129, 1130, …), at greeting or after login; the server closing after
//     its greeting or the login without an answer.
//   - auth_failed: ERR 1044, 1045, 1251, 1275, 1524, 1698, 1820, 1862,
//     3118, 4151.
//   - tls_failed: a TLS alert, a close before the TLS handshake went both
//     ways twice, or a greeting without CLIENT_SSL after which the client
//     closed without logging in (the client required TLS).
//   - wrong_protocol: the server spoke first with something that is not a
//     MySQL greeting, and either the port is a MySQL port
//     (Options.MySQLPorts, default 3306), the client process is a known
//     MySQL client, or the client never answered before the connection
//     closed. A client that answers is speaking that protocol: ok, with the
//     TCP-level timeline.
//   - incomplete: the capture ended before any of the above could be said.
//   - ok: login OK; a fine greeting with no login seen; TLS established (the
//     login result is encrypted); another TCP service that answered; a
//     socket the kernel reports ESTABLISHED when no packet was captured;
//     a connect-then-close check: the client closed (FIN/RST) less than
//     200 ms after the handshake (or after its blocking connect() returned
//     0, when eBPF saw that) with nothing sent either way, on any port
//     ("client closed without sending": it did not wait, so nothing
//     failed; client connect timeouts are whole seconds, so a client that
//     waited for a greeting is never taken for one). A greeting that comes
//     after such a close is not greeting_late.
//   - kernel only (nothing reaches the wire): socket_missing (ENOENT on a
//     unix socket), permission_denied (EACCES/EPERM), no_route (ENETUNREACH,
//     or EHOSTUNREACH from connect() itself), no_local_port (EADDRNOTAVAIL).
//
// # Reasons and facts
//
// Each verdict also has a Reason: a stable id (tcp.rst_from_server,
// icmp.admin_prohibited, kernel.no_arp_reply, mysql.err_at_greeting,
// capture.ended, …) saying precisely what the wire or the kernel showed.
// Every reason is declared once (reason.go) with the one outcome it implies,
// so an attempt's outcome is its reason's; Reasons lists them. Attempt.Facts
// holds the numbers and names behind the verdict (SYNs, who closed and how,
// the ICMP type, code and sender, errno, the ERR code, the banner, the TLS
// alert). Timeline events have a Kind (EventKind: syn, syn_retransmit,
// syn_ack, rst, fin, icmp_error, greeting, mysql_err, login_ok, tls_alert,
// kernel_state, …) and a Dir (c2s, s2c, local). Programs match on these,
// never on the evidence's words. The engine writes no sentences: Explain
// (words.go) words the Evidence and Causes from the reason and its facts
// (one table, reasonWords), and the report calls it before redacting and
// rendering. A connect's reason is its last attempt's,
// or for an unresolved connect the lookups' (dns.nxdomain, dns.servfail,
// dns.no_answer, …).
//
// # Connects
//
// With DNS in the capture (UDP and TCP, subpackage dns), an attempt joins
// the connect whose lookup returned its server address — from the same
// client, or for a dual-stack client from its address of the other family
// or a loopback stub resolver — while the connect's previous attempt failed
// (or still waits for a SYN-ACK or a first byte) and the new one starts
// within Options.FallbackWindow: that is a client walking its address list
// (IPv6 timed out after 3 s, then IPv4 worked). A server that is not among
// the answers of the name the connect resolved never joins it, nor does an
// attempt started after the server already spoke on the previous one (a
// parallel connect). The connect carries the related lookups (the same
// name in both families, the names its CNAMEs point to, and the names of
// the search list that failed before it) with their server, rcode,
// answers, latency and retries. Lookups that all failed and that no
// attempt followed within 2 s form a connect with no attempts: unresolved.
// Successful lookups nobody used are not reported. Without DNS every
// attempt is its own connect. A connect's outcome is its last attempt's,
// or an ok attempt's when the attempts overlapped (a client trying the
// addresses at once, Happy Eyeballs or connscope probe, uses the one that
// works). An attempt that starts while the previous one waits decides that
// one only when the previous socket shows no life after it (no SYN
// retransmit, answer or kernel close; a connected socket the client closed):
// a client walking its list closes the old socket first.
//
// glibc's resolver connect()s UDP sockets (to the DNS server, and to each
// candidate address for RFC 6724 sorting); with eBPF these are recorded on
// the connect as Resolver evidence, never as attempts. The nscd socket is
// resolver plumbing too.
//
// # Memory
//
// State is bounded by what is in flight: attempts leave the table when
// decided (or after IdleTimeout), DNS answers are kept one minute for
// matching, reassembly buffers are capped (16 KiB, 8 out-of-order segments
// per direction), timelines at 64 events, and at most Options.MaxInFlight
// attempts are followed at once (the excess is counted in
// Summary.Untracked).
package analyze
