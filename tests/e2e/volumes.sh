#!/usr/bin/env bash
# The sandbox's own mounts (issue 16): -v HOST:PATH[:ro|rw], --tmpfs PATH,
# --env-file FILE for run, probe and slim. nginx takes a user's conf.d
# through -v, as in production; a writable volume starts every run from
# the same content and the host side is never written; mount points are
# resolved in the image, and the host side is the inode opened when the
# option was read, even while a symlink flips under it.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
suite=volumes
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache

build_fixtures
start_dockerd
nginx=$(fixture nginx) bb=$(fixture busybox) py=$(fixture python)
cp -r "$nginx/oci" "$work/ng" && cp -r "$bb/oci" "$work/bb" && cp -r "$py/oci" "$work/py"
cd "$work" || exit 1

# ---- nginx with the user's conf.d ----
mkdir -p confd
printf 'server {\n listen 8081;\n location /hello { default_type text/plain; return 200 "from conf.d\\n"; }\n}\n' >confd/extra.conf
check "nginx: a server from a conf.d volume, probed on its port, --verify" \
	bash -c "'$PARE' slim oci:ng:latest -v ./confd:/etc/nginx/conf.d:ro --http GET:/hello:8081 --verify --report ng.json -o oci:ng:slim 2>err; r=\$?; cat err; [ \$r -eq 0 ] &&
		jq -e '.verify == \"same\" and .probes[0].body_bytes == 12 and .volumes == [{\"target\": \"/etc/nginx/conf.d\", \"kind\": \"directory\", \"source\": \"./confd\", \"readonly\": true}]' ng.json"
check "nginx: what the volume held is not in the slim image" \
	bash -c "jq -e '[.paths[].path | select(startswith(\"/etc/nginx/conf.d/\"))] == []' ng.json &&
		! '$PARE' run --entrypoint /bin/cat oci:ng:slim /etc/nginx/conf.d/extra.conf 2>/dev/null"
ng_docker() { # the slim image under docker with the same volume, asked from the original's curl
	local c out
	c=$(docker run --pull never -d --network none -v "$work/confd:/etc/nginx/conf.d:ro" pare-vol/ng:slim) || return 1
	docker load -q -i "$nginx/image.tar" >/dev/null
	for _ in $(seq 50); do
		out=$(docker run --pull never --rm --network "container:$c" --entrypoint curl pare-test/nginx:latest -sf http://127.0.0.1:8081/hello) && break
		sleep 0.2
	done
	docker rm -f "$c" >/dev/null
	[ "$out" = 'from conf.d' ]
}
check "nginx: the slim image under docker with the same -v answers from it" \
	bash -c "$(declare -f ng_docker); work='$work' nginx='$nginx'; '$PARE' copy oci:ng:slim docker-daemon:pare-vol/ng:slim && ng_docker"

# ---- writable volumes: the same start every run, the host never written ----
mkdir -p data && echo seed >data/f
check "a writable volume starts each run (traced, noise, verify) from the host's content" \
	bash -c "'$PARE' slim oci:py:latest -v ./data:/data --run 'test ! -e /data/marker && touch /data/marker && cat /data/f' --verify -o oci:py:v 2>err; r=\$?; cat err; [ \$r -eq 0 ]"
check "... and the host directory is as it was" \
	bash -c "[ \"\$(ls data)\" = f ] && [ \"\$(cat data/f)\" = seed ]"
check "a writable volume is owned as on the host, so the image's user can write where the host lets it" \
	bash -c "chmod 1777 data && '$PARE' run -u nobody -v ./data:/data --entrypoint sh oci:bb:latest -c 'echo hi >/data/new && cat /data/new' | grep -qx hi; r=\$?; chmod 755 data; [ \$r -eq 0 ] && [ ! -e data/new ]"
check "a read-only volume and a file volume refuse writes" \
	bash -c "! '$PARE' run -v ./data:/data:ro --entrypoint sh oci:bb:latest -c 'echo x >/data/g' 2>/dev/null &&
		'$PARE' run -v ./data/f:/etc/seed --entrypoint sh oci:bb:latest -c 'cat /etc/seed; ! echo x >>/etc/seed' | grep -qx seed"

# ---- --tmpfs, --env-file ----
printf '# a comment\n\n  A=1\nB=two words\nHOME\n' >env.list
check "--tmpfs: an empty tmpfs, nosuid, nodev, noexec, as docker's" \
	bash -c "'$PARE' run --tmpfs /scratch --entrypoint sh oci:bb:latest -c 'grep \" /scratch \" /proc/mounts' | grep -q 'tmpfs rw,nosuid,nodev,noexec'"
check "--env-file: KEY=VALUE lines, KEY alone takes ours, comments and blank lines skipped" \
	bash -c "HOME=/from-us '$PARE' run --env-file env.list --entrypoint sh oci:bb:latest -c 'echo \"\$A|\$B|\$HOME\"' | grep -qx '1|two words|/from-us'"
check "slim with --tmpfs and --env-file: the runs and verify get both" \
	bash -c "'$PARE' slim oci:py:latest --tmpfs /scratch --env-file env.list --run 'echo \"\$B\" >/scratch/b && grep -qx \"two words\" /scratch/b' --verify -o oci:py:t 2>err; r=\$?; cat err; [ \$r -eq 0 ]"

# ---- mount points in the image, host sides by fd ----
mkdir -p evil && ln -s /../../../../../tmp evil/link && ln -s /nowhere/at/all evil/dangling
check "a mount point through the image's symlink resolves in the image, never on the host" \
	bash -c "umoci insert --image bb:latest evil/link /link >/dev/null &&
		'$PARE' run -v ./data:/link/pare-vol-escape.$$:ro --entrypoint sh oci:bb:latest -c 'cat /tmp/pare-vol-escape.$$/f' | grep -qx seed &&
		[ ! -e /tmp/pare-vol-escape.$$ ]"
check "a mount point through a dangling symlink in the image: refused, saying so" \
	bash -c "umoci insert --image bb:latest evil/dangling /dangling >/dev/null &&
		! '$PARE' run -v ./data:/dangling/x --entrypoint true oci:bb:latest 2>err; cat err; grep -q '/dangling is a symlink to nothing in the image' err"
mkdir -p side-a && echo a >side-a/id
flip() { while :; do ln -sfn side-a vlink; ln -sfn /dev/null vlink; done; }
race() { # 30 runs while vlink flips between a directory and a device
	local i out bad=0
	flip & local pid=$!
	for i in $(seq 30); do
		out=$("$PARE" run -v ./vlink:/v --entrypoint sh oci:bb:latest -c 'if [ -c /v ]; then echo DEVICE; else cat /v/id; fi' 2>&1)
		case $out in a | *"not a directory or a regular file"* | *"changed on the host"* | *"cannot open"*) ;; *) echo "run $i: $out"; bad=1 ;; esac
	done
	kill $pid; wait $pid 2>/dev/null
	return $bad
}
check "a host symlink flipping to a device while pare starts: the directory it opened, or a clean refusal, never the device" race

# ---- bad input ----
check "-v errors: named volume, relative target, the sandbox's own mounts, twice the same target; exit 2, one line" \
	bash -c "one_line_error 2 '$PARE' run -v data:/d oci:bb:latest && grep -q 'named volumes' '$work/err' &&
		one_line_error 2 '$PARE' run -v ./data:d oci:bb:latest && grep -q 'must be absolute' '$work/err' &&
		one_line_error 2 '$PARE' run -v ./data:/dev/x oci:bb:latest && grep -q 'own mount' '$work/err' &&
		one_line_error 2 '$PARE' run -v ./data:/d -v ./confd:/d/ oci:bb:latest && grep -q 'mounted twice' '$work/err' &&
		one_line_error 2 '$PARE' run -v ./nope:/d oci:bb:latest && grep -q \"cannot open './nope'\" '$work/err'"
mkfifo fifo
check "a FIFO as a volume or --env-file is refused at once, never waited on" \
	bash -c "timeout 10 '$PARE' run -v ./fifo:/f oci:bb:latest 2>err; [ \$? -eq 2 ] && grep -q 'a FIFO' err &&
		timeout 10 '$PARE' run --env-file fifo oci:bb:latest 2>err; [ \$? -eq 2 ] && grep -q 'not a regular file' err"
printf 'GOOD=1\nBAD KEY=2\n' >bad.env
check "--env-file: a line that is not a variable names the file and line" \
	bash -c "one_line_error 2 '$PARE' run --env-file bad.env oci:bb:latest && grep -q 'bad.env line 2' '$work/err'"

finish
