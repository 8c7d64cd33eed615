#!/usr/bin/env bash
# rootfs-image.sh ROOTFS LAYOUT ENTRYPOINT: an OCI image (LAYOUT, tag latest)
# of one layer holding ROOTFS, whose entrypoint is ENTRYPOINT; ROOTFS is
# removed. umoci writes it: an independent writer of what pare reads.
set -euo pipefail
root=$1 layout=$2 entrypoint=$3
umoci init --layout "$layout" >/dev/null
umoci new --image "$layout:latest" >/dev/null
umoci insert --image "$layout:latest" "$root" / >/dev/null
umoci config --image "$layout:latest" --os linux --architecture amd64 \
	--config.entrypoint "$entrypoint" >/dev/null
umoci gc --layout "$layout"
rm -rf "$root"
