#!/bin/bash
# t_publisher_stop.sh - SIGTERM while the publisher's listeners are full (docs/operations.md
# "Shutdown"): the daemon must stop on its own, not when the held connections time out.
# A publisher on an HTTPS and an HTTP listener (127.0.0.1), max_connections 40 (20 each)
# and 8 per client address, a connection_timeout (LIVE_S * 3) far longer than the wait
# below, and an admin endpoint for the open-connection gauge. tests/system/hostile/fdhold.py
# from 127.0.0.2 opens 15 connections to each listener: the daemon keeps 8 per listener and
# closes the other 7 at once (the per-address limit reached); then 127.0.0.3..6 do the same
# until both listeners hold their share (the total limit reached: libmicrohttpd takes the
# listening socket out of its epoll set, the rest wait in the backlog). Then SIGTERM.
# Before the fix (common/httpd.c, MHD_USE_ITC) MHD_stop_daemon() could not wake a full
# listener's thread, which slept until the next connection timeout: about a minute here
# with 30 s timeouts, and systemd's TimeoutStopSec (etc/mtastsd.service, 20 s) ends in
# SIGKILL. The check: the daemon exits by itself within TimeoutStopSec, with status 0 and
# "shutdown complete" logged. That wait is the unit's own hard limit, a liveness bound: a
# correct build takes 1-2 s (the resolver's 1 s shutdown_timeout is not in play, it is
# off), over ten times less, and the broken one would wait for connection_timeout (180 s).
. "$(dirname "$0")/lib.sh"

need_cmd python3 curl certtool
HOLD="python3 $SRC_DIR/tests/system/hostile/fdhold.py"
NHOLD=5  # client addresses, 127.0.0.2 ..
PER_T=15 # connections per address and listener
STOP_S=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$SRC_DIR/etc/mtastsd.service")
check_match "the unit sets TimeoutStopSec in seconds ($STOP_S)" '^[0-9]+$' "$STOP_S"
tcp_from() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); s.close()' "$1"; }
tcp_from 127.0.0.6 2>/dev/null || unavailable "cannot bind 127.0.0.6"

P=$(free_port tcp)
P80=$(free_port tcp)
ADM=$(free_port tcp)
make_ca
make_cert pub mta-sts.pub.test
cat >"$T/pub.conf" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s"; };
resolver = { enabled = false; };
admin = { listen = "127.0.0.1:$ADM"; };
publisher = {
	listen = [ "127.0.0.1:$P" ];
	http_listen = [ "127.0.0.1:$P80" ];
	max_connections = 40;
	max_connections_per_address = 8;
	connection_timeout = "$((LIVE_S * 3))s";
	domains = (
		{ domain = "pub.test"; mode = "enforce"; max_age = 604800; mx = [ "mail.pub.test" ];
		  cert = "$T/pub.fullchain.pem"; key = "$T/pub.key"; }
	);
};
EOC
start_bg pub "$MTASTSD" -f -c "$T/pub.conf"
PID=$(cat "$T/pub.pid")
wait_tcp "$ADM"
wait_log pub 'publisher: at most [0-9]+ connections per listener' || true
# the limits in use (the descriptor budget may lower them): "at most 20 connections per
# listener (40 for all 2), 8 per client address on each"
LIMITS=$(grep -Eo 'at most [0-9]+ connections per listener \([0-9]+ for all [0-9]+\), [0-9]+ per' \
	"$T/pub.log" | tail -n1)
SHARE=$(sed -n 's/at most \([0-9]*\) .*/\1/p' <<<"$LIMITS")
TOTAL=$(sed -n 's/.*(\([0-9]*\) for all.*/\1/p' <<<"$LIMITS")
PER=$(sed -n 's/.*), \([0-9]*\) per$/\1/p' <<<"$LIMITS")
say "     limits: $LIMITS"
check_match "the limits are logged" '^[0-9]+ [0-9]+ [0-9]+$' "$SHARE $TOTAL $PER"
check "per-address limit below what one address sends ($PER_T)" yes \
	"$([ "${PER:-99}" -lt "$PER_T" ] && echo yes || echo "no: $PER")"
check "the addresses together can fill every listener" yes \
	"$([ $((NHOLD * PER)) -ge "${SHARE:-999}" ] && echo yes || echo no)"

gauge() {
	curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$ADM/metrics" 2>/dev/null |
		awk '$1 == "mtastsd_publisher_connections" { print $2 }'
}
# field NAME KEY: KEY of the last state line of holder NAME
field() { grep -s '^state ' "$T/$1.hold" | tail -n1 | sed -n "s/.* $2=\([0-9,]*\).*/\1/p"; }
# The holders' stdin: a FIFO nobody writes to (fdhold.py stops on EOF or "quit").
mkfifo "$T/ctl"
exec 7<>"$T/ctl"
# hold I: NHOLD holders, 127.0.0.(I+1), PER_T connections to each listener, held (at most
# LIVE_S * 3; stopped by the trap or below)
hold() {
	local name=h$1
	$HOLD "127.0.0.$(($1 + 1))" $((2 * PER_T)) $((LIVE_S * 3)) "127.0.0.1:$P" "127.0.0.1:$P80" \
		<"$T/ctl" >"$T/$name.hold" 2>&1 &
	echo $! >>"$T/pids"
	echo $! >"$T/$name.pid"
}
# settled NAME: its connects are all answered, and those the daemon closed at once are in
settled() { [ "$(field "$1" pending)" = 0 ] && [ "$(field "$1" closed)" = "$2" ]; }

# 1. one address: the per-address limit
hold 1
wait_for "$LIVE_S" settled h1 $((2 * (PER_T - PER))) || true
check "127.0.0.2: the daemon closed all over $PER per listener at once" \
	"$((2 * (PER_T - PER)))" "$(field h1 closed)"
check "127.0.0.2: it holds $PER on each listener" "$PER,$PER" "$(field h1 per)"
check "the publisher holds $((2 * PER)) connections" $((2 * PER)) "$(gauge)"

# 2. four more addresses: every listener at its share
for i in $(seq 2 $NHOLD); do hold "$i"; done
full() { [ "$(gauge)" = "$TOTAL" ]; }
wait_for "$LIVE_S" full || true
check "the publisher holds its total, $TOTAL connections (every listener full)" "$TOTAL" \
	"$(gauge)"
none_pending() { [ "$(field "$1" pending)" = 0 ]; }
pending=0
for i in $(seq 1 $NHOLD); do
	wait_for "$LIVE_S" none_pending "h$i" || true
	pending=$((pending + $(field "h$i" pending)))
done
check "every connect answered (the rest wait in the listeners' backlog)" 0 "$pending"
check "mtastsd alive" alive "$(alive pub)"

# 3. SIGTERM: the daemon ends by itself within the unit's TimeoutStopSec
T0=$SECONDS
kill -TERM "$PID"
wait_for "$STOP_S" pid_gone "$PID" || true
took=$((SECONDS - T0))
say "     exit after SIGTERM: about $took s"
check "mtastsd exits by itself within TimeoutStopSec ($STOP_S s) of SIGTERM" gone \
	"$(pid_gone "$PID" && echo gone || echo "still running after $STOP_S s")"
if pid_gone "$PID"; then
	rc=0
	wait "$PID" || rc=$?
	check "exit status 0" 0 "$rc"
fi
check "shutdown complete logged" 1 "$(grep -c 'shutdown complete' "$T/pub.log" || true)"
check "no sanitizer report" 0 "$(grep -c 'Sanitizer' "$T/pub.log" || true)"
for i in $(seq 1 $NHOLD); do kill "$(cat "$T/h$i.pid")" 2>/dev/null || true; done
finish
