#!/usr/bin/env bash
# tests/system/t_migrate.sh - issue 23: `mtastsd migrate resolver|publisher`
#
# 1. Without network: postfix-mta-sts-resolver YAML files (the issue's, internal and sqlite
#    caches, several zones, a unix-socket socketmap, Redis over a unix socket with a password,
#    unknown keys, broken YAML) -> the printed mtastsd.conf is valid on its own (`mtastsd -n`)
#    and says what it carried over and what not; a broken file exits 1 with FILE:LINE:COLUMN.
# 2. Lab in a network namespace (root): dnsmasq answers the _mta-sts TXT records and
#    mta-sts.* addresses, mtastsd publishes three policies migrated from nginx-style policy
#    files (`migrate publisher`: each body fetched back parses to the same mode, max_age and mx
#    list in order; the TXT record it printed is what `dns-records` gives). Then the real
#    mta-sts-daemon (Debian's postfix-mta-sts-resolver) runs with a YAML and mtastsd with the
#    migrated config, one after the other on the same address, and Postfix's postmap -q gets
#    the same reply from both for enforce/testing/none/no-policy domains in every zone (match=
#    lists compared as sets: the old daemon writes them in Python set order). With the
#    issue's Redis YAML mtastsd fills database 1 of the lab's redis-server (Debian's 1.1.2
#    cannot run its Redis cache: no aioredis; the old daemon runs that YAML with its internal
#    cache), and with Redis on a unix socket with a password, database 2 behind the password.
. "$(dirname "$0")/lib.sh"

need_cmd python3

# run CMD...: sets RC, OUT, ERR.
run() {
	set +e
	"$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
# migrate_ok NAME YAML: `migrate resolver` on $T/NAME.yml (written from YAML) into
# $T/NAME.conf, checked: exit 0, and `mtastsd -n` accepts the output as it is.
migrate_ok() {
	printf '%s\n' "$2" >"$T/$1.yml"
	run "$MTASTSD" migrate resolver "$T/$1.yml"
	check "$1: migrate exits 0" 0 "$RC"
	printf '%s\n' "$OUT" >"$T/$1.conf"
	check "$1: mtastsd -n accepts the output" "mtastsd: configuration $T/$1.conf is valid" \
		"$("$MTASTSD" -n -c "$T/$1.conf" 2>&1)"
}
# conf_line NAME ERE: the lines of $T/NAME.conf without comments that match ERE.
conf_lines() { sed 's/[[:space:]]*#.*//' "$T/$1.conf" | grep -E -- "$2" | sed 's/^[[:space:]]*//'; }

ISSUE_YML='host: 127.0.0.1
port: 8461
reuse_port: true
shutdown_timeout: 20
cache:
  type: redis
  options:
    address: "redis://127.0.0.1:6379/1"
    db: 1
default_zone:
  strict_testing: false
  timeout: 4
zones:
  myzone:
    strict_testing: false
    timeout: 4'

# ---- 1. the converter ---------------------------------------------------------------------
migrate_ok issue "$ISSUE_YML"
check "issue: the same listener" 'listen = ( "127.0.0.1:8461" );' "$(conf_lines issue 'listen')"
check "issue: default_zone -> zone postfix (main.cf's name), myzone kept" \
	'{ name = "postfix"; strict_testing = false; timeout = "4s"; require_sni = true; tlsrpt = false; dane = true; },
{ name = "myzone"; strict_testing = false; timeout = "4s"; require_sni = true; tlsrpt = false; dane = true; }
default_zone = "postfix";' "$(conf_lines issue 'name =|default_zone')"
check "issue: Redis address and db" 'backend = "redis";
address = "127.0.0.1:6379";
db = 1;' "$(conf_lines issue 'backend|address|db =')"
check "issue: shutdown_timeout" 'shutdown_timeout = "20s";' "$(conf_lines issue shutdown_timeout)"
check_match "issue: reuse_port is a comment saying why" \
	'^#   reuse_port \(line 3\): mtastsd is one process' "$OUT"
check "issue: no warning" "" "$ERR"

migrate_ok internal 'cache:
  type: internal
  options:
    cache_size: 5000
default_zone:
  strict_testing: true
  timeout: 2.5'
check "internal: memory cache of cache_size" 'backend = "memory";
max_entries = 5000;' "$(conf_lines internal 'backend|max_entries')"
check "internal: defaults of the old daemon (127.0.0.1:8461, 20 s)" \
	'shutdown_timeout = "20s";
listen = ( "127.0.0.1:8461" );' "$(conf_lines internal 'listen|shutdown')"
check "internal: default zone strict, 2.5 s" \
	'{ name = "postfix"; strict_testing = true; timeout = "2500ms"; require_sni = true; tlsrpt = false; dane = true; }' \
	"$(conf_lines internal 'name =')"

migrate_ok sqlite 'path: "/run/mta-sts.sock"
mode: 0666
cache:
  type: sqlite
  options:
    filename: "/var/lib/mta-sts/cache.db"
    threads: 4'
check "sqlite: unix socket listener with the octal mode" \
	'listen = ( { path = "/run/mta-sts.sock"; mode = "0666"; } );' "$(conf_lines sqlite listen)"
check "sqlite: memory cache (kept in the state database)" 'backend = "memory";' \
	"$(conf_lines sqlite backend)"
check_match "sqlite: the old file named in a comment" \
	'#   cache.options.filename \(line 6\): /var/lib/mta-sts/cache.db: not read by mtastsd' "$OUT"

migrate_ok zones 'port: 9461
cache_grace: 120
proactive_policy_fetching:
  enabled: true
  interval: 3600
  concurrency_limit: 8
default_zone:
  require_sni: false
zones:
  postfix:
    strict_testing: yes
    tlsrpt: true
  nosni:
    require_sni: no
    timeout: 7
  "bad.name":
    timeout: 1'
check "zones: every zone, default_zone under a name no zone has" \
	'{ name = "default"; strict_testing = false; timeout = "4s"; require_sni = false; tlsrpt = false; dane = true; },
{ name = "postfix"; strict_testing = true; timeout = "4s"; require_sni = true; tlsrpt = true; dane = true; },
{ name = "nosni"; strict_testing = false; timeout = "7s"; require_sni = false; tlsrpt = false; dane = true; }
default_zone = "default";' "$(conf_lines zones 'name =|default_zone')"
check "zones: cache_grace and concurrency_limit carried" 'recheck_interval = "120s";
refresh_concurrency = 8;' "$(conf_lines zones 'recheck|refresh_conc')"
check_match "zones: an invalid zone name is a warning" \
	"zones.yml:16: zone name 'bad.name' is not valid in mtastsd" "$ERR"
check_match "zones: interval is a comment" '#   proactive_policy_fetching.interval \(line 5\): no counterpart' "$OUT"

migrate_ok unixredis 'cache:
  type: redis
  options:
    url: "unix://:s3cr%22t@/run/redis/redis.sock?db=2"
    socket_timeout: 0.5
    max_connections: 25'
check "unixredis: unix socket, db and password from the URL" 'address = "unix:/run/redis/redis.sock";
db = 2;
password = "s3cr\"t";
command_timeout = "500ms";' "$(conf_lines unixredis 'address|db =|password|command_timeout')"

migrate_ok password 'cache:
  type: redis
  options:
    address: "redis://10.0.0.5:6380"
    db: 3
    password: "pw"'
check "password: options db and password" 'address = "10.0.0.5:6380";
db = 3;
password = "pw";' "$(conf_lines password 'address|db =|password')"

migrate_ok unknown 'host: 127.0.0.1
colour: blue
cache:
  type: internal
  flavour: 1
default_zone:
  strict: true'
check "unknown: each unknown key a warning on stderr" \
	"mtastsd: migrate: warning: $T/unknown.yml:2: unknown key 'colour' (postfix-mta-sts-resolver does not read it): not carried over
mtastsd: migrate: warning: $T/unknown.yml:7: unknown key 'default_zone.strict' (postfix-mta-sts-resolver does not read it): not carried over
mtastsd: migrate: warning: $T/unknown.yml:5: unknown key 'cache.flavour' (postfix-mta-sts-resolver does not read it): not carried over" "$ERR"
check "unknown: and a comment in the output" '#   colour (line 2)
#   default_zone.strict (line 7)
#   cache.flavour (line 5)' "$(grep -E '^#   [a-z_.]+ \(line [0-9]+\)$' "$T/unknown.conf")"

printf 'host: 127.0.0.1\nport: [8461\nzones:\n  a: 1\n' >"$T/broken.yml"
run "$MTASTSD" migrate resolver "$T/broken.yml"
check "broken YAML: exit 1" 1 "$RC"
check "broken YAML: FILE:LINE:COLUMN and libyaml's reason" \
	"mtastsd: migrate: $T/broken.yml:3:6: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence (which starts at 2:7)" "$ERR"
check "broken YAML: nothing on stdout" "" "$OUT"
# 80 000 nested '[': libyaml's scanner took 31 s on it (quadratic in the depth); refused
# before libyaml reads it. 64 levels in quotes and a comment are not counted.
python3 -c "print('zones:\n  a: ' + '[' * 80000 + ']' * 80000)" >"$T/deep.yml"
run "$MTASTSD" migrate resolver "$T/deep.yml"
check "deep flow nesting: exit 1, says why" "1 mtastsd: migrate: $T/deep.yml:2: flow collections ([ ] or { }) nested deeper than 64 levels: not a postfix-mta-sts-resolver configuration" "$RC $ERR"
python3 -c "print('host: \'' + '[' * 70 + '\'  # ' + '{' * 70 + '\nport: 8461')" >"$T/quoted.yml"
run "$MTASTSD" migrate resolver "$T/quoted.yml"
check_match "brackets in a quoted scalar or a comment are not nesting" '^1 .*host .* is not an IP address' \
	"$RC $ERR"
printf 'host: mail.example\n' >"$T/name.yml"
run "$MTASTSD" migrate resolver "$T/name.yml"
check "host name: exit 1, says why" "1 mtastsd: migrate: $T/name.yml:1: host 'mail.example' is not an IP address: mtastsd listens on literal addresses; write the address Postfix connects to (smtp_tls_policy_maps)" "$RC $ERR"
run "$MTASTSD" migrate resolver "$T/nonexistent.yml"
check "missing file: exit 1" "1 mtastsd: migrate: $T/nonexistent.yml: cannot read: No such file or directory" "$RC $ERR"
run "$MTASTSD" -c /nonexistent/mtastsd.conf migrate resolver "$T/issue.yml"
check "migrate reads no mtastsd.conf (-c of a missing file is fine)" 0 "$RC"
run "$MTASTSD" migrate sideways
check "unknown migration: usage error" 2 "$RC"

# migrate publisher: the policy file as nginx served it (CRLF, a comment line).
printf 'version: STSv1\r\nmode: enforce\r\nmx: mail.enforce.test\r\nmx: *.mx.enforce.test\r\nmx: backup.enforce.test\r\nmax_age: 604800\r\n' \
	>"$T/enforce.txt"
printf '# testing first\nversion: STSv1\nmode: testing\nmx: mail.testing.test\nmax_age: 86400\n' \
	>"$T/testing.txt"
printf 'version: STSv1\nmode: none\nmax_age: 86400\n' >"$T/none.txt"
printf 'version: STSv1\nmode: enforce\nmx: mail.bad.test:25\nmax_age: 86400\n' >"$T/bad.txt"
run "$MTASTSD" migrate publisher bad.test "$T/bad.txt"
check "publisher: a bad policy gives the parser's message, exit 1" \
	"1 mtastsd: migrate: $T/bad.txt:3: mx pattern 'mail.bad.test:25': invalid character in domain name" "$RC $ERR"
run "$MTASTSD" migrate publisher enforce.test "$T/enforce.txt"
check "publisher: certbot's live/ paths by default" \
	'cert = "/etc/letsencrypt/live/mta-sts.enforce.test/fullchain.pem";
key = "/etc/letsencrypt/live/mta-sts.enforce.test/privkey.pem";' \
	"$(printf '%s\n' "$OUT" | grep -E '^\s+(cert|key) =' | sed 's/^[[:space:]]*//')"
check "publisher: mode, max_age, mx in order" 'mode = "enforce";
max_age = 604800;
mx = [ "mail.enforce.test", "*.mx.enforce.test", "backup.enforce.test" ];' \
	"$(printf '%s\n' "$OUT" | grep -E '^\s+(mode|max_age|mx) =' | sed 's/^[[:space:]]*//')"
check_match "publisher: says the id changes and why that is harmless" \
	'A new id is harmless: a sender' "$OUT"

# ---- 2. the lab ---------------------------------------------------------------------------
if ! have_cmd "equivalence lab" mta-sts-daemon dnsmasq ip postmap redis-server redis-cli curl certtool ||
	! have_root "equivalence lab (ip netns)"; then
	finish
fi
make_ca
make_cert www mta-sts.enforce.test mta-sts.testing.test mta-sts.none.test
entries=""
for d in enforce testing none; do
	"$MTASTSD" migrate publisher "$d.test" "$T/$d.txt" "$T/www.fullchain.pem" "$T/www.key" \
		>"$T/pub-$d.out"
	entries+=$(sed -n '/^\t\t{$/,/^\t\t}$/p' "$T/pub-$d.out"),$'\n'
done
cat >"$T/pub.conf" <<EOC
process = { allow_root = true; state_directory = ""; };
resolver = { enabled = false; };
admin = { enabled = false; };
publisher = {
	listen = ( "127.0.0.1:443" );
	http_listen = ( );
	domains = (
${entries%,$'\n'}
	);
};
EOC
check "publisher: the three entries make a valid config" \
	"mtastsd: configuration $T/pub.conf is valid" "$("$MTASTSD" -n -c "$T/pub.conf" 2>&1)"
"$MTASTSD" -c "$T/pub.conf" dns-records >"$T/dns.txt"
for d in enforce testing none; do
	check "publisher $d: the TXT record printed is dns-records'" \
		"$(grep "^_mta-sts.$d.test. " "$T/dns.txt")" \
		"$(sed -n 's/^#   \(_mta-sts\.\)/\1/p' "$T/pub-$d.out")"
done

netns_setup "mtastsd-mig-$$"
dns_args=()
for d in enforce testing none; do
	txt=$(sed -n "s/^_mta-sts\.$d\.test\. 3600 IN TXT \"\(.*\)\"\$/\1/p" "$T/dns.txt")
	dns_args+=("--txt-record=_mta-sts.$d.test,$txt" "--address=/mta-sts.$d.test/127.0.0.1")
done
start_bg dnsmasq ip netns exec "$LIB_NETNS" dnsmasq --keep-in-foreground --no-resolv \
	--no-hosts --conf-file=/dev/null --listen-address=127.0.0.1 --bind-interfaces --port=53 \
	--user=root --pid-file= --local=/test/ "${dns_args[@]}"
start_bg pub ip netns exec "$LIB_NETNS" "$MTASTSD" -f -c "$T/pub.conf"
start_bg redis ip netns exec "$LIB_NETNS" redis-server --port 6379 --bind 127.0.0.1 --save '' \
	--appendonly no --dir "$T"
start_bg redisunix ip netns exec "$LIB_NETNS" redis-server --port 0 --unixsocket "$T/redis.sock" \
	--requirepass 'pw"x' --save '' --appendonly no --dir "$T"
wait_tcp_ns 443
wait_tcp_ns 6379
wait_for "$LIVE_S" test -S "$T/redis.sock" || die "no $T/redis.sock"

# Round trip: what the publisher serves parses to what the old file said.
policy_fields() {
	python3 -c '
import sys
mode = max_age = None
mx = []
for line in sys.stdin.read().splitlines():
    k, _, v = line.partition(":")
    v = v.strip()
    if k == "mode": mode = v
    elif k == "max_age": max_age = int(v)
    elif k == "mx": mx.append(v)
print(mode, max_age, " ".join(mx))'
}
for d in enforce testing none; do
	body=$(netns_exec curl -sS --max-time "$LIVE_S" --cacert "$T/ca.pem" \
		"https://mta-sts.$d.test/.well-known/mta-sts.txt")
	check "round trip $d: mode, max_age, mx in order" "$(policy_fields <"$T/$d.txt")" \
		"$(printf '%s' "$body" | policy_fields)"
done

# norm: a postmap result with the match= list sorted (the old daemon builds it from a set).
norm() {
	python3 -c '
import sys
out = []
for w in sys.stdin.read().split():
    if w.startswith("match="):
        w = "match=" + ":".join(sorted(w[6:].split(":")))
    out.append(w)
print(" ".join(out))'
}
# lookups FILE ZONE...: for each zone and domain, "zone domain rc reply" into FILE.
lookups() {
	local file=$1 z d rc out
	shift
	: >"$file"
	for z in "$@"; do
		for d in enforce.test testing.test none.test nopolicy.test; do
			rc=0
			out=$(netns_exec timeout "$LIVE_S" postmap -q "$d" \
				"socketmap:inet:127.0.0.1:8461:$z" 2>"$T/pm.err") || rc=$?
			printf '%s %s rc=%s %s %s\n' "$z" "$d" "$rc" "$(printf '%s' "$out" | norm)" \
				"$(cat "$T/pm.err")" >>"$file"
		done
	done
}
# old NAME YAMLFILE: run mta-sts-daemon with YAMLFILE until stop_bg NAME.
old_start() {
	start_bg "$1" ip netns exec "$LIB_NETNS" env SSL_CERT_FILE="$T/ca.pem" mta-sts-daemon \
		-v warn -c "$2"
	wait_tcp_ns 8461
}
# new NAME CONF: mtastsd with CONF plus the lab's CA and root permission.
new_start() {
	sed -e "s|^process = {|process = {\n\tallow_root = true; state_directory = \"$T/$1.state\";|" \
		-e "s|^resolver = {|resolver = {\n\tca_file = \"$T/ca.pem\";|" "$2" >"$T/$1.conf"
	start_bg "$1" ip netns exec "$LIB_NETNS" "$MTASTSD" -f -c "$T/$1.conf"
	wait_tcp_ns 8461
}

# Several zones, sqlite cache.
cat >"$T/zones-lab.yml" <<EOY
host: 127.0.0.1
port: 8461
shutdown_timeout: 1
cache:
  type: sqlite
  options:
    filename: "$T/old-cache.db"
default_zone:
  strict_testing: false
  timeout: 10
zones:
  myzone:
    timeout: 10
  strict:
    strict_testing: true
    timeout: 10
  nosni:
    require_sni: false
    timeout: 10
EOY
"$MTASTSD" migrate resolver "$T/zones-lab.yml" >"$T/zones-lab.mig"
old_start old1 "$T/zones-lab.yml"
lookups "$T/old1.txt" postfix myzone strict nosni
stop_bg old1
new_start new1 "$T/zones-lab.mig"
lookups "$T/new1.txt" postfix myzone strict nosni
stop_bg new1
check "several zones: mta-sts-daemon and mtastsd give Postfix the same replies" \
	"$(cat "$T/old1.txt")" "$(cat "$T/new1.txt")"
check "several zones: the replies are the expected ones" \
	"rc=0 secure match=.mx.enforce.test:backup.enforce.test:mail.enforce.test servername=hostname" \
	"$(grep '^myzone enforce.test ' "$T/new1.txt" | cut -d' ' -f3-6)"
check "several zones: strict answers testing, nosni has no servername" \
	"strict testing.test rc=0 secure match=mail.testing.test servername=hostname
nosni enforce.test rc=0 secure match=.mx.enforce.test:backup.enforce.test:mail.enforce.test" \
	"$(grep -E '^(strict testing|nosni enforce)' "$T/new1.txt" | sed 's/ *$//')"

# The issue's YAML (Redis database 1): the old daemon with its internal cache (see above).
printf '%s\n' "$ISSUE_YML" >"$T/issue-lab.yml"
"$MTASTSD" migrate resolver "$T/issue-lab.yml" >"$T/issue-lab.mig"
sed 's/type: redis/type: internal/; /options:/d; /address:/d; /db: 1/d' "$T/issue-lab.yml" \
	>"$T/issue-old.yml"
old_start old2 "$T/issue-old.yml"
lookups "$T/old2.txt" postfix myzone
stop_bg old2
new_start new2 "$T/issue-lab.mig"
lookups "$T/new2.txt" postfix myzone
check "issue YAML: the same replies" "$(cat "$T/old2.txt")" "$(cat "$T/new2.txt")"
check "issue YAML: mtastsd's policies in Redis database 1, under its prefix" \
	"mtastsd:v1:sts:enforce.test" \
	"$(netns_exec redis-cli -n 1 --scan --pattern 'mtastsd:v1:sts:enforce.*')"
stop_bg new2

# Redis on a unix socket with a password, database 2.
printf 'cache:\n  type: redis\n  options:\n    url: "unix://:pw%%22x@%s?db=2"\n' "$T/redis.sock" \
	>"$T/unix-lab.yml"
"$MTASTSD" migrate resolver "$T/unix-lab.yml" >"$T/unix-lab.mig"
new_start new3 "$T/unix-lab.mig"
lookups "$T/new3.txt" postfix
check "unix socket Redis: the same replies as before" "$(grep '^postfix ' "$T/new1.txt")" \
	"$(cat "$T/new3.txt")"
check "unix socket Redis: the policy in database 2, behind the password" \
	"mtastsd:v1:sts:enforce.test" \
	"$(redis-cli -s "$T/redis.sock" -a 'pw"x' --no-auth-warning -n 2 --scan --pattern 'mtastsd:v1:sts:enforce.*')"
stop_bg new3
check "no sanitizer report" 0 "$(cat "$T"/new*.log "$T/pub.log" | grep -c Sanitizer || true)"

finish
