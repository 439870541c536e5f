#!/bin/bash
# t_state_evict.sh - a policy evicted from memory for space still applies until it
# expires (RFC 8461 section 5.1): the state database keeps its row, and a lookup that
# misses in memory reads it back before asking DNS.
#
# The trial (MEDIUM): with cache.max_entries = 20, k1 looked up (enforce), then 38 other
# domains with valid policies, then k1's DNS made to fail: k1 answered NOTFOUND, and its
# row was gone from state.db too (the writer mirrored memory).
#
# Lab: ldns-testns + fake_https, 13 domains with enforce policies, mtastsd with
# cache.max_entries = 5, process.state_directory = $T/st and the admin endpoint (metrics).
# k1.test is looked up, then the 12 others (k1 is evicted after the fifth); every row stays
# in the file. DNS then forges NXDOMAIN for every name: k1.test is still answered secure
# (read from the state database: logged, mtastsd_state_db_reads_total{result="hit"}), not
# fetched again. A restart loads only 5 policies (max_entries), the rest stay on disk, and
# k1.test is again answered secure from the file. Loopback only.
. "$(dirname "$0")/lib.sh"

need_cmd ldns-testns certtool curl postmap python3
command -v sqlite3 >/dev/null || die "sqlite3 (the CLI) is not installed"

lab_ports
ADM=$(free_port tcp)
ST=$T/st
DB=$ST/state.db
OTHERS=""
for i in $(seq 1 12); do OTHERS="$OTHERS o$i.test"; done

# shellcheck disable=SC2086 # OTHERS: one word per domain
lab_enforce 1 k1.test $OTHERS
resolver_conf "$T/m.conf" "$SM" "$DNS" "$HTTPS"
sed -i "s|^process = {|process = {\n\tstate_directory = \"$ST\";|" "$T/m.conf"
sed -i "s|^admin = { enabled = false; };|admin = { listen = \"127.0.0.1:$ADM\"; };|" "$T/m.conf"
cat >>"$T/m.conf" <<EOC
cache = {
	max_entries = 5;
};
EOC

db() { sqlite3 -batch -cmd '.timeout 5000' "$DB" "$1"; }
metric() { curl -s --max-time 10 "http://127.0.0.1:$ADM/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
sec() { pm_ok "secure match=mail.$1 servername=hostname"; }
# shellcheck disable=SC2317 # called through wait_for
rows_are() { [ "$(db 'SELECT count(*) FROM sts_policy' 2>/dev/null)" = "$1" ]; }
HIT='mtastsd_state_db_reads_total{result="hit"}'
# logged NAME ERE: a check that the daemon's log shows ERE (polled up to LIVE_S).
logged() {
	local r=no
	wait_log "$1" "$2" && r=yes
	check "$1 log: /$2/" yes "$r"
}

# ---- 1. k1 cached, then 12 other policies push it out of memory (max_entries 5)
mtastsd_start m1 "$T/m.conf" "$SM"
check "k1.test secure" "$(sec k1.test)" "$(pm "$SM" postfix k1.test)"
# k1's fetch a second before the others': the restart below loads the 5 latest fetches
sleep 1.1
for d in $OTHERS; do
	check "$d secure" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
done
check "policies evicted from memory for space" 8 \
	"$(metric 'mtastsd_cache_evictions_total{kind="policy"}')"
wait_for "$LIVE_S" rows_are 13 || true
check "every policy keeps its row (evicted ones too)" 13 "$(db 'SELECT count(*) FROM sts_policy')"
check "k1.test's row" "k11 604800" \
	"$(db "SELECT id || ' ' || (expires_at - fetched_at) FROM sts_policy WHERE domain = 'k1.test'")"

# ---- 2. DNS forges NXDOMAIN for every name: k1 is not in memory, the file answers
stop_bg dns
: >"$T/none.testns"
testns_start dnsnx "$DNS" "$T/none.testns"
check "k1.test evicted, DNS says no policy: still secure" "$(sec k1.test)" \
	"$(pm "$SM" postfix k1.test)"
logged m1 "domain 'k1.test': policy id k11 read from the state database"
check "state tier hit counted" 1 "$(metric "$HIT")"
check "k1.test fetched once" 1 "$(fetch_count www mta-sts.k1.test)"
# the TXT re-check (as after a load) said "no policy": the cached policy keeps applying
logged m1 "domain 'k1.test': no MTA-STS policy .*keeping cached policy id k11"
check "k1.test again secure" "$(sec k1.test)" "$(pm "$SM" postfix k1.test)"
check "nx.test (never cached): NOTFOUND" "$(pm_notfound)" "$(pm "$SM" postfix nx.test)"
check "its row is still there" 1 "$(db "SELECT count(*) FROM sts_policy WHERE domain = 'k1.test'")"

# ---- 3. restart (DNS still forging): 5 loaded, 13 on disk, k1 still secure
stop_bg m1
check "m1: clean shutdown, no sanitizer report" "1 0" \
	"$(grep -c 'shutdown complete' "$T/m1.log") $(grep -c 'Sanitizer' "$T/m1.log" || true)"
mtastsd_start m2 "$T/m.conf" "$SM"
logged m2 'state database .*: 5 cached policies loaded' # max_entries
check "the others stay on disk" 13 "$(db 'SELECT count(*) FROM sts_policy')"
check "after restart, k1.test (not loaded) secure" "$(sec k1.test)" "$(pm "$SM" postfix k1.test)"
logged m2 "domain 'k1.test': policy id k11 read from the state database"
for d in $OTHERS; do
	check "after restart, $d secure" "$(sec "$d")" "$(pm "$SM" postfix "$d")"
done
# (at least the 8 not loaded; those loaded may be evicted by these lookups and read again)
hits=$(metric "$HIT")
check "state tier hits after restart: 8 to 13" yes "$([ "${hits:-0}" -ge 8 ] && [ "$hits" -le 13 ] && echo yes)"
check "nothing fetched again" 13 "$(wc -l <"$T/www.count")"
check "m2 running" alive "$(alive m2)"
finish
