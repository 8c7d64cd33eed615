#!/usr/bin/env bash
# The main job on the built-in sample image, as far as it exists: build the
# python3 sample image from Debian packages, inspect it, run it in pare's
# sandbox, and probe it: a traced run recording every file it touches. The
# slim step (issue 4) turns the trace into a small image.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fx=$("$top/tests/fixtures/build.sh" python)
out=${DEMO_OUT:-$top/demo-out}
rm -rf "$out" && mkdir -p "$out"
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$out/cache}
img=oci:$fx/oci
echo "== pare inspect $img"
"$top/pare" inspect "$img" | head -20
echo
echo "== pare run $img   (sandboxed, untraced: the image's entrypoint and cmd)"
"$top/pare" run "$img"
echo
probe='import json, csv, email.message, http.client, decimal, datetime; print("imports ok")'
echo "== pare probe -o trace.json --entrypoint python3 $img -c '$probe'"
"$top/pare" probe -o "$out/trace.json" --entrypoint python3 "$img" -c "$probe"
jq -c '{tracers, exit, duration_ms, lost, events, paths: (.paths | length),
	in_image: ([.paths[] | select(.exists)] | length)}' "$out/trace.json"
echo "a few of the recorded paths:"
jq -r '.paths[] | select(.exists and (.path | test("json|http|ld.so|python3"))) | "  \(.path)  \(.ops | join(","))"' \
	"$out/trace.json" | head -12
echo "rootfs size: $(du -sh "$PARE_CACHE_DIR/rootfs" | cut -f1); touched files:" \
	"$(jq '[.paths[] | select(.exists and .type == "file")] | length' "$out/trace.json")"
echo "outputs in $out"
