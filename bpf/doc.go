// Package bpf owns connscope's kernel side: eBPF programs that report every
// connect() call and the fate of the socket it opened, and an eBPF socket
// filter that keeps live packet capture down to the connection phase.
//
// # Connect tracer
//
// [Open] loads the programs in connscope.bpf.c and returns a [Tracer] whose
// [Tracer.Next] yields typed [event.Kernel] values (no C structs leave the
// package):
//
//   - ConnectCall: a connect() return (syscalls:sys_enter_connect and
//     sys_exit_connect) with pid, tid, comm, fd, socket family and type,
//     destination (IPv4, IPv6, or unix path; abstract names start with "@"),
//     source address once bound, and the return value (-EINPROGRESS for a
//     non-blocking connect in flight). UDP connects are reported too: glibc's
//     resolver connects to its DNS server (port 53) and, to sort candidate
//     addresses (RFC 6724), to each candidate without sending anything.
//   - StateChange, Retransmit, ResetReceived, SocketError: TCP socket fate
//     (tp_btf inet_sock_set_state, tcp_retransmit_skb, tcp_receive_reset,
//     inet_sk_error_report). These mostly run in softirq where the current
//     task is meaningless, so they are attributed through the socket: at
//     CLOSE→SYN_SENT, which runs inside connect() in the caller's context, the
//     socket is bound (BPF socket-local storage, freed with the socket) to the
//     pid/tid/fd/comm of that connect(). Event.Cookie is the kernel socket
//     cookie and ties a socket's events together. State changes are those
//     connect analysis needs: CLOSE→SYN_SENT, how the socket left SYN_SENT,
//     and its final →CLOSE; the steps of a close in between (FIN_WAIT1/2,
//     CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT) and server-side sockets
//     (LISTEN, SYN_RECV) are dropped at the top of the program.
//   - PacketDrop: a packet the kernel dropped, with its reason (tp_btf
//     kfree_skb: NETFILTER_DROP, NO_SOCKET, TCP_LISTEN_OVERFLOW,
//     NEIGH_FAILED, ...), on either side of a connect: the SYN or SYN-ACK of
//     a followed port (or the ACK dropped for TCP_LISTEN_OVERFLOW), or an
//     ICMP error quoting one. The reason's name comes from the running
//     kernel's BTF (enum skb_drop_reason; its values change between
//     kernels), the dropping function from /proc/kallsyms. kfree_skb fires
//     for every dropped packet on the host, so the program rejects in the
//     kernel, cheapest test first: reason NOT_SPECIFIED, non-IP, non-TCP,
//     no SYN, a port outside Options.Ports. Under a pid filter without
//     ports only the drops of packets a traced socket sent, or of a port
//     given to Tracer.FollowServerPort, pass. A kernel
//     without the enum or the tracepoint's reason argument (before 5.17)
//     loses only this program (see Unavailable).
//   - ChildEstablished, Accepted: the server's side of a connect to a
//     followed port: the child socket's handshake (inet_sock_set_state
//     SYN_RECV→ESTABLISHED: queued for accept(), in softirq, so under a pid
//     filter only with a port filter naming the port, or for a traced
//     server's listen port given to Tracer.FollowServerPort) and the accept() or
//     accept4() that returned it (syscalls:sys_exit_accept*, with the
//     accepting process and its fd; pid- and port-filtered). Both carry the
//     connection's addresses from the server's side (Src: the server) and
//     the child socket's cookie.
//   - SYNACKRetransmit: the server's side of a handshake to a followed port
//     sending its SYN-ACK again (tp_btf tcp_retransmit_synack; Src: the
//     server; Retransmits: how many went before), filtered by port like the
//     handshake.
//   - ResetSent: a RST this host's kernel sent (tp_btf tcp_send_reset),
//     answering a segment (Reset.Passive, Reset.Answers: its flags; the
//     segment's flow reversed) or aborting a socket, with the kernel's
//     reason on Linux 6.10+ (enum sk_rst_reason from BTF; whether the
//     tracepoint passes it is read from its BTF prototype before loading).
//     Filtered like drops: a followed port at either end; under a pid filter
//     without ports only resets of a traced socket or of a port given to
//     Tracer.FollowServerPort.
//
// Every connect() on the machine runs these programs, so they are built for
// cost (bench/bpf.sh measures it): sys_enter_connect only checks the pid
// filter and stashes fd and the sockaddr pointer in the thread's slot (an
// array indexed by tid, no hash update); TCP sockets take their destination
// and local address from the state changes, so sys_exit_connect reads user
// memory and walks fd→file→socket only for unix, UDP and early failures.
//
// Addresses are as on the wire: an AF_INET6 socket talking to an IPv4-mapped
// address reports plain IPv4 addresses (Family stays FamilyInet6).
//
// Events are submitted to the ring buffer without waking the reader (a
// wakeup per event costs more than the event itself); Next polls every 100 ms,
// or sooner once 1/16 of the ring buffer is pending. So an event reaches the
// caller at most about 100 ms after it happened. Next reads the ring in place
// and waits in Go's netpoller (eventRing): no thread blocks in a system call,
// which would keep the runtime's sysmon polling. [Tracer.NextBatch] reads
// what piled up meanwhile several events at a time (the live pipeline's
// reader: the lock, the ring's release and the counters once per batch).
//
// Filters run in the kernel, before the ring buffer: a set of processes
// (Options.PIDs, [Tracer.AddPID], children followed across fork with
// Options.FollowChildren) and destination ports (Options.Ports; connects to
// port 53 and UDP connects to port 0 always pass as resolver evidence; unix-socket connects
// are not port-filtered). Events lost because the ring buffer was full are
// counted per CPU and reported by [Tracer.Stats].
//
// Loading probes by doing: the object is loaded one program at a time, each
// attached on its own; what fails is listed by [Tracer.Unavailable] (one line
// each, with the reason) and the rest keeps working. Without the privileges,
// BTF or bpf() at all, [Open] fails with an error wrapping [ErrPermission],
// [ErrNoBTF] or [ErrNoBPF] that names exactly what is missing, so callers can
// fall back to packets alone. [CheckSupport] runs those checks alone.
// Syscall tracepoints need tracefs: Open mounts it on /sys/kernel/tracing if
// no tracefs (or debugfs) mount exists, and leaves it mounted.
//
// # One clock
//
// Packets are stamped with the wall clock (CLOCK_REALTIME: AF_PACKET
// timestamps, pcap files), so kernel events are converted to it:
//
//   - On kernels with bpf_ktime_get_tai_ns (Linux 6.1+, probed at Open) the
//     programs stamp events with CLOCK_TAI, which the kernel keeps at exactly
//     CLOCK_REALTIME + the TAI offset (an integer number of seconds, read with
//     adjtimex(2) and re-read every second). TAI follows NTP slewing and steps
//     exactly as REALTIME does, so an event's converted time is the realtime
//     clock at the instant it happened: no estimation error beyond the
//     nanoseconds the kernel's lock-free ("fast") clock read may lag.
//   - Otherwise they stamp with CLOCK_MONOTONIC (bpf_ktime_get_ns) and the
//     offset to REALTIME is estimated by bracketing: read MONOTONIC, REALTIME,
//     MONOTONIC several times and keep the tightest pair; the offset error is
//     at most half that bracket (typically well under a microsecond). Because
//     MONOTONIC does not follow NTP steps and is slewed differently from the
//     realtime clock's steps, the offset is re-measured every second of event
//     time; between measurements the error grows by at most the slew rate
//     (≤ 500 ppm: 0.5 ms per second, far less in practice).
//
// CLOCK_BOOTTIME (bpf_ktime_get_boot_ns) was not chosen: it differs from
// MONOTONIC only by time spent suspended, which servers do not do, and it
// would need the same estimation.
//
// # Flow filter
//
// [LoadFlowFilter] loads flowfilter.bpf.c, a BPF_PROG_TYPE_SOCKET_FILTER
// program for the capture package's AF_PACKET socket (SO_ATTACH_BPF with
// [FlowFilter.FD]). It copies TCP SYN/FIN/RST, ICMP and ICMPv6 errors, DNS,
// and the segments of connections in their connection phase (tracked in a
// map from the client's SYN to a target port until a payload budget is used
// up), drops everything else, and drops the outgoing copy of loopback packets.
//
// # Generated files
//
// tracer_bpfel.{go,o} and flowfilter_bpfel.{go,o} are generated by bpf2go
// (`make generate`, needs clang) from the C files and headers/, and are
// committed so that building needs no C toolchain.
package bpf
