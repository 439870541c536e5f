#!/bin/bash
# tests/system/t_socket_activation.sh - the socketmap on sockets systemd passes (issue 16
# part 4, docs/operations.md "Socket activation")
#
# 1. Under a real systemd-socket-activate (Debian's systemd package), which creates a TCP
#    and a unix socket, passes them named "socketmap" (LISTEN_FDS, LISTEN_FDNAMES) and execs
#    mtastsd on the first connection: postmap's first lookup, sent before mtastsd even runs,
#    is answered with the lab's enforce policy over the TCP socket, then over the unix one;
#    a third configured listener with no passed socket is bound by mtastsd itself and
#    answers too. The passed descriptors are non-blocking and close-on-exec in the daemon
#    (/proc/PID/fdinfo), the unix socket keeps the owner and mode systemd-socket-activate
#    gave it (the config's owner is not applied), still answers after a SIGHUP, and is
#    still there after the daemon exits 0 (the service manager's file, never unlinked). Then the publisher (HTTPS and
#    HTTP) and the admin endpoint on sockets named publisher-https, publisher-http and
#    admin: curl's first request starts it and gets the policy, the HTTP listener
#    redirects to HTTPS and the admin endpoint answers /status.
# 2. Refusals, each an exit status 1 with the reason logged (one line, no vaguer second
#    "cannot start" line): a passed socket on an address no listener has, a socket on the
#    socketmap's address named for another role, and a passed socket holding the
#    socketmap's port on another address (127.0.0.1 against a configured 0.0.0.0; and,
#    as root in a network namespace, systemd's `-l PORT`, [::]:PORT, against 127.0.0.1):
#    the message names both addresses and the ListenStream= to write.
# 3. Across a restart: systemd-socket-activate hands its sockets over at exec and keeps
#    none, so a python3 stand-in for systemd's .socket unit holds the listening socket and
#    starts mtastsd with it (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES as systemd sets them).
#    While mtastsd is stopped, clients connect and send their lookups; a new mtastsd answers
#    every one of them (none refused, none lost). Real systemd as PID 1 is not available in
#    the tests (docs/operations.md).
# 4. Without socket activation, started as root (no system call filter), a unix listener
#    with owner, group and mode gets them, answers postmap, and is removed at exit.
# No check depends on speed: every wait is a liveness bound (LIVE_S).
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns postmap systemd-socket-activate curl
unset LISTEN_FDS LISTEN_PID LISTEN_FDNAMES

lab_ports
SM2=$(free_port tcp)
OTHER=$(free_port tcp)
lab_enforce 1 enforce.test
ENF='secure match=mail.enforce.test servername=hostname'

# act_conf FILE LISTEN-LIST: the lab config with resolver.listen = ( LISTEN-LIST ).
act_conf() {
	resolver_conf "$1" "$SM" "$DNS" "$HTTPS"
	sed -i "s|^\tlisten = \[ .* \];|\tlisten = ( $2 );|" "$1"
	# its own state database: systemd-socket-activate does not pass STATE_DIRECTORY on
	sed -i "s|^\tallow_root = true;|&\n\tstate_directory = \"$1.state\";|" "$1"
	grep -qF "state_directory = \"$1.state\";" "$1" || die "could not set state_directory in $1"
	grep -qF "listen = ( $2 );" "$1" || die "could not set resolver.listen in $1"
}
# pmu SOCKET MAP KEY: as pm, over a unix socket.
pmu() {
	local rc=0 out
	out=$(timeout "$LIVE_S" postmap -q "$3" "socketmap:unix:$1:$2" 2>"$T/pm.err") || rc=$?
	printf 'rc=%s out=[%s] err=[%s]' "$rc" "$out" "$(cat "$T/pm.err")"
}
# octal_has FLAGS BITS: yes when every octal BIT is set in the octal FLAGS.
octal_has() {
	if [ $((8#$1 & 8#$2)) -eq $((8#$2)) ]; then echo yes; else echo "no ($1)"; fi
}
# wait_exit PID: wait for PID (a child of this shell, not of a $(...) subshell) to exit;
# its exit status in RC.
wait_exit() {
	RC=0
	wait "$1" || RC=$?
}
# sa NAME ARGS...: start_bg NAME systemd-socket-activate ARGS..., passing on the variables
# a sanitizer build needs (systemd-socket-activate gives its child only LISTEN_* and -E).
sa() {
	local name=$1 v env=()
	shift
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		[ -z "${!v:-}" ] || env+=(-E "$v")
	done
	start_bg "$name" systemd-socket-activate "${env[@]}" "$@"
}

# ---- 1. systemd-socket-activate: TCP and unix, named "socketmap"
SOCK=$T/sm.sock
act_conf "$T/act.conf" "\"127.0.0.1:$SM\", \"127.0.0.1:$SM2\", { path = \"$SOCK\"; owner = \"nobody\"; }"
sa act -l "127.0.0.1:$SM" \
	-l "$SOCK" --fdname=socketmap:socketmap "$MTASTSD" -f -c "$T/act.conf"
PID=$(cat "$T/act.pid")
wait_log act "Listening on $SOCK as 4" || die "systemd-socket-activate did not listen"
sock_before=$(stat -c '%U %a' "$SOCK")
check "before the first connection, mtastsd is not running yet" systemd-socket- \
	"$(cut -c1-15 "/proc/$PID/comm")"
check "first lookup over the passed TCP socket: enforce policy" "$(pm_ok "$ENF")" \
	"$(pm "$SM" postfix enforce.test)"
check "systemd-socket-activate exec'd mtastsd on that connection" mtastsd "$(cat "/proc/$PID/comm")"
check "lookup over the passed unix socket" "$(pm_ok "$ENF")" "$(pmu "$SOCK" postfix enforce.test)"
check "lookup over the listener mtastsd bound itself" "$(pm_ok "$ENF")" \
	"$(pm "$SM2" postfix enforce.test)"
log=$(cat "$T/act.log")
check_match "two sockets taken from the service manager" \
	'socket activation: 2 listening sockets from the service manager' "$log"
check_match "TCP listener from the service manager" \
	"socketmap: listening on 127.0.0.1:$SM \(socket from the service manager\)" "$log"
check_match "unix listener from the service manager" \
	"socketmap: listening on unix:$SOCK \(socket from the service manager\)" "$log"
check_match "the third listener bound by mtastsd" "socketmap: listening on 127.0.0.1:$SM2$" "$log"
for fd in 3 4; do
	flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$PID/fdinfo/$fd")
	check "passed fd $fd: O_NONBLOCK and O_CLOEXEC in the daemon" yes "$(octal_has "$flags" 2004000)"
done
check "unix socket: owner and mode as the service manager made them (config's not applied)" \
	"$sock_before" "$(stat -c '%U %a' "$SOCK")"
kill -HUP "$PID"
wait_log act 'configuration reloaded' || true
check "SIGHUP: the passed unix socket still answers" "$(pm_ok "$ENF")" \
	"$(pmu "$SOCK" postfix enforce.test)"
kill "$PID"
wait_exit "$PID"
check "SIGTERM: exit status 0" 0 "$RC"
check "the service manager's unix socket is left in place" yes \
	"$([ -S "$SOCK" ] && echo yes || echo no)"

# ---- 1b. the publisher and the admin endpoint on passed sockets
PH=$(free_port tcp)
PP=$(free_port tcp)
PA=$(free_port tcp)
make_cert pub mta-sts.pub.test
cat >"$T/pub.conf" <<EOC
process = { allow_root = true; verbosity = 2; shutdown_timeout = "1s"; state_directory = ""; };
resolver = { enabled = false; };
admin = { listen = "127.0.0.1:$PA"; };
publisher = {
	listen = [ "127.0.0.1:$PH" ];
	http_listen = [ "127.0.0.1:$PP" ];
	domains = ( { domain = "pub.test"; mode = "enforce"; max_age = 604800; mx = [ "mail.pub.test" ];
		cert = "$T/pub.fullchain.pem"; key = "$T/pub.key"; } );
};
EOC
sa pub -l "127.0.0.1:$PH" -l "127.0.0.1:$PP" -l "127.0.0.1:$PA" \
	--fdname=publisher-https:publisher-http:admin "$MTASTSD" -f -c "$T/pub.conf"
wait_log pub "Listening on 127.0.0.1:$PA as 5" || die "systemd-socket-activate did not listen"
PID=$(cat "$T/pub.pid")
body=$(curl -sS --max-time "$LIVE_S" --cacert "$T/ca.pem" --resolve "mta-sts.pub.test:$PH:127.0.0.1" \
	"https://mta-sts.pub.test:$PH/.well-known/mta-sts.txt" 2>"$T/curl.err" | tr -d '\r' | tr '\n' ' ' || true)
check "publisher: first HTTPS request over the passed socket gets the policy" \
	"version: STSv1 mode: enforce mx: mail.pub.test max_age: 604800 " "$body"
check "publisher: systemd-socket-activate exec'd mtastsd" mtastsd "$(cat "/proc/$PID/comm")"
check "publisher: the HTTP listener redirects to HTTPS" \
	"301 https://mta-sts.pub.test/.well-known/mta-sts.txt" \
	"$(curl -sS --max-time "$LIVE_S" -o /dev/null -w '%{http_code} %{redirect_url}' \
		"http://127.0.0.1:$PP/.well-known/mta-sts.txt" -H 'Host: mta-sts.pub.test' 2>&1 || true)"
check "admin endpoint on its passed socket" 200 \
	"$(curl -sS --max-time "$LIVE_S" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/status" || true)"
log=$(cat "$T/pub.log")
check_match "three sockets taken" 'socket activation: 3 listening sockets from the service manager' "$log"
check_match "https listener from the service manager" \
	"publisher: listening on 127.0.0.1:$PH \(https, socket from the service manager\)" "$log"
check_match "http listener from the service manager" \
	"publisher: listening on 127.0.0.1:$PP \(http, socket from the service manager\)" "$log"
check_match "admin listener from the service manager" \
	"admin: listening on 127.0.0.1:$PA \(socket from the service manager\)" "$log"
kill "$PID"
wait_exit "$PID"
check "publisher: SIGTERM: exit status 0" 0 "$RC"

# ---- 2. refusals: a passed socket no listener takes; another role's name
act_conf "$T/one.conf" "\"127.0.0.1:$SM\""
sa extra -l "127.0.0.1:$SM" \
	-l "127.0.0.1:$OTHER" --fdname=socketmap:socketmap "$MTASTSD" -f -c "$T/one.conf"
wait_log extra "Listening on 127.0.0.1:$OTHER as 4" || die "systemd-socket-activate did not listen"
tcp_open "$SM" 127.0.0.1 || true # the connection that starts it
PID=$(cat "$T/extra.pid")
wait_exit "$PID"
check "a passed socket on an address not configured: exit status 1" 1 "$RC"
check_match "... logged with the address and the key" \
	"socket activation: the socket 'socketmap' passed by the service manager listens on 127.0.0.1:$OTHER, which is not in resolver.listen" \
	"$(cat "$T/extra.log")"

sa role -l "127.0.0.1:$SM" \
	--fdname=admin "$MTASTSD" -f -c "$T/one.conf"
wait_log role "Listening on 127.0.0.1:$SM as 3" || die "systemd-socket-activate did not listen"
tcp_open "$SM" 127.0.0.1 || true
PID=$(cat "$T/role.pid")
wait_exit "$PID"
check "the socketmap's address passed as 'admin': exit status 1" 1 "$RC"
check_match "... logged, naming both roles" \
	"socketmap: cannot listen on 127.0.0.1:$SM: the socket the service manager passed there is named 'admin' \(FileDescriptorName=\), not 'socketmap'" \
	"$(cat "$T/role.log")"
check "... and no second, vaguer error after it" 0 "$(grep -c 'cannot start' "$T/role.log" || true)"

# The socket unit and resolver.listen name the port with different addresses: the bind
# fails (EADDRINUSE: the passed socket holds the port), and the message says what was
# passed and what the config asks, not just "Address already in use". Here the passed
# socket is 127.0.0.1 and the config's the wildcard (whose bind fails: nothing is exposed).
act_conf "$T/any.conf" "\"0.0.0.0:$SM\""
sa inuse -l "127.0.0.1:$SM" --fdname=socketmap "$MTASTSD" -f -c "$T/any.conf"
wait_log inuse "Listening on 127.0.0.1:$SM as 3" || die "systemd-socket-activate did not listen"
tcp_open "$SM" 127.0.0.1 || true
PID=$(cat "$T/inuse.pid")
wait_exit "$PID"
check "the socketmap's port passed on another address: exit status 1" 1 "$RC"
check_match "... logged with what was passed, what the config asks and the fix" \
	"socketmap: cannot listen on 0\.0\.0\.0:$SM: Address already in use: the service manager passed 127\.0\.0\.1:$SM \(FileDescriptorName=socketmap\), which holds that port, but resolver\.listen is 0\.0\.0\.0:$SM: write the same address in both \(ListenStream=0\.0\.0\.0:$SM in the socket unit" \
	"$(cat "$T/inuse.log")"
check "... and no second, vaguer error after it" 0 "$(grep -c 'cannot start' "$T/inuse.log" || true)"
# The case met in practice: `ListenStream=8461` (systemd-socket-activate -l PORT) is
# [::]:PORT, dual-stack, and holds 127.0.0.1:PORT. A wildcard socket: in a network
# namespace of its own (root), so that it listens on loopback only.
if have_root "a [::] socket against 127.0.0.1 (ip netns)"; then
	netns_setup "mtastsd-sa-$$"
	start_bg wild netns_exec systemd-socket-activate -l "$SM" --fdname=socketmap \
		"$MTASTSD" -f -c "$T/one.conf"
	wait_log wild "Listening on .*:$SM as 3" || die "systemd-socket-activate did not listen"
	netns_exec bash -c "exec 3<>/dev/tcp/127.0.0.1/$SM" 2>/dev/null || true
	PID=$(cat "$T/wild.pid")
	wait_exit "$PID"
	check "netns: [::]:$SM passed, resolver.listen 127.0.0.1:$SM: exit status 1" 1 "$RC"
	check_match "... logged with what was passed, what the config asks and the fix" \
		"socketmap: cannot listen on 127\.0\.0\.1:$SM: Address already in use: the service manager passed (\[::\]|0\.0\.0\.0):$SM \(FileDescriptorName=socketmap\), which holds that port, but resolver\.listen is 127\.0\.0\.1:$SM: write the same address in both \(ListenStream=127\.0\.0\.1:$SM in the socket unit" \
		"$(cat "$T/wild.log")"
	check "... and no second, vaguer error after it" 0 \
		"$(grep -c 'cannot start' "$T/wild.log" || true)"
fi

# ---- 3. across a restart: the stand-in for systemd's .socket unit keeps the socket
cat >"$T/holder.py" <<'PY'
# holder.py PORT LIVE CONF MTASTSD LOGDIR: hold a listening socket as systemd holds a
# .socket unit's, run mtastsd on it twice, and connect clients while it is stopped.
import os, socket, subprocess, sys, time
port, live = int(sys.argv[1]), int(sys.argv[2])
conf, mtastsd, logdir = sys.argv[3:6]
NCLIENTS = 5
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(128)
fd = srv.fileno()

def start(n):
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="socketmap")
    # LISTEN_PID is the daemon's own pid: bash exports its $$ and execs it in place, with
    # the socket moved to descriptor 3 (SD_LISTEN_FDS_START).
    return subprocess.Popen(
        ["bash", "-c", 'export LISTEN_PID=$$; exec "$@" 3<&%d' % fd, "bash",
         mtastsd, "-f", "-c", conf],
        env=env, pass_fds=(fd,), stdout=open("%s/held%d.log" % (logdir, n), "w"),
        stderr=subprocess.STDOUT)

def ns(s):
    b = s.encode()
    return b"%d:%s," % (len(b), b)

def ask(sock):
    buf = b""
    while True:
        c = buf.find(b":")
        if c > 0 and len(buf) >= c + 2 + int(buf[:c]):
            return buf[c + 1:c + 1 + int(buf[:c])].decode()
        d = sock.recv(65536)
        if not d:
            return "EOF"
        buf += d

def lookup():
    s = socket.create_connection(("127.0.0.1", port), timeout=live)
    s.sendall(ns("postfix enforce.test"))
    r = ask(s)
    s.close()
    return r

out = {}
p = start(1)
out["first"] = lookup()
p.terminate()
out["first_exit"] = p.wait(live)
# mtastsd is gone; the socket is not: these connect and send now, and wait.
clients, refused = [], 0
for i in range(NCLIENTS):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=live)
        s.sendall(ns("postfix enforce.test"))
        clients.append(s)
    except OSError:
        refused += 1
out["down_running"] = "no" if p.poll() is not None else "yes"
out["down_refused"] = refused
p = start(2)
replies = [ask(s) for s in clients]
out["down_answered"] = sum(1 for r in replies if r.startswith("OK "))
out["down_replies"] = "|".join(sorted(set(replies)))
out["second"] = lookup()
p.terminate()
out["second_exit"] = p.wait(live)
for k, v in out.items():
    print("%s=%s" % (k, v))
PY
act_conf "$T/held.conf" "\"127.0.0.1:$SM\""
timeout $((4 * LIVE_S)) python3 "$T/holder.py" "$SM" "$LIVE_S" \
	"$T/held.conf" "$MTASTSD" "$T" >"$T/holder.txt" 2>"$T/holder.log" || true
say "$(cat "$T/holder.txt")"
v() { sed -n "s/^$1=//p" "$T/holder.txt"; }
check "held socket: first mtastsd answers" "OK $ENF" "$(v first)"
check "held socket: first mtastsd exits 0" 0 "$(v first_exit)"
check "held socket: no mtastsd runs while the clients connect" no "$(v down_running)"
check "held socket: no connection refused while mtastsd is down" 0 "$(v down_refused)"
check "held socket: the restarted mtastsd answers every lookup sent while it was down" \
	"5 OK $ENF" "$(v down_answered) $(v down_replies)"
check "held socket: and new ones" "OK $ENF" "$(v second)"
check "held socket: second mtastsd exits 0" 0 "$(v second_exit)"
check_match "held socket: the second mtastsd took it from the service manager" \
	"socketmap: listening on 127.0.0.1:$SM \(socket from the service manager\)" \
	"$(cat "$T/held2.log" 2>/dev/null)"

# ---- 4. no activation, as root: a unix listener with owner, group and mode
if have_root "unix listener with owner and group (chown)"; then
	OWN=$T/own.sock
	grp=$(id -gn nobody)
	act_conf "$T/own.conf" \
		"\"127.0.0.1:$SM\", { path = \"$OWN\"; mode = \"0660\"; owner = \"nobody\"; group = \"$grp\"; }"
	mtastsd_start own "$T/own.conf" "$SM"
	check "unix listener: owner, group and mode set" "nobody $grp 660" "$(stat -c '%U %G %a' "$OWN")"
	check "unix listener: postmap lookup" "$(pm_ok "$ENF")" "$(pmu "$OWN" postfix enforce.test)"
	check_match "unix listener: bound by mtastsd, no socket activation" \
		"socketmap: listening on unix:$OWN$" "$(cat "$T/own.log")"
	stop_bg own
	check "unix listener: removed at exit" no "$([ -e "$OWN" ] && echo yes || echo no)"
fi

finish
