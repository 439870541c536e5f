#!/bin/bash
# t_policy_min_interval.sh - a policy with max_age 0 is not fetched again on every lookup.
#
# The trial: a domain publishing "max_age: 0" (valid, RFC 8461 section 3.2) was fetched
# on each lookup (50 lookups, 50 TXT queries and HTTPS fetches): anyone publishing such a
# policy turns each mail to the domain into a fetch. The engine answers a policy for at
# least resolver.tempfail_ttl (the interval it already spaces a domain's retries by).
#
# Lab: ldns-testns + fake_https, z.test publishes an enforce policy with max_age 0, the
# resolver with tempfail_ttl = 10m (far beyond the test's run). 50 lookups: all secure,
# one fetch. Loopback only.
. "$(dirname "$0")/lib.sh"

need_cmd ldns-testns certtool postmap

lab_ports
export RES_TEMPFAIL_TTL=10m
N=50

lab_enforce 1 z.test
policy_put "$WWW" z.test 'version: STSv1\nmode: enforce\nmx: mail.z.test\nmax_age: 0\n'
resolver_conf "$T/m.conf" "$SM" "$DNS" "$HTTPS"
mtastsd_start m "$T/m.conf" "$SM"

want=$(pm_ok 'secure match=mail.z.test servername=hostname')
ok=0
for _ in $(seq 1 "$N"); do
	[ "$(pm "$SM" postfix z.test)" = "$want" ] && ok=$((ok + 1))
done
check "$N lookups of the max_age 0 policy: all secure" "$N" "$ok"
check "z.test fetched once (tempfail_ttl spaces the fetches)" 1 "$(fetch_count www mta-sts.z.test)"
check "m running" alive "$(alive m)"
finish
