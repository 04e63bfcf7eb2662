#!/usr/bin/env bash
# bench/bpf.sh — what the eBPF connect tracer costs (issue 4), as a Markdown table.
#
# A loopback connect loop (blocking connect + close with RST; "accepted" by a
# listener that closes at once, "refused" by a closed port) runs in blocks,
# alternately without and with the tracer attached system-wide and
# unfiltered (the worst case: every event reaches the reader); each traced
# block is compared with its untraced neighbour and the median ratio is
# reported, so that load from other work on the machine cancels out.
# "CPU slowdown" compares the CPU the process used per connect (client,
# server, and the kernel work in their context: syscalls, loopback softirq,
# the eBPF programs), less the reader thread's: it barely depends on other
# load, unlike connects/s. "eBPF programs" is the programs' own run time per
# connect (BPF_STATS_RUN_TIME, from a separate run since the statistics slow
# the programs); "reader" is the Go reader thread's CPU per connect.
# "greeting" is a realistic connect: the accepted loop plus a MySQL-like
# connection phase (78-byte greeting, 100-byte answer, 11-byte OK).
# Then a paced run: 20,000 connects/s (half accepted, half refused) for
# PACED_N connects, counting lost events.
# With FLOOR=1 also: the same loops with do-nothing programs on the tracer's
# attach points (the cost of merely attaching there: the floor for any
# tracer), and with the tracer filtering for a port or pid set the loop does
# not match (`trace --port 3306`, `run -- CMD`).
#
# Needs root (eBPF); prints a note and exits 0 otherwise.
# Environment: COUNT (repetitions, median reported; default 5), N (connects
# per run; default 40000), PACED_N (connects of the paced run; default 100000),
# FLOOR=1 (the floor and filter tables; about 4 more minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-5}
N=${N:-40000}
PACED_N=${PACED_N:-100000}
GO=${GO:-go}

if [ "$(id -u)" != 0 ]; then
	echo "bench/bpf.sh: skipped: the eBPF tracer needs root (or CAP_BPF+CAP_PERFMON); running as uid $(id -u)" >&2
	exit 0
fi

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
CGO_ENABLED=0 $GO test -run '^$' -bench '^BenchmarkConnect$' -benchtime "${N}x" -count "$COUNT" ./bpf/ >"$raw"
CGO_ENABLED=0 $GO test -run '^$' -bench '^BenchmarkConnectPaced$' -benchtime "${PACED_N}x" -count 1 ./bpf/ >>"$raw"
if [ "${FLOOR:-0}" = 1 ]; then
	CGO_ENABLED=0 $GO test -run '^$' -bench '^BenchmarkConnect(Floor|Filtered)$' -benchtime "${N}x" -count "$COUNT" ./bpf/ >>"$raw"
fi
if grep -q -- '--- SKIP' "$raw"; then
	grep -A1 -- '--- SKIP' "$raw" >&2
	exit 0
fi

awk -v count="$COUNT" -v n="$N" -v paced_n="$PACED_N" '
function median(key,    k, i, j, t, m, v) {
	m = cnt[key]
	if (m == 0) return ""
	for (i = 1; i <= m; i++) v[i] = vals[key, i]
	for (i = 2; i <= m; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j+1] = v[j]; v[j+1] = t }
	if (m % 2) return v[(m + 1) / 2]
	return (v[m/2] + v[m/2 + 1]) / 2
}
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
	for (i = 3; i < NF; i += 2) { key = name SUBSEP $(i+1); vals[key, ++cnt[key]] = $i }
}
/^cpu:/ { sub(/^cpu: /, ""); cpu = $0 }
END {
	printf "eBPF connect tracer on a loopback connect loop (%s; %d runs of %d connects, each 20 untraced/traced block pairs; medians; traced = system-wide, no filters)\n\n", cpu, count, n
	print "| loop | connects/s untraced | connects/s traced | wall slowdown | CPU slowdown | eBPF programs per connect | reader per connect | events per connect | lost events |"
	print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	split("accepted refused greeting", loops, " ")
	for (l = 1; l <= 3; l++) {
		c = "Connect/" loops[l]
		printf "| %s | %.0f | %.0f | %.1f%% | %.1f%% | %.2f µs | %.2f µs | %.1f | %d |\n", loops[l],
			median(c SUBSEP "untraced-connects/s"), median(c SUBSEP "traced-connects/s"),
			median(c SUBSEP "wall-slowdown-%"), median(c SUBSEP "cpu-slowdown-%"),
			median(c "+stats" SUBSEP "bpf-ns/op") / 1000, median(c SUBSEP "reader-ns/op") / 1000,
			median(c SUBSEP "events/op"), median(c SUBSEP "lost")
	}
	print ""
	print "| paced run | target connects/s | achieved connects/s | events per connect | lost events | reader CPU |"
	print "|---|---:|---:|---:|---:|---:|"
	printf "| %d connects, accepted/refused alternating | 20000 | %.0f | %.1f | %d | %.1f%% of a core |\n", paced_n,
		median("ConnectPaced" SUBSEP "connects/s"), median("ConnectPaced" SUBSEP "events/op"),
		median("ConnectPaced" SUBSEP "lost"), median("ConnectPaced" SUBSEP "reader-%cpu")
	if (cnt["ConnectFloor/all/accepted" SUBSEP "cpu-slowdown-%"] == 0) exit
	print ""
	print "| attached | loop | wall slowdown | CPU slowdown | events per connect |"
	print "|---|---|---:|---:|---:|"
	split("ConnectFloor/syscalls ConnectFloor/tp_btf ConnectFloor/all ConnectFiltered/port ConnectFiltered/pid", sets, " ")
	split("empty programs: sys_enter/exit_connect|empty programs: the 4 tp_btf|empty programs: all 6|tracer, Ports: 3306|tracer, PIDs: {1}", labels, "|")
	for (i = 1; i <= 5; i++)
		for (l = 1; l <= 2; l++) {
			c = sets[i] "/" loops[l]
			printf "| %s | %s | %.1f%% | %.1f%% | %.1f |\n", labels[i], loops[l],
				median(c SUBSEP "wall-slowdown-%"), median(c SUBSEP "cpu-slowdown-%"), median(c SUBSEP "events/op")
		}
}' "$raw"

# Kernel drop reasons (issue 12): what the kfree_skb program costs traffic it
# does not report, with the tracer filtering for port 3306. Target: a bulk
# loopback stream does not run it at all (below 0.01 calls per 64 KiB: only
# the host's other drops), and a dropped packet outside the filter costs it
# well under a microsecond.
drops=$(CGO_ENABLED=0 $GO test -run '^$' -bench '^BenchmarkDropReasons$' -benchtime "${N}x" -count 1 ./bpf/)
echo "$drops" | awk '
/^BenchmarkDropReasons\// {
	name = $1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkDropReasons\//, "", name)
	for (i = 3; i < NF; i++) { if ($(i+1) ~ /\// || $(i+1) ~ /^[a-z_-]+$/) v[name, $(i+1)] = $i }
	names[++n] = name
}
END {
	if (n == 0) exit
	print ""
	print "| kfree_skb (drop reasons), Ports: 3306 | throughput | kfree_skb calls per op | run time per call | events per op |"
	print "|---|---:|---:|---:|---:|"
	for (k = 1; k <= n; k++) {
		m = names[k]
		printf "| %s | %s | %.4f | %.0f ns | %.4f |\n", m, (v[m, "MB/s"] != "" ? v[m, "MB/s"] " MB/s" : "-"),
			v[m, "kfree_skb-calls/op"], v[m, "kfree_skb-ns/call"], v[m, "events/op"]
	}
	if (v["bulk", "kfree_skb-calls/op"] > 0.01 || v["udp-dropped", "kfree_skb-ns/call"] > 1000) {
		print "bench/bpf.sh: kfree_skb target missed (bulk traffic runs it, or a dropped packet costs over 1 µs)" > "/dev/stderr"
		exit 1
	}
}'
