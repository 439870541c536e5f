#!/usr/bin/env bash
# tests/system/t_cli.sh - the mtastsd command line and the daemon lifecycle without network
#
# -n on the example and on every tests/unit/data/cfg/bad-*.conf (each names the file:line and
# key written in its "# expect:" first line), -n under a small RLIMIT_NOFILE (the start's
# descriptor error or warnings, same text), --help/--version, VERB --help, usage errors
# (exit 2, the verb's usage line on stderr),
# `check` without publisher domains (exit 1), and a daemon with nothing to serve: SIGHUP with a broken and
# a good config, SIGTERM -> exit 0, sd_notify READY/RELOADING/STOPPING on a NOTIFY_SOCKET,
# and, when run as root, the root refusal and the drop to process.user (from /proc).
. "$(dirname "$0")/lib.sh"

need_cmd python3 prlimit

unset JOURNAL_STREAM NOTIFY_SOCKET
CFGDATA="$SRC_DIR/tests/unit/data/cfg"

# run CMD...: sets RC, OUT, ERR.
run() {
	set +e
	"$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# expect_log NAME ERE: wait (LIVE_S) until $T/NAME.log has a line matching ERE, else fail.
expect_log() {
	wait_log "$1" "$2" || die "no /$2/ in $1.log after $LIVE_S s"
}

# wait_exit NAME: wait (at most LIVE_S) for the process started as NAME; sets EXIT_RC.
running() { kill -0 "$1" 2>/dev/null; }
stopped() { ! running "$1"; }
wait_exit() {
	local pid
	pid=$(cat "$T/$1.pid")
	wait_for "$LIVE_S" stopped "$pid" || true
	set +e
	wait "$pid"
	EXIT_RC=$?
	set -e
}

# ---- help, version, usage ----
run "$MTASTSD" --help
check "--help exits 0" 0 "$RC"
check_match "--help prints usage" '^usage: mtastsd \[-c FILE\]' "$OUT"
check_match "--help lists query" 'query DOMAIN \[--json\]' "$OUT"
check "--help lists the verbs (cli/, main_verbs[])" "Commands:
  query DOMAIN [--json]    discover DOMAIN's MTA-STS policy as the resolver would
                           (exit 0 policy, 2 no policy, 3 temporary failure)
  dns-records [--diff | --update]
                           print the DNS records the published domains need
                           (--diff: a primary's records against them; --update: write them)
  check [DOMAIN] [--json]  check published domains from the outside
  migrate WHAT [ARG]...    resolver [FILE]: an mtastsd.conf from postfix-mta-sts-resolver's YAML
                           (default /etc/mta-sts-daemon.yml); publisher DOMAIN POLICYFILE
                           [CERT KEY]: the publisher group serving that policy file
  cert [DOMAIN] [--json]   show certificates: source (file/ACME), issuer, expiry, renewal, error;
                           \`cert renew DOMAIN\` asks the daemon to renew one now
  tlsrpt [DOMAIN | import [FILE|-]] [--json]
                           TLS reports per domain (last 30 days); import: one report
                           (mail, .json, .json.gz; exit 0 stored, 65 bounce, 75 retry)
  rollout [DOMAIN] [--json]
                           each published domain's rollout from the running daemon: mode since
                           when, TLS reports, MX check, and the next step with its reason" \
	"$(printf '%s\n' "$OUT" | sed -n '/^Commands:/,$p')"
run "$MTASTSD" -h
check "-h exits 0" 0 "$RC"
run "$MTASTSD" --version
check "--version exits 0" 0 "$RC"
check_match "--version prints the version" '^mtastsd [0-9]+\.[0-9]+\.[0-9]+$' "$OUT"

run "$MTASTSD" -x
check "unknown option exits 2" 2 "$RC"
check_match "unknown option named" 'unknown option -x' "$ERR"
check_match "unknown option prints usage" 'usage: mtastsd' "$ERR"
run "$MTASTSD" --no-such-option
check "unknown long option exits 2" 2 "$RC"
run "$MTASTSD" -c
check "-c without FILE exits 2" 2 "$RC"
run "$MTASTSD" frobnicate
check "unknown command exits 2" 2 "$RC"
check_match "unknown command named" "unknown command 'frobnicate'" "$ERR"
run "$MTASTSD" -c "$SRC_DIR/etc/mtastsd.conf" query
check "query without DOMAIN exits 2" 2 "$RC"
check "query without DOMAIN: message and the verb's usage" "mtastsd: query: missing DOMAIN
usage: mtastsd [-c FILE] query DOMAIN [--json]" "$ERR"
run "$MTASTSD" -c "$SRC_DIR/etc/mtastsd.conf" dns-records extra
check "dns-records with an argument exits 2" 2 "$RC"
check_match "dns-records: unexpected argument named" "unexpected argument 'extra'" "$ERR"
run "$MTASTSD" -c "$SRC_DIR/etc/mtastsd.conf" dns-records --diff --update
check "dns-records --diff --update exits 2" 2 "$RC"
check_match "dns-records --diff --update: the second named" "unexpected argument '--update'" "$ERR"
run "$MTASTSD" -c "$SRC_DIR/etc/mtastsd.conf" dns-records --json
check "dns-records --json exits 2 (query and check have JSON output)" 2 "$RC"
run "$MTASTSD" dns-records --help
check "dns-records --help names --diff and --update" \
	"usage: mtastsd [-c FILE] dns-records [--diff | --update]" "$(printf '%s\n' "$OUT" | head -n1)"
# dns-records prints the TTL --update writes: the domain's dns_update ttl (120 s here), the
# suggested 3600 for a domain whose records are written by hand
if have_cmd "the dns-records TTL case" certtool; then
	make_ca
	make_cert ex mta-sts.example.test
	make_cert ot mta-sts.other.test
	cat >"$T/ttl.conf" <<EOC
process = { allow_root = true; };
resolver = { enabled = false; };
publisher = {
	dns_update = ( {
		name = "primary"; server = "127.0.0.1:53"; zone = "example.test"; ttl = "120s";
		tsig_name = "mtastsd"; tsig_secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
	} );
	domains = (
		{ domain = "example.test"; mode = "enforce"; max_age = 86400; mx = [ "mx.example.test" ];
		  cert = "$T/ex.fullchain.pem"; key = "$T/ex.key"; dns_update = "primary";
		  tlsrpt_rua = "mailto:tlsrpt@example.test"; },
		{ domain = "other.test"; mode = "testing"; max_age = 86400; mx = [ "mx.other.test" ];
		  cert = "$T/ot.fullchain.pem"; key = "$T/ot.key"; }
	);
};
EOC
	run "$MTASTSD" -c "$T/ttl.conf" dns-records
	check "dns-records: the TTLs --update writes, 3600 without dns_update" \
		"_mta-sts.example.test. 120
_smtp._tls.example.test. 120
_mta-sts.other.test. 3600" "$(printf '%s\n' "$OUT" | awk '/ IN TXT / { print $1, $2 }')"
fi
# A usage error is found before the configuration is read.
run "$MTASTSD" -c "$T/missing.conf" query
check "query without DOMAIN, missing config: usage first" 2 "$RC"
run "$MTASTSD" query --help
check "query --help exits 0" 0 "$RC"
check "query --help prints its usage and help" "usage: mtastsd [-c FILE] query DOMAIN [--json]

discover DOMAIN's MTA-STS policy as the resolver would
(exit 0 policy, 2 no policy, 3 temporary failure)" "$OUT"

# ---- check without publisher.domains (t_check.sh tests the real thing) ----
run "$MTASTSD" -c "$SRC_DIR/etc/mtastsd.conf" check
check "check exits 1" 1 "$RC"
check "check says why" "mtastsd: check: no publisher.domains configured" "$ERR"
check "check prints nothing on stdout" "" "$OUT"
run "$MTASTSD" -c "$SRC_DIR/etc/mtastsd.conf" check example.com
check "check DOMAIN exits 1" 1 "$RC"

# ---- -n ----
run "$MTASTSD" -n -c "$SRC_DIR/etc/mtastsd.conf"
check "-n on etc/mtastsd.conf exits 0" 0 "$RC"
check_match "-n says valid" "configuration .*etc/mtastsd.conf is valid" "$OUT"
check "-n on etc/mtastsd.conf: no stderr" "" "$ERR"
run "$MTASTSD" -n -c "$CFGDATA/good-full.conf"
check "-n on good-full.conf exits 0" 0 "$RC"

run "$MTASTSD" -n -c "$T/missing.conf"
check "-n with a missing -c file exits 1" 1 "$RC"
check_match "-n missing file named" "$T/missing.conf: cannot read: No such file" "$ERR"

nbad=0
for f in "$CFGDATA"/bad-*.conf; do
	exp=$(sed -n '1s/^# expect: //p' "$f")
	[ -n "$exp" ] || die "$f has no '# expect:' first line"
	run "$MTASTSD" -n -c "$f"
	check "-n $(basename "$f") exits 1" 1 "$RC"
	case "$ERR" in
	*"$f:$exp"*) check "-n $(basename "$f") names file:line: key" ok ok ;;
	*) check "-n $(basename "$f") names file:line: key" "$f:$exp" "$ERR" ;;
	esac
	check "-n $(basename "$f") prints nothing on stdout" "" "$OUT"
	nbad=$((nbad + 1))
done
check_match "at least 12 broken configs" '^([2-9][0-9]|1[2-9])$' "$nbad"

# -n makes the start's descriptor check (common/fd_budget.h): the soft RLIMIT_NOFILE raised
# to the hard limit, then the same error (the start fails) or the same warnings (keys
# lowered to their share, after the fd budget line they name) as the start, same text.
FDP=$(free_port tcp)
cat >"$T/fd.conf" <<EOF
process = { allow_root = true; verbosity = 0; state_directory = "$T/fd.state"; };
resolver = { listen = [ "127.0.0.1:$FDP" ]; dns_servers = [ "127.0.0.1@$FDP" ]; };
admin = { enabled = false; };
EOF
# fd_lines FILE: its fd budget line and descriptor findings
fd_lines() { grep -E 'fd budget:|descriptor' "$1" || true; }
run prlimit --nofile=48:48 "$MTASTSD" -n -c "$T/fd.conf"
check "-n, RLIMIT_NOFILE 48: exits 1 (the start would fail)" 1 "$RC"
check "-n, RLIMIT_NOFILE 48: nothing on stdout" "" "$OUT"
rc=0
timeout "$LIVE_S" prlimit --nofile=48:48 "$MTASTSD" -f -c "$T/fd.conf" >"$T/fd48.log" 2>&1 || rc=$?
check "start, RLIMIT_NOFILE 48: exits 1" 1 "$rc"
check_match "-n, RLIMIT_NOFILE 48: the start's error" \
	'^mtastsd: error: the descriptor limit \(RLIMIT_NOFILE\) is 48: too small to run this configuration .*give it at least [0-9]+' \
	"$ERR"
check "-n, RLIMIT_NOFILE 48: the same text as the start" "$(fd_lines "$T/fd48.log")" "$ERR"
run prlimit --nofile=200:200 "$MTASTSD" -n -c "$T/fd.conf"
check "-n, RLIMIT_NOFILE 200: exits 0 (the start lowers keys, runs)" 0 "$RC"
check_match "-n, RLIMIT_NOFILE 200: valid" "configuration $T/fd.conf is valid" "$OUT"
check_match "-n, RLIMIT_NOFILE 200: the keys lowered, as the start logs them" \
	'warning: resolver.max_connections = 1024 is more than the descriptor budget gives it \(RLIMIT_NOFILE 200, see the fd budget line\): using [0-9]+' \
	"$ERR"
STATE_DIRECTORY="$T/fd.state" start_bg fd200 prlimit --nofile=200:200 "$MTASTSD" -f -c "$T/fd.conf"
expect_log fd200 'mtastsd .* started'
stop_bg fd200
check "-n, RLIMIT_NOFILE 200: the same lines as the start" "$(fd_lines "$T/fd200.log")" "$ERR"
run prlimit --nofile=200:16384 "$MTASTSD" -n -c "$T/fd.conf"
check "-n, soft 200, hard 16384: raised as at start, nothing to say" "0 []" "$RC [$ERR]"

# Without -c, the default path (compiled in, shown by --help) is read if it exists, else the
# embedded defaults.
defpath=$("$MTASTSD" --help | sed -n 's/.*(default \([^;]*\);.*/\1/p')
check_match "--help shows the default config path" '^/.*/mtastsd/mtastsd\.conf$' "$defpath"
if [ ! -e "$defpath" ]; then
	run "$MTASTSD" -n
	check "-n without a config file exits 0" 0 "$RC"
	check_match "-n without a file mentions the defaults" 'embedded defaults are valid' "$OUT"
fi

# ---- the daemon with nothing to serve: reload and shutdown ----
cat >"$T/idle.conf" <<EOF
process = { allow_root = true; verbosity = 1; };
resolver = { enabled = false; };
admin = { enabled = false; };
EOF
cp "$T/idle.conf" "$T/run.conf"

python3 - "$T/notify.sock" "$T/notify.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(300)
with open(sys.argv[2], "a", buffering=1) as out:
    try:
        while True:
            msg = s.recv(4096).decode()
            out.write(msg.replace("\n", " ") + "\n")
            if "STOPPING=1" in msg:
                break
    except socket.timeout:
        pass
PY
echo $! >>"$T/pids"
wait_for "$LIVE_S" test -S "$T/notify.sock" || die "the notify listener did not start"

start_bg idle env NOTIFY_SOCKET="$T/notify.sock" "$MTASTSD" -f -c "$T/run.conf"
expect_log idle 'mtastsd .* started'
check "idle daemon runs" alive "$(alive idle)"
wait_for "$LIVE_S" grep -qs 'READY=1' "$T/notify.txt" || true
check_match "sd_notify READY=1 with STATUS" 'READY=1 STATUS=resolver off, publisher off' \
	"$(cat "$T/notify.txt" 2>/dev/null)"

# SIGHUP with a broken file: logged with file:line, old config kept, still running.
cp "$CFGDATA/bad-duration-min.conf" "$T/run.conf"
kill -HUP "$(cat "$T/idle.pid")"
expect_log idle 'reload failed: .*run.conf:3: resolver.dns_timeout: .*keeping the old configuration'
check "broken reload keeps the daemon running" alive "$(alive idle)"
wait_for "$LIVE_S" grep -qs 'RELOADING=1' "$T/notify.txt" || true
check_match "sd_notify RELOADING=1" 'RELOADING=1 .*MONOTONIC_USEC=[0-9]+' "$(cat "$T/notify.txt")"

# SIGHUP with a good file that changes a restart-only key.
sed 's/verbosity = 1/verbosity = 2/' "$T/idle.conf" >"$T/run.conf"
printf 'publisher = { listen = "127.0.0.1:8443"; };\n' >>"$T/run.conf"
kill -HUP "$(cat "$T/idle.pid")"
expect_log idle "configuration reloaded from $T/run.conf"
check_match "restart-only key named" 'publisher.listen changed: requires restart, ignoring' \
	"$(cat "$T/idle.log")"
check "good reload keeps the daemon running" alive "$(alive idle)"

kill -TERM "$(cat "$T/idle.pid")"
wait_exit idle
check "SIGTERM exits 0" 0 "$EXIT_RC"
check_match "shutdown logged" 'shutdown complete' "$(cat "$T/idle.log")"
wait_for "$LIVE_S" grep -qs 'STOPPING=1' "$T/notify.txt" || true
check_match "sd_notify STOPPING=1" 'STOPPING=1' "$(cat "$T/notify.txt")"

# SIGINT too.
cp "$T/idle.conf" "$T/run.conf"
start_bg idle2 "$MTASTSD" -f -c "$T/run.conf"
expect_log idle2 'mtastsd .* started'
kill -INT "$(cat "$T/idle2.pid")"
wait_exit idle2
check "SIGINT exits 0" 0 "$EXIT_RC"

# A startup failure is reported and exits 1 (here: a missing -c file).
run "$MTASTSD" -f -c "$T/missing.conf"
check "daemon with a missing -c file exits 1" 1 "$RC"
check_match "daemon names the missing file" "$T/missing.conf: cannot read" "$ERR"

# ---- root: refusal and privilege drop ----
if have_root "root refusal and privilege drop"; then
	id nobody >/dev/null 2>&1 || die "no user nobody (Debian's base system has one)"
	cat >"$T/root.conf" <<EOF
resolver = { enabled = false; };
admin = { enabled = false; };
EOF
	run "$MTASTSD" -f -c "$T/root.conf"
	check "root without user or allow_root exits 1" 1 "$RC"
	check_match "root refusal explained" 'refusing to run as root: set process.user' "$ERR"

	cat >"$T/drop.conf" <<EOF
process = { user = "nobody"; };
resolver = { enabled = false; };
admin = { enabled = false; };
EOF
	start_bg drop "$MTASTSD" -f -c "$T/drop.conf"
	expect_log drop 'mtastsd .* started'
	uid=$(id -u nobody)
	gid=$(id -g nobody)
	st=$(cat "/proc/$(cat "$T/drop.pid")/status")
	check_match "dropped to nobody (real, effective, saved uid)" \
		"Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid" "$st"
	check_match "dropped to nobody's group" "Gid:[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid" \
		"$st"
	check_match "supplementary groups cleared" '^Groups:[[:space:]]*$' \
		"$(printf '%s\n' "$st" | grep '^Groups:')"
	kill -TERM "$(cat "$T/drop.pid")"
	wait_exit drop
	check "dropped daemon exits 0 on SIGTERM" 0 "$EXIT_RC"

	cat >"$T/baduser.conf" <<EOF
process = { user = "no-such-user-mtastsd"; };
resolver = { enabled = false; };
EOF
	run "$MTASTSD" -f -c "$T/baduser.conf"
	check "unknown process.user exits 1" 1 "$RC"
	check_match "unknown user named" "process.user: unknown user 'no-such-user-mtastsd'" "$ERR"
fi

finish
