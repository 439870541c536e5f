#!/bin/bash
# t_resolver_tarpit.sh - issue 16 part 2: a tarpit policy host behind a wildcard zone.
#
# Lab: unbound answers "_mta-sts.<anything>.tarpit.test" TXT with one STSv1 record (a
# redirect zone: wildcard DNS) and the five real domains r1..r5.test; every policy fetch goes
# to tarpit_front.py, which accepts the TLS connections for *.tarpit.test and never answers
# (a tarpit), and passes the real domains through to fake_https. The real policies have
# max_age 20 s and refresh_before 10 s, so they are refreshed about every 10 s and expire
# if a refresh is 10 s late. mtastsd runs with 1024 descriptors, soft and hard (the unit's
# soft limit, and no room to raise it: the worst case of LimitNOFILE=1024:65536, whose hard
# limit the daemon raises to) and its default discovery caps (max_discoveries
# 512, fetch_queue_max 256, fetch_concurrency 64), fetch_timeout 3 s.
# A flood of 10 000 distinct *.tarpit.test names (64 connections, zone timeout 1 s: more
# lookups than the tarpit drains, so the caps fill; the round repeated until the test is
# done, at most 20 rounds) runs while:
#  - every real domain is refreshed twice more (fetch count 3; liveness bound), and every
#    lookup of them during the flood answers secure (a policy that expired would be a miss,
#    answered NOTFOUND over the caps);
#  - the daemon's VmRSS stays under RSS_MAX_KB (plain builds; measured 2026-12 over four
#    runs, one under stress-ng: 15.0-15.1 MB at rest, at most 30.6-31.0 MB during the
#    flood; the 60 MB bound is about twice that; docs/cache.md "Overload");
#  - every flood lookup is answered NOTFOUND (over the caps: as a lookup that timed out),
#    the rejections are counted in the log, and the tarpit really held connections.
. "$(dirname "$0")/lib.sh"

need_cmd python3 prlimit unbound certtool postmap

NAMES=10000
ROUNDS_MAX=20
CONNS=64
REAL="r1.test r2.test r3.test r4.test r5.test"
RSS_MAX_KB=${RSS_MAX_KB:-60000}
REFRESH_LIVE_S=200 # liveness bound of the refresh wait: 2 refreshes take about 20 s

UB=$(free_port both)
FRONT=$(free_port tcp)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www

# ---- DNS: the real domains, and the wildcard tarpit zone
{
	cat <<EOF
server:
	interface: 127.0.0.1@$UB
	access-control: 127.0.0.0/8 allow
	chroot: ""
	username: ""
	pidfile: ""
	directory: "$T"
	use-syslog: no
	logfile: ""
	verbosity: 0
	module-config: "iterator"
	do-ip6: no
	num-threads: 1
	so-reuseport: no
	local-zone: "test." static
	local-zone: "tarpit.test." redirect
	local-data: 'tarpit.test. 60 IN TXT "v=STSv1; id=tar1;"'
EOF
	for d in $REAL; do
		printf "\tlocal-data: '_mta-sts.%s. 60 IN TXT \"v=STSv1; id=%s1;\"'\n" "$d" "${d%%.*}"
	done
	printf 'remote-control:\n\tcontrol-enable: no\n'
} >"$T/unbound.conf"
start_bg unbound unbound -d -c "$T/unbound.conf"
wait_tcp "$UB"

# ---- HTTPS: the real policies behind the tarpit front
make_ca
# shellcheck disable=SC2046 # one word per name
make_cert www $(for d in $REAL; do printf 'mta-sts.%s ' "$d"; done)
for d in $REAL; do
	policy_put "$WWW" "$d" "version: STSv1\\nmode: enforce\\nmx: mail.$d\\nmax_age: 20\\n"
done
fake_https_start www "$HTTPS" www "$WWW"
start_bg front python3 "$SRC_DIR/tests/system/hostile/tarpit_front.py" "$FRONT" "$HTTPS" \
	.tarpit.test "$T/front.count"
wait_tcp "$FRONT"

# ---- mtastsd: the shipped unit's descriptor limit, default caps, short lab timers
RES_FETCH_TIMEOUT=3s RES_ZONE_TIMEOUT=1s RES_VERBOSITY=1 \
	resolver_conf "$T/mtastsd.conf" "$SM" "$UB" "$FRONT" 'refresh_before = "10s";'
start_bg mtastsd prlimit --nofile=1024:1024 "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$SM"
PID=$(cat "$T/mtastsd.pid")
check "RLIMIT_NOFILE of the daemon (1024, nothing to raise it to)" 1024 \
	"$(awk '/^Max open files/ { print $4 }' "/proc/$PID/limits")"

sec() { pm_ok "secure match=mail.$1 servername=hostname"; }
# (a first lookup slower than the 1 s zone timeout is NOTFOUND; its discovery goes on)
# shellcheck disable=SC2317 # called through wait_for
is_sec() { [ "$(pm "$SM" postfix "$1")" = "$(sec "$1")" ]; }
for d in $REAL; do
	wait_for "$LIVE_S" is_sec "$d" || true
	check "$d cached as enforce" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
done
RSS0=$(vmrss_kb "$PID")

# ---- the flood: NAMES distinct tarpit names per round, CONNS connections, until stopped
start_bg flood python3 "$SRC_DIR/tests/system/hostile/sm_flood.py" "$SM" 't{i}.tarpit.test' "$NAMES" \
	"$CONNS" "$ROUNDS_MAX" "$T/flood.stop"

# ---- while it runs: the real domains answered and refreshed, RSS sampled
rss_max=$RSS0
bad=0
asked=0
refreshed() {
	local d
	for d in $REAL; do [ "$(fetch_count www "mta-sts.$d")" -ge 3 ] || return 1; done
}
t0=$(date +%s)
while ! refreshed && [ $(($(date +%s) - t0)) -lt "$REFRESH_LIVE_S" ]; do
	for d in $REAL; do
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
for d in $REAL; do
	check_match "$d refreshed twice during the flood (fetched 3+ times)" '^([3-9]|[1-9][0-9]+)$' \
		"$(fetch_count www "mta-sts.$d")"
done
check "real domains answered secure during the flood ($asked lookups)" 0 "$bad"
wait_for "$LIVE_S" grep -q '^lookups=' "$T/flood.log" || die "the flood never ended"
flood=$(grep '^lookups=' "$T/flood.log")
say "     flood: $flood; tarpit front: $(cat "$T/front.count")"
say "     VmRSS: $RSS0 kB at rest, at most $rss_max kB during the flood (bound $RSS_MAX_KB kB)"
check_match "flood: every lookup NOTFOUND" '^lookups=([0-9]+) notfound=\1 temp=0 ok=0 other=0 rounds=[1-9]' \
	"$flood"
check_match "flood: at least one full round of $NAMES names" \
	'^lookups=([1-9][0-9]{4,}) ' "$flood"
check_match "the tarpit held connections" '^held=[1-9][0-9]+ ' "$(cat "$T/front.count")"
check_match "over-cap lookups counted in the log" \
	'lookup\(s\) answered as timed out since the last report' "$(cat "$T/mtastsd.log")"
if [ "$ASAN_BUILD" = 0 ]; then
	check "VmRSS during the flood under $RSS_MAX_KB kB" yes \
		"$([ "$rss_max" -le "$RSS_MAX_KB" ] && echo yes || echo "no ($rss_max kB)")"
fi
for d in $REAL; do
	check "$d after the flood" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
done
check "mtastsd still running" alive "$(alive mtastsd)"
finish
