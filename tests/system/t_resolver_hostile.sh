#!/bin/bash
# t_resolver_hostile.sh - issue 3 "Done when": every hostile policy fetch leaves the daemon
# serving with a defined reply. Each hostile domain has a valid TXT record and a valid enforce
# policy body, but the HTTPS side misbehaves (fake_https behaviour file, or a bad certificate
# picked by SNI). Expected: NOTFOUND (RFC 8461 3.3: fetch failed and nothing cached = no
# policy), within the expected time, no retry while the failure is cached, and a fresh good
# domain still resolves right after each case. Slow cases run in the background while a
# good domain is looked up, to show one stuck fetch does not stall the others. Last, VmRSS
# is back within RSS_SLACK_KB of its value after the first lookup (plain builds: the
# sanitizer allocator keeps freed memory).
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns postmap

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www
FETCH_TIMEOUT_MS=2000
FAST_MS=1500          # failures that need no timeout: well below fetch_timeout
SLOW_MIN_MS=1500      # a timeout case cannot end before fetch_timeout (minus slack)
SLOW_MAX_MS=4500      # ... and must end soon after it (fetch_timeout + DNS + slack)
RSS_SLACK_KB=4096

HTTP_CASES="redirect:redirect e404:404 e500:500 html:content-type=text/html
	octet:content-type=application/octet-stream noctype:no-content-type oversize:oversize
	chunked:oversize-chunked"
SLOW_CASES="stall:stall-after-headers drip:drip slow:slow=10000"
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
RES_FETCH_TIMEOUT="${FETCH_TIMEOUT_MS}ms" RES_TEMPFAIL_TTL=30s RES_NEGATIVE_TTL=30s \
	resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"

NF=$(pm_notfound)
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# within NAME MS MIN MAX: check MIN <= MS < MAX
within() {
	if [ "$2" -ge "$3" ] && [ "$2" -lt "$4" ]; then
		check "$1" "in [$3, $4) ms" "in [$3, $4) ms"
	else
		check "$1" "in [$3, $4) ms" "$2 ms"
	fi
}
good() {
	local d=good-$1 t0 r
	t0=$(now_ms)
	r=$(pm "$SM" postfix "$d.test")
	check "$1: fresh good domain answers" "$(pm_ok "secure match=mail.$d.test servername=hostname")" "$r"
	within "$1: good lookup time" $(($(now_ms) - t0)) 0 "$FAST_MS"
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
	within "$d: time" "$el" 0 "$FAST_MS"
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
within "tls11: time" "$el" 0 "$FAST_MS"
check "tls11: no request over TLS < 1.2" 0 "$(fetch_count www11 mta-sts.tls11.test)"
stop_bg www11
fake_https_start www2 "$HTTPS" www "$WWW" \
	--cert "$T/expired.fullchain.pem" --key "$T/expired.key" \
	--cert "$T/unknownca.fullchain.pem" --key "$T/unknownca.key"
good tls11
check "mtastsd alive after tls11" alive "$(alive mtastsd)"

# Timeout cases: the lookup runs in the background, a good domain answers meanwhile.
for c in $SLOW_CASES; do
	d=${c%%:*}
	(
		t0=$(now_ms)
		r=$(pm "$SM" postfix "$d.test")
		printf '%s\n%s\n' "$r" $(($(now_ms) - t0)) >"$T/$d.result"
	) &
	bg=$!
	sleep 0.3
	good "$d"
	wait "$bg"
	check "$d: NOTFOUND" "$NF" "$(sed -n 1p "$T/$d.result")"
	within "$d: time (fetch_timeout ${FETCH_TIMEOUT_MS} ms)" "$(sed -n 2p "$T/$d.result")" \
		"$SLOW_MIN_MS" "$SLOW_MAX_MS"
	check "mtastsd alive after $d" alive "$(alive mtastsd)"
done

# A slow but in-time server is not hostile.
t0=$(now_ms)
check "slowok (500 ms): policy" "$(pm_ok 'secure match=mail.slowok.test servername=hostname')" \
	"$(pm "$SM" postfix slowok.test)"
within "slowok: time" $(($(now_ms) - t0)) 400 "$SLOW_MAX_MS"

good final
check "enforce.test after" \
	"$(pm_ok 'secure match=mail.enforce.test:.mx.enforce.test servername=hostname')" \
	"$(pm "$SM" postfix enforce.test)"
check "mtastsd still running" alive "$(alive mtastsd)"
rss=$(rss_kb)
say "     VmRSS after every hostile case: $rss kB (baseline $BASE_RSS kB)"
if [ "$ASAN_BUILD" = 1 ]; then
	say "     (VmRSS not checked under ASan)"
elif [ "$rss" -le $((BASE_RSS + RSS_SLACK_KB)) ]; then
	check "VmRSS back near the baseline" yes yes
else
	check "VmRSS back near the baseline" "<= $((BASE_RSS + RSS_SLACK_KB)) kB" "$rss kB"
fi
finish
