#!/usr/bin/env bash
# Unpack speed: `pare unpack` vs `umoci unpack` of the python3 fixture, in
# the same run, alternating, several rounds (this machine is shared and
# noisy: read the ratio, not the absolute numbers).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-5}
fx=$("$top/tests/fixtures/build.sh" python)
work=$(mktemp -d /var/tmp/pare-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$work/pare" ; : >"$work/umoci"
for i in $(seq "$rounds"); do
	rm -rf "$work/p" "$work/u"; sync
	ms "$top/pare" unpack "oci:$fx/oci" "$work/p" >>"$work/pare"
	ms umoci unpack --image "$fx/oci:latest" "$work/u" >>"$work/umoci"
done
p=$(median <"$work/pare") u=$(median <"$work/umoci")
echo "python3 fixture ($(du -sh "$fx/oci" | cut -f1) OCI gzip), median of $rounds rounds:"
echo "  pare unpack : $p ms"
echo "  umoci unpack: $u ms"
awk -v p="$p" -v u="$u" 'BEGIN { printf "  ratio pare/umoci: %.2f\n", p / u }'
