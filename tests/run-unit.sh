#!/usr/bin/env bash
# Run the C unit tests (TAP). VALGRIND=1 runs them under valgrind, which
# must report no errors and no leaks.
set -uo pipefail
dir=$1
pass=0 fail=0
run() {
	local name=$1; shift
	local out rc
	if [ "${VALGRIND:-}" = 1 ]; then
		out=$(PARE_UNDER_VALGRIND=1 valgrind --quiet --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite,indirect \
			"$@" 2>&1); rc=$?
	else
		out=$("$@" 2>&1); rc=$?
	fi
	local nok; nok=$(grep -c '^not ok' <<<"$out")
	if [ $rc -ne 0 ] || [ "$nok" -ne 0 ]; then
		fail=$((fail + 1)); echo "FAIL $name (exit $rc)"; grep -v '^ok' <<<"$out" | head -40
	else
		pass=$((pass + 1)); echo "PASS $name ($(grep -c '^ok' <<<"$out") checks)"
	fi
}
for t in "$dir"/test_*; do
	run "$(basename "$t")" "$t"
done
run "test_apply --no-openat2" "$dir/test_apply" --no-openat2
for r in "$dir"/*_replay; do
	name=$(basename "$r" _replay)
	run "$name corpus" "$r" "tests/fuzz/corpus/${name#fuzz_}"
done
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ]
