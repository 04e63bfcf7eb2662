#!/usr/bin/env bash
# make fuzz: runs every Fuzz* target in the module for FUZZTIME each
# (default 20s), one after the other (go test -fuzz takes one target at a
# time). Targets are discovered with `go test -list`, so a new one is fuzzed
# without being listed here. A failure leaves its input under the package's
# testdata/fuzz/ (a regression test from then on) and makes the script exit 1
# after the remaining targets ran.
set -uo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
GO=${GO:-go}
fuzztime=${1:-20s}

failed=()
count=0
for pkg in $($GO list ./...); do
	targets=$($GO test -list '^Fuzz' "$pkg" 2> /dev/null | grep '^Fuzz' || true)
	for t in $targets; do
		count=$((count + 1))
		echo "== $pkg $t ($fuzztime)"
		if ! $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" "$pkg"; then
			failed+=("$pkg $t")
		fi
	done
done
echo
echo "fuzzed $count targets for $fuzztime each"
if ((${#failed[@]} > 0)); then
	printf 'FAILED: %s\n' "${failed[@]}"
	echo "the failing inputs are in each package's testdata/fuzz/<target>/; rerun one with: go test -run '<target>/<file>' <package>"
	exit 1
fi
