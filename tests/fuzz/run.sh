#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan+UBSan) and run each for
# SECONDS, starting from (and adding to) the saved corpus.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")/../.."
out=build/fuzz; mkdir -p "$out"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 $(pkg-config --cflags libarchive jansson libcrypto)"
libs="$(pkg-config --libs libarchive jansson libcrypto)"
for t in tests/fuzz/fuzz_*.c; do
	name=$(basename "$t" .c)
	clang $flags -o "$out/$name" "$t" tests/unit/helpers.c slimmer/*.c $libs
	corpus=tests/fuzz/corpus/${name#fuzz_}
	mkdir -p "$corpus"
	"$out/$name" -max_total_time="$secs" -max_len=65536 "$corpus"
done
