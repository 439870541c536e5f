#!/bin/bash
# t_hostile_publisher.sh - issue 9 "Faults and hostile peers", publisher clients, on a
# loopback HTTPS listener with test certificates: slowloris headers (one byte per 200 ms:
# closed by connection_timeout), a huge URL, huge headers and a header flood (414/431 or
# close, docs/publisher.md), requests without SNI (the first domain's certificate, the Host
# header picks the policy), TLS garbage (closed, no HTTP reply), a ClientHello then silence
# (closed by connection_timeout); then, on a daemon of their own whose connection_timeout
# (IDLE_TIMEOUT_S) is far longer than connecting them can take, 5000 idle TCP connections
# (below publisher.max_connections: all held at once, a normal fetch still works meanwhile,
# and connection_timeout closes them). After each: a normal `curl --cacert --resolve` fetch
# returns the policy, the daemon is alive, VmRSS is back near its baseline (plain builds).
# Last, a daemon with max_connections = 50 holds at most 50 connections under 200 idle ones
# and serves a fetch again once they close; another, with an admin listener, counts idle and
# silent-handshake connections closed by libmicrohttpd's idle timeout and 50 slowloris
# clients cut by the deadline sweep in mtastsd_publisher_connections_timed_out_total.
# The daemons run under the unit's RLIMIT_NOFILE (soft 1024, raised by mtastsd itself to
# the hard limit, lib.sh unit_nofile) with no per-address limit (every client here is
# 127.0.0.1; t_fd_budget.sh tests that limit); only the clients' limit is raised.
# Clients: tests/system/hostile/pubload.py. No check depends on speed: a client waits (up to
# LIVE_S, lib.sh) for the daemon to close it and the check is that it did; the deadlines of
# the daemons are long enough that a slow machine cannot make a client miss its window.
. "$(dirname "$0")/lib.sh"

need_cmd curl python3 certtool prlimit
NIDLE=5000
# The clients hold up to NIDLE sockets: their own limit is raised (prlimit sets both), the
# daemons run under the unit's limits (lib.sh unit_nofile: soft 1024, raised by mtastsd).
LOAD="prlimit --nofile=$((NIDLE + 256)) python3 $SRC_DIR/tests/system/hostile/pubload.py"
TIMEOUT_S=3       # connection_timeout of the daemon of sections 1-5
IDLE_TIMEOUT_S=30 # ... of section 6 (5000 connects take about 1 s, 3-5 s on a loaded machine)
T3=20             # ... of section 8 (50 TLS handshakes and two probes before the first cut)
RSS_SLACK_KB=8192
unit_nofile
if [ "$NOFILE_HARD" != unlimited ] && [ "$NOFILE_HARD" -lt $((NIDLE + 1024)) ]; then
	unavailable "the hard RLIMIT_NOFILE ($NOFILE_HARD) cannot hold $NIDLE client sockets"
fi
[ "$NOFILE_HARD" = unlimited ] && NOFILE_HARD=$UNIT_HARD
DAEMON="prlimit --nofile=$UNIT_SOFT:$NOFILE_HARD $MTASTSD"

P=$(free_port tcp)
P2=$(free_port tcp)
P6=$(free_port tcp)
make_ca
make_cert d1 mta-sts.d1.test
make_cert d2 mta-sts.d2.test

# pub_conf FILE PORT MAX_CONNECTIONS TIMEOUT
pub_conf() {
	cat >"$1" <<EOC
process = { allow_root = true; verbosity = 0; shutdown_timeout = "1s"; };
resolver = { enabled = false; };
admin = { enabled = false; };
publisher = {
	listen = [ "127.0.0.1:$2" ];
	http_listen = [ ];
	max_connections = $3;
	max_connections_per_address = 0; # every client here is 127.0.0.1 (t_fd_budget tests it)
	connection_timeout = "$4";
	domains = (
		{ domain = "d1.test"; mode = "enforce"; max_age = 604800; mx = [ "mail.d1.test" ];
		  cert = "$T/d1.fullchain.pem"; key = "$T/d1.key"; },
		{ domain = "d2.test"; mode = "testing"; max_age = 86400; mx = [ "mx.d2.test" ];
		  cert = "$T/d2.fullchain.pem"; key = "$T/d2.key"; }
	);
};
EOC
}
pub_conf "$T/pub.conf" "$P" 8192 "${TIMEOUT_S}s"
start_bg pub $DAEMON -f -c "$T/pub.conf"
wait_tcp "$P"
PID=$(cat "$T/pub.pid")

CR=$'\r'
BODY1="version: STSv1${CR}
mode: enforce${CR}
mx: mail.d1.test${CR}
max_age: 604800${CR}"
BODY2_FLAT='version: STSv1|mode: testing|mx: mx.d2.test|max_age: 86400|'
rss_kb() { vmrss_kb "$PID"; }
val() { sed -n "s/^$2=//p" "$1" | tail -n1; }
# fetch [PORT]: the d1 policy with verification; prints "<status> <body>"
fetch() {
	local body
	body=$(curl -sS --max-time "$LIVE_S" --cacert "$T/ca.pem" \
		--resolve "mta-sts.d1.test:${1:-$P}:127.0.0.1" -w ' %{http_code}' \
		"https://mta-sts.d1.test:${1:-$P}/.well-known/mta-sts.txt" 2>"$T/curl.err") || true
	printf '%s' "$body"
}
GOOD="$BODY1
 200"
# healthy CASE [NAME]: a normal fetch works (fetch: within LIVE_S), the daemon started as
# NAME (default pub, on $P) is alive, VmRSS of $PID near $BASE_RSS.
healthy() {
	local r
	r=$(fetch)
	check "$1: a normal fetch returns the policy" "$GOOD" "$r"
	check "$1: mtastsd alive" alive "$(alive "${2:-pub}")"
	check "$1: no sanitizer report" 0 "$(grep -c 'Sanitizer' "$T/${2:-pub}.log" || true)"
	check_rss_back "$1" "$PID" "$BASE_RSS" "$RSS_SLACK_KB"
}

# ---- warm-up, baseline -----------------------------------------------------------------
check "fetch before" "$GOOD" "$(fetch)"
for i in $(seq 1 20); do fetch >/dev/null; done
$LOAD idle "$P" 200 $((TIMEOUT_S + LIVE_S)) >"$T/warm.out"
check "warm-up: 200 idle connections closed by the daemon" 200 "$(val "$T/warm.out" idle_closed)"
sleep 1
BASE_RSS=$(rss_kb)
say "     baseline VmRSS: $BASE_RSS kB"

# ---- 1. slowloris: headers one byte per 200 ms ---------------------------------------------
# (the client drips for up to TIMEOUT_S + LIVE_S: only a missing deadline keeps it open)
$LOAD slowloris "$P" mta-sts.d1.test $((TIMEOUT_S + LIVE_S)) >"$T/slow.out"
cat "$T/slow.out" >&2
check "slowloris: connection closed by the daemon" closed "$(val "$T/slow.out" slow_result)"
healthy slowloris

# ---- 2. huge URL, huge headers, header flood ----------------------------------------------
$LOAD big "$P" mta-sts.d1.test url >"$T/big.out"
check_match "huge URL: 414 or closed" '^(414|closed)$' "$(val "$T/big.out" big_status)"
$LOAD big "$P" mta-sts.d1.test header >"$T/big.out"
check_match "huge header: 431 or closed" '^(431|closed)$' "$(val "$T/big.out" big_status)"
$LOAD big "$P" mta-sts.d1.test flood >"$T/big.out"
cat "$T/big.out" >&2
check_match "header flood: 431 or closed" '^(431|closed)$' "$(val "$T/big.out" big_status)"
check "header flood: the connection is closed" 1 "$(val "$T/big.out" big_closed)"
healthy "huge requests"

# ---- 3. no SNI: the first domain's certificate; Host picks the policy ---------------------
$LOAD nosni "$P" "$T/ca.pem" mta-sts.d2.test >"$T/nosni.out"
cat "$T/nosni.out" >&2
check "no SNI: the fallback certificate is d1's" mta-sts.d1.test "$(val "$T/nosni.out" nosni_cert)"
check "no SNI: it verifies against the test CA" 1 "$(val "$T/nosni.out" nosni_verified)"
check "no SNI: Host mta-sts.d2.test gets 200" 200 "$(val "$T/nosni.out" nosni_status)"
check "no SNI: ... and d2's policy" "$BODY2_FLAT" "$(val "$T/nosni.out" nosni_body)"
healthy "no SNI"

# ---- 4. TLS garbage ------------------------------------------------------------------------
$LOAD garbage "$P" 100 4096 7 >"$T/garbage.out"
cat "$T/garbage.out" >&2
check "garbage: 100 connections closed" 100 "$(val "$T/garbage.out" garbage_closed)"
check "garbage: no HTTP reply" 0 "$(val "$T/garbage.out" garbage_http)"
healthy "TLS garbage"

# ---- 5. a ClientHello, then silence ---------------------------------------------------------
# The daemon waits TIMEOUT_S (3 s) for the client's next flight, in its sleep: CPU time (utime
# + stime, /proc) under 1 s for the whole stall. libmicrohttpd 0.9.75's epoll loop spun
# through it (epoll_wait 0, recv EAGAIN, over and over: a core for the whole 3 s); a loaded
# machine gives a spinning thread less, a sleeping one needs next to nothing.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
CPU0=$(cpu_ticks)
$LOAD hello "$P" mta-sts.d1.test $((TIMEOUT_S + LIVE_S)) >"$T/hello.out"
CPU1=$(cpu_ticks)
cat "$T/hello.out" >&2
check "ClientHello then silence: closed by the daemon" closed "$(val "$T/hello.out" hello_result)"
say "     CPU of the daemon during the stalled handshake: $((CPU1 - CPU0)) ticks ($(getconf CLK_TCK)/s)"
check "ClientHello then silence: the daemon sleeps (under 1 s of CPU)" yes \
	"$([ $((CPU1 - CPU0)) -lt "$(getconf CLK_TCK)" ] && echo yes || echo "no: $((CPU1 - CPU0)) ticks")"
healthy "ClientHello then silence"
stop_bg pub
check "no sanitizer report at exit" 0 "$(grep -c 'Sanitizer' "$T/pub.log" || true)"

# ---- 6. 5000 idle TCP connections (below max_connections = 8192) -------------------------
# On a daemon of its own with connection_timeout IDLE_TIMEOUT_S: the first connections must
# not reach their deadline before the last ones are connected, however slow the machine.
pub_conf "$T/pub6.conf" "$P6" 8192 "${IDLE_TIMEOUT_S}s"
start_bg pub6 $DAEMON -f -c "$T/pub6.conf"
wait_tcp "$P6"
P=$P6 # fetch and healthy now talk to this daemon
PID=$(cat "$T/pub6.pid")
check "idle daemon: fetch before" "$GOOD" "$(fetch)"
for i in $(seq 1 20); do fetch >/dev/null; done
$LOAD idle "$P" 200 0 >"$T/warm6.out" # connected, then closed by the client at once
sleep 1
BASE_RSS=$(rss_kb)
say "     idle daemon: baseline VmRSS: $BASE_RSS kB"
$LOAD idle "$P" "$NIDLE" $((IDLE_TIMEOUT_S + LIVE_S)) >"$T/idle.out" &
idlepid=$!
wait_for "$LIVE_S" grep -q '^idle_connected=' "$T/idle.out" || true
check "idle: $NIDLE connections established" "$NIDLE" "$(val "$T/idle.out" idle_connected)"
socks() { find "/proc/$1/fd" -mindepth 1 -lname 'socket:*' 2>/dev/null | wc -l; }
# the kernel completes the connections; the daemon accepts them a moment later
holds_at_least() { [ "$(socks "$PID")" -ge "$1" ]; }
wait_for "$LIVE_S" holds_at_least "$NIDLE" || true
held=$(socks "$PID")
say "     idle: the daemon holds $held sockets"
if [ "$held" -ge "$NIDLE" ]; then check "idle: the daemon accepted all $NIDLE" yes yes; else
	check "idle: the daemon accepted all $NIDLE" ">= $NIDLE sockets" "$held"; fi
check "idle: a fetch works while they are open" "$GOOD" "$(fetch)"
wait "$idlepid"
cat "$T/idle.out" >&2
check "idle: all closed by connection_timeout" "$NIDLE" "$(val "$T/idle.out" idle_closed)"
# (the client sees EOF when the daemon shuts a connection down; it closes it just after)
holds_only_listener() { [ "$(socks "$PID")" = 1 ]; }
wait_for "$LIVE_S" holds_only_listener || true
check "idle: the daemon holds no client socket afterwards" 1 "$(socks "$PID")"
healthy idle pub6

stop_bg pub6
check "idle daemon: no sanitizer report at exit" 0 "$(grep -c 'Sanitizer' "$T/pub6.log" || true)"

# ---- 7. at the limit: max_connections = 50, 200 idle connections ----------------------------
pub_conf "$T/pub2.conf" "$P2" 50 30s
start_bg pub2 $DAEMON -f -c "$T/pub2.conf"
wait_tcp "$P2"

# Section 8's daemon starts now, with an admin listener: while section 7 runs, 20 idle TCP
# connections and a ClientHello-then-silence client wait for its connection_timeout. They
# are mostly closed by libmicrohttpd's own idle timeout (the same connection_timeout), before
# the deadline sweep comes round, and connections_timed_out must count them all the same.
P3=$(free_port tcp)
ADM3=$(free_port tcp)
pub_conf "$T/pub3.conf" "$P3" 50 "${T3}s"
sed -i "s|^admin = { enabled = false; };|admin = { listen = \"127.0.0.1:$ADM3\"; };|" "$T/pub3.conf"
metric() {
	curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$ADM3/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
# metric_is NAME VALUE: the metric, once it is VALUE or after LIVE_S (a connection is
# counted when libmicrohttpd has closed it, a moment after the client sees EOF).
metric_is_now() { [ "$(metric "$1")" = "$2" ]; }
metric_is() {
	wait_for "$LIVE_S" metric_is_now "$1" "$2" || true
	metric "$1"
}
start_bg pub3 $DAEMON -f -c "$T/pub3.conf"
wait_tcp "$P3"
$LOAD idle "$P3" 20 $((T3 + LIVE_S)) >"$T/idle3.out" &
idle3pid=$!
$LOAD hello "$P3" mta-sts.d1.test $((T3 + LIVE_S)) >"$T/hello3.out" &
hello3pid=$!
PID2=$(cat "$T/pub2.pid")
check "limit: fetch before" "$GOOD" "$(fetch "$P2")"
s0=$(socks "$PID2")
# 200 idle clients, held until killed below (connection_timeout 30 s: the daemon keeps them)
$LOAD idle "$P2" 200 $((30 + LIVE_S)) >"$T/idle2.out" &
idlepid=$!
# Sample the daemon's sockets for at least 4 s, and until it holds 40 clients (near its
# limit): it never holds more than max_connections.
maxs=0
n=0
sample_limit() {
	local s
	s=$(socks "$PID2")
	[ "$s" -gt "$maxs" ] && maxs=$s
	n=$((n + 1))
	[ "$n" -ge 40 ] && [ $((maxs - s0)) -ge 40 ]
}
wait_for "$LIVE_S" sample_limit || true
say "     limit: daemon sockets at rest $s0, at most $maxs under 200 idle connections ($n samples)"
if [ $((maxs - s0)) -le 50 ]; then check "limit: at most max_connections (50) connections held" yes yes
else check "limit: at most max_connections (50) connections held" "<= 50" "$((maxs - s0))"; fi
if [ $((maxs - s0)) -ge 40 ]; then check "limit: the daemon did take connections up to near its limit" yes yes
else check "limit: the daemon did take connections up to near its limit" ">= 40" "$((maxs - s0))"; fi
check "limit: mtastsd alive" alive "$(alive pub2)"
kill "$idlepid"
wait "$idlepid" || true # the 200 clients are gone
check "limit: a fetch works once they close" "$GOOD" "$(fetch "$P2")"
stop_bg pub2
check "limit: no sanitizer report" 0 "$(grep -c 'Sanitizer' "$T/pub2.log" || true)"

# ---- 8. connections_timed_out; slowloris on every slot: max_connections = 50 ---------------
wait "$idle3pid" "$hello3pid"
check "idle x20: all closed by connection_timeout" 20 "$(val "$T/idle3.out" idle_closed)"
check "ClientHello then silence (admin daemon): closed" closed "$(val "$T/hello3.out" hello_result)"
check "idle x20 + ClientHello: metrics count 21 timed out" 21 \
	"$(metric_is mtastsd_publisher_connections_timed_out_total 21)"
check "idle x20 + ClientHello: metrics show 0 open connections" 0 \
	"$(metric_is mtastsd_publisher_connections 0)"
# 50 clients dripping headers: libmicrohttpd's own timeout restarts on every byte; the
# request deadline (connection_timeout T3, from accept) must free them. Until then every
# slot is taken: T3 leaves far more time than the 50 handshakes and the probes below need.
log0=$(wc -l <"$T/pub3.log")
$LOAD slowmany "$P3" mta-sts.d1.test 50 $((T3 + LIVE_S)) >"$T/slowmany.out" &
slowpid=$!
wait_for "$LIVE_S" grep -q '^slowmany_ready=' "$T/slowmany.out" || true
check "slowloris x50: all 50 handshakes done (every slot taken)" 50 \
	"$(val "$T/slowmany.out" slowmany_ready)"
check "slowloris x50: metrics show 50 open connections" 50 "$(metric_is mtastsd_publisher_connections 50)"
r=$(curl -sS --max-time 1 --cacert "$T/ca.pem" --resolve "mta-sts.d1.test:$P3:127.0.0.1" \
	-w ' %{http_code}' "https://mta-sts.d1.test:$P3/.well-known/mta-sts.txt" 2>/dev/null || true)
check "slowloris x50: no slot left for a fetch meanwhile (curl gets no reply in 1 s)" " 000" "$r"
wait "$slowpid"
cat "$T/slowmany.out" >&2
check "slowloris x50: the daemon closed all 50" 50 "$(val "$T/slowmany.out" slowmany_closed)"
check "slowloris x50: a fetch works afterwards" "$GOOD" "$(fetch "$P3")"
# One line per sweep that cut connections: the 50 handshakes may straddle two sweeps.
check "slowloris x50: the cuts are logged, 50 in all" 50 \
	"$(tail -n +$((log0 + 1)) "$T/pub3.log" |
		sed -n "s/.*publisher: closed \([0-9]*\) connections* that sent no complete request within connection_timeout (${T3}s)\$/\1/p" |
		awk '{ n += $1 } END { print n + 0 }')"
check "slowloris x50: metrics count 50 more timed out (71)" 71 \
	"$(metric_is mtastsd_publisher_connections_timed_out_total 71)"
check "slowloris x50: metrics show 0 open connections" 0 "$(metric_is mtastsd_publisher_connections 0)"
stop_bg pub3
check "slowloris x50: no sanitizer report" 0 "$(grep -c 'Sanitizer' "$T/pub3.log" || true)"
finish
