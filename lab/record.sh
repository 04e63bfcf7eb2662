#!/usr/bin/env bash
# Regenerate testdata/captures/ (make testdata): bring the lab up from
# scratch, run every scenario of lab/scenarios.go with the mariadb CLI and
# PHP mysqli, record a `tcpdump -i any` capture (LINUX_SLL2) and a veth
# pcapng per run plus manifest.json, then tear the lab down.
#
#   bash lab/record.sh                 everything (a few minutes)
#   bash lab/record.sh -only 'drop'    just the matching scenarios (the
#                                      manifest then lists only those)
#   bash lab/record.sh -add -snaplen 256 -only 'tls-ok'
#                                      add runs at snap length 256
#                                      (*.s256.*) to the manifest, keeping
#                                      every other capture as it is
#
# The recording itself is lab/labrecord (Go); it owns the lab's lifecycle
# (lock, up, down) and tears down on SIGINT/SIGTERM too. The EXIT trap here
# is the backstop should it die without cleaning up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "record.sh: must run as root (network namespaces, captures)" >&2
	exit 1
fi
bash lab/deps.sh

go=${GO:-go}
command -v "$go" >/dev/null || go=/usr/local/go/bin/go
export GO=$go
work=$(mktemp -d /tmp/connscope-record.XXXXXX)
cleanup() {
	bash lab/lab.sh down >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

CGO_ENABLED=0 "$go" build -trimpath -o "$work/labrecord" ./lab/labrecord
# Everything (no arguments): the whole-packet captures, then the TLS,
# greeting and error scenarios again at snap length 256 (a busy server's
# usual tcpdump -s 256), as <scenario>-<client>.s256.*.
snap256='^(tls-ok|greeting-2s|greeting-5s|host-not-allowed|too-many-connections|too-many-connections-login|wrong-password|db-denied|tls-required)$'
if [[ $# -eq 0 ]]; then
	"$work/labrecord" -out testdata/captures
	"$work/labrecord" -out testdata/captures -add -snaplen 256 -only "$snap256"
else
	"$work/labrecord" -out testdata/captures "$@"
fi
