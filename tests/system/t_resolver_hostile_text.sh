#!/bin/bash
# t_resolver_hostile_text.sh - a hostile policy host's text never reaches the admin raw.
# tests/system/hostile/policy_text.py answers over HTTPS (the test CA's certificate) with
# text made for a terminal or a browser: ctype.test a Content-Type of ESC sequences, a lone
# CR, DEL, bytes >= 0x80 and <script>; split.test a header line of the same injected by
# CR LF; status.test a 503 whose reason phrase is the same. Each domain has a valid TXT
# record. Expected: NOTFOUND (the fetch failed, nothing cached), and wherever the failure is
# shown, only printable ASCII, bounded: the daemon's log line (which quotes the Content-Type,
# its bytes outside 0x20..0x7e as '?'), `mtastsd query` text and --json (valid JSON), the
# admin /status JSON (valid JSON) and the status page (no raw <script>).
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns postmap curl

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
ADM=$(free_port tcp)
DOMS="ctype.test split.test status.test"

make_ca
make_cert www mta-sts.ctype.test mta-sts.split.test mta-sts.status.test mta-sts.flood.test \
	mta-sts.endless.test mta-sts.biglen.test
for d in $DOMS flood.test endless.test biglen.test; do
	testns_entry "_mta-sts.$d" NOERROR "\"v=STSv1; id=${d%%.*}1\""
done >"$T/lab.testns"
testns_start dns "$DNS" "$T/lab.testns"
start_bg evil python3 "$SRC_DIR/tests/system/hostile/policy_text.py" "$HTTPS" \
	"$T/www.fullchain.pem" "$T/www.key"
wait_tcp "$HTTPS"

RES_TEMPFAIL_TTL=10m resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
sed -i '/^admin = /d' "$T/mtastsd.conf"
echo "admin = { listen = \"127.0.0.1:$ADM\"; };" >>"$T/mtastsd.conf"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"
wait_tcp "$ADM"

# bad FILE: the lines of FILE holding a byte outside printable ASCII (tab aside), or "<script"
bad() { LC_ALL=C grep -naE $'[^\t -~]|<script' "$1" || true; }

for d in $DOMS; do
	check "$d: the hostile host's fetch failed, nothing cached: NOTFOUND" "$(pm_notfound)" \
		"$(pm "$SM" postfix "$d")"
done
wait_log mtastsd "domain 'status.test': temporary failure" || die "no failure logged for status.test"

# ---- the log (mtastsd -f: one line per message)
grep -a "domain '\(ctype\|split\|status\)\.test'" "$T/mtastsd.log" >"$T/dom.log" || true
check "log: a line per hostile domain" 3 \
	"$(grep -c 'temporary failure discovering the MTA-STS policy' "$T/dom.log")"
check "log: only printable ASCII (no ESC, CR, DEL, bytes >= 0x80)" "" \
	"$(LC_ALL=C grep -naE $'[^\t -~]' "$T/mtastsd.log" || true)"
check_match "log: ctype.test quotes the Content-Type, made printable" \
	"domain 'ctype\.test': .*Content-Type '\?\[31m<script>alert\(1\)</script>\?\]0;owned\?\?X\?\?\?\?' is not text/plain" \
	"$(cat "$T/dom.log")"
check_match "log: status.test says the status, not its reason phrase" \
	"domain 'status\.test': .*HTTP status 503\)" "$(cat "$T/dom.log")"

# ---- mtastsd query, text and JSON
for d in $DOMS; do
	"$MTASTSD" -c "$T/mtastsd.conf" query "$d" >"$T/q.$d.txt" 2>"$T/q.$d.err" || true
	"$MTASTSD" -c "$T/mtastsd.conf" query "$d" --json >"$T/q.$d.json" 2>>"$T/q.$d.err" || true
	check "query $d: text and stderr printable" "" \
		"$(LC_ALL=C grep -naE $'[^\t -~]' "$T/q.$d.txt" "$T/q.$d.err" || true)"
	check "query $d --json: valid JSON, printable" "ok" "$(python3 -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
assert all(32 <= b < 127 or b in (9, 10) for b in raw), "raw bytes"
o = json.loads(raw)
assert o["result"] == "tempfail", o["result"]
assert all(32 <= ord(c) < 127 for c in o.get("detail", "")), "detail"
print("ok")' "$T/q.$d.json" 2>&1)"
done
check_match "query ctype.test: the detail quotes the Content-Type, printable" \
	"Content-Type '\?\[31m<script>alert\(1\)</script>\?\]0;owned\?\?X\?\?\?\?' is not text/plain" \
	"$(cat "$T/q.ctype.test.txt")"

# ---- what a broken response is called (a trial: "cannot connect to policy host: Out of
# memory" for an endless header line, "cannot connect" for a header flood or a line without
# a colon, "Content-Length 65537 exceeds 65536 bytes" for a 20-digit Content-Length)
for d in flood endless biglen; do
	"$MTASTSD" -c "$T/mtastsd.conf" query "$d.test" >"$T/q.$d.txt" 2>&1 || true
done
check_match "header flood: a malformed response, not a connection failure" \
	"policy host's HTTP response malformed, too large or cut off" "$(cat "$T/q.flood.txt")"
check_match "endless header line: over libcurl's line limit, not 'cannot connect'" \
	"policy host's HTTP response malformed, too large or cut off.*a response header line over libcurl's limit" \
	"$(cat "$T/q.endless.txt")"
check_match "split.test (a line without a colon): a malformed response" \
	"policy host's HTTP response malformed, too large or cut off" "$(cat "$T/q.split.test.txt")"
check_match "20-digit Content-Length: over the limit, no invented number" \
	"Content-Length over 65536 bytes" "$(cat "$T/q.biglen.txt")"
check "no 'cannot connect' for any of them" 0 \
	"$(cat "$T/q.flood.txt" "$T/q.endless.txt" "$T/q.split.test.txt" "$T/q.biglen.txt" | grep -c 'cannot connect' || true)"

# ---- mtastsd check: the publisher's own policy hosts are these (connect_to), so the same
# text reaches its report
PUBP=$(free_port tcp)
cat >"$T/check.conf" <<EOC
process = { allow_root = true; verbosity = 1; };
admin = { enabled = false; };
resolver = {
	enabled = false;
	dns_servers = [ "127.0.0.1@$DNS" ];
	dns_timeout = "5s";
	dns_attempts = 1;
	ca_file = "$T/ca.pem";
	connect_to = "127.0.0.1:$HTTPS";
};
publisher = {
	listen = [ "127.0.0.1:$PUBP" ];
	http_listen = [ ];
	mx_check = false;
	domains = (
		{ domain = "ctype.test"; mode = "enforce"; max_age = 604800; mx = [ "mail.x.test" ];
		  cert = "$T/www.fullchain.pem"; key = "$T/www.key"; },
		{ domain = "split.test"; mode = "enforce"; max_age = 604800; mx = [ "mail.x.test" ];
		  cert = "$T/www.fullchain.pem"; key = "$T/www.key"; }
	);
};
EOC
"$MTASTSD" -c "$T/check.conf" check >"$T/check.txt" 2>"$T/check.err" && crc=0 || crc=$?
check "check: exit 1 (the policies are not fetched)" 1 "$crc"
check "check: text and stderr printable" "" \
	"$(LC_ALL=C grep -naE $'[^\t -~]' "$T/check.txt" "$T/check.err" || true)"
check_match "check: ctype.test's policy line quotes the Content-Type, printable" \
	"policy not fetched: .*Content-Type '\?\[31m<script>alert\(1\)</script>\?\]0;owned\?\?X\?\?\?\?' is not text/plain" \
	"$(cat "$T/check.txt")"
"$MTASTSD" -c "$T/check.conf" check --json >"$T/check.json" 2>>"$T/check.err" || true
check "check --json: valid JSON, printable" "ok" "$(python3 -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
assert all(32 <= b < 127 or b in (9, 10) for b in raw), "raw bytes"
json.loads(raw)
print("ok")' "$T/check.json" 2>&1)"

# ---- the admin endpoint: /status JSON and the page
curl -sS "http://127.0.0.1:$ADM/status" -o "$T/status.json"
check "/status: valid JSON, printable, the three failures listed" "ok 3" "$(python3 -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
assert all(32 <= b < 127 or b in (9, 10) for b in raw), "raw bytes"
o = json.loads(raw)
f = [x for x in o["resolver"]["last_errors"] if x["domain"].endswith(".test")]
print("ok", len(f))' "$T/status.json" 2>&1)"
curl -sS "http://127.0.0.1:$ADM/" -o "$T/page.html"
check "page: no byte outside printable ASCII, no raw <script" "" "$(bad "$T/page.html")"
check_match "page: lists the failures" "status\.test" "$(cat "$T/page.html")"
check "mtastsd still running" alive "$(alive mtastsd)"
finish
