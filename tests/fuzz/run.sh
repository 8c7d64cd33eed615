#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan+UBSan) and run each for
# SECONDS, JOBS at a time (default: the cores), starting from (and adding
# to) the saved corpus; a crash is kept as crash-* in build/fuzz.
# Usage: run.sh SECONDS [TARGET...]   (targets: apply manifest trace ...)
set -euo pipefail
secs=${1:-60}; shift || true
cd "$(dirname "$0")/../.."
make -s build/gen/builtin_profiles.c build/gen/seccomp_default.c
out=build/fuzz; mkdir -p "$out"
pkgs="libarchive jansson libcrypto libseccomp libcap libelf zlib libzstd"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -I. $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs)"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || for t in tests/fuzz/fuzz_*.c; do n=$(basename "$t" .c); targets+=("${n#fuzz_}"); done
for name in "${targets[@]}"; do
	clang $flags -o "$out/fuzz_$name" "tests/fuzz/fuzz_$name.c" tests/unit/helpers.c base/*.c image/*.c slimmer/*.c \
		tracer/*.c build/gen/builtin_profiles.c build/gen/seccomp_default.c $libs
done
jobs=${JOBS:-$(nproc)}
run_one() {
	local name=$1 corpus=tests/fuzz/corpus/$1
	mkdir -p "$corpus"
	(cd "$out" && "./fuzz_$name" -max_total_time="$secs" -max_len=65536 -print_final_stats=1 \
		"$OLDPWD/$corpus") >"$out/fuzz_$name.log" 2>&1
	echo "$name: exit $? ($(grep -E '^stat::number_of_executed_units' "$out/fuzz_$name.log" | awk '{print $2}') runs," \
		"$(grep -oE 'cov: [0-9]+' "$out/fuzz_$name.log" | tail -1), corpus $(ls "$corpus" | wc -l))"
}
export -f run_one; export out secs
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
