#!/usr/bin/env bash
# mkimage.sh OUT BREAKOUT_BIN: a tiny OCI image (OUT/oci, tag latest) whose
# program is the static breakout helper, with /tmp and a non-root user.
set -euo pipefail
out=$1 bin=$2
root=$out/rootfs
rm -rf "$out" && mkdir -p "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
install -m 755 "$bin" "$root/breakout"
printf 'root:x:0:0:root:/:/breakout\nnobody:x:65534:65534:nobody:/:/breakout\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
"$(dirname "$0")/../tools/rootfs-image.sh" "$root" "$out/oci" /breakout
