#!/usr/bin/env bash
# pare slim on real images: each fixture slimmed with probes and --verify,
# then loaded into a real dockerd, run with `docker run`, and asked the
# same questions there; independent readers (skopeo, umoci) of the output;
# determinism; the limits (a path no probe touched is gone, --keep brings
# it back); failing probes fail the slim.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
suite=slim
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache

build_fixtures
start_dockerd
for f in "${fixtures[@]}"; do n=$(basename "$f"); n=${n%-*}; cp -r "$f/oci" "$work/$n"; done
pyfx=$(printf "%s\n" "${fixtures[@]}" | grep /python-)

PY='import json, csv, email.message, decimal
print(json.dumps({"os": open("/etc/os-release").readline().strip(), "sum": str(decimal.Decimal("0.1") * 3)}))'
declare -A probe=(
	[python]="python3 -c '$PY'"
	[redis]='redis-cli ping && redis-cli set k v && redis-cli get k'
)
# Probes that run as root in place of the entrypoint; the others run
# beside it, as its own user (redis: the daemon as it runs under docker).
declare -A as_root=([python]=1)
# Servers are probed over HTTP while their own entrypoint runs: two pages
# of nginx, node, and busybox httpd with no probe given (GET / on its
# exposed port).
declare -A http=(
	[nginx]='--http / --http GET:/second.txt:80'
	[node]='--http /x'
	[busybox]=''
)
# What the slim image must answer under docker: run its entrypoint (or a
# one-shot command) and ask from inside the container.
docker_check() { # NAME IMAGE
	local n=$1 img=$2 c out
	case $n in
	python) docker run --pull never --rm --network none "$img" -c "$PY" | grep -q '"sum": "0.3"' ;;
	redis) c=$(docker run --pull never -d --network none "$img") && sleep 1 && out=$(docker exec "$c" redis-cli ping); docker rm -f "$c" >/dev/null; [ "$out" = PONG ] ;;
	nginx) # the slim image has no curl: ask from the original image, in the slim one's network
		docker load -q -i "$(printf '%s\n' "${fixtures[@]}" | grep /nginx-)/image.tar" >/dev/null &&
		c=$(docker run --pull never -d --network none "$img") && sleep 1 &&
		out=$(docker run --pull never --rm --network "container:$c" --entrypoint curl pare-test/nginx:latest -sf http://127.0.0.1/second.txt)
		docker rm -f "$c" >/dev/null; [ "$out" = 'second page' ] ;;
	node) c=$(docker run --pull never -d --network none "$img") && sleep 1 && out=$(docker exec "$c" node -e 'require("http").get("http://127.0.0.1:3000/d",r=>r.pipe(process.stdout))'); docker rm -f "$c" >/dev/null; [ "$out" = 'node says hi /d' ] ;;
	busybox) c=$(docker run --pull never -d --network none "$img") && sleep 1 && out=$(docker exec "$c" wget -qO- http://127.0.0.1:8080/); docker rm -f "$c" >/dev/null; [ "$out" = 'busybox page' ] ;;
	esac
}
sizes=$work/sizes.txt
slim_fixture() { # NAME
	local n=$1
	if [ -n "${probe[$n]:-}" ]; then
		"$PARE" slim ${as_root[$n]:+-u 0} --verify --report "$work/$n.report.json" -o "oci:$work/$n:slim" --exec "${probe[$n]}" "oci:$work/$n:latest"
	else
		# shellcheck disable=SC2086 # the probes are words
		"$PARE" slim --verify --report "$work/$n.report.json" -o "oci:$work/$n:slim" ${http[$n]} "oci:$work/$n:latest"
	fi
}
for n in python redis nginx node busybox; do
	check "$n: slim --verify with $( [ -n "${probe[$n]:-}" ] && echo 'an exec probe' || echo "HTTP probes (${http[$n]:-none given: GET / on the exposed port})")" \
		slim_fixture "$n"
	check "$n: skopeo and umoci read the slim image" \
		bash -c "skopeo inspect oci:'$work/$n:slim' | jq -e '.Layers | length == 1' && umoci unpack --image '$work/$n:slim' '$work/$n.umoci' >/dev/null"
	check "$n: GNU tar lists the slim layer without a warning" \
		bash -c "tar -tvzf '$work/$n'/blobs/sha256/\$(jq -r '.after.layer | sub(\"sha256:\"; \"\")' '$work/$n.report.json') 2>&1 >/dev/null | grep . && exit 1; exit 0"
	check "$n: the report explains every kept path" \
		jq -e '(.paths | length > 10) and (.paths | all(.reasons | length > 0)) and .verify == "same" and (.probes | all(.ok)) and .tracers == ["ebpf", "fanotify", "notify"]' "$work/$n.report.json"
	check "$n: docker loads the slim image and it answers the same probe" \
		bash -c "$(declare -f docker_check); $(declare -p fixtures); PY='$PY'; '$PARE' copy oci:'$work/$n:slim' docker-daemon:pare-slim/$n:slim && docker_check $n pare-slim/$n:slim"
	jq -r --arg n "$n" '"\($n): \(.before.compressed) -> \(.after.compressed) compressed, \(.before.bytes) -> \(.after.bytes) bytes of files (\(.after.uncompressed) as tar), \(.before.entries) -> \(.after.entries) entries"' \
		"$work/$n.report.json" >>"$sizes" 2>/dev/null
done
cat "$sizes"
check "python: the slim image holds under 20 MB of files" jq -e '.after.bytes < 20000000' "$work/python.report.json"

# Determinism: the same input and probes give the same layer.
py_slim() { # TAG ARGS...: slim the python fixture with the python probe
	local tag=$1; shift
	"$PARE" slim -o "oci:$work/python:$tag" "$@" --exec "${probe[python]}" "oci:$work/python:latest" 2>"$work/$tag.err"
}
layer_of() { skopeo inspect "oci:$work/python:$1" | jq -r '.Layers[0]'; }
same_layer() { py_slim again && [ "$(layer_of again)" = "$(layer_of slim)" ]; }
check "slim twice gives the same layer digest" same_layer
# The gzip layer is deflated on every core (image/pgzip.c): its bytes must
# not depend on how many.
same_for_jobs() { py_slim j1 -j 1 && py_slim j5 --jobs 5 && [ "$(layer_of j1)" = "$(layer_of slim)" ] && [ "$(layer_of j5)" = "$(layer_of slim)" ]; }
check "-j 1 and --jobs 5 give the same layer digest as the default" same_for_jobs
# A re-slim keeping the same paths (r2; r3 keeps what the slims above kept) copies the layer kept beside the cached
# tree (slimmer/layer_reuse.c) instead of deflating it again; a cached
# layer that does not match its digest is rebuilt, and so is a layer that
# holds what a probe wrote.
reused() { jq -e ".after.reused == $2" "$work/$1.json" >/dev/null; }
py_slim_r() { local tag=$1; shift; py_slim "$tag" --report "$work/$tag.json" "$@"; }
layer_reuse() {
	py_slim_r r1 --keep /usr/lib/python3.11/this.py && py_slim_r r2 --keep /usr/lib/python3.11/this.py &&
		reused r2 true && [ "$(layer_of r1)" = "$(layer_of r2)" ] &&
		py_slim_r r3 && reused r3 true && [ "$(layer_of r3)" = "$(layer_of slim)" ] || return 1
	local blob
	for blob in "$PARE_CACHE_DIR"/rootfs/*.layers/*.blob; do printf 'x' | dd of="$blob" bs=1 seek=100 conv=notrunc 2>/dev/null; done
	py_slim_r r4 --keep /usr/lib/python3.11/this.py && reused r4 false && [ "$(layer_of r4)" = "$(layer_of r1)" ] &&
		py_slim_r r5 --keep /usr/lib/python3.11/this.py && reused r5 true &&
		written_slim r6 && reused r6 false && written_slim r7 && reused r7 false
}
written_slim() {
	"$PARE" slim -o "oci:$work/python:$1" --report "$work/$1.json" --keep-written \
		--exec 'mkdir -p /appdata && echo w >/appdata/s.txt' "oci:$work/python:latest" 2>"$work/$1.err"
}
check "a re-slim reuses the cached layer, the same digest; a corrupt one is rebuilt; --keep-written never reuses" layer_reuse
# The limits, honestly: what no probe touched is gone; --keep brings it back.
missing_module() { ! "$PARE" run "oci:$work/python:slim" -c 'import this' 2>"$work/this.err" && grep -q ModuleNotFoundError "$work/this.err"; }
check "a module no probe imported is missing from the slim image" missing_module
keep_fixes() { py_slim kept --keep /usr/lib/python3.11/this.py && "$PARE" run "oci:$work/python:kept" -c 'import this' >"$work/zen" && grep -q 'Beautiful is better' "$work/zen"; }
check "--keep of that module's file fixes it" keep_fixes
keep_glob() { py_slim glob --keep '/usr/lib/python3.11/email/**' && "$PARE" run "oci:$work/python:glob" -c 'import email.mime.text'; }
check "--keep with ** keeps a whole tree" keep_glob
merge_trace() {
	"$PARE" probe -o "$work/t.json" --entrypoint python3 "oci:$work/python:latest" -c 'import this' >/dev/null &&
		py_slim traced --trace "$work/t.json" && "$PARE" run "oci:$work/python:traced" -c 'import this' | grep -q Beautiful
}
check "--trace merges an earlier probe session" merge_trace
bad_probe() {
	! "$PARE" slim -o "oci:$work/python:bad" --exec 'exit 3' "oci:$work/python:latest" 2>"$work/bad.err" &&
		grep -q 'exited with 3' "$work/bad.err" && ! skopeo inspect "oci:$work/python:bad" >/dev/null 2>&1
}
check "a failing probe fails the slim with a clear message and writes nothing" bad_probe
http_404() {
	! "$PARE" slim -o "oci:$work/nginx:bad" --http /nope "oci:$work/nginx:latest" 2>"$work/404.err" &&
		grep -q 'answered HTTP 404' "$work/404.err"
}
check "an HTTP probe answered 404 fails the slim" http_404
http_refused() {
	! "$PARE" slim -o "oci:$work/nginx:bad" --timeout 2 --http /:81 "oci:$work/nginx:latest" 2>"$work/81.err" &&
		grep -q 'timed out after 2 s waiting for port 81 to accept' "$work/81.err"
}
check "an HTTP probe to a closed port fails after the deadline, naming it" http_refused
http_file() {
	printf '%s\n' '[{"path": "/", "status": 200}, {"path": "/nope", "status": 404},' \
		'{"method": "POST", "path": "/second.txt", "headers": {"X-Probe": "pare"}, "body": "hi", "status": 405}]' >"$work/hp.json"
	"$PARE" slim -o "oci:$work/nginx:hf" --verify --report "$work/hf.json" --http-file "$work/hp.json" "oci:$work/nginx:latest" &&
		jq -e '[.probes[].http_status] == [200, 404, 405] and (.probes | all(.ok))' "$work/hf.json"
}
check "--http-file: methods, headers, bodies and expected statuses" http_file
verify_catches() {
	! py_slim nv --exclude '/usr/lib/python3.11/json/**' --verify && cat "$work/nv.err" && grep -q 'diverged' "$work/nv.err" &&
		grep -q 'pare run' "$work/nv.err" && skopeo inspect "oci:$work/python:nv" >/dev/null
}
check "--verify catches a slim image that behaves differently" verify_catches
WRITE='mkdir -p /appdata && python3 -c "open(\"/appdata/s.txt\", \"w\").write(\"w\")"'
keep_written() {
	"$PARE" slim -o "oci:$work/python:kw" --keep-written --exec "$WRITE" "oci:$work/python:latest" 2>/dev/null &&
		[ "$("$PARE" run "oci:$work/python:kw" -c 'print(open("/appdata/s.txt").read())')" = w ] &&
		"$PARE" slim -o "oci:$work/python:nokw" --exec "$WRITE" "oci:$work/python:latest" 2>/dev/null &&
		! "$PARE" run "oci:$work/python:nokw" -c 'open("/appdata/s.txt")' 2>/dev/null &&
		! ls -d /tmp/pare-written-* 2>/dev/null
}
check "--keep-written keeps what a probe wrote (and only then)" keep_written
# Seccomp profiles (issue 6): each fixture's slim image runs under the
# real dockerd with the profile its probes produced and answers the same
# probe (servers are asked from the original image, sharing the slim
# container's network); a syscall outside the profile (unshare) gets EPERM.
orig() { printf '%s\n' "${fixtures[@]}" | grep "/$1-"; }
seccomp_fixture() { # NAME
	local n=$1
	local prof=$work/$n.seccomp.json c="" out="" want=""
	if [ -n "${probe[$n]:-}" ]; then
		"$PARE" slim ${as_root[$n]:+-u 0} -o "oci:$work/$n:sc" --seccomp-profile "$prof" --exec "${probe[$n]}" "oci:$work/$n:latest" 2>/dev/null || return 1
	else
		# shellcheck disable=SC2086
		"$PARE" slim -o "oci:$work/$n:sc" --seccomp-profile "$prof" ${http[$n]} "oci:$work/$n:latest" 2>/dev/null || return 1
	fi
	jq -e '.defaultAction == "SCMP_ACT_ERRNO" and (.syscalls[0].names as $s | $s == ($s | sort) and ($s | index("execve")) and ($s | index("unshare") | not)) and (.syscalls[1] == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})' "$prof" >/dev/null || return 1
	"$PARE" copy "oci:$work/$n:sc" "docker-daemon:pare-sc/$n:sc" || return 1
	docker load -q -i "$(orig "$n")/image.tar" >/dev/null || return 1
	case $n in
	python) out=$(docker run --pull never --rm --network none --security-opt "seccomp=$prof" --entrypoint sh "pare-sc/$n:sc" -c "${probe[$n]}"); want='"sum": "0.3"' ;;
	redis) c=$(docker run --pull never -d --network none --security-opt "seccomp=$prof" "pare-sc/$n:sc") && sleep 1 && out=$(docker exec "$c" sh -c "${probe[$n]}"); want=PONG ;;
	*) local port=80 path=/second.txt
	   [ "$n" = node ] && port=3000 path=/x
	   [ "$n" = busybox ] && port=8080 path=/
	   c=$(docker run --pull never -d --network none --security-opt "seccomp=$prof" "pare-sc/$n:sc") && sleep 1 &&
	   out=$(docker run --pull never --rm --network "container:$c" --entrypoint sh "pare-test/$n:latest" -c \
		"curl -sf http://127.0.0.1:$port$path 2>/dev/null || wget -qO- http://127.0.0.1:$port$path 2>/dev/null || node -e 'require(\"http\").get(\"http://127.0.0.1:$port$path\",r=>r.pipe(process.stdout))'")
	   want=$( [ "$n" = node ] && echo 'node says hi /x' || { [ "$n" = busybox ] && echo 'busybox page' || echo 'second page'; }) ;;
	esac
	echo "$out"
	[ -z "$c" ] || docker rm -f "$c" >/dev/null
	grep -q -- "$want" <<<"$out"
}
for n in python redis nginx node busybox; do
	check "$n: the slim image runs under docker with its own seccomp profile" seccomp_fixture "$n"
done
busybox_denied() { # unshare works unconfined, and gets EPERM under the profile
	docker run --pull never --rm --network none --security-opt seccomp=unconfined --entrypoint unshare pare-sc/busybox:sc -U true &&
		! docker run --pull never --rm --network none --security-opt "seccomp=$work/busybox.seccomp.json" --entrypoint unshare \
			pare-sc/busybox:sc -U true 2>"$work/unshare.err" && cat "$work/unshare.err" &&
		grep -q 'Operation not permitted' "$work/unshare.err"
}
check "a syscall outside the profile is denied (unshare works unconfined, EPERM under it)" busybox_denied
check "the report names who made each syscall first" \
	bash -c "'$PARE' slim -o oci:'$work/python':sr --report '$work/sr.json' --seccomp-profile '$work/sr.seccomp.json' --exec true oci:'$work/python':latest 2>/dev/null && jq -e '(.syscalls | length > 5) and (.syscalls | map(select(.name == \"execve\")) | length == 1) and (.syscalls | any(.first_by == \"/usr/bin/dash\"))' '$work/sr.json'"
probe_profile() {
	"$PARE" probe -o "$work/pp.json" --seccomp-profile "$work/pp.seccomp.json" --entrypoint python3 "oci:$work/python:latest" -c 'print(1)' >/dev/null 2>&1 &&
		jq -e '.syscalls[0].action == "SCMP_ACT_ALLOW" and (.architectures | index("SCMP_ARCH_X86_64"))' "$work/pp.seccomp.json" >/dev/null &&
		jq -e '.syscalls | length > 10' "$work/pp.json" >/dev/null
}
check "pare probe --seccomp-profile writes a profile and the trace's syscall list" probe_profile
check "the input image is untouched (its manifest and blobs still verify)" \
	bash -c "'$PARE' unpack oci:'$work/python':latest '$work/py-in' && [ \"\$(skopeo inspect oci:'$work/python':latest | jq -r .Digest)\" = \"\$(skopeo inspect oci:'$pyfx/oci':latest | jq -r .Digest)\" ]"
check "slim --help" bash -c "'$PARE' slim --help | grep -q -- '--verify'"
finish
