#!/usr/bin/env bash
# tests/system/t_tlsrpt_owner.sh - `mtastsd tlsrpt` run as root before the daemon's first
# start (a Postfix pipe run as root, an admin trying the verb) creates the state database
# the way the daemon would: owned by process.user (nobody here) and its group, so that the
# daemon, dropped to that user, can then write it. Two cases: the state directory given to
# nobody but empty (packaging made it), and no state directory at all (the verb makes it,
# 0750, nobody's). Then the daemon starts as nobody and stores a POSTed report: 201, not
# 503. Then an unknown process.user: the verb refuses, nothing is created. Last, the verb
# run as nobody with no state directory: 75 and what to do.
. "$(dirname "$0")/lib.sh"

need_root "process.user"
need_cmd certtool python3 sqlite3
id nobody >/dev/null 2>&1 || unavailable "no user nobody"
DATA="$SRC_DIR/tests/unit/data/tlsrpt"
chmod 711 "$T" # nobody may reach its state directory and the certificates in $T
P=$(free_port tcp)
make_ca
make_cert ex mta-sts.example.com
chmod 644 "$T/ex.key"
DAY=$(date -u +%Y-%m-%d)
sed "s/2026-11-05/$DAY/g" "$DATA/provider-a.json" >"$T/a.json"
sed "s/2026-11-05/$DAY/g" "$DATA/provider-b.json" >"$T/b.json"
chmod 644 "$T"/*.json

# conf FILE STATEDIR [USER]
conf() {
	cat >"$1" <<EOC
process = { user = "${3:-nobody}"; verbosity = 1; shutdown_timeout = "1s";
            state_directory = "$2"; };
resolver = { enabled = false; };
admin = { enabled = false; };
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
owner() { stat -c %U:%G "$1" 2>/dev/null || echo missing; }
NOBODY="nobody:$(id -gn nobody)"

# 1. the directory exists, given to nobody; the verb runs as root
mkdir "$T/st1" && chown nobody: "$T/st1" && chmod 750 "$T/st1"
conf "$T/c1.conf" "$T/st1"
rc=0
"$MTASTSD" -c "$T/c1.conf" tlsrpt import "$T/a.json" >"$T/i1.out" 2>&1 || rc=$?
check "case 1: import as root: exit 0" 0 "$rc"
check "case 1: state.db owned by nobody" "$NOBODY" "$(owner "$T/st1/state.db")"
check "case 1: nothing in the state directory owned by root" "" \
	"$(find "$T/st1" -user root -print)"

# 2. no directory: the verb makes it as the daemon would
conf "$T/c2.conf" "$T/st2"
rc=0
"$MTASTSD" -c "$T/c2.conf" tlsrpt example.com >"$T/s2.out" 2>&1 || rc=$?
check "case 2: summary as root: exit 0" 0 "$rc"
check "case 2: state directory owned by nobody" "$NOBODY" "$(owner "$T/st2")"
check "case 2: state directory mode 750" 750 "$(stat -c %a "$T/st2")"
check "case 2: state.db owned by nobody" "$NOBODY" "$(owner "$T/st2/state.db")"

# the daemon, as nobody, writes the database the root verb made
start_bg pub "$MTASTSD" -f -c "$T/c1.conf"
wait_tcp "$P"
wait_log pub "tlsrpt: receiving reports" || true
check "the daemon runs as nobody" nobody "$(ps -o user= -p "$(cat "$T/pub.pid")" | tr -d ' ')"
check "a POSTed report is stored by the daemon: 201" 201 \
	"$(python3 "$SRC_DIR/tests/system/tlsrpt_post.py" "$P" "$T/ca.pem" mta-sts.example.com \
		post "$T/b.json" application/tlsrpt+json)"
check "both reports in the database" 2 "$(sqlite3 "$T/st1/state.db" "SELECT count(*) FROM tlsrpt_report")"
stop_bg pub

# 3. an unknown process.user: refused, nothing created
conf "$T/c3.conf" "$T/st3" no-such-user-mtastsd
rc=0
"$MTASTSD" -c "$T/c3.conf" tlsrpt import "$T/a.json" >"$T/i3.out" 2>&1 || rc=$?
check "case 3: unknown process.user: the import fails (75, the mail stays queued)" 75 "$rc"
check_match "case 3: ... and says why" "process.user 'no-such-user-mtastsd' is unknown" \
	"$(cat "$T/i3.out")"
check "case 3: nothing created" missing "$(owner "$T/st3")"

# 4. a pipe(8) run as nobody before the daemon ever started: no state directory, and nobody
# cannot make it: 75 (Postfix keeps the mail) with what to do, not "try again later" alone
conf "$T/c4.conf" "$T/st4"
rc=0
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
	"$MTASTSD" -c "$T/c4.conf" tlsrpt import "$T/a.json" >"$T/i4.out" 2>&1 || rc=$?
check "case 4: no state directory, run as nobody: 75" 75 "$rc"
check_match "case 4: ... and says what to do" \
	"state directory $T/st4 does not exist: start the daemon once" "$(cat "$T/i4.out")"
finish
