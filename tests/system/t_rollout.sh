#!/bin/bash
# tests/system/t_rollout.sh - `mtastsd rollout` (issue 20 section 2, docs/rollout.md): the
# recommendation from the TLS reports posted into the receiver and the daemon's MX check of
# real Postfix smtpd MX hosts on loopback.
#
# Lab: ldns-testns serves `mtastsd dns-records` plus the MX and A records; every MX host is a
# private Postfix smtpd on its own 127.0.0.x, all on one free port
# (publisher.mx_check_port), the CA is resolver.ca_file:
#   good.test  mx1, mx2 -> 127.0.0.2: Postfix, certificate for mx1/mx2.good.test: verified
#   bad.test   mx1 -> 127.0.0.2 (verified), mx2 -> 127.0.0.3: Postfix with a certificate for
#              other.example.net (name_mismatch)
# Rules (publisher.domains[].rollout): min_days 1, min_sessions 1000, min_organisations 2,
# day = "1s" (TEST LAB ONLY: "served one day" is one second here).
# Cases: before any report "0 days of reports"; reports from two organisations (today's UTC
# day, policy type sts) make good.test "ready for enforce: 1 day, 6000 sessions from 2
# organisations, 0 STS failures, all MX hosts verified", while bad.test, with the same
# reports, says "stay in testing: mx2.bad.test presents a certificate for other.example.net";
# --json, GET /rollout/<domain>, 404 for a domain not published, the status page (its HTML,
# and in headless Chromium: the DOM's rollout table and a screenshot), the metric;
# a report with failures holds good.test back with the failure types; a restart keeps
# "since" (the state database's rollout table).
. "$(dirname "$0")/lib.sh"

need_cmd certtool ldns-testns python3 postconf curl sqlite3
need_root "Postfix master runs as root"
[ -x "$POSTFIX_DAEMON_DIR/master" ] || unavailable "no Postfix master in $POSTFIX_DAEMON_DIR"

P=$(free_port tcp)
A=$(free_port tcp)
DNS=$(free_port both)
S=$(free_port tcp 127.0.0.2 127.0.0.3)

make_ca
for d in good bad; do make_cert "pub-$d" "mta-sts.$d.test"; done
make_cert mx mx1.good.test mx2.good.test mx1.bad.test
make_cert other other.example.net

rollout_conf 5s <<EOC
		{ domain = "good.test"; mode = "testing"; max_age = 86400;
		  mx = [ "mx1.good.test", "mx2.good.test" ];
		  cert = "$T/pub-good.fullchain.pem"; key = "$T/pub-good.key";
		  tlsrpt_rua = "mailto:tlsrpt@good.test";
		  rollout = { min_days = 1; min_sessions = 1000; min_organisations = 2; day = "1s"; }; },
		{ domain = "bad.test"; mode = "testing"; max_age = 86400;
		  mx = [ "mx1.bad.test", "mx2.bad.test" ];
		  cert = "$T/pub-bad.fullchain.pem"; key = "$T/pub-bad.key";
		  tlsrpt_rua = "mailto:tlsrpt@bad.test";
		  rollout = { min_days = 1; min_sessions = 1000; min_organisations = 2; day = "1s"; }; }
EOC

# ---- DNS: the records mtastsd prints, plus the MX hosts ------------------------------------
"$MTASTSD" -c "$T/mtastsd.conf" dns-records >"$T/dns-records.txt" 2>"$T/dns-records.log" ||
	die "dns-records failed: $(cat "$T/dns-records.log")"
{
	grep -v '^;' "$T/dns-records.txt"
	cat <<'EOZ'
good.test.     60 IN MX 10 mx1.good.test.
good.test.     60 IN MX 20 mx2.good.test.
mx1.good.test. 60 IN A  127.0.0.2
mx2.good.test. 60 IN A  127.0.0.2
bad.test.      60 IN MX 10 mx1.bad.test.
bad.test.      60 IN MX 20 mx2.bad.test.
mx1.bad.test.  60 IN A  127.0.0.2
mx2.bad.test.  60 IN A  127.0.0.3
EOZ
} >"$T/lab.zone"
testns_zone dns "$DNS" "$T/lab.zone"

postfix_smtpd_start pf-mx 127.0.0.2 "$S" mx1.good.test mx
postfix_smtpd_start pf-other 127.0.0.3 "$S" other.example.net other

start_bg m1 "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$P"
wait_tcp "$A"

# report ORG ID DOMAIN SUCCESS [TYPE FAILED]: a TLS report of today's UTC day, policy type sts,
# into $T/<ID>.json.
DAY=$(date -u +%Y-%m-%d)
report() {
	python3 - "$T/$2.json" "$DAY" "$@" <<'PY'
import json, sys
out, day, org, rid, dom, ok = sys.argv[1:7]
fail = [] if len(sys.argv) < 9 else [{"result-type": sys.argv[7],
        "receiving-mx-hostname": "mx1." + dom, "failed-session-count": int(sys.argv[8])}]
pol = {"policy": {"policy-type": "sts", "policy-domain": dom,
                  "policy-string": ["version: STSv1", "mode: testing", "mx: mx1." + dom,
                                    "max_age: 86400"]},
       "summary": {"total-successful-session-count": int(ok),
                   "total-failure-session-count": sum(f["failed-session-count"] for f in fail)}}
if fail:
    pol["failure-details"] = fail
json.dump({"organization-name": org, "report-id": rid, "contact-info": "tls@" + org,
           "date-range": {"start-datetime": day + "T00:00:00Z",
                          "end-datetime": day + "T23:59:59Z"},
           "policies": [pol]}, open(out, "w"))
PY
}
post() {
	python3 "$SRC_DIR/tests/system/tlsrpt_post.py" "$P" "$T/ca.pem" "mta-sts.$1.test" post \
		"$T/$2.json" application/tlsrpt+json
}
rollout() { timeout "$LIVE_S" "$MTASTSD" -c "$T/mtastsd.conf" rollout "$@" 2>&1; }
reason() { rollout "$1" | tail -n 1 | sed 's/^  //'; }
reason_is() { [ "$(reason "$1")" = "$2" ]; }
adm() { curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$A$1"; }

# ---- before any report: the MX check decides bad.test, the evidence good.test --------------
wait_for "$LIVE_S" reason_is bad.test \
	"stay in testing: mx2.bad.test presents a certificate for other.example.net" ||
	die "bad.test: $(rollout bad.test)"
wait_for "$LIVE_S" reason_is good.test "stay in testing: 0 days of reports, 1 needed" ||
	die "good.test: $(rollout good.test)"

# ---- reports from two organisations, about both domains ----------------------------------
report org-a.example a1 good.test 4000
report org-b.example b1 good.test 2000
report org-a.example a2 bad.test 4000
report org-b.example b2 bad.test 2000
for r in "good a1" "good b1" "bad a2" "bad b2"; do
	# shellcheck disable=SC2086
	check "report $r stored: 201" 201 "$(post $r)"
done
SINCE=$(sqlite3 "$T/st/state.db" "SELECT since FROM rollout WHERE domain = 'good.test'")
SINCE_TXT=$(date -u -d "@$SINCE" '+%Y-%m-%dT%H:%M:%SZ')
ID=$(sed -n 's/^_mta-sts\.good\.test\. [0-9]* IN TXT "v=STSv1; id=\([A-Za-z0-9]*\)"$/\1/p' \
	"$T/dns-records.txt")

READY="ready for enforce: 1 day, 6000 sessions from 2 organisations, 0 STS failures, all MX hosts verified"
wait_for "$LIVE_S" reason_is good.test "$READY" || die "good.test: $(rollout good.test)"
out=$(rollout good.test)
check "rollout good.test: served since when, the evidence, the MX check, ready for enforce" \
	"good.test: testing, max_age 1d, id $ID, since $SINCE_TXT
  reports since $DAY: 1 day, 6000 sessions from 2 organisations, 0 failures
  MX check <at>: 2 of 2 MX hosts verified
  $READY" "$(printf '%s\n' "$out" | sed -E 's/^(  MX check )[0-9TZ:-]+:/\1<at>:/')"
check "rollout bad.test: the mismatched second MX host, whatever the reports say" \
	"stay in testing: mx2.bad.test presents a certificate for other.example.net" \
	"$(reason bad.test)"
check "rollout (every domain): both, configuration order" "good.test: testing
bad.test: testing" "$(rollout | grep -E '^[a-z]' | cut -d, -f1)"

rc=0
rollout --json >"$T/all.json" || rc=$?
check "rollout --json exits 0" 0 "$rc"
check "rollout --json: advice, evidence, MX check per domain" \
	"good.test ready_enforce enforce days=1 sessions=6000 failures=0 orgs=2 mx=2/2 alert=False
bad.test stay_testing testing days=1 sessions=6000 failures=0 orgs=2 mx=1/2 alert=False" \
	"$(python3 - "$T/all.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for name, d in j["domains"].items():
    r, e, m = d["recommendation"], d["evidence"], d["mx_check"]
    print("%s %s %s days=%d sessions=%d failures=%d orgs=%d mx=%d/%d alert=%s" % (
        name, r["advice"], r["next_mode"], e["days"], e["sessions"], e["failures"],
        e["organisations"], m["verified"], m["hosts"], r["alert"]))
PY
)"
check "GET /rollout/BAD.test. (normalised): one domain" "bad.test" \
	"$(adm /rollout/BAD.test. | python3 -c 'import json,sys; print(*json.load(sys.stdin)["domains"])')"
check "GET /rollout/nx.test: 404" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$A/rollout/nx.test")"
rc=0
rollout nx.test >"$T/nx.out" || rc=$?
check "rollout nx.test: exit 1, said why" \
	"1 mtastsd: rollout: nx.test is not a published domain of the running daemon" \
	"$rc $(cat "$T/nx.out")"
page=$(adm /)
check_match "status page: the rollout section" '<h2>Rollout</h2>' "$page"
check_match "status page: good.test ready" \
	"<td class=\"ok\" id=\"rollout-good.test\">ready for enforce: 1 day, 6000 sessions" "$page"
check_match "status page: bad.test held back by mx2" \
	"<td class=\"warn\" id=\"rollout-bad.test\">stay in testing: mx2.bad.test presents a certificate for other.example.net</td>" \
	"$page"
# The page as a browser shows it (headless Chromium, loopback only, as t_admin_page.sh):
# the rollout table's rows in the DOM, and the screenshot has the section's green (ready)
# and yellow (stay in testing) cells.
if have_cmd "status page in Chromium" chromium; then
	CHROMIUM_SIZE=1400,1400
	chromium_run --dump-dom "http://127.0.0.1:$A/" >"$T/dom.html" || die "chromium --dump-dom failed"
	check "DOM: the rollout table, one row per domain: domain, served, recommendation" \
		"good.test|testing, max_age 1d, id $ID|ready for enforce: 1 day, 6000 sessions from 2 organisations, 0 STS failures, all MX hosts verified
bad.test|testing, max_age 1d, id $(sed -n 's/^_mta-sts\.bad\.test\. [0-9]* IN TXT "v=STSv1; id=\([A-Za-z0-9]*\)"$/\1/p' "$T/dns-records.txt")|stay in testing: mx2.bad.test presents a certificate for other.example.net" \
		"$(python3 - "$T/dom.html" <<'PY'
import html.parser, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.on, self.rows, self.row, self.cell = False, [], None, None
    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.on = dict(attrs).get("id") == "rollout"
        elif self.on and tag == "tr":
            self.row = []
        elif self.on and tag == "td":
            self.cell = ""
    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row:
            self.rows.append(self.row)
            self.row = None
        elif tag == "table":
            self.on = False
    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d
p = P()
p.feed(open(sys.argv[1]).read())
for r in p.rows:
    print("%s|%s|%s" % (r[0], r[1], r[-1]))
PY
)"
	(cd "$T" && chromium_run --screenshot="$T/page.png" "http://127.0.0.1:$A/") >/dev/null ||
		die "chromium --screenshot failed"
	python3 "$SRC_DIR/tests/system/png_colours.py" "$T/page.png" ok_px=d9f2dd warn_px=fff1c2 \
		>"$T/png.txt"
	say "$(cat "$T/png.txt")"
	# the yellow is the rollout table's only: bad.test's "stay in testing" cell
	check_match "screenshot: a yellow (stay in testing) cell drawn" '^[0-9]{3,}$' \
		"$(sed -n 's/^warn_px=//p' "$T/png.txt")"
	check_match "screenshot: green (ready, verified) cells drawn" '^[0-9]{3,}$' \
		"$(sed -n 's/^ok_px=//p' "$T/png.txt")"
	[ -z "${KEEP_PNG:-}" ] || cp "$T/page.png" "$KEEP_PNG"
fi
check "metrics: the recommendation of each domain, no alert" \
	'mtastsd_rollout_alert{domain="good.test"} 0
mtastsd_rollout_alert{domain="bad.test"} 0
mtastsd_rollout_recommendation{domain="good.test",advice="ready_enforce"} 1
mtastsd_rollout_recommendation{domain="bad.test",advice="stay_testing"} 1' \
	"$(adm /metrics | grep -E '^mtastsd_rollout_(alert|recommendation)\{')"
check_match "the log says why bad.test stays in testing" \
	"domain 'bad.test': rollout: stay in testing: mx2.bad.test presents a certificate for other.example.net" \
	"$(cat "$T/m1.log")"

# ---- a report with failures holds good.test back ------------------------------------------
report org-c.example c1 good.test 100 certificate-host-mismatch 7
check "failure report stored: 201" 201 "$(post good c1)"
wait_for "$LIVE_S" reason_is good.test \
	"stay in testing: 7 STS failures in reports (certificate-host-mismatch 7)" ||
	die "good.test after a failure report: $(rollout good.test)"

# ---- a restart keeps "since" --------------------------------------------------------------
stop_bg m1
start_bg m2 "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$A"
wait_for "$LIVE_S" reason_is good.test \
	"stay in testing: 7 STS failures in reports (certificate-host-mismatch 7)" ||
	die "good.test after the restart: $(rollout good.test)"
check "since survives the restart" "good.test: testing, max_age 1d, id $ID, since $SINCE_TXT" \
	"$(rollout good.test | head -n 1)"
check "one rollout row per domain" "bad.test|testing|86400
good.test|testing|86400" \
	"$(sqlite3 "$T/st/state.db" "SELECT domain, mode, max_age FROM rollout ORDER BY domain")"
check "the daemons ran" "alive" "$(alive m2)"
finish
