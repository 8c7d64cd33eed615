#!/usr/bin/env bash
# Unpack speed: `pare unpack` vs `umoci unpack` of the python3 fixture, in
# the same run, alternating, several rounds (this machine is shared and
# noisy: read the ratio, not the absolute numbers).
. "$(dirname "$0")/lib.sh"
rounds=${ROUNDS:-5}
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
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
