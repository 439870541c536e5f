#!/usr/bin/env bash
# tests/system/t_tlsrpt_page.sh - TLS reports on the admin endpoint and the status page
#
# A publisher for example.com (tlsrpt.receive on) with the admin endpoint; a month of
# reports from two organisations (one a day each, failures on some days) goes in with
# `mtastsd tlsrpt import`. Checks: GET /tlsrpt and /tlsrpt/example.com (JSON figures),
# /metrics (mtastsd_tlsrpt_sessions_total per domain, policy type and result), and the
# status page in headless Chromium: the DOM holds the domain's summary line, the inline SVG
# chart with one bar per day that had sessions (and a red part on the days with failures),
# the failure-type, organisation and last-report tables; the screenshot shows the chart's
# green and red. Chromium makes no request outside loopback (see t_admin_page.sh).
. "$(dirname "$0")/lib.sh"

need_cmd chromium curl python3 certtool
P=$(free_port tcp)
ADM=$(free_port tcp)
while [ "$ADM" = "$P" ]; do ADM=$(free_port tcp); done
tlsrpt_example_lab
start_bg pub "$MTASTSD" -f -c "$T/m.conf"
wait_tcp "$ADM"
wait_log pub "tlsrpt: receiving reports" || true

# A month of reports: day d (0 = 29 days ago .. 29 = today), Provider A 1000 + d sessions,
# no failure; Provider B 100 sessions, 5 certificate-expired failures on every third day.
python3 - "$T/rep" <<'PY'
import datetime, json, os, sys
out = sys.argv[1]
os.makedirs(out)
today = datetime.datetime.now(datetime.timezone.utc).date()
for d in range(30):
    day = today - datetime.timedelta(days=29 - d)
    rng = {"start-datetime": day.isoformat() + "T00:00:00Z",
           "end-datetime": day.isoformat() + "T23:59:59Z"}
    a = {"organization-name": "Provider A Mail", "date-range": rng,
         "contact-info": "smtp-tls-reporting@provider-a.example",
         "report-id": "%s_example.com" % day.isoformat(),
         "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com",
                                  "policy-string": ["version: STSv1", "mode: testing",
                                                    "mx: mx1.example.com", "max_age: 86400"]},
                       "summary": {"total-successful-session-count": 1000 + d,
                                   "total-failure-session-count": 0}}]}
    fail = 5 if d % 3 == 0 else 0
    b = {"organization-name": "Provider B Corporation", "date-range": rng,
         "report-id": "b-%d" % d,
         "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com",
                                  "mx-host": ["mx1.example.com"]},
                       "summary": {"total-successful-session-count": 100,
                                   "total-failure-session-count": fail},
                       "failure-details": [{"result-type": "certificate-expired",
                                            "receiving-mx-hostname": "mx1.example.com",
                                            "sending-mta-ip": "192.0.2.1",
                                            "failed-session-count": fail}] if fail else []}]}
    json.dump(a, open("%s/a%02d.json" % (out, d), "w"))
    json.dump(b, open("%s/b%02d.json" % (out, d), "w"))
PY
n=0
for f in "$T"/rep/*.json; do
	"$MTASTSD" -c "$T/m.conf" tlsrpt import "$f" >/dev/null 2>>"$T/import.log" && n=$((n + 1))
done
check "60 reports imported" 60 "$n"
# expected: A 30*1000 + sum(0..29) = 30435, B 3000 successful + 10 days * 5 failures
check_match "mtastsd tlsrpt" '^example.com: 33485 sessions from 2 organisations, 50 failures \(certificate-expired 50\)' \
	"$("$MTASTSD" -c "$T/m.conf" tlsrpt)"

ADMIN="http://127.0.0.1:$ADM"
J=$(curl -sf "$ADMIN/tlsrpt/example.com") || die "GET /tlsrpt/example.com failed"
check "GET /tlsrpt/example.com: figures" "33485 50 2 30 10" "$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])["domains"]["example.com"]
print(d["sessions"], d["failures"], len(d["organisations"]), len(d["daily"]), len(d["last_reports"]))' "$J")"
check "GET /tlsrpt lists the domain" '["example.com"]' \
	"$(curl -sf "$ADMIN/tlsrpt" | python3 -c 'import json,sys; print(json.dumps(list(json.load(sys.stdin)["domains"])))')"
check "GET /tlsrpt/bad..name: 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN/tlsrpt/bad..name")"
check_match "metrics: sessions by domain, type, result" \
	'^mtastsd_tlsrpt_sessions_total\{domain="example.com",policy_type="sts",result="certificate-expired"\} 50$' \
	"$(curl -sf "$ADMIN/metrics" | grep '^mtastsd_tlsrpt_sessions_total' | grep expired)"

CHROMIUM_SIZE=1024,1200
chromium_run --dump-dom "$ADMIN/" >"$T/dom.html" || die "chromium --dump-dom failed"
python3 - "$T/dom.html" >"$T/dom.txt" <<'PY'
import html.parser, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.n = {}
        self.in_table, self.in_summary, self.summary, self.svg = None, False, "", None
    def count(self, k):
        self.n[k] = self.n.get(k, 0) + 1
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "")
        if tag == "svg" and "tlsrpt-chart" in cls:
            self.svg = a.get("id")
            self.count("svg")
        elif tag == "rect" and self.svg:
            self.count("rect." + cls)
        elif tag == "table" and cls.startswith("tlsrpt-"):
            self.in_table = cls
        elif tag == "tr" and self.in_table:
            self.count(self.in_table + ".tr")
        elif tag == "p" and cls == "tlsrpt-summary":
            self.in_summary = True
    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg = None
        elif tag == "table":
            self.in_table = None
        elif tag == "p":
            self.in_summary = False
    def handle_data(self, d):
        if self.in_summary:
            self.summary += d
p = P()
p.feed(open(sys.argv[1]).read())
print("summary=" + p.summary.strip())
for k in sorted(p.n):
    print("%s=%d" % (k, p.n[k]))
PY
say "$(cat "$T/dom.txt")"
d() { sed -n "s/^$1=//p" "$T/dom.txt"; }
check "DOM: summary line" "33485 sessions from 2 organisations, 50 failures (certificate-expired 50)" "$(d summary)"
check "DOM: one chart" 1 "$(d svg)"
check "DOM: 30 green bars (every day had sessions)" 30 "$(d rect.ok)"
check "DOM: 10 red bars (the days with failures)" 10 "$(d rect.fail)"
check "DOM: failure types table (header + 1)" 2 "$(d tlsrpt-failures.tr)"
check "DOM: organisations table (header + 2)" 3 "$(d tlsrpt-orgs.tr)"
check "DOM: last reports table (header + 10)" 11 "$(d tlsrpt-last.tr)"

(cd "$T" && chromium_run --screenshot="$T/page.png" "$ADMIN/") >/dev/null ||
	die "chromium --screenshot failed"
python3 "$SRC_DIR/tests/system/png_colours.py" "$T/page.png" green_px=3c9a52 red_px=c0392b >"$T/png.txt"
say "$(cat "$T/png.txt")"
check_match "screenshot: the chart's green bars drawn" '^[0-9]{4,}$' "$(sed -n 's/^green_px=//p' "$T/png.txt")"
check_match "screenshot: the chart's red parts drawn" '^[0-9]{2,}$' "$(sed -n 's/^red_px=//p' "$T/png.txt")"
[ -z "${KEEP_PNG:-}" ] || cp "$T/page.png" "$KEEP_PNG"
finish
