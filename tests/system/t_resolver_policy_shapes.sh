#!/bin/bash
# t_resolver_policy_shapes.sh - issue 22 parts 2 to 4: policies whose shape once voided a
# domain's protection, looked up by Postfix's own client (postmap -q over socketmap).
#  - ipmx.test: an IP-address mx line among real names: the policy stands without it, the
#    drop is logged once per policy id;
#  - big.test: a large valid enforce policy (about 60 KB of mx lines) in a zone with
#    tlsrpt = true: with the TLSRPT attributes the reply would be over Postfix's 100000
#    bytes; it comes as a plain secure match= with every pattern, none of the attributes;
#  - ctl.test: an extension field carrying control bytes and a NUL: the policy stands;
#  - onlyip.test: only IP-address mx lines: no usable pattern, never an empty match=.
. "$(dirname "$0")/lib.sh"
need_cmd ldns-testns postmap

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www

make_ca
make_cert www mta-sts.ipmx.test mta-sts.big.test mta-sts.ctl.test mta-sts.onlyip.test
policy_put "$WWW" ipmx.test "$(policy_enforce 192.0.2.25 mail.ipmx.test '[IPv6:2001:db8::25]' '*.mx.ipmx.test')"
policy_put "$WWW" onlyip.test "$(policy_enforce 192.0.2.25 '[192.0.2.26]')"
# 1200 distinct patterns, each "mx: mx-host-with-a-longish-name-<i>.big.test"
big='version: STSv1\nmode: enforce\n'
for i in $(seq 0 1199); do big+="mx: mx-host-with-a-longish-name-$i.big.test\\n"; done
big+='max_age: 604800\n'
policy_put "$WWW" big.test "$big"
check "big.test policy is under the 64 KiB fetch limit" yes \
	"$([ "$(stat -c %s "$WWW/mta-sts.big.test/mta-sts.txt")" -le 65536 ] && echo yes || echo no)"
# control bytes (ESC, DEL, SOH) and a NUL in an extension value, before the mx lines
policy_put "$WWW" ctl.test 'version: STSv1\nmode: enforce\nnote: a\0b\x01\x1b[31mred\x7f\nmx: mail.ctl.test\nmax_age: 604800\n'

{
	testns_entry _mta-sts.ipmx.test NOERROR '"v=STSv1; id=ip1"'
	testns_entry _mta-sts.big.test NOERROR '"v=STSv1; id=big1"'
	testns_entry _mta-sts.ctl.test NOERROR '"v=STSv1; id=ctl1"'
	testns_entry _mta-sts.onlyip.test NOERROR '"v=STSv1; id=oip1"'
} >"$T/lab.testns"
testns_start dns "$DNS" "$T/lab.testns"
fake_https_start www "$HTTPS" www "$WWW"
resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
# a third zone, "tlsrpt", with the Postfix 3.10 TLSRPT attributes on
sed -i 's/^\t\t{ name = "strict";/\t\t{ name = "tlsrpt"; tlsrpt = true; timeout = "30s"; },\n&/' \
	"$T/mtastsd.conf"
grep -q 'name = "tlsrpt"' "$T/mtastsd.conf" || die "the tlsrpt zone is not in the config"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"

# ---- part 2: IP-address mx patterns
check "ipmx.test: the name patterns apply" \
	"$(pm_ok 'secure match=mail.ipmx.test:.mx.ipmx.test servername=hostname')" \
	"$(pm "$SM" postfix ipmx.test)"
check "ipmx.test again (cached)" \
	"$(pm_ok 'secure match=mail.ipmx.test:.mx.ipmx.test servername=hostname')" \
	"$(pm "$SM" postfix ipmx.test)"
check "ipmx.test: the drop is logged once for policy id ip1" 1 \
	"$(grep -c "policy id ip1: 2 IP-address mx pattern(s) dropped" "$T/mtastsd.log" || true)"
check "onlyip.test: no usable pattern, NOTFOUND (never an empty match=)" "$(pm_notfound)" \
	"$(pm "$SM" postfix onlyip.test)"

# ---- part 3: a reply over Postfix's limit
out=$(postmap -q big.test "socketmap:inet:127.0.0.1:$SM:tlsrpt" 2>"$T/big.err") || true
check "big.test via zone tlsrpt: no postmap warning" "" "$(cat "$T/big.err")"
check_match "big.test via zone tlsrpt: a plain secure match= with the first pattern" \
	'^secure match=mx-host-with-a-longish-name-0\.big\.test:' "$out"
check_match "big.test via zone tlsrpt: ... and the last, then servername" \
	':mx-host-with-a-longish-name-1199\.big\.test servername=hostname$' "$out"
check "big.test via zone tlsrpt: all 1200 patterns" 1200 \
	"$(sed 's/^secure match=//; s/ .*//' <<<"$out" | tr ':' '\n' | grep -c 'big\.test$')"
check "big.test via zone tlsrpt: none of the TLSRPT attributes" "" \
	"$(grep -oE 'policy_type|policy_domain|mx_host_pattern|policy_string' <<<"$out" | sort -u)"
check_match "big.test: the reply size is logged" \
	"policy id big1: reply with the TLSRPT attributes is over Postfix's 100000-byte" \
	"$(cat "$T/mtastsd.log")"
# the same policy in the plain zone: as usual
out=$(postmap -q big.test "socketmap:inet:127.0.0.1:$SM:postfix" 2>/dev/null) || true
check_match "big.test via zone postfix: secure match=" '^secure match=mx-host-with' "$out"

# ---- part 4: control bytes in an extension field
check "ctl.test: the policy stands" "$(pm_ok 'secure match=mail.ctl.test servername=hostname')" \
	"$(pm "$SM" postfix ctl.test)"

check "daemon alive" alive "$(alive mtastsd)"
finish
