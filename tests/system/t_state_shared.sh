#!/bin/bash
# tests/system/t_state_shared.sh - the state database shared by the daemon's connections and
# the commands (found by a trial run): statedb_open() used to open(2) and close(2) the file
# outside SQLite, and close() drops every POSIX lock the process holds on it; once the
# daemon had a second connection (the status page's TLS reports, the TLSRPT receiver), a
# `mtastsd tlsrpt` or the admin page made SQLite remove the daemon's WAL under it: the
# policies stopped reaching the disk, and a crash then made a protected domain "no policy".
# Checks: after the status page and two commands the daemon has no deleted file open, the
# policy is on disk, and after SIGKILL and a restart with the TXT forged to NXDOMAIN the
# cached policy still applies.
. "$(dirname "$0")/lib.sh"

need_cmd sqlite3 curl certtool ldns-testns
DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
ADM=$(free_port tcp)
WWW=$T/www
ST=$T/st
DB=$ST/state.db
make_ca
make_cert www mta-sts.a.test
policy_put "$WWW" a.test "$(policy_enforce mail.a.test)"
testns_entry _mta-sts.a.test NOERROR '"v=STSv1; id=a1"' >"$T/dns1.testns"
testns_entry _mta-sts.a.test NXDOMAIN >"$T/forged.testns"
resolver_conf "$T/m.conf" "$SM" "$DNS" "$HTTPS"
sed -i "s|^process = {|process = {\n\tstate_directory = \"$ST\";|; s|^admin = { enabled = false; };|admin = { listen = \"127.0.0.1:$ADM\"; };|" "$T/m.conf"
deleted_fds() { find "/proc/$(cat "$T/m1.pid")/fd" -mindepth 1 -printf '%l\n' 2>/dev/null | grep -c '(deleted)' || true; }
testns_start dns "$DNS" "$T/dns1.testns"
fake_https_start www "$HTTPS" www "$WWW"
mtastsd_start m1 "$T/m.conf" "$SM"
SEC="$(pm_ok 'secure match=mail.a.test servername=hostname')"
check "a.test looked up" "$SEC" "$(pm "$SM" postfix a.test)"
check "status page" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADM/")"
"$MTASTSD" -c "$T/m.conf" tlsrpt >/dev/null 2>&1 || true
"$MTASTSD" -c "$T/m.conf" tlsrpt >/dev/null 2>&1 || true
check "the daemon has no deleted file open" 0 "$(deleted_fds)"
on_disk() { [ "$(sqlite3 "$DB" 'SELECT count(*) FROM sts_policy' 2>/dev/null)" = 1 ]; }
wait_for "$LIVE_S" on_disk || true
check "the policy reached the disk" 1 "$(sqlite3 "$DB" 'SELECT count(*) FROM sts_policy')"
check "the WAL is still there" yes "$([ -e "$DB-wal" ] && echo yes || echo no)"
kill -9 "$(cat "$T/m1.pid")"
pid_gone "$(cat "$T/m1.pid")" || wait_for "$LIVE_S" pid_gone "$(cat "$T/m1.pid")" || true
stop_bg dns
testns_start dnsforged "$DNS" "$T/forged.testns"
mtastsd_start m2 "$T/m.conf" "$SM"
check "after SIGKILL, TXT forged to NXDOMAIN: the cached policy applies" "$SEC" "$(pm "$SM" postfix a.test)"
finish
