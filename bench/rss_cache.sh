#!/bin/bash
# bench/rss_cache.sh - mtastsd's RSS holding N cached policies, end to end (issue 21,
# docs/performance.md "Round 4: memory per cached policy")
#
# Usage: bash bench/rss_cache.sh [BUILD_DIR] [N]        (default build/, 100000)
#   Starts mtastsd as bench/rss_idle.sh does (resolver, one published domain, admin
#   endpoint; a temporary directory, loopback ports, no DNS or network use) with an empty
#   state directory and prints its idle VmRSS; stops it, writes N policies into the state
#   database it created (sqlite3: d<i>.example.net, a 32-character id, enforce,
#   "mail.d<i>.example.net" and "*.mx.d<i>.example.net", max_age 604800, fetched now: what
#   bench/cache_fill stores), starts it again, which loads them into its memory cache at
#   start (cache.max_entries is 100000 by default), and prints VmRSS, VmHWM and the
#   difference. Stops what it started (by PID) and removes its directory. Needs certtool,
#   curl and sqlite3. Every wait is bounded (60 s for a start, 10 s for a stop).
set -eu
. "$(dirname "$0")/rss_lab.sh"
B=${1:-build}
N=${2:-100000}
MT=$B/daemon/mtastsd
[ -x "$MT" ] || { echo "rss_cache: $MT not built" >&2; exit 2; }
case $N in '' | *[!0-9]*) echo "rss_cache: N must be 1..100000" >&2; exit 2 ;; esac
if [ "$N" -lt 1 ] || [ "$N" -gt 100000 ]; then
	echo "rss_cache: N must be 1..100000" >&2
	exit 2
fi
for c in certtool curl sqlite3; do
	command -v "$c" >/dev/null || { echo "rss_cache: needs $c" >&2; exit 2; }
done
T=$(mktemp -d /tmp/mtastsd-rsscache.XXXXXX)
MPID=
stop_mt() {
	[ -n "$MPID" ] || return 0
	kill "$MPID" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$MPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$MPID" 2>/dev/null || true
	wait "$MPID" 2>/dev/null || true
	MPID=
}
cleanup() {
	stop_mt
	rm -rf "$T"
}
trap cleanup EXIT

rss_lab_setup "$T"

# start_mt: start the daemon, wait (at most 60 s) until /status answers, then 2 s more.
start_mt() {
	"$MT" -f -c "$T/m.conf" >>"$T/mtastsd.log" 2>&1 &
	MPID=$!
	for _ in $(seq 300); do
		curl -sf "http://127.0.0.1:$ADM/status" >/dev/null 2>&1 && break
		kill -0 "$MPID" 2>/dev/null || { cat "$T/mtastsd.log" >&2; exit 1; }
		sleep 0.2
	done
	curl -sf "http://127.0.0.1:$ADM/status" >/dev/null || { echo "rss_cache: no /status" >&2; exit 1; }
	sleep 2
}
vm() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$MPID/status"; }
# heap: Rss (KiB) of the [heap] mapping and of anonymous mappings (malloc's mmapped blocks:
# the LRU buckets, the refresh heap's array).
heap() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { m = (NF >= 6 ? $6 : "anon") }
	     /^Rss:/ { if (m == "[heap]") h += $2; else if (m == "anon") a += $2 }
	     END { printf "heap_kb=%d anon_kb=%d", h, a }' "/proc/$MPID/smaps"
}

start_mt
IDLE=$(vm VmRSS)
IDLE_HEAP=$(heap)
stop_mt
[ -s "$T/state/state.db" ] || { echo "rss_cache: no state.db was created" >&2; exit 1; }
NOW=$(date +%s)
sqlite3 "$T/state/state.db" <<EOF
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $N - 1)
INSERT INTO sts_policy (domain, id, policy, fetched_at, expires_at)
SELECT 'd' || i || '.example.net', printf('20261130T0000z%018d', i),
       'version: STSv1' || char(13, 10) || 'mode: enforce' || char(13, 10) ||
       'mx: mail.d' || i || '.example.net' || char(13, 10) ||
       'mx: *.mx.d' || i || '.example.net' || char(13, 10) ||
       'max_age: 604800' || char(13, 10),
       $NOW, $NOW + 604800
FROM n;
EOF
start_mt
LOADED=$(grep -o '[0-9]* cached policies loaded' "$T/mtastsd.log" | tail -n 1 | cut -d' ' -f1)
RSS=$(vm VmRSS)
HWM=$(vm VmHWM)
echo "policies=$N loaded=${LOADED:-?} idle_rss_kb=$IDLE rss_kb=$RSS hwm_kb=$HWM" \
	"growth_kb=$((RSS - IDLE)) bytes_per_policy=$(((RSS - IDLE) * 1024 / N))"
echo "idle: $IDLE_HEAP; loaded: $(heap)"
