#!/usr/bin/env bash
# same-slim.sh OLD_PARE NEW_PARE: slim each cached fixture with both
# builds (tests/fixtures/build.sh first); the slim manifests, hence layers
# and configs, must be byte-identical (SOURCE_DATE_EPOCH fixed). For a
# refactoring that must not change outputs: build the old commit in a
# worktree, then run this with both binaries.
set -uo pipefail
old=$1 new=$2 out=$(mktemp -d /var/tmp/pare-same.XXXXXX)
export SOURCE_DATE_EPOCH=1700000000
declare -A args=(
	[python]="--exec 'python3 -c \"import json, decimal; print(json.dumps([str(decimal.Decimal(1))]))\"'"
	[redis]="-u 0 --exec 'redis-server --daemonize yes --save \"\" && sleep 0.3 && until redis-cli ping; do sleep 0.1; done && redis-cli set k v && redis-cli get k && redis-cli shutdown nosave'"
	[nginx]='--http / --http GET:/second.txt:80'
	[node]='--http /x'
	[busybox]=''
)
rc=0
for n in python redis nginx node busybox; do
	fx=$(ls -d "${PARE_FIXTURES:-/var/tmp/pare-fixtures}"/$n-*/ | head -1)
	for b in old new; do
		bin=${!b}
		eval "\"$bin\" slim oci:${fx}oci -o oci:$out/$b-$n:s ${args[$n]}" >/dev/null 2>"$out/$b-$n.err" || { echo "$n: $b failed"; cat "$out/$b-$n.err"; rc=1; }
	done
	a=$(jq -r '.manifests[0].digest' "$out/old-$n/index.json") b2=$(jq -r '.manifests[0].digest' "$out/new-$n/index.json")
	if [ "$a" = "$b2" ]; then echo "$n: identical manifest $a"; else echo "$n: DIFFERENT $a vs $b2"; rc=1; fi
done
rm -rf "$out"
exit $rc
