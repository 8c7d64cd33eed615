#!/usr/bin/env bash
# pare slim on the python3 fixture (no cache: it unpacks, probes, closes the
# keep-set, builds and writes the layer) minus the probe's own run time,
# next to `umoci unpack` of the same image, alternating, in the same run;
# and pare's peak RSS. Targets: ratio <= 1.0, peak RSS <= 64 MB.
# Then what keep-list profiles cost, from the rootfs cache: a slim with no
# profile, with the default (base), and with python + tzdata (a glob walk
# and unit expansion), as ratios to the first. Last, what --verify's second
# run of the original (to tell noise) costs.
. "$(dirname "$0")/lib.sh"
rounds=${ROUNDS:-5}
cp -r "$fx/oci" "$work/py"
probe="python3 -c 'import json, csv, email.message, decimal; print(1)'"
: >"$work/slim"; : >"$work/umoci"; : >"$work/rss"
for i in $(seq "$rounds"); do
	rm -rf "$work/u"; sync
	s=$(date +%s%N)
	/usr/bin/time -f %M -o "$work/rss.one" "$top/pare" slim --no-cache -o "oci:$work/py:slim" \
		--report "$work/r.json" --exec "$probe" "oci:$work/py:latest" 2>/dev/null
	e=$(date +%s%N)
	probe_ms=$(jq '[.probes[].duration_ms] | add' "$work/r.json")
	echo $(((e - s) / 1000000 - probe_ms)) >>"$work/slim"
	cat "$work/rss.one" >>"$work/rss"
	s=$(date +%s%N); umoci unpack --image "$work/py:latest" "$work/u" >/dev/null 2>&1; e=$(date +%s%N)
	echo $(((e - s) / 1000000)) >>"$work/umoci"
done
p=$(median <"$work/slim") u=$(median <"$work/umoci") rss=$(sort -n "$work/rss" | tail -1)
echo "pare slim of the python3 fixture, median of $rounds rounds:"
echo "  pare slim minus its probe run: $p ms"
echo "  umoci unpack                 : $u ms"
awk -v p="$p" -v u="$u" 'BEGIN { printf "  ratio: %.2f (target <= 1.0)\n", p / u }'
echo "  peak RSS of pare slim: $((rss / 1024)) MB (target <= 64 MB)"

# Profiles: the same slim from the cache (unpacked once above), alternating.
export PARE_CACHE_DIR=$work/cache
variants=(none base python)
declare -A opts=([none]=--no-default-profiles [base]= [python]="--profile python --profile tzdata")
for v in "${variants[@]}"; do : >"$work/prof.$v"; done
for i in $(seq "$rounds"); do
	for v in "${variants[@]}"; do
		s=$(date +%s%N)
		# shellcheck disable=SC2086 # the options are words
		"$top/pare" slim ${opts[$v]} -o "oci:$work/py:$v" --report "$work/r.json" --exec "$probe" \
			"oci:$work/py:latest" 2>/dev/null
		e=$(date +%s%N)
		echo $(((e - s) / 1000000 - $(jq '[.probes[].duration_ms] | add' "$work/r.json"))) >>"$work/prof.$v"
	done
done
n=$(median <"$work/prof.none")
echo "keep-list profiles (pare slim from the cache, minus the probe; median of $rounds):"
for v in "${variants[@]}"; do
	m=$(median <"$work/prof.$v")
	awk -v v="$v" -v m="$m" -v n="$n" -v o="${opts[$v]:-(default)}" \
		'BEGIN { printf "  %-7s %-34s %5d ms  %.2fx\n", v, o, m, m / n }'
done

# --verify: what the second run of the original (to tell noise) costs, as
# a ratio to a slim with --verify as a whole, both from the cache.
: >"$work/verify.total"; : >"$work/verify.noise"
for i in $(seq "$rounds"); do
	s=$(date +%s%N)
	"$top/pare" slim --verify -o "oci:$work/py:v" --report "$work/r.json" --exec "$probe" "oci:$work/py:latest" 2>/dev/null
	e=$(date +%s%N)
	echo $(((e - s) / 1000000)) >>"$work/verify.total"
	jq .verify_noise_check_ms "$work/r.json" >>"$work/verify.noise"
done
t=$(median <"$work/verify.total") nz=$(median <"$work/verify.noise")
echo "--verify (median of $rounds): $t ms in all, of which the original's second run $nz ms"
awk -v t="$t" -v n="$nz" 'BEGIN { printf "  the noise check: %.2f of a verified slim (%.2fx the slim without it)\n", n / t, t / (t - n) }'
