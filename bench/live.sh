#!/usr/bin/env bash
# bench/live.sh — what `connscope trace` costs under load (issues 5 and 12),
# as Markdown tables (see bench/livebench): CPU of connscope (all threads,
# over the load window only), with the kernel drop-reason program
# (tp_btf/kfree_skb) attached in every traced run (checked), while the
# machine carries
#   (a) bulk loopback TCP on a non-target port,
#   (b) bulk loopback TCP on established target-port connections,
#   (d) bulk TCP over a veth pair between two network namespaces of its own
#       (csbench-PID-c → csbench-PID-s, 198.18.0.1 → 198.18.0.2, RFC 2544's
#       benchmarking range), traced on the server's namespace,
#   (c) a paced loop of connects to the target port on loopback,
#   (e) a server-side connect storm over the veth pair (10,200 connects/s
#       to a listener in the server's namespace, traced there with --port;
#       judged by the accepts: ≥ 10,000/s), after the same loop untraced
#       for comparison.
# The bulk rows alternate untraced and traced blocks and report the median
# traced/untraced throughput ratio, so that other load cancels out.
# Targets: under 1% of a core for (a), (b) and (d), with the throughput
# within noise; for (c) and (e) no packet dropped by the kernel, no eBPF
# event lost, every connect reported (for (e): exactly once, with the
# server's accept, at ≥ 10,000 accepts/s). Exits 1 if a target is missed.
# The namespaces are removed on exit, also on failure or Ctrl-C (and those
# of earlier runs whose process is gone, at the start).
#
# Needs root (live capture, eBPF, namespaces); prints a note and exits 0
# otherwise. About 3 minutes with the defaults.
# Environment: LIVE_DURATION (idle, (c) and (e), default 10s), LIVE_RATES
# (connects/s for (c), comma-separated, the first judged; default
# 5000,10000), LIVE_PORT (target port, default 13306), LIVE_BLOCKS (traced
# blocks per bulk row, default 5), LIVE_BLOCK (block length, default 2s),
# LIVE_STORM_RATE (connects/s of (e), default 10200), LIVE_ONLY (run only the
# rows whose name contains this, e.g. "(e)"), LIVE_KEEP (a directory to keep
# the JSON reports in).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

if [ "$(id -u)" != 0 ]; then
	echo "bench/live.sh: skipped: connscope trace needs root (or CAP_BPF+CAP_PERFMON+CAP_NET_RAW+CAP_NET_ADMIN); running as uid $(id -u)" >&2
	exit 0
fi

work=$(mktemp -d /tmp/connscope-livebench.XXXXXX)
ns=csbench-$$
lb=
cleanup() {
	if [ -n "$lb" ]; then
		kill "$lb" 2>/dev/null || true # it kills its connscope first
		wait "$lb" 2>/dev/null || true
	fi
	ip netns del "$ns-c" 2>/dev/null || true
	ip netns del "$ns-s" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
# Namespaces left by a run that was killed before its cleanup (its pid gone).
for old in $(ip netns list | awk '$1 ~ /^csbench-[0-9]+-[cs]$/ {print $1}'); do
	pid=${old#csbench-}
	pid=${pid%-*}
	if ! kill -0 "$pid" 2>/dev/null; then
		ip netns del "$old" || true
	fi
done
ip netns add "$ns-c"
ip netns add "$ns-s"
ip link add csb0 netns "$ns-c" type veth peer name csb1 netns "$ns-s"
ip -n "$ns-c" addr add 198.18.0.1/30 dev csb0
ip -n "$ns-s" addr add 198.18.0.2/30 dev csb1
for n in "$ns-c" "$ns-s"; do
	ip -n "$n" link set lo up
done
ip -n "$ns-c" link set csb0 up
ip -n "$ns-s" link set csb1 up
# The storm's client uses the whole port range (fewer reuses of a 5-tuple).
ip netns exec "$ns-c" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"

CGO_ENABLED=0 $GO build -trimpath -o "$work/connscope" ./cmd/connscope
CGO_ENABLED=0 $GO build -o "$work/livebench" ./bench/livebench
# In the background, so that a signal to this script runs its trap at once.
"$work/livebench" -connscope "$work/connscope" \
	-duration "${LIVE_DURATION:-10s}" -rates "${LIVE_RATES:-5000,10000}" -port "${LIVE_PORT:-13306}" \
	-blocks "${LIVE_BLOCKS:-5}" -block "${LIVE_BLOCK:-2s}" \
	-veth "$ns-c,$ns-s" -veth-addr 198.18.0.2 -storm-rate "${LIVE_STORM_RATE:-10200}" \
	${LIVE_ONLY:+-only "$LIVE_ONLY"} ${LIVE_KEEP:+-keep "$LIVE_KEEP"} &
lb=$!
wait "$lb"
lb=
