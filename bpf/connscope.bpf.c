//go:build ignore

// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * connscope.bpf.c: connect() calls and the fate of the sockets they create.
 *
 * Process context (the task calling connect()):
 *   tracepoint syscalls/sys_enter_connect  remember fd and the sockaddr pointer in
 *                                          the thread's slot (nothing read yet)
 *   tp_btf inet_sock_set_state CLOSE->SYN_SENT
 *                                          runs inside connect(): bind the socket
 *                                          (per-socket storage) to pid/tid/fd/comm
 *   tracepoint syscalls/sys_exit_connect   read the sockaddr, emit the call with
 *                                          its return value
 * Cost matters (issue 4: every connect on the machine runs these programs):
 * rejections come first and use only the programs' arguments where possible,
 * and only state changes connect analysis needs are reported (leaving
 * SYN_SENT, and the final CLOSE).
 * Softirq (current task meaningless; the socket's binding says who owns it):
 *   tp_btf inet_sock_set_state, tcp_retransmit_skb, tcp_receive_reset,
 *   inet_sk_error_report
 * The server's side and the kernel's own decisions (by port, not process):
 *   tp_btf kfree_skb, tcp_retransmit_synack, tcp_send_reset
 * Filters, applied before anything reaches the ring buffer:
 *   a set of tgids (children followed across fork when asked) and destination
 *   ports (port 53, and UDP to port 0, always pass: resolver evidence).
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "connscope.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_TCP 6
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define DNS_PORT 53
/* Reported retransmits per socket once it left SYN_SENT (SYN retransmits are
 * always reported): enough for a stalled handshake, not a flood from bulk
 * transfers with loss. */
#define RETRANS_BUDGET 16

/* Set by the loader before the programs are verified (frozen .rodata, so
 * the verifier prunes disabled branches). */
const volatile __u8 filter_pids = 0;     /* only tgids in `pids` */
const volatile __u8 follow_children = 0; /* add forked children of traced tgids */
const volatile __u8 filter_ports = 0;    /* only destination ports in `ports` */
const volatile __u8 use_tai = 0;         /* stamp with CLOCK_TAI (kernel >= 6.1) */
const volatile __u64 addr_key = 0;       /* per-run key to hide socket addresses */
const volatile __u64 wakeup_bytes = 1 << 20; /* wake the reader once this much is pending */
const volatile __u64 quiet_wakeup_ns = 50000000; /* wake the reader for a CPU's first event after this long without one */
const volatile __u32 slot_mask = 0x7fff;     /* inflight slots - 1 (a power of two) */
/* enum skb_drop_reason values, read by the loader from the kernel's BTF
 * (they change between kernels). */
const volatile __u32 drop_not_specified = 2;
const volatile __u32 drop_listen_overflow = 0; /* 0: not in this kernel */
/* tcp:tcp_send_reset has a reason argument (enum sk_rst_reason, Linux
 * 6.10+): read by the loader from the tracepoint's BTF prototype. */
const volatile __u8 rst_has_reason = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader */
} events SEC(".maps");

/* Events dropped because the ring buffer was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);  /* tgid */
	__type(value, __u8); /* unused */
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);  /* port, host byte order */
	__type(value, __u8); /* unused */
} ports SEC(".maps");

/* A connect() in progress, per thread, from sys_enter to sys_exit: slot
 * tid & slot_mask of an array (a lookup the verifier inlines, no update or
 * delete: a hash map's cost dominated the connect entry). The slot is the
 * thread's while tid is set; sys_exit, which always runs (even for a task
 * killed in connect()), frees it. With pid_max at most the number of slots
 * two threads never share one; otherwise a busy slot's second thread is
 * counted as lost. */
struct inflight {
	__u64 enter_ts;
	__u64 uaddr;  /* connect()'s sockaddr, read at exit */
	__u64 sk;     /* struct sock bound at SYN_SENT, 0 if none */
	__u64 cookie; /* set when the socket reaches SYN_SENT */
	__u32 tid;    /* 0: free */
	__s32 fd;
	__u32 addrlen;
	__u16 type;
	__u16 sport; /* last non-zero local port seen by a state change */
	__u8 saddr[16];
	/* Set at SYN_SENT from the socket, so that sys_exit need not read the
	 * sockaddr from user memory again. */
	__u16 family;
	__u16 dport; /* host byte order */
	__u32 isn_before; /* sock_isn() when bound at SYN_SENT (see owner) */
	__u8 daddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32768); /* resized by the loader */
	__type(key, __u32);
	__type(value, struct inflight);
} inflight SEC(".maps");

static __always_inline struct inflight *slot_of(__u32 tid)
{
	__u32 i = tid & slot_mask;
	return bpf_map_lookup_elem(&inflight, &i);
}

/* The connect() thread tid has in flight, or NULL. */
static __always_inline struct inflight *inflight_of(__u32 tid)
{
	struct inflight *in = slot_of(tid);
	if (!in || in->tid != tid)
		return NULL;
	return in;
}

/* Who owns a socket: stored with the socket itself (freed with it), so
 * softirq events can be attributed and filtered. */
struct owner {
	__u64 cookie;
	__u32 pid;
	__u32 tid;
	__s32 fd;
	__u32 retrans_left;
	char comm[TASK_COMM_LEN];
	__u16 sport; /* local address once known: the kernel clears it */
	__u16 pad;     /* when the socket closes, events keep showing it */
	/* sock_isn() when bound at SYN_SENT, before this connect chose its
	 * ISN: 0 for a new socket, the previous connect's for a socket
	 * connected again. Until sock_isn() differs the SYN was not sent
	 * (the ISN is not known yet). */
	__u32 isn_before;
	__u8 saddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct owner);
} owners SEC(".maps");

/* Keep the record types in BTF for bpf2go (-type event -type connect_event
 * -type drop_event). */
const struct event *unused_event __attribute__((unused));
const struct connect_event *unused_connect_event __attribute__((unused));
const struct drop_event *unused_drop_event __attribute__((unused));
const struct reset_event *unused_reset_event __attribute__((unused));

/* Syscall tracepoint contexts (stable ABI: see events/syscalls/sys_*_connect/format). */
struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

static __always_inline __u64 now(void)
{
	if (use_tai)
		return bpf_ktime_get_tai_ns();
	return bpf_ktime_get_ns();
}

static __always_inline bool tgid_wanted(__u32 tgid)
{
	if (!filter_pids)
		return true;
	return bpf_map_lookup_elem(&pids, &tgid) != NULL;
}

/* Whether a connect to port (host order) on a socket of the given type
 * passes the port filter. Connects to port 53 are the resolver talking to
 * its DNS server (over UDP, or TCP after a truncated answer); UDP connects to
 * the target port or to port 0 are glibc sorting candidate addresses
 * (RFC 6724): all are resolution evidence. */
static __always_inline bool port_wanted(__u16 port, __u16 type)
{
	if (!filter_ports)
		return true;
	if (port == DNS_PORT || (type == SOCK_DGRAM && port == 0))
		return true;
	return bpf_map_lookup_elem(&ports, &port) != NULL;
}

/* Under a pid filter without a port filter, `ports` holds the listen ports
 * of the traced servers, put there at run time (Tracer.FollowServerPort)
 * when the tracer finds them listening: the server's side of a connection
 * (softirq: no process) is theirs by its port. The connect side never
 * reads `ports` without a port filter (port_wanted), so this admits no
 * other process's connect. */
static __always_inline bool followed_server_port(__u16 sport, __u16 dport)
{
	return bpf_map_lookup_elem(&ports, &sport) || bpf_map_lookup_elem(&ports, &dport);
}

/* Whether a server-side event of local port lport passes: with a port
 * filter, a port in `ports`; under a pid filter without one, a traced
 * server's listen port (followed_server_port); else every port. */
static __always_inline bool server_port_wanted(__u16 lport)
{
	if (!filter_ports && !filter_pids)
		return true;
	return bpf_map_lookup_elem(&ports, &lport) != NULL;
}

/* Per CPU: events submitted (wraps), to sample the backlog, and when the
 * last one was. */
struct submit_state {
	__u64 last_ns; /* bpf_ktime_get_ns() of the last submit */
	__u32 n;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct submit_state);
} submitted SEC(".maps");

/* Check the backlog on every BACKLOG_SAMPLE-th event of a CPU. */
#define BACKLOG_SAMPLE 32

/* Waking the reader for every event costs more than the event (an
 * irq_work, on a VM an IPI and a VM exit, then a context switch): submit
 * without a wakeup and let the reader poll on a short timer, unless a backlog
 * builds up. Asking the ring for its backlog reads the reader's position, a
 * cache line another CPU writes (measured ~0.1 µs per event here), so it is
 * asked only on every BACKLOG_SAMPLE-th event per CPU: the wakeup comes at
 * most BACKLOG_SAMPLE events per CPU (a few KiB each) past wakeup_bytes.
 *
 * The first event of a CPU after quiet_wakeup_ns without one does wake the
 * reader. That is what lets an idle reader stop polling: once it has seen
 * the ring empty for longer than quiet_wakeup_ns, every CPU's last submit is
 * that old, so the next event anywhere wakes it (see bpf.Tracer.Next). It
 * costs one wakeup per quiet spell, nothing under steady traffic. */
static __always_inline void submit(void *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u32 zero = 0;
	struct submit_state *st = bpf_map_lookup_elem(&submitted, &zero);
	if (!st) {
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
		return;
	}
	__u64 now = bpf_ktime_get_ns();
	if (now - st->last_ns >= quiet_wakeup_ns)
		flags = BPF_RB_FORCE_WAKEUP;
	st->last_ns = now;
	if (st->n++ % BACKLOG_SAMPLE == 0 &&
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		*n += 1;
}

/* A stable identity for a socket the kernel has no cookie for: its address,
 * keyed per run so kernel addresses never reach output; top bit set so it
 * cannot collide with a real cookie (a counter). */
static __always_inline __u64 address_identity(__u64 sk)
{
	return ((sk ^ addr_key) * 0x9E3779B97F4A7C15ULL) | (1ULL << 63);
}

/* The struct sock behind fd in the current task, and its socket type;
 * 0 when fd is not a socket. */
static __always_inline __u64 sock_from_fd(__s32 fd, __u16 *type)
{
	/* A BTF pointer: task->files->fdt->... are plain loads, not helper calls. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = task->files;
	if (!files)
		return 0;
	struct fdtable *fdt = files->fdt;
	if (!fdt || fd < 0 || (__u32)fd >= fdt->max_fds)
		return 0;
	struct file **fds = fdt->fd;
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	*type = (__u16)BPF_CORE_READ(sock, type);
	return (__u64)BPF_CORE_READ(sock, sk);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int sys_enter_connect(struct sys_enter_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!tgid_wanted(tgid))
		return 0;
	__u64 addrlen = ctx->args[2] & 0xffffffff;
	if (addrlen < 4 || !tid)
		return 0; /* no family and port: EINVAL, nothing to learn */

	struct inflight *in = slot_of(tid);
	if (!in)
		return 0;
	if (in->tid && in->tid != tid) {
		count_lost(); /* another thread's connect() holds the slot */
		return 0;
	}
	in->enter_ts = now();
	in->uaddr = ctx->args[1];
	in->addrlen = addrlen > SOCKADDR_MAX ? SOCKADDR_MAX : addrlen;
	in->fd = (__s32)ctx->args[0];
	in->sk = 0;
	in->cookie = 0;
	in->sport = 0;
	in->family = 0;
	__builtin_memset(in->daddr, 0, sizeof(in->daddr));
	in->tid = tid;
	return 0;
}

/* The socket's initial sequence number, once tcp_connect_init has run:
 * snd_una starts there and bytes_acked counts every advance since
 * (struct tcp_sock in vmlinux_min.h). Before that it is a stale value
 * (see owner.isn_before). Two reads of the kernel's memory. */
static __always_inline __u32 sock_isn(const struct sock *sk)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	if (!bpf_core_field_exists(tp->bytes_acked))
		return 0; /* Linux < 4.1 (tp_btf needs 5.5): no ISN, pairing by time */
	return BPF_CORE_READ(tp, snd_una) - (__u32)BPF_CORE_READ(tp, bytes_acked);
}

/* The ISN an event of a socket carries: 0 while sock_isn() still shows
 * the value from before the connect (the SYN not sent yet). */
static __always_inline __u32 event_isn(const struct sock *sk, __u32 isn_before)
{
	__u32 isn = sock_isn(sk);
	return isn == isn_before ? 0 : isn;
}

static __always_inline void read_src(__u64 skp, __u16 family, __u8 *saddr, __u16 *sport)
{
	struct sock *sk = (struct sock *)skp;
	if (family == AF_INET) {
		__be32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(saddr, &a, 4);
	} else if (family == AF_INET6) {
		/* explicit size: CO-RE's size of an array field is its element's */
		bpf_core_read(saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	}
	*sport = BPF_CORE_READ(sk, __sk_common.skc_num);
}

/* The start of a sockaddr: family, port, and the IPv4 or IPv6 address. */
struct sockaddr_head {
	__u16 family;
	__be16 port;
	__u8 rest[24]; /* sin_addr at 0; sin6_flowinfo, then sin6_addr at 4 */
};

SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct inflight *slot = inflight_of(tid);
	if (!slot)
		return 0;
	struct inflight call = *slot, *in = &call;
	slot->tid = 0; /* free the slot */

	/* A TCP socket bound at SYN_SENT passed the filters there and left its
	 * destination in the slot; else read the sockaddr and find the socket
	 * behind the fd (unix, UDP, a failure before SYN_SENT). */
	__u64 skp = in->sk;
	__u16 type = in->type;
	__u16 family = in->family;
	if (!skp) {
		struct sockaddr_head sa = {};
		__u32 len = in->addrlen;
		if (len > sizeof(sa))
			len = sizeof(sa);
		if (bpf_probe_read_user(&sa, len, (void *)in->uaddr))
			return 0;
		family = sa.family;
		if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
			return 0; /* AF_UNSPEC (dissolve a UDP association), netlink, ... */
		skp = sock_from_fd(in->fd, &type);
		if (!skp)
			return 0; /* not a socket: ENOTSOCK / EBADF */
		in->dport = bpf_ntohs(sa.port);
		if (family != AF_UNIX && !port_wanted(in->dport, type))
			return 0;
		if (family == AF_INET)
			__builtin_memcpy(in->daddr, &sa.rest[0], 4); /* sockaddr_in.sin_addr */
		else if (family == AF_INET6)
			__builtin_memcpy(in->daddr, &sa.rest[4], 16); /* sockaddr_in6.sin6_addr */
	}

	struct connect_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->e.ts = now();
	e->e.kind = EV_CONNECT;
	e->e.pid = id >> 32;
	e->e.tid = tid;
	e->e.fd = in->fd;
	e->e.ret = (__s32)ctx->ret;
	e->e.type = type;
	bpf_get_current_comm(e->e.comm, sizeof(e->e.comm));
	e->enter_ts = in->enter_ts;
	e->e.family = family;
	e->addrlen = in->addrlen;
	if (family == AF_UNIX) {
		__u32 plen = in->addrlen - 2;
		if (plen > sizeof(e->path))
			plen = sizeof(e->path);
		if (plen > 0)
			bpf_probe_read_user(e->path, plen, (void *)(in->uaddr + 2));
	} else {
		e->e.dport = in->dport;
		__builtin_memcpy(e->e.daddr, in->daddr, 16);
		if (in->sport) {
			/* what the state changes saw (also when a failed
			 * connect released the port since) */
			e->e.sport = in->sport;
			__builtin_memcpy(e->e.saddr, in->saddr, 16);
		} else {
			read_src(skp, family, e->e.saddr, &e->e.sport);
		}
	}

	/* The cookie bound at SYN_SENT; else one the kernel assigned earlier
	 * (SO_COOKIE, another BPF program); else a derived identity. (sk in a
	 * local: inside BPF_CORE_READ, in->sk would be relocated too.) */
	struct sock *sk = (struct sock *)skp;
	if (in->sk)
		e->e.isn = event_isn(sk, in->isn_before); /* a TCP socket bound at SYN_SENT */
	__u64 cookie = in->cookie;
	if (!cookie)
		BPF_CORE_READ_INTO(&cookie, sk, __sk_common.skc_cookie);
	if (!cookie)
		cookie = address_identity(skp);
	e->e.cookie = cookie;

	submit(e);
	return 0;
}

/* The owner a socket was bound to at SYN_SENT, or NULL. Binding asked the
 * kernel for the socket's cookie, so a socket without one (every accepted,
 * listening or unrelated socket, as a rule) is skipped with one load instead
 * of a storage lookup. */
static __always_inline struct owner *owner_of(const struct sock *sk)
{
	if (!sk->__sk_common.skc_cookie.counter)
		return NULL;
	return bpf_sk_storage_get(&owners, (struct sock *)sk, NULL, 0);
}

/* fill_common fills an event's addresses from a socket's common part (a
 * full socket, a request socket in SYN_RECV, a timewait socket). */
static __always_inline void fill_common(struct event *e, const struct sock_common *c)
{
	__u16 family = c->skc_family;
	e->family = family;
	e->type = SOCK_STREAM;
	e->sport = c->skc_num;
	e->dport = bpf_ntohs(c->skc_dport);
	if (family == AF_INET) {
		__be32 s = c->skc_rcv_saddr, d = c->skc_daddr;
		__builtin_memcpy(e->saddr, &s, 4);
		__builtin_memcpy(e->daddr, &d, 4);
	} else if (family == AF_INET6) {
		bpf_core_read(e->saddr, 16, &c->skc_v6_rcv_saddr);
		bpf_core_read(e->daddr, 16, &c->skc_v6_daddr);
	}
}

static __always_inline void fill_sock(struct event *e, const struct sock *sk)
{
	fill_common(e, &sk->__sk_common);
	e->type = sk->sk_type;
	e->state = sk->__sk_common.skc_state;
}

/* The local address is set once the port is chosen and cleared again when a
 * socket closes; keep it in the owner so that every event of the socket shows
 * it, and hand it to the connect() in flight, which returns after a failure
 * has cleared it. */
static __always_inline void complete_src(struct owner *o, struct event *e, const struct sock *sk)
{
	if (!e->sport) {
		if (o->sport) {
			e->sport = o->sport;
			__builtin_memcpy(e->saddr, o->saddr, 16);
		}
		return;
	}
	if (o->sport)
		return;
	o->sport = e->sport;
	__builtin_memcpy(o->saddr, e->saddr, 16);
	struct inflight *in = inflight_of(o->tid);
	if (in && in->sk == (__u64)sk) {
		in->sport = e->sport;
		__builtin_memcpy(in->saddr, e->saddr, 16);
	}
}

static __always_inline struct event *reserve_sock_event(struct owner *o, __u8 kind,
							const struct sock *sk)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = now();
	e->kind = kind;
	e->cookie = o->cookie;
	e->pid = o->pid;
	e->tid = o->tid;
	e->fd = o->fd;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	fill_sock(e, sk);
	complete_src(o, e, sk);
	e->isn = event_isn(sk, o->isn_before);
	return e;
}

/* CLOSE->SYN_SENT runs inside connect() (tcp_v4/v6_connect), in the
 * connecting task: bind the socket to it. Sockets that reach SYN_SENT without
 * a traced connect() (io_uring, TCP Fast Open via sendmsg, or no syscall
 * tracepoints) are bound to the current task with fd -1. */
static __always_inline struct owner *bind_socket(struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct owner o = {};

	struct inflight *in = inflight_of(tid);
	if (filter_ports && !port_wanted(bpf_ntohs(sk->__sk_common.skc_dport), SOCK_STREAM)) {
		if (in)
			in->tid = 0; /* not wanted: sys_exit_connect returns at once */
		return NULL;
	}
	if (in) {
		o.fd = in->fd; /* the pid filter was applied at sys_enter */
	} else {
		if (!tgid_wanted(tgid))
			return NULL;
		o.fd = -1;
	}
	o.cookie = bpf_get_socket_cookie(sk);
	o.pid = tgid;
	o.tid = tid;
	o.retrans_left = RETRANS_BUDGET;
	o.isn_before = sock_isn(sk);
	bpf_get_current_comm(o.comm, sizeof(o.comm));
	if (in) {
		in->isn_before = o.isn_before;
		in->sk = (__u64)sk;
		in->cookie = o.cookie;
		in->type = sk->sk_type;
		__u16 family = sk->__sk_common.skc_family;
		in->family = family;
		in->dport = bpf_ntohs(sk->__sk_common.skc_dport);
		if (family == AF_INET) {
			__be32 d = sk->__sk_common.skc_daddr;
			__builtin_memcpy(in->daddr, &d, 4);
		} else {
			bpf_core_read(in->daddr, 16, &sk->__sk_common.skc_v6_daddr);
		}
	}

	struct owner *stored = bpf_sk_storage_get(&owners, sk, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!stored)
		return NULL;
	*stored = o; /* a reconnect of the same socket rebinds it */
	return stored;
}

/* The server's side: a connection to a followed port completed its
 * handshake (the child socket SYN_RECV->ESTABLISHED, in softirq) and waits
 * in the accept queue. The event carries the child's cookie, which accept()
 * reads back. Softirq has no process to filter by: under a pid filter it
 * needs the port in `ports` (a port filter, or a traced server's listen
 * port: server_port_wanted). */
static __always_inline void server_child(struct sock *sk)
{
	if (!server_port_wanted(sk->__sk_common.skc_num))
		return;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = now();
	e->kind = EV_CHILD;
	e->fd = -1;
	e->cookie = bpf_get_socket_cookie(sk);
	fill_sock(e, sk);
	submit(e);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	/* Connect analysis needs how a socket left SYN_SENT and its end
	 * (->CLOSE), and on the server's side a child socket's handshake
	 * (SYN_RECV->ESTABLISHED); everything else (LISTEN, the child's
	 * CLOSE->SYN_RECV; the FIN_WAIT/CLOSE_WAIT/LAST_ACK/TIME_WAIT steps of
	 * a close) is dropped here, on the arguments alone. */
	bool bind = oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT;
	bool child = oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED;
	if (!bind && !child && oldstate != TCP_SYN_SENT && newstate != TCP_CLOSE)
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (child) {
		server_child(sk);
		return 0;
	}

	struct owner *o;
	if (bind)
		o = bind_socket(sk);
	else
		o = owner_of(sk);
	if (!o)
		return 0;

	struct event *e = reserve_sock_event(o, EV_STATE, sk);
	if (e) {
		e->old_state = oldstate;
		e->new_state = newstate;
		e->state = newstate;
		submit(e);
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit_skb, const struct sock *sk)
{
	struct owner *o = owner_of(sk);
	if (!o)
		return 0;
	if (sk->__sk_common.skc_state != TCP_SYN_SENT) {
		if (!o->retrans_left)
			return 0;
		o->retrans_left--;
	}
	struct event *e = reserve_sock_event(o, EV_RETRANSMIT, sk);
	if (e)
		submit(e);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset, struct sock *sk)
{
	struct owner *o = owner_of(sk);
	if (!o)
		return 0;
	struct event *e = reserve_sock_event(o, EV_RESET, sk);
	if (e)
		submit(e);
	return 0;
}

SEC("tp_btf/inet_sk_error_report")
int BPF_PROG(inet_sk_error_report, const struct sock *sk)
{
	/* sk_error_report also serves as a wakeup with no error pending
	 * (tcp_disconnect after a failed connect, every close of an
	 * established socket): nothing to report then. */
	int err = sk->sk_err;
	if (!err)
		return 0;
	struct owner *o = owner_of(sk);
	if (!o)
		return 0;
	struct event *e = reserve_sock_event(o, EV_SOCK_ERROR, sk);
	if (e) {
		e->ret = err;
		submit(e);
	}
	return 0;
}

/* Follow children of traced processes (run -- CMD). Threads share the tgid
 * and are covered already. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!follow_children)
		return 0;
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	if (ptgid == ctgid || !bpf_map_lookup_elem(&pids, &ptgid))
		return 0;
	__u8 one = 1;
	bpf_map_update_elem(&pids, &ctgid, &one, BPF_ANY);
	return 0;
}

/* Forget a traced process when its last thread exits, so a recycled pid
 * is not traced by mistake. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *task)
{
	if (!filter_pids)
		return 0;
	if (task->signal->live.counter != 0)
		return 0; /* other threads of the group still run */
	__u32 tgid = task->tgid;
	bpf_map_delete_elem(&pids, &tgid);
	return 0;
}

/* ---- skb:kfree_skb: why the kernel dropped a packet of a followed port ----
 *
 * kfree_skb fires for every packet freed as dropped on the host (consumed
 * packets go to consume_skb), so everything is rejected as early and cheaply
 * as possible: by the reason argument first (NOT_SPECIFIED says nothing),
 * then the skb's protocol, one read of the IP header, one of the transport
 * header. Only handshake segments pass (SYN and SYN-ACK, and any segment
 * dropped for TCP_LISTEN_OVERFLOW: the ACK completing a handshake into a
 * full accept queue), and ICMP/ICMPv6 errors quoting a TCP segment. Data,
 * FIN and RST segments never reach the ring buffer: a bulk transfer's losses
 * and the FIN or RST that arrives after its socket closed (NO_SOCKET, at the
 * end of every connection) say nothing about a connect.
 * With a port filter, the segment's source or destination port must be a
 * followed port. Drops are not process events: under a pid filter without
 * a port filter only drops of packets sent by a socket the tracer bound (a
 * traced process's connect) or of a traced server's listen port pass. */

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMP 1
#define IPPROTO_ICMPV6 58
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04

struct iphdr_min {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6hdr_min {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* The first 14 bytes of a TCP header: ports, sequence number, flags. */
struct tcphdr_min {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff;
	__u8 flags;
};

struct icmphdr_min {
	__u8 type;
	__u8 code;
	__u16 check;
	__u32 rest;
};

/* A packet's flow as parsed from its headers. */
struct flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport, dport; /* host order */
	__u32 seq;
	__u16 family;
	__u8 tcp_flags;
	__u8 icmp_type, icmp_code;
	__u8 proto;
};

/* reserve_key_event reserves an event of size bytes (an event first) for a
 * packet's flow: kind, the kernel's reason in ret, no process (fd -1). */
static __always_inline struct event *reserve_key_event(__u32 size, __u8 kind, __u32 reason,
						       const struct flow_key *k)
{
	struct event *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e) {
		count_lost();
		return NULL;
	}
	__builtin_memset(e, 0, size);
	e->ts = now();
	e->kind = kind;
	e->fd = -1;
	e->ret = (__s32)reason;
	e->family = k->family;
	e->type = SOCK_STREAM;
	e->sport = k->sport;
	e->dport = k->dport;
	__builtin_memcpy(e->saddr, k->saddr, 16);
	__builtin_memcpy(e->daddr, k->daddr, 16);
	return e;
}

static __always_inline bool drop_port_wanted(__u16 sport, __u16 dport)
{
	if (!filter_ports)
		return true;
	return bpf_map_lookup_elem(&ports, &sport) || bpf_map_lookup_elem(&ports, &dport);
}

/* Reads len bytes at off from the skb's head, within its linear data. */
static __always_inline int skb_read(void *dst, __u32 len, unsigned char *head, __u32 off, __u32 tail)
{
	if (off + len > tail)
		return -1;
	return bpf_probe_read_kernel(dst, len, head + off);
}

/* parse_ip parses the IP header at off: addresses into k, the transport
 * protocol and offset out. Fragments other than the first are refused. */
static __always_inline int parse_ip(struct flow_key *k, unsigned char *head, __u32 off, __u32 tail,
				    __u16 family, __u8 *proto, __u32 *l4)
{
	if (family == AF_INET) {
		struct iphdr_min ip;
		if (skb_read(&ip, sizeof(ip), head, off, tail))
			return -1;
		__u32 ihl = (ip.ver_ihl & 0xf) * 4;
		if ((ip.ver_ihl >> 4) != 4 || ihl < 20)
			return -1;
		if (bpf_ntohs(ip.frag_off) & 0x1fff)
			return -1;
		__builtin_memset(k->saddr, 0, 16);
		__builtin_memset(k->daddr, 0, 16);
		__builtin_memcpy(k->saddr, &ip.saddr, 4);
		__builtin_memcpy(k->daddr, &ip.daddr, 4);
		*proto = ip.protocol;
		*l4 = off + ihl;
	} else {
		struct ipv6hdr_min ip6;
		if (skb_read(&ip6, sizeof(ip6), head, off, tail))
			return -1;
		if ((((__u8 *)&ip6.ver_tc_flow)[0] >> 4) != 6)
			return -1;
		__builtin_memcpy(k->saddr, ip6.saddr, 16);
		__builtin_memcpy(k->daddr, ip6.daddr, 16);
		*proto = ip6.nexthdr; /* extension headers are not followed */
		*l4 = off + sizeof(ip6);
	}
	k->family = family;
	return 0;
}

/* parse_skb_ip parses the IP header of skb as parse_ip does, when it has
 * one (IPv4 or IPv6, network header set), and hands out the skb's head and
 * tail for reading on. */
static __always_inline int parse_skb_ip(const struct sk_buff *skb, struct flow_key *k, __u8 *proto, __u32 *l4,
					unsigned char **head, __u32 *tail)
{
	__be16 eth = skb->protocol;
	__u16 family;
	if (eth == bpf_htons(ETH_P_IP))
		family = AF_INET;
	else if (eth == bpf_htons(ETH_P_IPV6))
		family = AF_INET6;
	else
		return -1;
	__u16 nh = skb->network_header;
	if (nh == (__u16)~0U)
		return -1; /* no network header set */
	*head = skb->head;
	*tail = skb->tail;
	return parse_ip(k, *head, nh, *tail, family, proto, l4);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, struct sk_buff *skb, void *location, unsigned int reason)
{
	if (reason == drop_not_specified)
		return 0;
	struct flow_key k = {};
	unsigned char *head;
	__u32 tail;
	__u8 proto;
	__u32 l4;
	if (parse_skb_ip(skb, &k, &proto, &l4, &head, &tail))
		return 0;
	__u16 family = k.family;
	k.proto = proto;
	if (proto == IPPROTO_TCP) {
		struct tcphdr_min th;
		if (skb_read(&th, sizeof(th), head, l4, tail))
			return 0;
		if (!(th.flags & TCP_FLAG_SYN) &&
		    (!drop_listen_overflow || reason != drop_listen_overflow))
			return 0;
		k.sport = bpf_ntohs(th.source);
		k.dport = bpf_ntohs(th.dest);
		k.seq = bpf_ntohl(th.seq);
		k.tcp_flags = th.flags;
	} else if ((proto == IPPROTO_ICMP && family == AF_INET) || (proto == IPPROTO_ICMPV6 && family == AF_INET6)) {
		struct icmphdr_min ih;
		if (skb_read(&ih, sizeof(ih), head, l4, tail))
			return 0;
		/* destination unreachable, time exceeded */
		if (family == AF_INET ? (ih.type != 3 && ih.type != 11) : (ih.type != 1 && ih.type != 3))
			return 0;
		k.icmp_type = ih.type;
		k.icmp_code = ih.code;
		__u8 inner;
		__u32 il4;
		if (parse_ip(&k, head, l4 + sizeof(ih), tail, family, &inner, &il4) || inner != IPPROTO_TCP)
			return 0;
		struct tcphdr_min th;
		/* an ICMP error quotes at least 8 bytes of the segment */
		if (skb_read(&th, 8, head, il4, tail))
			return 0;
		k.sport = bpf_ntohs(th.source);
		k.dport = bpf_ntohs(th.dest);
		k.seq = bpf_ntohl(th.seq);
	} else {
		return 0;
	}
	if (!drop_port_wanted(k.sport, k.dport))
		return 0;
	/* A packet this host sends carries its socket: the connecting socket's
	 * owner, when the tracer bound it, names the process. */
	int iif = skb->skb_iif;
	struct owner *o = NULL;
	struct sock *sk = skb->sk;
	if (sk && !iif)
		o = owner_of(sk);
	if (filter_pids && !filter_ports && !o && !followed_server_port(k.sport, k.dport))
		return 0;

	struct drop_event *d = (struct drop_event *)reserve_key_event(sizeof(*d), EV_DROP, reason, &k);
	if (!d)
		return 0;
	d->location = (__u64)location;
	d->seq = k.seq;
	d->proto = k.proto;
	d->tcp_flags = k.tcp_flags;
	d->icmp_type = k.icmp_type;
	d->icmp_code = k.icmp_code;
	d->incoming = iif != 0;
	if (iif) {
		d->ifindex = iif;
	} else {
		struct net_device *dev = skb->dev;
		if (dev)
			d->ifindex = dev->ifindex;
	}
	if (o) {
		d->e.cookie = o->cookie;
		d->e.pid = o->pid;
		d->e.tid = o->tid;
		d->e.fd = o->fd;
		__builtin_memcpy(d->e.comm, o->comm, sizeof(d->e.comm));
	}
	submit(d);
	return 0;
}

/* accept()/accept4() returning a TCP socket of a followed port: which
 * process took the connection out of the accept queue, and when. The
 * child's cookie was assigned at its handshake (EV_CHILD), so it is read,
 * not created. */
static __always_inline int accept_exit(struct sys_exit_ctx *ctx)
{
	__s64 ret = ctx->ret;
	if (ret < 0)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!tgid_wanted(tgid))
		return 0;
	__u16 type = 0;
	__u64 skp = sock_from_fd((__s32)ret, &type);
	if (!skp || type != SOCK_STREAM)
		return 0;
	struct sock *sk = (struct sock *)skp;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if ((family != AF_INET && family != AF_INET6) || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (filter_ports && !bpf_map_lookup_elem(&ports, &lport))
		return 0;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = now();
	e->kind = EV_ACCEPT;
	e->pid = tgid;
	e->tid = (__u32)id;
	e->fd = (__s32)ret;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_INTO(&e->cookie, sk, __sk_common.skc_cookie);
	e->family = family;
	e->type = SOCK_STREAM;
	e->sport = lport;
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (family == AF_INET) {
		__be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(e->saddr, &s, 4);
		__builtin_memcpy(e->daddr, &d, 4);
	} else {
		bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	submit(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sys_exit_accept4(struct sys_exit_ctx *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sys_exit_accept(struct sys_exit_ctx *ctx)
{
	return accept_exit(ctx);
}

/* ---- the server's SYN-ACK retransmits and the resets this host sends ---- */

/* tcp:tcp_retransmit_synack: the server's side of a handshake (a request
 * socket in SYN_RECV) sent its SYN-ACK again: the client's ACK did not come
 * (lost, or dropped because the accept queue was full), or the client
 * retransmitted its SYN. Filtered like the server's handshake: by listen
 * port; under a pid filter it needs the port in `ports` (server_port_wanted). */
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(tcp_retransmit_synack, const struct sock *sk, const struct request_sock *req)
{
	const struct sock_common *c = &req->__req_common;
	if (!server_port_wanted(c->skc_num))
		return 0;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = now();
	e->kind = EV_SYNACK_RETRANS;
	e->fd = -1;
	e->ret = req->num_retrans; /* SYN-ACKs retransmitted before this one */
	e->state = TCP_SYN_RECV;
	fill_common(e, c);
	submit(e);
	return 0;
}

/* tcp:tcp_send_reset: this host's kernel sends a RST, either answering a
 * segment (skb set: a SYN to a port nobody listens on, an ACK no socket
 * expects) or aborting a socket's connection (skb NULL). The RST's flow is
 * the answered segment's reversed, else the socket's. Filtered like drops:
 * by port (either end), and under a pid filter without ports only the
 * resets of sockets the tracer bound or of a traced server's listen port
 * pass. */
SEC("tp_btf/tcp_send_reset")
int tcp_send_reset(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	__u32 reason = 0;
	if (rst_has_reason)
		reason = (__u32)ctx[2];

	struct flow_key k = {};
	__u8 answers = 0;
	if (skb) {
		/* a passive reset: it answers this segment */
		struct flow_key in = {};
		unsigned char *head;
		__u32 tail;
		__u8 proto;
		__u32 l4;
		if (parse_skb_ip(skb, &in, &proto, &l4, &head, &tail) || proto != IPPROTO_TCP)
			return 0;
		struct tcphdr_min th;
		if (skb_read(&th, sizeof(th), head, l4, tail))
			return 0;
		/* the RST goes back to the segment's sender */
		__builtin_memcpy(k.saddr, in.daddr, 16);
		__builtin_memcpy(k.daddr, in.saddr, 16);
		k.sport = bpf_ntohs(th.dest);
		k.dport = bpf_ntohs(th.source);
		k.family = in.family;
		answers = th.flags;
	} else {
		if (!sk)
			return 0;
		__u16 family = sk->__sk_common.skc_family;
		if (family == AF_INET) {
			__be32 s = sk->__sk_common.skc_rcv_saddr, d = sk->__sk_common.skc_daddr;
			__builtin_memcpy(k.saddr, &s, 4);
			__builtin_memcpy(k.daddr, &d, 4);
		} else if (family == AF_INET6) {
			bpf_core_read(k.saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
			bpf_core_read(k.daddr, 16, &sk->__sk_common.skc_v6_daddr);
		} else {
			return 0;
		}
		k.family = family;
		k.sport = sk->__sk_common.skc_num;
		k.dport = bpf_ntohs(sk->__sk_common.skc_dport);
	}
	if (!drop_port_wanted(k.sport, k.dport))
		return 0;
	/* sk may be NULL (no socket), a request or timewait socket (owner_of
	 * finds nothing there), or a full socket. */
	struct owner *o = NULL;
	__u8 state = 0;
	if (sk) {
		state = sk->__sk_common.skc_state;
		o = owner_of(sk);
	}
	if (filter_pids && !filter_ports && !o && !followed_server_port(k.sport, k.dport))
		return 0;

	struct reset_event *r = (struct reset_event *)reserve_key_event(sizeof(*r), EV_RESET_SENT, reason, &k);
	if (!r)
		return 0;
	r->e.state = state;
	r->passive = skb != NULL;
	r->answers = answers;
	if (o) {
		r->e.cookie = o->cookie;
		r->e.pid = o->pid;
		r->e.tid = o->tid;
		r->e.fd = o->fd;
		__builtin_memcpy(r->e.comm, o->comm, sizeof(r->e.comm));
		if (!r->e.sport && o->sport) {
			/* an aborting socket may have released its port already */
			r->e.sport = o->sport;
			__builtin_memcpy(r->e.saddr, o->saddr, 16);
		}
	}
	submit(r);
	return 0;
}
