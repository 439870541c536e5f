#!/bin/bash
# t_redis_sentinel.sh - the shared cache found through Redis Sentinel follows a failover.
#
# Lab: two redis-server (primary P, replica Q with replicaof P) and one redis-sentinel
# (quorum 1, down-after 1 s, failover-timeout 5 s), all on 127.0.0.1; ldns-testns +
# fake_https for the policies; one mtastsd with cache.redis.sentinels / master_name.
#  1. mtastsd finds P through the Sentinel: a lookup answers right and its value key is on P.
#  2. SENTINEL FAILOVER promotes Q while postmap lookups (new and cached domains) run: zero
#     wrong replies; the daemon logs that it follows Q, and a new domain is written to Q
#     within FOLLOW_MAX_S of the switch (P is still a master then, until the Sentinel
#     converts it about 10 s later: writes that went on to P would be lost).
#  3. once P replicates Q, Q is stopped (SIGSTOP): the Sentinel sees it down and promotes
#     P; postmap lookups made from the stop on answer right (the first uncached ones wait
#     for the command timeout, then the tier is down and they fetch directly), and new
#     domains are written to P again.
#  4. the Sentinel stalled (SIGSTOP), then stopped: the daemon's periodic checks fail
#     quietly, it keeps using P (no outage) and writes new domains there.
#  The daemon is alive at the end, and its log has no sanitizer report.
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
FOLLOW_MAX_S=5 # from the Sentinel's switch to a new domain's key on the new primary
NLOAD=20       # l<k>.test / m<k>.test: domains of the lookup loops (each asked 2-3 times)
NFRESH=8       # f<k>.test / g<k>.test: new domains, one per try, to see where writes go

rcli() { redis-cli -p "$1" "${@:2}"; }
# role PORT: "master", "slave", or "" when the server does not answer
role() { timeout 2 redis-cli -p "$1" role 2>/dev/null | head -n 1 || true; }
# sentinel_master: "ip:port" of the primary the Sentinel names now
sentinel_master() {
	timeout 2 redis-cli -p "$S" sentinel get-master-addr-by-name "$NAME" 2>/dev/null |
		paste -sd: || true
}
# sentinel_replica_ok PORT: 0 when the Sentinel lists 127.0.0.1:PORT as a healthy replica
sentinel_replica_ok() {
	timeout 2 redis-cli -p "$S" sentinel replicas "$NAME" 2>/dev/null |
		awk -v n="127.0.0.1:$1" '$0 == "name" { getline; cur = $0 }
			$0 == "flags" { getline; if (cur == n && $0 == "slave") ok = 1 }
			END { exit !ok }'
}
# link_up PORT: 0 when the replica on PORT has its link to the primary up
link_up() {
	timeout 2 redis-cli -p "$1" info replication 2>/dev/null | tr -d '\r' |
		grep -qx 'master_link_status:up'
}
# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 after SECONDS
wait_for() {
	local secs=$1 i
	shift
	for i in $(seq 1 $((secs * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
pong() { [ "$(rcli "$1" ping 2>/dev/null)" = PONG ]; }
# has_key PORT DOMAIN: 0 when DOMAIN's value key exists on the server on PORT
has_key() { [ "$(rcli "$1" exists "$(key "$2")" 2>/dev/null)" = 1 ]; }
is_master_addr() { [ "$(sentinel_master)" = "127.0.0.1:$1" ]; }
# wait_log ERE [SECONDS]: wait until the daemon's log has a line matching ERE
wait_log() { wait_for "${2:-10}" grep -Eq -- "$1" "$T/mtastsd.log"; }
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
	wait_for 5 pong "$port" ||
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
# key appears on PORT (waiting 1 s for each), at most NFRESH of them and no new one after
# FOLLOW_MAX_S; prints the number of tries and the ms since $switch_ms, or "none". Wrong
# replies go to $T/follow.PREFIX.bad.
follow() {
	local p=$1 port=$2 k d out
	: >"$T/follow.$p.bad"
	for k in $(seq 1 "$NFRESH"); do
		d="$p$k.test"
		out=$(pm "$SM" postfix "$d")
		[ "$out" = "$(pm_ok "$(enf "$d")")" ] || echo "$d: $out" >>"$T/follow.$p.bad"
		if wait_for 1 has_key "$port" "$d"; then
			echo "$k $(($(date +%s%3N) - switch_ms))"
			return 0
		fi
		[ $(($(date +%s%3N) - switch_ms)) -lt $((FOLLOW_MAX_S * 1000)) ] || break
	done
	echo none
}
# in_time "TRIES MS": 1 when follow found the key within FOLLOW_MAX_S, else 0
in_time() { [ "$1" != none ] && [ "${1#* }" -le $((FOLLOW_MAX_S * 1000)) ] && echo 1 || echo 0; }

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
wait_for 10 link_up "$Q" || die "replica $Q did not sync with $P"

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
wait_for 10 is_master_addr "$P" || die "Sentinel does not name $P: [$(sentinel_master)]"
wait_for 10 sentinel_replica_ok "$Q" || die "Sentinel does not know the replica $Q"

# ---- 1. mtastsd finds the primary through the Sentinel -------------------------------------
check "the primary starts empty" 0 "$(rcli "$P" dbsize)"
resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
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
wait_log "cache.redis: connected to 127.0.0.1:$P " 10 || die "mtastsd did not connect to $P"
check "connected to the primary the Sentinel names" 1 \
	"$(grep -c "cache.redis: connected to 127.0.0.1:$P " "$T/mtastsd.log")"
check "a.test answered" "$(pm_ok "$(enf a.test)")" "$(pm "$SM" postfix a.test)"
check "a.test fetched once" 1 "$(fetch_count www mta-sts.a.test)"
wait_for 2 has_key "$P" a.test || true
check "a.test written to the primary P" 1 "$(rcli "$P" exists "$(key a.test)")"
check "a.test value under the key schema" "mtastsd-cache 1|kind policy|id ax1" \
	"$(rcli "$P" get "$(key a.test)" | sed -n '1,3p' | paste -sd'|')"
wait_for 2 has_key "$Q" a.test || true
check "a.test replicated to Q" 1 "$(rcli "$Q" exists "$(key a.test)")"

# ---- 2. SENTINEL FAILOVER: Q promoted while lookups run -------------------------------------
load l 40 &
loadpid=$!
sleep 0.3
ok=""
for i in $(seq 1 20); do # NOGOODSLAVE until the Sentinel has fresh INFO from Q
	out=$(rcli "$S" sentinel failover "$NAME" 2>&1 || true)
	[ "$out" = OK ] && ok=1 && break
	sleep 0.25
done
[ -n "$ok" ] || die "SENTINEL FAILOVER refused: $out"
wait_for 15 is_master_addr "$Q" || die "Sentinel did not switch to $Q: [$(sentinel_master)]"
switch_ms=$(date +%s%3N)
say "failover 1: Sentinel names 127.0.0.1:$Q; P is [$(role "$P")], Q is [$(role "$Q")]"
wait "$loadpid" || die "load loop failed"
check "failover 1: lookups made during the failover" 40 "$(cat "$T/load.l.n")"
check "failover 1: zero wrong replies" "" "$(head -n 5 "$T/load.l.bad")"
res=$(follow f "$Q")
say "failover 1: new domains looked up until one was on Q (tries, ms after the switch): $res"
check "failover 1: a new domain written to the new primary Q within ${FOLLOW_MAX_S}s" 1 \
	"$(in_time "$res")"
check "failover 1: new domains answered right" "" "$(head -n 5 "$T/follow.f.bad")"
rc=0
wait_log "cache.redis: Sentinel 127.0.0.1:$S names 127.0.0.1:$Q as master \"$NAME\" \\(was 127.0.0.1:$P\\), following it" 5 || rc=$?
check "failover 1: the daemon logged that it follows Q" 0 "$rc"
rc=0
wait_log "cache.redis: 127.0.0.1:$Q reachable again" 5 || rc=$?
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
wait_for 20 link_up "$P" || die "the Sentinel did not make P a replica of Q"
wait_for 10 sentinel_replica_ok "$P" || die "Sentinel does not list P as a healthy replica"
check "P replicates Q: a.test written before the failover is still there" 1 \
	"$(rcli "$P" exists "$(key a.test)")"
kill -STOP "$(cat "$T/redisQ.pid")"
load m 60 &
loadpid=$!
wait_for 20 is_master_addr "$P" || die "Sentinel did not switch back to $P: [$(sentinel_master)]"
switch_ms=$(date +%s%3N)
say "failover 2: Sentinel names 127.0.0.1:$P; P is [$(role "$P")]"
wait "$loadpid" || die "load loop failed"
check "failover 2: lookups made while Q was stopped" 60 "$(cat "$T/load.m.n")"
check "failover 2: zero wrong replies" "" "$(head -n 5 "$T/load.m.bad")"
res=$(follow g "$P")
say "failover 2: new domains looked up until one was on P (tries, ms after the switch): $res"
check "failover 2: a new domain written to the new primary P within ${FOLLOW_MAX_S}s" 1 \
	"$(in_time "$res")"
check "failover 2: new domains answered right" "" "$(head -n 5 "$T/follow.g.bad")"
rc=0
wait_log "cache.redis: Sentinel 127.0.0.1:$S names 127.0.0.1:$P as master \"$NAME\" \\(was 127.0.0.1:$Q\\), following it" 5 || rc=$?
check "failover 2: the daemon logged that it follows P" 0 "$rc"
check "failover 2: m1.test after" "$(pm_ok "$(enf m1.test)")" "$(pm "$SM" postfix m1.test)"
kill -CONT "$(cat "$T/redisQ.pid")"

# ---- 4. the Sentinel stalled, then gone: the primary in use stays in use ------------------
warns=$(grep -c 'warning: cache.redis' "$T/mtastsd.log" || true)
kill -STOP "$(cat "$T/sentinel.pid")"
sleep 1.5
check "Sentinel stalled: h1.test answered" "$(pm_ok "$(enf h1.test)")" "$(pm "$SM" postfix h1.test)"
wait_for 2 has_key "$P" h1.test || true
check "Sentinel stalled: h1.test written to P" 1 "$(rcli "$P" exists "$(key h1.test)")"
kill -CONT "$(cat "$T/sentinel.pid")"
stop_bg sentinel
sleep 1.5
check "Sentinel gone: h2.test answered" "$(pm_ok "$(enf h2.test)")" "$(pm "$SM" postfix h2.test)"
wait_for 2 has_key "$P" h2.test || true
check "Sentinel gone: h2.test written to P" 1 "$(rcli "$P" exists "$(key h2.test)")"
check "Sentinel stalled or gone: no outage logged" "$warns" \
	"$(grep -c 'warning: cache.redis' "$T/mtastsd.log" || true)"

check "mtastsd alive" alive "$(alive mtastsd)"
stop_bg mtastsd
check "no sanitizer report" 0 "$(grep -cE 'Sanitizer|runtime error' "$T/mtastsd.log" || true)"
finish
