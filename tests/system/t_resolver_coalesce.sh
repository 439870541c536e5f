#!/bin/bash
# t_resolver_coalesce.sh - issue 3 "Done when": 100 concurrent lookups of one uncached domain
# cause exactly one HTTPS fetch (counted by fake_https --count-file) and one DNS query
# (counted in ldns-testns -v output); all 100 replies are right.
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www
N=100
# One burst of N lookups (N postmap processes) may take more than the lab's default 1 s
# negative TTL or DNS timeout on a loaded 2-core machine; the counts below are about
# coalescing within the burst, so the cached results must outlive it.
export RES_NEGATIVE_TTL=60s RES_TEMPFAIL_TTL=60s RES_DNS_TIMEOUT=5s

make_ca
make_cert www mta-sts.coal.test mta-sts.nopol.test
# slow=1500: the fetch stays in flight while all 100 requests arrive.
policy_put "$WWW" coal.test "$(policy_enforce mail.coal.test '*.mx.coal.test')" slow=1500
policy_put "$WWW" nopol.test "$(policy_enforce mail.nopol.test)"
{
	testns_entry _mta-sts.coal.test NOERROR '"v=STSv1; id=coal1"'
	testns_entry _mta-sts.nopol.test NXDOMAIN
} >"$T/coal.testns"
{ cat "$T/coal.testns"; testns_catchall; } >"$T/dns.testns"
start_bg dns ldns-testns -v -p "$DNS" "$T/dns.testns"
wait_tcp "$DNS"
fake_https_start www "$HTTPS" www "$WWW"
resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"

# burst KEY: N connections opened first, then one request each released at the same moment;
# prints one line per connection: the reply payload, or ERROR <what>.
burst() {
	python3 - "$SM" "$N" "postfix $1" <<'PY'
import socket, sys, threading
port, n, req = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
frame = str(len(req)).encode() + b":" + req + b","
socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(n)]
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
                out[i] = "ERROR closed after %r" % buf
                return
            buf += d
            c = buf.find(b":")
            if c > 0 and len(buf) >= c + 2 + int(buf[:c]):
                ln = int(buf[:c])
                if buf[c + 1 + ln:c + 2 + ln] != b",":
                    out[i] = "ERROR bad netstring %r" % buf
                else:
                    out[i] = buf[c + 1:c + 1 + ln].decode("ascii", "replace")
                return
    except Exception as e:
        out[i] = "ERROR %s" % e
    finally:
        s.close()
ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(out))
PY
}
dns_count() {
	grep -ciE "bytes: _mta-sts\.$1\.[[:space:]]+IN[[:space:]]+TXT" "$T/dns.log" || true
}

ENF='OK secure match=mail.coal.test:.mx.coal.test servername=hostname'
start=$(date +%s.%N)
burst coal.test >"$T/burst1.out"
end=$(date +%s.%N)
say "burst of $N lookups took $(awk "BEGIN{print $end - $start}") s"
check "uncached burst: $N replies" "$N" "$(wc -l <"$T/burst1.out")"
check "uncached burst: all replies right" "$N $ENF" "$(sort "$T/burst1.out" | uniq -c | sed 's/^ *//')"
check "uncached burst: exactly one HTTPS fetch" 1 "$(fetch_count www mta-sts.coal.test)"
check "uncached burst: exactly one DNS query" 1 "$(dns_count coal.test)"

burst coal.test >"$T/burst2.out"
check "cached burst: all replies right" "$N $ENF" "$(sort "$T/burst2.out" | uniq -c | sed 's/^ *//')"
check "cached burst: still one HTTPS fetch" 1 "$(fetch_count www mta-sts.coal.test)"
check "cached burst: still one DNS query" 1 "$(dns_count coal.test)"

# "No policy" is shared the same way: one DNS query, no fetch, all NOTFOUND.
burst nopol.test >"$T/burst3.out"
check "no-policy burst: all NOTFOUND" "$N NOTFOUND " "$(sort "$T/burst3.out" | uniq -c | sed 's/^ *//')"
check "no-policy burst: exactly one DNS query" 1 "$(dns_count nopol.test)"
check "no-policy burst: no fetch" 0 "$(fetch_count www mta-sts.nopol.test)"

check "mtastsd still running" alive "$(alive mtastsd)"
finish
