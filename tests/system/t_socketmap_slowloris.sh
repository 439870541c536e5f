#!/bin/bash
# t_socketmap_slowloris.sh - the socketmap under clients that hold its slots (found by a
# trial: 1024 connections dripping a partial netstring, one byte at a time, kept every
# max_connections slot for ever, and Postfix got no answer).
#
# Lab: ldns-testns, fake_https, mtastsd with resolver.max_connections = 20,
# request_timeout = 2s, idle_timeout = 10m (longer than the test: the idle connections
# would never leave by themselves), and the admin endpoint for /metrics. A python3
# client holds 15 connections dripping "9999:" then a byte every 0.5 s (the idle timer never
# fires) and 15 idle ones, 30 for 20 slots, and opens a new one for each the daemon closes
# (bounded in count and time). Meanwhile `postmap -q` must get its defined reply: the cached
# policy of victim.test, NOTFOUND for a domain without one (within LIVE_S, never a speed
# check). The dripping connections are cut at the request deadline and the idle ones give
# their place to new connections: both logged (rate limited) and counted in /metrics. Last,
# 200 garbage connections write far fewer warning lines than connections (about one a
# second, with the count of the others).
. "$(dirname "$0")/lib.sh"

need_cmd python3 postmap curl certtool ldns-testns

lab_ports
ADM=$(free_port tcp)
lab_enforce 1 victim.test
RES_VERBOSITY=0 resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS" \
	'max_connections = 20; idle_timeout = "10m"; request_timeout = "2s";'
sed -i "s|^admin = { enabled = false; };|admin = { listen = \"127.0.0.1:$ADM\"; };|" "$T/mtastsd.conf"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"
wait_tcp "$ADM"

SEC=$(pm_ok 'secure match=mail.victim.test servername=hostname')
check "victim.test before" "$SEC" "$(pm "$SM" postfix victim.test)"

# ---- the clients holding the slots ---------------------------------------------------------
# Prints "started" once its 30 connections are open (connected in the kernel), then every
# 0.5 s a status line; stops when $T/stop exists or after 3 x LIVE_S (longer than the first
# postmap waits: its ending would free the slots), and opens at most 3000 connections.
cat >"$T/hold.py" <<'PY'
import os, select, socket, sys, time
port, ndrip, nidle, stop, live = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
end = time.monotonic() + live
conns = {}  # socket -> kind
st = {"drip_opened": 0, "drip_closed": 0, "idle_opened": 0, "idle_closed": 0}
def opened():
    return st["drip_opened"] + st["idle_opened"]
def open_one(kind):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    if kind == "drip":
        s.send(b"9999:")
    conns[s] = kind
    st[kind + "_opened"] += 1
for i in range(ndrip):
    open_one("drip")
for i in range(nidle):
    open_one("idle")
print("started", flush=True)
tick = time.monotonic()
reopen = []
while time.monotonic() < end and not os.path.exists(stop):
    r, _, _ = select.select(list(conns), [], [], 0.1)
    for s in r:
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if not d:  # closed by the daemon (it never replies to these)
            kind = conns.pop(s)
            s.close()
            st[kind + "_closed"] += 1
            reopen.append(kind)
    if time.monotonic() - tick >= 0.5:
        tick = time.monotonic()
        for s, kind in list(conns.items()):
            if kind == "drip":
                try:
                    s.send(b"x")
                except OSError:
                    pass
        while reopen and opened() < 3000:
            open_one(reopen.pop())
        print(" ".join("%s=%d" % kv for kv in sorted(st.items())), flush=True)
for s in conns:
    s.close()
print(" ".join("%s=%d" % kv for kv in sorted(st.items())), flush=True)
print("done", flush=True)
PY
python3 "$T/hold.py" "$SM" 15 15 "$T/stop" $((LIVE_S * 3)) >"$T/hold.out" 2>"$T/hold.err" &
echo $! >>"$T/pids"
HOLD=$!
started() { grep -q '^started' "$T/hold.out"; }
wait_for "$LIVE_S" started || die "the holding client did not start: $(cat "$T/hold.err")"

# While they hold (or try to hold) every slot: Postfix is answered.
out=$(pm "$SM" postfix victim.test)
check "under the slow clients: victim.test answered (cached policy)" "$SEC" "$out"
# (before the fix: no answer, rc=124 after LIVE_S; what follows would only wait as long again)
[ "$out" = "$SEC" ] || die "Postfix is not answered while the slots are held"
check "under the slow clients: a domain without a policy answered NOTFOUND" "$(pm_notfound)" \
	"$(pm "$SM" postfix nopolicy.test)"

# The dripping connections are cut at the deadline (and cut again after they reconnect).
stat_val() { tail -n 1 "$T/hold.out" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
drip_cut() { [ "$(stat_val drip_closed)" -ge 15 ] 2>/dev/null; }
wait_for "$LIVE_S" drip_cut || true
check_match "the dripping connections were closed ($(tail -n 1 "$T/hold.out"))" '^(1[5-9]|[2-9][0-9]|[0-9]{3,})$' \
	"$(stat_val drip_closed)"
wait_log mtastsd 'socketmap 127\.0\.0\.1:[0-9]+: no complete request within 2000 ms of its first byte \(request_timeout\), closing the connection' || true
check_match "the request deadline is logged" \
	'no complete request within 2000 ms of its first byte \(request_timeout\), closing the connection' \
	"$(cat "$T/mtastsd.log")"
wait_log mtastsd 'connections open \(max_connections\): closing 127\.0\.0\.1:[0-9]+, (idle for|its request incomplete for) [0-9]+ ms, for a new connection' || true
check_match "the connection closed for a new one is logged" \
	'socketmap: 20 connections open \(max_connections\): closing 127\.0\.0\.1:[0-9]+, (idle for|its request incomplete for) [0-9]+ ms, for a new connection' \
	"$(cat "$T/mtastsd.log")"
check "no pause at max_connections (there is always a connection to close)" 0 \
	"$(grep -c 'not accepting until one closes' "$T/mtastsd.log" || true)"
curl -s "http://127.0.0.1:$ADM/metrics" >"$T/metrics.txt"
check_match "metric: request timeouts counted" '^mtastsd_socketmap_request_timeouts_total [1-9][0-9]*$' \
	"$(cat "$T/metrics.txt")"
check_match "metric: connections closed for a new one counted" \
	'^mtastsd_socketmap_connections_evicted_total [1-9][0-9]*$' "$(cat "$T/metrics.txt")"
check "at most max_connections open" yes "$(awk '/^mtastsd_socketmap_connections / { print ($2 <= 20) ? "yes" : "no: " $2 }' "$T/metrics.txt")"

# Still answered a while later, and after the clients stop.
check "under the slow clients, later: victim.test answered" "$SEC" "$(pm "$SM" postfix victim.test)"
touch "$T/stop"
done_() { grep -q '^done' "$T/hold.out"; }
wait_for "$LIVE_S" done_ || true
wait "$HOLD" 2>/dev/null || true
say "     holding client: $(tail -n 2 "$T/hold.out" | head -n 1)"
check "after the slow clients: victim.test answered" "$SEC" "$(pm "$SM" postfix victim.test)"

# ---- a client that pipelines requests and never reads the replies ----------------------------
# Its replies fill its socket window; from the first write that finds it full, it has
# request_timeout (2 s) to read them, then the daemon closes it (before: the slot was held
# for ever, neither idle nor in the middle of a request). Bounded: at most 400 000 requests
# (~10 MB) and LIVE_S; it reads nothing until it sees the connection closed.
python3 - "$SM" "$LIVE_S" >"$T/noread.out" 2>&1 <<'PY'
import socket, sys, time
port, live = int(sys.argv[1]), float(sys.argv[2])
req = b"postfix victim.test"
req = b"%d:%s," % (len(req), req)
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.setblocking(False)
end, sent, closed = time.monotonic() + live, 0, False
while time.monotonic() < end and sent < 400000:
    try:
        s.send(req * 100)
        sent += 100
    except BlockingIOError:
        time.sleep(0.05)
    except OSError:
        closed = True
        break
# then wait (still not reading our replies) until the daemon closes: a send fails
while not closed and time.monotonic() < end:
    try:
        s.send(req)
    except BlockingIOError:
        pass
    except OSError:
        closed = True
    time.sleep(0.1)
print("closed" if closed else "still open after %d s" % live, "sent=%d" % sent)
PY
check_match "a client that never reads its replies is closed" '^closed ' "$(cat "$T/noread.out")"
check_match "replies not read: logged" \
	'socketmap 127\.0\.0\.1:[0-9]+: replies not read within 2000 ms \(request_timeout\), closing the connection' \
	"$(cat "$T/mtastsd.log")"
check "after the non-reading client: victim.test answered" "$SEC" "$(pm "$SM" postfix victim.test)"

# ---- garbage: the malformed-netstring warning is rate limited --------------------------------
# 200 connections each sending "x:" (the daemon closes each), then, after the rate period,
# one more whose line names how many were held back. Compared with the time they took, so a
# slow machine can only lower the count.
t0=$(date +%s%N)
n0=$(grep -c 'malformed netstring in' "$T/mtastsd.log" || true)
python3 - "$SM" 200 <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n + 1):
    if i == n:
        time.sleep(1.2)  # past SM_LOG_RATE_MS: this one's line is written, with the count
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"x:")
    s.settimeout(60)
    while s.recv(4096):
        pass
    s.close()
PY
wall_s=$((($(date +%s%N) - t0) / 1000000000))
wait_log mtastsd 'malformed netstring in .x:., closing the connection \([0-9]+ more such since the last such line\)' || true
n1=$(grep -c 'malformed netstring in' "$T/mtastsd.log" || true)
say "     201 garbage connections in ${wall_s} s: $((n1 - n0)) warning lines"
check "garbage: at most about one warning line a second ($((n1 - n0)) lines in ${wall_s} s)" yes \
	"$([ $((n1 - n0)) -le $((wall_s + 3)) ] && echo yes || echo no)"
check_match "garbage: the held-back lines are counted" \
	"malformed netstring in 'x:', closing the connection \([0-9]+ more such since the last such line\)" \
	"$(cat "$T/mtastsd.log")"
check_match "metric: protocol errors counted" '^mtastsd_socketmap_protocol_errors_total 201$' \
	"$(curl -s "http://127.0.0.1:$ADM/metrics")"

check "mtastsd still running" alive "$(alive mtastsd)"
stop_bg mtastsd
check "no sanitizer report" 0 "$(grep -c 'Sanitizer' "$T/mtastsd.log" || true)"
finish
