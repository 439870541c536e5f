#!/bin/bash
# t_redis_untrusted.sh - issue 15 part 4: the shared cache is trusted no further than it can
# prove. Hand-written hostile values are put into a real redis-server under the daemon's
# key schema before any lookup, each for a domain that publishes an enforce policy:
#  - future.test: a mode none policy "fetched" a day in the future: refused (logged), the
#    lookup discovers the enforce policy (secure) and the value is replaced;
#  - stale.test: a mode none policy fetched two days ago with max_age one day, claiming to
#    live until 2^40: expired, so the same;
#  - tf.test: a tempfail entry checked at time 0, claiming to live until 2^40: the same;
#  - neg.test: "no policy" checked just now, claiming to live until 2^40: answers NOTFOUND
#    only within the local negative_ttl (2 s here) of its last_check; then the lookup
#    discovers the policy (secure) and the value is replaced.
. "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null || die "redis-server is not installed (tests/deps-debian.txt)"

lab_ports
R=$(free_port tcp)
NEG_S=2
LIVE_S=60 # liveness bound of the waits
FOREVER=$(((1 << 40) - 1))
DOMS="future.test stale.test tf.test neg.test"

rcli() { redis-cli -p "$R" "$@"; }
# hostile DOMAIN KIND FETCHED_AT EXPIRES_AT LAST_CHECK [BODY]: SET a hand-written value
# (BODY with printf %b escapes; redis-cli -x takes the value from stdin, byte for byte)
hostile() {
	local body
	body=$(printf '%b.' "${6:-}")
	body=${body%.} # keep the trailing newline that $(...) would strip
	printf 'mtastsd-cache 1\nkind %s\nid evil1\nfetched_at %s\nexpires_at %s\nlast_check %s\nretry_after 0\nlast_error 0\nbody %s\n%s' \
		"$2" "$3" "$4" "$5" "${#body}" "$body" | rcli -x set "u:v1:sts:$1" >/dev/null
}
# stored DOMAIN: "kind|id|mode" of the value stored for DOMAIN
stored() {
	rcli get "u:v1:sts:$1" | awk '/^kind /{k=$2} /^id /{i=$2} /^mode: /{m=$2} END{printf "%s|%s|%s", k, i, m}' | tr -d '\r'
}

# shellcheck disable=SC2086 # DOMS: one word per domain
lab_enforce 1 $DOMS
start_bg redis redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no
wait_tcp "$R"
for i in $(seq 1 $((LIVE_S * 10))); do
	[ "$(rcli ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done

now=$(date +%s)
NONE='version: STSv1\nmode: none\nmax_age: 86400\n'
hostile future.test policy $((now + 86400)) $((now + 2 * 86400)) $((now + 86400)) "$NONE"
hostile stale.test policy $((now - 2 * 86400)) "$FOREVER" $((now - 2 * 86400)) "$NONE"
hostile tf.test tempfail 0 "$FOREVER" 0
hostile neg.test no-policy 0 "$FOREVER" "$now"
check "hostile values in place" "policy|evil1|none" "$(stored future.test)"
check "hostile values in place" "no-policy|evil1|" "$(stored neg.test)"

export RES_NEGATIVE_TTL=${NEG_S}s
resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
cat >>"$T/mtastsd.conf" <<EOC
cache = {
	backend = "redis";
	redis = { address = "127.0.0.1:$R"; prefix = "u"; };
};
EOC
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"
for i in $(seq 1 $((LIVE_S * 10))); do
	grep -q 'cache.redis: connected' "$T/mtastsd.log" && break
	sleep 0.1
done

sec() { pm_ok "secure match=mail.$1 servername=hostname"; }
for d in future.test stale.test tf.test; do
	check "$d: hostile value not used, enforce discovered" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
	check "$d: fetched" 1 "$(fetch_count www "mta-sts.$d")"
	check "$d: the shared value replaced by the discovery" "policy|${d%%.*}1|enforce" "$(stored "$d")"
done
check_match "future.test: refused, logged" \
	"untrusted value in the shared cache \(fetched_at 86[0-9]{3} s in the future\)" \
	"$(grep "domain 'future.test'" "$T/mtastsd.log")"

# neg.test: NOTFOUND only until its last_check + the local negative_ttl
got=$(pm "$SM" postfix neg.test)
if [ $(($(date +%s) - now)) -lt "$NEG_S" ]; then
	check "neg.test within negative_ttl of its last_check: NOTFOUND" "$(pm_notfound)" "$got"
fi
got=""
for i in $(seq 1 $((LIVE_S * 5))); do
	got=$(pm "$SM" postfix neg.test)
	[ "$got" = "$(sec neg.test)" ] && break
	sleep 0.2
done
check "neg.test after the local negative_ttl: secure (not 2^40)" "$(sec neg.test)" "$got"
check "neg.test: the shared value replaced by the discovery" "policy|neg1|enforce" "$(stored neg.test)"
check "mtastsd still running" alive "$(alive mtastsd)"
check "no value was taken for corrupt" "" "$(grep 'corrupt value' "$T/mtastsd.log" || true)"
finish
