#!/bin/bash
# t_resolver_resolvconf.sh - issue 22 part 7: every nameserver line glibc accepts. Without
# resolver.dns_servers, mtastsd reads /etc/resolv.conf; "nameserver fe80::53%1" (an IPv6
# link-local address with a numeric scope, which glibc takes) was ignored, and mtastsd fell
# back to 127.0.0.1 without a word. The lab runs in a network namespace of its own (lo is
# interface 1 there, fe80::53 is put on it), whose resolv.conf ip-netns-exec bind-mounts:
#  - numeric scope: the query goes to fe80::53%1 and finds the policy;
#  - the same by interface name (fe80::53%lo);
#  - no usable nameserver line: an error says so, naming the file, before the fallback
#    to 127.0.0.1 (as glibc), once per run: `query` and the daemon read the file once.
. "$(dirname "$0")/lib.sh"

need_root "ip netns"
need_cmd ldns-testns postmap ip

netns_setup "mtastsd-rc-$$"
# nodad: usable at once (no duplicate address detection on a fresh address)
netns_exec ip -6 addr add fe80::53/64 dev lo nodad
check "lo is interface 1 in the namespace" 1 "$(netns_exec cat /sys/class/net/lo/ifindex)"

HTTPS=$(free_port tcp)
WWW=$T/www
make_ca
make_cert www mta-sts.enforce.test
policy_put "$WWW" enforce.test "$(policy_enforce mail.enforce.test)"
{
	cat "$SYSDATA/resolver/lab.testns"
	testns_catchall
} >"$T/dns.testns"
# -6: the IPv6 any address (fe80::53%lo included), port 53 of the namespace
start_bg dns netns_exec ldns-testns -6 -p 53 "$T/dns.testns"
start_bg www netns_exec "$TOOLS_DIR/fake_https" --port "$HTTPS" --cert "$T/www.fullchain.pem" \
	--key "$T/www.key" --docroot "$WWW" --count-file "$T/www.count"
wait_tcp_ns 53 ::1
wait_tcp_ns "$HTTPS"

# A config without dns_servers: the namespace's resolv.conf decides.
resolver_conf "$T/mtastsd.conf" 1 0 "$HTTPS"
sed -i '/dns_servers/d' "$T/mtastsd.conf"
grep -q dns_servers "$T/mtastsd.conf" && die "dns_servers still in the config"

# q: the reply line of `mtastsd query enforce.test` in the namespace, then "exit=<status>"
q() {
	local rc=0 out
	out=$(netns_exec "$MTASTSD" -c "$T/mtastsd.conf" query enforce.test 2>"$T/query.err") || rc=$?
	printf '%s\nexit=%s' "$(grep '^reply:' <<<"$out")" "$rc"
}

RC=/etc/netns/$LIB_NETNS/resolv.conf
printf '# link-local, numeric scope\nnameserver fe80::53%%1\n' >"$RC"
check "nameserver fe80::53%1: the policy is found" \
	"reply:   OK secure match=mail.enforce.test servername=hostname  (zone 'postfix')
exit=0" "$(q)"
check "nameserver fe80::53%1: no 'cannot parse' warning" "" \
	"$(grep -o 'cannot parse nameserver.*' "$T/query.err" || true)"

printf 'nameserver fe80::53%%lo\n' >"$RC"
check "nameserver fe80::53%lo: the policy is found" \
	"reply:   OK secure match=mail.enforce.test servername=hostname  (zone 'postfix')
exit=0" "$(q)"

# Nothing usable: said loudly, then glibc's fallback 127.0.0.1 (ldns-testns -6 is dual-stack,
# so the fallback reaches it here: the query still finds the policy).
printf 'nameserver fe80::53%%no-such-if0\nnameserver not-an-address\n' >"$RC"
out=$(q)
check "no usable nameserver: the fallback 127.0.0.1 is asked" \
	"reply:   OK secure match=mail.enforce.test servername=hostname  (zone 'postfix')
exit=0" "$out"
check_match "no usable nameserver: each bad line is named" \
	"cannot parse nameserver 'fe80::53%no-such-if0'" "$(cat "$T/query.err")"
check_match "no usable nameserver: an error names the file and the fallback" \
	'none of the 2 nameserver lines of /etc/resolv.conf is usable .*using 127\.0\.0\.1' \
	"$(cat "$T/query.err")"
# The file is read once per run: the policy engine and DANE share one reading, so each
# warning comes once (it came twice: each DNS client read the file).
check "query: the file read once (one warning per bad line, one error)" "1 1" \
	"$(grep -c "cannot parse nameserver 'not-an-address'" "$T/query.err") $(grep -c 'none of the 2 nameserver lines' "$T/query.err")"
STATE_DIRECTORY="$T/d.state" start_bg mtastsd netns_exec "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_log mtastsd 'started' || die "mtastsd did not start"
check "daemon start: the file read once (one warning per bad line, one error)" "1 1" \
	"$(grep -c "cannot parse nameserver 'not-an-address'" "$T/mtastsd.log") $(grep -c 'none of the 2 nameserver lines' "$T/mtastsd.log")"
stop_bg mtastsd

finish
