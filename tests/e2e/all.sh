#!/usr/bin/env bash
# The end-to-end suites, in order, sharing one private dockerd (started
# here, stopped at exit) instead of one each. Usage: all.sh SUITE...
# Prints the sum of every suite's closing line; fails if any suite does.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d /var/tmp/pare-dockerd.XXXXXX)
stop() { "$top/tests/e2e/dockerd.sh" stop "$dir"; rm -rf "$dir"; }
trap stop EXIT
echo "# starting the shared dockerd"
PARE_TEST_DOCKER_HOST=$("$top/tests/e2e/dockerd.sh" start "$dir") || exit 1
export PARE_TEST_DOCKER_HOST
rc=0 total_pass=0 total_fail=0 total_skip=0
for s in "$@"; do
	out=$(mktemp)
	"$top/$s" | tee "$out"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	if line=$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1); then
		read -r p f k < <(sed -E 's/^[a-z0-9-]+: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\1 \2 \4/' <<<"$line")
		total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + ${k:-0}))
	else
		echo "$s printed no closing line"; rc=1
	fi
	rm -f "$out"
done
echo "e2e-total: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $rc
