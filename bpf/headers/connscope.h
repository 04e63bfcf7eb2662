/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * connscope.h: the records connscope.bpf.c writes to the ring buffer.
 * bpf2go turns these into (unexported) Go types; package bpf converts them
 * into event.Kernel values.
 */
#ifndef CONNSCOPE_H
#define CONNSCOPE_H

#define TASK_COMM_LEN 16
#define SOCKADDR_MAX 112 /* sizeof(struct sockaddr_un) rounded up to 8 */
#define UNIX_PATH_MAX 108

/* Same numbering as event.KernelKind. */
enum event_kind {
	EV_CONNECT = 1,
	EV_STATE = 2,
	EV_RETRANSMIT = 3,
	EV_RESET = 4,
	EV_SOCK_ERROR = 5,
	EV_DROP = 6,
	EV_CHILD = 7,  /* a server-side socket completed its handshake (SYN_RECV->ESTABLISHED) */
	EV_ACCEPT = 8, /* accept() returned it */
	EV_SYNACK_RETRANS = 9, /* the server's side retransmitted a SYN-ACK (tcp:tcp_retransmit_synack) */
	EV_RESET_SENT = 10,    /* this host's kernel sent a RST (tcp:tcp_send_reset), a reset_event */
};

/* include/net/tcp_states.h */
enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT = 2,
	TCP_SYN_RECV = 3,
	TCP_FIN_WAIT1 = 4,
	TCP_FIN_WAIT2 = 5,
	TCP_TIME_WAIT = 6,
	TCP_CLOSE = 7,
	TCP_CLOSE_WAIT = 8,
	TCP_LAST_ACK = 9,
	TCP_LISTEN = 10,
	TCP_CLOSING = 11,
};

/* Every record starts with this. */
struct event {
	__u64 ts;     /* kernel clock (CLOCK_TAI or CLOCK_MONOTONIC, see use_tai), ns */
	__u64 cookie; /* socket identity */
	__u32 pid;    /* tgid */
	__u32 tid;
	__s32 fd;     /* -1 when unknown */
	__s32 ret;    /* EV_CONNECT: return value (0 or -errno); EV_SOCK_ERROR: errno */
	__u16 family; /* AF_INET, AF_INET6, AF_UNIX */
	__u16 type;   /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 sport;  /* host byte order */
	__u16 dport;  /* host byte order */
	__u8 kind;    /* enum event_kind */
	__u8 old_state;
	__u8 new_state;
	__u8 state; /* TCP state at the event */
	/* TCP: the socket's initial sequence number (the Seq of its SYN) once
	 * the SYN was sent; 0 when unknown (before the SYN, UDP, unix, or a
	 * kernel event that has no socket). */
	__u32 isn;
	__u8 saddr[16]; /* network byte order; IPv4 in the first 4 bytes */
	__u8 daddr[16];
	char comm[TASK_COMM_LEN];
};

/* EV_CONNECT records are longer. */
struct connect_event {
	struct event e;
	__u64 enter_ts; /* when connect() was entered */
	__u32 addrlen;  /* sockaddr length passed to connect() */
	__u32 pad;
	__u8 path[UNIX_PATH_MAX]; /* AF_UNIX: sun_path as passed (abstract: leading NUL) */
	__u8 pad2[4];
};

/* EV_DROP: a packet of a followed port the kernel dropped (skb:kfree_skb).
 * e.saddr/e.daddr/e.sport/e.dport are the packet's (for an ICMP error: the
 * packet it quotes); e.ret is the drop reason (enum skb_drop_reason, named
 * from the kernel's BTF by the loader); e.cookie/pid/comm are set when the
 * packet's socket is one the tracer bound at connect(). */
struct drop_event {
	struct event e;
	__u64 location; /* kernel address of the code that dropped it */
	__u32 seq;      /* TCP sequence number (of the quoted segment for ICMP) */
	__u32 ifindex;  /* receiving interface (incoming) or output device, 0 if none */
	__u8 proto;     /* IPPROTO_TCP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	__u8 tcp_flags; /* of the TCP segment (quoted segment: 0, not quoted) */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 incoming;  /* 1: received by this host (skb_iif set); 0: sent by it */
	__u8 pad[3];
};

/* EV_RESET_SENT: a RST this host's kernel sent. e.saddr/e.sport are the
 * RST's source (this host), e.daddr/e.dport its destination; e.ret is the
 * kernel's reason (enum sk_rst_reason, named from the kernel's BTF by the
 * loader; 0 when the tracepoint has no reason); e.state is the socket's TCP
 * state when there was one (0: none, e.g. a SYN to a port nobody listens
 * on); e.cookie/pid/comm are set when the socket is one the tracer bound. */
struct reset_event {
	struct event e;
	__u8 passive;   /* 1: it answers a received segment; 0: the socket aborted its connection */
	__u8 answers;   /* TCP flags of the segment it answers */
	__u8 pad[6];
};

#endif /* CONNSCOPE_H */
