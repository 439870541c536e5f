#!/bin/bash
# t_hostile_socketmap.sh - issue 9 "Faults and hostile peers", socketmap clients: 5000
# connections at once (at resolver.max_connections = 5000, then one more: accepted at once,
# the held connection idle the longest closed for it), slow writers (within
# resolver.request_timeout, 1 min here), garbage, oversize and malformed lengths, clients that
# disconnect mid-request / mid-reply / with a lookup in flight, and a pipeline of 5000
# requests in one write. After each case: a fresh `postmap -q` answers correctly (within the
# liveness bound LIVE_S, lib.sh), the daemon is alive, and VmRSS comes back within
# RSS_SLACK_KB of the baseline taken after warm-up. No check depends on speed: "not held up"
# is an ordering (a lookup answered while slow clients are still mid-request). Clients:
# tests/system/hostile/smload.py and smraw.py (bounded in count and time). Loopback only.
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns postmap

LOAD="python3 $SRC_DIR/tests/system/hostile/smload.py"
RAW="python3 $SRC_DIR/tests/system/smraw.py"
NCONN=5000
# VmRSS bounds are checked in plain builds only (ASAN_BUILD, lib.sh).
RSS_SLACK_KB=8192

# 5000 client sockets plus 5000 daemon sockets: raise our own limit (root may raise the hard one).
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 16384 ]; then
	ulimit -Hn 16384 2>/dev/null ||
		unavailable "cannot raise the hard RLIMIT_NOFILE to 16384 (root can)"
fi
ulimit -n 16384

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www

make_ca
make_cert www mta-sts.enforce.test mta-sts.slow.test $(for i in $(seq 1 12); do echo mta-sts.fresh$i.test; done)
policy_put "$WWW" enforce.test "$(policy_enforce mail.enforce.test '*.mx.enforce.test')"
policy_put "$WWW" slow.test "$(policy_enforce mail.slow.test)" slow=1500
: >"$T/extra.testns"
testns_entry _mta-sts.slow.test NOERROR '"v=STSv1; id=slow1"' >>"$T/extra.testns"
for i in $(seq 1 12); do
	policy_put "$WWW" "fresh$i.test" "$(policy_enforce "mx.fresh$i.test")"
	testns_entry "_mta-sts.fresh$i.test" NOERROR "\"v=STSv1; id=f$i\"" >>"$T/extra.testns"
done
testns_start dns "$DNS" "$SYSDATA/resolver/lab.testns" "$T/extra.testns"
fake_https_start www "$HTTPS" www "$WWW"
RES_VERBOSITY=0 RES_NEGATIVE_TTL=5m RES_TEMPFAIL_TTL=5m resolver_conf "$T/mtastsd.conf" "$SM" \
	"$DNS" "$HTTPS" "max_connections = $NCONN; idle_timeout = \"60s\"; request_timeout = \"1m\";"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"
PID=$(cat "$T/mtastsd.pid")

ENFV='secure match=mail.enforce.test:.mx.enforce.test servername=hostname'
ENF="OK $ENFV"
NF='NOTFOUND '
rss_kb() { vmrss_kb "$PID"; }
# val FILE KEY: the value of KEY=... in an smload output file
val() { sed -n "s/^$2=//p" "$1" | head -n1; }

# healthy CASE: a fresh postmap lookup answers right (pm: within LIVE_S), the daemon is
# alive, no sanitizer report, and VmRSS is back within RSS_SLACK_KB of the baseline (polled).
fresh=0
healthy() {
	local r
	r=$(pm "$SM" postfix enforce.test)
	check "$1: postmap answers after it" "$(pm_ok "$ENFV")" "$r"
	# and a domain never looked up before: DNS + fetch still work
	fresh=$((fresh + 1))
	r=$(pm "$SM" postfix "fresh$fresh.test")
	check "$1: a new domain resolves after it" \
		"$(pm_ok "secure match=mx.fresh$fresh.test servername=hostname")" "$r"
	check "$1: mtastsd alive" alive "$(alive mtastsd)"
	check "$1: no sanitizer report" 0 "$(grep -c 'Sanitizer' "$T/mtastsd.log" || true)"
	check_rss_back "$1" "$PID" "$BASE_RSS" "$RSS_SLACK_KB"
}

# ---- warm-up, baseline ---------------------------------------------------------------------
check "enforce.test (warm-up)" "$(pm_ok "$ENFV")" "$(pm "$SM" postfix enforce.test)"
check "nxdomain.test (warm-up)" "$(pm_notfound)" "$(pm "$SM" postfix nxdomain.test)"
# warm-up load: the allocator's pools and the loop's tables reach their working size
$LOAD burst "$SM" 500 'postfix enforce.test' "$ENF" >"$T/warm.out"
check "warm-up burst answered" 500 "$(val "$T/warm.out" burst_answered_ok)"
$LOAD pipeline "$SM" 500 'postfix enforce.test' "$ENF" >"$T/warm2.out"
check "warm-up pipeline answered" 500 "$(val "$T/warm2.out" pipeline_in_order_ok)"
sleep 1
BASE_RSS=$(rss_kb)
say "     baseline VmRSS: $BASE_RSS kB"

# ---- 1. slow writers: one byte per 500 ms (24-byte requests: 12 s each) -------------------
$LOAD slow "$SM" 20 'postfix enforce.test' "$ENF" 0.5 >"$T/slow.out" &
slowpid=$!
wait_for "$LIVE_S" grep -q '^slow_started=' "$T/slow.out" || die "slow: the clients did not start"
# while 20 clients drip, another client is not held up: answered before any of them has
# even finished writing its request (an ordering, not a time limit)
r=$(pm "$SM" postfix enforce.test)
check "slow: postmap answers during the drip" "$(pm_ok "$ENFV")" "$r"
check "slow: ... while every drip-fed request is still incomplete" "" \
	"$(grep '^slow_first_written=' "$T/slow.out" || true)"
wait "$slowpid"
cat "$T/slow.out" >&2
check "slow: 20 drip-fed requests answered right" 20 "$(val "$T/slow.out" slow_ok)"
healthy slow

# ---- 2. garbage and oversize lengths: closed, no reply -------------------------------------
$LOAD garbage "$SM" 200 2048 9 >"$T/garbage.out"
cat "$T/garbage.out" >&2
check "garbage: 200 connections closed" 200 "$(val "$T/garbage.out" garbage_closed)"
check "garbage: no reply byte" 0 "$(val "$T/garbage.out" garbage_reply_bytes)"
# smraw cases: REQUEST -> expected output
big=$(printf 'a%.0s' $(seq 1 9992))
while IFS='|' read -r name req want; do
	out=$($RAW --timeout "$LIVE_S" "$SM" -- "$req" | tr '\n' ' ')
	check "framing: $name" "$want" "$out"
done <<EOT
length over 10000|10001:|CLOSED 
huge length|99999999999999999999999999:postfix enforce.test,|CLOSED 
leading zero|020:postfix enforce.test,|CLOSED 
negative length|-5:abcde,|CLOSED 
no colon|20postfix enforce.test,|CLOSED 
missing comma|20:postfix enforce.testX|CLOSED 
NUL bytes|\0\0\0\0\0\0\0\0|CLOSED 
TLS ClientHello on the socketmap|\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03|CLOSED 
good request then garbage|20:postfix enforce.test,xyz|REPLY $ENF CLOSED 
good request then oversize|20:postfix enforce.test,12345678:|REPLY $ENF CLOSED 
EOT
# exactly 10000 bytes is allowed (the key is not a domain: NOTFOUND)
out=$($RAW --timeout "$LIVE_S" --expect 1 "$SM" "10000:postfix $big,<eof>" | tr '\n' ' ')
check "framing: 10000-byte request answered" "REPLY $NF CLOSED " "$out"
check_match "framing: errors logged" 'closing the connection' "$(cat "$T/mtastsd.log")"
# the log quotes the bad netstring from its first byte (it quoted what followed the digits).
# Those warnings are rate limited (SM_LOG_RATE_MS, about one a second, the rest at debug
# level): each case is sent again until its own line is logged.
quote_logged() {
	$RAW --timeout "$LIVE_S" "$SM" -- "$1" >/dev/null
	grep -qF -- "$2" "$T/mtastsd.log"
}
wait_for "$LIVE_S" quote_logged '10001:' "netstring longer than the limit in '10001:', closing" || true
wait_for "$LIVE_S" quote_logged '020:postfix enforce.test,' \
	"malformed netstring in '020:postfix enforce.test,', closing" || true
check_match "framing: the log quotes an over-long length from its start" \
	"netstring longer than the limit in '10001:', closing" "$(cat "$T/mtastsd.log")"
check_match "framing: the log quotes a leading zero from its start" \
	"malformed netstring in '020:postfix enforce.test,', closing" "$(cat "$T/mtastsd.log")"
healthy garbage

# ---- 3. clients that go away mid-request, mid-reply, with a lookup in flight ---------------
for mode in mid-request rst unread unread-rst; do
	$LOAD disconnect "$SM" 200 'postfix enforce.test' "$mode" >"$T/disc.out"
	check "disconnect $mode: 200 clients done" 200 "$(val "$T/disc.out" disconnect_done)"
	healthy "disconnect $mode"
done
# slow.test's fetch takes 1.5 s: 20 clients ask and leave while the lookup runs. The
# discovery they abandoned goes on: the next lookup gets its result (from the cache, or by
# joining it while it still runs), and no second fetch is made.
$LOAD disconnect "$SM" 20 'postfix slow.test' pending >"$T/disc.out"
check "disconnect pending: 20 clients done" 20 "$(val "$T/disc.out" disconnect_done)"
check "disconnect pending: the abandoned discovery answers the next lookup" \
	"$(pm_ok 'secure match=mail.slow.test servername=hostname')" "$(pm "$SM" postfix slow.test)"
check "disconnect pending: ... with its own fetch, the only one" 1 "$(fetch_count www mta-sts.slow.test)"
healthy "disconnect pending"

# ---- 4. 5000 pipelined requests in one write -------------------------------------------
$LOAD pipeline "$SM" 5000 'postfix enforce.test' "$ENF" 'postfix [192.0.2.1]' "$NF" \
	'postfix nxdomain.test' "$NF" 'strict enforce.test' "$ENF" 'nospace' \
	'PERM malformed request: expected '"'"'<name> <key>'"'" >"$T/pipe.out"
cat "$T/pipe.out" >&2
check "pipeline: 5000 replies" 5000 "$(val "$T/pipe.out" pipeline_replies)"
check "pipeline: all in order and right" 5000 "$(val "$T/pipe.out" pipeline_in_order_ok)"
check "pipeline: first wrong reply" - "$(val "$T/pipe.out" pipeline_first_bad)"
check "pipeline: connection kept open" 0 "$(val "$T/pipe.out" pipeline_closed)"
healthy pipeline

# ---- 5. 5000 connections at once, at max_connections; one more takes an idle one's place ----
# (last: the other cases' VmRSS checks then do not depend on what this one leaves behind)
$LOAD burst "$SM" "$NCONN" 'postfix enforce.test' "$ENF" --extra >"$T/burst.out"
cat "$T/burst.out" >&2
check "burst: all $NCONN connections answered right" "$NCONN" "$(val "$T/burst.out" burst_answered_ok)"
check "burst: no wrong reply" 0 "$(val "$T/burst.out" burst_wrong)"
check "burst: none closed by the daemon" 0 "$(val "$T/burst.out" burst_closed)"
check "burst: connection $((NCONN + 1)) answered right at max_connections" ok \
	"$(val "$T/burst.out" extra_answer)"
check "burst: one held connection closed for it" 1 "$(val "$T/burst.out" extra_evicted)"
check "burst: held connections still answer a second request" \
	"$(val "$T/burst.out" again_n)" "$(val "$T/burst.out" again_ok)"
check "burst: no other held connection closed" 1 "$(val "$T/burst.out" closed_end)"
check_match "burst: the closing is logged" \
	'connections open \(max_connections\): closing 127\.0\.0\.1:[0-9]+, idle for [0-9]+ ms, for a new connection' \
	"$(cat "$T/mtastsd.log")"
healthy burst

stop_bg mtastsd
check "no sanitizer report at exit" 0 "$(grep -c 'Sanitizer' "$T/mtastsd.log" || true)"
finish
