#!/usr/bin/env bash
# Install what is needed, then build twice (plain with -Werror, and with ASan+UBSan) and run
# every test (unit, system, fuzz-corpus replay) in both builds. Before them, a clang -Werror
# build with the libFuzzer targets (-DFUZZ=ON) checks that the code and the fuzzers compile
# under clang too and replays the fuzz corpora through them. Any failure fails the script.
set -eu
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh test

echo "== format check (clang-format)"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find common resolver publisher daemon tests bench -name '*.[ch]')
# shellcheck disable=SC2086
clang-format --dry-run -Werror $files

jobs=$(nproc)
# run_ctest BUILD ARGS...: ctest in BUILD, then why each skipped test was skipped (ctest
# shows only "Skipped"); returns ctest's status. Under CI (CI=true) a test whose peer is
# missing fails instead of skipping (tests/system/lib.sh need_cmd).
run_ctest() {
	local b=$1 rc=0
	shift
	ctest --test-dir "$b" "$@" || rc=$?
	bash scripts/skipped.sh "$b"
	return "$rc"
}
echo "== clang build (-Werror, libFuzzer targets; fuzz corpora replayed)"
CC=clang cmake -S . -B build-clang -DWERROR=ON -DFUZZ=ON -DMTASTSD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-clang -j"$jobs"
run_ctest build-clang --output-on-failure -j"$jobs" -L fuzz

echo "== plain build"
cmake -S . -B build -DWERROR=ON -DMTASTSD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
run_ctest build --output-on-failure -j"$jobs" --timeout 300

echo "== ASan+UBSan build"
cmake -S . -B build-asan -DWERROR=ON -DMTASTSD_TESTS=ON -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_ctest build-asan --output-on-failure -j"$jobs" --timeout 300
echo "== all tests passed in both builds"
