#!/usr/bin/env bash
# tests/system/t_tlsrpt_junk.sh - reports about names we do not publish never reach the
# admin endpoint's TLS figures, and never make it slow (docs/tlsrpt.md)
#
# A publisher for example.com with the admin endpoint. Its state database gets one real
# report for example.com (import), then the session rows 400 junk reports of an older
# mtastsd would have left (1024 made-up domains each, all sorting before example.com:
# 409 600 rows, written with sqlite3). Checks: GET / (status page), /status, /tlsrpt and
# /metrics all answer within LIVE_S (each took over a minute when the summary scanned
# every report per domain), the page, /tlsrpt, the metrics and `mtastsd tlsrpt` show
# example.com and no made-up name; a POST of one published + 1023 made-up policies is
# stored (201) with example.com's rows only.
. "$(dirname "$0")/lib.sh"

need_cmd curl certtool python3 sqlite3
P=$(free_port tcp)
ADM=$(free_port tcp)
tlsrpt_example_lab
mkdir -p "$T/st"
DAY=$(date -u +%Y-%m-%d)
sed "s/2026-11-05/$DAY/g" "$SRC_DIR/tests/unit/data/tlsrpt/provider-a.json" >"$T/a.json"
"$MTASTSD" -c "$T/m.conf" tlsrpt import "$T/a.json" >/dev/null || die "import failed"
# what 400 junk POSTs left in an older mtastsd's database
sqlite3 "$T/st/state.db" "
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 400)
INSERT INTO tlsrpt_report (org, report_id, source, peer, received_at, start_at, end_at,
	status, raw, raw_size)
SELECT 'junk', 'z' || i, 'https', '127.0.0.1', strftime('%s', 'now'), strftime('%s', 'now'),
	strftime('%s', 'now'), 'ok', x'00', 1 FROM k;
WITH RECURSIVE j(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM j WHERE i < 1023)
INSERT INTO tlsrpt_session (report, domain, day, policy_type, result, mx_host, sessions)
SELECT r.id, 'a' || r.id || '-' || printf('%04d', j.i) || '.example',
	CAST(strftime('%s', 'now') / 86400 AS INTEGER), 'sts', 'success', '', 1
FROM tlsrpt_report r, j WHERE r.org = 'junk';" || die "sqlite3 failed"
check "junk rows in the database" 409600 \
	"$(sqlite3 "$T/st/state.db" "SELECT count(*) FROM tlsrpt_session WHERE domain LIKE 'a%'")"

start_bg pub "$MTASTSD" -f -c "$T/m.conf"
wait_tcp "$ADM"
wait_log pub "tlsrpt: receiving reports" || true
ADMIN="http://127.0.0.1:$ADM"
# get PATH FILE: the status (the time taken goes to stderr: information, not a check)
get() {
	local out
	out=$(curl -s -m "$LIVE_S" -o "$T/$2" -w '%{http_code} %{time_total}' "$ADMIN$1") || out="timeout -"
	say "     GET $1: ${out#* } s"
	echo "${out%% *}"
}

check "GET /: 200" 200 "$(get / page.html)"
check "page: example.com's section" 1 "$(grep -c 'id="tlsrpt-example.com"' "$T/page.html" || true)"
check "page: no section of a made-up name" 0 "$(grep -c 'id="tlsrpt-a[0-9]' "$T/page.html" || true)"
check "GET /status: 200" 200 "$(get /status status.json)"
check "GET /tlsrpt: 200" 200 "$(get /tlsrpt tlsrpt.json)"
check "GET /tlsrpt: example.com only" '["example.com"]' \
	"$(python3 -c 'import json,sys; print(json.dumps(list(json.load(open(sys.argv[1]))["domains"])))' "$T/tlsrpt.json")"
check "GET /metrics: 200" 200 "$(get /metrics metrics.txt)"
check "metrics: example.com's series only" "example.com" \
	"$(sed -n 's/^mtastsd_tlsrpt_sessions_total{domain="\([^"]*\)".*/\1/p' "$T/metrics.txt" | sort -u | tr '\n' ' ' | sed 's/ $//')"
check_match "mtastsd tlsrpt: example.com only" '^example.com: 1422 sessions from 1 organisation, 0 failures \(last 30 days\)$' \
	"$("$MTASTSD" -c "$T/m.conf" tlsrpt)"

# a report of 1 published + 1023 made-up policies, as the trial sent them
python3 - "$T/junk.json" "$DAY" <<'PY'
import json, sys
pols = [{"policy": {"policy-type": "sts", "policy-domain": "example.com"},
         "summary": {"total-successful-session-count": 7, "total-failure-session-count": 0}}]
pols += [{"policy": {"policy-type": "sts", "policy-domain": "b%04d.example" % i},
          "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}
         for i in range(1023)]
json.dump({"organization-name": "junk", "report-id": "post-1",
           "date-range": {"start-datetime": sys.argv[2] + "T00:00:00Z",
                          "end-datetime": sys.argv[2] + "T23:59:59Z"},
           "policies": pols}, open(sys.argv[1], "w"))
PY
check "POST 1 published + 1023 made-up policies: 201" 201 \
	"$(python3 "$SRC_DIR/tests/system/tlsrpt_post.py" "$P" "$T/ca.pem" mta-sts.example.com post "$T/junk.json" application/tlsrpt+json)"
check "its rows: example.com's only" "example.com|7" \
	"$(sqlite3 "$T/st/state.db" "SELECT s.domain, s.sessions FROM tlsrpt_session s JOIN tlsrpt_report r ON r.id = s.report WHERE r.report_id = 'post-1'")"
check "the daemon is alive" alive "$(alive pub)"
finish
