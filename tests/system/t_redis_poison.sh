#!/bin/bash
# t_redis_poison.sh - whoever can write to the shared cache (Valkey/Redis exposed, another
# fleet member compromised) cannot turn a policy this host holds into "no policy" or a
# weaker one (docs/cache.md "What a lookup does"). Every domain publishes an enforce policy;
# hand-written mode none values (mtastsd's own format) are put into a real redis-server:
#  1. ref.test (max_age 20 s, refreshed 10 s after its fetch): a mode none value under its
#     current TXT id, "fetched" later than ours. Before: the refresh took it and ref.test
#     answered NOTFOUND for a day (the value's own max_age; the id never changes, so no
#     re-check undoes it). Now: it differs from the cached policy, so the refresh fetches
#     itself (logged, counted) and ref.test stays secure. neg.test (max_age 20 s): a
#     "no policy" entry rewritten four times a second. Before: every refresh took it as
#     another host's failed discovery and kept the old policy without fetching, until it
#     expired (then the shared read answered NOTFOUND). Now: the refresh fetches.
#  2. kill -9; the TXT id of chg.test changes (the domain, or a forged DNS answer) and a
#     mode none value under the new id waits in Valkey. Before: the restarted daemon's
#     first lookup (its re-check is due: loaded policies are re-checked) took it: NOTFOUND.
#     Now: fetched directly, secure.
#  3. The restarted daemon's one discovery slot is held (max_discoveries = 1, held.test's
#     policy host stalls); prot.test (a mode none value under another id in Valkey) and
#     empty.test (its key deleted, as after a FLUSHALL) are looked up with their re-check
#     due. Before: the over-cap shared read replaced prot.test's policy with the mode none
#     value, and empty.test's read found nothing and ended as a timeout: both NOTFOUND.
#     Now: a valid cached policy is answered from the cache, as without Valkey.
. "$(dirname "$0")/lib.sh"

need_cmd redis-server redis-cli python3 certtool ldns-testns curl postmap

lab_ports
ADM=$(free_port tcp)
R=$(free_port tcp)
DOMS="prot.test empty.test ref.test neg.test chg.test held.test"

rcli() { redis-cli -p "$R" "$@"; }
pong() { [ "$(rcli ping 2>/dev/null)" = PONG ]; }
# hostile DOMAIN ID FETCHED_AT: a mode none policy (max_age 1 day) under ID, fetched at
# FETCHED_AT, claiming to live a day from then.
hostile() {
	local body
	body=$(printf 'version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n.')
	body=${body%.}
	printf 'mtastsd-cache 1\nkind policy\nid %s\nfetched_at %s\nexpires_at %s\nlast_check %s\nretry_after 0\nlast_error 0\nbody %s\n%s' \
		"$2" "$3" $(($3 + 86400)) "$3" "${#body}" "$body" | rcli -x set "p:v1:sts:$1" >/dev/null
}
metric() { curl -s --max-time 10 "http://127.0.0.1:$ADM/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
sec() { pm_ok "secure match=mail.$1 servername=hostname"; }
# dns_ids CHG_ID: the TXT records, chg.test's id given
dns_ids() {
	local d
	for d in prot empty ref neg held; do testns_entry "_mta-sts.$d.test" NOERROR "\"v=STSv1; id=${d}1\""; done
	testns_entry _mta-sts.chg.test NOERROR "\"v=STSv1; id=$1\""
}

start_bg redis redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no
wait_tcp "$R"
wait_for "$LIVE_S" pong || die "redis-server on $R does not answer PING"

make_ca
# shellcheck disable=SC2046 # one word per name
make_cert www $(for d in $DOMS; do printf 'mta-sts.%s ' "$d"; done)
for d in $DOMS; do policy_put "$WWW" "$d" "$(policy_enforce "mail.$d")"; done
policy_put "$WWW" ref.test 'version: STSv1\nmode: enforce\nmx: mail.ref.test\nmax_age: 20\n'
policy_put "$WWW" neg.test 'version: STSv1\nmode: enforce\nmx: mail.neg.test\nmax_age: 20\n'
policy_behave "$WWW" held.test stall-after-headers
dns_ids chg1 >"$T/dns1"
testns_start dns "$DNS" "$T/dns1"
fake_https_start www "$HTTPS" www "$WWW"

export RES_FETCH_TIMEOUT=60s RES_ZONE_TIMEOUT=60s RES_RECHECK=1h
resolver_conf "$T/m.conf" "$SM" "$DNS" "$HTTPS" "max_discoveries = 1; fetch_queue_max = 0;"
sed -i "s|^admin = { enabled = false; };|admin = { listen = \"127.0.0.1:$ADM\"; };|" "$T/m.conf"
sed -i "s|^process = {|process = {\n\tstate_directory = \"$T/state\";|" "$T/m.conf" # m1 and m2
cat >>"$T/m.conf" <<EOC
cache = {
	backend = "redis";
	redis = { address = "127.0.0.1:$R"; prefix = "p"; command_timeout = "2s"; };
};
EOC
mtastsd_start m1 "$T/m.conf" "$SM"
wait_log m1 'cache.redis: connected' || die "m1 never connected to redis-server"
for d in prot.test empty.test ref.test neg.test chg.test; do
	check "$d: first lookup" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
done

# ---- 1. a refresh meets a mode none value under the same id (ref.test), or a "no policy"
# entry kept fresh (neg.test; entries live the local negative_ttl, 1 s, from their
# last_check, so the writer renews it)
hostile ref.test ref1 $(($(date +%s) + 200))
negative() {
	local t
	t=$(date +%s)
	printf 'mtastsd-cache 1\nkind no-policy\nid -\nfetched_at 0\nexpires_at %s\nlast_check %s\nretry_after 0\nlast_error -1\nbody 0\n' \
		$((t + 3600)) "$t" | rcli -x set p:v1:sts:neg.test >/dev/null
}
start_bg negwriter bash -c "$(declare -f negative rcli); R=$R; for i in \$(seq 1 $((LIVE_S * 4))); do negative; sleep 0.25; done"
# the refresh's outcome: fetched again (now), or the value taken (before)
wait_log m1 "domain 'ref.test': policy id ref1 (re-fetched|taken from the shared cache)" ||
	die "ref.test was not refreshed"
check_match "ref.test: the shared value was not taken" \
	"the shared cache holds policy id ref1 \(mode none, max_age 86400\) unlike the cached policy id ref1 \(mode enforce, max_age 20\): not taken, fetching the policy directly" \
	"$(grep "domain 'ref.test'" "$T/m1.log")"
check "ref.test after its refresh: still secure" "$(sec ref.test)" "$(pm "$SM" postfix ref.test)"
check "counted" 1 "$(metric mtastsd_policy_shared_conflicts_total)"
wait_log m1 "domain 'neg.test': (policy id neg1 re-fetched|no MTA-STS policy .*keeping cached policy)" ||
	die "neg.test was not refreshed"
check_match "neg.test: refreshed despite the \"no policy\" entry" "policy id neg1 re-fetched" \
	"$(grep "domain 'neg.test'" "$T/m1.log")"
stop_bg negwriter

# ---- 2. kill -9 with the policies in the state database; Valkey poisoned meanwhile
rows() { [ "$(metric 'mtastsd_state_db_writes_total{op="put"}')" -ge 4 ] 2>/dev/null; }
wait_for "$LIVE_S" rows || die "the policies never reached the state database"
kill -9 "$(cat "$T/m1.pid")"
wait_for "$LIVE_S" pid_gone "$(cat "$T/m1.pid")" || die "m1 survived kill -9"
now=$(date +%s)
hostile prot.test evil1 "$now"
hostile chg.test chg2 "$now"
rcli del p:v1:sts:empty.test >/dev/null
stop_bg dns
dns_ids chg2 >"$T/dns2"
testns_start dns "$DNS" "$T/dns2"
mtastsd_start m2 "$T/m.conf" "$SM"
wait_log m2 'cache.redis: connected' || die "m2 never connected to redis-server"
check "chg.test, new id, mode none under it in Valkey: fetched, secure" "$(sec chg.test)" \
	"$(pm "$SM" postfix chg.test)"
check_match "chg.test: the shared value was not taken, fetched to check it" \
	"the shared cache holds policy id chg2, new here \(cached: policy id chg1\): fetching it directly to check it" \
	"$(grep "domain 'chg.test'" "$T/m2.log")"
# A new id is what a real policy change looks like on every host but the first: not a
# conflict (whose notice and counter an alert would fire on at every change; a trial found
# it). Read from the log, not the counter: m2's own refresh of ref.test, whose same-id
# forgery is still in Valkey, may count a real conflict at any moment.
check "chg.test: a new id is not a conflict" 0 \
	"$(grep "domain 'chg.test'" "$T/m2.log" | grep -c 'unlike the cached policy' || true)"

# ---- 3. over the discovery cap, re-checks due
start_bg held bash -c "postmap -q held.test socketmap:inet:127.0.0.1:$SM:postfix; echo rc=\$?"
held_in_flight() {
	curl -s --max-time 10 "http://127.0.0.1:$ADM/metrics" |
		grep -q '^mtastsd_policy_discoveries_in_flight{by="lookup"} 1$'
}
wait_for "$LIVE_S" held_in_flight || die "held.test's discovery is not in flight"
check "prot.test over the cap, mode none in Valkey: cached policy" "$(sec prot.test)" \
	"$(pm "$SM" postfix prot.test)"
check "empty.test over the cap, nothing in Valkey: cached policy" "$(sec empty.test)" \
	"$(pm "$SM" postfix empty.test)"
check "both were over max_discoveries" 2 \
	"$(metric 'mtastsd_policy_discoveries_rejected_total{cap="discoveries"}')"
check "no over-cap shared read for a cached policy" 0 \
	"$(metric mtastsd_policy_overcap_shared_reads_total)"
check "prot.test: the Valkey value never taken" "" \
	"$(grep "domain 'prot.test'.*evil1" "$T/m2.log" || true)"
check "mtastsd still running" alive "$(alive m2)"
finish
