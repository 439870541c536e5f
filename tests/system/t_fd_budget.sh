#!/bin/bash
# t_fd_budget.sh - issue 16 "File descriptors": one address holding 5000 connections to the
# publisher's 443 and 80 listeners must not take the descriptors the resolver needs.
# mtastsd runs as systemd starts it from etc/mtastsd.service: soft RLIMIT_NOFILE 1024, the
# hard limit the unit's LimitNOFILE= (the daemon raises its soft limit itself; nothing here
# raises the daemon's), with the resolver, the admin endpoint and a publisher on four
# listeners (127.0.0.1 and ::1, HTTPS and HTTP). Then the worst case: hard limit 1024 too.
# In each: the "fd budget" line is logged and its parts fit the limit; a client from
# 127.0.0.2 (tests/system/hostile/fdhold.py, its own limit raised) opens 5000 TCP
# connections to the two IPv4 listeners and holds them; the daemon keeps at most
# max_connections_per_address of them per listener (the rest closed at once), and
# meanwhile postmap gets the right answers from the socketmap (a cached domain, 20 times,
# and a domain never looked up before, through DNS and a fetch), a sender from 127.0.0.3
# gets the policy from the publisher, the daemon never meets EMFILE and holds fewer
# descriptors than its limit; the MX check's sockets and the TLSRPT receiver's database
# connections are counted in the reserve. Last, a limit of 48: a clear startup error. Waits are
# liveness bounds (LIVE_S), never speed checks.
. "$(dirname "$0")/lib.sh"

need_cmd python3 prlimit certtool ldns-testns postmap curl
HOLD="python3 $SRC_DIR/tests/system/hostile/fdhold.py"
NCONN=5000
unit_nofile
check_match "the unit sets LimitNOFILE (hard $UNIT_HARD)" '^[0-9]+$' "$UNIT_HARD"
# 127.0.0.2 and 127.0.0.3 are loopback addresses on Linux without configuration.
tcp_from() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); s.close()' "$1"; }
tcp_from 127.0.0.2 2>/dev/null || unavailable "cannot bind 127.0.0.2"

lab_ports
PUB=$(free_port tcp)
PUB80=$(free_port tcp)
ADM=$(free_port tcp)
lab_enforce 1 cached.test new1.test new2.test
make_cert pub mta-sts.pub.test

# conf FILE: resolver + admin + publisher on four listeners (v6 skipped when unavailable)
conf() {
	RES_VERBOSITY=1 resolver_conf "$1" "$SM" "$DNS" "$HTTPS"
	sed -i '/^admin = /d' "$1"
	cat >>"$1" <<EOC
admin = { listen = "127.0.0.1:$ADM"; };
publisher = {
	listen = [ "127.0.0.1:$PUB", "[::1]:$PUB" ];
	http_listen = [ "127.0.0.1:$PUB80", "[::1]:$PUB80" ];
	connection_timeout = "$((LIVE_S * 3))s";
	domains = (
		{ domain = "pub.test"; mode = "enforce"; max_age = 604800; mx = [ "mail.pub.test" ];
		  cert = "$T/pub.fullchain.pem"; key = "$T/pub.key"; }
	);
};
EOC
}
conf "$T/mtastsd.conf"

CR=$'\r'
POLICY="version: STSv1${CR}
mode: enforce${CR}
mx: mail.pub.test${CR}
max_age: 604800${CR}"
# pubfetch SRC: the policy of pub.test over HTTPS from address SRC: "<body> <status>"
pubfetch() {
	curl -sS --max-time "$LIVE_S" --interface "$1" --cacert "$T/ca.pem" \
		--resolve "mta-sts.pub.test:$PUB:127.0.0.1" -w ' %{http_code}' \
		"https://mta-sts.pub.test:$PUB/.well-known/mta-sts.txt" 2>>"$T/curl.err" || true
}
metric() {
	curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$ADM/metrics" 2>/dev/null |
		awk -v m="$1" '$1 == m { print $2 }'
}
enf() { pm_ok "secure match=mail.$1 servername=hostname"; }
# budget KEY: a number from the daemon's "fd budget:" line ("publisher 4096", "per address 64")
budget() { sed -n "s/.*fd budget: .*$1 \([0-9]*\).*/\1/p" "$T/$NAME.log" | tail -n1; }
fds() { find "/proc/$1/fd" -mindepth 1 2>/dev/null | wc -l; }
last_state() { grep '^state ' "$T/$NAME.hold" | tail -n1; }
field() { last_state | sed -n "s/.* $1=\([0-9,]*\).*/\1/p"; }

# scenario NAME SOFT HARD NEWDOMAIN
scenario() {
	local soft=$2 hard=$3 new=$4 pid limit pubmax per sm reserve out i ok held lim2 maxfd
	NAME=$1
	STATE_DIRECTORY="$T/$NAME.state" start_bg "$NAME" prlimit --nofile="$soft:$hard" \
		"$MTASTSD" -f -c "$T/mtastsd.conf"
	wait_tcp "$SM"
	wait_tcp "$PUB"
	wait_tcp "$ADM"
	pid=$(cat "$T/$NAME.pid")
	check "$NAME: the daemon raised its soft limit to the hard one" "$hard" \
		"$(awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")"
	grep 'fd budget:' "$T/$NAME.log" >&2 || true
	limit=$(budget limit)
	pubmax=$(budget publisher)
	per=$(budget 'per address')
	sm=$(budget socketmap)
	out=$(budget 'fetch+DNS')
	reserve=$(budget reserve)
	check "$NAME: the budget names the limit" "$hard" "$limit"
	# the MX check (mx_check_concurrency 4 x MX_PROBE_HOSTS_MAX 16 hosts x 3 sockets) and
	# the TLSRPT receiver's state database (max_uploads 8 x 3 files) are in the reserve
	check "$NAME: the MX check's sockets are in the reserve" 192 "$(budget 'MX check')"
	check "$NAME: the TLSRPT receiver's database files are in the reserve" 24 \
		"$(budget 'TLSRPT store')"
	check_match "$NAME: the budget has every part" '^[0-9]+ [0-9]+ [0-9]+ [0-9]+ [0-9]+$' \
		"$pubmax $per $sm $out $reserve"
	check "$NAME: the parts and the reserve fit the limit" yes \
		"$([ $((pubmax + 32 + sm + out + reserve)) -le "$hard" ] && echo yes || echo "no: $pubmax+admin+$sm+$out+$reserve > $hard")"
	check "$NAME: cached.test before" "$(enf cached.test)" "$(pm "$SM" postfix cached.test)"
	check "$NAME: a fetch from 127.0.0.3 before" "$POLICY
 200" "$(pubfetch 127.0.0.3)"

	# The attack: NCONN connections from one address to the IPv4 HTTPS and HTTP listeners.
	mkfifo "$T/$NAME.ctl"
	exec 7<>"$T/$NAME.ctl"
	prlimit --nofile=$((NCONN + 64)):$((NCONN + 64)) $HOLD 127.0.0.2 "$NCONN" $((LIVE_S * 3)) \
		"127.0.0.1:$PUB" "127.0.0.1:$PUB80" <"$T/$NAME.ctl" >"$T/$NAME.hold" 2>&1 &
	local holdpid=$!
	echo "$holdpid" >>"$T/pids"
	# settled: every connect answered, and the daemon kept no more than its per-address
	# limit on each listener (a daemon without the limit keeps thousands: this waits
	# LIVE_S and the check below fails)
	settled() {
		local o p
		o=$(field open)
		p=$(field pending)
		[ -n "$o" ] && [ "$p" = 0 ] && [ "$o" -le $((2 * per)) ]
	}
	wait_for "$LIVE_S" settled || true
	say "     $NAME: attacker: $(last_state)"
	held=$(field open)
	check "$NAME: every connection attempt answered (none pending)" 0 "$(field pending)"
	check "$NAME: the daemon holds at most $per per listener from 127.0.0.2" yes \
		"$([ -n "$held" ] && [ "$held" -le $((2 * per)) ] && echo yes || echo "no: $held open (per listener $(field per))")"
	check "$NAME: the daemon did take connections from 127.0.0.2" yes \
		"$([ "${held:-0}" -ge 2 ] && echo yes || echo "no: $held")"
	check "$NAME: the others were closed by the daemon" $((NCONN - held)) \
		"$(($(field closed) + $(field failed)))"
	lim2=$(metric mtastsd_publisher_connections)
	check "$NAME: the publisher's open connections (metrics) within 2 x per address" yes \
		"$([ -n "$lim2" ] && [ "$lim2" -le $((2 * per)) ] && echo yes || echo "no: $lim2")"

	# Meanwhile: the socketmap, a new domain, another sender.
	ok=0
	for i in $(seq 1 20); do
		[ "$(pm "$SM" postfix cached.test)" = "$(enf cached.test)" ] && ok=$((ok + 1))
	done
	check "$NAME: under attack: 20 lookups of cached.test answered right" 20 "$ok"
	check "$NAME: under attack: a new domain resolves ($new)" "$(enf "$new")" \
		"$(pm "$SM" postfix "$new")"
	check "$NAME: under attack: a fetch from 127.0.0.3 gets the policy" "$POLICY
 200" "$(pubfetch 127.0.0.3)"
	maxfd=$(fds "$pid")
	say "     $NAME: daemon descriptors under attack: $maxfd (limit $hard)"
	check "$NAME: under attack: the daemon holds fewer descriptors than its limit" yes \
		"$([ "$maxfd" -lt "$hard" ] && echo yes || echo "no: $maxfd")"
	check "$NAME: still holding the connections" "$held" "$(field open)"
	echo quit >&7
	wait_for "$LIVE_S" grep -q '^done' "$T/$NAME.hold" || true
	wait "$holdpid" || true
	exec 7>&-
	check "$NAME: no EMFILE" 0 "$(grep -c 'Too many open files' "$T/$NAME.log" || true)"
	check "$NAME: a fetch from 127.0.0.2 once it let go" "$POLICY
 200" "$(pubfetch 127.0.0.2)"
	check "$NAME: mtastsd alive" alive "$(alive "$NAME")"
	stop_bg "$NAME"
	check "$NAME: no sanitizer report" 0 "$(grep -c 'Sanitizer' "$T/$NAME.log" || true)"
	check "$NAME: clean shutdown" 1 "$(grep -c 'shutdown complete' "$T/$NAME.log" || true)"
}

# Setting a hard limit above our own needs CAP_SYS_RESOURCE (containers often lack it).
# The budget grants every part its configured size from 5600 descriptors up (the tight
# scenario's log shows the sizes), so a hard limit of at least 16384 runs the same code
# as the unit's; below that this part cannot run here.
if [ "$NOFILE_HARD" = unlimited ] || [ "$NOFILE_HARD" -ge 16384 ]; then
	[ "$NOFILE_HARD" = unlimited ] && NOFILE_HARD=$UNIT_HARD
	scenario unit "$UNIT_SOFT" "$NOFILE_HARD" new1.test
else
	part_unavailable "the unit's limits ($UNIT_SOFT:$UNIT_HARD): our hard RLIMIT_NOFILE is $NOFILE_HARD and cannot be raised"
fi
# The worst case: the hard limit is 1024 too; the budget shrinks the publisher first.
scenario tight 1024 1024 new2.test
# Absurdly small: a clear startup error, before anything is bound.
rc=0
timeout "$LIVE_S" prlimit --nofile=48:48 "$MTASTSD" -f -c "$T/mtastsd.conf" >"$T/small.log" 2>&1 || rc=$?
check "limit 48: the daemon refuses to start (exit status 1)" 1 "$rc"
check_match "limit 48: ... and says why" \
	'the descriptor limit \(RLIMIT_NOFILE\) is 48: too small to run this configuration .*give it at least [0-9]+' \
	"$(cat "$T/small.log")"
check_match "tight: the clamps are logged" 'publisher.max_connections = 4096 is more than the descriptor budget gives it' \
	"$(cat "$T/tight.log")"
finish
