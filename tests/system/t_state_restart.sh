#!/bin/bash
# t_state_restart.sh - issue 15 part 2: cached policies survive a restart (RFC 8461
# section 10.2). An attacker on the path must never turn a protected domain into "no
# policy", not even right after the daemon was killed.
#
# Lab: ldns-testns + fake_https serving four policies (three enforce, one testing), the
# daemon with process.state_directory = $T/st. Policies are cached, the daemon is killed
# with SIGKILL, DNS and HTTPS are taken away (stopped, then DNS forging NXDOMAIN for
# everything), the daemon started again: every domain is still answered from the state
# database (postmap -q), and is refreshed from the network once it is back. Then the
# files that must not stop the daemon: garbage bytes (moved aside, a new file is used),
# an unwritable state directory, a state.db that is a directory, a database locked by
# another process (these three: memory-only), and a privilege drop (the directory created
# as root is handed to process.user). Loopback only.
. "$(dirname "$0")/lib.sh"

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www
ST=$T/st
DB=$ST/state.db
# TXT ids are re-checked every 3 s (after a failure that said "no policy", the next
# re-check waits this long), so the refresh once the network is back comes quickly.
export RES_RECHECK=3s

command -v sqlite3 >/dev/null || die "sqlite3 (the CLI) is not installed"

# ---- lab
make_ca
make_cert www mta-sts.a.test mta-sts.b.test mta-sts.c.test mta-sts.t.test mta-sts.nx.test
policy_put "$WWW" a.test "$(policy_enforce mail.a.test)"
policy_put "$WWW" b.test "$(policy_enforce mail.b.test '*.mx.b.test')"
policy_put "$WWW" c.test "$(policy_enforce mail.c.test)"
policy_put "$WWW" t.test 'version: STSv1\nmode: testing\nmx: mail.t.test\nmax_age: 604800\n'
policy_put "$WWW" nx.test "$(policy_enforce mail.nx.test)" # DNS says no policy: never fetched
# dns_ids ID: the four _mta-sts records, a.test's with id ID, the others b1, c1, t1.
dns_ids() {
	local d
	testns_entry _mta-sts.a.test NOERROR "\"v=STSv1; id=$1\""
	for d in b c t; do testns_entry "_mta-sts.$d.test" NOERROR "\"v=STSv1; id=${d}1\""; done
}
dns_ids a1 >"$T/dns1.testns"

# state_conf FILE DIR: the lab's config with process.state_directory = DIR.
state_conf() {
	resolver_conf "$1" "$SM" "$DNS" "$HTTPS"
	sed -i "s|^process = {|process = {\n\tstate_directory = \"$2\";|" "$1"
}
# db SQL: one query on the state database, as an admin would make it.
db() { sqlite3 -batch -cmd '.timeout 5000' "${DBFILE:-$DB}" "$1"; }
# wait_db NAME SQL EXPECTED: poll (up to 20 s: writes happen about 1 s after a change).
wait_db() {
	local got="" i
	for i in $(seq 1 100); do
		got=$(db "$2" 2>&1) || true
		[ "$got" = "$3" ] && break
		sleep 0.2
	done
	check "$1" "$3" "$got"
}
# wait_log NAME ERE: poll the daemon's log (up to 20 s).
wait_log() {
	local i
	for i in $(seq 1 100); do
		grep -Eq -- "$2" "$T/$1.log" && break
		sleep 0.2
	done
	check_match "$1 log: /$2/" "$2" "$(grep -E -- "$2" "$T/$1.log" || true)"
}
kill9() {
	kill -9 "$(cat "$T/$1.pid")"
	for i in $(seq 1 100); do
		[ "$(alive "$1")" = dead ] && return 0
		sleep 0.1
	done
}

A="$(pm_ok 'secure match=mail.a.test servername=hostname')"
A2="$(pm_ok 'secure match=mail2.a.test servername=hostname')"
B="$(pm_ok 'secure match=mail.b.test:.mx.b.test servername=hostname')"
C="$(pm_ok 'secure match=mail.c.test servername=hostname')"
TS="$(pm_ok 'secure match=mail.t.test servername=hostname')" # strict zone: testing enforced
NF=$(pm_notfound)
# all_protected WHAT: every cached domain answers as before, nx.test has no policy.
all_protected() {
	check "$1: a.test secure" "$A" "$(pm "$SM" postfix a.test)"
	check "$1: b.test secure" "$B" "$(pm "$SM" postfix b.test)"
	check "$1: c.test secure" "$C" "$(pm "$SM" postfix c.test)"
	check "$1: t.test (testing) via strict" "$TS" "$(pm "$SM" strict t.test)"
	check "$1: t.test (testing) NOTFOUND" "$NF" "$(pm "$SM" postfix t.test)"
}

# ---- 1. cache the policies; they reach the file
testns_start dns "$DNS" "$T/dns1.testns"
fake_https_start www "$HTTPS" www "$WWW"
state_conf "$T/m.conf" "$ST"
mtastsd_start m1 "$T/m.conf" "$SM"
all_protected "first start"
check "nx.test (NXDOMAIN): no policy" "$NF" "$(pm "$SM" postfix nx.test)"
check "a.test fetched once" 1 "$(fetch_count www mta-sts.a.test)"
wait_db "the four policies are written" \
	"SELECT group_concat(domain || ' ' || id, ',') FROM (SELECT * FROM sts_policy ORDER BY domain)" \
	"a.test a1,b.test b1,c.test c1,t.test t1"
check "no row for the no-policy domain (negative entries are not kept)" 0 \
	"$(db "SELECT count(*) FROM sts_policy WHERE domain = 'nx.test'")"
check "a.test row: the canonical policy text" \
	'version: STSv1|mode: enforce|mx: mail.a.test|max_age: 604800|' \
	"$(db "SELECT replace(policy, char(13,10), '|') FROM sts_policy WHERE domain = 'a.test'")"
check "a.test row: expires_at = fetched_at + max_age" 604800 \
	"$(db "SELECT expires_at - fetched_at FROM sts_policy WHERE domain = 'a.test'")"
check "schema version (3: the rollout table, docs/rollout.md)" 3 "$(db 'PRAGMA user_version')"
check "WAL mode" wal "$(db 'PRAGMA journal_mode')"
check "file mode 0600" 600 "$(stat -c %a "$DB")"

# ---- 2. SIGKILL; the attacker blocks every _mta-sts TXT (SERVFAIL) and HTTPS (down)
kill9 m1
stop_bg dns
stop_bg www
for d in a b c t; do testns_entry "_mta-sts.$d.test" SERVFAIL; done >"$T/blocked.testns"
# (The MX queries of the DANE check get NXDOMAIN, the catch-all: no DANE here.)
testns_start dnsblk "$DNS" "$T/blocked.testns"
mtastsd_start m2 "$T/m.conf" "$SM"
check_match "m2 loaded the four policies" 'state database .*: 4 cached policies loaded' \
	"$(cat "$T/m2.log")"
all_protected "after SIGKILL, TXT and HTTPS blocked"
# The first lookups started background re-checks of the TXT ids (last_check is unknown
# after a load); they fail, and the cached policies keep applying.
wait_log m2 "domain 'a.test': temporary failure .*keeping cached policy id a1"
sleep 1.5 # tempfail_ttl 1 s: the next lookups re-check again
all_protected "after SIGKILL, TXT and HTTPS blocked, re-checks failed"
check "m2 running" alive "$(alive m2)"
stop_bg dnsblk

# ---- 3. again, with DNS forging "no policy" (NXDOMAIN for every name)
kill9 m2
: >"$T/empty.testns"
testns_start dnsnx "$DNS" "$T/empty.testns"
mtastsd_start m3 "$T/m.conf" "$SM"
all_protected "after SIGKILL, DNS forging NXDOMAIN"
wait_log m3 "domain 'b.test': no MTA-STS policy .*keeping cached policy id b1"
sleep 1.5
all_protected "DNS forging NXDOMAIN, re-checks failed"
check "the file still holds the four policies" 4 "$(db 'SELECT count(*) FROM sts_policy')"

# ---- 4. the network is back, a.test has a new policy: refreshed
stop_bg dnsnx
policy_put "$WWW" a.test "$(policy_enforce mail2.a.test)"
dns_ids a2 >"$T/v2.testns"
testns_start dns2 "$DNS" "$T/v2.testns"
fake_https_start www2 "$HTTPS" www "$WWW"
got=""
for i in $(seq 1 60); do # a lookup starts the re-check once tempfail_ttl (1 s) has passed
	got=$(pm "$SM" postfix a.test)
	[ "$got" = "$A2" ] && break
	[ "$got" = "$A" ] || break # anything but the old or the new policy is wrong
	sleep 0.5
done
check "a.test refreshed to its new policy once the network is back" "$A2" "$got"
check "b.test (unchanged id) still secure" "$B" "$(pm "$SM" postfix b.test)"
wait_db "the new a.test policy is written" \
	"SELECT id || ' ' || replace(policy, char(13,10), '|') FROM sts_policy WHERE domain = 'a.test'" \
	'a2 version: STSv1|mode: enforce|mx: mail2.a.test|max_age: 604800|'
check "b.test not fetched again (TXT id unchanged)" 0 "$(fetch_count www2 mta-sts.b.test)"

# ---- 5. garbage bytes over the file: logged, moved aside, a new file; the daemon serves
stop_bg m3 # SIGTERM: writes what is pending, SQLite folds its WAL into the file
check_match "m3 stopped cleanly" 'shutdown complete' "$(cat "$T/m3.log")"
check "m3: no sanitizer report" 0 "$(grep -c 'Sanitizer' "$T/m3.log" || true)"
rm -f "$DB-wal" "$DB-shm" # (a WAL left by a crash would still hold the recent pages)
head -c 4096 /dev/urandom >"$DB"
mtastsd_start m4 "$T/m.conf" "$SM"
wait_log m4 "state database $DB: damaged \(.*not a database.*\), moved aside to $DB\.corrupt-[0-9]+"
check "the damaged file is kept aside" 1 "$(find "$ST" -name 'state.db.corrupt-*' ! -name '*-wal' | wc -l)"
check "m4 serves (a.test fetched again)" "$A2" "$(pm "$SM" postfix a.test)"
wait_db "the new file holds what is cached again" \
	"SELECT id FROM sts_policy WHERE domain = 'a.test'" a2
check "m4 running" alive "$(alive m4)"
kill9 m4

# ---- 6. no usable state directory or file: logged, memory-only, the daemon serves
: >"$T/plainfile"
state_conf "$T/nodir.conf" "$T/plainfile/sub"
mtastsd_start m5 "$T/nodir.conf" "$SM"
wait_log m5 "state database: cannot create the state directory $T/plainfile/sub \(Not a directory\): cached policies are kept in memory only"
check "m5 serves" "$A2" "$(pm "$SM" postfix a.test)"
check "m5 running" alive "$(alive m5)"
kill9 m5
mkdir -p "$T/dirdb/state.db"
state_conf "$T/dirdb.conf" "$T/dirdb"
mtastsd_start m6 "$T/dirdb.conf" "$SM"
wait_log m6 "state database: $T/dirdb/state.db \(state database not writable: opening: Is a directory\): cached policies are kept in memory only"
check "m6 serves" "$A2" "$(pm "$SM" postfix a.test)"
kill9 m6

# ---- 7. locked by another process (an admin's open write transaction): memory-only
mkfifo "$T/lock.fifo"
# (.timeout: the locker waits out our probe below rather than fail its BEGIN)
start_bg locker sh -c "exec sqlite3 -batch -cmd '.timeout 10000' '$DB' <'$T/lock.fifo'"
exec 7>"$T/lock.fifo"
echo 'BEGIN EXCLUSIVE;' >&7
held=no
for i in $(seq 1 100); do # until the lock is held
	if ! sqlite3 -batch "$DB" 'BEGIN IMMEDIATE; ROLLBACK;' >/dev/null 2>&1; then
		held=yes
		break
	fi
	sleep 0.1
done
check "another process holds the write lock" yes "$held"
mtastsd_start m7 "$T/m.conf" "$SM"
wait_log m7 "state database: $DB \(state database locked by another process: .*\): cached policies are kept in memory only"
check "m7 serves" "$A2" "$(pm "$SM" postfix a.test)"
echo 'COMMIT;' >&7
exec 7>&-
kill9 m7

# ---- 8. the default directory is systemd's $STATE_DIRECTORY (lib.sh, mtastsd_start)
resolver_conf "$T/env.conf" "$SM" "$DNS" "$HTTPS"
mtastsd_start m8 "$T/env.conf" "$SM"
check "m8 serves" "$A2" "$(pm "$SM" postfix a.test)"
DBFILE="$T/m8.state/state.db" wait_db "\$STATE_DIRECTORY/state.db is used" \
	"SELECT id FROM sts_policy WHERE domain = 'a.test'" a2
kill9 m8

# ---- 9. started as root, dropping to process.user: the new directory is given to it
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	chmod 711 "$T" # nobody may reach its state directory (and ca.pem) in $T
	state_conf "$T/drop.conf" "$T/dropst"
	sed -i 's|^process = {|process = {\n\tuser = "nobody";|' "$T/drop.conf"
	mtastsd_start m9 "$T/drop.conf" "$SM"
	check "m9 serves" "$A2" "$(pm "$SM" postfix a.test)"
	check "state directory owned by nobody" nobody "$(stat -c %U "$T/dropst")"
	DBFILE="$T/dropst/state.db" wait_db "nobody writes the database" \
		"SELECT id FROM sts_policy WHERE domain = 'a.test'" a2
	check "state.db owned by nobody" nobody "$(stat -c %U "$T/dropst/state.db")"
	check "m9 running" alive "$(alive m9)"
	stop_bg m9
	check "m9: clean shutdown, no sanitizer report" "1 0" \
		"$(grep -c 'shutdown complete' "$T/m9.log") $(grep -c 'Sanitizer' "$T/m9.log" || true)"
else
	say "skip the privilege drop case (not root, or no user nobody)"
fi
finish
