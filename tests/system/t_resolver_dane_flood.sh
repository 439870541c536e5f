#!/bin/bash
# t_resolver_dane_flood.sh - issue 16 "Bounds": a flood of new names whose DNS never
# answers, with DANE on (the default), must not starve the domains whose policy is cached.
#
# Lab: ldns-testns serves the enforce domains cached.test, a.test and new1.test (every other
# name NXDOMAIN, SOA minimum 60 s); dnsdrop.py sits between mtastsd and it and drops every
# query under .flood.test (a zone whose nameservers never answer). mtastsd: the shipped
# unit's 1024 descriptors (soft and hard); caps smaller than the defaults so that 100
# connections fill them: dns_concurrency 32 (16 queries in flight per DNS client, the
# others wait in its FIFO, at most DNS_WAIT_MAX), max_discoveries 64 (for the MTA-STS
# discoveries and, counted apart, for the DANE jobs of lookups); zone timeout 2 s, DNS
# timeout 3 s (a query outlives the lookup that asked: without the fix, the DANE jobs of
# the flood piled up in the DNS FIFO).
# cached.test and a.test are looked up first: their policies are cached, and their DANE
# result (none: NXDOMAIN, 60 s) too. A flood of distinct *.flood.test names (100
# connections, rounds of FLOOD_NAMES names, each round new names) then runs past the
# expiry of those DANE results (FLOOD_S > 60 s), while:
#  - every lookup of cached.test and a.test answers secure (before the fix, once their DANE
#    result expired, they were TEMP "DANE lookup not finished": the refresh waited behind
#    the flood's queries in an unbounded DNS queue);
#  - the daemon's VmRSS stays under RSS_MAX_KB (plain builds; see docs/cache.md
#    "Overload" for the measured values);
# then the flood stops, and a domain never looked up (new1.test) resolves secure.
# Flood lookups are TEMP (no policy, DANE not finished: DANE might protect them), never OK.
. "$(dirname "$0")/lib.sh"

need_cmd python3 prlimit ldns-testns certtool postmap

FLOOD_NAMES=5000
FLOOD_ROUNDS_MAX=1000
FLOOD_CONNS=${FLOOD_CONNS:-100}
FLOOD_S=${FLOOD_S:-75} # the flood's length: past the 60 s DANE lifetime of the cached domains
RSS_MAX_KB=${RSS_MAX_KB:-40000}
DNS_CONC=${DNS_CONC:-32} # 16 queries in flight per DNS client: the flood's 100 connections fill them
MAX_DISC=${MAX_DISC:-64} # and this cap (each half's), so that the flood reaches both
CACHED="cached.test a.test"

lab_ports
PROXY=$(free_port both)
lab_enforce 1 cached.test a.test new1.test
start_bg dnsdrop python3 "$SRC_DIR/tests/system/hostile/dnsdrop.py" "$PROXY" "$DNS" \
	.flood.test "$T/dnsdrop.count"
wait_file "$T/dnsdrop.count"

RES_VERBOSITY=0 RES_ZONE_TIMEOUT=2s RES_DNS_TIMEOUT=3s \
	resolver_conf "$T/mtastsd.conf" "$SM" "$PROXY" "$HTTPS" \
	"dns_concurrency = $DNS_CONC; max_discoveries = $MAX_DISC;"
start_bg mtastsd prlimit --nofile=1024:1024 "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$SM"
PID=$(cat "$T/mtastsd.pid")

sec() { pm_ok "secure match=mail.$1 servername=hostname"; }
# shellcheck disable=SC2317 # called through wait_for
is_sec() { [ "$(pm "$SM" postfix "$1")" = "$(sec "$1")" ]; }
for d in $CACHED; do
	wait_for "$LIVE_S" is_sec "$d" || true
	check "$d cached as enforce" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
done
RSS0=$(vmrss_kb "$PID")

# ---- the flood: new distinct names each round, until the stop file or FLOOD_ROUNDS_MAX
start_bg flood python3 "$SRC_DIR/tests/system/hostile/sm_flood.py" "$SM" 'r{r}-n{i}.flood.test' \
	"$FLOOD_NAMES" "$FLOOD_CONNS" "$FLOOD_ROUNDS_MAX" "$T/flood.stop"

# ---- while it runs: the cached domains answered, RSS sampled
rss_max=$RSS0
bad=0
asked=0
t0=$(date +%s)
while [ $(($(date +%s) - t0)) -lt "$FLOOD_S" ]; do
	for d in $CACHED; do
		a=$(pm "$SM" postfix "$d")
		asked=$((asked + 1))
		if [ "$a" != "$(sec "$d")" ]; then
			bad=$((bad + 1))
			say "     $d during the flood: $a"
		fi
	done
	rss=$(vmrss_kb "$PID")
	[ "$rss" -gt "$rss_max" ] && rss_max=$rss
	sleep 0.5
done
touch "$T/flood.stop"
wait_for "$LIVE_S" grep -q '^lookups=' "$T/flood.log" || die "the flood never ended"
flood=$(grep '^lookups=' "$T/flood.log")
say "     flood: $flood; DNS proxy: $(cat "$T/dnsdrop.count")"
say "     VmRSS: $RSS0 kB at rest, at most $rss_max kB during the flood (bound $RSS_MAX_KB kB)"
check "cached domains answered secure during the flood ($asked lookups)" 0 "$bad"
check_match "flood: several thousand names, none answered OK" \
	'^lookups=([0-9]{4,}) notfound=[0-9]+ temp=[0-9]+ ok=0 other=0 rounds=[0-9]+$' "$flood"
check_match "the flood's queries were dropped" '^dropped=[1-9][0-9]{2,} ' \
	"$(cat "$T/dnsdrop.count")"
check_match "the DANE cap was reached, and logged rate-limited" \
	'DANE too many jobs in flight: [0-9]+ lookup\(s\) answered as timed out' \
	"$(cat "$T/mtastsd.log")"
n_fail=$(grep -c 'temporary failure discovering the MTA-STS policy' "$T/mtastsd.log" || true)
check "discovery failure warnings rate-limited (at most one per 10 s)" yes \
	"$([ "$n_fail" -le $((FLOOD_S / 10 + 4)) ] && echo yes || echo "no ($n_fail lines)")"
if [ "$ASAN_BUILD" = 0 ]; then
	check "VmRSS during the flood under $RSS_MAX_KB kB" yes \
		"$([ "$rss_max" -le "$RSS_MAX_KB" ] && echo yes || echo "no ($rss_max kB)")"
fi

# ---- after the flood: a domain never seen resolves, the cached ones still answer
wait_for "$LIVE_S" is_sec new1.test || true
check "new1.test after the flood" "$(sec new1.test)" "$(pm "$SM" postfix new1.test)"
for d in $CACHED; do
	check "$d after the flood" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
done
check "mtastsd still running" alive "$(alive mtastsd)"
finish
