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
# chromium_run ARGS...: headless Chromium, bounded, on a private profile; output in files.
chromium_run() {
	timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-extensions --disable-default-apps --no-proxy-server \
		--user-data-dir="$T/chr" --window-size=1024,768 "$@" 2>>"$T/chromium.log"
}

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
python3 - "$T/page.png" >"$T/png.txt" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", None
while pos < len(data):
    n, t = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if t == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif t == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG format"
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, header = {}, 0
off = 0
for y in range(h):
    f = raw[off]
    line = bytearray(raw[off + 1:off + 1 + stride])
    off += 1 + stride
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + ((a + b) >> 1)) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours[px] = colours.get(px, 0) + 1
    prev = line
bg = max(colours, key=colours.get)
print("size=%dx%d" % (w, h))
print("colours=%d" % len(colours))
print("background=%s" % bg.hex())
print("header_px=%d" % colours.get(bytes.fromhex("2d4a7a"), 0))
print("warn_px=%d" % colours.get(bytes.fromhex("fff1c2"), 0))
print("bad_px=%d" % colours.get(bytes.fromhex("f9d0d0"), 0))
PY
say "$(cat "$T/png.txt")"
v() { sed -n "s/^$1=//p" "$T/png.txt"; }
check "screenshot: 1024x768" 1024x768 "$(v size)"
check_match "screenshot: not blank (many colours)" '^([5-9][0-9]|[0-9]{3,})$' "$(v colours)"
check "screenshot: page background from the inline CSS" f6f7f9 "$(v background)"
check_match "screenshot: table header colour drawn" '^[0-9]{4,}$' "$(v header_px)"
check_match "screenshot: a short-lived certificate is highlighted" '^[0-9]{2,}$' "$(v bad_px)"

finish
