#!/bin/bash
# tests/system/t_rollout_auto.sh - the automatic rollout (issue 20 section 3,
# docs/rollout.md "Automatic progression") on a compressed clock: rollout.day = "1s" (TEST
# LAB ONLY), publisher.rollout_interval 1 s, the MX check every 2 s.
#
# auto.test is configured in testing (max_age 1d) with rollout = { target = "enforce";
# min_days = 1; min_sessions = 100; min_organisations = 1; max_age_steps = [ "1d", "7d" ] }.
# Its MX host is a real Postfix smtpd with a certificate for mx1.auto.test. No dns_update:
# mtastsd logs the TXT record to publish and counts a step as done only when ldns-testns
# (restarted with the new record by the test) serves it.
# Cases:
#   - a report from one organisation: step 1, the publisher serves enforce, max_age 86400
#     with a new policy id; the step waits ("serving") for the TXT record; the log says
#     what to publish;
#   - a restart while step 1 waits: the publisher serves step 1 at once (same id), the step
#     is still "serving", and "since" is kept; a reload (SIGHUP) keeps serving it;
#   - the TXT record published: step 1 done, step 2 (max_age 604800, a new id), published:
#     done, "enforce with max_age 7d: the last step";
#   - a forged failure report: alert (log warning, mtastsd_rollout_alert 1, the page), and
#     nothing changes: the same policy and id are served.
. "$(dirname "$0")/lib.sh"

need_cmd certtool ldns-testns python3 postconf curl sqlite3
need_root "Postfix master runs as root"
[ -x "$POSTFIX_DAEMON_DIR/master" ] || unavailable "no Postfix master in $POSTFIX_DAEMON_DIR"

P=$(free_port tcp)
A=$(free_port tcp)
DNS=$(free_port both)
S=$(free_port tcp 127.0.0.2)

make_ca
make_cert pub mta-sts.auto.test
make_cert mx mx1.auto.test

rollout_conf 2s <<EOC
		{ domain = "auto.test"; mode = "testing"; max_age = 86400; mx = [ "mx1.auto.test" ];
		  cert = "$T/pub.fullchain.pem"; key = "$T/pub.key";
		  rollout = { target = "enforce"; min_days = 1; min_sessions = 100;
		              min_organisations = 1; max_age_steps = [ "1d", "7d" ]; day = "1s"; }; }
EOC

# dns ID: ldns-testns (re)started with the MX records and _mta-sts.auto.test TXT id=ID.
dns() {
	[ -s "$T/dns.pid" ] && stop_bg dns
	{
		cat <<EOZ
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id copy_query
REPLY QR AA NOERROR
SECTION QUESTION
auto.test. IN MX
SECTION ANSWER
auto.test. 60 IN MX 10 mx1.auto.test.
ENTRY_END
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id copy_query
REPLY QR AA NOERROR
SECTION QUESTION
mx1.auto.test. IN A
SECTION ANSWER
mx1.auto.test. 60 IN A 127.0.0.2
ENTRY_END
EOZ
		testns_entry _mta-sts.auto.test NOERROR "\"v=STSv1; id=$1\""
	} >"$T/zone.testns"
	testns_start dns "$DNS" "$T/zone.testns"
	wait_tcp "$DNS" # ldns-testns listens on UDP and TCP together
}
ID0=$("$MTASTSD" -c "$T/mtastsd.conf" dns-records | sed -n 's/.*"v=STSv1; id=\([A-Za-z0-9]*\)".*/\1/p')
[ -n "$ID0" ] || die "no id from dns-records"
dns "$ID0"
postfix_smtpd_start pf-mx 127.0.0.2 "$S" mx1.auto.test mx

start_bg m1 "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$P"
wait_tcp "$A"
LOG=m1

j() { curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$A/rollout/auto.test"; }
field() { j | python3 -c "import json,sys; d=json.load(sys.stdin)['domains']['auto.test']; print($1)"; }
state() { field 'd["step"], d["step_state"], d["mode"], d["max_age"]' 2>/dev/null; }
state_is() { [ "$(state)" = "$1" ]; }
policy() {
	curl -sS --max-time "$LIVE_S" --cacert "$T/ca.pem" --resolve "mta-sts.auto.test:$P:127.0.0.1" \
		"https://mta-sts.auto.test:$P/.well-known/mta-sts.txt" | tr -d '\r' | grep -E '^(mode|max_age):' | tr '\n' ' '
}
DAY=$(date -u +%Y-%m-%d)
report() { # ORG ID SUCCESS [TYPE FAILED]
	python3 - "$T/$2.json" "$DAY" "$@" <<'PY'
import json, sys
out, day, org, rid, ok = sys.argv[1:6]
fail = [] if len(sys.argv) < 8 else [{"result-type": sys.argv[6],
        "receiving-mx-hostname": "mx1.auto.test", "failed-session-count": int(sys.argv[7])}]
pol = {"policy": {"policy-type": "sts", "policy-domain": "auto.test",
                  "policy-string": ["version: STSv1", "mode: enforce", "mx: mx1.auto.test",
                                    "max_age: 86400"]},
       "summary": {"total-successful-session-count": int(ok),
                   "total-failure-session-count": sum(f["failed-session-count"] for f in fail)}}
if fail:
    pol["failure-details"] = fail
json.dump({"organization-name": org, "report-id": rid,
           "date-range": {"start-datetime": day + "T00:00:00Z",
                          "end-datetime": day + "T23:59:59Z"},
           "policies": [pol]}, open(out, "w"))
PY
	python3 "$SRC_DIR/tests/system/tlsrpt_post.py" "$P" "$T/ca.pem" mta-sts.auto.test post \
		"$T/$2.json" application/tlsrpt+json
}

# ---- step 0: testing, no reports --------------------------------------------------------
wait_for "$LIVE_S" state_is "0 done testing 86400" || die "start: $(j)"
check "step 0 serves the configuration" "mode: testing max_age: 86400 " "$(policy)"
wait_log "$LOG" "domain 'auto.test': rollout: stay in testing: 0 days of reports, 1 needed" ||
	die "no stay-in-testing line: $(tail -5 "$T/m1.log")"

# ---- a report: step 1 (enforce, 1d), waiting for its TXT record ----------------------------
check "report stored: 201" 201 "$(report org-a.example a1 500)"
wait_for "$LIVE_S" state_is "1 serving enforce 86400" || die "no step 1: $(j)"
ID1=$(field 'd["policy_id"]')
check "step 1 served: enforce, max_age 86400" "mode: enforce max_age: 86400 " "$(policy)"
check "step 1 has a new policy id" "new" "$([ -n "$ID1" ] && [ "$ID1" != "$ID0" ] && echo new)"
wait_log "$LOG" "rollout: step 1 of 2: ready for enforce: 1 day, 500 sessions from 1 organisation, 0 STS failures, all MX hosts verified; serving mode enforce, max_age 1d" ||
	die "no step 1 line"
wait_log "$LOG" "rollout: step 1 serves policy id $ID1; the _mta-sts TXT record has id $ID0: publish: _mta-sts.auto.test. IN TXT \"v=STSv1; id=$ID1\"" ||
	die "no publish line: $(grep rollout "$T/m1.log" | tail -3)"
check_match "mtastsd rollout: the step waits for its TXT record" \
	"^  automatic: step 1 of 2 served since [0-9TZ:-]+, waiting for the _mta-sts TXT record to have id $ID1 \(it has $ID0\)\$" \
	"$(timeout "$LIVE_S" "$MTASTSD" -c "$T/mtastsd.conf" rollout auto.test)"
check "the state database has step 1, serving" "1|serving|enforce|86400|$ID1" \
	"$(sqlite3 "$T/st/state.db" "SELECT step, step_state, mode, max_age, policy_id FROM rollout")"
SINCE1=$(sqlite3 "$T/st/state.db" "SELECT since FROM rollout")

# ---- restart while step 1 waits ----------------------------------------------------------
stop_bg m1
start_bg m2 "$MTASTSD" -f -c "$T/mtastsd.conf"
LOG=m2
wait_tcp "$P"
wait_tcp "$A"
wait_for "$LIVE_S" state_is "1 serving enforce 86400" || die "after the restart: $(j)"
check "after the restart: step 1 served" "mode: enforce max_age: 86400 " "$(policy)"
check "after the restart: the same id, the same since" "$ID1 $SINCE1" \
	"$(field 'd["policy_id"]') $(sqlite3 "$T/st/state.db" "SELECT since FROM rollout")"
# between the listeners' start and the state database's read the domain answered 503, never
# the configured testing policy (a sender would cache it under step 1's TXT id)
check "after the restart: held (503) until the step was read, then released, then started" \
	"hold release started" "$(grep -oE 'answer 503 until the state database|publisher: reloaded|mtastsd [0-9.]+ started' \
		"$T/m2.log" | sed -E 's/^answer 503.*/hold/; s/^publisher: reloaded/release/; s/^mtastsd.*/started/' |
		head -3 | xargs)"

# ---- a reload (SIGHUP) while step 1 waits: the step stays served, no flicker to testing ----
kill -HUP "$(cat "$T/m2.pid")"
wait_log "$LOG" "configuration reloaded" || die "no reload: $(tail -3 "$T/m2.log")"
check "after a reload: step 1 still served, same id" "mode: enforce max_age: 86400 |$ID1" \
	"$(policy)|$(field 'd["policy_id"]')"
check "after a reload: testing was never served again (one 'now serving' line, step 1's)" 0 \
	"$(grep -c "rollout: now serving mode testing" "$T/m2.log" || true)"

# ---- the TXT record published: step 1 done, then step 2 (7d) -------------------------------
dns "$ID1"
wait_log "$LOG" "rollout: step 1 done: the _mta-sts TXT record has id $ID1" ||
	die "step 1 not done: $(j)"
wait_for "$LIVE_S" state_is "2 serving enforce 604800" || die "no step 2: $(j)"
ID2=$(field 'd["policy_id"]')
check "step 2 served: enforce, max_age 604800" "mode: enforce max_age: 604800 " "$(policy)"
check "step 2 has a new policy id" "new" "$([ -n "$ID2" ] && [ "$ID2" != "$ID1" ] && echo new)"
wait_for "$LIVE_S" eval '[ "$(field "d[\"recommendation\"][\"advice\"]")" = hold ]' || true
check "step 2 served, its TXT record not seen: hold, not done" \
	"hold step 2 of 2 served: waiting for the _mta-sts TXT record to have id $ID2" \
	"$(field 'd["recommendation"]["advice"], d["recommendation"]["reason"]')"
dns "$ID2"
wait_for "$LIVE_S" state_is "2 done enforce 604800" || die "step 2 not done: $(j)"
wait_for "$LIVE_S" eval '[ "$(field "d[\"recommendation\"][\"reason\"]")" = "enforce with max_age 7d: the last step" ]' ||
	die "not done: $(j)"
check "the last step: nothing more" "done" "$(field 'd["recommendation"]["advice"]')"
check "mtastsd rollout: the last step" "  automatic: step 2 of 2
  enforce with max_age 7d: the last step" \
	"$(timeout "$LIVE_S" "$MTASTSD" -c "$T/mtastsd.conf" rollout auto.test | tail -n 2)"

# ---- a forged failure report: an alert, nothing changes ------------------------------------
check "forged failure report stored: 201" 201 "$(report forger.example f1 0 validation-failure 40)"
wait_for "$LIVE_S" eval '[ "$(field "d[\"recommendation\"][\"advice\"]")" = alert ]' ||
	die "no alert: $(j)"
wait_log "$LOG" "domain 'auto.test': rollout: alert: 40 STS failures in reports in enforce \(validation-failure 40\); not lowered automatically \(reports are unauthenticated\): check the MX hosts" ||
	die "no alert line"
check "metric: the alert" 'mtastsd_rollout_alert{domain="auto.test"} 1' \
	"$(curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$A/metrics" | grep '^mtastsd_rollout_alert{')"
check_match "the page shows the alert" '<td class="bad" id="rollout-auto.test">alert: 40 STS failures' \
	"$(curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$A/")"
# three more evaluations (rollout_interval 1 s), each an alert: nothing may move
N=$(field 'd["alerts"]')
alerts_past() { [ "$(field 'd["alerts"]')" -ge "$1" ]; }
wait_for "$LIVE_S" alerts_past $((N + 3)) || die "no further evaluations: $(j)"
check "the alert changed nothing: same step, mode, max_age, id" "2 done enforce 604800 $ID2" \
	"$(state | tr -d '\n') $(field 'd["policy_id"]')"
check "the alert changed nothing: the policy served" "mode: enforce max_age: 604800 " "$(policy)"
check "one alert warning (rate-limited)" 1 "$(grep -c "rollout: alert:" "$T/m2.log")"
check "the daemon ran" "alive" "$(alive m2)"

# ---- a start while another process holds the state database's lock ------------------------
# The steps reached cannot be read: the domain answers 503 (never testing, never step 0
# stored over step 2), and once the lock is gone the stored step is served again.
stop_bg m2
start_bg lock sqlite3 "$T/st/state.db" "BEGIN EXCLUSIVE;" "SELECT count(*) FROM rollout;" \
	".shell touch $T/locked; i=0; while [ ! -e $T/unlock ] && [ \$i -lt $((LIVE_S * 10)) ]; do sleep 0.1; i=\$((i + 1)); done" \
	"COMMIT;"
wait_for "$LIVE_S" test -e "$T/locked" || die "no lock taken: $(cat "$T/lock.log")"
start_bg m3 "$MTASTSD" -f -c "$T/mtastsd.conf"
LOG=m3
wait_tcp "$P"
wait_log m3 "the domains with an automatic rollout answer 503 until they can" ||
	die "no hold while locked: $(tail -5 "$T/m3.log")"
check "locked at start: the policy is not served (503), testing is not served either" 503 \
	"$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$LIVE_S" --cacert "$T/ca.pem" \
		--resolve "mta-sts.auto.test:$P:127.0.0.1" "https://mta-sts.auto.test:$P/.well-known/mta-sts.txt")"
touch "$T/unlock"
wait_for "$LIVE_S" pid_gone "$(cat "$T/lock.pid")" || true
wait_tcp "$A"
wait_for "$LIVE_S" state_is "2 done enforce 604800" || die "after the lock: $(j)"
check "after the lock: step 2 served again, same id" "mode: enforce max_age: 604800 |$ID2" \
	"$(policy)|$(field 'd["policy_id"]')"
check "after the lock: the stored row is still step 2" "2|done|enforce|604800" \
	"$(sqlite3 "$T/st/state.db" "SELECT step, step_state, mode, max_age FROM rollout")"
check "testing never served in this run" 0 "$(grep -c "rollout: now serving mode testing" "$T/m3.log" || true)"
finish
