#!/bin/bash
# t_redis_fleet.sh - issue 5: two mtastsd processes (A, B) share one redis-server on loopback.
#  1. a domain looked up through A is answered by B with no HTTPS request from B; "no policy"
#     is shared too;
#  2. 50 concurrent lookups of one new domain spread over A and B: one HTTPS fetch in total;
#  3. a lock left by a host that died blocks no one past its TTL;
#  4. a corrupt value is ignored (logged) and overwritten by the next write;
#  5. redis-server stopped during a load run: zero failed or wrong replies; restarted: both
#     reconnect, write back what they learnt and write new outcomes again;
#  6. redis-server stalled (SIGSTOP): replies still arrive, after the command timeout and
#     not by the zone timeout; a cached answer sends nothing to the shared tier.
# No check depends on speed: the lab's timeouts leave seconds of room, waits are liveness
# bounds (LIVE_S), and the load run is stopped once it has made lookups during the outage.
. "$(dirname "$0")/lib.sh"

need_cmd redis-server redis-cli python3 certtool ldns-testns

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SMA=$(free_port tcp)
SMB=$(free_port tcp)
ADMA=$(free_port tcp)
R=$(free_port tcp)
WWW=$T/www
CMD_TIMEOUT_MS=300
NLOAD=30

rcli() { redis-cli -p "$R" "$@"; }
# val_head KEY: the first three lines of a value, joined with '|' (no grep -q on long text:
# under pipefail an early grep exit can fail the pipeline with SIGPIPE)
val_head() { rcli get "$1" | sed -n '1,3p' | paste -sd'|'; }
pong() { [ "$(rcli ping 2>/dev/null)" = PONG ]; }
redis_start() {
	start_bg "$1" redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no
	wait_tcp "$R"
	wait_for "$LIVE_S" pong || die "redis-server on $R does not answer PING"
}
# enf DOMAIN: the socketmap payload for an enforce policy with mx mail.DOMAIN
enf() { printf 'OK secure match=mail.%s servername=hostname' "$1"; }
# smq PORT DOMAIN: one raw socketmap request; prints the payload
smq() {
	local out
	out=$(timed_smq "$1" "$2")
	printf '%s\n' "${out#* }"
}
# timed_smq PORT DOMAIN: "<ms> <payload>", ms measured from connect to reply inside the
# client (interpreter start-up excluded: it is slow on a loaded machine)
timed_smq() {
	python3 - "$1" "postfix $2" <<'PY'
import socket, sys, time
t0 = time.monotonic()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
req = sys.argv[2].encode()
s.sendall(str(len(req)).encode() + b":" + req + b",")
buf = b""
while True:
    d = s.recv(4096)
    if not d:
        print("%d ERROR closed" % ((time.monotonic() - t0) * 1000))
        break
    buf += d
    c = buf.find(b":")
    if c > 0 and len(buf) >= c + 2 + int(buf[:c]):
        print("%d %s" % ((time.monotonic() - t0) * 1000, buf[c + 1:c + 1 + int(buf[:c])].decode()))
        break
PY
}
# ma SAMPLE...: the sum of these samples (name{labels}) of A's admin /metrics
ma() {
	curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$ADMA/metrics" |
		awk -v names="$*" 'BEGIN { split(names, a, " "); for (i in a) want[a[i]] = 1 }
			$1 in want { n += $2 } END { print n + 0 }'
}
# shared-cache operations of A: reads answered, operations not sent (tier down), writes,
# lock attempts (not the reconnect attempts, which go on by themselves while it is down)
VK_OPS='mtastsd_valkey_commands_total{result="hit"} mtastsd_valkey_commands_total{result="miss"}
	mtastsd_valkey_unavailable_total mtastsd_valkey_writes_total{result="stored"}
	mtastsd_valkey_writes_total{result="older"} mtastsd_valkey_fetch_locks_total{result="taken"}
	mtastsd_valkey_fetch_locks_total{result="busy"}'
HITS='mtastsd_cache_hits_total{kind="policy"}'
# zone_timeouts: lookups of A and B answered by their zone timeout (none expected)
zone_timeouts() { cat "$T/A.log" "$T/B.log" | grep -c 'no answer within the lookup timeout' || true; }

make_ca
names=(a.test coal.test lockdead.test corrupt.test n1.test n2.test s1.test)
for i in $(seq 1 $NLOAD); do names+=("l$i.test"); done
make_cert www $(for n in "${names[@]}"; do printf 'mta-sts.%s ' "$n"; done)
for n in "${names[@]}"; do
	policy_put "$WWW" "$n" "$(policy_enforce "mail.$n")"
done
# slow=1500: the fetch stays in flight while all 50 lookups arrive at A and B.
policy_behave "$WWW" coal.test slow=1500
{
	for n in "${names[@]}"; do testns_entry "_mta-sts.$n" NOERROR "\"v=STSv1; id=${n%%.*}1\""; done
	testns_entry _mta-sts.nopol.test NXDOMAIN
} >"$T/fleet.testns"
testns_start dns "$DNS" "$T/fleet.testns"
fake_https_start www "$HTTPS" www "$WWW"
redis_start redis

# fetch_timeout 20 s: the fleet lock's TTL (fetch_timeout + 2 x command_timeout + 1 s) and
# so the time a host waits for another's lock; zone timeout 30 s, above it; no background
# re-checks during the test (they would write to the shared tier at times of their own).
export RES_NEGATIVE_TTL=30s RES_FETCH_TIMEOUT=20s RES_ZONE_TIMEOUT=30s RES_RECHECK=1h
for h in A B; do
	port=$SMA
	[ "$h" = B ] && port=$SMB
	resolver_conf "$T/$h.conf" "$port" "$DNS" "$HTTPS"
	if [ "$h" = A ]; then
		sed -i "s|^admin = { enabled = false; };|admin = { listen = \"127.0.0.1:$ADMA\"; };|" "$T/A.conf"
	fi
	cat >>"$T/$h.conf" <<EOC
cache = {
	backend = "redis";
	redis = {
		address = "127.0.0.1:$R";
		prefix = "fleet";
		command_timeout = "${CMD_TIMEOUT_MS}ms";
		connect_timeout = "500ms";
	};
};
EOC
	mtastsd_start "$h" "$T/$h.conf" "$port"
done
wait_tcp "$ADMA"
wait_log A 'cache.redis: connected' || die "A did not connect to redis"
wait_log B 'cache.redis: connected' || die "B did not connect to redis"

# ---- 1. a domain learnt by A is answered by B without HTTPS -------------------------------
check "A answers a.test" "$(enf a.test)" "$(smq "$SMA" a.test)"
check "one fetch for a.test" 1 "$(fetch_count www mta-sts.a.test)"
check "A wrote the policy under the key schema" "mtastsd-cache 1|kind policy|id a1" "$(val_head fleet:v1:sts:a.test)"
ttl=$(rcli pttl fleet:v1:sts:a.test)
check "policy key TTL = max_age 604800 s + 60 s slack ($ttl ms)" 1 \
	"$((ttl > 604800000 && ttl <= 604860000))"
check "lock released after the fetch" 0 "$(rcli exists fleet:v1:lock:a.test)"
check "B answers a.test" "$(enf a.test)" "$(smq "$SMB" a.test)"
check "B made no HTTPS request for a.test" 1 "$(fetch_count www mta-sts.a.test)"
grep -q "domain 'a.test': policy id a1 taken from the shared cache" "$T/B.log"
check "B logged the shared-cache hit" 0 $?

check "A: nopol.test NOTFOUND" "NOTFOUND " "$(smq "$SMA" nopol.test)"
check "no-policy entry shared" "mtastsd-cache 1|kind no-policy|id -" "$(val_head fleet:v1:sts:nopol.test)"
nttl=$(rcli pttl fleet:v1:sts:nopol.test)
check "no-policy key has the negative TTL (<= 30 s: $nttl ms)" 1 "$((nttl > 0 && nttl <= 30000))"
check "B: nopol.test NOTFOUND" "NOTFOUND " "$(smq "$SMB" nopol.test)"

# ---- 2. 50 concurrent lookups over A and B, one fetch --------------------------------------
python3 - "$SMA" "$SMB" 50 "postfix coal.test" >"$T/burst.out" <<'PY'
import socket, sys, threading
pa, pb, n, req = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
frame = str(len(req)).encode() + b":" + req + b","
socks = [socket.create_connection(("127.0.0.1", pa if i % 2 else pb), timeout=60)
         for i in range(n)]
barrier = threading.Barrier(n)
out = [None] * n
def run(i):
    s = socks[i]
    barrier.wait()
    try:
        s.sendall(frame)
        buf = b""
        while True:
            d = s.recv(4096)
            if not d:
                out[i] = "ERROR closed"
                return
            buf += d
            c = buf.find(b":")
            if c > 0 and len(buf) >= c + 2 + int(buf[:c]):
                out[i] = buf[c + 1:c + 1 + int(buf[:c])].decode()
                return
    except Exception as e:
        out[i] = "ERROR %s" % e
ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(out))
PY
check "50 concurrent over A+B: all right" "50 $(enf coal.test)" \
	"$(sort "$T/burst.out" | uniq -c | sed 's/^ *//')"
check "50 concurrent over A+B: one HTTPS fetch in total" 1 "$(fetch_count www mta-sts.coal.test)"
grep -Eq "domain 'coal.test': another host is fetching the policy" "$T/A.log" "$T/B.log"
check "one host waited for the other's fetch" 0 $?

# ---- 3. a dead lock holder blocks no one past the lock TTL ---------------------------------
# The dead host's lock has a long TTL while A's lookup arrives and starts waiting; then its
# TTL is cut to 500 ms (instead of waiting for it to run out): A then takes the lock itself.
rcli set fleet:v1:lock:lockdead.test "deadhost:1:0" px 60000 >/dev/null
timed_smq "$SMA" lockdead.test >"$T/lockdead.out" &
lockpid=$!
rc=0
wait_log A "domain 'lockdead.test': another host is fetching the policy" || rc=$?
check "lock of a dead host: A waits for it" 0 "$rc"
check "lock of a dead host: no fetch while it holds the lock" 0 "$(fetch_count www mta-sts.lockdead.test)"
rcli pexpire fleet:v1:lock:lockdead.test 500 >/dev/null
wait "$lockpid"
out=$(cat "$T/lockdead.out")
say "lock of a dead host: answered after ${out%% *} ms"
check "lock of a dead host: answer right, after the lock expired" "$(enf lockdead.test)" "${out#* }"
check "lock of a dead host: lock expired" 0 "$(rcli exists fleet:v1:lock:lockdead.test)"
check "lock of a dead host: one fetch" 1 "$(fetch_count www mta-sts.lockdead.test)"

# ---- 4. corrupt value: ignored, logged, overwritten ---------------------------------------
rcli set fleet:v1:sts:corrupt.test "mtastsd-cache 1
kind policy
garbage" >/dev/null
check "corrupt value: B answers right" "$(enf corrupt.test)" "$(smq "$SMB" corrupt.test)"
check "corrupt value: B fetched" 1 "$(fetch_count www mta-sts.corrupt.test)"
grep -q "domain 'corrupt.test': corrupt value in the shared cache" "$T/B.log"
check "corrupt value logged" 0 $?
check "corrupt value overwritten" "mtastsd-cache 1|kind policy|id corrupt1" "$(val_head fleet:v1:sts:corrupt.test)"

# ---- 5. redis-server stopped during a load run, then restarted -----------------------------
cat >"$T/load.py" <<'PY'
# load.py PORTA PORTB STOPFILE NDOMAINS PROGRESSFILE: 4 persistent socketmap clients (2 per
# daemon) ask for l<k>.test in a shuffled order until STOPFILE exists (at most 300 s),
# writing the number of lookups made to PROGRESSFILE as they go; prints "total failed wrong
# maxms".
import os, random, socket, sys, threading, time
pa, pb, stop, nd, progress = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]),
                              sys.argv[5])
hard_end = time.time() + 300
lock = threading.Lock()
st = {"total": 0, "failed": 0, "wrong": 0, "maxms": 0}
bad = []
def ask(s, dom):
    req = ("postfix " + dom).encode()
    s.sendall(str(len(req)).encode() + b":" + req + b",")
    buf = b""
    while True:
        d = s.recv(4096)
        if not d:
            raise IOError("closed")
        buf += d
        c = buf.find(b":")
        if c > 0 and len(buf) >= c + 2 + int(buf[:c]):
            return buf[c + 1:c + 1 + int(buf[:c])].decode()
def run(port, seed):
    rnd = random.Random(seed)
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    while not os.path.exists(stop) and time.time() < hard_end:
        k = rnd.randint(1, nd)
        dom = "l%d.test" % k
        want = "OK secure match=mail.%s servername=hostname" % dom
        t0 = time.time()
        try:
            got = ask(s, dom)
        except Exception as e:
            got = "ERROR %s" % e
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
        ms = int((time.time() - t0) * 1000)
        with lock:
            st["total"] += 1
            st["maxms"] = max(st["maxms"], ms)
            if got.startswith("ERROR") or got.startswith("TEMP"):
                st["failed"] += 1
                bad.append(got)
            elif got != want:
                st["wrong"] += 1
                bad.append(dom + " -> " + got)
        time.sleep(0.002)
ts = [threading.Thread(target=run, args=(p, i)) for i, p in enumerate([pa, pa, pb, pb])]
for t in ts: t.start()
while any(t.is_alive() for t in ts):
    with lock:
        n = st["total"]
    with open(progress + ".tmp", "w") as f:
        f.write("%d\n" % n)
    os.replace(progress + ".tmp", progress)
    time.sleep(0.1)
print(st["total"], st["failed"], st["wrong"], st["maxms"])
for b in bad[:10]:
    print("bad:", b, file=sys.stderr)
PY
# lookups LEAST: 0 once the load run has made at least LEAST lookups
lookups() { [ "$(cat "$T/load.n" 2>/dev/null || echo 0)" -ge "$1" ]; }
python3 "$T/load.py" "$SMA" "$SMB" "$T/load.stop" "$NLOAD" "$T/load.n" >"$T/load.out" 2>"$T/load.err" &
loadpid=$!
wait_for "$LIVE_S" lookups 20 || die "load client made no lookups: $(cat "$T/load.err")"
stop_bg redis
n_stop=$(cat "$T/load.n")
wait_for "$LIVE_S" lookups $((n_stop + 20)) || true # lookups while redis is down
touch "$T/load.stop"
wait "$loadpid" || die "load client failed: $(cat "$T/load.err")"
read -r total failed wrong maxms <"$T/load.out"
say "load run: $total lookups ($n_stop before redis stopped), max latency $maxms ms; $(cat "$T/load.err")"
check "load run: lookups made while redis was down" 1 "$((total >= n_stop + 20))"
check "load run with redis stopped: zero failed replies" 0 "$failed"
check "load run with redis stopped: zero wrong replies" 0 "$wrong"
for n in $(seq 1 "$NLOAD"); do
	c=$(fetch_count www "mta-sts.l$n.test")
	[ "$c" -le 2 ] || die "l$n.test fetched $c times"
done
grep -q 'cache.redis: 127.0.0.1:'"$R"' unavailable' "$T/A.log"
check "A logged the outage" 0 $?
check "A logged the outage once" 1 "$(grep -c 'warning: cache.redis: .* unavailable' "$T/A.log")"
check "B logged the outage once" 1 "$(grep -c 'warning: cache.redis: .* unavailable' "$T/B.log")"

# new domains while redis is down: answered directly
check "redis down: A answers n1.test" "$(enf n1.test)" "$(smq "$SMA" n1.test)"

redis_start redis2
rc=0
wait_log A 'cache.redis: .* reachable again' || rc=$?
check "A reconnected" 0 "$rc"
rc=0
wait_log B 'cache.redis: .* reachable again' || rc=$?
check "B reconnected" 0 "$rc"
check "A logged the recovery once" 1 "$(grep -c 'reachable again' "$T/A.log")"
# what the hosts learnt while redis was away is written back (newer wins there; polled)
val_is() { [ "$(val_head "$1")" = "$2" ]; }
N1="mtastsd-cache 1|kind policy|id n11"
wait_for "$LIVE_S" val_is fleet:v1:sts:n1.test "$N1" || true
check "A wrote n1.test back after the restart" "$N1" "$(val_head fleet:v1:sts:n1.test)"
# every load domain A or B learnt (fetched, or taken from redis before it stopped)
known=$(grep -ohE "domain 'l[0-9]+\.test': policy id [a-z0-9]+ (fetched|taken from the shared cache)" \
	"$T/A.log" "$T/B.log" | cut -d"'" -f2 | sort -u | wc -l)
say "load domains known to A or B: $known of $NLOAD"
written_back() { [ "$(rcli --scan --pattern 'fleet:v1:sts:l[0-9]*.test' | wc -l)" -ge "$known" ]; }
wait_for "$LIVE_S" written_back || true
check "load domains written back by A and B" "$known" \
	"$(rcli --scan --pattern 'fleet:v1:sts:l[0-9]*.test' | wc -l)"
# and new outcomes are written again, by both
check "after restart: B answers n2.test" "$(enf n2.test)" "$(smq "$SMB" n2.test)"
N2="mtastsd-cache 1|kind policy|id n21"
wait_for "$LIVE_S" val_is fleet:v1:sts:n2.test "$N2" || true
check "B wrote n2.test" "$N2" "$(val_head fleet:v1:sts:n2.test)"
check "after restart: A answers a fresh nopol lookup from memory or redis" "NOTFOUND " \
	"$(smq "$SMA" nopol.test)"

# ---- 6. redis stalled with SIGSTOP ---------------------------------------------------------
# Uncached names without a policy (NXDOMAIN): the discovery is one fast DNS query after the
# shared-cache read, which must end at the command timeout (not before), with the lookup
# answered then, not by the zone timeout (30 s).
kill -STOP "$(cat "$T/redis2.pid")"
z0=$(zone_timeouts)
out=$(timed_smq "$SMA" x1.nx.test)
ms=${out%% *}
check "stalled redis: A answers x1.nx.test" "NOTFOUND " "${out#* }"
say "stalled redis: first uncached lookup took $ms ms (command timeout $CMD_TIMEOUT_MS ms)"
check "stalled redis: waited for the command timeout ($ms ms)" 1 "$((ms >= CMD_TIMEOUT_MS - 20))"
for d in x2.nx.test x3.nx.test x4.nx.test; do
	for p in "$SMB" "$SMA"; do
		out=$(timed_smq "$p" "$d")
		[ "${out#* }" = "NOTFOUND " ] || die "stalled redis: $d via $p: ${out#* }"
		say "stalled redis: $d via $p took ${out%% *} ms"
	done
done
check "stalled redis: no lookup answered by the zone timeout" "$z0" "$(zone_timeouts)"
out=$(timed_smq "$SMB" s1.test)
check "stalled redis: B fetches s1.test directly" "$(enf s1.test)" "${out#* }"
# A cached answer comes from memory: nothing is sent to (or queued for) the shared tier.
ops0=$(ma $VK_OPS)
hits0=$(ma "$HITS")
out=$(timed_smq "$SMA" a.test)
check "stalled redis: cached answer right" "$(enf a.test)" "${out#* }"
check "stalled redis: cached answer from memory (a cache hit)" $((hits0 + 1)) "$(ma "$HITS")"
check "stalled redis: ... with no shared-cache operation" "$ops0" "$(ma $VK_OPS)"
grep -q 'took longer than command_timeout' "$T/A.log"
check "stalled redis: timeout logged by A" 0 $?
kill -CONT "$(cat "$T/redis2.pid")"
back_twice() {
	[ "$(grep -c 'reachable again' "$T/B.log")" -ge 2 ] &&
		[ "$(grep -c 'reachable again' "$T/A.log")" -ge 2 ]
}
wait_for "$LIVE_S" back_twice || true
check "B back after SIGCONT" 2 "$(grep -c 'reachable again' "$T/B.log")"
check "A back after SIGCONT" 2 "$(grep -c 'reachable again' "$T/A.log")"

check "A alive" alive "$(alive A)"
check "B alive" alive "$(alive B)"
finish
