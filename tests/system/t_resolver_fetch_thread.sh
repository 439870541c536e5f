#!/bin/bash
# t_resolver_fetch_thread.sh - the policy fetches' worker thread (common/curlm.h
# curlm_new_threaded, issue 21) across reload and shutdown with transfers in flight
#
# The daemon's policy fetches run on libcurl multis on worker threads; a reload replaces
# the fetcher (pol_engine_reload: every fetch in flight is cancelled with curlm_remove()
# while the worker drives it, and started again on the new one) and a shutdown frees it
# with transfers still running. Lab: N_STALL policy hosts that send their headers and then
# stall (fake_https stall-after-headers), N_SLOW that answer after SLOW_MS (in flight at the
# first reload too), N_OK that answer at once, all on one fake_https. A client asks for
# each stalled domain on a connection of its own (a connection is answered in order) and
# pipelines the others on 4 more; once every stalled fetch has reached its host the daemon
# gets SIGHUP (fetch_timeout changed in the file), the stalled fetches must reach their
# hosts again (restarted on the new fetcher), the answering domains must all be answered
# with their policy, then a second SIGHUP and at once SIGTERM: every stalled request is answered
# TEMP (shutdown), every connection ends with EOF, the daemon exits 0 (a sanitizer report
# makes it exit non-zero) and logs no sanitizer error. Every wait is bounded by LIVE_S.
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns

N_STALL=24
N_SLOW=24
N_OK=24
SLOW_MS=1500
DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www

make_ca
names=()
: >"$T/zone.testns"
for i in $(seq 1 $N_STALL); do
	d=stall$i.test
	names+=("mta-sts.$d")
	policy_put "$WWW" "$d" "$(policy_enforce "mx.$d")" stall-after-headers
	testns_entry "_mta-sts.$d" NOERROR "\"v=STSv1; id=s$i\"" >>"$T/zone.testns"
done
for i in $(seq 1 $N_SLOW); do
	d=slow$i.test
	names+=("mta-sts.$d")
	policy_put "$WWW" "$d" "$(policy_enforce "mx.$d")" "slow=$SLOW_MS"
	testns_entry "_mta-sts.$d" NOERROR "\"v=STSv1; id=w$i\"" >>"$T/zone.testns"
done
for i in $(seq 1 $N_OK); do
	d=ok$i.test
	names+=("mta-sts.$d")
	policy_put "$WWW" "$d" "$(policy_enforce "mx.$d")"
	testns_entry "_mta-sts.$d" NOERROR "\"v=STSv1; id=o$i\"" >>"$T/zone.testns"
done
make_cert www "${names[@]}"
testns_start dns "$DNS" "$T/zone.testns"
fake_https_start www "$HTTPS" www "$WWW"
RES_ZONE_TIMEOUT=50s RES_FETCH_TIMEOUT=60s resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"
PID=$(cat "$T/mtastsd.pid")

python3 - "$SM" "$PID" "$T/www.count" "$T/mtastsd.conf" "$LIVE_S" "$N_STALL" "$N_SLOW" \
	"$N_OK" >"$T/client.txt" 2>"$T/client.log" <<'PY'
import os, signal, socket, sys, time
port, pid, count_file, conf = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
live, n_stall, n_slow, n_ok = (int(a) for a in sys.argv[5:9])
NCONN = 4

def ns(s):
    b = s.encode()
    return b"%d:%s," % (len(b), b)

def stall_fetches():
    try:
        with open(count_file) as f:
            return sum(1 for l in f if l.startswith("mta-sts.stall"))
    except OSError:
        return 0

def wait(pred, what):
    end = time.monotonic() + live
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    print("timeout=%s" % what)
    return False

class Conn:
    def __init__(self, domains):
        self.domains = domains
        self.s = socket.create_connection(("127.0.0.1", port), timeout=live)
        self.s.settimeout(0.05)
        self.buf, self.replies, self.eof = b"", [], False
        self.s.sendall(b"".join(ns("postfix " + d) for d in domains))

    def poll(self):
        if self.eof:
            return
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return
        except OSError as e:
            self.replies.append("RESET %s" % e)
            self.eof = True
            return
        if not d:
            self.eof = True
            return
        self.buf += d
        while True:
            c = self.buf.find(b":")
            if c <= 0 or not self.buf[:c].isdigit():
                break
            n = int(self.buf[:c])
            if len(self.buf) < c + 2 + n:
                break
            if self.buf[c + 1 + n:c + 2 + n] != b",":
                self.replies.append("GARBAGE %r" % self.buf[:80])
                self.buf = b""
                break
            self.replies.append(self.buf[c + 1:c + 1 + n].decode())
            self.buf = self.buf[c + 2 + n:]

stall = ["stall%d.test" % i for i in range(1, n_stall + 1)]
other = ["slow%d.test" % i for i in range(1, n_slow + 1)] + \
        ["ok%d.test" % i for i in range(1, n_ok + 1)]
sconns = [Conn([d]) for d in stall]  # a connection answers in order: one each
oconns = [Conn(other[i::NCONN]) for i in range(NCONN)]
allc = sconns + oconns

def pump(conns):
    for c in conns:
        c.poll()

def answered(conns):
    pump(conns)
    return all(len(c.replies) >= len(c.domains) for c in conns)

# 1. Every stalled fetch reached its host: the worker drives them all.
print("stalled_in_flight=%s" % wait(lambda: stall_fetches() >= n_stall, "stall1"))
print("stalled_answered_early=%d" % sum(len(c.replies) for c in (pump(sconns) or sconns)))
# 2. Reload with the transfers in flight: the fetcher is replaced (fetch_timeout changed).
with open(conf) as f:
    text = f.read()
with open(conf, "w") as f:
    f.write(text.replace('fetch_timeout = "60s"', 'fetch_timeout = "59s"'))
os.kill(pid, signal.SIGHUP)
# 3. The stalled fetches start again on the new fetcher; the others are all answered.
print("stalled_restarted=%s" % wait(lambda: stall_fetches() >= 2 * n_stall, "stall2"))
print("others_answered=%s" % wait(lambda: answered(oconns), "others"))
# 4. Reload again and stop at once: fetches in flight on the worker, some being cancelled.
os.kill(pid, signal.SIGHUP)
time.sleep(0.05)
os.kill(pid, signal.SIGTERM)
wait(lambda: (pump(allc) or True) and all(c.eof for c in allc), "eof")
for i, c in enumerate(allc):
    for d, r in zip(c.domains, c.replies + ["NONE"] * len(c.domains)):
        print("REPLY %s %s" % (d, r))
    print("CONN %d replies=%d/%d eof=%s extra=%d leftover=%r" % (
        i, min(len(c.replies), len(c.domains)), len(c.domains), c.eof,
        max(0, len(c.replies) - len(c.domains)), c.buf[:40]))

def running():
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

t0 = time.monotonic()
while running() and time.monotonic() < t0 + live:
    time.sleep(0.05)
print("exited=%s" % ("no" if running() else "yes"))
PY
say "$(grep -v '^REPLY ' "$T/client.txt")"
v() { sed -n "s/^$1=//p" "$T/client.txt"; }

check "no wait timed out" "" "$(v timeout)"
check "every stalled fetch was in flight on the worker before the reload" True \
	"$(v stalled_in_flight)"
check "no stalled lookup was answered before the shutdown" 0 "$(v stalled_answered_early)"
check "after SIGHUP the stalled fetches were cancelled and started again on the new fetcher" \
	True "$(v stalled_restarted)"
check "the answering domains were all answered after the reload" True "$(v others_answered)"
bad=$(grep -E '^REPLY (slow|ok)[0-9]+\.test ' "$T/client.txt" | grep -v ' OK ' || true)
check "every answering domain got its policy (OK)" "" "$bad"
n_ok_replies=$(grep -cE '^REPLY (slow|ok)[0-9]+\.test OK ' "$T/client.txt" || true)
check "answering domains answered OK" $((N_SLOW + N_OK)) "$n_ok_replies"
TEMP="TEMP lookup canceled, server shutting down"
n_temp=$(grep -cE "^REPLY stall[0-9]+\.test $TEMP\$" "$T/client.txt" || true)
check "every stalled lookup was answered '$TEMP'" "$N_STALL" "$n_temp"
check "every connection: one reply per request, nothing more, then EOF" "" \
	"$(grep '^CONN ' "$T/client.txt" | grep -vE 'replies=([0-9]+)/\1 eof=True extra=0 leftover=b..$' || true)"
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
check "no sanitizer report" "" "$(grep -E 'Sanitizer|runtime error' "$T/mtastsd.log" || true)"
check_match "logged: the reload" 'reload' "$(cat "$T/mtastsd.log")"
check_match "logged: shutdown complete" 'shutdown complete' "$(cat "$T/mtastsd.log")"

finish
