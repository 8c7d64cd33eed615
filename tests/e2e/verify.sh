#!/usr/bin/env bash
# --verify that knows noise and still catches breakage; slim layers that
# every tar reads cleanly (GNU tar without a warning, umoci, skopeo,
# docker, podman); --compress gzip|zstd|none[:LEVEL] on slim and copy.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
export PATH=$top:$PATH
suite=verify
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache

build_fixtures
start_dockerd
python=$(fixture python)
cp -r "$python/oci" "$work/py"
img=oci:$work/py:latest
cd "$work" || exit 1

# ---- Noise-aware verification ----
RANDOM_OUT='python3 -c "import os, json; print(json.dumps({os.urandom(4).hex(): 1, \"pid\": os.getpid()}))"'
check "verify passes on a probe whose output is random per run, and says it compared the exit status only" \
	bash -c "'$PARE' slim $img -o oci:py:noise --verify --report noise.json --exec '$RANDOM_OUT' --exec 'python3 -c \"print(1)\"' 2>err; rc=\$?; cat err; [ \$rc -eq 0 ] &&
		grep -q 'verify: the slim image behaves the same (2 probes; 1 compared by status only: its output differs from run to run)' err &&
		jq -e '[.probes[].stdout] == [\"nondeterministic\", \"deterministic\"] and .verify_noise_check_ms > 0 and .verify == \"same\"' noise.json"
check "... and still fails when a file it needs is dropped (exit status compared)" \
	bash -c "! '$PARE' slim $img -o oci:py:noise-bad --verify --exclude '/usr/lib/python3.11/json/**' --exec '$RANDOM_OUT' 2>err; cat err;
		grep -q 'verify: probe 1 .* diverged: exit 0 -> 1' err && grep -q 'not compared (it differs from run to run)' err && grep -q 'exit status: 0 in the original, 1 in the slim image' err"
TZ_PROBE='python3 -c "import os; print(\"zones\"); print(os.path.exists(\"/usr/share/zoneinfo/UTC\"))"'
check "a deterministic probe whose output changes in the slim image fails, showing the first differing line" \
	bash -c "! '$PARE' slim $img -o oci:py:tz-bad --verify --no-profile tzdata --exclude /usr/share/zoneinfo/UTC --exclude '/usr/share/zoneinfo/Etc/**' --exec '$TZ_PROBE' 2>err; cat err;
		grep -q 'diverged: exit 0 -> 0, stdout differs' err && grep -q 'stdout differs from line 2:' err && grep -qx '    original: True' err && grep -qx '    slim:     False' err"
# A probe that succeeds on the traced run only (the tracer's seccomp filter
# is there), then fails on the untraced second run: a flaky probe, made
# deterministic for the test.
FLAKY='python3 -c "import sys; sys.exit(0 if \"Seccomp_filters:\\t2\" in open(\"/proc/self/status\").read() else 1)"'
check "a probe whose exit status differs between two runs of the original is flaky, and fails the slim" \
	bash -c "! '$PARE' slim $img -o oci:py:flaky --verify --tracer auto --exec '$FLAKY' 2>err; cat err;
		grep -q 'probe 1 .* is flaky: exit 0, then 1, on two runs of the original image' err && ! skopeo inspect oci:py:flaky >/dev/null 2>&1"
check "without --verify, no second run (and no noise fields)" \
	bash -c "'$PARE' slim $img -o oci:py:nov --report nov.json --exec '$RANDOM_OUT' 2>/dev/null && jq -e '(.probes[0] | has(\"stdout\") | not) and (has(\"verify_noise_check_ms\") | not)' nov.json"

# ---- Layers every tar reads cleanly ----
# The certs profile keeps the CA bundle's links, one of them named
# NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem: a name that is not ASCII.
UTF8_NAME='etc/ssl/certs/NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem'
check "slim with the certs profile (names that are not ASCII)" \
	bash -c "'$PARE' slim $img -o oci:py:certs --profile certs --exec 'python3 -c \"import ssl; ssl.create_default_context()\"' --report certs.json 2>/dev/null"
layer_blob() { # TAG: the path of the slim layer's blob
	local m; m=$(jq -r --arg t "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' py/index.json)
	echo "py/blobs/sha256/$(jq -r '.layers[0].digest' "py/blobs/sha256/${m#sha256:}" | sed 's/sha256://')"
}
export -f layer_blob
check "GNU tar lists every entry of the slim layer without a warning" \
	bash -c "tar -tvzf \"\$(layer_blob certs)\" >list 2>warn; cat warn | head -3; [ ! -s warn ] && [ \"\$(wc -l <list)\" -gt 500 ]"
check "the name that is not ASCII round-trips as UTF-8 (GNU tar, pare unpack)" \
	bash -c "tar -tzf \"\$(layer_blob certs)\" | grep -qxF '$UTF8_NAME' && '$PARE' unpack oci:py:certs tree && test -L 'tree/$UTF8_NAME'"
headers() { # average tar header bytes per entry of the slim layer: all bytes but file data and the end
	python3 - "$(layer_blob certs)" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:gz") as t:
    members = t.getmembers()
    head = sum(m.offset_data - m.offset for m in members)
print(f"{len(members)} entries, {head / len(members):.0f} bytes of header per entry")
sys.exit(0 if head / len(members) < 1024 else 1)
PY
}
check "under 1 KB of tar header per entry on average" headers
check "the layer is still byte-for-byte deterministic" \
	bash -c "'$PARE' slim $img -o oci:py:certs2 --profile certs --exec 'python3 -c \"import ssl; ssl.create_default_context()\"' 2>/dev/null && cmp \"\$(layer_blob certs)\" \"\$(layer_blob certs2)\""
check "umoci unpacks it, skopeo copies it (digests verified)" \
	bash -c "umoci unpack --image py:certs umoci-tree >/dev/null && test -L 'umoci-tree/rootfs/$UTF8_NAME' && skopeo copy -q oci:py:certs oci:copied:certs"
check "docker loads and runs it" \
	bash -c "'$PARE' copy oci:py:certs docker-daemon:pare-verify/certs:1 && docker run --rm --pull never pare-verify/certs:1 -c 'import ssl; print(len(ssl.create_default_context().get_ca_certs()) >= 0)' | grep -qx True"
podman_conf=$work/containers.conf
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' >"$podman_conf"
check "podman loads it" \
	bash -c "'$PARE' copy oci:py:certs docker-archive:certs.tar:pare-verify/certs:1 && CONTAINERS_CONF='$podman_conf' podman --root '$work/podman' --runroot '$work/podman-run' --storage-driver vfs load -q -i certs.tar && CONTAINERS_CONF='$podman_conf' podman --root '$work/podman' --runroot '$work/podman-run' --storage-driver vfs image exists pare-verify/certs:1"

# ---- Compression ----
check "slim --compress zstd:19: a zstd layer that skopeo copies (digests verified) and pare runs" \
	bash -c "'$PARE' slim $img -o oci:py:zst --compress zstd:19 --exec 'python3 -c \"import json\"' 2>err && grep -q 'layers: .* -> .* zstd' err &&
		skopeo inspect --raw oci:py:zst | jq -e '.layers[0].mediaType == \"application/vnd.oci.image.layer.v1.tar+zstd\"' &&
		skopeo copy -q oci:py:zst oci:zcopy:zst && '$PARE' run oci:zcopy:zst -c 'import json; print(json.dumps(2))' | grep -qx 2"
check "the zstd layer is deterministic and holds what the gzip one holds" \
	bash -c "'$PARE' slim $img -o oci:py:zst2 --compress zstd:19 --exec 'python3 -c \"import json\"' 2>/dev/null && cmp \"\$(layer_blob zst)\" \"\$(layer_blob zst2)\" &&
		'$PARE' slim $img -o oci:py:gz --exec 'python3 -c \"import json\"' 2>/dev/null && [ \"\$(skopeo inspect --config oci:py:zst | jq -c .rootfs)\" = \"\$(skopeo inspect --config oci:py:gz | jq -c .rootfs)\" ]"
check "copy --compress zstd recompresses; diff_ids and config stay, skopeo reads it back" \
	bash -c "'$PARE' copy oci:py:latest oci:zc:x --compress zstd && skopeo inspect --raw oci:zc:x | jq -e '.layers | all(.mediaType | endswith(\"+zstd\"))' &&
		[ \"\$(skopeo inspect --raw oci:zc:x | jq -r .config.digest)\" = \"\$(skopeo inspect --raw oci:py:latest | jq -r .config.digest)\" ] && skopeo copy -q oci:zc:x oci:zc2:x &&
		'$PARE' copy oci:zc:x oci:gz1:x --compress gzip:1 && skopeo inspect --raw oci:gz1:x | jq -e '.layers | all(.mediaType | endswith(\"+gzip\"))' && skopeo copy -q oci:gz1:x oci:gz2:x"
check "--compress none writes uncompressed OCI layers" \
	bash -c "'$PARE' slim $img -o oci:py:raw --compress none --exec true 2>/dev/null && skopeo inspect --raw oci:py:raw | jq -e '.layers[0].mediaType == \"application/vnd.oci.image.layer.v1.tar\"' && tar -tf \"\$(layer_blob raw)\" >/dev/null"
check "docker-archive output with --compress zstd is a usage error" \
	bash -c "one_line_error_n 2 2 '$PARE' slim $img -o x.tar --compress zstd --exec true && grep -q 'docker-archive layers are stored uncompressed' '$work/err'"
check "a bad --compress value is a usage error naming the forms" \
	bash -c "one_line_error_n 2 1 '$PARE' copy $img oci:y:y --compress zstd:99 && grep -q 'a zstd level is 1 to 19' '$work/err' && one_line_error_n 2 1 '$PARE' copy $img oci:y:y --compress lz4 && grep -q 'use gzip, zstd or none' '$work/err'"
check "--help says which readers cannot read zstd" \
	bash -c "'$PARE' slim --help | grep -q 'umoci 0.4 cannot read zstd' && '$PARE' copy --help | grep -q -- '--compress KIND'"
finish
