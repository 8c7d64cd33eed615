#!/usr/bin/env bash
# Tracer tests: golden traces of a static helper (strace-style), completeness
# against a full `strace -f` on real images, the sandbox's docker-run
# behaviour, rootless runs, interactive sessions, and no leaks after 100
# runs, killed and timed-out ones included.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
TOOLS=$top/build/tests
suite=tracer
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache

build_fixtures
fx() { local f; for f in "${fixtures[@]}"; do case "$(basename "$f")" in "$1"-*) echo "oci:$f/oci" ;; esac; done; }
"$top/tests/golden/mkimage.sh" "$work/golden" "$TOOLS/golden" || exit 1
G=oci:$work/golden/oci

# ---- golden traces: exactly the expected paths and ops ----
paths_of() { jq -r '.paths[] | "\(.path) \(.ops|join(",")) \(if .exists then "exists" else "missing" end)"' "$1"; }
# What each mode must see: fanotify's opens where it watches them, else
# exactly what the syscalls show (auto marks only execs with fanotify; the
# eBPF recorder reads the one-path calls at exit, as a notification would
# at entry).
golden_expected() { case $1 in both | fanotify) echo "$1" ;; *) echo ptrace ;; esac; }
for mode in auto ebpf notify both ptrace fanotify; do
	t=$work/golden-$mode.json
	check "golden ($mode): probe succeeds" "$PARE" probe --tracer "$mode" -o "$t" "$G"
	check "golden ($mode): exactly the expected paths and ops" \
		diff -u "$top/tests/golden/expected.$(golden_expected "$mode")" <(paths_of "$t")
done
check "golden (auto, root): the eBPF recorder for one-path calls, seccomp notification for execs, fanotify for exec opens; no ptrace stop; each path says which saw it" \
	jq -e '.tracers == ["ebpf", "fanotify", "notify"] and .events.ptrace_stops == 0 and .events.ebpf > 0 and
		.events.notifications > 0 and .events.notifications < .events.ebpf and
		(.paths[] | select(.path == "/golden") | .seen_by) == ["fanotify", "notify"] and
		(.paths[] | select(.path == "/data/a.txt") | .seen_by) == ["ebpf"] and
		(.paths[] | select(.path == "/data/dirfd.txt") | .seen_by) == ["ebpf"]' "$work/golden-auto.json"
# The kernel's BTF cut to what the eBPF program reads (tracer/ebpf_btf.c),
# kept in /run for the boot: made by the first load, not trusted when it
# is damaged or others could have written it.
btfdir=/run/pare/btf
rm -rf "$btfdir"
check "eBPF: the first load makes this kernel's BTF projection, one small file of ours alone; the same golden trace" \
	bash -c "$(declare -f paths_of); '$PARE' probe --tracer ebpf -o '$work/btf1.json' '$G' && f=\$(ls $btfdir/*.btf) &&
		[ \$(stat -c %a \"\$f\") = 600 ] && [ \$(stat -c %s \"\$f\") -lt 8192 ] &&
		diff -u '$top/tests/golden/expected.ptrace' <(paths_of '$work/btf1.json')"
check "eBPF: a damaged projection is dropped (the whole BTF read instead, the same trace) and made again by the next load" \
	bash -c "$(declare -f paths_of); f=\$(ls $btfdir/*.btf) && printf junk >\"\$f\" &&
		'$PARE' probe --tracer ebpf -o '$work/btf2.json' '$G' && [ ! -e \"\$f\" ] &&
		diff -u '$top/tests/golden/expected.ptrace' <(paths_of '$work/btf2.json') &&
		'$PARE' probe --tracer ebpf -o '$work/btf3.json' '$G' && [ \$(stat -c %s \"\$f\") -gt 100 ]"
check "eBPF: a projection others could have written is not read but made anew" \
	bash -c "f=\$(ls $btfdir/*.btf) && printf junk >\"\$f\" && chmod 666 \"\$f\" &&
		'$PARE' probe --tracer ebpf -o '$work/btf4.json' '$G' && [ \$(stat -c %a \"\$f\") = 600 ] && [ \$(stat -c %s \"\$f\") -gt 100 ]"
# Where the eBPF recorder cannot load (here: pare in a pid namespace of its
# own, as in a container), auto goes on with fanotify + notification.
check "golden (auto, eBPF unavailable: a pid namespace of its own): fanotify + notify, the same trace" \
	bash -c "$(declare -f paths_of); unshare -p -f --mount-proc '$PARE' probe -o '$work/golden-nobpf.json' '$G' 2>'$work/golden-nobpf.err' &&
		grep -q 'fanotify+notify,' '$work/golden-nobpf.err' && jq -e '.tracers == [\"fanotify\", \"notify\"] and .events.ebpf == 0' '$work/golden-nobpf.json' &&
		diff -u '$top/tests/golden/expected.ptrace' <(paths_of '$work/golden-nobpf.json')"
check "--tracer ebpf where it cannot load: one line that says why and what to use, exit 1" \
	bash -c "unshare -p -f --mount-proc '$PARE' probe --tracer ebpf -o '$work/x.json' '$G' 2>'$work/ebpf-no.err'; [ \$? -eq 1 ] &&
		grep -q 'initial pid namespace (Hint: --tracer notify)' '$work/ebpf-no.err' && [ \$(wc -l <'$work/ebpf-no.err') -eq 1 ] && [ ! -e '$work/x.json' ]"
# A path the kernel faults in itself: in a file mapping nothing has read.
for mode in auto ebpf notify; do
	check "golden ($mode): a stat whose path is in a page not yet faulted in is recorded, nothing lost" \
		bash -c "'$PARE' probe --tracer $mode -o '$work/fresh-$mode.json' '$G' fresh-page-stat && jq -e '(.paths[] | select(.path == \"/data/fresh.txt\") | .exists) and (.lost | not) and .exit.code == 0' '$work/fresh-$mode.json'"
done
# A pid namespace nested in the sandbox's (unshare -p, as a container in
# the probed program would make): its calls are still the program's.
check "probe (auto): a process in a pid namespace nested in the sandbox's is recorded by the eBPF recorder" \
	bash -c "'$PARE' probe --cap-add SYS_ADMIN -o '$work/nested.json' --entrypoint unshare '$(fx python)' -p -f --mount-proc python3 -c 'import os; os.stat(\"/usr/share/doc\"); print(os.getpid())' >'$work/nested.out' && grep -qx 1 '$work/nested.out' &&
		jq -e '(.tracers[0] == \"ebpf\") and ((.paths[] | select(.path == \"/usr/share/doc\") | .seen_by) == [\"ebpf\"])' '$work/nested.json'"
# A 32-bit call (int 0x80) from the 64-bit helper: the eBPF recorder reads
# x86_64 calls only, so seccomp notification must have every i386 row.
if "$TOOLS/golden" i386-stat; [ $? -ne 3 ]; then
	for mode in auto ebpf notify ptrace; do
		check "golden ($mode): an i386 stat (int 0x80) from a 64-bit process is recorded" \
			bash -c "'$PARE' probe --tracer $mode -o '$work/i386-$mode.json' '$G' i386-stat && jq -e '.paths | map(.path) | index(\"/data/i386.txt\")' '$work/i386-$mode.json'"
	done
	check "golden (ebpf): ... by seccomp notification, not the eBPF recorder" \
		jq -e '(.paths[] | select(.path == "/data/i386.txt") | .seen_by) == ["notify"]' "$work/i386-ebpf.json"
else
	skip "golden: an i386 stat (int 0x80) from a 64-bit process is recorded" "this kernel runs no 32-bit calls"
fi
execs_expected='/golden /golden
/golden /golden leaf-exec
/golden /golden leaf-nonleader
/golden /golden leaf-script /data/script.sh
/golden /golden leaf-spawn'
for mode in auto ebpf notify both ptrace; do
	check "golden ($mode): the five execs with argv (plain, #!, vfork, non-leader thread)" \
		diff <(echo "$execs_expected") <(jq -r '.execs[] | "\(.exe) \(.argv|join(" "))"' "$work/golden-$mode.json" | sort)
	check "golden ($mode): every path attributed to /golden, none lost" \
		jq -e '(.paths | all(.by == ["/golden"])) and (.lost == false) and (.exit.code == 0)' "$work/golden-$mode.json"
done
# Docker's seccomp policy answers clone3 with ENOSYS: glibc falls back to
# clone, and a denied call never reaches the tracer.
for mode in auto ptrace; do
	check "golden --syscalls ($mode): syscall names, sorted, first executable; clone, not clone3 (the policy)" \
		bash -c "'$PARE' probe --tracer $mode --syscalls -o '$work/sys-$mode.json' '$G' && jq -e '[.syscalls[].name] as \$n | (\$n == (\$n|sort)) and (\$n|index(\"execve\")) and (\$n|index(\"clone\")) and (\$n|index(\"clone3\") == null) and (.syscalls|all(.first_by == \"/golden\" or (.name == \"execve\" and .first_by == null)))' '$work/sys-$mode.json'"
done
# But pause: the non-leader-thread exec kills its thread group, which may
# or may not have reached pause() by then, in either mode.
check "golden --syscalls: notification and ptrace see the same syscalls" \
	diff <(jq -r '.syscalls[].name | select(. != "pause")' "$work/sys-auto.json") <(jq -r '.syscalls[].name | select(. != "pause")' "$work/sys-ptrace.json")
check "golden --syscalls --security-opt seccomp=unconfined: clone3 is made and seen" \
	bash -c "'$PARE' probe --syscalls --security-opt seccomp=unconfined -o '$work/sys-u.json' '$G' && jq -e '[.syscalls[].name] | index(\"clone3\")' '$work/sys-u.json'"

# Rootless: an unprivileged user gets a user namespace and seccomp
# notification alone (it needs no privilege), and the same trace as
# --tracer ptrace; ptrace still works there by name.
rl=$work/rootless; mkdir -p "$rl" && cp -r "$work/golden/oci" "$rl/oci" && chown -R 65534:65534 "$rl" && chmod 755 "$work"
as_nobody() { (cd "$rl" && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$rl" PARE_CACHE_DIR="$rl/cache" "$@"); }
check "rootless: probe as uid 65534 uses seccomp notification alone and says so" \
	bash -c "$(declare -f as_nobody); rl='$rl'; as_nobody '$PARE' probe -o '$rl/t.json' oci:'$rl/oci' 2>'$rl/err' && grep -q 'notify (rootless)' '$rl/err' && jq -e '.rootless and .tracers == [\"notify\"]' '$rl/t.json'"
check "rootless: same paths and ops as --tracer ptrace" \
	diff -u "$top/tests/golden/expected.ptrace" <(paths_of "$rl/t.json")
check "rootless --tracer ptrace: the same trace" \
	bash -c "$(declare -f as_nobody paths_of); rl='$rl'; as_nobody '$PARE' probe --tracer ptrace -o '$rl/p.json' oci:'$rl/oci' 2>/dev/null && diff -u '$top/tests/golden/expected.ptrace' <(paths_of '$rl/p.json')"

# ---- completeness on real images against `strace -f` (full, no filter) ----
PY='import json, os, re, csv, email, http.client, argparse, decimal, fractions, datetime, subprocess, logging'
NGINX='nginx -g "daemon off;" & sleep 0.3; until curl -sf http://127.0.0.1/; do sleep 0.1; done; curl -sf http://127.0.0.1/second.txt; kill -QUIT $!; wait'
REDIS='redis-server --save "" --protected-mode no & sleep 0.3; until redis-cli ping; do sleep 0.1; done; redis-cli set k v; redis-cli get k; redis-cli shutdown nosave; wait'
NODE='node /app/server.js & sleep 0.3; node -e "const h=require(\"http\");(function g(n){h.get(\"http://127.0.0.1:3000/x\",r=>{r.pipe(process.stdout);r.on(\"end\",()=>process.exit(0))}).on(\"error\",()=>n&&setTimeout(()=>g(n-1),100))})(100)"; kill $!; wait'
completeness() { # NAME WORKDIR EXPECT CMD...
	local name=$1 wd=$2 expect=$3; shift 3
	local img; img=$(fx "$name")
	local cfg; cfg=$("$PARE" inspect --json "$img" | jq -r .config_digest | cut -d: -f2)
	local d=$work/c-$name; mkdir -p "$d"
	for mode in auto notify ptrace; do
		check "$name ($mode): probe runs the workload" \
			bash -c "'$PARE' probe -u 0 --timeout 60 --tracer $mode -o '$d/$mode.json' --entrypoint '$1' '$img' \"\${@:2}\" | grep -q -- '$expect'" _ "$@"
	done
	check "$name (auto): as root, the eBPF recorder did the one-path calls" \
		jq -e '.tracers == ["ebpf", "fanotify", "notify"] and .events.ebpf > .events.notifications' "$d/auto.json"
	check "$name: reference run under strace -f" \
		bash -c "'$top/tests/e2e/strace-run.sh' '$PARE_CACHE_DIR/rootfs/$cfg' '$d/strace.log' '$wd' \"\$@\" | grep -q -- '$expect'" _ "$@"
	for mode in auto notify ptrace; do
		check "$name ($mode): every existing path strace saw is in the trace" \
			"$top/tests/e2e/completeness.py" "$PARE_CACHE_DIR/rootfs/$cfg" "$d/strace.log" "$d/$mode.json"
	done
}
completeness python / 'ok' python3 -c "$PY; print('ok')"
completeness nginx / 'hello from pare' sh -c "$NGINX"
completeness redis / 'PONG' sh -c "$REDIS"
completeness node /app 'node says hi /x' sh -c "$NODE"

# ---- seccomp notification: tracees killed while they wait; ptrace users ----
BB=$(fx busybox)
killed_in_notification() {
	# Four stat loops at a time, SIGKILLed ten times over: most of a loop's
	# time is spent waiting in a notification, so most die there. pare
	# must answer the rest, record them, and finish the run.
	"$PARE" probe --tracer notify --timeout 60 -o "$work/kill.json" --entrypoint sh "$BB" -c '
		for round in 1 2 3 4 5 6 7 8 9 10; do
			pids=
			for j in 1 2 3 4; do (while :; do stat /etc/passwd >/dev/null; done) & pids="$pids $!"; done
			sleep 0.1; kill -9 $pids; wait
		done; cat /www/index.html' >"$work/kill.out" 2>&1 || return 1
	grep -q 'busybox page' "$work/kill.out" &&
		jq -e '(.paths | map(.path) | (index("/etc/passwd") and index("/www/index.html"))) and .events.notifications > 100 and .exit.code == 0 and (.lost | not)' "$work/kill.json"
}
check "notify: tracees SIGKILLed while they wait in notifications; the run goes on and is recorded" killed_in_notification
ST=oci:$("$top/tests/fixtures/build.sh" strace | tail -1)/oci
check "a program that ptraces (strace -f) works under probe, and what its tracee opens is recorded" \
	bash -c "'$PARE' probe -o '$work/st.json' --entrypoint strace '$ST' -f -qq -e trace=openat cat /etc/debian_version >'$work/st.out' 2>&1 && grep -q '^12' '$work/st.out' && grep -q 'openat(.*\"/etc/debian_version\"' '$work/st.out' && jq -e '(.paths | map(.path) | index(\"/etc/debian_version\")) and .exit.code == 0' '$work/st.json'"
check "... which --tracer ptrace cannot give it: a process has one tracer" \
	bash -c "'$PARE' probe --tracer ptrace -o '$work/stp.json' --entrypoint strace '$ST' -f -qq cat /etc/debian_version >'$work/stp.out' 2>&1; grep -q 'PTRACE_TRACEME.*Operation not permitted' '$work/stp.out' && jq -e '.exit.code == 1' '$work/stp.json'"

# ---- the sandbox behaves like docker run ----
PYI=$(fx python) RD=$(fx redis)
check "run: exit status is the program's" bash -c "'$PARE' run '$PYI' -c 'raise SystemExit(7)'; [ \$? -eq 7 ]"
check "run: killed by a signal is 128+N" bash -c "'$PARE' run --entrypoint sh '$BB' -c 'kill -USR1 \$\$'; [ \$? -eq 138 ]"
ns_and_caps() {
	local out
	out=$("$PARE" run --hostname box --entrypoint sh "$BB" -c \
		'hostname; echo $$; grep CapEff /proc/self/status; ls /sys/class/net; grep NoNewPrivs /proc/self/status; ls /dev | tr "\n" " "; echo; grep -c box /etc/hosts') || return 1
	echo "$out"
	diff <(printf 'box\n2\nCapEff:\t00000000a80425fb\nlo\nNoNewPrivs:\t1\nfd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n1\n') <(echo "$out")
}
check "run: private namespaces, hostname, our pid 1, Docker's capabilities, no_new_privs, minimal /dev" ns_and_caps
image_user() {
	local cfg passwd want
	cfg=$("$PARE" inspect --json "$RD" | jq -r .config_digest | cut -d: -f2)
	passwd=$PARE_CACHE_DIR/rootfs/$cfg/etc/passwd
	want=$(awk -F: '$1=="redis"{print $3":"$4}' "$passwd")
	[ -n "$want" ] && [ "$("$PARE" run --entrypoint sh "$RD" -c 'echo $(id -u):$(id -g) $(id -un) $HOME')" = "$want redis $(awk -F: '$1=="redis"{print $6}' "$passwd")" ]
}
check "run: the image's user and HOME, resolved from its own /etc/passwd" image_user
check "run: -e, -w, -u uid:gid and HOME like docker" \
	bash -c "[ \"\$('$PARE' run -e FOO=bar -w /tmp/new -u 1234:5678 --entrypoint sh '$BB' -c 'echo \$FOO \$(pwd) \$(id -u):\$(id -g) \$HOME')\" = 'bar /tmp/new 1234:5678 /' ]"
check "run: unknown user is a one-line error" bash -c "$(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' run -u nosuch '$BB'"
check "run: a missing command is a one-line error with status 1" \
	bash -c "$(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' run --entrypoint /nonexistent '$BB' && grep -q \"cannot execute '/nonexistent'\" '$work/err'"
check "run: the program's writes stay in the sandbox" \
	bash -c "'$PARE' run --entrypoint sh '$BB' -c 'echo x > /www/index.html; rm /bin/ls' && '$PARE' run --entrypoint cat '$BB' /www/index.html | grep -q 'busybox page' && '$PARE' run --entrypoint sh '$BB' -c 'test -e /bin/ls'"
check "run: --timeout sends the stop signal" \
	bash -c "s=\$(date +%s); '$PARE' run --timeout 1 --entrypoint sleep '$BB' 30; rc=\$?; [ \$rc -eq 143 ] && [ \$((\$(date +%s) - s)) -lt 5 ]"
check "run: a program ignoring it is killed after --stop-timeout" \
	bash -c "'$PARE' run --timeout 1 --stop-timeout 1 --entrypoint sh '$BB' -c 'trap \"\" TERM; sleep 30; :'; [ \$? -eq 137 ]"
check "probe: bad --tracer is a usage error" bash -c "$(declare -f one_line_error); work='$work'; one_line_error 2 '$PARE' probe --tracer nope '$BB'"
check "probe: the trace is written atomically (no temp file left)" \
	bash -c "cd '$work' && '$PARE' probe -o '$work/atomic.json' '$G' && jq -e . '$work/atomic.json' >/dev/null && ! ls '$work'/atomic.json.tmp-* 2>/dev/null"
check "--help for run and probe" bash -c "'$PARE' run --help | grep -q usage && '$PARE' probe --help | grep -q -- '--tracer'"

# ---- interactive sessions (a real terminal through script(1)) ----
check "probe --shell: the image's shell, commands traced" \
	bash -c "printf 'cat /www/index.html\nexit\n' | script -qec \"'$PARE' probe --shell -o '$work/sh.json' '$BB'\" /dev/null | grep -q 'busybox page' && jq -e '.paths | map(.path) | index(\"/www/index.html\")' '$work/sh.json'"
check "probe --shell: no shell in the image -> our busybox, not recorded" \
	bash -c "printf 'cat /data/r.txt\nexit\n' | script -qec \"'$PARE' probe --shell -o '$work/gsh.json' '$G'\" /dev/null | grep -q '^r' && jq -e '(.paths | map(.path) | index(\"/data/r.txt\")) and (.paths | all(.path | startswith(\"/.pare\") | not))' '$work/gsh.json'"

# ---- no leaks: 100 runs, killed and timed-out ones included ----
settle() { # wait up to 3 s for the marker processes to be gone
	local i
	for i in $(seq 30); do pgrep -f 'sleep 30[123]' >/dev/null || return 0; sleep 0.1; done
	pgrep -af 'sleep 30[123]'; return 1
}
leaks() {
	local before_mnt before_tmp i pid
	# Sandbox mounts live in their own namespace: none may ever show here.
	before_mnt=$(grep -c -e pare- -e "$PARE_CACHE_DIR" /proc/self/mountinfo)
	before_tmp=$(ls -d /tmp/pare-* 2>/dev/null | wc -l)
	for i in $(seq 60); do
		if [ $((i % 2)) -eq 0 ]; then "$PARE" run --entrypoint true "$BB" || return 1
		else "$PARE" probe -o "$work/leak.json" "$G" 2>/dev/null || return 1; fi
	done
	for sig in KILL TERM INT; do
		for i in $(seq 8); do
			if [ $((i % 2)) -eq 0 ]; then cmd=(run); else cmd=(probe -o "$work/leak.json"); fi
			"$PARE" "${cmd[@]}" --entrypoint sh "$BB" -c 'sleep 302 & sleep 303 & exec sleep 301' 2>/dev/null &
			pid=$!
			sleep 0.3
			kill -0 $pid || { echo "pare exited before the $sig"; return 1; }
			kill -$sig $pid
			wait $pid
		done
	done
	for i in $(seq 10); do
		"$PARE" run --timeout 1 --stop-timeout 1 --entrypoint sh "$BB" -c "sleep 302 & $( [ $((i % 2)) -eq 0 ] && echo 'trap \"\" TERM;') sleep 301; :" 2>/dev/null
	done
	settle || return 1
	[ "$(grep -c -e pare- -e "$PARE_CACHE_DIR" /proc/self/mountinfo)" -eq "$before_mnt" ] || { echo "mounts changed"; return 1; }
	[ "$(ls -d /tmp/pare-* 2>/dev/null | wc -l)" -eq "$before_tmp" ] || { echo "temp dirs left"; return 1; }
	! ls -d "$PARE_CACHE_DIR"/rootfs/*.tmp-* 2>/dev/null || { echo "unpack temp left"; return 1; }
	# A killed pare cannot remove its sandbox's cgroups; the next run
	# sweeps those whose pare is gone. None may be left after it.
	"$PARE" run --entrypoint true "$BB" || return 1
	local d p left=0
	for d in $(find /sys/fs/cgroup -maxdepth 6 -type d -name 'pare-*' 2>/dev/null); do
		p=${d##*/pare-}; p=${p%%-*}
		[ -d "/proc/$p" ] || { echo "cgroup left: $d"; left=1; }
	done
	[ $left -eq 0 ]
}
check "no leaks after 100 runs (24 killed by KILL/TERM/INT, 10 timed out): processes, mounts, temp dirs, cgroups" leaks

finish
