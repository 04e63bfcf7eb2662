//go:build ignore

// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * flowfilter.bpf.c: a socket filter for connscope's AF_PACKET capture that
 * copies only what the analyzer needs and keeps everything else in the kernel:
 *
 *   - TCP SYN, FIN, RST (on the target ports when ports are set),
 *   - ICMP / ICMPv6 errors (they quote the packet they answer),
 *   - DNS (UDP or TCP port 53),
 *   - every segment of a connection in its connection phase: the flow is
 *     tracked from the client's SYN to a target port until it carried
 *     payload_packets payload segments or payload_bytes payload bytes (or an
 *     RST, or a FIN each way), then forgotten, so the payload of established connections never
 *     leaves the kernel;
 *   - and it drops the outgoing copy of loopback packets (lo shows every
 *     packet twice: once leaving, once arriving).
 *
 * The return value is the number of bytes to copy (0: drop).
 * Headers are read relative to the network header, so the filter works on
 * any link type and under BPF_PROG_TEST_RUN alike.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define PACKET_OUTGOING 4
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_ICMPV6 58
#define IPPROTO_DSTOPTS 60
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10
#define DNS_PORT 53

const volatile __u32 snap_len = 2048;
const volatile __u32 payload_packets = 8;
const volatile __u32 payload_bytes = 16384;
const volatile __u32 loopback_ifindex = 1; /* lo is ifindex 1 in every netns */
const volatile __u8 filter_ports = 0;

/* What the filter did, per CPU, for Counters(). */
enum flow_counter {
	FC_PASS_CONTROL = 0, /* SYN, FIN, RST */
	FC_PASS_ICMP,
	FC_PASS_DNS,
	FC_PASS_FLOW, /* segments of tracked flows */
	FC_DROP,
	FC_DROP_LOOPBACK_OUT,
	FC_FLOW_ADDED,
	FC_FLOW_DONE, /* budget used up or reset */
	FC_MAX,
};

/* A connection in its connection phase, oriented client -> server. */
struct flow_key {
	__u8 client[16];
	__u8 server[16];
	__u16 client_port; /* host byte order */
	__u16 server_port;
	__u32 v6;
};

struct flow {
	__u32 packets; /* payload segments seen */
	__u32 bytes;   /* payload bytes seen */
	__u32 fins;    /* FIN_CLIENT | FIN_SERVER: the directions that sent a FIN */
};

#define FIN_CLIENT 1
#define FIN_SERVER 2

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* resized by the loader */
	__type(key, struct flow_key);
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);  /* port, host byte order */
	__type(value, __u8); /* unused */
} target_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Keep the type in BTF for bpf2go. */
enum flow_counter unused_flow_counter __attribute__((unused));

static __always_inline __u32 verdict(__u32 counter, __u32 keep)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &counter);
	if (n)
		*n += 1;
	return keep;
}

static __always_inline bool is_target(__u16 port)
{
	if (!filter_ports)
		return true;
	return bpf_map_lookup_elem(&target_ports, &port) != NULL;
}

struct l4 {
	__u8 proto;
	__u8 v6;
	__u16 pad;
	__u32 off; /* transport header offset from the network header */
	__u32 len; /* transport header + payload length (from the IP header) */
	__u8 src[16];
	__u8 dst[16];
};

/* Parse IPv4 or IPv6 (with the usual extension headers); false for other
 * protocols and for non-first fragments (no transport header). */
static __always_inline bool parse_ip(struct __sk_buff *skb, struct l4 *p)
{
	__u16 proto = bpf_ntohs(skb->protocol);
	if (proto == ETH_P_IP) {
		__u8 h[20];
		if (bpf_skb_load_bytes_relative(skb, 0, h, sizeof(h), BPF_HDR_START_NET))
			return false;
		if ((h[0] >> 4) != 4)
			return false;
		__u32 ihl = (h[0] & 0x0f) * 4;
		__u32 total = ((__u32)h[2] << 8) | h[3];
		__u16 frag = (((__u16)h[6] << 8) | h[7]) & 0x1fff;
		if (ihl < 20 || total < ihl || frag)
			return false;
		p->proto = h[9];
		p->off = ihl;
		p->len = total - ihl;
		__builtin_memcpy(p->src, &h[12], 4);
		__builtin_memcpy(p->dst, &h[16], 4);
		return true;
	}
	if (proto != ETH_P_IPV6)
		return false;

	__u8 h[40];
	if (bpf_skb_load_bytes_relative(skb, 0, h, sizeof(h), BPF_HDR_START_NET))
		return false;
	if ((h[0] >> 4) != 6)
		return false;
	p->v6 = 1;
	__u32 len = ((__u32)h[4] << 8) | h[5];
	__u8 next = h[6];
	__u32 off = 40;
	__builtin_memcpy(p->src, &h[8], 16);
	__builtin_memcpy(p->dst, &h[24], 16);

#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
		    next != IPPROTO_DSTOPTS && next != IPPROTO_FRAGMENT)
			break;
		__u8 ext[4];
		if (bpf_skb_load_bytes_relative(skb, off, ext, sizeof(ext), BPF_HDR_START_NET))
			return false;
		__u32 extlen;
		if (next == IPPROTO_FRAGMENT) {
			if (((((__u16)ext[2] << 8) | ext[3]) & 0xfff8) != 0)
				return false; /* not the first fragment */
			extlen = 8;
		} else {
			extlen = ((__u32)ext[1] + 1) * 8;
		}
		if (len < extlen)
			return false;
		len -= extlen;
		off += extlen;
		next = ext[0];
	}
	p->proto = next;
	p->off = off;
	p->len = len;
	return true;
}

static __always_inline void flow_key(struct flow_key *k, const struct l4 *p, bool from_client,
				     __u16 sport, __u16 dport)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->v6 = p->v6;
	if (from_client) {
		__builtin_memcpy(k->client, p->src, 16);
		__builtin_memcpy(k->server, p->dst, 16);
		k->client_port = sport;
		k->server_port = dport;
	} else {
		__builtin_memcpy(k->client, p->dst, 16);
		__builtin_memcpy(k->server, p->src, 16);
		k->client_port = dport;
		k->server_port = sport;
	}
}

SEC("socket")
int flow_filter(struct __sk_buff *skb)
{
	if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == loopback_ifindex)
		return verdict(FC_DROP_LOOPBACK_OUT, 0);

	struct l4 p = {};
	if (!parse_ip(skb, &p))
		return verdict(FC_DROP, 0);

	if (p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6) {
		__u8 type;
		if (bpf_skb_load_bytes_relative(skb, p.off, &type, 1, BPF_HDR_START_NET))
			return verdict(FC_DROP, 0);
		if (p.proto == IPPROTO_ICMP && !p.v6 &&
		    (type == 3 || type == 4 || type == 11 || type == 12))
			return verdict(FC_PASS_ICMP, snap_len); /* unreachable, quench, time exceeded, parameter */
		if (p.proto == IPPROTO_ICMPV6 && p.v6 && type >= 1 && type <= 4)
			return verdict(FC_PASS_ICMP, snap_len); /* unreachable, too big, time exceeded, parameter */
		return verdict(FC_DROP, 0);
	}

	if (p.proto == IPPROTO_UDP) {
		__u8 h[4];
		if (bpf_skb_load_bytes_relative(skb, p.off, h, sizeof(h), BPF_HDR_START_NET))
			return verdict(FC_DROP, 0);
		__u16 sport = ((__u16)h[0] << 8) | h[1], dport = ((__u16)h[2] << 8) | h[3];
		if (sport == DNS_PORT || dport == DNS_PORT)
			return verdict(FC_PASS_DNS, snap_len);
		return verdict(FC_DROP, 0);
	}

	if (p.proto != IPPROTO_TCP)
		return verdict(FC_DROP, 0);

	__u8 th[14];
	if (bpf_skb_load_bytes_relative(skb, p.off, th, sizeof(th), BPF_HDR_START_NET))
		return verdict(FC_DROP, 0);
	__u16 sport = ((__u16)th[0] << 8) | th[1], dport = ((__u16)th[2] << 8) | th[3];
	__u32 doff = (th[12] >> 4) * 4;
	__u8 flags = th[13];
	__u32 payload = p.len > doff ? p.len - doff : 0;

	if (sport == DNS_PORT || dport == DNS_PORT)
		return verdict(FC_PASS_DNS, snap_len);

	/* Only connections to a target port are tracked, and only their
	 * control packets are passed: anything else is dropped without a flow
	 * lookup (the path bulk traffic on other ports takes). */
	bool to_target = is_target(dport), from_target = is_target(sport);
	if (!to_target && !from_target)
		return verdict(FC_DROP, 0);

	struct flow_key key;
	if ((flags & (TH_SYN | TH_ACK)) == TH_SYN && to_target) {
		/* A client's SYN (or its retransmission): (re)start tracking. */
		struct flow fresh = {};
		flow_key(&key, &p, true, sport, dport);
		bpf_map_update_elem(&flows, &key, &fresh, BPF_ANY);
		verdict(FC_FLOW_ADDED, 0);
		return verdict(FC_PASS_CONTROL, snap_len);
	}

	/* A tracked flow: try the packet as client->server, then server->client. */
	struct flow *f = NULL;
	__u32 fin_bit = FIN_CLIENT;
	if (to_target) {
		flow_key(&key, &p, true, sport, dport);
		f = bpf_map_lookup_elem(&flows, &key);
	}
	if (!f && from_target) {
		flow_key(&key, &p, false, sport, dport);
		f = bpf_map_lookup_elem(&flows, &key);
		fin_bit = FIN_SERVER;
	}
	if (f) {
		bool done = flags & TH_RST;
		/* Both directions closed: nothing of the connection phase is to
		 * come. Forgetting the flow keeps the LRU map from filling with
		 * finished connections (a connect that ends with FINs and less
		 * payload than the budget stayed until evicted): a full LRU map
		 * evicts on every new SYN, and may take a flow still in its
		 * handshake (another CPU steals from a CPU's list of new entries)
		 * whose greeting would then never be copied. A FIN alone keeps
		 * it: the other side may still send (a greeting after the
		 * client's FIN). */
		if ((flags & TH_FIN) && (__sync_fetch_and_or(&f->fins, fin_bit) | fin_bit) == (FIN_CLIENT | FIN_SERVER))
			done = true;
		if (payload) {
			__u32 packets = __sync_fetch_and_add(&f->packets, 1) + 1;
			__u32 bytes = __sync_fetch_and_add(&f->bytes, payload) + payload;
			if (packets >= payload_packets || bytes >= payload_bytes)
				done = true;
		}
		if (done) {
			bpf_map_delete_elem(&flows, &key);
			verdict(FC_FLOW_DONE, 0);
		}
		return verdict(FC_PASS_FLOW, snap_len);
	}

	if (flags & (TH_SYN | TH_FIN | TH_RST))
		return verdict(FC_PASS_CONTROL, snap_len);
	return verdict(FC_DROP, 0);
}
