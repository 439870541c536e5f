#!/usr/bin/env bash
# tests/lint/cppcheck.sh - cppcheck on the daemon sources (STYLE.md section 11)
#
# Usage: cppcheck.sh [SRC_DIR]     (default: the repository containing this script)
# Checks common/ resolver/ publisher/ cli/ daemon/ with --enable=warning,portability; any
# finding fails. Exit 77 (ctest: skipped) when cppcheck is not installed, 1 under CI (CI=true).
#
# Suppressions (each one with its reason; keep this list short):
#   missingIncludeSystem  we do not give cppcheck the system/library include paths (it
#                         does not need them, and parsing glibc/GnuTLS headers is slow).
# A single finding that is a false positive is silenced at its line with a comment
# naming the check and the reason: /* cppcheck-suppress <id> ; why */ on the line before.
set -eu
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src"
if ! command -v cppcheck >/dev/null 2>&1; then
	# Under CI (CI=true) the test command has installed it: missing is a failure there.
	if [ "${CI:-}" = true ]; then
		echo "FAIL: cppcheck.sh: cppcheck not installed (package cppcheck; CI=true: fails instead of skipping)"
		exit 1
	fi
	echo "SKIP: cppcheck.sh: cppcheck not installed (apt-get install cppcheck)"
	exit 77
fi
jobs=$(nproc 2>/dev/null || echo 1)
cppcheck --version
# The compile definitions mirror CMakeLists.txt (add_compile_definitions); each library's
# internal/ is its private include directory (docs/architecture.md, Layering).
internal=$(find common resolver publisher cli daemon -maxdepth 1 -type d -name internal \
	-printf '-I %p ')
# shellcheck disable=SC2086
cppcheck --enable=warning,portability --error-exitcode=1 --inline-suppr --quiet \
	--std=c11 --language=c -j"$jobs" \
	-D_GNU_SOURCE -DMTASTSD_VERSION='"0"' -DMTASTSD_SYSCONFDIR='"/etc"' \
	-I common -I resolver -I publisher -I tlsrpt -I cli -I daemon \
	$internal \
	--suppress=missingIncludeSystem \
	common resolver publisher tlsrpt cli daemon
echo "cppcheck.sh: clean"
