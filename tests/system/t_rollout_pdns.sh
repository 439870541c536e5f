#!/bin/bash
# tests/system/t_rollout_pdns.sh - the automatic rollout with dns_update against a real
# PowerDNS primary (issue 20 section 3; docs/rollout.md "Automatic progression"): each
# step's policy is served first, then mtastsd's RFC 2136 update writes the new TXT id, and
# the step is done when mtastsd sees that id in the zone; nobody touches DNS by hand.
#
# pdns_server (gsqlite3, dnsupdate=yes, TSIG key "mtastsd") on a free loopback port holds
# zone upd.test with the MX records; the MX host is a real Postfix smtpd with a certificate
# for mx1.upd.test. Compressed clock: rollout.day = "1s", rollout_interval 1 s, MX check
# every 2 s. upd.test is configured in testing, max_age 1d, target enforce, steps 1d, 7d.
# Case: one report -> step 1 (enforce, 1d) served, its id in the zone, done -> step 2
# (7d) served, its id in the zone, done; for each step the log says served before the
# record followed, and the zone has exactly the served id at the end.
. "$(dirname "$0")/lib.sh"

need_cmd pdns_server pdnsutil sqlite3 kdig curl certtool python3 postconf
need_root "Postfix master runs as root"
[ -x "$POSTFIX_DAEMON_DIR/master" ] || unavailable "no Postfix master in $POSTFIX_DAEMON_DIR"
pdns_need

DNS=$(free_port both)
P=$(free_port tcp)
A=$(free_port tcp)
S=$(free_port tcp 127.0.0.2)
SECRET="c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="

# ---- PowerDNS ----------------------------------------------------------------------------
pdns_primary upd.test "$DNS" "$SECRET" cache-ttl=0 negquery-cache-ttl=0 query-cache-ttl=0
pdu add-record upd.test @ MX "10 mx1.upd.test."
pdu add-record upd.test mx1 A 127.0.0.2
pdns_start pdns upd.test "$DNS"
q() { kdig -p "$DNS" @127.0.0.1 +tcp +short "$1" "${2:-TXT}" 2>/dev/null | tr -d '"'; }

# ---- mtastsd --------------------------------------------------------------------------------
make_ca
make_cert pub mta-sts.upd.test
make_cert mx mx1.upd.test
(umask 077 && printf '%s\n' "$SECRET" >"$T/tsig.secret")
DNS_UPDATE=$(
	cat <<EOC
	dns_update = ( {
		name = "primary"; server = "127.0.0.1:$DNS"; zone = "upd.test";
		tsig_name = "mtastsd"; tsig_secret_file = "$T/tsig.secret"; ttl = 60;
		timeout = "5s"; retry_max = "2s";
	} );
EOC
)
rollout_conf 2s "$DNS_UPDATE" <<EOC
		{ domain = "upd.test"; mode = "testing"; max_age = 86400; mx = [ "mx1.upd.test" ];
		  cert = "$T/pub.fullchain.pem"; key = "$T/pub.key"; dns_update = "primary";
		  rollout = { target = "enforce"; min_days = 1; min_sessions = 100;
		              min_organisations = 1; max_age_steps = [ "1d", "7d" ]; day = "1s"; }; }
EOC
postfix_smtpd_start pf-mx 127.0.0.2 "$S" mx1.upd.test mx
start_bg m "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$P"
wait_tcp "$A"

field() {
	curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$A/rollout/upd.test" |
		python3 -c "import json,sys; d=json.load(sys.stdin)['domains']['upd.test']; print($1)" 2>/dev/null
}
state_is() { [ "$(field 'd["step"], d["step_state"], d["mode"], d["max_age"]')" = "$1" ]; }
sts_is() { [ "$(q _mta-sts.upd.test)" = "v=STSv1; id=$1" ]; }
policy() {
	curl -sS --max-time "$LIVE_S" --cacert "$T/ca.pem" --resolve "mta-sts.upd.test:$P:127.0.0.1" \
		"https://mta-sts.upd.test:$P/.well-known/mta-sts.txt" | tr -d '\r' |
		grep -E '^(mode|max_age):' | tr '\n' ' '
}
# line N of the first log line matching ERE
at() { grep -nE -- "$1" "$T/m.log" | head -n 1 | cut -d: -f1; }

ID0=$(field 'd["policy_id"]')
wait_for "$LIVE_S" sts_is "$ID0" || die "the first update did not come: $(q _mta-sts.upd.test)"
check "step 0: testing served, its id in the zone" "mode: testing max_age: 86400 |v=STSv1; id=$ID0" \
	"$(policy)|$(q _mta-sts.upd.test)"

# ---- one report: step 1, then step 2, each served then published, without a hand on DNS --
DAY=$(date -u +%Y-%m-%d)
python3 - "$T/r.json" "$DAY" <<'PY'
import json, sys
day = sys.argv[2]
json.dump({"organization-name": "org-a.example", "report-id": "r1",
           "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
           "policies": [{"policy": {"policy-type": "sts", "policy-domain": "upd.test"},
                         "summary": {"total-successful-session-count": 500,
                                     "total-failure-session-count": 0}}]},
          open(sys.argv[1], "w"))
PY
check "report stored: 201" 201 "$(python3 "$SRC_DIR/tests/system/tlsrpt_post.py" "$P" "$T/ca.pem" \
	mta-sts.upd.test post "$T/r.json" application/tlsrpt+json)"
wait_for "$LIVE_S" state_is "2 done enforce 604800" || die "not at step 2 done: $(field 'd')"
ID2=$(field 'd["policy_id"]')
check "step 2 served: enforce, 7d" "mode: enforce max_age: 604800 " "$(policy)"
check "the zone has the served id" "v=STSv1; id=$ID2" "$(q _mta-sts.upd.test)"
ID1=$(sed -n "s/.*rollout: step 1 done: the _mta-sts TXT record has id \([a-z0-9]*\) .*/\1/p" "$T/m.log")
check "three ids, all different" "3" "$(printf '%s\n' "$ID0" "$ID1" "$ID2" | grep -c . | tr -d ' ')$(
	[ "$ID0" != "$ID1" ] && [ "$ID1" != "$ID2" ] && [ "$ID0" != "$ID2" ] || echo ' (not distinct)')"
for n in 1 2; do
	id=$([ $n = 1 ] && echo "$ID1" || echo "$ID2")
	taken=$(at "rollout: step $n of 2: ")
	served=$(at "policy id $id served since .*; DNS records follow")
	done_=$(at "rollout: step $n done: the _mta-sts TXT record has id $id")
	check "step $n: taken, served, then its record, then done (log order)" "ok" \
		"$([ -n "$taken" ] && [ -n "$served" ] && [ -n "$done_" ] &&
			[ "$taken" -lt "$served" ] && [ "$served" -lt "$done_" ] && echo ok ||
			echo "taken=$taken served=$served done=$done_")"
done
check "no record to publish by hand was asked for" 0 "$(grep -c 'publish: _mta-sts' "$T/m.log" || true)"
check "the daemon and PowerDNS ran" "alive alive" "$(alive m) $(alive pdns)"
finish
