#!/bin/bash
# t_resolver_postmap.sh - issue 3 "Done when": Postfix's own client (postmap -q over
# socketmap) gets the right reply for every kind of destination.
#
# Lab: ldns-testns with tests/system/data/resolver/lab.testns (+ change.test / cached.test
# generated here, replaced mid-test with new ids), fake_https serving every policy with one
# certificate for all mta-sts.* names, mtastsd with zones "postfix" (default) and "strict".
# No check depends on speed: "before the recheck interval" has RECHECK_S of slack for a few
# shell steps, and "answered at once" is an ordering (answered before the re-check it
# started could fail: the DNS server is stopped with SIGSTOP and dns_timeout is 10 s).
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns postmap

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www
RECHECK_S=10 # resolver.recheck_interval of this lab (RES_RECHECK)
export RES_RECHECK=${RECHECK_S}s
export RES_DNS_TIMEOUT=10s # a query to the stopped DNS server at the end fails after that

# ---- certificates and policies
DOMAINS="enforce.test testing.test none.test nxdomain.test nodata.test two.test mx.relay.test
	xn--bcher-kva.test split.test change.test cached.test fresh.test"
make_ca
names=()
for d in $DOMAINS; do names+=("mta-sts.$d"); done
make_cert www "${names[@]}"

policy_put "$WWW" enforce.test "$(policy_enforce mail.enforce.test '*.mx.enforce.test')"
policy_put "$WWW" testing.test 'version: STSv1\nmode: testing\nmx: mail.testing.test\nmax_age: 604800\n'
policy_put "$WWW" none.test 'version: STSv1\nmode: none\nmax_age: 86400\n'
# Served, but DNS says "no policy": a lookup must not fetch these.
policy_put "$WWW" nxdomain.test "$(policy_enforce mail.nxdomain.test)"
policy_put "$WWW" nodata.test "$(policy_enforce mail.nodata.test)"
policy_put "$WWW" two.test "$(policy_enforce mail.two.test)"
policy_put "$WWW" fresh.test "$(policy_enforce mail.fresh.test)"
policy_put "$WWW" mx.relay.test "$(policy_enforce mx.relay.test)"
policy_put "$WWW" xn--bcher-kva.test "$(policy_enforce mail.xn--bcher-kva.test)"
policy_put "$WWW" split.test "$(policy_enforce mail.split.test)"
policy_put "$WWW" change.test "$(policy_enforce mail1.change.test)"
policy_put "$WWW" cached.test "$(policy_enforce mail.cached.test)"

# ---- DNS: the static lab plus the two domains whose id changes
{
	testns_entry _mta-sts.change.test NOERROR '"v=STSv1; id=chg1"'
	testns_entry _mta-sts.cached.test NOERROR '"v=STSv1; id=cch1"'
	testns_entry _mta-sts.fresh.test NOERROR '"v=STSv1; id=frs1"'
} >"$T/dyn1.testns"
testns_start dns "$DNS" "$SYSDATA/resolver/lab.testns" "$T/dyn1.testns"
fake_https_start www "$HTTPS" www "$WWW"
resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"

ENF='secure match=mail.enforce.test:.mx.enforce.test servername=hostname'
NF=$(pm_notfound)

# ---- enforce, two mx (one wildcard); key forms Postfix sends
check "enforce" "$(pm_ok "$ENF")" "$(pm "$SM" postfix enforce.test)"
check "enforce again (cached)" "$(pm_ok "$ENF")" "$(pm "$SM" postfix enforce.test)"
check "enforce, trailing dot" "$(pm_ok "$ENF")" "$(pm "$SM" postfix enforce.test.)"
check "enforce, upper case" "$(pm_ok "$ENF")" "$(pm "$SM" postfix ENFORCE.Test)"
check "enforce, domain:port" "$(pm_ok "$ENF")" "$(pm "$SM" postfix enforce.test:25)"
check "enforce, [domain]" "$(pm_ok "$ENF")" "$(pm "$SM" postfix '[enforce.test]')"
check "enforce via map strict" "$(pm_ok "$ENF")" "$(pm "$SM" strict enforce.test)"
check "enforce via unknown map name (default zone)" "$(pm_ok "$ENF")" "$(pm "$SM" other enforce.test)"
check "enforce fetched once" 1 "$(fetch_count www mta-sts.enforce.test)"

# ---- testing, none, no policy
check "testing" "$NF" "$(pm "$SM" postfix testing.test)"
check "testing via unknown map name (default zone postfix)" "$NF" "$(pm "$SM" nosuchmap testing.test)"
check "testing via map strict" "$(pm_ok 'secure match=mail.testing.test servername=hostname')" \
	"$(pm "$SM" strict testing.test)"
check "none" "$NF" "$(pm "$SM" postfix none.test)"
check "none via map strict" "$NF" "$(pm "$SM" strict none.test)"
check "no TXT (NXDOMAIN)" "$NF" "$(pm "$SM" postfix nxdomain.test)"
check "no TXT (NODATA)" "$NF" "$(pm "$SM" postfix nodata.test)"
check "two STSv1 TXT records" "$NF" "$(pm "$SM" postfix two.test)"
check "no fetch for NXDOMAIN" 0 "$(fetch_count www mta-sts.nxdomain.test)"
check "no fetch for NODATA" 0 "$(fetch_count www mta-sts.nodata.test)"
check "no fetch for two TXT records" 0 "$(fetch_count www mta-sts.two.test)"
check "TXT split in two strings" "$(pm_ok 'secure match=mail.split.test servername=hostname')" \
	"$(pm "$SM" postfix split.test)"

# ---- relay key: the Policy Domain is the name inside the brackets
check "relay [mx.relay.test]:587" "$(pm_ok 'secure match=mx.relay.test servername=hostname')" \
	"$(pm "$SM" postfix '[mx.relay.test]:587')"
check "relay [MX.Relay.test]:587 (case)" "$(pm_ok 'secure match=mx.relay.test servername=hostname')" \
	"$(pm "$SM" postfix '[MX.Relay.test]:587')"

# ---- IDN: Postfix sends the UTF-8 key as-is; the A-label zone's policy answers
check "IDN bücher.test" "$(pm_ok 'secure match=mail.xn--bcher-kva.test servername=hostname')" \
	"$(pm "$SM" postfix 'bücher.test')"
check "IDN A-label key" "$(pm_ok 'secure match=mail.xn--bcher-kva.test servername=hostname')" \
	"$(pm "$SM" postfix 'xn--bcher-kva.test')"
check "IDN fetched once (U-label and A-label share the cache)" 1 \
	"$(fetch_count www mta-sts.xn--bcher-kva.test)"

# ---- no lookup at all: parent probe, IP literals, invalid names
check "parent probe .enforce.test" "$NF" "$(pm "$SM" postfix .enforce.test)"
check "parent probe .fresh.test" "$NF" "$(pm "$SM" postfix .fresh.test)"
check "parent probe did not fetch" 0 "$(fetch_count www mta-sts.fresh.test)"
check "IP literal [192.0.2.1]" "$NF" "$(pm "$SM" postfix '[192.0.2.1]')"
check "IP literal [192.0.2.1]:587" "$NF" "$(pm "$SM" postfix '[192.0.2.1]:587')"
check "IP literal [IPv6:2001:db8::1]" "$NF" "$(pm "$SM" postfix '[IPv6:2001:db8::1]')"
check "bare IPv4 192.0.2.1" "$NF" "$(pm "$SM" postfix 192.0.2.1)"
check "invalid name a..b.test" "$NF" "$(pm "$SM" postfix 'a..b.test')"
check "invalid name bad!name.test" "$NF" "$(pm "$SM" postfix 'bad!name.test')"
# A valid name of 250 octets: "_mta-sts." makes it 259, over DNS's 253, so it cannot have
# a policy: NOTFOUND without a query, not TEMP (the trial: "cannot start the DNS query",
# which deferred its mail).
LONG=$(printf 'a%.0s' $(seq 62)).$(printf 'b%.0s' $(seq 62)).$(printf 'c%.0s' $(seq 62)).$(printf 'd%.0s' $(seq 58)).test
check "250-octet name: NOTFOUND (no _mta-sts TXT can exist)" "$NF" "$(pm "$SM" postfix "$LONG")"
check "250-octet name: no temporary failure logged" 0 \
	"$(grep -c "cannot start the DNS query\|temporary failure.*$LONG" "$T/mtastsd.log" || true)"
check "fresh.test still fetchable" "$(pm_ok 'secure match=mail.fresh.test servername=hostname')" \
	"$(pm "$SM" postfix fresh.test)"

# ---- changed TXT id / failed fetch with a valid cached policy
check "change.test v1" "$(pm_ok 'secure match=mail1.change.test servername=hostname')" \
	"$(pm "$SM" postfix change.test)"
check "cached.test v1" "$(pm_ok 'secure match=mail.cached.test servername=hostname')" \
	"$(pm "$SM" postfix cached.test)"
t0=$(date +%s)
# New ids; change.test gets a new policy body, cached.test's new policy cannot be fetched.
policy_put "$WWW" change.test "$(policy_enforce mail2.change.test)"
policy_put "$WWW" cached.test "$(policy_enforce mail2.cached.test)" 404
{
	testns_entry _mta-sts.change.test NOERROR '"v=STSv1; id=chg2"'
	testns_entry _mta-sts.cached.test NOERROR '"v=STSv1; id=cch2"'
	testns_entry _mta-sts.fresh.test NOERROR '"v=STSv1; id=frs1"'
} >"$T/dyn2.testns"
stop_bg dns
testns_start dns "$DNS" "$SYSDATA/resolver/lab.testns" "$T/dyn2.testns"
# Before the recheck interval the cached policy answers without any check.
check "change.test before recheck: still v1" \
	"$(pm_ok 'secure match=mail1.change.test servername=hostname')" "$(pm "$SM" postfix change.test)"
check "change.test: one fetch so far" 1 "$(fetch_count www mta-sts.change.test)"
# Wait past the recheck interval, then poll (a lookup triggers the background re-check;
# at most LIVE_S).
while [ $(($(date +%s) - t0)) -le "$RECHECK_S" ]; do sleep 1; done
got=""
end=$((SECONDS + LIVE_S))
while [ "$SECONDS" -lt "$end" ]; do
	got=$(pm "$SM" postfix change.test)
	[ "$got" = "$(pm_ok 'secure match=mail2.change.test servername=hostname')" ] && break
	case "$got" in
	"$(pm_ok 'secure match=mail1.change.test servername=hostname')") ;;
	*) break ;; # anything but the old or the new policy is wrong
	esac
	sleep 0.5
done
check "change.test after recheck: new policy served" \
	"$(pm_ok 'secure match=mail2.change.test servername=hostname')" "$got"
check "change.test: fetched twice in all" 2 "$(fetch_count www mta-sts.change.test)"

# cached.test: the new id's fetch answers 404; the cached policy keeps applying (polled
# until the re-fetch was made, at most LIVE_S).
i=0
end=$((SECONDS + LIVE_S))
while :; do
	i=$((i + 1))
	check "cached.test after recheck, fetch 404 (#$i)" \
		"$(pm_ok 'secure match=mail.cached.test servername=hostname')" "$(pm "$SM" postfix cached.test)"
	[ "$(fetch_count www mta-sts.cached.test)" -ge 2 ] && break
	[ "$SECONDS" -lt "$end" ] || break
	sleep 0.5
done
check_match "cached.test: re-fetch was attempted (count >= 2)" '^([2-9]|[1-9][0-9]+)$' \
	"$(fetch_count www mta-sts.cached.test)"
# HTTPS server gone entirely: still the cached policy, also for the parked enforce.test.
stop_bg www
check "cached.test with fake_https stopped" \
	"$(pm_ok 'secure match=mail.cached.test servername=hostname')" "$(pm "$SM" postfix cached.test)"
check "enforce.test with fake_https stopped" "$(pm_ok "$ENF")" "$(pm "$SM" postfix enforce.test)"
# DNS silent too (SIGSTOP: queries go unanswered): split.test was last checked more than the
# recheck interval ago, so this lookup starts a re-check and waits for it (issue 22: a
# changed id must answer with the new policy); the re-check times out after dns_timeout
# (10 s, within the zone's 30 s) and the cached policy answers, never NOTFOUND.
kill -STOP "$(cat "$T/dns.pid")"
SPLIT=$(pm_ok 'secure match=mail.split.test servername=hostname')
rechecks_failed() {
	grep -c "domain 'split.test': temporary failure (.*), keeping cached policy" "$T/mtastsd.log" || true
}
n0=$(rechecks_failed)
check "split.test with DNS down: the cached policy" "$SPLIT" "$(pm "$SM" postfix split.test)"
check_match "split.test with DNS down: the lookup waited for the re-check it started" \
	"domain 'split.test': TXT re-check due, the lookup waits for it" "$(cat "$T/mtastsd.log")"
# (at least one: a proactive re-check of this busy domain may fail meanwhile too)
check "split.test with DNS down: answered after the re-check failed (logged)" yes \
	"$([ "$(rechecks_failed)" -gt "$n0" ] && echo yes || echo "no ($(rechecks_failed) <= $n0)")"
# Again: the cached policy, whether this lookup finds retry_after (tempfail_ttl, 1 s) still
# running or waits for another failing re-check.
check "split.test after the failed re-check" "$SPLIT" "$(pm "$SM" postfix split.test)"
kill -CONT "$(cat "$T/dns.pid")"
check "none.test fetched once" 1 "$(fetch_count www mta-sts.none.test)"
check "testing.test fetched once (both zones share the cache)" 1 \
	"$(fetch_count www mta-sts.testing.test)"
check "mtastsd still running" alive "$(alive mtastsd)"
finish
