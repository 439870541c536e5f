# tests/system/dnsupd_cases.sh - the RFC 2136 update cases, against one real DNS server
# (sourced by t_dnsupdate_pdns.sh and t_dnsupdate_knot.sh, after lib.sh).
#
# The sourcing test defines, for its server on 127.0.0.1:$DNS (zone example.test, TSIG key
# "mtastsd" hmac-sha256 with secret $SECRET allowed to update it):
#   srv_start          start it (again) and wait until it answers
#   srv_stop           stop it
#   srv_updates        how many updates it has applied (from its own log)
# Zone contents before the first case: apex MX "10 mx.example.test.", other.example.test TXT
# "unrelated", mta-sts.example.test TXT "sibling", and a hand-written
# _mta-sts.example.test TXT "v=STSv1; id=handwritten1".
#
# Cases: first start replaces the hand-written record (logged first) and creates
# _smtp._tls; a restart and a SIGHUP with the same policy send nothing (mtastsd's log and
# the server's); a policy change on SIGHUP is served before the update is sent (timestamps,
# and the publisher already serves the new policy when the new id shows in the zone); a
# wrong TSIG secret: clear error, zone unchanged, policy served, retried; the server down:
# retries, then the update once it is back; `dns-records --diff` / `--update`; /status and
# /metrics; a domain not served at start (its certificate does not load) keeps its records
# until the certificate is fixed, then they follow without a reload; the records mtastsd does
# not own untouched throughout.

PUB=$(free_port tcp)
ADM=$(free_port tcp)
while [ "$ADM" = "$PUB" ] || [ "$ADM" = "$DNS" ] || [ "$PUB" = "$DNS" ]; do
	ADM=$(free_port tcp)
done

make_ca
make_cert ex mta-sts.example.test

# dconf MODE SECRET: the mtastsd configuration (policy mode MODE, TSIG secret SECRET).
dconf() {
	cat >"$T/mtastsd.conf" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s"; };
resolver = { enabled = false; dns_servers = [ "127.0.0.1@$DNS" ]; dns_timeout = "1s"; };
admin = { listen = "127.0.0.1:$ADM"; };
publisher = {
	listen = [ "127.0.0.1:$PUB" ];
	http_listen = [];
	dns_update = ( {
		name = "primary"; server = "127.0.0.1:$DNS"; zone = "example.test";
		tsig_name = "mtastsd"; tsig_algorithm = "hmac-sha256";
		tsig_secret_file = "$T/tsig.secret"; ttl = 300; timeout = "5s"; retry_max = "2s";
	} );
	domains = ( {
		domain = "example.test"; mode = "$1"; max_age = 86400; mx = [ "mx.example.test" ];
		cert = "$T/ex.fullchain.pem"; key = "$T/ex.key";
		tlsrpt_rua = "mailto:tlsrpt@example.test"; dns_update = "primary";
	} );
};
EOC
	(umask 077 && printf '%s\n' "$2" >"$T/tsig.secret")
}

q() { kdig -p "$DNS" @127.0.0.1 +tcp +short "$1" "${2:-TXT}" 2>/dev/null | tr -d '"'; }
want_id() { "$MTASTSD" -c "$T/mtastsd.conf" dns-records | sed -n 's/^_mta-sts.* "v=STSv1; id=\(.*\)"$/\1/p'; }
policy() {
	curl -s --cacert "$T/ca.pem" --resolve "mta-sts.example.test:$PUB:127.0.0.1" \
		"https://mta-sts.example.test:$PUB/.well-known/mta-sts.txt" | tr -d '\r'
}
nlog() { grep -Ec -- "$1" "$T/mtastsd.log" || true; }
sts_is() { [ "$(q _mta-sts.example.test)" = "v=STSv1; id=$1" ]; }
# the other records, as they must stay
others() { printf '%s/%s/%s' "$(q example.test MX)" "$(q other.example.test)" "$(q mta-sts.example.test)"; }
OTHERS='10 mx.example.test./unrelated/sibling'

check "zone before: hand-written record" "v=STSv1; id=handwritten1" "$(q _mta-sts.example.test)"
check "zone before: the records not owned" "$OTHERS" "$(others)"

# ---- `dns-records --diff` before the daemon: the primary's records against ours ----
dconf enforce "$SECRET"
ID1=$(want_id)
set +e
diff_out=$("$MTASTSD" -c "$T/mtastsd.conf" dns-records --diff 2>&1)
diff_rc=$?
set -e
check "dns-records --diff: exit 1 when out of step" 1 "$diff_rc"
check_match "dns-records --diff: shows the hand-written record" \
	"^- _mta-sts.example.test. .*TXT \"v=STSv1; id=handwritten1\"" "$diff_out"
check_match "dns-records --diff: shows the record to write" \
	"^\+ _mta-sts.example.test. 300 IN TXT \"v=STSv1; id=$ID1\"" "$diff_out"
check "dns-records --diff: changed nothing" "v=STSv1; id=handwritten1" "$(q _mta-sts.example.test)"
check "no update applied by --diff" 0 "$(srv_updates)"

# ---- first start: the records are created, the hand-written one replaced after a log line ----
start_bg mtastsd "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$PUB"
wait_log mtastsd "shows the new records" || true
check "first start: _mta-sts id" "v=STSv1; id=$ID1" "$(q _mta-sts.example.test)"
check "first start: _smtp._tls" "v=TLSRPTv1; rua=mailto:tlsrpt@example.test" "$(q _smtp._tls.example.test)"
check "first start: TTL written" 300 "$(kdig -p "$DNS" @127.0.0.1 +tcp +noall +answer _mta-sts.example.test TXT | awk '{print $2}')"
hw=$(grep -n "not written by mtastsd" "$T/mtastsd.log" | head -1 | cut -d: -f1)
sent=$(grep -n "sending the update" "$T/mtastsd.log" | head -1 | cut -d: -f1)
check "hand-written record logged before the update" yes "$([ -n "$hw" ] && [ -n "$sent" ] && [ "$hw" -lt "$sent" ] && echo yes || echo no)"
check "first start: one update on the server" 1 "$(srv_updates)"
check "first start: records not owned untouched" "$OTHERS" "$(others)"

# /status and /metrics
status=$(curl -s "http://127.0.0.1:$ADM/status" | tr -d ' \n')
check_match "/status: in step" '"in_step":\{"example.test":1' "$status"
check_match "/status: last result updated (2)" '"last_result":\{"example.test":2' "$status"
metrics=$(curl -s "http://127.0.0.1:$ADM/metrics")
check_match "metrics: update counted" 'mtastsd_dns_update_total\{domain="example.test",result="updated"\} 1' "$metrics"

# ---- SIGHUP with the same policy, and a restart: nothing sent ----
kill -HUP "$(cat "$T/mtastsd.pid")"
wait_log mtastsd "has the records already" || true
check "SIGHUP, same policy: no update sent (mtastsd)" 1 "$(nlog 'sending the update')"
stop_bg mtastsd
mv "$T/mtastsd.log" "$T/mtastsd.1.log"
start_bg mtastsd "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$PUB"
wait_log mtastsd "has the records already" || true
check "restart, same policy: no update sent (mtastsd)" 0 "$(nlog 'sending the update')"
check "SIGHUP and restart, same policy: no update on the server" 1 "$(srv_updates)"

# ---- policy change on SIGHUP: served first, the id changes after ----
dconf testing "$SECRET"
ID2=$(want_id)
check "the policy change changes the id" yes "$([ "$ID2" != "$ID1" ] && echo yes || echo no)"
kill -HUP "$(cat "$T/mtastsd.pid")"
wait_for "$LIVE_S" sts_is "$ID2" || true
# the moment the zone shows the new id, the publisher serves the new policy already
check_match "new id visible: the new policy is served" "^mode: testing" "$(policy)"
wait_log mtastsd "shows the new records.*$ID2" || true
t_served=$(sed -n "s/.*policy id $ID2 served since \([^;]*\);.*/\1/p" "$T/mtastsd.log" | head -1)
t_sent=$(grep "sending the update" "$T/mtastsd.log" | tail -1 | sed -n 's/.* at \(.*\)$/\1/p')
say "     served since $t_served, update sent at $t_sent"
check "served before the update was sent" yes \
	"$([ -n "$t_served" ] && [ -n "$t_sent" ] && ! [[ "$t_sent" < "$t_served" ]] && echo yes || echo no)"
l_served=$(grep -n "policy id $ID2 served since" "$T/mtastsd.log" | head -1 | cut -d: -f1)
l_sent=$(grep -n "sending the update" "$T/mtastsd.log" | tail -1 | cut -d: -f1)
check "served line before the update line" yes "$([ -n "$l_served" ] && [ -n "$l_sent" ] && [ "$l_served" -lt "$l_sent" ] && echo yes || echo no)"
check "policy change: two updates on the server" 2 "$(srv_updates)"
check "policy change: _smtp._tls kept" "v=TLSRPTv1; rua=mailto:tlsrpt@example.test" "$(q _smtp._tls.example.test)"

# ---- wrong TSIG secret: clear error, zone unchanged, policy served ----
dconf enforce "c2VjcmV0c2VjcmV0c2VjcmV0d3Jvbmd3cm9uZ3dyb25n"
kill -HUP "$(cat "$T/mtastsd.pid")"
wait_log mtastsd "retry 2 in" || true
check_match "wrong secret: clear error with RCODE and TSIG error" \
	"dns update: update refused: RCODE [A-Z]+ \([0-9]+\), TSIG error [A-Z]+" "$(grep 'update refused' "$T/mtastsd.log" | head -1)"
check "wrong secret: zone unchanged" "v=STSv1; id=$ID2" "$(q _mta-sts.example.test)"
check_match "wrong secret: the new policy is served anyway" "^mode: enforce" "$(policy)"
check "wrong secret: daemon alive" alive "$(alive mtastsd)"
check "wrong secret: nothing applied on the server" 2 "$(srv_updates)"
status=$(curl -s "http://127.0.0.1:$ADM/status" | tr -d ' \n')
check_match "/status: out of step" '"in_step":\{"example.test":0' "$status"
# between two attempts a retry is pending (polled: an attempt in flight has none)
retry_shown() { curl -s "http://127.0.0.1:$ADM/status" | tr -d ' \n' | grep -Eq '"next_retry":\{"example.test":[1-9]'; }
check "/status: next retry set" yes "$(wait_for "$LIVE_S" retry_shown && echo yes || echo no)"
set +e
chk_out=$("$MTASTSD" -c "$T/mtastsd.conf" check example.test 2>&1)
chk_rc=$?
set -e
check "check: exit 1 with the zone out of step" 1 "$chk_rc"
check_match "check: reports the zone out of step" \
	"^FAIL example.test: zone out of step on the primary 127.0.0.1:$DNS: _mta-sts.example.test. TXT \"v=STSv1; id=$ID2\" \(ttl 300\), should be \"v=STSv1; id=$ID1\"" "$chk_out"

# ---- the right secret back: updated ----
dconf enforce "$SECRET"
kill -HUP "$(cat "$T/mtastsd.pid")"
wait_for "$LIVE_S" sts_is "$ID1" || true
check "right secret again: updated" "v=STSv1; id=$ID1" "$(q _mta-sts.example.test)"

# ---- server down: retries, then the update when it is back ----
srv_stop
dconf testing "$SECRET"
n_fail=$(nlog 'retry [0-9]+ in')
kill -HUP "$(cat "$T/mtastsd.pid")"
retried() { [ "$(nlog 'retry [0-9]+ in')" -ge $((n_fail + 2)) ]; }
wait_for "$LIVE_S" retried || true
check "server down: retried" yes "$([ "$(nlog 'retry [0-9]+ in')" -ge $((n_fail + 2)) ] && echo yes || echo no)"
check_match "server down: the policy is served" "^mode: testing" "$(policy)"
srv_start
wait_for "$LIVE_S" sts_is "$ID2" || true
check "server back: updated" "v=STSv1; id=$ID2" "$(q _mta-sts.example.test)"

# ---- dns-records --update from the CLI, and --diff in step ----
stop_bg mtastsd
dconf enforce "$SECRET"
set +e
upd_out=$("$MTASTSD" -c "$T/mtastsd.conf" dns-records --update 2>&1)
upd_rc=$?
diff_out=$("$MTASTSD" -c "$T/mtastsd.conf" dns-records --diff 2>&1)
diff_rc=$?
set -e
check "dns-records --update: exit 0" 0 "$upd_rc"
check_match "dns-records --update: prints the change" \
	"^\+ _mta-sts.example.test. 300 IN TXT \"v=STSv1; id=$ID1\"" "$upd_out"
check "dns-records --update: applied" "v=STSv1; id=$ID1" "$(q _mta-sts.example.test)"
check "dns-records --diff: in step, exit 0" 0 "$diff_rc"
check_match "dns-records --diff: says in step" "in step" "$diff_out"
check_match "check: the primary in step" \
	"^ok   example.test: the primary 127.0.0.1:$DNS has the records mtastsd writes" \
	"$("$MTASTSD" -c "$T/mtastsd.conf" check example.test 2>&1 || true)"


# ---- a certificate that does not load at start: records left; fixed: they follow ----
dconf testing "$SECRET"
cp "$T/ex.fullchain.pem" "$T/ex.fullchain.good"
printf 'not a certificate\n' >"$T/ex.fullchain.pem"
start_bg mtastsd "$MTASTSD" -f -c "$T/mtastsd.conf"
wait_tcp "$PUB"
wait_log mtastsd "not served \(no certificate\)" || true
check "no certificate at start: records left" "v=STSv1; id=$ID1" "$(q _mta-sts.example.test)"
cp "$T/ex.fullchain.good" "$T/ex.fullchain.new"
mv "$T/ex.fullchain.new" "$T/ex.fullchain.pem"
wait_for "$LIVE_S" sts_is "$ID2" || true
check "certificate fixed (no reload): the records follow" "v=STSv1; id=$ID2" "$(q _mta-sts.example.test)"
check_match "certificate fixed: the policy is served" "^mode: testing" "$(policy)"
check "certificate fixed: served before the update" yes "$(l1=$(grep -n "policy id $ID2 served since" "$T/mtastsd.log" | tail -1 | cut -d: -f1)
	l2=$(grep -n "sending the update" "$T/mtastsd.log" | tail -1 | cut -d: -f1)
	[ -n "$l1" ] && [ -n "$l2" ] && [ "$l1" -lt "$l2" ] && echo yes || echo no)"
stop_bg mtastsd

# ---- the _smtp._tls record written is the one dns-records prints (the https rua too) ----
printf 'tlsrpt = { receive = true; };\n' >>"$T/mtastsd.conf"
"$MTASTSD" -c "$T/mtastsd.conf" dns-records --update >/dev/null 2>&1 || true
printed=$("$MTASTSD" -c "$T/mtastsd.conf" dns-records | sed -n 's/^_smtp._tls.* TXT "\(.*\)"$/\1/p')
check "tlsrpt.receive: the zone has the https rua" \
	"v=TLSRPTv1; rua=mailto:tlsrpt@example.test,https://mta-sts.example.test/.well-known/tlsrpt" \
	"$(q _smtp._tls.example.test)"
check "tlsrpt.receive: as dns-records prints it" "$printed" "$(q _smtp._tls.example.test)"
check "end: records not owned untouched" "$OTHERS" "$(others)"
