#!/bin/bash
# t_resolver_recheck.sh - issue 22 part 1: a changed TXT id is answered with the new policy.
#
# Lab: ldns-testns (the ids), fake_https (the policies), mtastsd with recheck_interval 10 s,
# through Postfix's postmap. Policies cached as enforce; then every TXT id changes:
#  - low.test (looked up once) lowers its policy to mode none: the very next lookup after
#    the recheck interval waits for the re-check and answers NOTFOUND, not secure; it is
#    that lookup's re-check which fetched the new policy (one fetch before it, two after);
#  - busy.test (looked up twice: recently used) lowers to mode testing: the proactive pass
#    re-checks it without any lookup, and its next lookup answers NOTFOUND;
#  - keep.test announces a new id whose policy cannot be fetched (404): the lookup that
#    found it answers the cached policy, secure (RFC 8461 section 5.1).
. "$(dirname "$0")/lib.sh"

lab_ports
# The proactive pass re-checks a policy used within the last recheck_interval one tick
# (a quarter of it) before its re-check is due: the new ids must be in DNS before that,
# i.e. within 3/4 of RECHECK_S after the lookups above. 4 s left 3 s for restarting
# ldns-testns, which a loaded ASan run on a fresh machine once missed (busy.test was then
# re-checked against the old server, and no longer "recently used" at the next tick).
RECHECK_S=10
LIVE_S=60 # liveness bound of the waits (the pass runs every second)
export RES_RECHECK=${RECHECK_S}s

make_ca
make_cert www mta-sts.low.test mta-sts.busy.test mta-sts.keep.test
for d in low.test busy.test keep.test; do
	policy_put "$WWW" "$d" "$(policy_enforce "mail.$d")"
done
ids() { # ids SUFFIX: the three TXT records with id <name>SUFFIX
	local d
	for d in low busy keep; do
		testns_entry "_mta-sts.$d.test" NOERROR "\"v=STSv1; id=$d$1\""
	done
}
ids 1 >"$T/ids1.testns"
ids 2 >"$T/ids2.testns"
testns_start dns "$DNS" "$T/ids1.testns"
fake_https_start www "$HTTPS" www "$WWW"
resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"

sec() { pm_ok "secure match=mail.$1 servername=hostname"; }
NF=$(pm_notfound)

# ---- cached as enforce
check "low.test enforce" "$(sec low.test)" "$(pm "$SM" postfix low.test)"
check "busy.test enforce" "$(sec busy.test)" "$(pm "$SM" postfix busy.test)"
check "busy.test enforce (again: recently used)" "$(sec busy.test)" "$(pm "$SM" postfix busy.test)"
check "keep.test enforce" "$(sec keep.test)" "$(pm "$SM" postfix keep.test)"
t0=$(date +%s) # every policy was last checked at or before t0

# ---- the domains change their ids and policies
policy_put "$WWW" low.test 'version: STSv1\nmode: none\nmax_age: 86400\n'
policy_put "$WWW" busy.test 'version: STSv1\nmode: testing\nmx: mail.busy.test\nmax_age: 86400\n'
policy_behave "$WWW" keep.test 404
stop_bg dns
testns_start dns "$DNS" "$T/ids2.testns"

# ---- busy.test: re-checked before anyone asks
stored=no
for i in $(seq 1 $((LIVE_S * 10))); do
	if grep -q "domain 'busy.test': policy id busy2 fetched" "$T/mtastsd.log"; then
		stored=yes
		break
	fi
	sleep 0.1
done
check "busy.test: new policy stored by the proactive pass, before any lookup" yes "$stored"
check "busy.test: fetched twice in all" 2 "$(fetch_count www mta-sts.busy.test)"
check "busy.test next lookup: NOTFOUND (mode testing)" "$NF" "$(pm "$SM" postfix busy.test)"

# ---- low.test: the very next lookup after the recheck interval
while [ $(($(date +%s) - t0)) -le "$RECHECK_S" ]; do sleep 0.2; done
check "low.test: no re-check before its lookup" 1 "$(fetch_count www mta-sts.low.test)"
check "low.test first lookup after the recheck interval: NOTFOUND (mode none)" "$NF" \
	"$(pm "$SM" postfix low.test)"
check "low.test: that lookup fetched the new policy" 2 "$(fetch_count www mta-sts.low.test)"
check "low.test again: NOTFOUND, from the cache" "$NF" "$(pm "$SM" postfix low.test)"
check "low.test: no more fetches" 2 "$(fetch_count www mta-sts.low.test)"

# ---- keep.test: the new id's policy cannot be fetched: the cached policy answers
check "keep.test after the recheck interval, fetch 404: still secure" "$(sec keep.test)" \
	"$(pm "$SM" postfix keep.test)"
check "keep.test: the new id's fetch was tried" 2 "$(fetch_count www mta-sts.keep.test)"
check_match "keep.test: kept, logged" "keeping cached policy id keep1" \
	"$(grep "domain 'keep.test'" "$T/mtastsd.log" | tail -n 1)"
check_match "low.test: the lookup waited for the re-check" \
	"TXT id changed from low1 to low2" "$(grep "domain 'low.test'" "$T/mtastsd.log")"
check "mtastsd still running" alive "$(alive mtastsd)"
finish
