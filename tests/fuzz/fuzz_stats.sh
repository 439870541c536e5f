#!/usr/bin/env bash
# tests/fuzz/fuzz_stats.sh - summarise the runs of run_fuzzers.sh as a Markdown table
#
# Usage: fuzz_stats.sh BUILD_DIR    (reads BUILD_DIR/fuzz-work/<x>/fuzz.log)
# Columns: target, seconds, executions, exec/s, coverage (edges) at start and end, features,
# peak RSS, merged corpus files/bytes, crash/leak/timeout/oom artifacts.
set -eu
work=$1/fuzz-work
echo "| target | s | execs | exec/s | cov start -> end | ft | peak RSS MB | merged corpus | artifacts |"
echo "|---|---|---|---|---|---|---|---|---|"
for d in "$work"/*/; do
	t=$(basename "$d")
	l=$d/fuzz.log
	[ -f "$l" ] || continue
	stat() { grep -E "^stat::$1:" "$l" | awk '{print $2}'; }
	c0=$(grep -m1 -oE 'INITED cov: [0-9]+' "$l" | awk '{print $3}')
	c1=$(grep -oE '(DONE|pulse|NEW|REDUCE) +cov: [0-9]+' "$l" | tail -1 | awk '{print $3}')
	ft=$(grep -oE 'ft: [0-9]+' "$l" | tail -1 | awk '{print $2}')
	secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$l" | awk '{print $5}')
	files=$(find "$d/merged" -type f | wc -l)
	bytes=$(find "$d/merged" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
	arts=$(find "$d" -maxdepth 1 -type f -regextype egrep -regex '.*/(crash|leak|timeout|oom)-.*' | wc -l)
	echo "| $t | ${secs:-?} | $(stat number_of_executed_units) | $(stat average_exec_per_sec) | ${c0:-?} -> ${c1:-?} | ${ft:-?} | $(stat peak_rss_mb) | $files / $bytes B | $arts |"
done
