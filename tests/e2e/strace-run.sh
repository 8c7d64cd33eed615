#!/usr/bin/env bash
# strace-run.sh ROOTFS LOG WORKDIR CMD...: the reference for completeness.
# Runs CMD chrooted into a throwaway overlay over ROOTFS (the cached tree is
# never written), in private mount/net/pid namespaces with loopback up and
# /proc, /dev mounted, under a full `strace -f` (no filter) writing LOG,
# with the environment pare gives a root process of an image (PATH, HOME).
set -euo pipefail
root=$1 log=$2 wd=$3; shift 3
tmp=$(mktemp -d /tmp/pare-strace.XXXXXX)
trap 'rmdir "$tmp"' EXIT
PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	unshare -m -n -p -f --propagation private bash -euc '
	root=$1 log=$2 wd=$3 tmp=$4; shift 4
	export PATH_IN
	ip link set lo up
	mount -t tmpfs tmpfs "$tmp"
	mkdir "$tmp/u" "$tmp/w" "$tmp/m"
	mount -t overlay overlay -o "lowerdir=$root,upperdir=$tmp/u,workdir=$tmp/w" "$tmp/m"
	mount -t proc proc "$tmp/m/proc"
	mount --rbind /dev "$tmp/m/dev"
	exec strace -f -qq -y -s 4096 -o "$log" -- env -i PATH="$PATH_IN" HOSTNAME=pare HOME=/root \
		unshare --root="$tmp/m" --wd="$wd" "$@"
' _ "$root" "$log" "$wd" "$tmp" "$@"
