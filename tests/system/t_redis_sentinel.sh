#!/bin/bash
# t_redis_sentinel.sh - the shared cache found through Redis Sentinel follows a failover.
#
# Lab: two redis-server (primary P, replica Q with replicaof P) and one redis-sentinel
# (quorum 1, down-after 1 s, failover-timeout 5 s), all on 127.0.0.1; ldns-testns +
# fake_https for the policies; one mtastsd with cache.redis.sentinels / master_name.
#  1. mtastsd finds P through the Sentinel: a lookup answers right and its value key is on P.
#  2. SENTINEL FAILOVER promotes Q while postmap lookups (new and cached domains) run: zero
#     wrong replies; the daemon follows Q through its periodic Sentinel check (logged as an
#     outage "Sentinel names Q as the master now"), not only once the Sentinel converts P
#     about 10 s later (P is still a master until then: writes that went on to P would be
#     lost), and a new domain is written to Q.
#  3. once P replicates Q, Q is stopped (SIGSTOP): the Sentinel sees it down and promotes
#     P; postmap lookups made from the stop on answer right (the first uncached ones wait
#     for the command timeout, then the tier is down and they fetch directly), and new
#     domains are written to P again.
#  4. the Sentinel stalled (SIGSTOP), then stopped: the daemon's periodic checks fail
#     quietly, it keeps using P (no outage) and writes new domains there.
#  The daemon is alive at the end, and its log has no sanitizer report.
# No check depends on speed: waits are liveness bounds (LIVE_S, lib.sh), and what used to be
# "within 5 s of the switch" is now which path the daemon took (its logs).
. "$(dirname "$0")/lib.sh"

need_cmd redis-server redis-sentinel redis-cli postmap certtool ldns-testns

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
P=$(free_port tcp)
Q=$P
while [ "$Q" = "$P" ]; do Q=$(free_port tcp); done
S=$P
while [ "$S" = "$P" ] || [ "$S" = "$Q" ]; do S=$(free_port tcp); done
WWW=$T/www
NAME=mtm
PREFIX=sent
CMD_TIMEOUT_MS=300
NLOAD=20       # l<k>.test / m<k>.test: domains of the lookup loops (each asked 2-3 times)
NFRESH=8       # f<k>.test / g<k>.test: new domains, one per try, to see where writes go

rcli() { redis-cli -p "$1" "${@:2}"; }
# role PORT: "master", "slave", or "" when the server does not answer
role() { timeout 10 redis-cli -p "$1" role 2>/dev/null | head -n 1 || true; }
# sentinel_master: "ip:port" of the primary the Sentinel names now
sentinel_master() {
	timeout 10 redis-cli -p "$S" sentinel get-master-addr-by-name "$NAME" 2>/dev/null |
		paste -sd: || true
}
# sentinel_replica_ok PORT: 0 when the Sentinel lists 127.0.0.1:PORT as a healthy replica
sentinel_replica_ok() {
	timeout 10 redis-cli -p "$S" sentinel replicas "$NAME" 2>/dev/null |
		awk -v n="127.0.0.1:$1" '$0 == "name" { getline; cur = $0 }
			$0 == "flags" { getline; if (cur == n && $0 == "slave") ok = 1 }
			END { exit !ok }'
}
# link_up PORT: 0 when the replica on PORT has its link to the primary up
link_up() {
	timeout 10 redis-cli -p "$1" info replication 2>/dev/null | tr -d '\r' |
		grep -qx 'master_link_status:up'
}
pong() { [ "$(rcli "$1" ping 2>/dev/null)" = PONG ]; }
# has_key PORT DOMAIN: 0 when DOMAIN's value key exists on the server on PORT
has_key() { [ "$(rcli "$1" exists "$(key "$2")" 2>/dev/null)" = 1 ]; }
is_master_addr() { [ "$(sentinel_master)" = "127.0.0.1:$1" ]; }
# sentinel_checks_failed: the daemon's periodic Sentinel checks that failed (debug lines)
sentinel_checks_failed() {
	grep -c "cache.redis: Sentinel 127.0.0.1:$S: .*; still using" "$T/mtastsd.log" || true
}
checks_failed_over() { [ "$(sentinel_checks_failed)" -gt "$1" ]; }
# redis_start NAME PORT [ARGS...]: a redis-server working in $T/NAME (a replica writes the
# RDB it receives there, and a server loads dump.rdb from its directory at start)
redis_start() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$T/$name"
	start_bg "$name" redis-server --port "$port" --bind 127.0.0.1 --dir "$T/$name" \
		--save '' --appendonly no --repl-diskless-sync-delay 0 \
		--replica-announce-ip 127.0.0.1 "$@"
	wait_tcp "$port"
	wait_for "$LIVE_S" pong "$port" ||
		die "redis-server on $port does not answer PING"
}
# enf DOMAIN: postmap's value for an enforce policy with mx mail.DOMAIN
enf() { printf 'secure match=mail.%s servername=hostname' "$1"; }
key() { printf '%s:v1:sts:%s' "$PREFIX" "$1"; }
# load PREFIX COUNT: COUNT postmap lookups of PREFIX<k>.test (k = 1..NLOAD, round robin),
# one line per wrong reply into $T/load.PREFIX.bad, the number made into $T/load.PREFIX.n
load() {
	local p=$1 n=$2 i d out rc
	: >"$T/load.$p.bad"
	for i in $(seq 1 "$n"); do
		d="$p$(((i - 1) % NLOAD + 1)).test"
		rc=0
		out=$(postmap -q "$d" "socketmap:inet:127.0.0.1:$SM:postfix" 2>"$T/load.$p.err") ||
			rc=$?
		[ "$rc" = 0 ] && [ "$out" = "$(enf "$d")" ] ||
			echo "$d: rc=$rc out=[$out] err=[$(cat "$T/load.$p.err")]" >>"$T/load.$p.bad"
		echo "$i" >"$T/load.$p.n"
	done
}
# follow PREFIX PORT: look up new domains PREFIX1.test, PREFIX2.test... until one's value
# key appears on PORT (waiting up to LIVE_S / NFRESH for each), at most NFRESH of them;
# prints the number of tries and the ms since $switch_ms, or "none". Wrong replies go to
# $T/follow.PREFIX.bad.
follow() {
	local p=$1 port=$2 k d out
	: >"$T/follow.$p.bad"
	for k in $(seq 1 "$NFRESH"); do
		d="$p$k.test"
		out=$(pm "$SM" postfix "$d")
		[ "$out" = "$(pm_ok "$(enf "$d")")" ] || echo "$d: $out" >>"$T/follow.$p.bad"
		if wait_for $((LIVE_S / NFRESH)) has_key "$port" "$d"; then
			echo "$k $(($(date +%s%3N) - switch_ms))"
			return 0
		fi
	done
	echo none
}

# ---- lab: DNS, policies, redis P + Q, Sentinel ---------------------------------------------
make_ca
names=(a.test h1.test h2.test)
for i in $(seq 1 $NLOAD); do names+=("l$i.test" "m$i.test"); done
for i in $(seq 1 $NFRESH); do names+=("f$i.test" "g$i.test"); done
make_cert www $(for n in "${names[@]}"; do printf 'mta-sts.%s ' "$n"; done)
for n in "${names[@]}"; do
	policy_put "$WWW" "$n" "$(policy_enforce "mail.$n")"
done
for n in "${names[@]}"; do
	testns_entry "_mta-sts.$n" NOERROR "\"v=STSv1; id=${n%%.*}x1\""
done >"$T/sent.testns"
testns_start dns "$DNS" "$T/sent.testns"
fake_https_start www "$HTTPS" www "$WWW"

redis_start redisP "$P"
redis_start redisQ "$Q" --replicaof 127.0.0.1 "$P"
wait_for "$LIVE_S" link_up "$Q" || die "replica $Q did not sync with $P"

# Sentinel rewrites its config file: it lives in $T. Everything announced as 127.0.0.1.
cat >"$T/sentinel.conf" <<EOC
port $S
bind 127.0.0.1
protected-mode no
daemonize no
dir $T
sentinel resolve-hostnames no
sentinel announce-hostnames no
sentinel announce-ip 127.0.0.1
sentinel announce-port $S
sentinel monitor $NAME 127.0.0.1 $P 1
sentinel down-after-milliseconds $NAME 1000
sentinel failover-timeout $NAME 5000
sentinel parallel-syncs $NAME 1
EOC
start_bg sentinel redis-sentinel "$T/sentinel.conf"
wait_tcp "$S"
wait_for "$LIVE_S" is_master_addr "$P" || die "Sentinel does not name $P: [$(sentinel_master)]"
wait_for "$LIVE_S" sentinel_replica_ok "$Q" || die "Sentinel does not know the replica $Q"

# ---- 1. mtastsd finds the primary through the Sentinel -------------------------------------
check "the primary starts empty" 0 "$(rcli "$P" dbsize)"
# zone timeout 30 s: a lookup that waits for a stalled primary's command timeout (300 ms)
# and then fetches is answered right, with room to spare on a loaded machine
RES_ZONE_TIMEOUT=30s resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
cat >>"$T/mtastsd.conf" <<EOC
cache = {
	backend = "redis";
	redis = {
		sentinels = [ "127.0.0.1:$S" ];
		master_name = "$NAME";
		prefix = "$PREFIX";
		command_timeout = "${CMD_TIMEOUT_MS}ms";
		connect_timeout = "500ms";
	};
};
EOC
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"
wait_log mtastsd "cache.redis: connected to 127.0.0.1:$P " || die "mtastsd did not connect to $P"
check "connected to the primary the Sentinel names" 1 \
	"$(grep -c "cache.redis: connected to 127.0.0.1:$P " "$T/mtastsd.log")"
check "a.test answered" "$(pm_ok "$(enf a.test)")" "$(pm "$SM" postfix a.test)"
check "a.test fetched once" 1 "$(fetch_count www mta-sts.a.test)"
wait_for "$LIVE_S" has_key "$P" a.test || true
check "a.test written to the primary P" 1 "$(rcli "$P" exists "$(key a.test)")"
check "a.test value under the key schema" "mtastsd-cache 1|kind policy|id ax1" \
	"$(rcli "$P" get "$(key a.test)" | sed -n '1,3p' | paste -sd'|')"
wait_for "$LIVE_S" has_key "$Q" a.test || true
check "a.test replicated to Q" 1 "$(rcli "$Q" exists "$(key a.test)")"

# ---- 2. SENTINEL FAILOVER: Q promoted while lookups run -------------------------------------
load l 40 &
loadpid=$!
wait_for "$LIVE_S" test -s "$T/load.l.n" || true # the lookups have begun
# NOGOODSLAVE until the Sentinel has fresh INFO from Q: retried (LIVE_S)
failover_ok() { [ "$(rcli "$S" sentinel failover "$NAME" 2>&1 || true)" = OK ]; }
wait_for "$LIVE_S" failover_ok ||
	die "SENTINEL FAILOVER refused: $(rcli "$S" sentinel failover "$NAME" 2>&1 || true)"
wait_for "$LIVE_S" is_master_addr "$Q" || die "Sentinel did not switch to $Q: [$(sentinel_master)]"
switch_ms=$(date +%s%3N)
say "failover 1: Sentinel names 127.0.0.1:$Q; P is [$(role "$P")], Q is [$(role "$Q")]"
wait "$loadpid" || die "load loop failed"
check "failover 1: lookups made during the failover" 40 "$(cat "$T/load.l.n")"
check "failover 1: zero wrong replies" "" "$(head -n 5 "$T/load.l.bad")"
res=$(follow f "$Q")
say "failover 1: new domains looked up until one was on Q (tries, ms after the switch): $res"
check_match "failover 1: a new domain written to the new primary Q" '^[0-9]+ [0-9]+$' "$res"
check "failover 1: new domains answered right" "" "$(head -n 5 "$T/follow.f.bad")"
rc=0
wait_log mtastsd "cache.redis: Sentinel 127.0.0.1:$S names 127.0.0.1:$Q as master \"$NAME\" \\(was 127.0.0.1:$P\\), following it" || rc=$?
check "failover 1: the daemon logged that it follows Q" 0 "$rc"
# The periodic check found it (P still answered as a master): the daemon left P because the
# Sentinel names Q, not because P dropped its clients when the Sentinel converted it.
check_match "failover 1: ... through its periodic Sentinel check" \
	"cache.redis: 127.0.0.1:$P unavailable \(Sentinel names 127.0.0.1:$Q as the master now\)" \
	"$(cat "$T/mtastsd.log")"
rc=0
wait_log mtastsd "cache.redis: 127.0.0.1:$Q reachable again" || rc=$?
check "failover 1: the daemon logged the reconnection to Q" 0 "$rc"
bad=""
for k in $(seq 1 "$NLOAD"); do # after the failover, every answer still right
	d="l$k.test"
	out=$(pm "$SM" postfix "$d")
	[ "$out" = "$(pm_ok "$(enf "$d")")" ] || bad="$bad $d: $out;"
done
check "failover 1: l1..l$NLOAD.test answered right after the failover" "" "$bad"

# ---- 3. Q stopped: the Sentinel promotes P again ------------------------------------------
# The Sentinel converts P into a replica of Q (about 10 s after the switch: its INFO period).
wait_for "$LIVE_S" link_up "$P" || die "the Sentinel did not make P a replica of Q"
wait_for "$LIVE_S" sentinel_replica_ok "$P" || die "Sentinel does not list P as a healthy replica"
check "P replicates Q: a.test written before the failover is still there" 1 \
	"$(rcli "$P" exists "$(key a.test)")"
kill -STOP "$(cat "$T/redisQ.pid")"
load m 60 &
loadpid=$!
wait_for "$LIVE_S" is_master_addr "$P" || die "Sentinel did not switch back to $P: [$(sentinel_master)]"
switch_ms=$(date +%s%3N)
say "failover 2: Sentinel names 127.0.0.1:$P; P is [$(role "$P")]"
wait "$loadpid" || die "load loop failed"
check "failover 2: lookups made while Q was stopped" 60 "$(cat "$T/load.m.n")"
check "failover 2: zero wrong replies" "" "$(head -n 5 "$T/load.m.bad")"
res=$(follow g "$P")
say "failover 2: new domains looked up until one was on P (tries, ms after the switch): $res"
check_match "failover 2: a new domain written to the new primary P" '^[0-9]+ [0-9]+$' "$res"
check "failover 2: new domains answered right" "" "$(head -n 5 "$T/follow.g.bad")"
rc=0
wait_log mtastsd "cache.redis: Sentinel 127.0.0.1:$S names 127.0.0.1:$P as master \"$NAME\" \\(was 127.0.0.1:$Q\\), following it" || rc=$?
check "failover 2: the daemon logged that it follows P" 0 "$rc"
check "failover 2: m1.test after" "$(pm_ok "$(enf m1.test)")" "$(pm "$SM" postfix m1.test)"
kill -CONT "$(cat "$T/redisQ.pid")"

# ---- 4. the Sentinel stalled, then gone: the primary in use stays in use ------------------
warns=$(grep -c 'warning: cache.redis' "$T/mtastsd.log" || true)
# (a periodic check has failed on the stalled Sentinel before the lookups: polled, not slept)
f0=$(sentinel_checks_failed)
kill -STOP "$(cat "$T/sentinel.pid")"
wait_for "$LIVE_S" checks_failed_over "$f0" || true
check "Sentinel stalled: a periodic check failed (debug line)" yes \
	"$([ "$(sentinel_checks_failed)" -gt "$f0" ] && echo yes || echo no)"
check "Sentinel stalled: h1.test answered" "$(pm_ok "$(enf h1.test)")" "$(pm "$SM" postfix h1.test)"
wait_for "$LIVE_S" has_key "$P" h1.test || true
check "Sentinel stalled: h1.test written to P" 1 "$(rcli "$P" exists "$(key h1.test)")"
kill -CONT "$(cat "$T/sentinel.pid")"
stop_bg sentinel
f1=$(sentinel_checks_failed)
wait_for "$LIVE_S" checks_failed_over "$f1" || true
check "Sentinel gone: a periodic check failed (debug line)" yes \
	"$([ "$(sentinel_checks_failed)" -gt "$f1" ] && echo yes || echo no)"
check "Sentinel gone: h2.test answered" "$(pm_ok "$(enf h2.test)")" "$(pm "$SM" postfix h2.test)"
wait_for "$LIVE_S" has_key "$P" h2.test || true
check "Sentinel gone: h2.test written to P" 1 "$(rcli "$P" exists "$(key h2.test)")"
check "Sentinel stalled or gone: no outage logged" "$warns" \
	"$(grep -c 'warning: cache.redis' "$T/mtastsd.log" || true)"

check "mtastsd alive" alive "$(alive mtastsd)"
stop_bg mtastsd
check "no sanitizer report" 0 "$(grep -cE 'Sanitizer|runtime error' "$T/mtastsd.log" || true)"
finish
