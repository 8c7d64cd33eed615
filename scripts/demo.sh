#!/usr/bin/env bash
# The main job on the built-in sample image. For now (foundation): build the
# python3 sample image from Debian packages, inspect it, unpack it, and copy
# it to an OCI layout. The slim step replaces this once it lands.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fx=$("$top/tests/fixtures/build.sh" python)
out=${DEMO_OUT:-$top/demo-out}
rm -rf "$out" && mkdir -p "$out"
echo "== pare inspect docker-archive:$fx/image.tar"
"$top/pare" inspect "docker-archive:$fx/image.tar" | head -32
echo
echo "== pare unpack"
s=$(date +%s%N); "$top/pare" unpack "oci:$fx/oci" "$out/rootfs"; e=$(date +%s%N)
printf 'pare unpack: %d ms, %s entries\n' "$(((e - s) / 1000000))" "$(find "$out/rootfs" | wc -l)"
echo
echo "== pare copy docker-archive -> oci"
"$top/pare" copy "docker-archive:$fx/image.tar" "oci:$out/oci:demo"
"$top/pare" inspect --json "oci:$out/oci:demo" | jq '{config_digest, size, uncompressed_size, layers: [.layers[] | {digest, files}]}'
echo "outputs in $out"
