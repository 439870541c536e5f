#!/bin/bash
# tests/system/t_check.sh - `mtastsd check [DOMAIN]` (issue 4, Self-check) against a lab
#
# mtastsd publishes twelve domains on one loopback HTTPS listener (each with its own test-CA
# certificate; expired.test's has expired, wrongname.test is not served by this publisher, whose fallback certificate names another host). The DNS
# (ldns-testns) serves the records `mtastsd dns-records` prints for the domains that publish
# correctly, plus tests/system/data/check/lab.zone (MX hosts and the wrong records). Then
# `mtastsd -c CONF check [DOMAIN]` runs with resolver.dns_servers, ca_file and connect_to
# pointing at the lab, and every line and exit status is asserted:
#   good.test, good2.test  all five checks ok (exit 0), also `check` over both domains
#   stale.test             TXT id stale           notxt.test     TXT missing
#   two.test               two STSv1 records      malformed.test malformed TXT record
#   mxbad.test             MX host not covered    notlsrpt.test  TLSRPT record missing
#   nomx.test              no MX record           soon.test      certificate close to expiry
#   expired.test           certificate expired    wrongname.test certificate for another name
. "$(dirname "$0")/lib.sh"

need_cmd certtool ldns-testns openssl python3

P=$(free_port tcp)
DNS=$(free_port both)
while [ "$DNS" = "$P" ]; do DNS=$(free_port both); done

# ---- certificates -------------------------------------------------------------------------

make_ca
DOMAINS="good good2 stale notxt two malformed mxbad nomx expired wrongname notlsrpt soon"
for d in $DOMAINS; do
	case $d in
	expired) CERT_DAYS=-1 make_cert "$d" "mta-sts.$d.test" ;;
	# -n refuses a publisher certificate that does not name mta-sts.<domain>, so the wrong
	# certificate comes from the serving side instead: the publisher below does not serve
	# wrongname.test and answers its SNI with its fallback, good.test's certificate.
	soon) CERT_DAYS=5 make_cert "$d" "mta-sts.$d.test" ;;
	*) make_cert "$d" "mta-sts.$d.test" ;;
	esac
done

# ---- configuration ------------------------------------------------------------------------

# dom_conf DOMAIN: the publisher.domains entry of DOMAIN.
dom_conf() {
	local d=$1 c="cert = \"$T/$1.fullchain.pem\"; key = \"$T/$1.key\";"
	case $d in
	good)
		echo "{ domain = \"good.test\"; mode = \"enforce\"; max_age = 604800;
		  mx = [ \"mail.good.test\", \"*.mx.good.test\" ]; $c
		  tlsrpt_rua = \"mailto:tlsrpt@good.test,https://report.good.test/v1\"; }"
		;;
	good2)
		echo "{ domain = \"good2.test\"; mode = \"testing\"; max_age = 86400;
		  mx = [ \"mx1.good2.test\" ]; id = \"20240101T000000Z\"; $c }"
		;;
	notlsrpt)
		echo "{ domain = \"notlsrpt.test\"; mode = \"enforce\"; max_age = 86400;
		  mx = [ \"mail.notlsrpt.test\" ]; $c }"
		;;
	*)
		echo "{ domain = \"$d.test\"; mode = \"enforce\"; max_age = 86400;
		  mx = [ \"mail.$d.test\" ]; $c tlsrpt_rua = \"mailto:tlsrpt@$d.test\"; }"
		;;
	esac
}

# lab_conf FILE DOMAIN...: publisher on 127.0.0.1:$P for these domains; the resolver itself
# is off, but `check` uses its DNS, CA and connect_to settings.
lab_conf() {
	local f=$1 d sep=""
	shift
	{
		cat <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s"; };
admin = { enabled = false; };
resolver = {
	enabled = false;
	dns_servers = [ "127.0.0.1@$DNS" ];
	dns_timeout = "${LAB_DNS_TIMEOUT:-5s}";
	dns_attempts = 1;
	ca_file = "$T/ca.pem";
	connect_to = "127.0.0.1:$P";
	fetch_timeout = "${LAB_FETCH_TIMEOUT:-20s}";
};
publisher = {
	listen = [ "127.0.0.1:$P" ];
	http_listen = [ ];
	# The lab's MX hosts have no SMTP servers: t_mx_check.sh tests the mxhosts check.
	mx_check = false;
	domains = (
EOC
		for d in "$@"; do
			printf '%s\t\t' "$sep"
			dom_conf "$d"
			sep=","
		done
		printf '\t);\n};\n'
	} >"$f"
}

lab_conf "$T/lab.conf" $DOMAINS
lab_conf "$T/serve.conf" ${DOMAINS/wrongname /}
lab_conf "$T/good.conf" good good2
# Generous timeouts above (a loaded machine, sanitizer builds); short ones for "lab down".
LAB_DNS_TIMEOUT=1s LAB_FETCH_TIMEOUT=3s lab_conf "$T/down.conf" good
"$MTASTSD" -n -c "$T/lab.conf" >"$T/n.log" 2>&1 || die "config check failed: $(cat "$T/n.log")"

# ---- DNS: dns-records output + lab.zone -----------------------------------------------------

"$MTASTSD" -c "$T/lab.conf" dns-records >"$T/dns-records.txt" 2>"$T/dns-records.log" ||
	die "dns-records failed: $(cat "$T/dns-records.log")"
# The current id of DOMAIN according to dns-records.
rec_id() {
	sed -n "s/^_mta-sts\.$1\. [0-9]* IN TXT \"v=STSv1; id=\([A-Za-z0-9]*\)\"\$/\1/p" \
		"$T/dns-records.txt"
}
check "dns-records: explicit id of good2.test" 20240101T000000Z "$(rec_id good2.test)"
check_match "dns-records: derived id of good.test" '^[0-9a-v]{32}$' "$(rec_id good.test)"
check "dns-records: TLSRPT record of good.test" \
	'_smtp._tls.good.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@good.test,https://report.good.test/v1"' \
	"$(grep '^_smtp._tls.good.test' "$T/dns-records.txt" | sed 's/ [0-9]* IN / 300 IN /')"

# Publish dns-records' lines except the _mta-sts records of the domains whose record is
# wrong on purpose (lab.zone has those).
grep -v -e '^;' -e '^_mta-sts\.\(stale\|notxt\|two\|malformed\)\.test\.' "$T/dns-records.txt" \
	>"$T/published.zone"
cat "$T/published.zone" "$SYSDATA/check/lab.zone" >"$T/lab.zone"
testns_zone dns "$DNS" "$T/lab.zone"

# ---- the publisher ------------------------------------------------------------------------

start_bg pub "$MTASTSD" -f -c "$T/serve.conf"
wait_tcp "$P"

# run CONF ARGS...: stdout of `mtastsd -c CONF check ARGS...`, then "exit=<status>".
# Certificates made with 30 days have 29 whole days left, or 30 when the check runs within
# a second of certtool: both read "29-30 days left" (soon.test's 5 days: "4-5 days").
run() {
	local conf=$1 rc=0 out
	shift
	out=$(timeout 60 "$MTASTSD" -c "$conf" check "$@" 2>"$T/check.err") || rc=$?
	printf '%s\nexit=%s' "$out" "$rc" |
		sed -E -e 's/, (29|30) days left \(/, 29-30 days left (/' \
			-e 's/ expires in (4|5) days \(/ expires in 4-5 days (/'
}
# enddate NAME: notAfter of $T/NAME.pem as check prints it.
enddate() {
	date -u -d "$(openssl x509 -noout -enddate -in "$T/$1.pem" | cut -d= -f2)" \
		'+%Y-%m-%d %H:%M:%S UTC'
}
# ok_lines DOMAIN ...: the ok lines check prints for a domain published correctly with an
# enforce policy of one mx, max_age 86400, rua mailto:tlsrpt@DOMAIN.
cert_ok() { echo "ok   $1.test: certificate of mta-sts.$1.test is valid, 29-30 days left ($(enddate "$1"))"; }
txt_ok() { echo "ok   $1.test: _mta-sts TXT record has the current id $(rec_id "$1.test")"; }
policy_ok() { echo "ok   $1.test: policy served equals the configuration (mode enforce, max_age 86400, 1 mx)"; }
mx_ok() { echo "ok   $1.test: every MX host is covered by an mx pattern (1 MX host)"; }
tlsrpt_ok() { echo "ok   $1.test: _smtp._tls TLSRPT record present, rua mailto:tlsrpt@$1.test"; }

# ---- all good -------------------------------------------------------------------------------

GOOD="ok   good.test: _mta-sts TXT record has the current id $(rec_id good.test)
ok   good.test: policy served equals the configuration (mode enforce, max_age 604800, 2 mx)
ok   good.test: certificate of mta-sts.good.test is valid, 29-30 days left ($(enddate good))
ok   good.test: every MX host is covered by an mx pattern (2 MX hosts)
ok   good.test: _smtp._tls TLSRPT record present, rua mailto:tlsrpt@good.test,https://report.good.test/v1"
GOOD2="ok   good2.test: _mta-sts TXT record has the current id 20240101T000000Z
ok   good2.test: policy served equals the configuration (mode testing, max_age 86400, 1 mx)
ok   good2.test: certificate of mta-sts.good2.test is valid, 29-30 days left ($(enddate good2))
ok   good2.test: every MX host is covered by an mx pattern (1 MX host)
ok   good2.test: _smtp._tls TLSRPT record present, rua mailto:reports@good2.test (no tlsrpt_rua configured)"

check "check good.test" "$GOOD
summary: 1 domain, 5 checks, 0 failed
exit=0" "$(run "$T/lab.conf" good.test)"
check "check GOOD.test. (normalised)" "$GOOD
summary: 1 domain, 5 checks, 0 failed
exit=0" "$(run "$T/lab.conf" GOOD.test.)"
check "check (all domains of a config with only good ones)" "$GOOD
$GOOD2
summary: 2 domains, 10 checks, 0 failed
exit=0" "$(run "$T/good.conf")"

# ---- one failure each ---------------------------------------------------------------------

# expect DOMAIN NFAILED [KIND=LINE]...: the whole output of `check DOMAIN.test` (and its exit
# status) for a domain published like the default one, with the lines of the checks named
# by KIND (txt policy cert mx tlsrpt) replaced by LINE.
expect() {
	local d=$1 nf=$2 k line o
	shift 2
	for k in txt policy cert mx tlsrpt; do
		line=$("${k}_ok" "$d")
		for o in "$@"; do
			if [ "${o%%=*}" = "$k" ]; then line=${o#*=}; fi
		done
		echo "$line"
	done
	echo "summary: 1 domain, 5 checks, $nf failed"
	printf 'exit=%s' "$([ "$nf" -eq 0 ] && echo 0 || echo 1)"
}

NOFETCH="FAIL %s.test: policy not fetched: TLS or certificate failure at policy host (see the certificate)"

check "check stale.test: TXT id stale" "$(expect stale 1 \
	"txt=FAIL stale.test: _mta-sts TXT id is stale: DNS has id=stale1, the current policy id is $(rec_id stale.test) (see mtastsd dns-records)")" \
	"$(run "$T/lab.conf" stale.test)"
check "check notxt.test: TXT missing" "$(expect notxt 1 \
	"txt=FAIL notxt.test: _mta-sts TXT record missing: _mta-sts.notxt.test: DNS name does not exist (NXDOMAIN)")" \
	"$(run "$T/lab.conf" notxt.test)"
check "check two.test: two STSv1 TXT records" "$(expect two 1 \
	"txt=FAIL two.test: 2 v=STSv1 TXT records at _mta-sts.two.test, exactly one is allowed (senders then see no policy)")" \
	"$(run "$T/lab.conf" two.test)"
check "check malformed.test: malformed TXT record" "$(expect malformed 1 \
	'txt=FAIL malformed.test: _mta-sts TXT record malformed: "v=STSv1; id=not-alnum!" (needs "v=STSv1; id=<1 to 32 letters or digits>")')" \
	"$(run "$T/lab.conf" malformed.test)"
check "check mxbad.test: MX not covered" "$(expect mxbad 1 \
	"mx=FAIL mxbad.test: MX host backup.elsewhere.test not covered by any mx pattern (mail.mxbad.test)")" \
	"$(run "$T/lab.conf" mxbad.test)"
check "check nomx.test: no MX record" "$(expect nomx 1 \
	"mx=FAIL nomx.test: no MX record: nomx.test: DNS name does not exist (NXDOMAIN)")" \
	"$(run "$T/lab.conf" nomx.test)"
check "check expired.test: certificate expired" "$(expect expired 2 \
	"policy=$(printf "$NOFETCH" expired)" \
	"cert=FAIL expired.test: certificate invalid: certificate has expired: server certificate verification failed. CAfile: $T/ca.pem CRLfile: none")" \
	"$(run "$T/lab.conf" expired.test)"
check "check wrongname.test: certificate for another name" "$(expect wrongname 2 \
	"policy=$(printf "$NOFETCH" wrongname)" \
	"cert=FAIL wrongname.test: certificate invalid: SSL: certificate subject name (mta-sts.good.test) does not match target host name 'mta-sts.wrongname.test'")" \
	"$(run "$T/lab.conf" wrongname.test)"
check "check notlsrpt.test: TLSRPT record missing" "$(expect notlsrpt 1 \
	"tlsrpt=FAIL notlsrpt.test: _smtp._tls TLSRPT record missing: _smtp._tls.notlsrpt.test: DNS name does not exist (NXDOMAIN)")" \
	"$(run "$T/lab.conf" notlsrpt.test)"
check "check soon.test: certificate close to expiry" "$(expect soon 1 \
	"cert=FAIL soon.test: certificate of mta-sts.soon.test expires in 4-5 days ($(enddate soon)), under 14: renew it")" \
	"$(run "$T/lab.conf" soon.test)"

# Every domain at once: each failure above once, in configuration order (lines cut before
# the first ':' or '(' of the reason).
out=$(run "$T/lab.conf")
check "check (all): failed lines" "FAIL stale.test: _mta-sts TXT id is stale
FAIL notxt.test: _mta-sts TXT record missing
FAIL two.test: 2 v=STSv1 TXT records at _mta-sts.two.test, exactly one is allowed
FAIL malformed.test: _mta-sts TXT record malformed
FAIL mxbad.test: MX host backup.elsewhere.test not covered by any mx pattern
FAIL nomx.test: no MX record
FAIL expired.test: policy not fetched
FAIL expired.test: certificate invalid
FAIL wrongname.test: policy not fetched
FAIL wrongname.test: certificate invalid
FAIL notlsrpt.test: _smtp._tls TLSRPT record missing
FAIL soon.test: certificate of mta-sts.soon.test expires in 4-5 days" \
	"$(printf '%s\n' "$out" | grep '^FAIL' | sed -E 's/^(FAIL [^:]*: [^:(]*[^:( ]).*/\1/')"
check "check (all): ok lines" 48 "$(printf '%s\n' "$out" | grep -c '^ok   ')"
check "check (all): summary and exit" "summary: 12 domains, 60 checks, 12 failed
exit=1" "$(printf '%s\n' "$out" | tail -n 2)"

# ---- the configuration changed, the daemon not reloaded ---------------------------------
# The check reads the new policy of good.test; DNS and the running publisher have the old.
sed -e 's/mode = "enforce"; max_age = 604800;/mode = "testing"; max_age = 86400;/' \
	-e 's/mx = \[ "mail.good.test", "\*.mx.good.test" \]/mx = [ "mail.good.test", "mx.good.test" ]/' \
	"$T/good.conf" >"$T/changed.conf"
NEWID=$("$MTASTSD" -c "$T/changed.conf" dns-records | sed -n 's/^_mta-sts.good.test.* id=\([a-z0-9]*\)"$/\1/p')
check "changed config: new id differs" 1 "$([ -n "$NEWID" ] && [ "$NEWID" != "$(rec_id good.test)" ] && echo 1 || echo 0)"
check "check good.test after a config change without reload" "FAIL good.test: _mta-sts TXT id is stale: DNS has id=$(rec_id good.test), the current policy id is $NEWID (see mtastsd dns-records)
FAIL good.test: policy served differs from the configuration: mode enforce, configured testing; max_age 604800, configured 86400; mx not served: mx.good.test; mx not configured: *.mx.good.test
ok   good.test: certificate of mta-sts.good.test is valid, 29-30 days left ($(enddate good))
FAIL good.test: MX host a.mx.good.test not covered by any mx pattern (mail.good.test, mx.good.test)
ok   good.test: _smtp._tls TLSRPT record present, rua mailto:tlsrpt@good.test,https://report.good.test/v1
summary: 1 domain, 5 checks, 3 failed
exit=1" "$(run "$T/changed.conf" good.test)"

# ---- a policy host that is not mtastsd (fake_https) -----------------------------------------
# Same meaning in non-canonical text (LF line ends, other order): ok, with a note; then a 404:
# the policy fails, the certificate is still read.
W=$(free_port tcp)
policy_put "$T/www" good.test 'version: STSv1\nmode: enforce\nmax_age: 604800\nmx: *.mx.good.test\nmx: mail.good.test\n'
fake_https_start www "$W" good "$T/www"
sed "s/connect_to = \"127.0.0.1:$P\"/connect_to = \"127.0.0.1:$W\"/" "$T/good.conf" >"$T/www.conf"
check "check good.test served by another server, non-canonical text" "ok   good.test: policy served equals the configuration (mode enforce, max_age 604800, 2 mx); its text differs from the canonical form" \
	"$(run "$T/www.conf" good.test | sed -n 2p)"
policy_behave "$T/www" good.test 404
check "check good.test: policy host answers 404" "FAIL good.test: policy not fetched: policy host answered with an HTTP status other than 200: HTTP status 404
ok   good.test: certificate of mta-sts.good.test is valid, 29-30 days left ($(enddate good))" \
	"$(run "$T/www.conf" good.test | sed -n 2,3p)"

# ---- usage --------------------------------------------------------------------------------
check "check of a domain not configured" "exit=1 mtastsd: check: other.test is not in publisher.domains" \
	"$(run "$T/lab.conf" other.test | tr -d '\n') $(cat "$T/check.err")"
check "check with two domains: usage" "exit=2" "$(run "$T/lab.conf" good.test two.test | tr -d '\n')"

# Nothing is answering any more: every check fails with the reason, within the guard.
stop_bg dns
stop_bg pub
# (The DNS port now refuses: "DNS server unreachable", not a timeout.)
check "check good.test with the lab down" "FAIL good.test: _mta-sts TXT lookup failed: _mta-sts.good.test: DNS server unreachable
FAIL good.test: policy not fetched: cannot connect to policy host
FAIL good.test: certificate of mta-sts.good.test not checked: cannot connect to policy host
FAIL good.test: MX lookup failed: good.test: DNS server unreachable
FAIL good.test: _smtp._tls TXT lookup failed: _smtp._tls.good.test: DNS server unreachable
summary: 1 domain, 5 checks, 5 failed
exit=1" "$(run "$T/down.conf" good.test | sed -E 's/(cannot connect to policy host):.*/\1/')"

finish
