#!/usr/bin/env bash
# make bench: the performance goals of issue 3, measured.
#
# Generates a large deterministic capture (bench/gencap: >= 1 million packets
# of bulk MySQL traffic mixed with thousands of connects of every outcome)
# into a temporary directory, then measures packets/s and peak RSS of
#   (a) connscope analyze --format json      (the product)
#   (b) bench/readloop                        (bare read-and-decode: the ceiling)
#   (c) tshark -T fields with equivalent fields (the usual alternative)
# checks the targets (a >= 1/2 of b, a >= 30x c, a's peak RSS < 100 MB) and
# that analyze found the outcomes gencap generated, prints Markdown tables,
# then runs the Go benchmarks of every package. Exits 1 if a target is missed.
# With BENCH_KEEP=1 the capture stays for profiling
# (bench/readloop -engine -cpuprofile ...).
#
# Environment: BENCH_PACKETS (default 1200000), BENCH_CONNECTS (6000),
# BENCH_RUNS (best of N for a and b, default 7: single runs on a shared VM swing by 20%), BENCH_KEEP=1 keeps the files.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
GO=${GO:-go}
packets=${BENCH_PACKETS:-1200000}
connects=${BENCH_CONNECTS:-6000}
runs=${BENCH_RUNS:-7}

work=$(mktemp -d /tmp/connscope-bench.XXXXXX)
if [[ -z "${BENCH_KEEP:-}" ]]; then trap 'rm -rf "$work"' EXIT; else echo "keeping $work"; fi

echo "== building"
$GO build -trimpath -o "$work/connscope" ./cmd/connscope
$GO build -o "$work/gencap" ./bench/gencap
$GO build -o "$work/readloop" ./bench/readloop
$GO build -o "$work/measure" ./bench/measure

echo "== generating $packets packets, $connects connects"
cap="$work/bench.pcap"
"$work/gencap" -packets "$packets" -connects "$connects" -o "$cap"
npk=$(sed -n 's/^  "packets": \([0-9]*\),*$/\1/p' "$cap.expected.json")
size_mb=$(( $(stat -c %s "$cap") / 1000000 ))
cat "$cap" > /dev/null # every run reads from the page cache

# field FILE NAME: the value after NAME in a measure result line.
field() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$1"; }

# once I LABEL CMD...: run CMD once (run number I; stdout to
# $work/LABEL.out, stderr to $work/LABEL.err); keep the run with the least
# wall time so far in $work/LABEL.m and the one with the least CPU time in
# $work/LABEL.cpu.m.
once() {
	local i=$1 label=$2; shift 2
	local m="$work/$label.$i.m"
	"$work/measure" -o "$m" -- "$@" > "$work/$label.out" 2> "$work/$label.err"
	if [[ $(field "$m" exit) != 0 ]]; then
		echo "$label failed (exit $(field "$m" exit)): $*" >&2
		cat "$work/$label.err" >&2
		exit 1
	fi
	if [[ ! -e "$work/$label.m" ]] || awk -v a="$(field "$m" wall_s)" -v b="$(field "$work/$label.m" wall_s)" 'BEGIN { exit !(a < b) }'; then
		cp "$m" "$work/$label.m"
	fi
	if [[ ! -e "$work/$label.cpu.m" ]] || awk -v a="$(cpu_of "$m")" -v b="$(cpu_of "$work/$label.cpu.m")" 'BEGIN { exit !(a < b) }'; then
		cp "$m" "$work/$label.cpu.m"
	fi
}

# best RUNS LABEL CMD...: once, RUNS times.
best() {
	local n=$1 label=$2; shift 2
	local i
	for ((i = 1; i <= n; i++)); do
		once "$i" "$label" "$@"
	done
}
cpu_of() { awk -v u="$(field "$1" user_s)" -v s="$(field "$1" sys_s)" 'BEGIN { printf "%.3f", u + s }'; }

# (a) and (b) alternate, so that both see the same load when other jobs
# share the machine (their ratio is the target).
echo "== (a) connscope analyze --format json and (b) the bare read-and-decode loop, alternating, best of $runs each"
for ((i = 1; i <= runs; i++)); do
	once "$i" analyze "$work/connscope" analyze --format json "$cap"
	once "$i" readloop "$work/readloop" "$cap"
done
cp "$work/analyze.out" "$work/analyze.jsonl"
have_tshark=0
if command -v tshark > /dev/null; then
	have_tshark=1
	echo "== (c) tshark -T fields (one run; this takes a while)"
	best 1 tshark tshark -r "$cap" -n -T fields \
		-e frame.number -e frame.time_epoch -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst \
		-e tcp.srcport -e tcp.dstport -e tcp.flags -e tcp.seq_raw -e tcp.ack_raw \
		-e udp.srcport -e udp.dstport -e icmp.type -e icmp.code -e icmpv6.type -e icmpv6.code \
		-e dns.qry.name -e dns.qry.type -e dns.flags.rcode -e dns.a -e dns.aaaa \
		-e mysql.version -e mysql.thread_id -e mysql.user -e mysql.error_code -e mysql.sqlstate -e mysql.error.message
else
	echo "== (c) skipped: tshark is not installed (apt-get install tshark)"
fi

# Rates per wall second (what a user waits) and per CPU second (what the
# work costs; robust when other jobs share the machine). The targets are
# judged on CPU seconds, and wall-clock ratios are shown next to them.
rate() { awk -v n="$npk" -v s="$(field "$work/$1.m" wall_s)" 'BEGIN { printf "%.0f", n / s }'; }
cpurate() { awk -v n="$npk" -v s="$(cpu_of "$work/$1.cpu.m")" 'BEGIN { printf "%.0f", n / s }'; }
rss() { awk -v k="$(field "$work/$1.m" maxrss_kb)" 'BEGIN { printf "%.1f", k / 1024 }'; }
row() { printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$(field "$work/$1.m" wall_s)" "$(cpu_of "$work/$1.cpu.m")" "$(rate "$1")" "$(cpurate "$1")" "$(rss "$1")" "$3"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

status=0
missed=()
check() { # check NAME CONDITION -> "met" / "missed"
	if awk "BEGIN { exit !($2) }"; then echo met; else echo "**missed**"; fi
}

echo
echo "### make bench: $npk packets ($size_mb MB LINUX_SLL2 pcap, $connects connects), $(nproc) CPUs, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | wall s | CPU s | packets/s (wall) | packets/s (CPU) | peak RSS MB | notes |"
echo "|:--|--:|--:|--:|--:|--:|:--|"
row analyze "connscope analyze --format json" "best of $runs; $(wc -l < "$work/analyze.jsonl") JSON lines"
row readloop "bare read-and-decode loop (bench/readloop)" "best of $runs; the ceiling"
if ((have_tshark)); then row tshark "tshark -T fields, equivalent fields" "one run; tshark $(tshark --version 2> /dev/null | grep -o "[0-9]*\.[0-9]*\.[0-9]*" | head -1)"; fi
echo
echo "| target | measured (CPU) | measured (wall) | |"
echo "|:--|--:|--:|:--|"
r_cpu=$(ratio "$(cpurate analyze)" "$(cpurate readloop)"); r_wall=$(ratio "$(rate analyze)" "$(rate readloop)")
v=$(check bare "$r_cpu >= 0.5"); [[ $v == met ]] || missed+=("analyze >= 0.5 x bare loop")
echo "| analyze >= 0.5 x bare loop | ${r_cpu} x | ${r_wall} x | $v |"
if ((have_tshark)); then
	t_cpu=$(ratio "$(cpurate analyze)" "$(cpurate tshark)"); t_wall=$(ratio "$(rate analyze)" "$(rate tshark)")
	v=$(check tshark "$t_cpu >= 30"); [[ $v == met ]] || missed+=("analyze >= 30 x tshark")
	echo "| analyze >= 30 x tshark | ${t_cpu} x | ${t_wall} x | $v |"
fi
a_rss=$(rss analyze)
v=$(check rss "$a_rss < 100"); [[ $v == met ]] || missed+=("analyze peak RSS < 100 MB")
echo "| analyze peak RSS < 100 MB | ${a_rss} MB | | $v |"
echo
if ((${#missed[@]} > 0)); then
	status=1
	printf 'MISSED: %s\n' "${missed[@]}"
	echo "profile with: go build -o /tmp/readloop ./bench/readloop && /tmp/readloop -engine -cpuprofile /tmp/cpu.out FILE && go tool pprof -top /tmp/cpu.out"
	echo
fi

echo "== outcomes: generated vs found by analyze"
# A difference here is a correctness finding for the analyze engine, not a
# performance one: it is shown loudly but does not fail the benchmark.
if ! "$work/gencap" -verify "$work/analyze.jsonl" -o "$cap"; then
	echo "WARNING: analyze's outcome counts differ from what gencap generated (rows marked above)"
fi

echo
echo "== go test -bench (every package)"
pkgs=$($GO list ./...)
if [[ $EUID -ne 0 ]]; then
	# bpf's benchmarks load programs and need root; leave them out quietly.
	pkgs=$(grep -v '/bpf' <<< "$pkgs")
fi
# shellcheck disable=SC2086
$GO test -run '^$' -bench . -benchmem $pkgs 2>&1 | grep -v -e '^PASS$' -e 'no test files' -e '^ok .*\[no tests to run\]' || true

exit $status
