#!/bin/bash
# t_state_evict_race.sh - a policy evicted from memory keeps applying in the two gaps a
# trial found in the state tier (both answered NOTFOUND for an enforce policy that still
# had its row, or its pending write):
#
# 1. Evicted while its own TXT re-check runs: DNS on the path drops k1's _mta-sts query
#    (tests/system/hostile/dnsdrop.py), and four other policies push k1 out of memory
#    (cache.max_entries = 2) before the re-check times out. The failure looked only in
#    memory, found nothing, and cached "no policy" for tempfail_ttl (10 min here).
# 2. Evicted before its row was written: another process holds state.db's write lock
#    (an operator's sqlite3, `tlsrpt import`), so the policy waits in the pending set; a
#    read-back only SELECTed the file. DNS then forges NXDOMAIN for every name.
#
# Expected both times: secure (RFC 8461 section 5.1), logged as read back from the state
# database and kept. Loopback only.
. "$(dirname "$0")/lib.sh"

need_cmd ldns-testns certtool postmap python3 sqlite3

# ---- 1. evicted during its own re-check ---------------------------------------------------
lab_ports
UP=$(free_port both)
ST=$T/st1
export RES_RECHECK=1s RES_DNS_TIMEOUT=4s RES_TEMPFAIL_TTL=10m RES_ZONE_TIMEOUT=30s
make_ca
make_cert www mta-sts.k1.test mta-sts.o1.test mta-sts.o2.test mta-sts.o3.test mta-sts.o4.test
for d in k1 o1 o2 o3 o4; do
	policy_put "$WWW" "$d.test" "$(policy_enforce "mail.$d.test")"
	testns_entry "_mta-sts.$d.test" NOERROR "\"v=STSv1; id=${d}1\""
done >"$T/lab1.testns"
testns_start dns "$UP" "$T/lab1.testns"
# the proxy passes everything at first (a suffix no query has)
start_bg drop python3 "$SRC_DIR/tests/system/hostile/dnsdrop.py" "$DNS" "$UP" .none.invalid \
	"$T/drop.count"
wait_file "$T/drop.count"
fake_https_start www "$HTTPS" www "$WWW"
resolver_conf "$T/m1.conf" "$SM" "$DNS" "$HTTPS"
sed -i "s|^process = {|process = {\n\tstate_directory = \"$ST\";|" "$T/m1.conf"
printf 'cache = {\n\tmax_entries = 2;\n};\n' >>"$T/m1.conf"
sec() { pm_ok "secure match=mail.$1 servername=hostname"; }
mtastsd_start m1 "$T/m1.conf" "$SM"
check "k1 secure (fetched)" "$(sec k1.test)" "$(pm "$SM" postfix k1.test)"
# its row written (the flush follows within a second)
k1_row() { [ "$(sqlite3 "$ST/state.db" "SELECT count(*) FROM sts_policy WHERE domain='k1.test'" 2>/dev/null)" = 1 ]; }
wait_for "$LIVE_S" k1_row || true
# past recheck_interval: k1's next lookup re-checks its TXT id, which the proxy now drops
sleep 1.5
stop_bg drop
rm -f "$T/drop.count"
start_bg drop python3 "$SRC_DIR/tests/system/hostile/dnsdrop.py" "$DNS" "$UP" _mta-sts.k1.test \
	"$T/drop.count"
wait_file "$T/drop.count"
(pm "$SM" postfix k1.test >"$T/k1.first") &
KP=$!
rechecking() { grep -q "domain 'k1.test': TXT re-check due" "$T/m1.log"; }
wait_for "$LIVE_S" rechecking || true
for d in o1 o2 o3 o4; do
	check "$d secure (evicts k1)" "$(sec "$d.test")" "$(pm "$SM" postfix "$d.test")"
done
wait "$KP" || true
check "k1 during its dropped re-check: secure" "$(sec k1.test)" "$(cat "$T/k1.first")"
check "k1 afterwards: secure" "$(sec k1.test)" "$(pm "$SM" postfix k1.test)"
check "k1: no 'no MTA-STS policy applies' line" 0 \
	"$(grep -c "domain 'k1.test': .*no MTA-STS policy applies" "$T/m1.log" || true)"
check_match "k1: read back from the state database and kept" \
	"domain 'k1.test': temporary failure \\(DNS timeout\\), keeping cached policy id k11" \
	"$(cat "$T/m1.log")"
stop_bg m1
stop_bg drop
stop_bg www
stop_bg dns

# ---- 2. evicted before its row was written ------------------------------------------------
lab_ports
ST=$T/st2
unset RES_RECHECK RES_DNS_TIMEOUT RES_TEMPFAIL_TTL RES_ZONE_TIMEOUT
lab_enforce 1 k1.test o1.test o2.test
resolver_conf "$T/m2.conf" "$SM" "$DNS" "$HTTPS"
sed -i "s|^process = {|process = {\n\tstate_directory = \"$ST\";|" "$T/m2.conf"
printf 'cache = {\n\tmax_entries = 2;\n};\n' >>"$T/m2.conf"
mtastsd_start m2 "$T/m2.conf" "$SM"
start_bg lock python3 -c "import sqlite3, time
c = sqlite3.connect('$ST/state.db', isolation_level=None)
c.execute('BEGIN IMMEDIATE')
print('locked', flush=True)
time.sleep($((LIVE_S * 2)))"
wait_log lock locked
for d in k1 o1 o2; do
	check "$d secure (state.db locked)" "$(sec "$d.test")" "$(pm "$SM" postfix "$d.test")"
done
check "k1 has no row yet (the writes wait for the lock)" 0 \
	"$(sqlite3 "$ST/state.db" "SELECT count(*) FROM sts_policy WHERE domain='k1.test'" 2>/dev/null || echo 0)"
stop_bg dns
: >"$T/none.testns"
testns_start dnsnx "$DNS" "$T/none.testns"
check "k1 (evicted, row not written), DNS forged NXDOMAIN: secure" "$(sec k1.test)" \
	"$(pm "$SM" postfix k1.test)"
check_match "k1: read back from the pending write" \
	"domain 'k1.test': policy id [a-z0-9]+ read from the state database" "$(cat "$T/m2.log")"
stop_bg lock
stop_bg m2
check "no sanitizer report" 0 "$(cat "$T"/m1.log "$T"/m2.log | grep -c 'Sanitizer' || true)"
finish
