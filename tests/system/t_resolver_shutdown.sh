#!/bin/bash
# t_resolver_shutdown.sh - a socketmap lookup cut off by shutdown gets its documented reply
#
# docs/socketmap.md: a lookup still waiting when process.shutdown_timeout expires is answered
# `TEMP lookup canceled, server shutting down`, so Postfix defers the message instead of
# seeing the connection drop (and then "Connection refused" on reconnect). The policy host
# of stall*.test never sends its body (fake_https stall-after-headers), the zone timeout is
# 30 s and shutdown_timeout 3 s. A raw client pipelines two requests for stalled domains on
# one connection and keeps a second connection open without a request; then the daemon gets
# SIGTERM; a third connection sends one such request with 299 more pipelined behind it.
# Expected: both requests answered, in order, with exactly that TEMP netstring once the
# shutdown timeout has passed (not before), then EOF; all 300 on the third connection too;
# the idle connection gets EOF and no reply; the daemon exits 0. The client waits up to
# LIVE_S beyond the shutdown timeout for each of these: none is a speed check.
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www
SHUTDOWN_S=3

make_ca
make_cert www mta-sts.stall.test mta-sts.stall2.test
: >"$T/stall.testns"
for d in stall stall2; do
	policy_put "$WWW" "$d.test" "$(policy_enforce "mail.$d.test")" stall-after-headers
	testns_entry "_mta-sts.$d.test" NOERROR "\"v=STSv1; id=${d}1\"" >>"$T/stall.testns"
done
testns_start dns "$DNS" "$T/stall.testns"
fake_https_start www "$HTTPS" www "$WWW"
RES_ZONE_TIMEOUT=30s RES_FETCH_TIMEOUT=60s resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
sed -i "s/shutdown_timeout = \"1s\"/shutdown_timeout = \"${SHUTDOWN_S}s\"/" "$T/mtastsd.conf"
check_match "config: shutdown_timeout ${SHUTDOWN_S}s" "shutdown_timeout = \"${SHUTDOWN_S}s\"" \
	"$(cat "$T/mtastsd.conf")"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"
PID=$(cat "$T/mtastsd.pid")

python3 - "$SM" "$PID" "$T/www.count" "$SHUTDOWN_S" "$LIVE_S" >"$T/client.txt" 2>"$T/client.log" <<'PY'
import os, signal, socket, sys, time
port, pid, count_file, shut_s = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
live = int(sys.argv[5])
NPIPE = 300

def ns(s):
    b = s.encode()
    return b"%d:%s," % (len(b), b)

def fetches(host):
    try:
        with open(count_file) as f:
            return sum(1 for l in f if l.strip() == host)
    except OSError:
        return 0

s = socket.create_connection(("127.0.0.1", port), timeout=live)
idle = socket.create_connection(("127.0.0.1", port), timeout=live)
s.sendall(ns("postfix stall.test") + ns("postfix stall2.test"))
# A third connection: a lookup that joins the stalled discovery, NPIPE requests behind it.
many = socket.create_connection(("127.0.0.1", port), timeout=live)
many.sendall(ns("postfix stall.test") + ns("postfix stall2.test") * (NPIPE - 1))
# The first lookup is in flight once its policy fetch reached the stalling host (bounded).
end = time.monotonic() + live
while time.monotonic() < end:
    if fetches("mta-sts.stall.test") >= 1:
        break
    time.sleep(0.05)
print("fetch_started=%s" % ("yes" if fetches("mta-sts.stall.test") >= 1 else "no"))
t0 = time.monotonic()
os.kill(pid, signal.SIGTERM)
# Read every reply until EOF; bounded by shutdown_timeout + LIVE_S.
s.settimeout(0.2)
buf, end, replies = b"", "OPEN", []
deadline = t0 + shut_s + live
while time.monotonic() < deadline:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    except OSError as e:
        end = "RESET %s" % e
        break
    if not d:
        end = "CLOSED"
        break
    buf += d
    while True:
        c = buf.find(b":")
        if c <= 0 or not buf[:c].isdigit():
            break
        n = int(buf[:c])
        if len(buf) < c + 2 + n:
            break
        if buf[c + 1 + n:c + 2 + n] != b",":
            replies.append(("GARBAGE", repr(buf), time.monotonic() - t0))
            buf = b""
            break
        replies.append(("REPLY", buf[c + 1:c + 1 + n].decode(), time.monotonic() - t0))
        buf = buf[c + 2 + n:]
for kind, text, at in replies:
    print("%s %s" % (kind, text))
    print("at=%.2f" % at)
if buf:
    print("LEFTOVER %r" % buf)
print("END %s" % end)
print("end_at=%.2f" % (time.monotonic() - t0))
# The idle connection: EOF, no reply.
idle.settimeout(shut_s + live)
try:
    d = idle.recv(100)
    print("idle=%s" % ("CLOSED" if not d else "DATA %r" % d))
except OSError as e:
    print("idle=ERROR %s" % e)
# The third connection: NPIPE TEMP replies, then EOF.
many.settimeout(live)
buf, n_temp, other = b"", 0, []
while True:
    try:
        d = many.recv(65536)
    except OSError as e:
        other.append("ERROR %s" % e)
        break
    if not d:
        break
    buf += d
want = ns("TEMP lookup canceled, server shutting down")
while buf.startswith(want):
    n_temp += 1
    buf = buf[len(want):]
print("pipelined_temp=%d" % n_temp)
print("pipelined_rest=%s" % " ".join([repr(buf[:60])] + other))

def running():
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

while running() and time.monotonic() < t0 + shut_s + live:
    time.sleep(0.05)
print("exited=%s" % ("no" if running() else "yes"))
print("exit_at=%.2f" % (time.monotonic() - t0))
PY
say "$(cat "$T/client.txt")"
v() { sed -n "s/^$1=//p" "$T/client.txt"; }

TEMP="TEMP lookup canceled, server shutting down"
check "the stalled lookup was in flight at SIGTERM" yes "$(v fetch_started)"
check "both pipelined requests answered TEMP in order, then EOF" "REPLY $TEMP
REPLY $TEMP
END CLOSED" "$(grep -E '^(REPLY|GARBAGE|LEFTOVER|END) ' "$T/client.txt")"
first_at=$(v at | head -n 1)
say "the first reply came $first_at s after SIGTERM"
# (the client reads its clock before it sends SIGTERM: the daemon's timer starts later)
check "the first reply does not come before the shutdown timeout (${SHUTDOWN_S}s)" yes \
	"$(python3 -c "import sys; a = float(sys.argv[1] or -1); print('yes' if a >= $SHUTDOWN_S - 0.3 else 'no: %s' % a)" "$first_at")"
check "the idle connection is closed without a reply" CLOSED "$(v idle)"
check "300 pipelined requests behind a stalled one: 300 TEMP replies, then EOF" "300 b''" \
	"$(v pipelined_temp) $(v pipelined_rest)"

say "daemon exited $(v exit_at) s after SIGTERM"
check "the daemon exits after SIGTERM" yes "$(v exited)"
set +e
if [ "$(v exited)" = yes ]; then
	wait "$PID"
	rc=$?
else
	kill -9 "$PID" 2>/dev/null
	rc=killed
fi
set -e
check "exit status 0" 0 "$rc"
check_match "logged: waiting lookups answered TEMP at the shutdown timeout" \
	"shutdown timeout, answering 2 connections still waiting for an answer TEMP" \
	"$(cat "$T/mtastsd.log")"
check_match "logged: shutdown complete" 'shutdown complete' "$(cat "$T/mtastsd.log")"

finish
