#!/bin/bash
# t_resolver_policy_host.sh - issue 22 part 5: the policy host mta-sts.<domain> is resolved by
# mtastsd with resolver.dns_servers, not by libcurl through the system resolver. The lab runs
# in a network namespace of its own, so the policy host can listen on port 443 of
# 127.0.0.1 with no resolver.connect_to; the namespace's resolv.conf names a server that does
# not exist, so only the configured DNS server (ldns-testns) knows the policy hosts:
#  - host.test: A 127.0.0.1 (AAAA NODATA): the policy is fetched and applies;
#  - v6.test: AAAA ::1 only: fetched over IPv6;
#  - nohost.test: TXT record, but mta-sts.nohost.test is NXDOMAIN: no policy, and the log
#    says the policy host has no address.
. "$(dirname "$0")/lib.sh"

need_root "ip netns"
need_cmd ldns-testns postmap ip

netns_setup "mtastsd-ph-$$"
echo "nameserver 127.0.0.2" >"/etc/netns/$LIB_NETNS/resolv.conf" # nothing there
DNS=$(free_port both)
SM=$(free_port tcp)
WWW=$T/www
make_ca
make_cert www mta-sts.host.test mta-sts.v6.test mta-sts.nohost.test
policy_put "$WWW" host.test "$(policy_enforce mail.host.test)"
policy_put "$WWW" v6.test "$(policy_enforce mail.v6.test)"
policy_put "$WWW" nohost.test "$(policy_enforce mail.nohost.test)"

# addr_entry QNAME TYPE [ADDR]: an ldns-testns entry answering QNAME TYPE with ADDR, or
# NODATA (NOERROR with the SOA) without one
addr_entry() {
	printf 'ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id copy_query\n'
	printf 'REPLY QR AA NOERROR\nSECTION QUESTION\n%s. IN %s\n' "$1" "$2"
	if [ $# -gt 2 ]; then
		printf 'SECTION ANSWER\n%s. 60 IN %s %s\n' "$1" "$2" "$3"
	else
		printf 'SECTION AUTHORITY\ntest. 60 IN SOA ns.test. hostmaster.test. 1 60 60 60 60\n'
	fi
	printf 'ENTRY_END\n'
}
{
	testns_entry _mta-sts.host.test NOERROR '"v=STSv1; id=h1"'
	testns_entry _mta-sts.v6.test NOERROR '"v=STSv1; id=v61"'
	testns_entry _mta-sts.nohost.test NOERROR '"v=STSv1; id=nh1"'
	addr_entry mta-sts.host.test A 127.0.0.1
	addr_entry mta-sts.host.test AAAA
	addr_entry mta-sts.v6.test A
	addr_entry mta-sts.v6.test AAAA ::1
	testns_catchall
} >"$T/dns.testns"

start_bg dns netns_exec ldns-testns -p "$DNS" "$T/dns.testns"
# fake_https on port 443 of 127.0.0.1 and of ::1 in the namespace
start_bg www netns_exec "$TOOLS_DIR/fake_https" --port 443 --cert "$T/www.fullchain.pem" \
	--key "$T/www.key" --docroot "$WWW" --count-file "$T/www.count"
start_bg www6 netns_exec "$TOOLS_DIR/fake_https" --listen ::1 --port 443 \
	--cert "$T/www.fullchain.pem" --key "$T/www.key" --docroot "$WWW" \
	--count-file "$T/www6.count"
resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" 443
sed -i '/connect_to/d' "$T/mtastsd.conf"
grep -q connect_to "$T/mtastsd.conf" && die "connect_to still in the config"
start_bg mtastsd netns_exec "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp_ns "$DNS"
wait_tcp_ns 443
wait_tcp_ns 443 ::1
wait_tcp_ns "$SM"

# pmn DOMAIN: postmap -q in the namespace, as pm (lib.sh) prints it
pmn() {
	local rc=0 out
	out=$(netns_exec postmap -q "$1" "socketmap:inet:127.0.0.1:$SM:postfix" 2>"$T/pm.err") ||
		rc=$?
	printf 'rc=%s out=[%s] err=[%s]' "$rc" "$out" "$(cat "$T/pm.err")"
}

check "host.test: policy host from the configured DNS server" \
	"$(pm_ok 'secure match=mail.host.test servername=hostname')" "$(pmn host.test)"
check "v6.test: policy host with only an AAAA record" \
	"$(pm_ok 'secure match=mail.v6.test servername=hostname')" "$(pmn v6.test)"
check "nohost.test: policy host NXDOMAIN: no policy" "$(pm_notfound)" "$(pmn nohost.test)"
check_match "nohost.test: the log says why" \
	"policy host has no address .*mta-sts\.nohost\.test: A: DNS name does not exist" \
	"$(cat "$T/mtastsd.log")"
check "each policy host fetched once, at its own address family" "1 0 0 1 0" \
	"$(fetch_count www mta-sts.host.test) $(fetch_count www6 mta-sts.host.test) $(fetch_count www mta-sts.v6.test) $(fetch_count www6 mta-sts.v6.test) $(fetch_count www mta-sts.nohost.test)"

# `mtastsd query` resolves the same way
out=$(netns_exec "$MTASTSD" -c "$T/mtastsd.conf" query host.test 2>/dev/null) || true
check_match "query host.test: the policy" '^reply: +OK secure match=mail\.host\.test' \
	"$(grep '^reply:' <<<"$out")"

check "daemon alive" alive "$(alive mtastsd)"
finish
