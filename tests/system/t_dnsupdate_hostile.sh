#!/bin/bash
# tests/system/t_dnsupdate_hostile.sh - the update client against a primary that misbehaves
#
# tests/system/hostile/dnsupd_primary.py on loopback: never answers, a length shorter than
# a DNS header, a length it never sends, another message id, an UPDATE answered NOERROR
# without TSIG; and nothing listening at all. Each through `mtastsd dns-records --update`:
# one clear line naming what went wrong, exit 1, in bounded time. Then the daemon with the
# silent primary: the policy is served while the update waits, the failure is in /status,
# and the retry comes.

. "$(dirname "$0")/lib.sh"

need_cmd python3 curl certtool

DNS=$(free_port tcp)
ADM=$(free_port tcp)
PUB=$(free_port tcp)
make_ca
make_cert ex mta-sts.example.test

cat >"$T/mtastsd.conf" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s"; };
resolver = { enabled = false; };
admin = { listen = "127.0.0.1:$ADM"; };
publisher = {
	listen = [ "127.0.0.1:$PUB" ];
	http_listen = [];
	dns_update = ( {
		name = "primary"; server = "127.0.0.1:$DNS"; zone = "example.test";
		tsig_name = "mtastsd"; tsig_secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
		timeout = "1s"; retry_max = "1s";
	} );
	domains = ( {
		domain = "example.test"; mode = "enforce"; max_age = 86400; mx = [ "mx.example.test" ];
		cert = "$T/ex.fullchain.pem"; key = "$T/ex.key"; dns_update = "primary";
	} );
};
EOC

P=0
fake() {
	P=$((P + 1))
	start_bg "fake$P" python3 "$SRC_DIR/tests/system/hostile/dnsupd_primary.py" "$DNS" "$1" "$T/fake$P"
	wait_tcp "$DNS"
}
# upd: run dns-records --update (at most LIVE_S); stdout+stderr in $out, exit code in $rc
upd() {
	set +e
	out=$(timeout "$LIVE_S" "$MTASTSD" -c "$T/mtastsd.conf" dns-records --update 2>&1)
	rc=$?
	set -e
}

upd
check "nothing listening: exit 1" 1 "$rc"
check_match "nothing listening: says so" "dns update: query: Connection refused" "$out"

fake silent
upd
check "silent primary: exit 1 (not hung)" 1 "$rc"
check_match "silent primary: timeout named" "dns update: query: no complete reply within 1000 ms" "$out"
stop_bg fake$P

fake short
upd
check "length under a header: exit 1" 1 "$rc"
check_match "length under a header: malformed" "dns update: query: .*[Mm]alformed" "$out"
stop_bg fake$P

fake truncated
upd
check "length never sent: exit 1" 1 "$rc"
check_match "length never sent: connection closed" "dns update: query: Connection reset" "$out"
stop_bg fake$P

fake wrongid
upd
check "wrong message id: exit 1" 1 "$rc"
check_match "wrong message id: malformed" "dns update: query: .*[Mm]alformed" "$out"
stop_bg fake$P

fake unsigned
upd
check "unsigned NOERROR to the UPDATE: exit 1" 1 "$rc"
check_match "unsigned NOERROR: not trusted" "update answered NOERROR but the response's TSIG is missing" "$out"
check "unsigned NOERROR: one query, then the UPDATE (opcode 5)" "0 5" "$(tr '\n' ' ' <"$T/fake$P.count" | sed 's/ $//')"
stop_bg fake$P

# ---- the daemon with a silent primary: serving, failure visible, retried ----
fake silent
start_bg mtastsd "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$PUB"
wait_log mtastsd "retry 2 in" || true
policy=$(curl -s --cacert "$T/ca.pem" --resolve "mta-sts.example.test:$PUB:127.0.0.1" \
	"https://mta-sts.example.test:$PUB/.well-known/mta-sts.txt" | tr -d '\r')
check_match "silent primary: the policy is served" "^mode: enforce" "$policy"
status=$(curl -s "http://127.0.0.1:$ADM/status" | tr -d ' \n')
check_match "silent primary: /status last result timeout (6)" '"last_result":\{"example.test":6' "$status"
check_match "silent primary: /status failures counted" '"failures":\{"example.test":[2-9]' "$status"
check "silent primary: daemon alive" alive "$(alive mtastsd)"
stop_bg mtastsd

finish
