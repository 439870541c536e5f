#!/bin/bash
# t_query_cli.sh - issue 3 "Done when": `mtastsd -c CONF query DOMAIN [--json]` against the lab
# (ldns-testns + fake_https): the TXT id, mode, max_age, mx patterns and the Postfix reply;
# exit 0 policy, 2 no policy, 3 temporary failure. No daemon runs: the command does one
# discovery on its own.
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns

DNS=$(free_port both)
HTTPS=$(free_port tcp)
WWW=$T/www

make_ca
make_cert www mta-sts.enforce.test mta-sts.testing.test mta-sts.none.test \
	mta-sts.xn--bcher-kva.test mta-sts.broken.test mta-sts.nxdomain.test
policy_put "$WWW" enforce.test "$(policy_enforce mail.enforce.test '*.mx.enforce.test')"
policy_put "$WWW" testing.test 'version: STSv1\nmode: testing\nmx: mail.testing.test\nmax_age: 604800\n'
policy_put "$WWW" none.test 'version: STSv1\nmode: none\nmax_age: 86400\n'
policy_put "$WWW" xn--bcher-kva.test "$(policy_enforce mail.xn--bcher-kva.test)"
policy_put "$WWW" nxdomain.test "$(policy_enforce mail.nxdomain.test)"
policy_put "$WWW" broken.test "$(policy_enforce mail.broken.test)" 404
testns_entry _mta-sts.broken.test NOERROR '"v=STSv1; id=brk1"' >"$T/extra.testns"
testns_start dns "$DNS" "$SYSDATA/resolver/lab.testns" "$T/extra.testns"
fake_https_start www "$HTTPS" www "$WWW"
resolver_conf "$T/mtastsd.conf" 1 "$DNS" "$HTTPS" # the socketmap port is not used
# The same lab, but nothing listens on its DNS server's port (the kernel answers ICMP port
# unreachable).
DEAD=$(free_port both)
resolver_conf "$T/deaddns.conf" 1 "$DEAD" "$HTTPS"

# q CONF ARGS...: stdout of `mtastsd -c CONF query ARGS...`, then "exit=<status>".
q() {
	local conf=$1 rc=0 out
	shift
	out=$("$MTASTSD" -c "$conf" query "$@" 2>>"$T/query.log") || rc=$?
	printf '%s\nexit=%s' "$out" "$rc"
}
# qj CONF DOMAIN FIELD...: the JSON output parsed with python3, FIELDs printed one per line
# as JSON values, then "exit=<status>".
qj() {
	local conf=$1 dom=$2 rc=0 out
	shift 2
	out=$("$MTASTSD" -c "$conf" query "$dom" --json 2>>"$T/query.log") || rc=$?
	printf '%s' "$out" | python3 -c '
import json, sys
o = json.load(sys.stdin)
for k in sys.argv[1:]:
    print("%s=%s" % (k, json.dumps(o.get(k, "<absent>"))))
' "$@" || echo "JSON parse error: [$out]"
	printf 'exit=%s' "$rc"
}

check "query enforce.test" "domain:  enforce.test
result:  policy
txt id:  enf1
mode:    enforce
max_age: 604800
mx:      mail.enforce.test
mx:      *.mx.enforce.test
reply:   OK secure match=mail.enforce.test:.mx.enforce.test servername=hostname  (zone 'postfix')
exit=0" "$(q "$T/mtastsd.conf" enforce.test)"

check "query enforce.test --json" 'result="policy"
domain="enforce.test"
id="enf1"
mode="enforce"
max_age=604800
mx=["mail.enforce.test", "*.mx.enforce.test"]
reply="OK secure match=mail.enforce.test:.mx.enforce.test servername=hostname"
exit=0' "$(qj "$T/mtastsd.conf" enforce.test result domain id mode max_age mx reply)"

check "query testing.test: a policy, but Postfix gets NOTFOUND" 'result="policy"
id="tst1"
mode="testing"
mx=["mail.testing.test"]
reply="NOTFOUND "
exit=0' "$(qj "$T/mtastsd.conf" testing.test result id mode mx reply)"

check "query none.test" 'result="policy"
id="non1"
mode="none"
max_age=86400
reply="NOTFOUND "
exit=0' "$(qj "$T/mtastsd.conf" none.test result id mode max_age reply)"

check "query IDN bücher.test (A-label policy)" 'result="policy"
domain="xn--bcher-kva.test"
id="idn1"
mx=["mail.xn--bcher-kva.test"]
reply="OK secure match=mail.xn--bcher-kva.test servername=hostname"
exit=0' "$(qj "$T/mtastsd.conf" 'bücher.test' result domain id mx reply)"

# No policy: exit 2
check "query nxdomain.test: exit 2" 'result="no-policy"
reply="NOTFOUND "
exit=2' "$(qj "$T/mtastsd.conf" nxdomain.test result reply)"
check "query nxdomain.test (text): exit" "exit=2" "$(q "$T/mtastsd.conf" nxdomain.test | tail -n 1)"
check_match "query nxdomain.test (text): result line" '^result:  no-policy$' "$(q "$T/mtastsd.conf" nxdomain.test)"
check "query nodata.test: exit 2" 'result="no-policy"
exit=2' "$(qj "$T/mtastsd.conf" nodata.test result)"
check "query two.test (two STSv1 records): exit 2" 'result="no-policy"
exit=2' "$(qj "$T/mtastsd.conf" two.test result)"
check "query [192.0.2.1]: exit 2" "exit=2" "$(q "$T/mtastsd.conf" '[192.0.2.1]' | tail -n 1)"
check "no fetch for nxdomain.test" 0 "$(fetch_count www mta-sts.nxdomain.test)"

# Temporary failures: exit 3
check "query servfail.test: exit 3" 'result="tempfail"
reply="NOTFOUND "
exit=3' "$(qj "$T/mtastsd.conf" servfail.test result reply)"
check "query servfail.test (text): exit" "exit=3" "$(q "$T/mtastsd.conf" servfail.test | tail -n 1)"
check_match "query servfail.test (text): a reason line" '^reason:  [^ ]' "$(q "$T/mtastsd.conf" servfail.test)"
check "query broken.test (fetch 404): exit 3" 'result="tempfail"
id="brk1"
exit=3' "$(qj "$T/mtastsd.conf" broken.test result id)"
check "query with the DNS server down: exit 3" 'result="tempfail"
exit=3' "$(qj "$T/deaddns.conf" enforce.test result)"
# Nothing listens on the DNS port: ICMP port unreachable (ECONNREFUSED), reported as such
# (not as a timeout), naming the server; still a temporary failure.
check "query with the DNS server down: the reason names the refusing server" \
	"error=\"DNS server unreachable\"
detail=\"127.0.0.1@$DEAD (connection refused)\"
exit=3" "$(qj "$T/deaddns.conf" enforce.test error detail)"
check "query with the DNS server down (text): reason line" \
	"reason:  DNS server unreachable: 127.0.0.1@$DEAD (connection refused)" \
	"$(q "$T/deaddns.conf" enforce.test | grep '^reason:')"

finish
