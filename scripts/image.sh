#!/usr/bin/env bash
# make image: pare's own container image, without a registry. A Debian
# rootfs from packages (the parebase recipe of tests/fixtures/build.sh:
# pare's run-time libraries, busybox, the CA store), pare added as a layer
# at /usr/local/bin/pare, then slimmed by pare itself, probes that unpack
# and copy a sample image in its sandbox, so the image holds what pare
# needs at run time and nothing else, written by pare's own writer:
#   build/pare-image       OCI layout, tag latest
#   build/pare-image.tar   docker-archive, pare:latest (docker load -i)
# Entrypoint `pare`; any uid can run it (no home needed: the cache falls
# back to $TMPDIR/pare-cache-UID).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
P=$top/pare
out=$top/build
base=$("$top/tests/fixtures/build.sh" parebase | tail -1)
sample=$("$top/tests/fixtures/build.sh" busybox | tail -1)
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The source image: the base and one more layer holding pare.
cp -r "$base/oci" "$work/src"
mkdir -p "$work/add/usr/local/bin"
install -m 755 "$out/image/pare" "$work/add/usr/local/bin/pare"
umoci insert --image "$work/src:latest" "$work/add" / >/dev/null
umoci gc --layout "$work/src"

# Slim it with pare: what pare reads to unpack, copy and inspect an image
# (its libraries come with the ELF closure), plus busybox for --shell
# sessions, the CA store (the certs profile) and writable temp dirs.
rm -rf "$out/pare-image.tmp" "$out/pare-image.tar.tmp"
"$P" slim "oci:$work/src:latest" -o "oci:$out/pare-image.tmp:latest" \
	-v "$sample/oci:/sample:ro" \
	--run 'pare --version' \
	--run 'pare inspect oci:/sample' \
	--run 'pare unpack oci:/sample /tmp/u && ls /tmp/u/bin/busybox' \
	--run 'pare copy oci:/sample docker-archive:/tmp/s.tar:s:1 && pare inspect docker-archive:/tmp/s.tar' \
	--keep /bin/busybox --keep /tmp --keep /var/tmp \
	--verify --report "$work/report.json" >&2; cp "$work/report.json" "$out/pare-image.report.json"
"$P" copy "oci:$out/pare-image.tmp:latest" "docker-archive:$out/pare-image.tar.tmp:pare:latest" >&2
rm -rf "$out/pare-image"
mv "$out/pare-image.tmp" "$out/pare-image"
mv "$out/pare-image.tar.tmp" "$out/pare-image.tar"
jq -r '"pare image: \(.after.entries) entries, \(.after.bytes / 1e5 | floor / 10) MB of files, " +
	"\(.after.compressed / 1e5 | floor / 10) MB compressed (from \(.before.compressed / 1e5 | floor / 10) MB)"' \
	"$out/pare-image.report.json" >&2
echo "$out/pare-image.tar"
