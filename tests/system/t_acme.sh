#!/bin/bash
# tests/system/t_acme.sh - the built-in ACME client against a real pebble (loopback only)
#
# Debian's pebble (Let's Encrypt's ACME test server) runs on loopback with its own TLS
# certificate from a test CA made here (mtastsd trusts it through acme.ca_file), its
# validation authority asking a dnsmasq of the test (mta-sts.*.test -> 127.0.0.1), and its
# httpPort set to mtastsd's port 80 listener. Nonce rejection stays on (pebble's default:
# 5% of nonces refused with badNonce), PEBBLE_VA_NOSLEEP=1 only skips its artificial delay.
# Cases:
#   1. `mtastsd -n` says the certificates will be ordered; the first start orders ten names
#      at once while postmap lookups on the socketmap keep being answered; each name serves
#      a pebble-issued certificate (curl trusting pebble's root from /roots/0).
#   2. a restart orders nothing (the files are reused).
#   3. a forced renewal (`mtastsd cert renew`: POST /acme/renew, token-protected) swaps the certificate while a
#      keep-alive connection opened before stays usable; new connections see the new one.
#      `mtastsd cert [DOMAIN] [--json]` shows source, issuer, expiry, state, next renewal.
#   4. pebble stopped: a renewal fails, the old certificate keeps serving, the error is in
#      the log and /status; pebble started again (new CA, account forgotten): the retry
#      makes a new account and succeeds.
#   5. a wrong External Account Binding key: a clear error, retries bounded by the backoff
#      (newAccount requests counted in pebble's log).

. "$(dirname "$0")/lib.sh"

need_cmd pebble dnsmasq curl certtool python3 postmap

NAMES=10
DNS=$(free_port both)
RDNS=$(free_port both)
SM=$(free_port tcp)
HTTPS=$(free_port tcp)
HTTP=$(free_port tcp)
ADMIN=$(free_port tcp)
PB=$(free_port tcp)
PBM=$(free_port tcp)
PBTLS=$(free_port tcp)
TOKEN=s3cret-token

# ---- peers ------------------------------------------------------------------------------

make_ca
make_cert pebble localhost
# pebble's listener is asked for by address: add the IP SAN
cat >>"$T/pebble.tmpl" <<EOT
ip_address = "127.0.0.1"
EOT
certtool --generate-certificate --load-privkey "$T/pebble.key" --load-ca-certificate \
	"$T/ca.pem" --load-ca-privkey "$T/ca.key" --template "$T/pebble.tmpl" \
	--outfile "$T/pebble.pem" 2>/dev/null

start_bg dns dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
	--listen-address=127.0.0.1 --port="$DNS" --address=/test/127.0.0.1 --user="$(id -un)" \
	--pid-file="$T/dnsmasq.pid"
wait_tcp "$DNS"
# the resolver's DNS: NXDOMAIN for everything, so each lookup is a quick NOTFOUND
: >"$T/empty"
testns_start rdns "$RDNS" "$T/empty"

# pebble_conf FILE EAB(true|false)
pebble_conf() {
	cat >"$1" <<EOC
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PB",
    "managementListenAddress": "127.0.0.1:$PBM",
    "certificate": "$T/pebble.pem",
    "privateKey": "$T/pebble.key",
    "httpPort": $HTTP,
    "tlsPort": $PBTLS,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $2,
    "externalAccountMACKeys": {
      "kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    }
  }
}
EOC
}
pebble_conf "$T/pebble.json" false
pebble_conf "$T/pebble-eab.json" true

# pebble_start NAME CONFIG
pebble_start() {
	PEBBLE_VA_NOSLEEP=1 start_bg "$1" pebble -config "$2" -dnsserver "127.0.0.1:$DNS"
	wait_tcp "$PB"
	wait_tcp "$PBM"
	curl -sf --cacert "$T/ca.pem" "https://127.0.0.1:$PBM/roots/0" >"$T/pebble-root.pem"
}

# ---- mtastsd ----------------------------------------------------------------------------

# conf FILE [ACME EXTRA LINES]
conf() {
	local i doms=""
	for i in $(seq 1 "$NAMES"); do
		doms="$doms${doms:+,}
		{ domain = \"d$i.test\"; mode = \"enforce\"; mx = [ \"mx.d$i.test\" ]; cert = \"acme\"; }"
	done
	cat >"$1" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s";
            state_directory = "$T/state"; };
resolver = {
	listen = [ "127.0.0.1:$SM" ];
	dns_servers = [ "127.0.0.1@$RDNS" ];
	dns_attempts = 1;
};
publisher = {
	listen = [ "127.0.0.1:$HTTPS" ];
	http_listen = [ "127.0.0.1:$HTTP" ];
	domains = ( $doms );
};
acme = {
	directory = "https://127.0.0.1:$PB/dir";
	contact = "mailto:admin@d1.test";
	terms_agreed = true;
	ca_file = "$T/ca.pem";
	retry_min = "1s";
	retry_max = "4s";
	${2:-}
};
admin = { listen = "127.0.0.1:$ADMIN"; token = "$TOKEN"; };
EOC
}

# fetch N: the policy of dN.test over HTTPS, verified against pebble's root
fetch() {
	curl -sf --max-time 10 --cacert "$T/pebble-root.pem" \
		--resolve "mta-sts.d$1.test:$HTTPS:127.0.0.1" \
		"https://mta-sts.d$1.test:$HTTPS/.well-known/mta-sts.txt"
}
# serial N: the serial of the certificate a new connection for mta-sts.dN.test gets
serial() {
	openssl s_client -connect "127.0.0.1:$HTTPS" -servername "mta-sts.d$1.test" \
		</dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}
installed() { grep -c "ACME: certificate for mta-sts.d$1.test installed" "$T/$2.log" || true; }
# installed_one N LOG: mta-sts.dN.test's certificate was installed (for wait_for)
installed_one() { [ "$(installed "$1" "$2")" -ge 1 ]; }
installed_all() { [ "$(grep -c 'ACME: certificate for .* installed' "$T/$1.log")" -ge "$2" ]; }
renew() {
	curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
		"http://127.0.0.1:$ADMIN/acme/renew?domain=$1"
}
status() { curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$ADMIN/status"; }

conf "$T/m.conf"

# ---- 1. first start: ten orders at once, the socketmap answers meanwhile ------------------

out=$("$MTASTSD" -n -c "$T/m.conf" 2>&1)
check "-n accepts cert = acme without files" 0 "$?"
check_match "-n says it will be ordered" \
	"domain 'd1.test': no certificate yet: the daemon orders one for mta-sts.d1.test" "$out"

pebble_start pebble "$T/pebble.json"
start_bg m "$MTASTSD" -f -c "$T/m.conf"
wait_tcp "$SM"
lookups=0 answered=0
while [ "$lookups" -lt 200 ] && ! installed_all m "$NAMES"; do
	lookups=$((lookups + 1))
	r=$(pm "$SM" postfix "nopolicy$lookups.test")
	if [ "$r" = "$(pm_notfound)" ]; then
		answered=$((answered + 1))
	elif [ "$lookups" -le 3 ]; then
		say "     lookup $lookups: $r"
	fi
done
say "     $lookups socketmap lookups during the first orders, $answered NOTFOUND"
check "socketmap answered every lookup during the orders" "$lookups" "$answered"
wait_for "$LIVE_S" installed_all m "$NAMES" || true
check "ten certificates installed" "$NAMES" "$(grep -c 'ACME: certificate for .* installed' "$T/m.log")"
# the ten orders start together once the account is there: every "ordering" line comes
# before the first "installed" one
first_inst=$(grep -n 'ACME: certificate for .* installed' "$T/m.log" | head -1 | cut -d: -f1)
last_order=$(grep -n 'ACME: ordering a certificate' "$T/m.log" | sed -n "${NAMES}p" | cut -d: -f1)
check "ten orders in flight at once" yes \
	"$([ -n "$last_order" ] && [ -n "$first_inst" ] && [ "$last_order" -lt "$first_inst" ] && echo yes)"
check "one account for all" 1 "$(grep -c 'ACME: account .* (created)' "$T/m.log" || true)"
ok=0
for i in $(seq 1 "$NAMES"); do
	body=$(fetch "$i" || true)
	if grep -q "^mx: mx.d$i.test" <<<"$body"; then ok=$((ok + 1)); else say "     d$i: [$body]"; fi
done
check "each name serves a pebble-issued certificate (curl, pebble's root)" "$NAMES" "$ok"
check "key.pem is 0600" 600 "$(stat -c %a "$T/state/acme/mta-sts.d1.test/key.pem")"
check "account key kept" yes "$([ -s "$T/state/acme/account.key" ] && echo yes)"
# pebble refuses 5% of nonces: a request is sent again with the fresh nonce, up to 3 times
# (ACME_BADNONCE_RETRIES, RFC 8555 section 6.5); with one retry, two refusals in a row
# (0.25 % of requests) failed the order and made the renewal below order twice (a fresh
# machine's ASan run). If all are refused the order fails and is retried after the
# backoff. Nothing else may fail.
say "     $(grep -c 'badNonce from' "$T/m.log" || true) badNonce answers retried," \
	"$(grep -c 'failed:.*badNonce' "$T/m.log" || true) orders retried after 4 in a row (ACME_BADNONCE_RETRIES)"
check "first orders: no failure but badNonce" 0 \
	"$(grep 'ACME: order for .* failed' "$T/m.log" | grep -vc 'badNonce' || true)"

# ---- 2. restart orders nothing ------------------------------------------------------------

s1=$(serial 1)
stop_bg m
start_bg m2 "$MTASTSD" -f -c "$T/m.conf"
wait_tcp "$SM"
wait_log m2 "ACME: certificate .*mta-sts.d1.test/fullchain.pem valid until" || true
check "restart: nothing ordered" 0 "$(grep -c 'ordering a certificate' "$T/m2.log" || true)"
check "restart: the same certificate" "$s1" "$(serial 1)"
check "restart: served" 0 "$(fetch 1 >/dev/null; echo $?)"

# ---- 3. forced renewal under an open keep-alive connection --------------------------------

python3 - "$HTTPS" "$T/pebble-root.pem" "$T/ka" <<'PY' &
import socket, ssl, sys, time, os
port, root, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=root)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="mta-sts.d1.test")
req = b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.d1.test\r\n\r\n"
def get():
    s.sendall(req)
    buf = b""
    while b"max_age" not in buf:
        c = s.recv(4096)
        if not c:
            return "closed"
        buf += c
    return buf.split(b"\r\n", 1)[0].decode()
open(d + ".1", "w").write(get())
deadline = time.time() + 60
while not os.path.exists(d + ".go") and time.time() < deadline:
    time.sleep(0.1)
open(d + ".2", "w").write(get())
PY
kapid=$!
wait_for "$LIVE_S" test -s "$T/ka.1" || true
check "keep-alive: first answer" "HTTP/1.1 200 OK" "$(cat "$T/ka.1" 2>/dev/null)"
check "renew refused without the token" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN/acme/renew?domain=d1.test")"
# pebble frozen (SIGSTOP): the order stays in flight (ACME_HTTP_TIMEOUT_MS 30 s) while a
# second renewal is asked: 409, no second order
kill -STOP "$(cat "$T/pebble.pid")"
out=$("$MTASTSD" -c "$T/m.conf" cert renew d1.test 2>&1)
check "mtastsd cert renew: exit 0" 0 "$?"
check_match "mtastsd cert renew: started" "renewal of mta-sts.d1.test started" "$out"
check "a second renewal while the order is in flight: 409" 409 "$(renew d1.test)"
out=$("$MTASTSD" -c "$T/m.conf" cert renew d1.test 2>&1)
check_match "mtastsd cert renew while in flight: already in progress (exit 0)" \
	"renewal of mta-sts.d1.test already in progress" "$out"
kill -CONT "$(cat "$T/pebble.pid")"
wait_for "$LIVE_S" installed_one 1 m2 || true
check "renewal installed" 1 "$(installed 1 m2)"
check "one order for the three renewals asked" 1 \
	"$(grep -c 'ACME: ordering a certificate for mta-sts.d1.test' "$T/m2.log" || true)"
touch "$T/ka.go"
wait "$kapid" || true
check "keep-alive connection still answers after the swap" "HTTP/1.1 200 OK" "$(cat "$T/ka.2" 2>/dev/null)"
s2=$(serial 1)
check "new connections get the new certificate" yes "$([ -n "$s2" ] && [ "$s2" != "$s1" ] && echo yes)"

out=$("$MTASTSD" -c "$T/m.conf" cert d3.test 2>&1)
check_match "mtastsd cert: source, issuer, next renewal" \
	"source: +ACME.*issuer: +CN=Pebble Intermediate CA.*state: +idle.*next renewal: +20[0-9-]+T.*last error: +none" \
	"$(tr '\n' ' ' <<<"$out")"
out=$("$MTASTSD" -c "$T/m.conf" cert --json 2>&1)
check "mtastsd cert --json: one entry per domain" "$NAMES" \
	"$(python3 -c 'import json, sys; print(sum(1 for c in json.load(sys.stdin) if c["source"] == "acme" and c["expiry"]))' <<<"$out")"
check "mtastsd cert renew of an unknown domain: exit 1" 1 \
	"$("$MTASTSD" -c "$T/m.conf" cert renew nope.test >/dev/null 2>&1; echo $?)"

# ---- 4. pebble away: old certificate stays, error visible, retry comes back ----------------

stop_bg pebble
check "renew while pebble is down accepted" 202 "$(renew d2.test)"
wait_log m2 "ACME: order for mta-sts.d2.test failed" || true
check "served while the CA is away" 0 "$(fetch 2 >/dev/null; echo $?)"
acme_field() { # DOMAIN FIELD: a field of /status acme.names[]
	status | python3 -c 'import json, sys
d = json.load(sys.stdin)
print([n for n in d["acme"]["names"] if n["domain"] == sys.argv[1]][0][sys.argv[2]])' "$1" "$2"
}
check_match "error in /status" '^(newOrder|directory): ' "$(acme_field d2.test last_error)"
check "state in /status" "waiting to retry" "$(acme_field d2.test state)"
check_match "mtastsd cert shows the error" "last error: +(newOrder|directory): " "$("$MTASTSD" -c "$T/m.conf" cert d2.test 2>&1)"
pebble_start pebble2 "$T/pebble.json" # a new CA: new root, accounts forgotten
wait_for "$LIVE_S" installed_one 2 m2 || true
check "retry succeeded after pebble came back" 1 "$(installed 2 m2)"
check "served with the new CA's certificate" 0 "$(fetch 2 >/dev/null; echo $?)"
check_match "metrics: expiry and orders" 'mtastsd_certificate_expiry_seconds\{name="mta-sts.d2.test"\} [1-9]' \
	"$(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$ADMIN/metrics")"
stop_bg m2
stop_bg pebble2

# ---- 5. wrong EAB: clear error, bounded retries --------------------------------------------

NAMES=1
rm -rf "$T/state"
conf "$T/eab.conf" 'eab_kid = "kid-1"; eab_hmac_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";'
pebble_start pebble3 "$T/pebble-eab.json"
start_bg eab "$MTASTSD" -f -c "$T/eab.conf"
wait_log eab "ACME: order for mta-sts.d1.test failed: newAccount" || true
check_match "EAB error names the problem" \
	"newAccount: HTTP 4[0-9][0-9], problem urn:ietf:params:acme:error:[a-zA-Z]+: " "$(cat "$T/eab.log")"
fails() { grep -c 'ACME: order for mta-sts.d1.test failed' "$T/eab.log" || true; }
three_fails() { [ "$(fails)" -ge 3 ]; }
wait_for "$LIVE_S" three_fails || true
n=$(fails)
# pebble's timestamps (seconds) of the first and last newAccount request
span=$(grep 'POST /sign-me-up' "$T/pebble3.log" | awk '{ split($3, t, ":");
	s = t[1] * 3600 + t[2] * 60 + t[3]; if (NR == 1) f = s; l = s } END { print l - f }')
say "     $n failed attempts, newAccount requests spread over $span s"
# backoff 1 s then 2 s: the third attempt comes 3 s after the first at the earliest (a
# lower bound: a slow machine only makes it later); a busy loop makes hundreds at once
check "EAB: retried with backoff (3 or 4 attempts over >= 2 s)" yes \
	"$([ "$n" -ge 3 ] && [ "$n" -le 4 ] && [ "$span" -ge 2 ] && echo yes)"
acct=$(grep -Ec 'new-?acc|sign-me-up' "$T/pebble3.log" || true)
check "EAB: newAccount requests bounded like the attempts" yes \
	"$([ "$acct" -le $((2 * n + 2)) ] && echo yes)"
stop_bg eab
for l in m m2 eab; do
	check "$l: no sanitizer report" 0 "$(grep -c -e 'Sanitizer' -e 'runtime error' "$T/$l.log" || true)"
done

finish
