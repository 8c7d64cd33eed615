#!/usr/bin/env bash
# Tracing overhead, as ratios to an untraced `pare run` measured in the same
# run (this machine is shared and noisy: read the ratios, not the times).
#   (a) python3 importing a dozen stdlib modules, 5 times in one sandbox
#   (b) python3 -m compileall -f of the stdlib
# Variants: pare run (baseline), pare probe --tracer auto|ptrace|fanotify,
# and strace -f --seccomp-bpf -e trace=%file around the same pare run; and
# untraced and auto again with --security-opt seccomp=unconfined: what
# Docker's seccomp policy (on by default) costs.
. "$(dirname "$0")/lib.sh"
runs=${RUNS:-7}
export PARE_CACHE_DIR=$work/cache
img=oci:$fx/oci
P=$top/pare
PY='import json, os, re, csv, email, http.client, argparse, decimal, fractions, datetime, subprocess, logging'
declare -A workload=(
	[a]="--entrypoint sh $img -c 'for i in 1 2 3 4 5; do python3 -c \"$PY\"; done'"
	[b]="--entrypoint python3 $img -m compileall -q -f /usr/lib/python3.11"
)
"$P" run --entrypoint true "$img" # unpack into the cache once
for w in a b; do
	args=${workload[$w]}
	hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$work/$w.json" \
		-n untraced "$P run $args" \
		-n "untr,unconf" "$P run --security-opt seccomp=unconfined $args" \
		-n auto "$P probe --tracer auto -o $work/t.json $args" \
		-n "auto,unconf" "$P probe --tracer auto --security-opt seccomp=unconfined -o $work/t.json $args" \
		-n ptrace "$P probe --tracer ptrace -o $work/t.json $args" \
		-n fanotify "$P probe --tracer fanotify -o $work/t.json $args" \
		-n strace "strace -f -qq --seccomp-bpf -e trace=%file -o /dev/null $P run $args" \
		>"$work/$w.log" 2>&1 || { cat "$work/$w.log"; exit 1; }
	echo "($w) $( [ $w = a ] && echo 'python3 importing a dozen stdlib modules, x5' || echo 'python3 -m compileall -f, the stdlib')" \
		"- median of $runs runs, ratio to untraced:"
	jq -r '(.results[] | select(.command == "untraced") | .median) as $base |
		.results[] | "  \(.command | . + "            " | .[0:12]) \(.median * 1000 | floor) ms  \(.median / $base * 100 | floor / 100)x"' "$work/$w.json"
	jq -r '(.results | map({(.command): .median}) | add) as $m |
		"  the seccomp policy: untraced \($m.untraced / $m["untr,unconf"] * 1000 | floor / 1000)x, traced (auto) \($m.auto / $m["auto,unconf"] * 1000 | floor / 1000)x of the same run unconfined"' "$work/$w.json"
done

# (c) what one ptrace stop costs, and what limits it: a static helper doing
# N stat() calls, untraced vs traced, and traced with pare (tracer and
# program) confined to one CPU, which removes the cross-CPU wakeups.
make -s -C "$top" build/tests/golden >/dev/null
"$top/tests/golden/mkimage.sh" "$work/golden" "$top/build/tests/golden"
g=oci:$work/golden/oci n=20000
hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$work/c.json" \
	-n untraced "$P run $g stat-loop $n" \
	-n auto "$P probe -o $work/t.json $g stat-loop $n" \
	-n "auto, 1 cpu" "taskset -c 0 $P probe -o $work/t.json $g stat-loop $n" >"$work/c.log" 2>&1 || { cat "$work/c.log"; exit 1; }
echo "(c) cost of one ptrace stop ($n stat calls, median of $runs runs):"
jq -r --argjson n $n '(.results[] | select(.command == "untraced") | .median) as $base |
	.results[] | select(.command != "untraced" and .command != "untraced, unconfined") | "  \(.command | . + "            " | .[0:12]) \((.median - $base) / $n * 1e6 | floor) us per stop"' "$work/c.json"
# (d) what the seccomp policy costs: per call (the slope over N stat calls)
# and per run (compiling and installing it), untraced, against unconfined.
m=200000
hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$work/d.json" \
	-n "policy 0" "$P run $g stat-loop 0" -n "policy N" "$P run $g stat-loop $m" \
	-n "unconf 0" "$P run --security-opt seccomp=unconfined $g stat-loop 0" \
	-n "unconf N" "$P run --security-opt seccomp=unconfined $g stat-loop $m" >"$work/d.log" 2>&1 || { cat "$work/d.log"; exit 1; }
jq -r --argjson m $m '(.results | map({(.command): .median}) | add) as $t |
	"(d) the seccomp policy, untraced (median of '"$runs"' runs): \(((($t["policy N"] - $t["policy 0"]) - ($t["unconf N"] - $t["unconf 0"])) / $m * 1e9) | floor) ns per syscall, \((($t["policy 0"] - $t["unconf 0"]) * 1000 * 10 | floor) / 10) ms per run"' "$work/d.json"
"$P" probe --tracer auto -o "$work/t.json" --entrypoint python3 "$img" -c "$PY" >/dev/null 2>&1
echo "one python3 run of (a): $(jq .events.ptrace_stops "$work/t.json") ptrace stops, $(jq .events.fanotify "$work/t.json") fanotify events in auto mode"
