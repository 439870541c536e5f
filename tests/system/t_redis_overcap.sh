#!/bin/bash
# t_redis_overcap.sh - a fleet member over its discovery cap still answers from Valkey.
#
# Member A discovers shared.test (stored in the shared cache, redis-server on loopback).
# Member B runs with max_discoveries = 1 and one discovery held in flight (held.test: its
# policy host stalls after the headers). A lookup of shared.test at B is then over the cap:
# before, it was answered NOTFOUND at once (a flood made a domain the fleet knows "no
# policy" on the members that had not seen it yet); now B reads the shared cache and
# answers the policy A discovered. A domain over the cap that Valkey does not hold is still
# answered at once (NOTFOUND) and nothing is cached for it.
. "$(dirname "$0")/lib.sh"

need_cmd redis-server redis-cli python3 certtool ldns-testns curl

lab_ports
SMB=$(free_port tcp)
ADMB=$(free_port tcp)
R=$(free_port tcp)

pong() { [ "$(redis-cli -p "$R" ping 2>/dev/null)" = PONG ]; }
start_bg redis redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no
wait_tcp "$R"
wait_for "$LIVE_S" pong || die "redis-server on $R does not answer PING"

make_ca
make_cert www mta-sts.shared.test mta-sts.held.test mta-sts.other.test
for n in shared.test held.test other.test; do
	policy_put "$WWW" "$n" "$(policy_enforce "mail.$n")"
done
policy_behave "$WWW" held.test stall-after-headers
for n in shared.test held.test other.test; do
	testns_entry "_mta-sts.$n" NOERROR "\"v=STSv1; id=${n%%.*}1\""
done >"$T/lab.testns"
testns_start dns "$DNS" "$T/lab.testns"
fake_https_start www "$HTTPS" www "$WWW"

# The held discovery's fetch and the zone timeout outlast the test (60 s); B's lookups that
# do not wait for it are answered at once.
export RES_FETCH_TIMEOUT=60s RES_ZONE_TIMEOUT=60s RES_RECHECK=1h RES_NEGATIVE_TTL=30s
redis_group() {
	cat <<EOC
cache = {
	backend = "redis";
	redis = { address = "127.0.0.1:$R"; prefix = "fleet"; command_timeout = "2s"; };
};
EOC
}
resolver_conf "$T/A.conf" "$SM" "$DNS" "$HTTPS"
redis_group >>"$T/A.conf"
resolver_conf "$T/B.conf" "$SMB" "$DNS" "$HTTPS" "max_discoveries = 1; fetch_queue_max = 0;"
sed -i "s|^admin = { enabled = false; };|admin = { listen = \"127.0.0.1:$ADMB\"; };|" "$T/B.conf"
redis_group >>"$T/B.conf"
mtastsd_start A "$T/A.conf" "$SM"
mtastsd_start B "$T/B.conf" "$SMB"

check "A discovers shared.test" "$(pm_ok "$(printf 'secure match=mail.shared.test servername=hostname')")" \
	"$(pm "$SM" postfix shared.test)"
in_valkey() { [ -n "$(redis-cli -p "$R" --scan --pattern 'fleet*shared.test*' | head -n1)" ]; }
wait_for "$LIVE_S" in_valkey || die "shared.test never reached the shared cache"

# B: one lookup of held.test holds B's only discovery slot (the fetch stalls).
start_bg held bash -c "postmap -q held.test socketmap:inet:127.0.0.1:$SMB:postfix; echo rc=\$?"
held_in_flight() {
	curl -s --max-time 10 "http://127.0.0.1:$ADMB/metrics" |
		grep -q '^mtastsd_policy_discoveries_in_flight{by="lookup"} 1$'
}
wait_for "$LIVE_S" held_in_flight || die "held.test's discovery is not in flight at B"

metric() { curl -s --max-time 10 "http://127.0.0.1:$ADMB/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
check "B over its cap: shared.test answered from the shared cache" \
	"$(pm_ok "$(printf 'secure match=mail.shared.test servername=hostname')")" \
	"$(pm "$SMB" postfix shared.test)"
check "B: counted as an over-cap shared cache read" 1 "$(metric mtastsd_policy_overcap_shared_reads_total)"
check "B: other.test (not in Valkey) over the cap: NOTFOUND at once" "$(pm_notfound)" \
	"$(pm "$SMB" postfix other.test)"
check "B: both lookups were over max_discoveries" 2 \
	"$(metric 'mtastsd_policy_discoveries_rejected_total{cap="discoveries"}')"
check "B: nothing fetched for shared.test or other.test" 0 \
	"$(grep -Ec 'policy id (shared|other)1 fetched' "$T/B.log" || true)"
check "B: other.test not cached as no policy" "" \
	"$(grep -E 'other.test.*(no MTA-STS policy|temporary failure)' "$T/B.log" || true)"
# held.test's slot frees when its fetch times out; then other.test is discovered normally.
check "held.test still waiting (its discovery holds the slot)" alive "$(alive held)"
finish
