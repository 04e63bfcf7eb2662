#!/usr/bin/env bash
# bench/loss.sh — issue 9: `connscope trace` with no filter under a paced
# loopback connect load (half greeted, half refused), optionally stalled
# (SIGSTOP for STALL seconds, 3 s into the load: a pipeline starved of CPU,
# so that both rings overflow). Prints connects made vs reported, reports of
# one client 5-tuple within 50 ms (duplicates), port-0 attempts, the loss
# counters and peak RSS. Loopback only; needs root.
# Usage: bench/loss.sh [RATE=14000] [DURATION=10s] [STALL=0]
# LOSS_KEEP=DIR copies the JSON report and the tracer's stderr into DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-14000} D=${2:-10s} STALL=${3:-0}
if [ "$(id -u)" != 0 ]; then echo "bench/loss.sh: skipped: needs root" >&2; exit 0; fi
work=$(mktemp -d /tmp/connscope-loss.XXXXXX)
tp= sp=
# Whatever fails (the load's ports taken by another bench, say), the tracer
# and the stall must not outlive the script.
cleanup() {
	set +e
	if [ -n "$sp" ]; then kill "$sp" 2> /dev/null; fi
	if [ -n "$tp" ]; then pkill -CONT -P "$tp"; pkill -INT -P "$tp"; wait "$tp"; fi 2> /dev/null
	if [ -n "${LOSS_KEEP:-}" ] && [ -f "$work/report.json" ]; then mkdir -p "$LOSS_KEEP" && cp "$work/report.json" "$work/stderr" "$LOSS_KEEP/"; fi
	rm -rf "$work"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -trimpath -o "$work/connscope" ./cmd/connscope
CGO_ENABLED=0 go build -o "$work/lossload" ./bench/lossload
/usr/bin/time -v "$work/connscope" trace --format json -o "$work/report.json" 2>"$work/stderr" &
tp=$!
for _ in $(seq 100); do grep -q "tracing" "$work/stderr" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
cp=$(pgrep -P $tp)
if [ "$STALL" != 0 ]; then ( sleep 3; kill -STOP "$cp"; sleep "$STALL"; kill -CONT "$cp" ) & sp=$!; fi
"$work/lossload" -rate "$RATE" -duration "$D"
[ -n "$sp" ] && wait "$sp"
sleep 3
kill -INT "$cp"
wait $tp || true
tp=
grep -E "Maximum resident" "$work/stderr"
python3 bench/lossload/count.py "$work/report.json" 14306 14307
