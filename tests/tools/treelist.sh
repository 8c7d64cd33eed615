#!/usr/bin/env bash
# List a tree for comparison: path, type, mode, owner, symlink target, and
# size + sha256 of regular files (hardlinked files show the same hash).
set -euo pipefail
cd "$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
find . -mindepth 1 -printf '%P\t%y\t%m\t%U:%G\t%l\t%s\n' | LC_ALL=C sort -t$'\t' -k1,1 >"$tmp/meta"
find . -mindepth 1 -type f -print0 | xargs -0 -r -P2 -n200 sha256sum |
	sed -E 's/^([0-9a-f]{64})  \.\//\1\t/' | awk -F'\t' '{print $2 "\t" $1}' |
	LC_ALL=C sort -t$'\t' -k1,1 >"$tmp/sums"
LC_ALL=C join -t$'\t' -a1 -e- -o 0,1.2,1.3,1.4,1.5,1.6,2.2 "$tmp/meta" "$tmp/sums" |
	awk -F'\t' 'BEGIN{OFS="\t"} $2=="d"{$6="-"} {print}'
