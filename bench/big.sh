#!/usr/bin/env bash
# Big images: the "big" fixture (gcc, g++, a JDK, scipy and pandas from
# Debian: 1.3 GB of files in one gzip layer; cached by recipe hash, built
# the first time, which takes minutes and ~1.7 GB of disk). In the same
# run, round by round: `umoci unpack`, `pare unpack`, a cold `pare slim`
# (--no-cache: unpack, probe, closure, write) and a warm one (the same
# `pare slim --verify` run again: its trees and layer in the cache), with
# pare's peak RSS. Targets: cold slim <= 0.6x
# umoci unpack, warm <= 0.25x cold, peak RSS <= 64 MB, one layer digest
# for -j 1 and the default, cold and warm.
# Then the curve: a cold slim of each fixture from 2 MB to 1.3 GB (time,
# RSS against image size). ROUNDS (default 3), CURVE=0 to skip it.
. "$(dirname "$0")/lib.sh"
rounds=${ROUNDS:-3}
big=$("$top/tests/fixtures/build.sh" big)
export PARE_CACHE_DIR=$work/cache
export TMPDIR=$work # --no-cache unpacks there, and sandboxes keep their upper layers there
probe="python3 -c 'import scipy.linalg, pandas; print(1)'"
# ms OUT CMD...: the wall time of CMD in ms appended to OUT, its peak RSS (kB) to
# OUT.rss (for a slim, the probed program's counts too: the report has pare's own)
ms() {
	local out=$1 s e
	shift
	s=$(date +%s%N)
	/usr/bin/time -f %M -o "$out.one" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
	e=$(date +%s%N)
	echo $(((e - s) / 1000000)) >>"$out"
	cat "$out.one" >>"$out.rss"
}
layer() { jq -r '.after.layer' "$1"; }
for v in umoci unpack cold warm; do : >"$work/$v"; : >"$work/$v.rss"; : >"$work/$v.own"; done
for i in $(seq "$rounds"); do
	rm -rf "$work/u" "$work/p" "$work/out" "$work/cache"; sync
	ms "$work/umoci" umoci unpack --image "$big/oci:latest" "$work/u"
	rm -rf "$work/u"; sync
	ms "$work/unpack" "$top/pare" unpack "oci:$big/oci" "$work/p"
	rm -rf "$work/p"; sync
	ms "$work/cold" "$top/pare" slim --no-cache -o "oci:$work/out:cold" --report "$work/cold.json" \
		--exec "$probe" "oci:$big/oci:latest"
	jq .peak_rss_kb "$work/cold.json" >>"$work/cold.own"
	# warm: the same command run before, outside the timing (it filled the cache)
	"$top/pare" slim --verify -o "oci:$work/out:warm" --exec "$probe" "oci:$big/oci:latest" >/dev/null 2>&1
	ms "$work/warm" "$top/pare" slim --verify -o "oci:$work/out:warm" --report "$work/warm.json" \
		--exec "$probe" "oci:$big/oci:latest"
	jq .peak_rss_kb "$work/warm.json" >>"$work/warm.own"
done
"$top/pare" slim -j 1 -o "oci:$work/out:j1" --report "$work/j1.json" --exec "$probe" "oci:$big/oci:latest" >/dev/null 2>&1
u=$(median <"$work/umoci") p=$(median <"$work/unpack") c=$(median <"$work/cold") w=$(median <"$work/warm")
rss() { sort -n "$work/$1" | tail -1 | awk '{ printf "%d MB", $1 / 1024 }'; }
echo "the big fixture ($(du -sh "$big/oci" | cut -f1) OCI gzip, $(jq '.before.bytes / 1e6 | floor' "$work/cold.json") MB of files, $(jq .before.entries "$work/cold.json") entries), median of $rounds rounds:"
awk -v u="$u" -v p="$p" -v c="$c" -v w="$w" 'BEGIN {
	printf "  umoci unpack       %6d ms\n", u
	printf "  pare unpack        %6d ms  %.2fx umoci\n", p, p / u
	printf "  pare slim, cold    %6d ms  %.2fx umoci (target <= 0.6)\n", c, c / u
	printf "  pare slim, warm    %6d ms  %.2fx cold (target <= 0.25; with --verify)\n", w, w / c }'
echo "  peak RSS: pare unpack $(rss unpack.rss), pare in a cold slim $(rss cold.own), in a warm one $(rss warm.own) (target <= 64 MB); umoci $(rss umoci.rss); the probed python3 $(rss cold.rss)"
timings() { jq -r '.timings_ms | to_entries | map("\(.key) \(.value)") | join(", ")' "$1"; }
echo "  where a slim's time goes (ms, last round): cold: $(timings "$work/cold.json"); warm: $(timings "$work/warm.json")"
echo "  slim layer: $(jq '.after.compressed / 1e6 | floor' "$work/cold.json") MB gzip; digests: cold $(layer "$work/cold.json" | cut -c8-19), warm $(layer "$work/warm.json" | cut -c8-19), -j 1 $(layer "$work/j1.json" | cut -c8-19)"
[ "$(layer "$work/cold.json")" = "$(layer "$work/warm.json")" ] && [ "$(layer "$work/cold.json")" = "$(layer "$work/j1.json")" ] ||
	{ echo "  DIGESTS DIFFER"; exit 1; }
[ "${CURVE:-1}" = 0 ] && exit 0

# The curve: a cold slim of every size of image (the probes are short),
# against its size; pare's own RSS, from the report.
declare -A cmd=([busybox]="ls /" [python]="python3 -c 'import json; print(1)'" [runtimes]="git --version"
	[java]="java -cp /app App" [big]="$probe")
echo "cold pare slim against image size (median of $rounds):"
printf "  %-9s %9s %9s %9s %12s\n" fixture gzip files "slim ms" "pare RSS MB"
for n in busybox python runtimes java big; do
	d=$("$top/tests/fixtures/build.sh" "$n")
	: >"$work/c.$n"; : >"$work/c.$n.rss"; : >"$work/c.$n.own"
	for i in $(seq "$rounds"); do
		rm -rf "$work/out"
		ms "$work/c.$n" "$top/pare" slim --no-cache -o "oci:$work/out:s" --report "$work/c.json" --exec "${cmd[$n]}" "oci:$d/oci:latest"
		jq .peak_rss_kb "$work/c.json" >>"$work/c.$n.own"
	done
	printf "  %-9s %6s MB %6s MB %9d %12d\n" "$n" "$(du -sm "$d/oci" | cut -f1)" "$(jq '.before.bytes / 1e6 | floor' "$work/c.json")" \
		"$(median <"$work/c.$n")" "$(($(sort -n "$work/c.$n.own" | tail -1) / 1024))"
done
