#!/bin/bash
# t_resolver_hostile.sh - issue 3 "Done when": every hostile policy fetch leaves the daemon
# serving with a defined reply. Each hostile domain has a valid TXT record and a valid enforce
# policy body, but the HTTPS side misbehaves (fake_https behaviour file, or a bad certificate
# picked by SNI). Expected: NOTFOUND (RFC 8461 3.3: fetch failed and nothing cached = no
# policy): a failure that needs no timeout before fetch_timeout could expire, a stuck fetch
# cut by fetch_timeout (not before it, and not by the zone timeout); no retry while the
# failure is cached, and a fresh good domain still resolves right after each case. Slow
# cases run in the background while a good domain is looked up, to show one stuck fetch does
# not stall the others (the good one is answered while the stuck one still waits: an
# ordering, with fetch_timeout 10 s of room). Last, VmRSS is back within RSS_SLACK_KB of its
# value after the first lookup (plain builds: the sanitizer allocator keeps freed memory).
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns postmap

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www
FETCH_TIMEOUT_MS=10000 # far above any failure that needs no timeout (those take milliseconds)
ZONE_TIMEOUT_S=30     # above fetch_timeout: a stuck fetch is cut by fetch_timeout first
SLOW_MIN_MS=9500      # a timeout case cannot end before fetch_timeout (minus clock slack)
RSS_SLACK_KB=4096

HTTP_CASES="redirect:redirect e404:404 e500:500 html:content-type=text/html
	octet:content-type=application/octet-stream noctype:no-content-type oversize:oversize
	chunked:oversize-chunked"
SLOW_CASES="stall:stall-after-headers drip:drip slow:slow=60000"
CERT_CASES="wrongname expired unknownca cnonly"

make_ca
names=() dns=()
for c in $HTTP_CASES $SLOW_CASES slowok:slow=500 tls11:ok; do
	d=${c%%:*}
	names+=("mta-sts.$d.test")
done
for d in $HTTP_CASES $SLOW_CASES $CERT_CASES slowok tls11 final; do
	d=${d%%:*}
	names+=("mta-sts.good-$d.test")
done
names+=("mta-sts.enforce.test")
make_cert www "${names[@]}" # first pair: what fake_https serves when no SNI name matches
CERT_DAYS=-1 make_cert expired mta-sts.expired.test
# unknown CA: a second CA that the resolver does not trust
(T=$T/ca2 && mkdir -p "$T" && make_ca && make_cert unknownca mta-sts.unknownca.test)
cp "$T/ca2/unknownca.key" "$T/ca2/unknownca.fullchain.pem" "$T/"
# wrong name: valid for the domain itself, not for mta-sts.<domain>
make_cert wrongname wrongname.test www.wrongname.test
# name only in the subject CN, no SAN (RFC 6125: no CN fallback)
certtool --generate-privkey --key-type=ecdsa --outfile "$T/cnonly.key" 2>/dev/null
printf 'cn = "mta-sts.cnonly.test"\ntls_www_server\nsigning_key\nexpiration_days = 30\n' \
	>"$T/cnonly.tmpl"
certtool --generate-certificate --load-privkey "$T/cnonly.key" --load-ca-certificate "$T/ca.pem" \
	--load-ca-privkey "$T/ca.key" --template "$T/cnonly.tmpl" --outfile "$T/cnonly.pem" 2>/dev/null
cat "$T/cnonly.pem" "$T/ca.pem" >"$T/cnonly.fullchain.pem"

: >"$T/hostile.testns"
for c in $HTTP_CASES $SLOW_CASES slowok:slow=500 tls11:ok; do
	d=${c%%:*}
	policy_put "$WWW" "$d.test" "$(policy_enforce "mail.$d.test")" "${c#*:}"
	testns_entry "_mta-sts.$d.test" NOERROR "\"v=STSv1; id=${d}1\"" >>"$T/hostile.testns"
done
for d in $CERT_CASES; do
	policy_put "$WWW" "$d.test" "$(policy_enforce "mail.$d.test")"
	testns_entry "_mta-sts.$d.test" NOERROR "\"v=STSv1; id=${d}1\"" >>"$T/hostile.testns"
done
for d in $HTTP_CASES $SLOW_CASES $CERT_CASES slowok tls11 final; do
	d=good-${d%%:*}
	policy_put "$WWW" "$d.test" "$(policy_enforce "mail.$d.test")"
	testns_entry "_mta-sts.$d.test" NOERROR "\"v=STSv1; id=g1\"" >>"$T/hostile.testns"
done
policy_put "$WWW" enforce.test "$(policy_enforce mail.enforce.test '*.mx.enforce.test')"

testns_start dns "$DNS" "$SYSDATA/resolver/lab.testns" "$T/hostile.testns"
fake_https_start www "$HTTPS" www "$WWW" \
	--cert "$T/expired.fullchain.pem" --key "$T/expired.key" \
	--cert "$T/unknownca.fullchain.pem" --key "$T/unknownca.key" \
	--cert "$T/wrongname.fullchain.pem" --key "$T/wrongname.key" \
	--cert "$T/cnonly.fullchain.pem" --key "$T/cnonly.key"
RES_FETCH_TIMEOUT="${FETCH_TIMEOUT_MS}ms" RES_ZONE_TIMEOUT="${ZONE_TIMEOUT_S}s" \
	RES_TEMPFAIL_TTL=5m RES_NEGATIVE_TTL=5m resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"

NF=$(pm_notfound)
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# before_timeout NAME MS: MS is below fetch_timeout: the lookup did not wait for it (an
# ordering with the daemon's own timer, with seconds of room; not a speed check)
before_timeout() {
	if [ "$2" -lt "$FETCH_TIMEOUT_MS" ]; then
		check "$1" "before fetch_timeout" "before fetch_timeout"
	else
		check "$1" "before fetch_timeout (${FETCH_TIMEOUT_MS} ms)" "$2 ms"
	fi
}
# not_before NAME MS MIN: MS >= MIN (a deadline is not cut short)
not_before() {
	if [ "$2" -ge "$3" ]; then check "$1" ">= $3 ms" ">= $3 ms"; else check "$1" ">= $3 ms" "$2 ms"; fi
}
good() {
	local d=good-$1 r
	r=$(pm "$SM" postfix "$d.test")
	check "$1: fresh good domain answers" "$(pm_ok "secure match=mail.$d.test servername=hostname")" "$r"
}
# zone_timeouts DOMAIN: lookups of DOMAIN answered by the zone timeout (none expected)
zone_timeouts() {
	grep -c "domain '$1': no answer within the lookup timeout" "$T/mtastsd.log" || true
}

check "enforce.test before" \
	"$(pm_ok 'secure match=mail.enforce.test:.mx.enforce.test servername=hostname')" \
	"$(pm "$SM" postfix enforce.test)"
rss_kb() { vmrss_kb "$(cat "$T/mtastsd.pid")"; }
BASE_RSS=$(rss_kb)
say "     VmRSS after the first lookup: $BASE_RSS kB"

# Failures without any timeout: NOTFOUND fast; a second lookup is answered from the cached
# failure (no second fetch); then a fresh good domain still works.
for c in $HTTP_CASES $CERT_CASES; do
	d=${c%%:*}
	t0=$(now_ms)
	r=$(pm "$SM" postfix "$d.test")
	el=$(($(now_ms) - t0))
	check "$d: NOTFOUND" "$NF" "$r"
	before_timeout "$d: answered before fetch_timeout" "$el"
	r=$(pm "$SM" postfix "$d.test")
	check "$d: second lookup NOTFOUND" "$NF" "$r"
	good "$d"
	check "mtastsd alive after $d" alive "$(alive mtastsd)"
done
# The HTTP cases reached fake_https exactly once each; the certificate cases never did.
for c in $HTTP_CASES; do
	d=${c%%:*}
	check "$d: fetched once (failure cached)" 1 "$(fetch_count www "mta-sts.$d.test")"
done
for d in $CERT_CASES; do
	check "$d: no request over a bad certificate" 0 "$(fetch_count www "mta-sts.$d.test")"
done

# TLS 1.0/1.1 only (the resolver requires TLS >= 1.2): the same port, another server.
stop_bg www
fake_https_start www11 "$HTTPS" www "$WWW" --tls-priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0'
t0=$(now_ms)
r=$(pm "$SM" postfix tls11.test)
el=$(($(now_ms) - t0))
check "tls11: NOTFOUND" "$NF" "$r"
before_timeout "tls11: answered before fetch_timeout" "$el"
check "tls11: no request over TLS < 1.2" 0 "$(fetch_count www11 mta-sts.tls11.test)"
stop_bg www11
fake_https_start www2 "$HTTPS" www "$WWW" \
	--cert "$T/expired.fullchain.pem" --key "$T/expired.key" \
	--cert "$T/unknownca.fullchain.pem" --key "$T/unknownca.key"
good tls11
check "mtastsd alive after tls11" alive "$(alive mtastsd)"

# Timeout cases: the lookup runs in the background; once its fetch reached the stuck server,
# a good domain is looked up and answered while the stuck lookup still waits.
fetching() { [ "$(fetch_count www2 "mta-sts.$1.test")" -ge 1 ]; }
for c in $SLOW_CASES; do
	d=${c%%:*}
	(
		t0=$(now_ms)
		r=$(pm "$SM" postfix "$d.test")
		printf '%s\n%s\n' "$r" $(($(now_ms) - t0)) >"$T/$d.result"
	) &
	bg=$!
	wait_for "$LIVE_S" fetching "$d" || true
	check "$d: its fetch reached the server" 1 "$(fetch_count www2 "mta-sts.$d.test")"
	good "$d"
	check "$d: ... while $d's lookup still waits" no "$([ -e "$T/$d.result" ] && echo yes || echo no)"
	wait "$bg"
	check "$d: NOTFOUND" "$NF" "$(sed -n 1p "$T/$d.result")"
	not_before "$d: not before fetch_timeout (${FETCH_TIMEOUT_MS} ms)" "$(sed -n 2p "$T/$d.result")" \
		"$SLOW_MIN_MS"
	check "$d: cut by fetch_timeout, not by the zone timeout" 0 "$(zone_timeouts "$d.test")"
	check "mtastsd alive after $d" alive "$(alive mtastsd)"
done

# A slow but in-time server is not hostile.
t0=$(now_ms)
check "slowok (500 ms): policy" "$(pm_ok 'secure match=mail.slowok.test servername=hostname')" \
	"$(pm "$SM" postfix slowok.test)"
not_before "slowok: the server's 500 ms delay was real" $(($(now_ms) - t0)) 400

good final
check "enforce.test after" \
	"$(pm_ok 'secure match=mail.enforce.test:.mx.enforce.test servername=hostname')" \
	"$(pm "$SM" postfix enforce.test)"
check "mtastsd still running" alive "$(alive mtastsd)"
check "no lookup answered by the zone timeout" 0 "$(grep -c 'no answer within the lookup timeout' "$T/mtastsd.log" || true)"
check_rss_back "every hostile case" "$(cat "$T/mtastsd.pid")" "$BASE_RSS" "$RSS_SLACK_KB"
finish
