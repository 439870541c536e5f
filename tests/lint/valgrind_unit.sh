#!/usr/bin/env bash
# tests/lint/valgrind_unit.sh - the unit tests and the fuzz-corpus replays under memcheck
#
# Usage: valgrind_unit.sh BUILD_DIR [CORPUS_DIR]
# Runs every unit test executable (BUILD_DIR/tests/test_*) under
#   valgrind --error-exitcode=1 --leak-check=full
# and, when CORPUS_DIR is given, every fuzz_<x>_replay on CORPUS_DIR/<x>/ the same way
# (uninitialised reads that ASan cannot see). Any memcheck error or definite/indirect leak
# fails; the first lines of each failing log are printed.
# Plain (non-sanitizer) builds only: valgrind cannot run ASan binaries, so a sanitizer
# build, or a missing valgrind, exits 77 (ctest: skipped); a missing valgrind fails under CI
# (CI=true), where the test command has installed it.
# Suppressions: tests/lint/valgrind.supp (library noise only, each entry explained there).
# Skipped executables (VALGRIND_SKIP, space-separated, overridable from the environment):
# tests whose assertions race wall-clock deadlines against a helper process (fake_https
# with fetch timeouts). Under memcheck's 20-50x slowdown they fail on timing, not on
# memory. They run under ASan+UBSan in the sanitizer build instead. Tests on the fake clock
# (loop_new_fake(), e.g. test_sm_server) have no such race (docs/static-analysis.md).
set -eu
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [CORPUS_DIR]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
corpus=""
if [ $# -ge 2 ]; then
	corpus=$(cd "$2" && pwd)
fi
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v valgrind >/dev/null 2>&1; then
	# Under CI (CI=true) the test command has installed it: missing is a failure there.
	if [ "${CI:-}" = true ]; then
		echo "FAIL: valgrind_unit.sh: valgrind not installed (package valgrind; CI=true: fails instead of skipping)"
		exit 1
	fi
	echo "SKIP: valgrind_unit.sh: valgrind not installed (apt-get install valgrind)"
	exit 77
fi
if grep -qE '^SANITIZE:BOOL=ON|^FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
	echo "SKIP: valgrind_unit.sh: $build is a sanitizer build (valgrind cannot run it)"
	exit 77
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
vg="valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
--show-leak-kinds=definite,indirect --track-origins=yes --suppressions=$here/valgrind.supp"
failed=""
n=0
skip=" ${VALGRIND_SKIP-test_https_fetch} "

run() { # name, then the command
	local name=$1
	shift
	n=$((n + 1))
	# shellcheck disable=SC2086
	# A per-executable bound, so one hang cannot eat the whole ctest TIMEOUT.
	if timeout --kill-after=10 "${VALGRIND_TIMEOUT:-600}" \
		$vg --log-file="$logs/$name.vg" "$@" >"$logs/$name.out" 2>&1; then
		echo "ok    $name"
	else
		echo "FAIL  $name (exit $?)"
		failed="$failed $name"
		head -60 "$logs/$name.vg"
		tail -20 "$logs/$name.out"
	fi
}

cd "$build/tests" # the working directory ctest gives the unit tests
for t in "$build"/tests/test_*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	case $skip in *" $(basename "$t") "*)
		echo "skip  $(basename "$t") (timing-dependent, see VALGRIND_SKIP)"
		continue ;;
	esac
	run "$(basename "$t")" "$t"
done
if [ -n "$corpus" ]; then
	for r in "$build"/tests/fuzz/fuzz_*_replay; do
		[ -x "$r" ] || continue
		x=$(basename "$r" _replay)
		x=${x#fuzz_}
		[ -d "$corpus/$x" ] || continue
		run "$(basename "$r")" "$r" "$corpus/$x"
	done
fi
if [ "$n" -eq 0 ]; then
	echo "valgrind_unit.sh: no test executables under $build/tests" >&2
	exit 1
fi
if [ -n "$failed" ]; then
	echo "valgrind_unit.sh: FAILED:$failed"
	exit 1
fi
echo "valgrind_unit.sh: $n executables clean"
