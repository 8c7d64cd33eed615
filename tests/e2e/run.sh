#!/usr/bin/env bash
# End-to-end tests on real images built from Debian packages, checked by
# independent readers (umoci, skopeo) and a real dockerd started here.
# The work directory is kept when a test fails.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
TOOLS=$top/build/tests
export PATH=$top:$PATH
suite=e2e
. "$top/tests/e2e/lib.sh"

build_fixtures
# Inputs must never change: size, mtime and ctime (any write or chmod) of
# every fixture file, before the first test and after the last.
snapshot() { find "${fixtures[@]}" -printf '%p %y %s %T@ %C@ %m\n' | LC_ALL=C sort; }
snapshot >"$work/inputs.before"

start_dockerd

for fx in "${fixtures[@]}"; do
	name=$(basename "$fx"); name=${name%-*}
	d=$work/$name; mkdir -p "$d"
	umoci unpack --image "$fx/oci:latest" "$d/umoci" >/dev/null 2>&1

	check "$name: unpack oci = umoci unpack" \
		bash -c "$(declare -f same_tree); work='$d' top='$top'; '$PARE' unpack oci:'$fx/oci' '$d/from-oci' && same_tree '$d/umoci/rootfs' '$d/from-oci'"
	check "$name: unpack docker-archive = umoci unpack" \
		bash -c "$(declare -f same_tree); work='$d' top='$top'; '$PARE' unpack docker-archive:'$fx/image.tar' '$d/from-da' && same_tree '$d/umoci/rootfs' '$d/from-da'"
	check "$name: unpack docker-archive from stdin" bash -c "'$PARE' unpack docker-archive:- '$d/from-stdin' < '$fx/image.tar' && test -d '$d/from-stdin/etc'"
	check "$name: inspect --json names the config and layers" \
		bash -c "'$PARE' inspect --json oci:'$fx/oci' | jq -e '.layers | length >= 1' && '$PARE' inspect '$fx/image.tar' | grep -q Entrypoint"

	# Round trip docker-archive -> oci -> docker-archive keeps content and config.
	check "$name: copy docker-archive -> oci passes skopeo inspect" \
		bash -c "'$PARE' copy docker-archive:'$fx/image.tar' oci:'$d/copy-oci':rt && skopeo inspect oci:'$d/copy-oci':rt | jq -e .Digest"
	check "$name: copy oci (gzip) -> oci keeps layer and config blobs byte-identical" \
		bash -c "'$PARE' copy oci:'$fx/oci' oci:'$d/copy-oci2' && for dg in \$('$PARE' inspect --json oci:'$fx/oci' | jq -r '.config_digest, .layers[].digest'); do cmp '$fx'/oci/blobs/sha256/\${dg#sha256:} '$d'/copy-oci2/blobs/sha256/\${dg#sha256:} || exit 1; done"
	check "$name: copy oci -> docker-archive -> oci round trip" \
		bash -c "'$PARE' copy oci:'$d/copy-oci':rt docker-archive:'$d/rt.tar':pare-e2e/$name:rt && '$PARE' copy '$d/rt.tar' oci:'$d/rt-oci' && skopeo inspect docker-archive:'$d/rt.tar' | jq -e .Layers && [ \"\$(skopeo inspect --config docker-archive:'$fx/image.tar' | jq -cS .)\" = \"\$(skopeo inspect --config oci:'$d/rt-oci' | jq -cS .)\" ] && $(declare -f same_tree); work='$d' top='$top' && '$PARE' unpack oci:'$d/rt-oci' '$d/rt-tree' && same_tree '$d/umoci/rootfs' '$d/rt-tree'"
	check "$name: copy to docker-archive loads and runs in dockerd" \
		bash -c "docker load -i '$d/rt.tar' && docker run --pull never --rm --network none --entrypoint /bin/sh pare-e2e/$name:rt -c 'test -d /etc && echo alive' | grep -qx alive"
	check "$name: copy docker-daemon -> oci -> docker-daemon runs" \
		bash -c "'$PARE' copy docker-daemon:pare-e2e/$name:rt oci:'$d/from-daemon':x && '$PARE' copy oci:'$d/from-daemon':x docker-daemon:pare-e2e/$name:back && docker run --pull never --rm --network none --entrypoint /bin/sh pare-e2e/$name:back -c 'echo back' | grep -qx back"
done

# The python fixture's own entrypoint through docker after our copy.
py=$(printf '%s\n' "${fixtures[@]}" | grep /python-)
check "python: entrypoint runs after pare copy (prints 1)" \
	bash -c "docker run --pull never --rm --network none pare-e2e/python:rt | grep -qx 1"

# Writing into an existing OCI layout adds a tag and keeps the others; a
# corrupt or FIFO index.json there is refused, not silently replaced.
bb=$(printf '%s\n' "${fixtures[@]}" | grep /busybox-)
check "copy into an existing layout keeps its other tags" \
	bash -c "'$PARE' copy oci:'$bb/oci' oci:'$work/multi':one && '$PARE' copy oci:'$bb/oci' oci:'$work/multi':two && skopeo inspect oci:'$work/multi':one >/dev/null && skopeo inspect oci:'$work/multi':two >/dev/null"
check "corrupt index.json in the destination is refused and kept" \
	bash -c "cp -r '$work/multi' '$work/multi-bad' && echo '{broken' >'$work/multi-bad/index.json' && $(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' copy oci:'$bb/oci' oci:'$work/multi-bad':three && grep -qx '{broken' '$work/multi-bad/index.json'"
check "FIFO index.json in the destination is refused without blocking" \
	bash -c "cp -r '$work/multi' '$work/multi-fifo' && rm '$work/multi-fifo/index.json' && mkfifo '$work/multi-fifo/index.json' && $(declare -f one_line_error); work='$work'; one_line_error 1 timeout 20 '$PARE' copy oci:'$bb/oci' oci:'$work/multi-fifo':three"

# Hostile corpus through the CLI: refusals are one-line errors, exit 1, no
# destination left behind; "contain" cases stay inside; sentinel untouched.
hs=$work/sentinel-dir; mkdir -p "$hs"; echo untouched >"$hs/sentinel"
"$TOOLS/mkhostile" "$work/hostile" "$hs"
python3 "$top/tests/tools/mkhostile.py" "$work/hostile"
declare -A hostile_why=(
	[refuse-da-dotdot-config.tar]="Config '../.*' is not a path inside the archive"
	[refuse-da-abs-layer.tar]="Layers\\[0\\] '/l/layer.tar' is not a path inside the archive"
	[refuse-da-two-manifests.tar]="member 'manifest.json' appears twice"
	[refuse-da-link-escape.tar]="links to '../../layer.tar', outside the archive"
	[refuse-gzip-trailing]="bytes after the end of the gzip stream"
	[refuse-zstd-trailing]="bytes after the end of the zstd stream"
)
for h in "$work"/hostile/*; do
	n=$(basename "$h")
	ref=oci:$h; [ -f "$h" ] && ref=docker-archive:$h
	why=${hostile_why[$n]:-.}
	case "$n" in
	refuse-*) check "hostile $n: refused, nothing left" \
		bash -c "$(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' unpack '$ref' '$work/hd-$n' && ! test -e '$work/hd-$n' && grep -q \"$why\" '$work/err'" ;;
	accept-*) check "hostile $n: accepted" \
		bash -c "'$PARE' unpack '$ref' '$work/hd-$n' && grep -qx pare '$work/hd-$n/etc/hostname'" ;;
	contain-*) check "hostile $n: contained in the root" \
		bash -c "'$PARE' unpack oci:'$h' '$work/hd-$n' && test -f '$work/hd-$n$hs/pwned' && test -f '$work/hd-$n$hs/pwned2' && grep -qx replaced '$work/hd-$n/leaf' && test -L '$work/hd-$n/evil'" ;;
	esac
done
check "hostile: sentinel outside untouched" bash -c "[ \"\$(ls -A '$hs')\" = sentinel ] && grep -qx untouched '$hs/sentinel'"
check "hostile: traversal left nothing in /tmp" bash -c "! test -e /tmp/pare-escape"
# Decompression bombs, unpacked into a 1 GiB tmpfs: a 20 MB gzip layer of a
# 20 GiB file of zeros is refused by the expansion limit, fast, having cost
# no disk (zeros become holes); a 2 GiB file of zeros with the limit lifted
# unpacks into that 1 GiB, as holes.
small=$work/small
if mkdir -p "$small" && mount -t tmpfs -o size=1G tmpfs "$small" 2>/dev/null; then
	cleanup_hooks+=(unmount_small)
	unmount_small() { umount "$small"; }
	bomb() {
		local s e; s=$(date +%s)
		one_line_error 1 timeout 60 "$PARE" unpack oci:"$work/hostile/bomb" "$small/bomb" || return 1
		e=$(date +%s); echo "refused after $((e - s)) s"
		grep -q 'expands past .* see --max-expansion' "$work/err" && [ $((e - s)) -le 20 ] && ! test -e "$small/bomb"
	}
	check "hostile bomb: 20 GiB of zeros from 20 MB of gzip refused within 20 s, nothing written" bomb
	holes() {
		"$PARE" unpack --max-expansion 0 oci:"$work/hostile/holes" "$small/holes" &&
			[ "$(stat -c %s "$small/holes/zeros")" = $((2 << 30)) ] && [ "$(du -k "$small/holes/zeros" | cut -f1)" -lt 1024 ] &&
			cmp -n 1048576 "$small/holes/zeros" /dev/zero
	}
	check "hostile holes: a 2 GiB file of zeros unpacks into a 1 GiB filesystem (as holes) with --max-expansion 0" holes
	check "hostile holes: the expansion limit applies by default (2 GiB from 2 MB)" \
		bash -c "one_line_error 1 '$PARE' unpack oci:'$work/hostile/holes' '$small/holes2' && grep -q 'expands past' '$work/err'"
else
	skip "hostile bombs" "no tmpfs could be mounted (not root)"
fi

# Errors and usage.
check "usage error exits 2" bash -c "$(declare -f one_line_error); work='$work'; one_line_error 2 '$PARE' unpack"
check "unknown command exits 2" bash -c "$(declare -f one_line_error); work='$work'; one_line_error 2 '$PARE' frobnicate"
check "missing image: one-line error" bash -c "$(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' inspect oci:/nonexistent"
check "non-empty destination refused" bash -c "mkdir -p '$work/full' && touch '$work/full/x' && $(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' unpack oci:'$py/oci' '$work/full' && test -f '$work/full/x'"
check "wrong tag lists the tags" bash -c "'$PARE' inspect oci:'$py/oci':nope 2>&1 | grep -q 'tags: latest'"
check "wrong platform refused" bash -c "$(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' inspect --platform linux/arm64 oci:'$py/oci' && grep -q 'not linux/arm64' '$work/err'"
check "--help everywhere" bash -c "'$PARE' --help | grep -q 'exit status' && for c in inspect unpack copy; do '$PARE' \$c --help | grep -q usage || exit 1; done"
snapshot >"$work/inputs.after"
check "input images never modified" diff "$work/inputs.before" "$work/inputs.after"

finish
