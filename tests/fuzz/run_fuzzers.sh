#!/usr/bin/env bash
# tests/fuzz/run_fuzzers.sh - run the libFuzzer targets one after the other, then minimise
#
# Usage: run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]
#   BUILD_DIR: a build configured with CC=clang -DFUZZ=ON (has tests/fuzz/fuzz_<x>).
#   SECONDS:   -max_total_time per target. TARGET: names like sts_policy (default: all built).
# Each target starts from the committed corpus tests/fuzz/corpus/<x>/ and works in
# BUILD_DIR/fuzz-work/<x>/ (new inputs, crash-* artifacts, fuzz.log). At the end the new
# inputs are merged (-merge=1, coverage-minimising) into BUILD_DIR/fuzz-work/<x>/merged/;
# copy what is worth keeping into the committed corpus by hand (docs/fuzzing.md).
# Runs under nice -n 19, one process at a time (the machine is shared).
set -eu
build=$(cd "$1" && pwd)
secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/fuzz
export LSAN_OPTIONS=suppressions=$here/lsan.supp:print_suppressions=0
if [ $# -eq 0 ]; then
	set -- $(cd "$bin" && ls fuzz_* | grep -v '_replay$' | sed 's/^fuzz_//')
fi
for t in "$@"; do
	work=$build/fuzz-work/$t
	mkdir -p "$work/new" "$work/merged"
	echo "== fuzz_$t for ${secs}s"
	# -rss_limit_mb: a parser that balloons memory is a finding; -timeout: one input > 10 s
	# is a hang. A crash stops this target (exit status kept in the log), not the loop.
	nice -n 19 "$bin/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
		-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$work/" \
		"$work/new" "$here/corpus/$t" >"$work/fuzz.log" 2>&1 || echo "fuzz_$t: exit $?"
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^#[0-9]+.*DONE|ERROR' \
		"$work/fuzz.log" || true
	nice -n 19 "$bin/fuzz_$t" -merge=1 "$work/merged" "$here/corpus/$t" "$work/new" \
		>"$work/merge.log" 2>&1 || echo "fuzz_$t: merge exit $?"
	echo "merged corpus: $(ls "$work/merged" | wc -l) files; crashes: $(ls "$work" | grep -cE '^(crash|leak|timeout|oom)-' || true)"
done
