#!/bin/bash
# t_resolver_flood.sh - issue 15 part 3: a flood of names cannot evict a policy.
#
# Lab: ldns-testns, fake_https, mtastsd with cache.max_entries = 5 (policies) and
# cache.max_negative_entries = 100. Five policies fill the policy budget exactly; then
# 3000 lookups of distinct non-existent names (NXDOMAIN), over one socketmap connection.
# Then the five TXT records are removed from DNS: each of the five is still answered
# secure, which only the memory cache can do (a miss would query DNS, find no TXT record
# and answer NOTFOUND), and none was fetched again. With one bound for both kinds (before),
# the first names of the flood evicted them all.
. "$(dirname "$0")/lib.sh"

lab_ports
NAMES=3000
DOMS="p1.test p2.test p3.test p4.test p5.test"

# shellcheck disable=SC2086 # DOMS: one word per domain
lab_enforce 1 $DOMS
resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
cat >>"$T/mtastsd.conf" <<EOC
cache = {
	max_entries = 5;
	max_negative_entries = 100;
};
EOC
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"

sec() { pm_ok "secure match=mail.$1 servername=hostname"; }
for d in $DOMS; do
	check "$d cached as enforce" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
done

# ---- the flood: NAMES distinct NXDOMAIN names, one request at a time on one connection
flood=$(python3 - "$SM" "$NAMES" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=60)
buf, notfound, other = b"", 0, 0
for i in range(n):
    req = ("postfix n%d.flood.test" % i).encode()
    s.sendall(str(len(req)).encode() + b":" + req + b",")
    while True:
        c = buf.find(b":")
        if c > 0 and len(buf) >= c + 2 + int(buf[:c]):
            ln = int(buf[:c])
            payload, buf = buf[c + 1:c + 1 + ln], buf[c + 2 + ln:]
            break
        d = s.recv(4096)
        if not d:
            print("closed after %d" % i)
            sys.exit(1)
        buf += d
    if payload.startswith(b"NOTFOUND"):
        notfound += 1
    else:
        other += 1
print("notfound=%d other=%d" % (notfound, other))
PY
)
check "$NAMES flood names: all NOTFOUND" "notfound=$NAMES other=0" "$flood"

# ---- the TXT records gone (NXDOMAIN for every name): only the memory cache can answer now
stop_bg dns
: >"$T/none.testns"
testns_start dns "$DNS" "$T/none.testns"
for d in $DOMS; do
	check "$d after the flood, TXT gone: still secure" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
	check "$d fetched once" 1 "$(fetch_count www "mta-sts.$d")"
done
check "mtastsd still running" alive "$(alive mtastsd)"
finish
