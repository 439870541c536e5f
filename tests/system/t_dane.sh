#!/bin/bash
# t_dane.sh - issue 7 "DANE first": never let an MTA-STS answer override DANE (RFC 8461 s2);
# issue 15: DANE never replaces an MTA-STS policy on an unauthenticated (insecure) MX answer;
# issue 22 part 6: a relay "[host]:port" is not an MX destination (RFC 7672 section 2.2.2);
# a resolver off loopback (AD not trusted): no DANE query at all, never TEMP from DANE, and
# reloads that move the resolver on and off loopback.
#
# Lab, all real parts, in a private network namespace (unshare -n) so that nsd can serve
# on 127.0.0.1:53 and a non-loopback address (192.0.2.53, TEST-NET-1 on the namespace's
# own lo) exists for the "resolver not on loopback" case:
#   nsd        the signed zone test. (tests/system/data/dane/test.zone, signed here with
#              fresh ldns-keygen keys; _25._tcp.mx.bogus.test and the MX and AAAA RRsets of
#              relay.test, relaysts.test broken after signing) and the unsigned plain.test.
#              (insecure delegation), on 127.0.0.1:53
#   unbound    validating resolver (trust anchor = the DS of test.), stub-zone test. ->
#              nsd, listening on 127.0.0.1:$UB and 192.0.2.53:$UB
#   fake_https the MTA-STS policies (one certificate for every mta-sts.* name)
#   mtastsd    A: dns_servers 127.0.0.1@$UB (AD trusted); N: 192.0.2.53@$UB (not loopback:
#              AD ignored, DANE never applies: no MX, A, AAAA, TLSA query reaches unbound
#              from 192.0.2.53, counted in unbound's query log)
# Every socketmap check goes through Postfix's postmap -q.
if [ -z "${T_DANE_NETNS:-}" ]; then
	export T_DANE_NETNS=1
	# (lib.sh not loaded yet: a failure to make the namespace is reported below)
	unshare --net -- true 2>/dev/null && exec unshare --net -- bash "$0" "$@"
	T_DANE_NETNS=none
fi
. "$(dirname "$0")/lib.sh"

[ "$T_DANE_NETNS" != none ] ||
	unavailable "cannot make a network namespace (unshare --net: needs root)"
need_cmd ip nsd unbound ldns-keygen ldns-signzone drill postmap certtool python3

ip link set lo up
ip addr add 192.0.2.53/32 dev lo

UB=$(free_port both)
HTTPS=$(free_port tcp)
SMA=$(free_port tcp)
SMN=$(free_port tcp)
WWW=$T/www
DATA=$SYSDATA/dane

# ---- the signed zone ----------------------------------------------------------------------
cp "$DATA/test.zone" "$DATA/plain.test.zone" "$T/"
(
	cd "$T"
	ksk=$(ldns-keygen -a ECDSAP256SHA256 -k test)
	zsk=$(ldns-keygen -a ECDSAP256SHA256 test)
	ldns-signzone -o test. test.zone "$ksk" "$zsk"
	cp "$ksk.ds" test.ds
) || die "cannot sign the test zone (ldnsutils)"
grep -q 'TLSA	3 1 1 b0b0dd11' "$T/test.zone.signed" || die "bogus TLSA record not in the signed zone"
# The signature of this RRset no longer matches: the resolver says SERVFAIL.
sed -i 's/TLSA	3 1 1 b0b0dd11/TLSA	3 1 1 c0c0dd11/' "$T/test.zone.signed"
# The relays' zones answer A but fail MX and AAAA (postfix-tlspol issue 189): break those.
grep -q '^relay\.test\.	300	IN	MX	10 relay\.test\.$' "$T/test.zone.signed" ||
	die "relay.test MX not in the signed zone"
sed -i -e 's/^\(relay\.test\.	300	IN	MX	10\) relay\.test\.$/\1 forged.test./' \
	-e 's/^\(relay\.test\.	300	IN	AAAA\)	::1$/\1	::2/' \
	-e 's/^\(relaysts\.test\.	300	IN	MX	10\) relaysts\.test\.$/\1 forged.test./' \
	"$T/test.zone.signed"
grep -c 'forged\.test\.$\|AAAA	::2$' "$T/test.zone.signed" | grep -qx 3 ||
	die "relay RRsets not broken"

cat >"$T/nsd.conf" <<EOF
server:
	ip-address: 127.0.0.1@53
	username: ""
	chroot: ""
	zonesdir: "$T"
	pidfile: "$T/nsd.pid"
	database: ""
	xfrdfile: "$T/xfrd.state"
	zonelistfile: "$T/zone.list"
	server-count: 1
	verbosity: 1
remote-control:
	control-enable: no
zone:
	name: "test."
	zonefile: "test.zone.signed"
zone:
	name: "plain.test."
	zonefile: "plain.test.zone"
EOF
cat >"$T/unbound.conf" <<EOF
server:
	interface: 127.0.0.1@$UB
	interface: 192.0.2.53@$UB
	access-control: 127.0.0.0/8 allow
	access-control: 192.0.2.0/24 allow
	do-not-query-localhost: no
	chroot: ""
	username: ""
	pidfile: ""
	directory: "$T"
	use-syslog: no
	logfile: ""
	verbosity: 1
	val-log-level: 2
	log-queries: yes
	module-config: "validator iterator"
	trust-anchor-file: "$T/test.ds"
	local-zone: "test." nodefault
	do-ip6: no
	num-threads: 1
	so-reuseport: no
	target-fetch-policy: "0 0 0 0 0"
stub-zone:
	name: "test."
	stub-addr: 127.0.0.1@53
remote-control:
	control-enable: no
EOF
start_bg nsd nsd -d -c "$T/nsd.conf"
wait_tcp 53
start_bg unbound unbound -d -c "$T/unbound.conf"
wait_tcp "$UB"
wait_tcp "$UB" 192.0.2.53

# The resolver validates: AD on the signed MX RRset, SERVFAIL for the broken TLSA RRset.
check_match "unbound validates alldane.test MX (AD)" 'flags: qr rd ra ad' \
	"$(drill -p "$UB" -D @127.0.0.1 MX alldane.test)"
check_match "unbound: bogus TLSA is SERVFAIL" 'rcode: SERVFAIL' \
	"$(drill -p "$UB" -D @127.0.0.1 TLSA _25._tcp.mx.bogus.test)"
check_match "unbound: relay.test MX is SERVFAIL" 'rcode: SERVFAIL' \
	"$(drill -p "$UB" -D @127.0.0.1 MX relay.test)"
check_match "unbound: relay.test AAAA is SERVFAIL" 'rcode: SERVFAIL' \
	"$(drill -p "$UB" -D @127.0.0.1 AAAA relay.test)"
check_match "unbound: relay.test A validates (AD)" 'flags: qr rd ra ad' \
	"$(drill -p "$UB" -D @127.0.0.1 A relay.test)"

# ---- MTA-STS policies ---------------------------------------------------------------------
STS_DOMAINS="alldane.test bogus.test notlsa.test sts.plain.test hosted.plain.test fake.plain.test
	victim.plain.test relaysts.test"
make_ca
names=()
for d in $STS_DOMAINS; do names+=("mta-sts.$d"); done
make_cert www "${names[@]}"
policy_put "$WWW" alldane.test "$(policy_enforce mx1.alldane.test mx2.alldane.test)"
policy_put "$WWW" bogus.test "$(policy_enforce mx.bogus.test)"
policy_put "$WWW" notlsa.test "$(policy_enforce mx.notlsa.test)"
policy_put "$WWW" sts.plain.test "$(policy_enforce mx.sts.plain.test)"
policy_put "$WWW" hosted.plain.test "$(policy_enforce mx1.alldane.test)"
policy_put "$WWW" fake.plain.test "$(policy_enforce mx.fake.plain.test)"
policy_put "$WWW" victim.plain.test "$(policy_enforce mx.victim.plain.test)"
policy_put "$WWW" relaysts.test "$(policy_enforce relaysts.test)"
fake_https_start www "$HTTPS" www "$WWW"

# ---- mtastsd: A with the resolver on loopback, N with it on 192.0.2.53 --------------------
ZONES='zones = (
		{ name = "postfix"; timeout = "30s"; },
		{ name = "nodane"; dane = false; timeout = "30s"; }
	);
	default_zone = "postfix";'
resolver_conf "$T/A.conf" "$SMA" "$UB" "$HTTPS"
resolver_conf "$T/N.conf" "$SMN" "$UB" "$HTTPS"
# The lab's zones block, and N's server address, replace the defaults of resolver_conf.
python3 - "$T/A.conf" "$T/N.conf" "$ZONES" <<'PY'
import re, sys
for i, path in enumerate(sys.argv[1:3]):
    s = open(path).read()
    s = re.sub(r'zones = \(.*?\);\s*default_zone = "postfix";', sys.argv[3], s, flags=re.S)
    if i == 1:
        s = s.replace('"127.0.0.1@', '"192.0.2.53@')
    open(path, "w").write(s)
PY
grep -q '192.0.2.53@' "$T/N.conf" || die "N.conf does not name 192.0.2.53"
mtastsd_start A "$T/A.conf" "$SMA"
mtastsd_start N "$T/N.conf" "$SMN"

NF=$(pm_notfound)

# ---- the decision table, through Postfix's postmap ----------------------------------------
check "alldane.test: TLSA on all MX, enforce MTA-STS too: dane-only" "$(pm_ok dane-only)" \
	"$(pm "$SMA" postfix alldane.test)"
check "halfdane.test: TLSA on one MX of two: dane" "$(pm_ok dane)" \
	"$(pm "$SMA" postfix halfdane.test)"
check "unusable.test: TLSA present but unusable (usage 1): dane" "$(pm_ok dane)" \
	"$(pm "$SMA" postfix unusable.test)"
check "nomx.test: implicit MX with TLSA: dane-only" "$(pm_ok dane-only)" \
	"$(pm "$SMA" postfix nomx.test)"
check "sts.plain.test: unsigned with MTA-STS" \
	"$(pm_ok 'secure match=mx.sts.plain.test servername=hostname')" \
	"$(pm "$SMA" postfix sts.plain.test)"
check "hosted.plain.test: unsigned, MX host signed with TLSA, enforce policy: MTA-STS" \
	"$(pm_ok 'secure match=mx1.alldane.test servername=hostname')" \
	"$(pm "$SMA" postfix hosted.plain.test)"
check "hostednp.plain.test: the same without a policy: dane" "$(pm_ok dane)" \
	"$(pm "$SMA" postfix hostednp.plain.test)"
check "fake.plain.test: TLSA in an unsigned zone: MTA-STS" \
	"$(pm_ok 'secure match=mx.fake.plain.test servername=hostname')" \
	"$(pm "$SMA" postfix fake.plain.test)"
check "notlsa.test: signed without TLSA: MTA-STS" \
	"$(pm_ok 'secure match=mx.notlsa.test servername=hostname')" \
	"$(pm "$SMA" postfix notlsa.test)"
check "nullmx.test: null MX, no policy: NOTFOUND" "$NF" "$(pm "$SMA" postfix nullmx.test)"
check "nxdomain.test: NXDOMAIN in the signed zone: NOTFOUND" "$NF" \
	"$(pm "$SMA" postfix nxdomain.test)"

# bogus.test: SERVFAIL for the TLSA RRset of a host with secure addresses: TEMP, never the
# MTA-STS policy that the domain also publishes. postmap reports a lookup error.
r=$(pm "$SMA" postfix bogus.test)
check_match "bogus.test: TLSA SERVFAIL: postmap lookup error, no value" \
	'^rc=[1-9][0-9]* out=\[\] err=\[postmap: warning: .* temporary error: DANE: TLSA lookup of _25\._tcp\.mx\.bogus\.test failed' \
	"$r"
check_match "bogus.test: raw reply is TEMP with the reason" \
	'^REPLY TEMP DANE: TLSA lookup of _25._tcp.mx.bogus.test failed: ' \
	"$(python3 "$SRC_DIR/tests/system/smraw.py" --expect 1 "$SMA" '18:postfix bogus.test,' | head -n 1)"
check_match "bogus.test: the TEMP is logged as a warning (Postfix defers the mail)" \
	"domain 'bogus.test': DANE lookup failed \\(TLSA lookup of _25\\._tcp\\.mx\\.bogus\\.test failed.*answering TEMP, Postfix defers mail to this domain" \
	"$(grep 'warning' "$T/A.log")"
check "bogus.test via map nodane (dane = false): MTA-STS" \
	"$(pm_ok 'secure match=mx.bogus.test servername=hostname')" "$(pm "$SMA" nodane bogus.test)"
check "alldane.test via map nodane (dane = false): MTA-STS" \
	"$(pm_ok 'secure match=mx1.alldane.test:mx2.alldane.test servername=hostname')" \
	"$(pm "$SMA" nodane alldane.test)"

# ---- issue 15: an insecure MX answer never replaces an MTA-STS policy ----------------------
# victim.plain.test (unsigned) has an enforce policy for its own MX host. A lookup through the
# map nodane caches that policy (MTA-STS alone: no MX query, so no resolver holds the MX
# RRset yet). Then the MX RRset names mx.attacker.test, a host in a signed zone with TLSA
# records, as an attacker on the path could make it: the reply stays the policy's.
check_match "victim.plain.test: its MX RRset names its own host" 'MX	10 mx\.victim\.plain\.test\.' \
	"$(drill -p 53 @127.0.0.1 MX victim.plain.test)"
check "victim.plain.test: enforce policy (map nodane, now cached)" \
	"$(pm_ok 'secure match=mx.victim.plain.test servername=hostname')" \
	"$(pm "$SMA" nodane victim.plain.test)"
sed -i 's/^\(victim			MX	10\) mx\.victim\.plain\.test\.$/\1 mx.attacker.test./' \
	"$T/plain.test.zone"
grep -q 'MX	10 mx\.attacker\.test\.$' "$T/plain.test.zone" || die "victim MX not switched"
touch -d '+2 seconds' "$T/plain.test.zone" # a new mtime, even within the same second
kill -HUP "$(cat "$T/nsd.pid")"
for i in $(seq 1 100); do
	drill -p 53 @127.0.0.1 MX victim.plain.test | grep -q 'mx\.attacker\.test\.$' && break
	sleep 0.1
done
check_match "victim.plain.test: the MX RRset now names the attacker's host, without AD" \
	'flags: qr rd ra ;.*MX	10 mx\.attacker\.test\.' \
	"$(drill -p "$UB" -D @127.0.0.1 MX victim.plain.test | tr '\n' ' ')"
check_match "mx.attacker.test: its TLSA RRset validates (AD)" 'flags: qr rd ra ad' \
	"$(drill -p "$UB" -D @127.0.0.1 TLSA _25._tcp.mx.attacker.test)"
check "victim.plain.test after the switch: the cached policy, not dane" \
	"$(pm_ok 'secure match=mx.victim.plain.test servername=hostname')" \
	"$(pm "$SMA" postfix victim.plain.test)"
check "A logged that the policy decided over the insecure MX RRset" 1 \
	"$(grep -c "domain 'victim.plain.test': MTA-STS policy decides, not DANE: MX RRset insecure" "$T/A.log")"
q=$("$MTASTSD" -c "$T/A.conf" query victim.plain.test --json 2>>"$T/query.log") && qrc=0 || qrc=$?
check "query victim.plain.test (fresh policy): exit 0" 0 "$qrc"
check "query victim.plain.test: DANE only unless MTA-STS, the policy replies" \
	'dane-unless-sts False mx.attacker.test:secure, usable TLSA OK secure match=mx.victim.plain.test servername=hostname' \
	"$(printf '%s' "$q" | python3 -c '
import json, sys
o = json.load(sys.stdin)
d = o["dane"]
print(d["verdict"], d["mx_secure"], ",".join("%s:%s" % (h["name"], h["state"]) for h in d["hosts"]), o["reply"])' 2>&1)"

# ---- issue 22 part 6: a relay [host]:port is not an MX destination ------------------------
# relay.test and relaysts.test answer A but fail MX (and relay.test AAAA): Postfix connects
# to a relay's own addresses, so those failures must not defer its mail.
check "[relay.test]:587: MX and AAAA fail, A and _587._tcp TLSA secure: dane-only" \
	"$(pm_ok dane-only)" "$(pm "$SMA" postfix '[relay.test]:587')"
check "[relaysts.test]:587: MX fails, no TLSA: the host domain's MTA-STS policy, no TEMP" \
	"$(pm_ok 'secure match=relaysts.test servername=hostname')" \
	"$(pm "$SMA" postfix '[relaysts.test]:587')"
check "[relay.test] (port 25): no TLSA at _25._tcp.relay.test, no policy: NOTFOUND" "$NF" \
	"$(pm "$SMA" postfix '[relay.test]')"
check_match "relay.test as a domain (MX destination): the MX lookup fails: TEMP" \
	'^rc=[1-9][0-9]* out=\[\] err=\[postmap: warning: .* temporary error: DANE: MX lookup failed' \
	"$(pm "$SMA" postfix relay.test)"
q=$("$MTASTSD" -c "$T/A.conf" query '[relay.test]:587' 2>>"$T/query.log") && qrc=0 || qrc=$?
check "query [relay.test]:587: exit 0" 0 "$qrc"
check_match "query [relay.test]:587: DANE relay line" \
	'dane relay: relay\.test port 587: secure, usable TLSA, 1 TLSA, 1 usable' "$q"
check_match "query [relay.test]:587: reply" "reply:   OK dane-only  \\(zone 'postfix'\\)" "$q"

# ---- resolver not on loopback: its AD bit is ignored, DANE never applies -----------------
# No DANE query is made at all (an untrusted path's SERVFAIL would defer mail): every next
# hop below is cold for N, and its reply is the MTA-STS one, TEMP never.
# (grep the logs directly: check_match's printf | grep -q may die of SIGPIPE on long text)
check "N warns once that the resolver is not on loopback, and what to do" 1 \
	"$(grep -c 'warning: dane: off: DNS server 192\.0\.2\.53@[0-9]* (from resolver\.dns_servers) is not on loopback, its AD bit cannot be trusted; MTA-STS works alone\. To use DANE: run a validating resolver .* on this host and set resolver\.dns_servers' "$T/N.log")"
check "N: alldane.test: AD ignored, MTA-STS answers" \
	"$(pm_ok 'secure match=mx1.alldane.test:mx2.alldane.test servername=hostname')" \
	"$(pm "$SMN" postfix alldane.test)"
check "N: halfdane.test: AD ignored, no policy: NOTFOUND" "$NF" "$(pm "$SMN" postfix halfdane.test)"
check "N: bogus.test: TLSA SERVFAIL not asked: MTA-STS" \
	"$(pm_ok 'secure match=mx.bogus.test servername=hostname')" "$(pm "$SMN" postfix bogus.test)"
check "N: relay.test: MX SERVFAIL not asked, no policy: NOTFOUND, not TEMP" "$NF" \
	"$(pm "$SMN" postfix relay.test)"
check "N: relaysts.test: MX SERVFAIL not asked: the MTA-STS policy, not TEMP" \
	"$(pm_ok 'secure match=relaysts.test servername=hostname')" \
	"$(pm "$SMN" postfix relaysts.test)"
check "N: [relay.test]:587: no policy: NOTFOUND" "$NF" "$(pm "$SMN" postfix '[relay.test]:587')"
for d in unusable.test nomx.test hostednp.plain.test; do
	check "N: $d: AD ignored, no policy: NOTFOUND" "$NF" "$(pm "$SMN" postfix "$d")"
done
NCOLD=10
for i in $(seq 1 "$NCOLD"); do
	check "N: cold$i.plain.test: NOTFOUND" "$NF" "$(pm "$SMN" postfix "cold$i.plain.test")"
done
q=$("$MTASTSD" -c "$T/N.conf" query relay.test 2>"$T/queryN.log") && qrc=0 || qrc=$?
check "query relay.test via 192.0.2.53: exit 2 (no policy), not 3" 2 "$qrc"
check "query relay.test via 192.0.2.53: the 'dane: off' warning once on stderr" 1 \
	"$(grep -c 'warning: dane: off: DNS server 192\.0\.2\.53@' "$T/queryN.log" || true)"
check_match "query relay.test via 192.0.2.53: says why DANE is off" \
	'dane:    none \(AD bit ignored: resolver not on loopback\)' "$q"
check "A does not warn about the resolver" 0 "$(grep -c 'not on loopback' "$T/A.log" || true)"

# ---- mtastsd query shows the DANE findings next to the MTA-STS ones -----------------------
q=$("$MTASTSD" -c "$T/A.conf" query alldane.test 2>"$T/query.log") && qrc=0 || qrc=$?
check "query alldane.test: exit 0" 0 "$qrc"
check_match "query alldane.test: MTA-STS policy shown" $'mode:    enforce\nmax_age: 604800\nmx:      mx1.alldane.test' "$q"
check_match "query alldane.test: DANE verdict" \
	'dane:    dane-only \(MX RRset secure, all 2 MX hosts have usable TLSA records\)' "$q"
check_match "query alldane.test: DANE host line" \
	'dane mx: mx2.alldane.test pref 20: secure, usable TLSA, 1 TLSA, 1 usable' "$q"
check_match "query alldane.test: reply" "reply:   OK dane-only  \(zone 'postfix'\)" "$q"
qj=$("$MTASTSD" -c "$T/A.conf" query bogus.test --json 2>>"$T/query.log") && qrc=0 || qrc=$?
check "query bogus.test --json: exit 3" 3 "$qrc"
check "query bogus.test --json: fields" 'result=policy
mode=enforce
verdict=tempfail
mx_secure=True
hosts=mx.bogus.test:TLSA lookup failed
reply=TEMP DANE: TLSA lookup of _25._tcp.mx.bogus.test failed: DNS server failure (SERVFAIL)' \
	"$(printf '%s' "$qj" | python3 -c '
import json, sys
o = json.load(sys.stdin)
d = o["dane"]
print("result=%s\nmode=%s\nverdict=%s\nmx_secure=%s" % (o["result"], o["mode"], d["verdict"], d["mx_secure"]))
print("hosts=" + ",".join("%s:%s" % (h["name"], h["state"]) for h in d["hosts"]))
print("reply=%s" % o["reply"])' 2>&1)"
q=$("$MTASTSD" -c "$T/N.conf" query alldane.test --json 2>>"$T/query.log") && qrc=0 || qrc=$?
check "query via 192.0.2.53: DANE none, AD not trusted, reply from MTA-STS" \
	'none False 25 AD bit ignored: resolver not on loopback OK secure match=mx1.alldane.test:mx2.alldane.test servername=hostname' \
	"$(printf '%s' "$q" | python3 -c '
import json, sys
o = json.load(sys.stdin)
d = o["dane"]
print(d["verdict"], d["ad_trusted"], d["port"], d["reason"], o["reply"])' 2>&1)"

# unbound's query log (log-queries: "info: <client> <name> <type> IN"): N's queries come
# from 192.0.2.53. MTA-STS asks TXT (and mta-sts.<domain> addresses); DANE would ask MX,
# TLSA and the MX hosts' addresses.
n_from_n() {
	grep -E "info: 192\.0\.2\.53 $1 IN\$" "$T/unbound.log" | grep -vc ' mta-sts\.' || true
}
check_match "N's MTA-STS queries reach unbound (the log counts them)" '^[1-9][0-9]*$' \
	"$(n_from_n '_mta-sts\.[^ ]* TXT')"
check "N: zero DANE queries (MX, TLSA, A, AAAA) for $((NCOLD + 9)) cold next hops and 2 queries" 0 \
	"$(n_from_n '[^ ]* (MX|TLSA|A|AAAA)')"
check_match "A's DANE queries do reach unbound (from 127.0.0.1)" '^[1-9][0-9]*$' \
	"$(grep -cE 'info: 127\.0\.0\.1 [^ ]* (MX|TLSA) IN$' "$T/unbound.log" || true)"

# ---- reloads follow the servers: N onto loopback (DANE applies), A off it (it does not) ----
sed -i 's/"192\.0\.2\.53@/"127.0.0.1@/' "$T/N.conf"
sed -i 's/"127\.0\.0\.1@'"$UB"'"/"192.0.2.53@'"$UB"'"/' "$T/A.conf"
grep -q '"192.0.2.53@' "$T/A.conf" || die "A.conf does not name 192.0.2.53"
kill -HUP "$(cat "$T/N.pid")" "$(cat "$T/A.pid")"
wait_log N 'configuration reloaded'
wait_log A 'configuration reloaded'
check "N after the reload onto loopback: notice, DANE applies" 1 \
	"$(grep -c 'notice: dane: the DNS servers are all on loopback now: DANE applies' "$T/N.log")"
check "N after the reload: alldane.test (policy cached): dane-only" "$(pm_ok dane-only)" \
	"$(pm "$SMN" postfix alldane.test)"
check_match "N after the reload: relay.test: the MX lookup fails: TEMP (trusted path)" \
	'^rc=[1-9][0-9]* out=\[\] err=\[postmap: warning: .* temporary error: DANE: MX lookup failed' \
	"$(pm "$SMN" postfix relay.test)"
check "A after the reload off loopback: warns" 1 \
	"$(grep -c 'warning: dane: off: DNS server 192\.0\.2\.53@' "$T/A.log")"
check "A after the reload: alldane.test: its cached dane-only dropped, MTA-STS answers" \
	"$(pm_ok 'secure match=mx1.alldane.test:mx2.alldane.test servername=hostname')" \
	"$(pm "$SMA" postfix alldane.test)"
check "A after the reload: relay.test: no DANE query, no TEMP: NOTFOUND" "$NF" \
	"$(pm "$SMA" postfix relay.test)"
# and back, for the rest of the test
sed -i 's/"192\.0\.2\.53@/"127.0.0.1@/' "$T/A.conf"
kill -HUP "$(cat "$T/A.pid")"
reloaded_twice() { [ "$(grep -c 'configuration reloaded' "$T/A.log")" -ge 2 ]; }
wait_for "$LIVE_S" reloaded_twice || die "A did not reload a second time"
check "A back on loopback: notice" 1 \
	"$(grep -c 'notice: dane: the DNS servers are all on loopback now: DANE applies' "$T/A.log")"
check "A back on loopback: alldane.test: dane-only again" "$(pm_ok dane-only)" \
	"$(pm "$SMA" postfix alldane.test)"
check "A back on loopback: sts.plain.test: MTA-STS (its DANE none cached again)" \
	"$(pm_ok 'secure match=mx.sts.plain.test servername=hostname')" \
	"$(pm "$SMA" postfix sts.plain.test)"

# ---- cached DANE results keep deciding when DNS is gone -----------------------------------
stop_bg unbound
check "alldane.test with the resolver down: cached dane-only" "$(pm_ok dane-only)" \
	"$(pm "$SMA" postfix alldane.test)"
check "sts.plain.test with the resolver down: cached MTA-STS" \
	"$(pm_ok 'secure match=mx.sts.plain.test servername=hostname')" \
	"$(pm "$SMA" postfix sts.plain.test)"
r=$(pm "$SMA" postfix never-seen.test)
check_match "never-seen.test with the resolver down: lookup error (DANE unknown)" \
	'^rc=[1-9][0-9]* out=\[\] ' "$r"
check "A logged the DANE verdict of alldane.test twice (before and after the reloads)" 2 \
	"$(grep -c "domain 'alldane.test': DANE dane-only: MX RRset secure" "$T/A.log")"
check "mtastsd A still running" alive "$(alive A)"
check "mtastsd N still running" alive "$(alive N)"
finish
