#!/usr/bin/env bash
# scripts/skipped.sh BUILD_DIR: after a ctest run in BUILD_DIR, print the reason of each
# skipped test. ctest shows a test that exited 77 as "Skipped" but not why; the test said
# why in a "SKIP: <test>: <reason>" line of its output (tests/system/lib.sh skip,
# tests/unit/testutil.h tu_skip), which ctest keeps in Testing/Temporary/LastTest.log.
set -eu
log=${1:?usage: skipped.sh BUILD_DIR}/Testing/Temporary/LastTest.log
[ -f "$log" ] || exit 0
awk '/^[0-9]+\/[0-9]+ Testing: / { name = $3 }
	/^SKIP: / { sub(/^SKIP: /, ""); print "Skipped " name ": " $0 }' "$log"
