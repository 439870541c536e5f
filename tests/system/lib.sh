# tests/system/lib.sh - shared helpers for the system tests (sourced, never run)
#
# Every test: `. "$(dirname "$0")/lib.sh"`. It gets a private temp dir $T, a trap that stops
# only the processes it started (start_bg) and removes $T, and helpers for free loopback
# ports, a test CA made with certtool, ldns-testns, waiting for ports, and assertions.
# Environment from ctest: MTASTSD (daemon binary), TOOLS_DIR (test tools), SRC_DIR, BUILD_DIR;
# CI=true under CI (see need_cmd). Network: loopback only.
#
# Tests assert outcomes, never speed (a loaded 2-core CI machine runs them, with sanitizers):
# every wait here is a liveness bound (LIVE_S, far above the expected time) that returns as
# soon as the awaited thing happened, and the caller then checks what happened. Latency
# figures belong in bench/.

set -eu
set -o pipefail

: "${SRC_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BUILD_DIR:=$SRC_DIR/build}"
: "${MTASTSD:=$BUILD_DIR/daemon/mtastsd}"
: "${TOOLS_DIR:=$BUILD_DIR/tests}"
SYSDATA="$SRC_DIR/tests/system/data"
# ASAN_BUILD: 1 when $MTASTSD is built with the sanitizers. Their allocator keeps freed
# memory (quarantine, size-class regions), so VmRSS says nothing about the daemon there and
# the tests check their VmRSS bounds in plain builds only.
ASAN_BUILD=0
if grep -q '^SANITIZE:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null ||
	ldd "$MTASTSD" 2>/dev/null | grep libasan >/dev/null; then # not -q: pipefail, SIGPIPE
	ASAN_BUILD=1
fi
# vmrss_kb PID: the VmRSS of PID in kB, 0 when it is gone.
vmrss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# LIVE_S: the liveness bound, in seconds, of the waits below and of the tests' own (a
# reply, a log line, a process exit, a connection closed by a deadline): far above what any
# of them takes, even on a loaded machine with sanitizers. Only a hang reaches it.
LIVE_S=60
# check_rss_back CASE PID BASE_KB SLACK_KB: VmRSS of PID comes back to at most BASE + SLACK
# (polled every 100 ms, at most LIVE_S). Reported only, not checked, in sanitizer builds.
rss_back() { rss=$(vmrss_kb "$1") && [ "$rss" -le "$2" ]; }
check_rss_back() {
	local rss
	if [ "$ASAN_BUILD" = 1 ]; then
		say "     VmRSS after $1: $(vmrss_kb "$2") kB (baseline $3 kB; not checked: the ASan" \
			"allocator keeps freed memory, LeakSanitizer checks leaks at exit)"
		return 0
	fi
	wait_for "$LIVE_S" rss_back "$2" $(($3 + $4)) || true
	rss=$(vmrss_kb "$2")
	say "     VmRSS after $1: $rss kB (baseline $3 kB)"
	if [ "$rss" -le $(($3 + $4)) ]; then
		check "$1: VmRSS back near baseline" yes yes
	else
		check "$1: VmRSS back near baseline" "<= $(($3 + $4)) kB" "$rss kB"
	fi
}

T=$(mktemp -d "${TMPDIR:-/tmp}/mtastsd-test.XXXXXX")
: >"$T/pids"
# The daemon's state database (process.state_directory's default stands for systemd's
# $STATE_DIRECTORY): inside $T, never the host's /var/lib/mtastsd; mtastsd_start gives
# each daemon its own ($T/NAME.state).
export STATE_DIRECTORY="$T/state"
LIB_FAILS=0
LIB_CHECKS=0
# PORTS_DIR: the port reservations of every running test (free_port).
PORTS_DIR=${MTASTSD_TEST_PORTS_DIR:-/tmp/mtastsd-test-ports}

lib_cleanup() {
	local rc=$?
	local pid p
	if [ -s "$T/pids" ]; then
		while read -r pid; do
			kill "$pid" 2>/dev/null || true
		done <"$T/pids"
		sleep 0.2
		while read -r pid; do
			kill -9 "$pid" 2>/dev/null || true
		done <"$T/pids"
	fi
	if [ -n "${LIB_NETNS:-}" ]; then
		ip netns del "$LIB_NETNS" 2>/dev/null || true
		rm -rf "/etc/netns/$LIB_NETNS"
	fi
	if { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; } || [ "$LIB_FAILS" -ne 0 ]; then
		echo "--- test failed; logs from $T:" >&2
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f (last 40 lines)" >&2
			tail -n 40 "$f" >&2
		done
	fi
	if [ -s "$T/ports.taken" ]; then
		while read -r p; do
			[ "$(cat "$PORTS_DIR/$p" 2>/dev/null)" != "$$" ] || rm -f "$PORTS_DIR/$p"
		done <"$T/ports.taken"
	fi
	rm -rf "$T"
	exit "$rc"
}
trap lib_cleanup EXIT
trap 'exit 130' INT TERM

# log a line on stderr
say() { printf '%s\n' "$*" >&2; }
die() { say "FAIL: $*"; LIB_FAILS=$((LIB_FAILS + 1)); exit 1; }

# check NAME EXPECTED ACTUAL: record a check; a mismatch fails the test at the end.
check() {
	LIB_CHECKS=$((LIB_CHECKS + 1))
	if [ "$2" = "$3" ]; then
		say "ok   $1"
	else
		say "FAIL $1: expected [$2], got [$3]"
		LIB_FAILS=$((LIB_FAILS + 1))
	fi
}
# check_match NAME ERE ACTUAL
check_match() {
	LIB_CHECKS=$((LIB_CHECKS + 1))
	if grep -Eq -- "$2" <<<"$3"; then
		say "ok   $1"
	else
		say "FAIL $1: expected to match /$2/, got [$3]"
		LIB_FAILS=$((LIB_FAILS + 1))
	fi
}
# finish: call last; exits 1 when any check failed, else 77 (skipped) when a part of the
# test could not run here (part_unavailable), else 0.
finish() {
	say "$LIB_CHECKS checks, $LIB_FAILS failed"
	[ "$LIB_FAILS" -eq 0 ] || exit 1
	[ -z "$LIB_SKIPPED" ] || skip "${LIB_SKIPPED#; } (the other $LIB_CHECKS checks passed)"
	exit 0
}

# ---- skips: visible, and never under CI --------------------------------------------------
# A test that cannot run here says why and exits 77, which ctest reports as "Skipped"
# (SKIP_RETURN_CODE, tests/CMakeLists.txt); scripts/test.sh lists the "SKIP:" lines after
# each run. Under CI (CI=true) the test command has installed every package of
# tests/deps-debian.txt and runs as root: there a missing peer or privilege is a broken
# setup, and `unavailable` fails the test instead of skipping it. Call these at the top
# level of the test, not inside $(...) (a subshell's exit ends only the subshell).
LIB_SKIPPED=""
# skip REASON: end the test now as skipped.
skip() {
	say "SKIP: $(basename "$0"): $*"
	exit 77
}
# unavailable REASON: the test cannot run here: skipped, or failed under CI.
unavailable() {
	if [ "${CI:-}" = true ]; then
		die "$* (CI=true: fails instead of skipping)"
	fi
	skip "$*"
}
# need_cmd CMD...: every CMD is installed, else the test is unavailable.
need_cmd() {
	local c missing=""
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	[ -z "$missing" ] || unavailable "not installed:$missing (see tests/deps-debian.txt)"
}
# need_root WHY: the test runs as root, else it is unavailable.
need_root() {
	[ "$(id -u)" = 0 ] || unavailable "needs root ($*)"
}
# part_unavailable REASON: one part of the test cannot run here. The test goes on and ends
# as skipped (finish), naming the part; under CI the part is a failed check.
part_unavailable() {
	if [ "${CI:-}" = true ]; then
		check "$* (CI=true: fails instead of skipping)" available unavailable
	else
		say "SKIP part: $*"
		LIB_SKIPPED="$LIB_SKIPPED; $*"
	fi
}
# have_cmd PART CMD...: 0 when every CMD is installed; else part_unavailable PART and 1.
have_cmd() {
	local part=$1 c missing=""
	shift
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	[ -n "$missing" ] || return 0
	part_unavailable "$part: not installed:$missing (see tests/deps-debian.txt)"
	return 1
}

# have_root PART: 0 when the test runs as root; else part_unavailable PART and 1.
have_root() {
	[ "$(id -u)" = 0 ] && return 0
	part_unavailable "$1: needs root"
	return 1
}

# ---- waiting (liveness bounds, never speed checks) ---------------------------------------
# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds (0), or 1 once SECONDS have
# passed. The caller checks the outcome afterwards.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}
# wait_log NAME ERE [SECONDS]: wait (default LIVE_S) until $T/NAME.log has a line matching
# ERE; 1 (and a note on stderr) when it never came, at once when the process started as
# NAME (start_bg) has exited without writing it (a daemon that could not start).
log_has_or_gone() {
	grep -Eqs -- "$2" "$T/$1.log" && return 0
	if [ -s "$T/$1.pid" ] && ! kill -0 "$(cat "$T/$1.pid")" 2>/dev/null; then
		grep -Eqs -- "$2" "$T/$1.log" && return 0
		return 2
	fi
	return 1
}
wait_log() {
	wait_for "${3:-$LIVE_S}" log_has_or_gone "$1" "$2" && return 0
	grep -Eqs -- "$2" "$T/$1.log" && return 0
	if [ -s "$T/$1.pid" ] && ! kill -0 "$(cat "$T/$1.pid")" 2>/dev/null; then
		say "     $1 exited without /$2/ in $1.log"
	else
		say "     no /$2/ in $1.log after ${3:-$LIVE_S} s"
	fi
	return 1
}

# free_port [tcp|udp|both] [ADDR...]: a port that nothing listens on right now on 127.0.0.1
# (or on every ADDR given), below the ephemeral range (client sockets never take it before
# it is bound), and reserved for this test until it ends: ctest runs tests side by side,
# and each picks its ports first and starts its servers later, so "nothing listens now"
# alone once gave two running tests the same port (the later bind failed). A reservation
# is a file named after the port in $PORTS_DIR, made with O_EXCL and holding the owning
# test's shell pid; lib_cleanup removes this test's, and one whose owner is gone is taken
# over.
free_port() {
	local p
	[ -d "$PORTS_DIR" ] || mkdir -m 1777 -p "$PORTS_DIR" 2>/dev/null || true
	p=$(python3 "$SRC_DIR/tests/system/free_port.py" "${1:-both}" "$PORTS_DIR" "$$" "${@:2}") ||
		return 1
	[ -z "${T:-}" ] || echo "$p" >>"$T/ports.taken"
	echo "$p"
}

# start_bg NAME CMD...: run CMD in the background, output to $T/NAME.log, PID saved.
start_bg() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	echo $! >>"$T/pids"
	echo $! >"$T/$name.pid"
}

# stop_bg NAME: SIGTERM the process started as NAME and wait (at most LIVE_S: a sanitizer
# build's exit can take a while on a loaded machine) for it; SIGKILL after that.
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
stop_bg() {
	local pid
	pid=$(cat "$T/$1.pid")
	kill "$pid" 2>/dev/null || return 0
	wait_for "$LIVE_S" pid_gone "$pid" && return 0
	say "     $1 (pid $pid) still runs $LIVE_S s after SIGTERM: SIGKILL"
	kill -9 "$pid" 2>/dev/null || true
}

# wait_tcp PORT [HOST] [SECONDS]: wait (default LIVE_S) until a TCP connect succeeds.
tcp_open() { (exec 3<>"/dev/tcp/$2/$1") 2>/dev/null; }
wait_tcp() {
	local port=$1 host=${2:-127.0.0.1} secs=${3:-$LIVE_S}
	wait_for "$secs" tcp_open "$port" "$host" || die "nothing listens on $host:$port after ${secs}s"
}

# wait_file FILE [SECONDS]: wait (default LIVE_S) until FILE is not empty.
wait_file() {
	wait_for "${2:-$LIVE_S}" test -s "$1" || die "file $1 not written after ${2:-$LIVE_S}s"
}

# unit_nofile: the RLIMIT_NOFILE that etc/mtastsd.service gives mtastsd (LimitNOFILE=
# SOFT:HARD; HARD alone means systemd's soft 1024) in UNIT_SOFT and UNIT_HARD, and in
# NOFILE_HARD the hard limit a test can start it with here: UNIT_HARD, or our own hard limit
# when a higher one is not permitted (setting a hard limit above ours needs
# CAP_SYS_RESOURCE, which containers often lack). Start the daemon as systemd would, the
# soft limit low and the raising left to the daemon:
#   prlimit --nofile="$UNIT_SOFT:$NOFILE_HARD" "$MTASTSD" ...
unit_nofile() {
	local v
	v=$(sed -n 's/^LimitNOFILE=//p' "$SRC_DIR/etc/mtastsd.service")
	case "$v" in
	*:*) UNIT_SOFT=${v%%:*} UNIT_HARD=${v##*:} ;;
	*) UNIT_SOFT=1024 UNIT_HARD=$v ;;
	esac
	NOFILE_HARD=$UNIT_HARD
	if ! prlimit --nofile="$UNIT_SOFT:$UNIT_HARD" true 2>/dev/null; then
		NOFILE_HARD=$(ulimit -Hn)
		say "     note: cannot start mtastsd with the hard RLIMIT_NOFILE $UNIT_HARD here" \
			"(no CAP_SYS_RESOURCE); using our own hard limit, $NOFILE_HARD"
	fi
}

# make_ca: a test CA in $T/ca.pem / $T/ca.key.
make_ca() {
	certtool --generate-privkey --key-type=ecdsa --outfile "$T/ca.key" 2>/dev/null
	cat >"$T/ca.tmpl" <<EOT
cn = "mtastsd test CA"
ca
cert_signing_key
expiration_days = 30
EOT
	certtool --generate-self-signed --load-privkey "$T/ca.key" --template "$T/ca.tmpl" \
		--outfile "$T/ca.pem" 2>/dev/null
}

# make_cert NAME DNSNAME... : key $T/NAME.key, certificate $T/NAME.pem (leaf only) and
# $T/NAME.fullchain.pem (leaf + CA), signed by the test CA. CERT_DAYS (default 30) sets
# the lifetime; CERT_DAYS=-1 makes an expired certificate.
make_cert() {
	local name=$1 n
	shift
	certtool --generate-privkey --key-type=ecdsa --outfile "$T/$name.key" 2>/dev/null
	{
		echo "cn = \"$1\""
		for n in "$@"; do echo "dns_name = \"$n\""; done
		echo "tls_www_server"
		echo "signing_key"
		echo "encryption_key"
		if [ "${CERT_DAYS:-30}" -lt 0 ]; then
			echo "activation_date = \"2020-01-01 00:00:00 UTC\""
			echo "expiration_date = \"2020-02-01 00:00:00 UTC\""
		else
			echo "expiration_days = ${CERT_DAYS:-30}"
		fi
	} >"$T/$name.tmpl"
	certtool --generate-certificate --load-privkey "$T/$name.key" --load-ca-certificate \
		"$T/ca.pem" --load-ca-privkey "$T/ca.key" --template "$T/$name.tmpl" \
		--outfile "$T/$name.pem" 2>/dev/null
	cat "$T/$name.pem" "$T/ca.pem" >"$T/$name.fullchain.pem"
}

# start_testns NAME PORT DATAFILE: ldns-testns on 127.0.0.1:PORT (UDP and TCP).
start_testns() {
	start_bg "$1" ldns-testns -p "$2" "$3"
	wait_tcp "$2"
}

# sm_query PORT MAP KEY: one socketmap lookup through Postfix's own client; prints the
# value and returns postmap's status (0 found, 1 not found, 124 no answer within LIVE_S,
# other = lookup error).
sm_query() {
	timeout "$LIVE_S" postmap -q "$3" "socketmap:inet:127.0.0.1:$1:$2"
}

# netns_setup NAME: a network namespace with lo up; `netns_exec CMD...` runs in it, with
# /etc/netns/NAME/resolv.conf (nameserver 127.0.0.1) bind-mounted by ip-netns-exec.
netns_setup() {
	LIB_NETNS=$1
	ip netns add "$LIB_NETNS"
	ip -n "$LIB_NETNS" link set lo up
	mkdir -p "/etc/netns/$LIB_NETNS"
	echo "nameserver 127.0.0.1" >"/etc/netns/$LIB_NETNS/resolv.conf"
}
netns_exec() {
	ip netns exec "$LIB_NETNS" "$@"
}
# wait_tcp_ns PORT [HOST]: as wait_tcp, inside the namespace of netns_setup.
wait_tcp_ns() {
	local port=$1 host=${2:-127.0.0.1}
	wait_for "$LIVE_S" netns_exec bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null ||
		die "nothing listens on $host:$port in the namespace after ${LIVE_S}s"
}

# ---- resolver lab helpers (DNS data, socketmap queries) ----------------------------------

# testns_entry QNAME RCODE [TXT-RDATA...]: print one ldns-testns entry answering TXT queries
# for QNAME with RCODE (NOERROR, NXDOMAIN, SERVFAIL) and one TXT RR per TXT-RDATA argument
# (zone-file form, e.g. '"v=STSv1; id=abc"'). The query's ID and question are copied.
testns_entry() {
	local qname=$1 rcode=$2 rr
	shift 2
	printf 'ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id copy_query\n'
	printf 'REPLY QR AA %s\nSECTION QUESTION\n%s. IN TXT\n' "$rcode" "$qname"
	if [ $# -gt 0 ]; then
		printf 'SECTION ANSWER\n'
		for rr in "$@"; do printf '%s. 60 IN TXT %s\n' "$qname" "$rr"; done
	elif [ "$rcode" != SERVFAIL ]; then
		printf 'SECTION AUTHORITY\ntest. 60 IN SOA ns.test. hostmaster.test. 1 60 60 60 60\n'
	fi
	printf 'ENTRY_END\n'
}

# testns_catchall: the last entry of a data file: NXDOMAIN for every other query (any type).
testns_catchall() {
	printf 'ENTRY_BEGIN\nMATCH opcode\nADJUST copy_id copy_query\nREPLY QR AA NXDOMAIN\n'
	printf 'SECTION QUESTION\ninvalid. IN TXT\nSECTION AUTHORITY\n'
	printf 'invalid. 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60\nENTRY_END\n'
}

# testns_start NAME PORT FILE...: ldns-testns on 127.0.0.1:PORT answering from the FILEs
# (concatenated into $T/NAME.testns, the catch-all NXDOMAIN entry appended). ldns-testns
# reads its data once: to change the answers, stop_bg NAME and start it again.
testns_start() {
	local name=$1 port=$2
	shift 2
	{ cat "$@"; testns_catchall; } >"$T/$name.testns"
	start_testns "$name" "$port" "$T/$name.testns"
}

# testns_zone NAME PORT ZONE: testns_start NAME PORT with ZONE's zone-file lines ("name ttl
# class type data"; blank and ";" lines skipped) as one ldns-testns entry per RRset (name
# and type), in order of appearance (the entries in ${ZONE%.zone}.testns).
testns_zone() {
	python3 - "$3" >"${3%.zone}.testns" <<'PY'
import sys
sets = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith(";"):
        continue
    f = line.split(None, 4)
    sets.setdefault((f[0].lower(), f[3].upper()), []).append(line)
for (name, rtype), rrs in sets.items():
    print("ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id copy_query")
    print("REPLY QR AA NOERROR\nSECTION QUESTION\n%s IN %s\nSECTION ANSWER" % (name, rtype))
    for rr in rrs:
        print(rr)
    print("ENTRY_END")
PY
	testns_start "$1" "$2" "${3%.zone}.testns"
}

# pm PORT MAP KEY: one postmap -q lookup; prints "rc=<status> out=[<stdout>] err=[<stderr>]"
# (NOTFOUND: rc=1 and both empty; a TEMP/PERM reply: rc=1 with a warning on stderr; no
# answer within LIVE_S: rc=124).
pm() {
	local rc=0 out
	out=$(timeout "$LIVE_S" postmap -q "$3" "socketmap:inet:127.0.0.1:$1:$2" 2>"$T/pm.err") ||
		rc=$?
	printf 'rc=%s out=[%s] err=[%s]' "$rc" "$out" "$(cat "$T/pm.err")"
}
# pm_ok VALUE / pm_notfound: the pm output expected for a found value / for NOTFOUND.
pm_ok() { printf 'rc=0 out=[%s] err=[]' "$1"; }
pm_notfound() { printf 'rc=1 out=[] err=[]'; }

# policy_put DOCROOT DOMAIN BODY [BEHAVIOUR]: serve BODY (printf %b escapes, e.g. \n) as the
# policy of DOMAIN from fake_https --docroot DOCROOT, with BEHAVIOUR (default ok).
policy_put() {
	mkdir -p "$1/mta-sts.$2"
	printf '%b' "$3" >"$1/mta-sts.$2/mta-sts.txt"
	printf '%s\n' "${4:-ok}" >"$1/mta-sts.$2/behaviour"
}
# policy_behave DOCROOT DOMAIN BEHAVIOUR: change how fake_https serves DOMAIN's policy.
policy_behave() {
	printf '%s\n' "$3" >"$1/mta-sts.$2/behaviour"
}
# policy_enforce MX...: the body of an enforce policy (max_age 604800) with these mx lines.
policy_enforce() {
	local mx
	printf 'version: STSv1\\nmode: enforce\\n'
	for mx in "$@"; do printf 'mx: %s\\n' "$mx"; done
	printf 'max_age: 604800\\n'
}

# lab_ports: free loopback ports for a resolver lab, DNS (UDP and TCP), HTTPS and SM (the
# socketmap), and WWW, the policy root of fake_https.
lab_ports() {
	DNS=$(free_port both)
	HTTPS=$(free_port tcp)
	SM=$(free_port tcp)
	WWW=$T/www
}

# lab_enforce SUFFIX DOMAIN...: a lab where each DOMAIN publishes an enforce policy with mx
# mail.DOMAIN under the TXT id <first label of DOMAIN>SUFFIX: the test CA, one certificate
# for every mta-sts.DOMAIN, ldns-testns "dns" on $DNS and fake_https "www" on $HTTPS
# serving $WWW (both variables set by the caller).
lab_enforce() {
	local suffix=$1 d
	shift
	make_ca
	make_cert www $(for d in "$@"; do printf 'mta-sts.%s ' "$d"; done)
	for d in "$@"; do
		policy_put "$WWW" "$d" "$(policy_enforce "mail.$d")"
		testns_entry "_mta-sts.$d" NOERROR "\"v=STSv1; id=${d%%.*}$suffix\""
	done >"$T/lab_enforce.testns"
	testns_start dns "$DNS" "$T/lab_enforce.testns"
	fake_https_start www "$HTTPS" www "$WWW"
}

# fake_https_start NAME PORT CERTNAME DOCROOT [ARGS...]: the test HTTPS server on
# 127.0.0.1:PORT with $T/CERTNAME.fullchain.pem / $T/CERTNAME.key, requests counted in
# $T/NAME.count (one line per policy request).
fake_https_start() {
	local name=$1 port=$2 cert=$3 root=$4
	shift 4
	start_bg "$name" "$TOOLS_DIR/fake_https" --port "$port" --cert "$T/$cert.fullchain.pem" \
		--key "$T/$cert.key" --docroot "$root" --count-file "$T/$name.count" "$@"
	wait_tcp "$port"
}
# fetch_count NAME HOST: how many policy requests fake_https NAME got for HOST.
fetch_count() {
	local n=0
	[ -f "$T/$1.count" ] && n=$(grep -cxF -- "$2" "$T/$1.count" || true)
	echo "${n:-0}"
}

# resolver_conf FILE SMPORT DNSPORT HTTPSPORT [EXTRA]: an mtastsd config for the lab: the
# resolver on 127.0.0.1:SMPORT, DNS from ldns-testns on DNSPORT, every policy fetch sent to
# fake_https on HTTPSPORT and verified with $T/ca.pem; zones "postfix" (default) and
# "strict" (strict_testing). EXTRA: more lines for the resolver group (override defaults:
# RES_FETCH_TIMEOUT, RES_RECHECK, RES_NEGATIVE_TTL, RES_TEMPFAIL_TTL, RES_ZONE_TIMEOUT,
# RES_DNS_TIMEOUT). The default timeouts are far above what a lookup in the lab takes (a
# loopback DNS answer, a local fetch), so a loaded machine never turns an answer into a
# timeout; a test that needs a timeout to fire sets its own.
resolver_conf() {
	cat >"$1" <<EOC
process = {
	allow_root = true;
	verbosity = ${RES_VERBOSITY:-2};
	shutdown_timeout = "1s";
};
resolver = {
	listen = [ "127.0.0.1:$2" ];
	dns_servers = [ "127.0.0.1@$3" ];
	dns_timeout = "${RES_DNS_TIMEOUT:-5s}";
	dns_attempts = 1;
	ca_file = "$T/ca.pem";
	connect_to = "127.0.0.1:$4";
	fetch_timeout = "${RES_FETCH_TIMEOUT:-10s}";
	recheck_interval = "${RES_RECHECK:-1m}";
	negative_ttl = "${RES_NEGATIVE_TTL:-1s}";
	tempfail_ttl = "${RES_TEMPFAIL_TTL:-1s}";
	zones = (
		{ name = "postfix"; timeout = "${RES_ZONE_TIMEOUT:-30s}"; },
		{ name = "strict"; strict_testing = true; timeout = "${RES_ZONE_TIMEOUT:-30s}"; }
	);
	default_zone = "postfix";
	${5:-}
};
admin = { enabled = false; };
EOC
}

# mtastsd_start NAME CONF SMPORT: run `mtastsd -f -c CONF` in the background (state
# database in $T/NAME.state unless CONF sets process.state_directory) and wait for its
# socketmap port.
mtastsd_start() {
	STATE_DIRECTORY="$T/$1.state" start_bg "$1" "$MTASTSD" -f -c "$2"
	wait_tcp "$3"
}
# alive NAME: "alive" when the process started as NAME still runs, else "dead".
alive() {
	if kill -0 "$(cat "$T/$1.pid")" 2>/dev/null; then echo alive; else echo dead; fi
}

# postfix_smtpd_start NAME ADDR PORT MYHOSTNAME [CERTNAME]: a private Postfix instance whose
# only inet service is smtpd on ADDR:PORT (a loopback address), as a real MX host: config,
# queue and data directories under $T/NAME, `master -c $T/NAME/etc -s` in the foreground
# (stop_bg NAME stops master and its children). With CERTNAME ($T/CERTNAME.key and
# .fullchain.pem, lib.sh make_cert) smtpd offers STARTTLS; without, it does not. Needs root
# (master runs as root, smtpd as mail_owner postfix) and Postfix installed. Nothing is ever
# delivered: no transport, no local delivery, no cleanup service.
POSTFIX_DAEMON_DIR=$(postconf -h daemon_directory 2>/dev/null || echo /usr/lib/postfix/sbin)
postfix_smtpd_start() {
	local name=$1 addr=$2 port=$3 host=$4 cert=${5:-} d="$T/$1"
	mkdir -p "$d/etc" "$d/queue/pid" "$d/queue/private" "$d/queue/public" "$d/data"
	chown postfix "$d/queue/private" "$d/queue/public" "$d/data"
	# master opens data_directory/master.lock, and smtpd enters the queue directory, as
	# postfix: $T (mode 0700) must let them through, without letting anyone list it.
	chmod 0711 "$T" "$d"
	{
		echo "compatibility_level = 3.6"
		echo "queue_directory = $d/queue"
		echo "data_directory = $d/data"
		echo "mail_owner = postfix"
		echo "inet_interfaces = loopback-only"
		echo "inet_protocols = ipv4"
		echo "myhostname = $host"
		echo "mydestination ="
		echo "alias_maps ="
		echo "alias_database ="
		echo "local_recipient_maps ="
		echo "biff = no"
		echo "smtpd_client_connection_count_limit = 0"
		echo "smtpd_client_connection_rate_limit = 0"
		if [ -n "$cert" ]; then
			echo "smtpd_tls_security_level = may"
			echo "smtpd_tls_chain_files = $T/$cert.key, $T/$cert.fullchain.pem"
		else
			echo "smtpd_tls_security_level = none"
		fi
	} >"$d/etc/main.cf"
	{
		echo "$addr:$port inet n - n - - smtpd"
		echo "anvil unix - - n - 1 anvil"
		echo "tlsmgr unix - - n 1000? 1 tlsmgr"
	} >"$d/etc/master.cf"
	start_bg "$name" "$POSTFIX_DAEMON_DIR/master" -c "$d/etc" -s
	wait_tcp "$port" "$addr"
}

# chromium_run ARGS...: headless Chromium (window CHROMIUM_SIZE, default 1024,768), bounded
# to 90 s, on a private profile in $T/chr, its messages in $T/chromium.log; output in files
# (--dump-dom to stdout, --screenshot=FILE; png_colours.py reads the screenshot).
chromium_run() {
	timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-extensions --disable-default-apps --no-proxy-server \
		--user-data-dir="$T/chr" --window-size="${CHROMIUM_SIZE:-1024,768}" "$@" 2>>"$T/chromium.log"
}

# pdns_need: the pdns-backend-sqlite3 schema in PDNS_SCHEMA, or the test is unavailable (call
# after need_cmd pdns_server pdnsutil sqlite3 kdig).
pdns_need() {
	local f
	PDNS_SCHEMA=""
	for f in /usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql \
		/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql; do
		[ -f "$f" ] && PDNS_SCHEMA=$f && break
	done
	[ -n "$PDNS_SCHEMA" ] || unavailable "no pdns-backend-sqlite3 schema (pdns-backend-sqlite3 not installed?)"
}

# pdns_primary ZONE PORT SECRET [CONF_LINE...]: a PowerDNS primary in PD=$T/pdns (gsqlite3,
# on 127.0.0.1:PORT, dnsupdate=yes from 127.0.0.0/8, the CONF_LINEs appended to pdns.conf),
# zone ZONE (SOA ns1.ZONE) made with pdnsutil, TSIG key "mtastsd" (hmac-sha256, base64
# SECRET) allowed to update it (TSIG-ALLOW-DNSUPDATE). Defines pdu ARGS... (pdnsutil on it,
# output in $T/pdnsutil.log) for the test's records. Not started: pdns_start.
pdns_primary() {
	local zone=$1 port=$2 secret=$3
	shift 3
	PD=$T/pdns
	mkdir -p "$PD"
	sqlite3 "$PD/pdns.sqlite3" <"$PDNS_SCHEMA"
	{
		cat <<EOC
launch=gsqlite3
gsqlite3-database=$PD/pdns.sqlite3
local-address=127.0.0.1
local-port=$port
dnsupdate=yes
allow-dnsupdate-from=127.0.0.0/8
socket-dir=$PD
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
loglevel=6
security-poll-suffix=
EOC
		[ $# -eq 0 ] || printf '%s\n' "$@"
	} >"$PD/pdns.conf"
	pdu create-zone "$zone" "ns1.$zone"
	pdu import-tsig-key mtastsd hmac-sha256 "$secret"
	pdu set-meta "$zone" TSIG-ALLOW-DNSUPDATE mtastsd
}
pdu() { pdnsutil --config-dir="$PD" "$@" >>"$T/pdnsutil.log" 2>&1; }

# pdns_start NAME ZONE PORT: starts the pdns_primary server as NAME (stop_bg NAME) and waits
# (LIVE_S) until it answers ZONE's SOA over TCP on 127.0.0.1:PORT.
pdns_start() {
	start_bg "$1" pdns_server --config-dir="$PD"
	wait_for "$LIVE_S" sh -c "kdig -p $3 @127.0.0.1 +tcp +short $2 SOA | grep -q hostmaster" ||
		die "pdns_server does not answer on 127.0.0.1:$3"
}

# rollout_conf DNS_TIMEOUT [PUBLISHER] < DOMAINS: $T/mtastsd.conf for the rollout labs (t_rollout*.sh):
# admin on 127.0.0.1:$A, resolver off but its dns_servers 127.0.0.1@$DNS (DNS_TIMEOUT, one
# attempt) and ca_file $T/ca.pem for the MX check, tlsrpt.receive, the publisher on
# 127.0.0.1:$P checking MX hosts on port $S every 2 s, rollout_interval 1 s, PUBLISHER
# (more publisher settings, e.g. dns_update) if given, its publisher.domains entries read
# from stdin. Checked with `mtastsd -n` (die on failure).
rollout_conf() {
	local domains extra=${2:+$2$'\n'}
	domains=$(cat)
	cat >"$T/mtastsd.conf" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s";
            state_directory = "$T/st"; };
admin = { listen = "127.0.0.1:$A"; };
resolver = {
	enabled = false;
	dns_servers = [ "127.0.0.1@$DNS" ];
	dns_timeout = "$1";
	dns_attempts = 1;
	ca_file = "$T/ca.pem";
};
tlsrpt = { receive = true; };
publisher = {
	listen = [ "127.0.0.1:$P" ];
	http_listen = [ ];
	mx_check_port = $S;
	mx_check_interval = "2s";
	rollout_interval = "1s";
${extra}	domains = (
$domains
	);
};
EOC
	"$MTASTSD" -n -c "$T/mtastsd.conf" >"$T/n.log" 2>&1 || die "config check failed: $(cat "$T/n.log")"
}

# tlsrpt_example_lab: the TLSRPT lab (t_tlsrpt_*.sh): a CA, the certificate "ex" for
# mta-sts.example.com, and $T/m.conf: a publisher of example.com (testing, max_age 86400,
# mx1.example.com) on 127.0.0.1:$P, tlsrpt.receive, admin on 127.0.0.1:$ADM, resolver off,
# state in $T/st.
tlsrpt_example_lab() {
	make_ca
	make_cert ex mta-sts.example.com
	cat >"$T/m.conf" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s";
            state_directory = "$T/st"; };
resolver = { enabled = false; };
admin = { listen = "127.0.0.1:$ADM"; };
tlsrpt = { receive = true; };
publisher = {
	listen = [ "127.0.0.1:$P" ];
	http_listen = [ ];
	domains = (
		{ domain = "example.com"; mode = "testing"; max_age = 86400; mx = [ "mx1.example.com" ];
		  cert = "$T/ex.fullchain.pem"; key = "$T/ex.key"; }
	);
};
EOC
}
