#!/bin/sh
# Runs ipvsbench in the project's VM: builds the moby/ipvs helper from its
# own module (internal/bench/moby), then boots the VM with both binaries.
#   internal/bench/run.sh [-kernel 6.1] [-- ipvsbench flags]
set -eu
cd "$(dirname "$0")/../.."
kernel=6.1
if [ "${1:-}" = "-kernel" ]; then kernel=$2; shift 2; fi
if [ "${1:-}" = "--" ]; then shift; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd internal/bench/moby && CGO_ENABLED=0 go build -o "$tmp/mobybench" .)
exec go run ./internal/cmd/vmrun -kernel "$kernel" -timeout 60m \
	-build ./internal/cmd/ipvsbench -f "$tmp/mobybench:/lvs/bin/mobybench" \
	-- /lvs/bin/ipvsbench -moby /lvs/bin/mobybench "$@"
