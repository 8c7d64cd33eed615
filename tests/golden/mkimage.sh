#!/usr/bin/env bash
# mkimage.sh OUT GOLDEN_BIN: a tiny OCI image (OUT/oci, tag latest) holding
# the static golden helper as /golden and the /data tree it touches. No
# shell, no libc: every path in a trace of it is one the helper chose.
set -euo pipefail
out=$1 bin=$2
root=$out/rootfs
rm -rf "$out" && mkdir -p "$root/data/dir" "$root/data/sub" "$root/etc"
install -m 755 "$bin" "$root/golden"
cd "$root/data"
for f in r s a w x p up dd dirfd dirfd-open t-stat t-open f-stat f-open d-stat d-open \
	leaf-exec leaf-script leaf-spawn leaf-nonleader unused; do
	echo "$f" >"$f.txt"
done
ln -s r.txt link
echo one >dir/one && echo two >dir/two
echo rel >sub/rel.txt
echo fresh >fresh.txt && printf '/data/fresh.txt\0' >fresh-path # golden fresh-page-stat
ln -s /data/dir sub/dot            # ./dot/../dd.txt from sub is /data/dd.txt
printf '#!/golden leaf-script\n' >script.sh && chmod 755 script.sh
printf 'root:x:0:0:root:/:/golden\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
cd - >/dev/null
"$(dirname "$0")/../tools/rootfs-image.sh" "$root" "$out/oci" /golden
