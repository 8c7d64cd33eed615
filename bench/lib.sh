# Shared by the benchmarks (sourced): strict mode, the repository top, the
# python3 fixture in $fx, a scratch directory in $work removed at exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fx=$("$top/tests/fixtures/build.sh" python)
work=$(mktemp -d /var/tmp/pare-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
