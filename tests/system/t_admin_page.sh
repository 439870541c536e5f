#!/bin/bash
# tests/system/t_admin_page.sh - the admin HTML status page in headless Chromium
#
# Lab: a publisher with two domains (certificates valid 40 and 5 days), the resolver with
# one policy (enforce.test) and one failing domain (fail.test, fetch answers 500), admin on
# 127.0.0.1 without a token. Chromium (Debian package chromium) renders the page: the DOM it
# builds (--dump-dom) holds the domains, modes, days left, counters and the failure, and its
# screenshot is a 1024x768 PNG that is not blank and shows the table header colour (so the
# inline CSS applied). Chromium makes no request outside loopback: background networking,
# component updates, sync and QUIC are off, and the page has no external asset.
. "$(dirname "$0")/lib.sh"

need_cmd chromium curl python3 ldns-testns postmap certtool

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
ADM=$(free_port tcp)
PUB=$(free_port tcp)
WWW=$T/www

make_ca
make_cert www mta-sts.enforce.test mta-sts.fail.test
CERT_DAYS=40 make_cert p1 mta-sts.alpha.test
CERT_DAYS=5 make_cert p2 mta-sts.beta.test
policy_put "$WWW" enforce.test "$(policy_enforce mail.enforce.test)"
policy_put "$WWW" fail.test "$(policy_enforce mail.fail.test)" 500
{
	testns_entry _mta-sts.enforce.test NOERROR '"v=STSv1; id=enf1"'
	testns_entry _mta-sts.fail.test NOERROR '"v=STSv1; id=fail1"'
} >"$T/lab.testns"
testns_start dns "$DNS" "$T/lab.testns"
fake_https_start www "$HTTPS" www "$WWW"

RES_TEMPFAIL_TTL=10m resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
sed -i '/^admin = /d' "$T/mtastsd.conf"
cat >>"$T/mtastsd.conf" <<EOC
publisher = {
	listen = [ "127.0.0.1:$PUB" ];
	http_listen = [ ];
	domains = (
		{ domain = "alpha.test"; mode = "enforce"; max_age = 604800; mx = [ "mx.alpha.test" ];
		  cert = "$T/p1.fullchain.pem"; key = "$T/p1.key"; id = "alpha1"; },
		{ domain = "beta.test"; mode = "testing"; max_age = 86400; mx = [ "mx.beta.test" ];
		  cert = "$T/p2.fullchain.pem"; key = "$T/p2.key"; id = "beta1"; }
	);
};
admin = { listen = "127.0.0.1:$ADM"; };
EOC
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"
wait_tcp "$ADM"

check "lookup enforce.test" "$(pm_ok 'secure match=mail.enforce.test servername=hostname')" \
	"$(pm "$SM" postfix enforce.test)"
check "lookup enforce.test again" "$(pm_ok 'secure match=mail.enforce.test servername=hostname')" \
	"$(pm "$SM" postfix enforce.test)"
check "lookup fail.test" "$(pm_notfound)" "$(pm "$SM" postfix fail.test)"

URL="http://127.0.0.1:$ADM/"

# ---- the DOM as Chromium built it
chromium_run --dump-dom "$URL" >"$T/dom.html" || die "chromium --dump-dom failed"
python3 - "$T/dom.html" >"$T/dom.txt" <<'PY'
import html.parser, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.ids, self.cur_id = {}, None, None, {}, None
        self.table = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = a.get("id")
            self.rows[self.table] = []
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""
            self.cur_id = a.get("id")
    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None:
            self.row.append(self.cell.strip())
            if self.cur_id:
                self.ids[self.cur_id] = self.cell.strip()
            self.cell = None
        elif tag == "tr" and self.row is not None and self.table:
            self.rows[self.table].append(self.row)
            self.row = None
    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d
p = P()
p.feed(open(sys.argv[1]).read())
for r in p.rows.get("domains", [])[1:]:
    print("domain %s %s %s days=%s" % (r[0], r[1], r[2], r[4]))
for k in ("c-lookups", "c-cache_entries", "c-replies_ok", "c-replies_notfound", "c-fetches_ok",
          "c-fetches_failed", "c-decided_sts", "c-decided_none", "c-dane_verdict_none",
          "valkey-state"):
    print("%s=%s" % (k, p.ids.get(k)))
for r in p.rows.get("failures", [])[1:]:
    print("failure %s %s" % (r[0], r[1]))
PY
dom=$(cat "$T/dom.txt")
say "$dom"
check_match "DOM: alpha.test enforce, 39 days (40 if the clock lags the issue time)" '^domain alpha.test enforce alpha1 days=(39|40)$' \
	"$(grep '^domain alpha' "$T/dom.txt")"
check_match "DOM: beta.test testing, 4 days (or 5)" '^domain beta.test testing beta1 days=(4|5)$' \
	"$(grep '^domain beta' "$T/dom.txt")"
check "DOM: lookups" "c-lookups=3" "$(grep '^c-lookups=' "$T/dom.txt")"
check "DOM: cache entries" "c-cache_entries=2" "$(grep '^c-cache_entries=' "$T/dom.txt")"
check "DOM: OK replies" "c-replies_ok=2" "$(grep '^c-replies_ok=' "$T/dom.txt")"
check "DOM: NOTFOUND replies" "c-replies_notfound=1" "$(grep '^c-replies_notfound=' "$T/dom.txt")"
check "DOM: fetches ok / failed" "c-fetches_ok=1 c-fetches_failed=1" \
	"$(grep -E '^c-fetches_(ok|failed)=' "$T/dom.txt" | xargs)"
check "DOM: replies decided by MTA-STS / by nothing" "c-decided_sts=2 c-decided_none=1" \
	"$(grep -E '^c-decided_(sts|none)=' "$T/dom.txt" | xargs)"
check "DOM: DANE ran for every lookup and did not apply" "c-dane_verdict_none=3" \
	"$(grep '^c-dane_verdict_none=' "$T/dom.txt")"
check "DOM: Valkey tier disabled (memory backend)" "valkey-state=disabled" \
	"$(grep '^valkey-state=' "$T/dom.txt")"
check "DOM: recent failure" "failure fail.test tempfail" "$(grep '^failure' "$T/dom.txt")"

# ---- the screenshot
(cd "$T" && chromium_run --screenshot="$T/page.png" "$URL") >/dev/null ||
	die "chromium --screenshot failed"
[ -s "$T/page.png" ] || die "no screenshot written"
python3 "$SRC_DIR/tests/system/png_colours.py" "$T/page.png" header_px=2d4a7a warn_px=fff1c2 bad_px=f9d0d0 >"$T/png.txt"
say "$(cat "$T/png.txt")"
v() { sed -n "s/^$1=//p" "$T/png.txt"; }
check "screenshot: 1024x768" 1024x768 "$(v size)"
check_match "screenshot: not blank (many colours)" '^([5-9][0-9]|[0-9]{3,})$' "$(v colours)"
check "screenshot: page background from the inline CSS" f6f7f9 "$(v background)"
check_match "screenshot: table header colour drawn" '^[0-9]{4,}$' "$(v header_px)"
check_match "screenshot: a short-lived certificate is highlighted" '^[0-9]{2,}$' "$(v bad_px)"

finish
