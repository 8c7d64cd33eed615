#!/usr/bin/env bash
# Tracing overhead, as ratios to an untraced `pare run` measured in the same
# run (this machine is shared and noisy: read the ratios, not the times).
#   (a) python3 importing a dozen stdlib modules, 5 times in one sandbox
#   (b) python3 -m compileall -f of the stdlib
# Every variant runs interleaved with the others (lib.sh). Variants: pare run (baseline), pare probe --tracer
# auto|ebpf|notify|ptrace|fanotify|both, rootless (uid 65534: notification
# alone, against a rootless untraced run), and strace -f --seccomp-bpf -e
# trace=%file around the same pare run; and untraced and auto again with
# --security-opt seccomp=unconfined: what Docker's seccomp policy (on by
# default) costs. (c) is the cost of one event, (e) --syscalls, (g) a
# probe's fixed cost.
. "$(dirname "$0")/lib.sh"
runs=${RUNS:-7}
export PARE_CACHE_DIR=$work/cache
img=oci:$fx/oci
P=$top/pare
PY='import json, os, re, csv, email, http.client, argparse, decimal, fractions, datetime, subprocess, logging'
declare -A workload=(
	[a]="--entrypoint sh IMG -c 'for i in 1 2 3 4 5; do python3 -c \"$PY\"; done'"
	[b]="--entrypoint python3 IMG -m compileall -q -f /usr/lib/python3.11"
)
"$P" run --entrypoint true "$img" # unpack into the cache once
# Rootless: the same image, readable by nobody, with its own cache.
rl=$work/rootless
mkdir -p "$rl" && cp -r "$fx/oci" "$rl/oci" && chown -R 65534:65534 "$rl" && chmod 755 "$work"
nobody="setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=$rl PARE_CACHE_DIR=$rl/cache"
rimg=oci:$rl/oci
(cd "$rl" && $nobody "$P" run --entrypoint true "$rimg") 2>/dev/null
for w in a b; do
	args=${workload[$w]//IMG/$img} rargs=${workload[$w]//IMG/$rimg}
	interleaved "$work/$w.json" \
		-n untraced "$P run $args" \
		-n "untr,unconf" "$P run --security-opt seccomp=unconfined $args" \
		-n auto "$P probe --tracer auto -o $work/t.json $args" \
		-n "auto,unconf" "$P probe --tracer auto --security-opt seccomp=unconfined -o $work/t.json $args" \
		-n ebpf "$P probe --tracer ebpf -o $work/t.json $args" \
		-n notify "$P probe --tracer notify -o $work/t.json $args" \
		-n ptrace "$P probe --tracer ptrace -o $work/t.json $args" \
		-n fanotify "$P probe --tracer fanotify -o $work/t.json $args" \
		-n both "$P probe --tracer both -o $work/t.json $args" \
		-n "rl untraced" "cd $rl && $nobody $P run $rargs 2>/dev/null" \
		-n "rl auto" "cd $rl && $nobody $P probe -o $rl/t.json $rargs 2>/dev/null" \
		-n "rl ptrace" "cd $rl && $nobody $P probe --tracer ptrace -o $rl/t.json $rargs 2>/dev/null" \
		-n strace "strace -f -qq --seccomp-bpf -e trace=%file -o /dev/null $P run $args" \
		>"$work/$w.log" 2>&1 || { cat "$work/$w.log"; exit 1; }
	echo "($w) $( [ $w = a ] && echo 'python3 importing a dozen stdlib modules, x5' || echo 'python3 -m compileall -f, the stdlib')" \
		"- median of $runs runs, ratio to untraced:"
	jq -r '(.results[] | select(.command == "untraced") | .median) as $base |
		.results[] | "  \(.command | . + "            " | .[0:12]) \(.median * 1000 | floor) ms  \(.median / $base * 100 | floor / 100)x"' "$work/$w.json"
	jq -r '(.results | map({(.command): .median}) | add) as $m |
		"  rootless, against rootless untraced: auto (notify) \($m["rl auto"] / $m["rl untraced"] * 100 | floor / 100)x, ptrace \($m["rl ptrace"] / $m["rl untraced"] * 100 | floor / 100)x",
		"  the seccomp policy: untraced \($m.untraced / $m["untr,unconf"] * 1000 | floor / 1000)x, traced (auto) \($m.auto / $m["auto,unconf"] * 1000 | floor / 1000)x of the same run unconfined"' "$work/$w.json"
done

# (c) what one event costs, a seccomp notification against a ptrace stop: a
# static helper doing N stat() calls, untraced vs traced, and traced with
# pare (tracer and program) confined to one CPU, which removes the
# cross-CPU wakeups (notification asks the kernel for same-CPU wake-ups).
make -s -C "$top" build/tests/golden >/dev/null
"$top/tests/golden/mkimage.sh" "$work/golden" "$top/build/tests/golden"
g=oci:$work/golden/oci n=20000
interleaved "$work/c.json" \
	-n untraced "$P run $g stat-loop $n" \
	-n ebpf "$P probe --tracer ebpf -o $work/t.json $g stat-loop $n" \
	-n notify "$P probe --tracer notify -o $work/t.json $g stat-loop $n" \
	-n "notify, 1 cpu" "taskset -c 0 $P probe --tracer notify -o $work/t.json $g stat-loop $n" \
	-n ptrace "$P probe --tracer ptrace -o $work/t.json $g stat-loop $n" \
	-n "ptrace, 1 cpu" "taskset -c 0 $P probe --tracer ptrace -o $work/t.json $g stat-loop $n" \
	-n strace "strace -f -qq --seccomp-bpf -e trace=%file -o /dev/null $P run $g stat-loop $n" \
	>"$work/c.log" 2>&1 || { cat "$work/c.log"; exit 1; }
echo "(c) cost of one event ($n stat calls, median of $runs runs):"
jq -r --argjson n $n '(.results[] | select(.command == "untraced") | .median) as $base |
	.results[] | select(.command != "untraced") | "  \(.command | . + "              " | .[0:14]) \((.median - $base) / $n * 1e6 * 10 | floor / 10) us per event"' "$work/c.json"
# (d) what the seccomp policy costs: per call (the slope over N stat calls)
# and per run (compiling and installing it), untraced, against unconfined.
m=200000
interleaved "$work/d.json" \
	-n "policy 0" "$P run $g stat-loop 0" -n "policy N" "$P run $g stat-loop $m" \
	-n "unconf 0" "$P run --security-opt seccomp=unconfined $g stat-loop 0" \
	-n "unconf N" "$P run --security-opt seccomp=unconfined $g stat-loop $m" >"$work/d.log" 2>&1 || { cat "$work/d.log"; exit 1; }
jq -r --argjson m $m '(.results | map({(.command): .median}) | add) as $t |
	"(d) the seccomp policy, untraced (median of '"$runs"' runs): \(((($t["policy N"] - $t["policy 0"]) - ($t["unconf N"] - $t["unconf 0"])) / $m * 1e9) | floor) ns per syscall, \((($t["policy 0"] - $t["unconf 0"]) * 1000 * 10 | floor) / 10) ms per run"' "$work/d.json"
# (f) what the eBPF recorder costs everyone else: its program runs at every
# syscall exit on the machine while a probe is on. The slope over N stat
# calls of an untraced run in another sandbox, with an eBPF probe idling
# beside it, against the same without (rounds alternate the two).
beside="$P probe --tracer ebpf -o $work/bg.json --entrypoint python3 $img -c 'import time; time.sleep(3600)' >/dev/null 2>&1 & bg=\$!; sleep 1"
after='s=$?; kill $bg; wait $bg; exit $s'
interleaved "$work/f.json" \
	-n "alone 0" "$P run $g stat-loop 0" -n "alone N" "$P run $g stat-loop $m" \
	-n "beside 0" "$beside; $P run $g stat-loop 0; $after" \
	-n "beside N" "$beside; $P run $g stat-loop $m; $after" \
	>"$work/f.log" 2>&1 || { cat "$work/f.log"; exit 1; }
jq -r --argjson m $m '(.results | map({(.command): .median}) | add) as $t |
	"(f) an untraced program beside an eBPF probe (median of '"$runs"' runs): \(((($t["beside N"] - $t["beside 0"]) - ($t["alone N"] - $t["alone 0"])) / $m * 1e9) | floor) ns more per path syscall"' "$work/f.json"
# (g) what a probe costs before its program runs: a probe of `true`, by
# mode, against an untraced run; "auto, 1st" removes the kernel's BTF
# projection first (/run/pare/btf, tracer/ebpf_btf.c), so its load reads
# the whole vmlinux BTF and makes the projection, as the first probe of a
# boot does.
interleaved "$work/g.json" \
	-n untraced "$P run --entrypoint true $img" \
	-n notify "$P probe --tracer notify -o $work/t.json --entrypoint true $img" \
	-n auto "$P probe --tracer auto -o $work/t.json --entrypoint true $img" \
	-n "auto, 1st" "rm -rf /run/pare/btf; $P probe --tracer auto -o $work/t.json --entrypoint true $img" \
	>"$work/g.log" 2>&1 || { cat "$work/g.log"; exit 1; }
echo "(g) a probe of true (median of $runs runs), more than an untraced run:"
jq -r '(.results[] | select(.command == "untraced") | .median) as $base |
	.results[] | select(.command != "untraced") | "  \(.command | . + "            " | .[0:12]) \((.median - $base) * 1000 * 10 | floor / 10) ms"' "$work/g.json"
# (e) --syscalls: every syscall waits for pare, by notification or by a
# ptrace stop (auto uses the faster, notification).
a=${workload[a]//IMG/$img}
interleaved "$work/e.json" \
	-n untraced "$P run $a" -n notify "$P probe --syscalls -o $work/t.json $a" \
	-n ptrace "$P probe --tracer ptrace --syscalls -o $work/t.json $a" >"$work/e.log" 2>&1 || { cat "$work/e.log"; exit 1; }
echo "(e) --syscalls on (a), median of $runs runs, ratio to untraced:"
jq -r '(.results[] | select(.command == "untraced") | .median) as $base |
	.results[] | select(.command != "untraced") | "  \(.command | . + "            " | .[0:12]) \(.median / $base * 100 | floor / 100)x"' "$work/e.json"
"$P" probe --tracer auto -o "$work/t.json" --entrypoint python3 "$img" -c "$PY" >/dev/null 2>&1
echo "one python3 run of (a) in auto mode: $(jq .events.ebpf "$work/t.json") eBPF events, $(jq .events.notifications "$work/t.json") notifications, $(jq .events.fanotify "$work/t.json") fanotify events (execs)"
