/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * vmlinux_min.h: the few kernel types connscope's eBPF programs use, written
 * by hand instead of a 3 MB generated vmlinux.h.
 *
 * Kernel-internal structs are marked preserve_access_index: the compiler
 * records every field access as a CO-RE relocation and the loader (cilium/ebpf)
 * rewrites the offsets against the running kernel's BTF
 * (/sys/kernel/btf/vmlinux). So only the field names and types matter here,
 * not their order or the structs' real sizes; members that the kernel nests in
 * anonymous unions are declared flat (CO-RE finds them by name).
 *
 * UAPI types (struct __sk_buff, map types, flags) are ABI-stable and are
 * declared with their real layout, truncated after the last field we read.
 */
#ifndef CONNSCOPE_VMLINUX_MIN_H
#define CONNSCOPE_VMLINUX_MIN_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef signed short __s16;
typedef unsigned int __u32;
typedef signed int __s32;
typedef unsigned long long __u64;
typedef signed long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

/* ---- UAPI (include/uapi/linux/bpf.h), stable numbering ---- */

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_SK_STORAGE = 24,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

enum {
	BPF_F_NO_PREALLOC = (1U << 0),
};

enum {
	BPF_LOCAL_STORAGE_GET_F_CREATE = (1ULL << 0),
};

/* bpf_ringbuf_submit/output flags, bpf_ringbuf_query flags */
enum {
	BPF_RB_NO_WAKEUP = (1ULL << 0),
	BPF_RB_FORCE_WAKEUP = (1ULL << 1),
};

enum {
	BPF_RB_AVAIL_DATA = 0,
	BPF_RB_RING_SIZE = 1,
	BPF_RB_CONS_POS = 2,
	BPF_RB_PROD_POS = 3,
};

enum bpf_hdr_start_off {
	BPF_HDR_START_MAC = 0,
	BPF_HDR_START_NET = 1,
};

/* Socket filter context, truncated after ifindex (the verifier checks the
 * offsets we load, which are the UAPI ones). */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
};

/* ---- kernel internals, relocated with CO-RE ---- */

typedef struct {
	int counter;
} atomic_t;

typedef struct {
	__s64 counter;
} atomic64_t;

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be16 u6_addr16[8];
		__be32 u6_addr32[4];
	} in6_u;
} __attribute__((preserve_access_index));

struct sock_common {
	/* in the kernel these sit in anonymous unions (skc_addrpair, skc_portpair) */
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num; /* local port, host byte order */
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	atomic64_t skc_cookie; /* 0 until someone asks for the cookie */
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	int sk_err;
	__u16 sk_type;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

/* A TCP socket (struct sock is its first member). snd_una starts at the
 * initial sequence number (tcp_connect_init) and every advance is added to
 * bytes_acked (tcp_snd_una_update; the SYN's one counts), so snd_una -
 * bytes_acked is the ISN for the socket's whole life after the SYN. */
struct tcp_sock {
	__u32 snd_una;
	__u64 bytes_acked;
} __attribute__((preserve_access_index));

/* A connection in SYN_RECV before it is a full socket (the server's
 * side of a handshake): its addresses are in __req_common. */
struct request_sock {
	struct sock_common __req_common;
	__u8 num_retrans; /* SYN-ACKs retransmitted so far */
} __attribute__((preserve_access_index));

struct socket {
	short type;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

struct file {
	void *private_data;
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct signal_struct {
	atomic_t live; /* threads still alive in the thread group */
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;  /* thread id */
	int tgid; /* process id */
	struct files_struct *files;
	struct signal_struct *signal;
} __attribute__((preserve_access_index));

struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

/* Offsets into head (64-bit kernels: sk_buff_data_t is an offset). The
 * header offsets sit in the kernel's struct_group(headers); CO-RE finds them
 * by name. */
struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	int skb_iif;
	__be16 protocol;
	__u16 transport_header;
	__u16 network_header;
	unsigned int tail;
	unsigned char *head;
} __attribute__((preserve_access_index));

#endif /* CONNSCOPE_VMLINUX_MIN_H */
