#!/usr/bin/env bash
# Breakout suite (containerd's TestBreakouts and runc's integration tests
# are the models): hostile code inside the sandbox (tests/breakout/breakout.c,
# the image's program), each case checked from the host, under `pare run`
# and under `pare slim` (the traced probe path). Then the options that
# change the rules (--cap-add/--cap-drop, --security-opt), the rlimit
# fallback on a host without cgroups, and rootless runs.
# PARE_UNDER_TEST=/path/to/pare runs the suite against another build (the
# closing note of issue 14 ran it against the commit before the sandbox's).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=${PARE_UNDER_TEST:-$top/pare}
TOOLS=$top/build/tests
suite=breakout
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache PARE
cd "$work" || exit 1

"$top/tests/breakout/mkimage.sh" "$work/bo" "$TOOLS/breakout" || exit 1
B=oci:$work/bo/oci
export B

# run_case [PARE-OPTS] -- CASE ARGS: the case's line under `pare run`;
# passes when the sandbox held (exit 0 and "held:").
run_case() {
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	local rc=0
	"$PARE" run "${opts[@]}" "$B" "$@" >"$work/case.out" 2>&1 || rc=$?
	cat "$work/case.out"
	[ $rc -eq 0 ] && grep -q '^held:' "$work/case.out"
}
# slim_case: the same as the image's command in `pare slim` (traced): the
# probe passes (exit 0) only when the sandbox held.
slim_case() {
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	rm -rf "$work/slim" "$work/r.json"
	local rc=0
	"$PARE" slim "${opts[@]}" "$B" -o "oci:$work/slim:x" --report "$work/r.json" -- "$@" \
		>"$work/case.out" 2>&1 || rc=$?
	cat "$work/case.out"
	[ $rc -eq 0 ] && jq -e '.probes[0].exit_code == 0' "$work/r.json" >/dev/null
}
export -f run_case slim_case

# held NAME [PARE-OPTS] -- CASE ARGS: checked both ways.
held() {
	local name=$1; shift
	check "$name (pare run)" run_case "$@"
	check "$name (pare slim)" slim_case "$@"
}

# ---- device nodes ----
# A loop device holding a marker, made here and removed at exit: inside,
# a block node made for it must not open.
marker=PARE-MARKER-$$-$RANDOM
truncate -s 1M "$work/loop.img" && printf '%s' "$marker" | dd of="$work/loop.img" conv=notrunc 2>/dev/null
loopdev=$(losetup -f --show "$work/loop.img" 2>/dev/null) || loopdev=
remove_loop() { [ -z "$loopdev" ] || losetup -d "$loopdev"; }
cleanup_hooks+=(remove_loop)
if [ -n "$loopdev" ]; then
	major=$((16#$(stat -c %t "$loopdev"))) minor=$((16#$(stat -c %T "$loopdev")))
	check "the test's loop device holds the marker (read on the host)" grep -q "$marker" "$loopdev"
	held "a block node made for the host's loop device does not open" -- blockdev "$major" "$minor" "$marker"
else
	skip "a block node made for the host's loop device does not open" "losetup cannot make a loop device here"
fi
kmsg_marker=kmsg-$$-$RANDOM
held "a char node made in the sandbox (/dev/kmsg's) does not open" -- chardev "$kmsg_marker"
if dmesg >/dev/null 2>&1; then
	check "... and nothing reached the host's kernel log" bash -c "! dmesg | grep -q 'pare-breakout $kmsg_marker'"
fi
check "the allow-listed nodes still work (/dev/null, /dev/zero, /dev/urandom)" \
	bash -c "'$PARE' run --entrypoint /breakout '$B' readable /dev/zero | grep -q ESCAPED"

# ---- the kernel's attack surface (Docker's seccomp policy) ----
held "mount (and a user namespace to mount in)" -- mount
held "unshare(CLONE_NEWUSER)" -- unshare
held "keyctl: add_key" -- keyctl
held "bpf does not reach the kernel" -- bpf
held "perf_event_open" -- perf
held "open_by_handle_at (the shocker escape)" -- by-handle
sleep 300 &
outside=$!
held "ptrace of a host process and of the sandbox's pid 1" -- ptrace "$outside"
kill "$outside" 2>/dev/null

# ---- /proc/sys, /sys, and the masked paths ----
held "a host sysctl cannot be written (/proc/sys is read-only)" -- sysctl /proc/sys/vm/overcommit_ratio
held "/proc/sys/kernel/core_pattern does not open for writing" -- writable /proc/sys/kernel/core_pattern
[ -e /proc/sysrq-trigger ] && held "/proc/sysrq-trigger does not open for writing" -- writable /proc/sysrq-trigger
[ -e /proc/irq/default_smp_affinity ] && held "/proc/irq does not open for writing" -- writable /proc/irq/default_smp_affinity
held "/sys does not open for writing" -- writable /sys/kernel/mm/transparent_hugepage/enabled
for p in /proc/acpi /proc/asound /proc/interrupts /proc/kcore /proc/keys /proc/latency_stats \
	/proc/sched_debug /proc/scsi /proc/timer_list /proc/timer_stats /sys/devices/virtual/powercap \
	/sys/firmware; do
	# Only what shows something on the host: an empty one proves nothing.
	if [ -d "$p" ]; then [ -n "$(ls -A "$p" 2>/dev/null)" ] || continue
	else [ -n "$(head -c 1 "$p" 2>/dev/null)" ] || continue; fi
	held "masked: $p shows nothing" -- readable "$p"
done

# ---- limits ----
procs() { ls /proc | grep -c '^[0-9]'; }
before=$(procs)
held "a fork bomb stops at --pids-limit 64" --pids-limit 64 -- forkbomb 500
check "... and leaves no process behind on the host" bash -c "[ \$(ls /proc | grep -c '^[0-9]') -le $((before + 20)) ]"
memhog_held() { # [run|slim]: killed by the OOM killer or refused, never all of it
	rm -rf "$work/slim"
	if [ "$1" = run ]; then "$PARE" run -m 64m "$B" memhog 1024; else
		"$PARE" slim -m 64m "$B" -o "oci:$work/slim:x" -- memhog 1024; fi >"$work/hog.out" 2>&1
	local rc=$?
	cat "$work/hog.out"
	! grep -q ESCAPED "$work/hog.out" && { [ $rc -eq 137 ] || grep -q '^held:' "$work/hog.out" || grep -q 'killed by SIGKILL\|exited with 137' "$work/hog.out"; }
}
export -f memhog_held
check "a memory hog stops at --memory 64m (pare run)" memhog_held run
check "a memory hog stops at --memory 64m (pare slim)" memhog_held slim
check "the default limits are generous: 200 processes and 256 MB are fine" \
	bash -c "'$PARE' run '$B' forkbomb 200 | grep -q 'ESCAPED: fork bomb reached' && '$PARE' run '$B' memhog 256 | grep -q 'touched 256 MB'"
# Left behind: a pare-PID-* cgroup whose pare is gone (others may be a
# concurrent pare's, live).
leftover_cgroups() {
	find /sys/fs/cgroup -maxdepth 6 -type d -name 'pare-*' 2>/dev/null | while read -r d; do
		pid=${d##*/pare-}; pid=${pid%%-*}
		[ -d "/proc/$pid" ] || echo "$d"
	done
}
check "no cgroup is left behind" bash -c "[ -z \"\$($(declare -f leftover_cgroups); leftover_cgroups)\" ]"

# Without any cgroup (a mount namespace with /sys/fs/cgroup unmounted):
# one warning, then rlimits, which bind a user other than root.
nocg() { unshare -m --propagation private bash -c 'umount -R /sys/fs/cgroup 2>/dev/null; umount /sys/fs/cgroup 2>/dev/null; "$@"' nocg "$@"; }
export -f nocg
check "no cgroup: one warning names the rlimit fallback" \
	bash -c "nocg '$PARE' run --pids-limit 32 '$B' keyctl 2>err; cat err; [ \$(grep -c 'warning: no cgroup' err) -eq 1 ] && grep -q RLIMIT_NPROC err"
check "no cgroup: a fork bomb as a non-root user stops at --pids-limit 32 (RLIMIT_NPROC)" \
	bash -c "nocg '$PARE' run --user nobody --pids-limit 32 '$B' forkbomb 500 2>/dev/null | tee out; grep -q '^held: fork' out"
check "no cgroup: a memory hog stops at --memory 64m (RLIMIT_DATA)" \
	bash -c "nocg '$PARE' run -m 64m '$B' memhog 1024 2>/dev/null | tee out; grep -q '^held: mmap' out"

check "the slim report says what confined the probes (and --verify runs under the same rules)" \
	bash -c "rm -rf '$work/slim'; '$PARE' slim --verify --pids-limit 99 --cap-drop NET_RAW '$B' -o 'oci:$work/slim:x' --report '$work/rep.json' -- keyctl >/dev/null 2>&1 &&
		jq -e '.sandbox | .seccomp == \"docker-default\" and (.seccomp_source | test(\"moby/profiles\")) and (.capabilities | index(\"MKNOD\")) and (.capabilities | index(\"NET_RAW\") | not) and .limits.pids.max == 99 and .no_new_privileges' '$work/rep.json'"

# ---- the options that change the rules (docker's names) ----
check "--cap-drop ALL: not even mknod" \
	bash -c "'$PARE' run --cap-drop ALL '$B' blockdev 7 0 x | grep -q 'held: mknod'"
check "--cap-add SYS_ADMIN lets unshare through, as in docker (the policy follows the capabilities)" \
	bash -c "'$PARE' run --cap-add SYS_ADMIN '$B' unshare | grep -q ESCAPED"
check "--security-opt seccomp=unconfined lets keyctl through" \
	bash -c "'$PARE' run --security-opt seccomp=unconfined '$B' keyctl | grep -q ESCAPED"
cat >"$work/deny-addkey.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["add_key"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
EOF
check "--security-opt seccomp=FILE (docker's format) is the policy: its errno comes back" \
	bash -c "'$PARE' run --security-opt seccomp='$work/deny-addkey.json' '$B' keyctl | grep -q 'held: add_key: Permission denied' &&
		'$PARE' run --security-opt seccomp='$work/deny-addkey.json' '$B' unshare | grep -q ESCAPED"
check "a profile written by 'pare probe --seccomp-profile' runs the same program under --security-opt" \
	bash -c "'$PARE' probe --seccomp-profile '$work/own.json' -o '$work/t.json' '$B' readable /proc/self/status >/dev/null 2>&1 &&
		'$PARE' run --security-opt seccomp='$work/own.json' '$B' readable /proc/self/status | grep -q ESCAPED &&
		'$PARE' run --security-opt seccomp='$work/own.json' '$B' keyctl | grep -q 'held: add_key'"
echo '{"defaultAction": "SCMP_ACT_TRACE"}' >"$work/trace.json"
# usage_error WANT-IN-MESSAGE PARE-ARGS...: exit 2, one or two "pare: " lines saying WANT.
usage_error() {
	local want=$1; shift
	one_line_error_n 2 2 "$PARE" "$@" && grep -q -- "$want" "$work/err"
}
export -f usage_error
check "a profile asking for SCMP_ACT_TRACE is refused (the tracer owns ptrace)" \
	usage_error "trace.json: defaultAction: action SCMP_ACT_TRACE is not supported" run --security-opt seccomp="$work/trace.json" "$B" keyctl
check "a missing profile file: one line naming it" \
	usage_error "nope.json" run --security-opt seccomp="$work/nope.json" "$B" keyctl
mkfifo "$work/fifo.json"
check "a FIFO as a profile is refused, not waited on" \
	timeout 10 bash -c "usage_error 'fifo.json.*not a regular file' run --security-opt seccomp='$work/fifo.json' '$B' keyctl"
echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["add_key"], "action": "SCMP_ACT_NOPE"}]}' >"$work/bad.json"
check "a profile with an unknown action: the file, the rule and the action" \
	usage_error "bad.json: syscalls\[0\]: unknown action 'SCMP_ACT_NOPE'" run --security-opt seccomp="$work/bad.json" "$B" keyctl
check "an unknown capability: one line with a hint" usage_error "unknown capability 'NOPE'" run --cap-add NOPE "$B" keyctl
check "apparmor= is refused with a hint" usage_error "no AppArmor" run --security-opt apparmor=x "$B" keyctl
check "no-new-privileges is accepted (always on)" \
	bash -c "'$PARE' run --security-opt no-new-privileges '$B' keyctl | grep -q held"
check "--memory below 6m is refused" usage_error "minimum is 6m" run -m 1m "$B" keyctl
check "--pids-limit takes a number" usage_error "pids-limit" run --pids-limit many "$B" keyctl

# ---- rootless: the same rules in a user namespace ----
rl=$work/rootless
mkdir -p "$rl" && cp -r "$work/bo/oci" "$rl/oci" && chown -R 65534:65534 "$rl" && chmod 755 "$work"
rootless() { # CASE ARGS...: run as uid 65534
	(cd "$rl" && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$rl" \
		PARE_CACHE_DIR="$rl/cache" "$PARE" run "$@")
}
rootless_held() { rootless "$@" 2>/dev/null | tee "$work/rl.out"; grep -q '^held:' "$work/rl.out"; }
export -f rootless rootless_held
export rl
host_proc=$(awk '$5 == "/proc" {print $3; exit}' /proc/self/mountinfo)
if rootless --entrypoint /breakout "oci:$rl/oci" show /proc/self/mountinfo 2>/dev/null |
	awk -v d="$host_proc" '$5 == "/proc" && $3 == d {found=1} END {exit !found}'; then
	echo "# rootless here: /proc is a bind of the host's (a user namespace may not mount its own)"
else
	echo "# rootless here: /proc is the sandbox's own"
fi
for c in "keyctl" "unshare" "mount" "chardev x" "sysctl /proc/sys/vm/overcommit_ratio" \
	"readable /proc/keys" "readable /proc/timer_list" "readable /sys/firmware"; do
	check "rootless: $c" rootless_held "oci:$rl/oci" $c
done
check "rootless: a fork bomb stops at --pids-limit 64 (RLIMIT_NPROC in the user namespace)" \
	rootless_held --pids-limit 64 "oci:$rl/oci" forkbomb 500

finish
