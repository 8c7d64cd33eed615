# Shared by the benchmarks (sourced): strict mode, the repository top, the
# python3 fixture in $fx, a scratch directory in $work removed at exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fx=$("$top/tests/fixtures/build.sh" python)
work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/pare-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# interleaved OUT.json -n NAME CMD [-n NAME CMD]...: time each CMD ${runs:-7}
# times, one run of every command per round, each round starting one
# command further on, so that the machine's drifting speed (it is shared)
# hits every command alike; hyperfine runs one command's runs back to
# back instead. Writes hyperfine's JSON shape (results[].command, .median
# in seconds) to OUT.json. A failing command fails it.
interleaved() {
	local out=$1 names=() cmds=() r i k n t0 t1
	shift
	while [ $# -gt 0 ]; do names+=("$2") cmds+=("$3") && shift 3; done
	n=${#cmds[@]}
	local -a times=()
	for ((i = 0; i < n; i++)); do # warm-up, and the check that it works
		bash -c "${cmds[$i]}" >/dev/null 2>&1 || { echo "failed: ${cmds[$i]}"; return 1; }
	done
	for ((r = 0; r < ${runs:-7}; r++)); do
		for ((k = 0; k < n; k++)); do
			i=$(((r + k) % n))
			t0=$(date +%s%N)
			bash -c "${cmds[$i]}" >/dev/null 2>&1 || { echo "failed: ${cmds[$i]}"; return 1; }
			t1=$(date +%s%N)
			times[i]+="$(((t1 - t0) / 1000)) "
		done
	done
	for ((i = 0; i < n; i++)); do
		jq -n --arg c "${names[$i]}" --argjson us "$(tr ' ' '\n' <<<"${times[$i]}" | grep . | median)" \
			'{command: $c, median: ($us / 1e6)}'
	done | jq -s '{results: .}' >"$out"
}
