#!/usr/bin/env bash
# bench/run.sh - one command: build the lab, run mtastsd and its peers side by side, print
# the comparison table (issue 8; docs/performance.md explains the figures).
#
#   bash bench/run.sh [--quick] [--rounds R] [--domains N] [--duration S] [--keep]
#                     [--out FILE] [--no-install] [--only resolver|publisher]
#
# Lab: a network namespace of its own (mtastsd-bench, loopback only) with dnsmasq on
# 127.0.0.1:53 (N generated domains: enforce, testing, none, no policy, broken), a test CA
# (certtool), nginx on 127.0.0.1:443 as the HTTPS policy hosts, and redis-server on
# 127.0.0.1:6379. Servers measured, all in the namespace:
#   mtastsd        resolver 127.0.0.1:8461 (memory cache), publisher 127.0.0.2:443
#   mtastsd-redis  resolver 127.0.0.1:8465 (Redis cache tier)
#   peer           postfix-mta-sts-resolver 127.0.0.1:8462 (internal cache)
#   peer-redis     postfix-mta-sts-resolver 127.0.0.1:8464 (Redis cache)
#   trivial        bench/sm_trivial 127.0.0.1:8463 (fixed reply: the machine's ceiling)
#   nginx-pub      nginx 127.0.0.3:443 serving the publisher's policy files (publisher peer)
#   gnutls-pub     gnutls-serv 127.0.0.4:8443 on the same certificate (the TLS library's floor:
#                  handshakes only, its --http page closes every connection)
# Every load is bounded in count and time; a watchdog ends the whole run; a trap stops the
# processes this script started (by PID) and deletes the namespace.
set -eu
set -o pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NS=mtastsd-bench
QUICK=0
ROUNDS=2
DOMAINS=1000
DURATION=5
KEEP=0
OUT=
INSTALL=1
ONLY=
BUILD=${BUILD_DIR:-$SRC/build-bench}
MTASTSD=${MTASTSD:-}

usage() {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=$2; shift ;;
	--domains) DOMAINS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--keep) KEEP=1 ;;
	--out) OUT=$2; shift ;;
	--no-install) INSTALL=0 ;;
	--only) ONLY=$2; shift ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	ROUNDS=1
	DOMAINS=200
	DURATION=2
fi
case $ROUNDS in [1-9]) ;; *) echo "--rounds: 1..9" >&2; exit 2 ;; esac
case $DURATION in [1-9] | [1-5][0-9] | 60) ;; *) echo "--duration: 1..60 s" >&2; exit 2 ;; esac
if ! [ "$DOMAINS" -ge 40 ] 2>/dev/null || [ "$DOMAINS" -gt 20000 ]; then
	echo "--domains: 40..20000" >&2
	exit 2
fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: needs root (network namespace, port 443)" >&2; exit 1; }

# Bounds: the whole run, a cold run, a server start, one handshake measurement.
if [ "$QUICK" = 1 ]; then TOTAL_MAX=270; else TOTAL_MAX=$((390 + 270 * (ROUNDS - 1))); fi
COLD_MAX=30
[ "$QUICK" = 1 ] && COLD_MAX=15
START_MAX=20
HOT_KEYS=16
NEG_KEYS=1000
COUNT_MAX=5000000

# Watchdog: the whole run is bounded; on expiry the script gets SIGTERM and cleans up.
if [ -z "${MTASTSD_BENCH_CHILD:-}" ]; then
	export MTASTSD_BENCH_CHILD=1
	exec timeout --foreground -k 60 "$TOTAL_MAX" bash "$0" "${ARGS[@]}"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/mtastsd-bench.XXXXXX")
chmod 755 "$T"
: >"$T/pids"
: >"$T/results.tsv"
say() { printf '%s\n' "$*" >&2; }
note() { printf '%s\n' "$*" >>"$T/notes.txt"; say "note: $*"; }

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	if [ -s "$T/pids" ]; then
		while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$T/pids"
		sleep 0.3
		while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$T/pids"
	fi
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/etc/netns/$NS"
	if [ "$KEEP" = 1 ] || [ "$rc" -ne 0 ]; then
		say "bench: lab files and logs kept in $T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say "bench: interrupted (or over ${TOTAL_MAX}s)"; exit 130' INT TERM

# ---------------------------------------------------------------------------- packages
if [ "$INSTALL" = 1 ]; then
	missing=
	for p in $(grep -hv '^#' "$SRC/tests/deps-debian.txt" "$SRC/bench/deps-debian.txt"); do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		say "bench: installing$missing"
		apt-get update -qq >/dev/null
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
	fi
fi
# Debian starts nginx and redis on install; this lab runs its own instances only.

# ---------------------------------------------------------------------------- build
say "bench: building in $BUILD"
mkdir -p "$BUILD"
if cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMTASTSD_TESTS=OFF \
	-DMTASTSD_BENCH=ON >"$T/cmake.log" 2>&1 &&
	cmake --build "$BUILD" -j2 --target smload sm_trivial >>"$T/cmake.log" 2>&1; then
	SMLOAD=$BUILD/bench/smload
	TRIVIAL=$BUILD/bench/sm_trivial
else
	# The bench programs need libc only: build them directly when the tree does not.
	mkdir -p "$T/bin"
	cc -O2 -std=c11 -D_GNU_SOURCE -o "$T/bin/smload" "$SRC/bench/smload.c"
	cc -O2 -std=c11 -D_GNU_SOURCE -o "$T/bin/sm_trivial" "$SRC/bench/sm_trivial.c"
	SMLOAD=$T/bin/smload
	TRIVIAL=$T/bin/sm_trivial
fi
CACHE_FILL=
if cmake --build "$BUILD" -j2 --target cache_fill >>"$T/cmake.log" 2>&1; then
	CACHE_FILL=$BUILD/bench/cache_fill
fi
if [ -z "$MTASTSD" ]; then
	if cmake --build "$BUILD" -j2 --target mtastsd >>"$T/cmake.log" 2>&1; then
		MTASTSD=$BUILD/daemon/mtastsd
	else
		note "mtastsd does not build at $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null): its columns are n/a (see $T/cmake.log)"
	fi
fi

# ---------------------------------------------------------------------------- namespace
exec 9>/run/lock/mtastsd-bench.lock
flock -n 9 || { say "bench: another bench/run.sh is running"; exit 1; }
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "/etc/netns/$NS"
echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"
nsx() { ip netns exec "$NS" "$@"; }

# start NAME CMD...: run CMD in the namespace in the background, log in $T/NAME.log.
start() {
	local name=$1
	shift
	ip netns exec "$NS" "$@" >>"$T/$name.log" 2>&1 9>&- &
	echo $! >>"$T/pids"
	echo $! >"$T/$name.pid"
}
stop() {
	local pid i
	[ -f "$T/$1.pid" ] || return 0
	pid=$(cat "$T/$1.pid")
	rm -f "$T/$1.pid"
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	sleep 0.1
}
alive() { [ -f "$T/$1.pid" ] && kill -0 "$(cat "$T/$1.pid")" 2>/dev/null; }
# wait_port HOST PORT NAME: until a TCP connect in the namespace succeeds.
wait_port() {
	local i
	for i in $(seq 1 $((START_MAX * 10))); do
		if nsx bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then
			return 0
		fi
		alive "$3" || break
		sleep 0.1
	done
	say "bench: $3 does not listen on $1:$2; last lines of its log:"
	tail -n 15 "$T/$3.log" >&2 || true
	return 1
}

# ---------------------------------------------------------------------------- lab data
say "bench: generating $DOMAINS domains, CA and certificates in $T"
certtool --generate-privkey --key-type=ecdsa --outfile "$T/ca.key" 2>/dev/null
printf 'cn = "mtastsd bench CA"\nca\ncert_signing_key\nexpiration_days = 30\n' >"$T/ca.tmpl"
certtool --generate-self-signed --load-privkey "$T/ca.key" --template "$T/ca.tmpl" \
	--outfile "$T/ca.pem" 2>/dev/null
# cert NAME DNSNAME...: ECDSA P-256 key and certificate signed by the CA (leaf + CA chain).
cert() {
	local name=$1 n
	shift
	certtool --generate-privkey --key-type=ecdsa --outfile "$T/$name.key" 2>/dev/null
	{
		echo "cn = \"$1\""
		for n in "$@"; do echo "dns_name = \"$n\""; done
		printf 'tls_www_server\nsigning_key\nencryption_key\nexpiration_days = 30\n'
	} >"$T/$name.tmpl"
	certtool --generate-certificate --load-privkey "$T/$name.key" --load-ca-certificate \
		"$T/ca.pem" --load-ca-privkey "$T/ca.key" --template "$T/$name.tmpl" \
		--outfile "$T/$name.pem" 2>/dev/null
	cat "$T/$name.pem" "$T/ca.pem" >"$T/$name.fullchain.pem"
}
# policy FILE MODE DOMAIN
policy() {
	printf 'version: STSv1\r\nmode: %s\r\nmx: mail.%s\r\nmx: *.mx.%s\r\nmax_age: 604800\r\n' \
		"$2" "$3" "$3" >"$1"
}

# Kinds by i % 20: 0-7 enforce, 8-9 testing, 10-11 none, 12-15 no policy (no TXT),
# 16-17 broken (404), 18 broken (policy syntax), 19 broken (certificate name mismatch).
mkdir -p "$T/www"
{
	echo "port=53"
	echo "listen-address=127.0.0.1"
	echo "bind-interfaces"
	echo "no-resolv"
	echo "no-hosts"
	echo "local=/bench.test/"
	echo "cache-size=0"
} >"$T/dnsmasq.conf"
: >"$T/cold.keys"
: >"$T/hot.keys"
chunk=0
names=()
nginx_servers=
flush_chunk() {
	[ ${#names[@]} -gt 0 ] || return 0
	cert "chunk$chunk" "${names[@]}"
	nginx_servers="$nginx_servers
	server {
		listen 127.0.0.1:443 ssl;
		server_name ${names[*]};
		ssl_certificate $T/chunk$chunk.fullchain.pem;
		ssl_certificate_key $T/chunk$chunk.key;
		root $T/www/\$host;
	}"
	chunk=$((chunk + 1))
	names=()
}
for i in $(seq 0 $((DOMAINS - 1))); do
	d=d$i.bench.test
	k=$((i % 20))
	echo "$d" >>"$T/cold.keys"
	[ $k -ge 12 ] && [ $k -le 15 ] && continue
	echo "txt-record=_mta-sts.$d,\"v=STSv1; id=bench$i\""
	echo "host-record=mta-sts.$d,127.0.0.1"
	mkdir -p "$T/www/mta-sts.$d/.well-known"
	f=$T/www/mta-sts.$d/.well-known/mta-sts.txt
	if [ $k -le 7 ]; then
		policy "$f" enforce "$d"
		[ "$(wc -l <"$T/hot.keys")" -lt $HOT_KEYS ] && echo "$d" >>"$T/hot.keys"
	elif [ $k -le 9 ]; then
		policy "$f" testing "$d"
	elif [ $k -le 11 ]; then
		policy "$f" none "$d"
	elif [ $k -le 17 ]; then
		rm -f "$f"
	elif [ $k = 18 ]; then
		printf 'version: STSv1\r\nmode: enforce-please\r\nmax_age: x\r\n' >"$f"
	fi
	if [ $k != 19 ]; then
		names+=("mta-sts.$d")
		[ ${#names[@]} -ge 50 ] && flush_chunk
	fi
done >>"$T/dnsmasq.conf"
flush_chunk
cert fallback fallback.bench.test
# Publisher domains: served by mtastsd's publisher and by nginx-pub, same policy, same cert.
PUB_DOMAINS="pub0.bench.test pub1.bench.test pub2.bench.test"
pub_servers=
pub_cfg=
for d in $PUB_DOMAINS; do
	cert "$d" "mta-sts.$d"
	mkdir -p "$T/www/mta-sts.$d/.well-known"
	policy "$T/www/mta-sts.$d/.well-known/mta-sts.txt" enforce "$d"
	ds=
	[ "$d" = pub0.bench.test ] && ds=" default_server"
	pub_servers="$pub_servers
	server {
		listen 127.0.0.3:443 ssl$ds;
		server_name mta-sts.$d;
		ssl_certificate $T/$d.fullchain.pem;
		ssl_certificate_key $T/$d.key;
		root $T/www/\$host;
	}"
	pub_cfg="$pub_cfg${pub_cfg:+,}
		{ domain = \"$d\"; mode = \"enforce\"; max_age = 604800;
		  mx = [ \"mail.$d\", \"*.mx.$d\" ];
		  cert = \"$T/$d.fullchain.pem\"; key = \"$T/$d.key\"; }"
	echo "host-record=mta-sts.$d,127.0.0.1" >>"$T/dnsmasq.conf"
done
PUB_URL=https://mta-sts.pub0.bench.test/.well-known/mta-sts.txt

# nginx_conf NAME SERVERS: an nginx configuration as Debian ships it (worker_processes
# auto, keep-alive and TLS defaults), plus the server blocks.
nginx_conf() {
	mkdir -p "$T/$1"
	cat >"$T/$1.conf" <<EOF
user root;
worker_processes auto;
pid $T/$1.nginx.pid;
error_log $T/$1.error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	types { }
	default_type text/plain;
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_prefer_server_ciphers on;
	client_body_temp_path $T/$1/body;
	proxy_temp_path $T/$1/proxy;
	fastcgi_temp_path $T/$1/fastcgi;
	uwsgi_temp_path $T/$1/uwsgi;
	scgi_temp_path $T/$1/scgi;
$2
}
EOF
}
nginx_conf nginx-lab "
	server {
		listen 127.0.0.1:443 ssl default_server;
		server_name fallback.bench.test;
		ssl_certificate $T/fallback.fullchain.pem;
		ssl_certificate_key $T/fallback.key;
		return 404;
	}$nginx_servers
	server_names_hash_bucket_size 128;
	server_names_hash_max_size 65536;"
nginx_conf nginx-pub "$pub_servers"

# postfix-mta-sts-resolver: internal cache, and Redis cache.
peer_conf() {
	cat >"$T/$1.yml" <<EOF
host: 127.0.0.1
port: $2
reuse_port: true
shutdown_timeout: 3
cache:
$3
default_zone:
  strict_testing: false
  timeout: 4
EOF
}
# The peer's Redis cache calls aioredis.from_url() (aioredis 2.x); Debian 12 has aioredis
# 1.3.1, without it. aioredis 2 became redis-py's redis.asyncio (python3-redis 4.3): a
# two-line module in the lab directory, on the peer's PYTHONPATH only, never in the system.
PEER_PYTHONPATH=
if ! /usr/bin/python3 -c 'import aioredis; aioredis.from_url' 2>/dev/null &&
	/usr/bin/python3 -c 'import redis.asyncio; redis.asyncio.from_url' 2>/dev/null; then
	mkdir -p "$T/pyshim/aioredis"
	cat >"$T/pyshim/aioredis/__init__.py" <<'EOF'
from redis.asyncio import *  # noqa: F401,F403 -- aioredis 2.x API (bench/run.sh)
from redis.asyncio import Redis, from_url  # noqa: F401
EOF
	PEER_PYTHONPATH=$T/pyshim
fi
peer_conf peer 8462 "  type: internal
  options:
    cache_size: 10000"
peer_conf peer-redis 8464 "  type: redis
  options:
    url: redis://127.0.0.1:6379/0
    max_connections: 25
    socket_timeout: 5
    socket_connect_timeout: 5"

# mtastsd: resolver with the memory cache and the publisher; a second instance with Redis.
mtastsd_conf() {
	mkdir -p "$T/$1.state"
	cat >"$T/$1.conf" <<EOF
process = { allow_root = true; verbosity = 0; state_directory = "$T/$1.state"; };
resolver = {
	listen = [ "127.0.0.1:$2" ];
	dns_servers = [ "127.0.0.1" ];
	ca_file = "$T/ca.pem";
	zones = ( { name = "postfix"; } );
};
admin = { listen = "127.0.0.1:$3"; };
$4
EOF
}
mtastsd_conf mtastsd 8461 8471 "cache = { backend = \"memory\"; };
publisher = {
	listen = [ \"127.0.0.2:443\" ];
	http_listen = [ ];
	domains = ($pub_cfg
	);
};"
mtastsd_conf mtastsd-redis 8465 8475 "cache = { backend = \"redis\"; redis = { address = \"127.0.0.1:6379\"; prefix = \"bench\"; }; };"

cat >"$T/wrk.lua" <<'EOF'
-- connect to WRK_ADDR while the URL's host name gives SNI and Host
local addr, port = os.getenv("WRK_ADDR"), os.getenv("WRK_PORT")
function setup(thread)
	thread.addr = wrk.lookup(addr, port)[1]
end
EOF

# ---------------------------------------------------------------------------- lab up
say "bench: starting the lab in namespace $NS"
start dnsmasq dnsmasq --keep-in-foreground --user=root --conf-file="$T/dnsmasq.conf" \
	--pid-file="$T/dnsmasq.pidfile"
start redis redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no \
	--protected-mode no --dir "$T"
start nginx-lab nginx -p "$T/nginx-lab" -c "$T/nginx-lab.conf" -g 'daemon off;'
wait_port 127.0.0.1 53 dnsmasq
wait_port 127.0.0.1 6379 redis
wait_port 127.0.0.1 443 nginx-lab
if ! nsx curl -sf --max-time 5 --cacert "$T/ca.pem" -o /dev/null \
	https://mta-sts.d0.bench.test/.well-known/mta-sts.txt; then
	say "bench: the lab does not serve d0.bench.test's policy"
	exit 1
fi

# Server table: name -> start command, socketmap port (empty: not a resolver).
MT_OK=0
if [ -n "$MTASTSD" ] && [ -x "$MTASTSD" ]; then
	if nsx "$MTASTSD" -n -c "$T/mtastsd.conf" >"$T/mtastsd-check.log" 2>&1; then
		MT_OK=1
	else
		note "mtastsd -n rejects the bench config: $(head -c 300 "$T/mtastsd-check.log")"
	fi
fi
MTR_OK=$MT_OK
if [ "$MT_OK" = 1 ] && ! nsx "$MTASTSD" -n -c "$T/mtastsd-redis.conf" >"$T/mtastsd-redis-check.log" 2>&1; then
	MTR_OK=0
	note "mtastsd -n rejects the Redis config: $(head -c 300 "$T/mtastsd-redis-check.log")"
fi

port_of() {
	case $1 in
	mtastsd) echo 8461 ;; peer) echo 8462 ;; trivial) echo 8463 ;;
	peer-redis) echo 8464 ;; mtastsd-redis) echo 8465 ;;
	esac
}
# up NAME: (re)start a server with an empty cache and wait until it answers.
up() {
	stop "$1"
	case $1 in
	mtastsd | mtastsd-redis)
		if [ "$1" = mtastsd ]; then
			[ "$MT_OK" = 1 ] || return 1
		else
			[ "$MTR_OK" = 1 ] || return 1
			nsx redis-cli -p 6379 FLUSHALL >/dev/null
		fi
		# An empty state directory of its own: the policies a previous run fetched are
		# loaded back at start (process.state_directory), and "cold" would not be cold.
		rm -rf "$T/$1.state"
		mkdir -p "$T/$1.state"
		start "$1" "$MTASTSD" -f -c "$T/$1.conf"
		;;
	peer | peer-redis)
		[ "$1" = peer ] || nsx redis-cli -p 6379 FLUSHALL >/dev/null
		start "$1" env SSL_CERT_FILE="$T/ca.pem" PYTHONPATH="$PEER_PYTHONPATH" \
			mta-sts-daemon -v warn -c "$T/$1.yml"
		;;
	trivial)
		start trivial "$TRIVIAL" -l 127.0.0.1:8463 -t "$TOTAL_MAX"
		;;
	gnutls-pub)
		# GnuTLS's own server on the publisher's certificate: the TLS library's floor
		# (one process, one thread; --http answers every GET with its own status page).
		start gnutls-pub gnutls-serv --http --port 8443 --x509certfile \
			"$T/pub0.bench.test.fullchain.pem" --x509keyfile "$T/pub0.bench.test.key"
		wait_port 127.0.0.4 8443 gnutls-pub
		return
		;;
	nginx-pub)
		start nginx-pub nginx -p "$T/nginx-pub" -c "$T/nginx-pub.conf" -g 'daemon off;'
		wait_port 127.0.0.3 443 nginx-pub
		return
		;;
	esac
	if ! wait_port 127.0.0.1 "$(port_of "$1")" "$1"; then
		note "$1 did not start: $(grep -v '^ *$' "$T/$1.log" | tail -n 1 | cut -c1-160)"
		stop "$1"
		return 1
	fi
	sleep 0.5
}

# record FIGURE SERVER ROUND VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$T/results.tsv"; }
# mem NAME: VmRSS and VmHWM (kB) of the server and its child processes (nginx workers).
mem() {
	local pid p rss=0 hwm=0 r h
	[ -f "$T/$1.pid" ] || return 0
	pid=$(cat "$T/$1.pid")
	for p in $pid $(pgrep -P "$pid" || true); do
		r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		h=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		rss=$((rss + ${r:-0}))
		hwm=$((hwm + ${h:-0}))
	done
	echo "$rss $hwm"
}
# memrec NAME STAGE ROUND
memrec() {
	local m
	m=$(mem "$1")
	[ -n "$m" ] || return 0
	record "mem.$2.rss_kb" "$1" "$3" "${m% *}"
	record "mem.$2.hwm_kb" "$1" "$3" "${m#* }"
}
# cpu NAME: CPU time (utime + stime, clock ticks) of the server and its child processes.
CLK_TCK=$(getconf CLK_TCK)
cpu() {
	local pid p t=0 v
	[ -f "$T/$1.pid" ] || { echo 0; return 0; }
	pid=$(cat "$T/$1.pid")
	for p in $pid $(pgrep -P "$pid" || true); do
		v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
# cpurec FIGURE NAME ROUND TICKS0 TICKS1 COUNT: CPU microseconds of the server per request
# (or handshake), from /proc (clock ticks, CLK_TCK per second).
cpurec() {
	[ "${6:-0}" -gt 0 ] 2>/dev/null || return 0
	record "$1.cpu_us" "$2" "$3" "$(awk -v a="$4" -v b="$5" -v n="$6" -v hz="$CLK_TCK" \
		'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / n }')"
}
# busy: the machine's busy clock ticks (all CPUs, /proc/stat: everything but idle and iowait).
busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# load NAME FIGURE ROUND SMLOAD-ARGS...: one smload run, its figures recorded. Cold runs also
# record the lab's CPU per reply (nginx serving the policies, dnsmasq) and how many cores the
# whole machine kept busy: what bounds a cold rate on this machine.
load() {
	local name=$1 fig=$2 round=$3 line kv c0 c1 l0 l1 b0 b1 t0 t1 n
	shift 3
	c0=$(cpu "$name")
	l0=$(($(cpu nginx-lab) + $(cpu dnsmasq)))
	b0=$(busy)
	t0=$(date +%s%N)
	line=$(nsx "$SMLOAD" -s "127.0.0.1:$(port_of "$name")" -o kv "$@" 2>>"$T/smload.err") ||
		line=
	t1=$(date +%s%N)
	b1=$(busy)
	l1=$(($(cpu nginx-lab) + $(cpu dnsmasq)))
	c1=$(cpu "$name")
	n=$(printf '%s\n' "$line" | tr ' ' '\n' | awk -F= '$1 == "replies" { print $2 }')
	if [ -n "$line" ]; then
		cpurec "$fig" "$name" "$round" "$c0" "$c1" "$n"
		case $fig in
		cold.*)
			cpurec "$fig.lab" "$name" "$round" "$l0" "$l1" "$n"
			record "$fig.busy_cores" "$name" "$round" "$(awk -v a="$b0" -v b="$b1" \
				-v t="$((t1 - t0))" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz / (t / 1e9) }')"
			;;
		esac
	fi
	printf '%s %s round=%s %s\n' "$name" "$fig" "$round" "$line" >>"$T/smload.log"
	[ -n "$line" ] || return 0
	for kv in $line; do
		case ${kv%%=*} in
		qps | p50_us | p99_us | max_us | elapsed_s | ok | notfound | temp | other | closed | timeout)
			record "$fig.${kv%%=*}" "$name" "$round" "${kv#*=}"
			;;
		esac
	done
}

RES_SERVERS="mtastsd peer mtastsd-redis peer-redis trivial"
# order ROUND LIST: the list as is in odd rounds, reversed in even rounds (alternation).
order() {
	if [ $(($1 % 2)) = 1 ]; then
		echo "$2"
	else
		echo "$2" | tr ' ' '\n' | tac | tr '\n' ' '
	fi
}

# ---------------------------------------------------------------------------- resolver
resolver_round() {
	local r=$1 s c
	for s in $(order "$r" "$RES_SERVERS"); do
		say "bench: round $r: resolver $s"
		# cold: N distinct domains, each needing DNS and HTTPS, fresh daemon per run
		if [ "$s" != trivial ]; then
			# c=1: one connection, one domain at a time (cold latency per lookup)
			for c in 1 8 64; do
				up "$s" || continue 2
				[ "$c" = 64 ] && memrec "$s" idle "$r"
				load "$s" "cold.c$c" "$r" -k "$T/cold.keys" -n "$DOMAINS" -c "$c" \
					-d "$COLD_MAX" -t 30000
			done
			memrec "$s" cold "$r"
		else
			up "$s" || continue
			memrec "$s" idle "$r"
		fi
		# hot: a small set of cached domains, after one pass and a warm-up
		load "$s" warm "$r" -k "$T/hot.keys" -n $HOT_KEYS -c 1 -d 20 -t 20000
		nsx "$SMLOAD" -s "127.0.0.1:$(port_of "$s")" -k "$T/hot.keys" -c 8 -n $COUNT_MAX \
			-d 1 -o kv >/dev/null 2>&1 || true
		for c in 8 64; do
			load "$s" "hot.c$c" "$r" -k "$T/hot.keys" -n $COUNT_MAX -c "$c" -d "$DURATION"
		done
		memrec "$s" hot "$r"
		# negative: domains without a policy (no _mta-sts record), after one pass
		nsx "$SMLOAD" -s "127.0.0.1:$(port_of "$s")" -g 'neg%d.bench.test' -N $NEG_KEYS \
			-n $NEG_KEYS -c 16 -d 20 -o kv >/dev/null 2>&1 || true
		for c in 8 64; do
			load "$s" "neg.c$c" "$r" -g 'neg%d.bench.test' -N $NEG_KEYS -r -n $COUNT_MAX \
				-c "$c" -d "$DURATION"
		done
		[ "$s" = mtastsd ] || stop "$s"
	done
}

# ---------------------------------------------------------------------------- publisher
# pub_port NAME: the publisher's HTTPS port (gnutls-serv cannot bind one address: not 443).
pub_port() { if [ "$1" = gnutls-pub ]; then echo 8443; else echo 443; fi; }
# wrk_run NAME ADDR CONNS ROUND
wrk_run() {
	local out rps th=1 c0 c1
	[ "$3" -gt 1 ] && th=2
	c0=$(cpu "$1")
	out=$(WRK_ADDR=$2 WRK_PORT=$(pub_port "$1") timeout $((DURATION + 10)) \
		ip netns exec "$NS" wrk -t"$th" -c"$3" -d"${DURATION}s" -s "$T/wrk.lua" "$PUB_URL" \
		2>&1) || true
	c1=$(cpu "$1")
	printf '%s c=%s round=%s\n%s\n' "$1" "$3" "$4" "$out" >>"$T/wrk.log"
	rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
	[ -n "$rps" ] && record "pub.keepalive.c$3.rps" "$1" "$4" "$rps"
	cpurec "pub.keepalive.c$3" "$1" "$4" "$c0" "$c1" \
		"$(printf '%s\n' "$out" | awk '/requests in/ { print $1; exit }')"
	if printf '%s\n' "$out" | grep -q 'Non-2xx'; then
		note "$1: wrk saw non-2xx replies at c=$3 (see $T/wrk.log)"
	fi
	return 0
}
# stime_run NAME ADDR MODE(new|reuse) PARALLEL ROUND: handshakes/s summed over PARALLEL
# openssl s_time clients (s_time sends no SNI: each server's default certificate answers).
stime_run() {
	local i total=0 n jobs=() c0 c1 conns=0
	c0=$(cpu "$1")
	for i in $(seq 1 "$4"); do
		timeout $((DURATION + 10)) ip netns exec "$NS" openssl s_time -connect "$2:$(pub_port "$1")" \
			"-$3" -time "$DURATION" -www /.well-known/mta-sts.txt \
			>"$T/stime.$i.out" 2>&1 &
		jobs+=($!)
	done
	for i in "${jobs[@]}"; do wait "$i" || true; done
	c1=$(cpu "$1")
	for i in $(seq 1 "$4"); do
		grep -v '^[*r]*$' "$T/stime.$i.out" >>"$T/stime.log" || true
		# s_time prints whole "real seconds"; it runs for -time seconds, so divide by that
		n=$(awk -v d="$DURATION" '/connections in [0-9.]+ real seconds/ {printf "%.0f", $1 / d}' \
			"$T/stime.$i.out" | tail -n 1)
		total=$((total + ${n:-0}))
		n=$(awk '/connections in [0-9.]+ real seconds/ { print $1 }' "$T/stime.$i.out" | tail -n 1)
		conns=$((conns + ${n:-0}))
	done
	record "pub.hs_$3.p$4.per_s" "$1" "$5" "$total"
	cpurec "pub.hs_$3.p$4" "$1" "$5" "$c0" "$c1" "$conns"
}

publisher_round() {
	local r=$1 s addr c
	for s in $(order "$r" "mtastsd nginx-pub gnutls-pub"); do
		say "bench: round $r: publisher $s"
		case $s in
		mtastsd) addr=127.0.0.2 ;;
		nginx-pub) addr=127.0.0.3 ;;
		*) addr=127.0.0.4 ;;
		esac
		alive "$s" || up "$s" || continue
		if ! nsx curl -sf --max-time 5 --cacert "$T/ca.pem" --resolve \
			"mta-sts.pub0.bench.test:$(pub_port "$s"):$addr" -o "$T/pub.$s.txt" \
			"https://mta-sts.pub0.bench.test:$(pub_port "$s")/.well-known/mta-sts.txt"; then
			note "$s does not serve $PUB_URL at $addr; publisher figures n/a"
			continue
		fi
		# gnutls-serv --http answers HTTP/1.0 and closes: handshakes only, no keep-alive
		for c in 1 16 64; do
			[ "$s" = gnutls-pub ] || wrk_run "$s" "$addr" "$c" "$r"
		done
		stime_run "$s" "$addr" new 1 "$r"
		stime_run "$s" "$addr" new 4 "$r"
		stime_run "$s" "$addr" reuse 1 "$r"
		memrec "$s" pub "$r"
	done
}

# ---------------------------------------------------------------------------- run
up trivial || true
memrec trivial idle 0
up nginx-pub && memrec nginx-pub idle 0
T0=$(date +%s)
T1=
trap 'say "bench: stopped (interrupt or over ${TOTAL_MAX}s): partial table"; note "run stopped early: partial results"; T1=$(date +%s); print_table; exit 130' INT TERM
for r in $(seq 1 "$ROUNDS"); do
	[ "$ONLY" = publisher ] || resolver_round "$r"
	[ "$ONLY" = resolver ] || publisher_round "$r"
done
# RSS of the memory cache with 100 000 policies (bench/cache_fill, the cache code alone);
# the table adds mtastsd's idle RSS for the daemon's figure.
if [ -n "$CACHE_FILL" ] && [ "$ONLY" != publisher ]; then
	line=$(timeout 120 "$CACHE_FILL" -n 100000 -m 2 2>>"$T/smload.err") || line=
	for kv in $line; do
		case ${kv%%=*} in
		rss_growth_kb | bytes_per_entry) record "mem.cache100k.${kv%%=*}" mtastsd 0 "${kv#*=}" ;;
		esac
	done
fi
T1=$(date +%s)
trap 'say "bench: interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------------------- table
print_table() {
{
	echo "mtastsd bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')"
	echo "machine: $(nproc) cores, $(awk '/^model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(uname -r)"
	echo "settings: rounds=$ROUNDS domains=$DOMAINS duration=${DURATION}s quick=$QUICK; load took $((T1 - T0))s"
	echo "load average before/after: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "peers: postfix-mta-sts-resolver $(dpkg-query -W -f='${Version}' postfix-mta-sts-resolver 2>/dev/null), nginx $(dpkg-query -W -f='${Version}' nginx-light 2>/dev/null)"
} >"$T/header.txt"
/usr/bin/python3 - "$T/results.tsv" "$T/header.txt" "$T/notes.txt" >"$T/table.txt" <<'PY'
import collections, os, statistics, sys

res = collections.defaultdict(list)
for line in open(sys.argv[1]):
    fig, srv, rnd, val = line.rstrip("\n").split("\t")
    try:
        res[(fig, srv)].append(float(val))
    except ValueError:
        pass

def get(fig, srv):
    # Best of the rounds for rates (highest) and latencies (lowest): on a shared machine the
    # best round is the one least disturbed. Memory and reply counts: median.
    v = res.get((fig, srv))
    if not v:
        return None
    if fig.endswith(("qps", "rps", "per_s")):
        return max(v)
    if fig.endswith("_us"):
        return min(v)
    return statistics.median(v)

def fmt(v):
    if v is None:
        return "n/a"
    if v >= 100:
        return "%.0f" % v
    return "%.2f" % v

def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return "%.2f" % (a / b)

print(open(sys.argv[2]).read().rstrip())
print()
print("Socketmap resolver (best of rounds; q/s higher is better, latency in us lower is better)")
hdr = ("figure", "mtastsd", "peer", "mt/peer", "mtastsd+redis", "peer+redis", "mtr/pr",
       "trivial", "mt/trivial")
w = (20, 9, 9, 8, 13, 10, 7, 9, 10)
row = lambda cols: print("  ".join(str(c).rjust(n) if i else str(c).ljust(n)
                                   for i, (c, n) in enumerate(zip(cols, w))))
row(hdr)
for mode in ("hot", "neg", "cold"):
    for c in (1, 8, 64):
        for m in ("qps", "p50_us", "p99_us", "max_us", "cpu_us", "lab.cpu_us", "busy_cores"):
            f = "%s.c%d.%s" % (mode, c, m)
            mt, pe = get(f, "mtastsd"), get(f, "peer")
            mr, pr = get(f, "mtastsd-redis"), get(f, "peer-redis")
            tr = get(f, "trivial")
            if all(x is None for x in (mt, pe, mr, pr, tr)):
                continue
            row((f, fmt(mt), fmt(pe), ratio(mt, pe), fmt(mr), fmt(pr), ratio(mr, pr), fmt(tr),
                 ratio(mt, tr)))
print()
print("Cold ceiling: the rate this machine's %d cores could give if they did nothing but the "
      "server's and the lab's work per domain (cpu_us + lab.cpu_us; smload not counted)"
      % os.cpu_count())
for c in (8, 64):
    ceil = {}
    for s in ("mtastsd", "peer"):
        a, b = get("cold.c%d.cpu_us" % c, s), get("cold.c%d.lab.cpu_us" % c, s)
        ceil[s] = None if a is None or b is None else os.cpu_count() * 1e6 / (a + b)
    print("  cold.c%d: mtastsd %s q/s, peer %s q/s, ratio of ceilings %s (busy cores: %s / %s)"
          % (c, fmt(ceil["mtastsd"]), fmt(ceil["peer"]), ratio(ceil["mtastsd"], ceil["peer"]),
             fmt(get("cold.c%d.busy_cores" % c, "mtastsd")),
             fmt(get("cold.c%d.busy_cores" % c, "peer"))))
print()
print("Replies by type (median count per run): ok / notfound / temp / closed+timeout+other")
for mode in ("cold.c64", "hot.c8", "neg.c8"):
    parts = []
    for s in ("mtastsd", "peer", "mtastsd-redis", "peer-redis", "trivial"):
        vals = [get("%s.%s" % (mode, k), s) for k in ("ok", "notfound", "temp")]
        bad = sum(get("%s.%s" % (mode, k), s) or 0 for k in ("closed", "timeout", "other"))
        if all(v is None for v in vals):
            continue
        parts.append("%s %s/%s/%s/%s" % (s, *(fmt(v) for v in vals), fmt(bad)))
    if parts:
        print("  %-9s %s" % (mode, "; ".join(parts)))
print()
print("Publisher (best of rounds; mtastsd 127.0.0.2:443, nginx 127.0.0.3:443, gnutls-serv "
      "127.0.0.4:8443: GnuTLS's own one-thread server, the TLS library's floor; cpu: server "
      "CPU us per request or handshake)")
w = (32, 9, 9, 9, 11, 9)
row(("figure", "mtastsd", "nginx", "mt/nginx", "gnutls-serv", "mt/gnutls"))
for f, label in [("pub.keepalive.c1.rps", "keep-alive req/s c=1"),
                 ("pub.keepalive.c16.rps", "keep-alive req/s c=16"),
                 ("pub.keepalive.c64.rps", "keep-alive req/s c=64"),
                 ("pub.hs_new.p1.per_s", "full handshakes/s x1"),
                 ("pub.hs_new.p4.per_s", "full handshakes/s x4"),
                 ("pub.hs_reuse.p1.per_s", "resumed handshakes/s x1"),
                 ("pub.keepalive.c1.cpu_us", "cpu us per request c=1"),
                 ("pub.keepalive.c64.cpu_us", "cpu us per request c=64"),
                 ("pub.hs_new.p1.cpu_us", "cpu us per full handshake x1"),
                 ("pub.hs_new.p4.cpu_us", "cpu us per full handshake x4"),
                 ("pub.hs_reuse.p1.cpu_us", "cpu us per resumed handshake")]:
    mt, ng, gt = get(f, "mtastsd"), get(f, "nginx-pub"), get(f, "gnutls-pub")
    row((label, fmt(mt), fmt(ng), ratio(mt, ng), fmt(gt), ratio(mt, gt)))
print()
print("Memory, MiB (VmRSS / VmHWM; nginx counts master + workers; median of rounds)")
w = (12, 15, 15, 8, 15, 15, 15, 15)
row(("stage", "mtastsd", "peer", "mt/peer", "mtastsd+redis", "peer+redis", "trivial",
     "nginx-pub"))
for st in ("idle", "cold", "hot", "pub"):
    cells = []
    for s in ("mtastsd", "peer", None, "mtastsd-redis", "peer-redis", "trivial", "nginx-pub"):
        if s is None:
            continue
        r, h = get("mem.%s.rss_kb" % st, s), get("mem.%s.hwm_kb" % st, s)
        cells.append((r, h))
    if all(r is None for r, h in cells):
        continue
    f = lambda rh: "n/a" if rh[0] is None else "%.1f / %.1f" % (rh[0] / 1024, rh[1] / 1024)
    row((st, f(cells[0]), f(cells[1]), ratio(cells[0][0], cells[1][0]), f(cells[2]),
         f(cells[3]), f(cells[4]), f(cells[5])))
cg = get("mem.cache100k.rss_growth_kb", "mtastsd")
idle = get("mem.idle.rss_kb", "mtastsd")
if cg is not None:
    print("100 000 cached policies: cache +%.1f MiB (bench/cache_fill, %s bytes/entry)%s"
          % (cg / 1024, fmt(get("mem.cache100k.bytes_per_entry", "mtastsd")),
             "" if idle is None else "; with mtastsd idle: %.1f MiB (target < 64)"
             % ((cg + idle) / 1024)))
try:
    notes = open(sys.argv[3]).read().strip()
except OSError:
    notes = ""
if notes:
    print()
    print("Notes:")
    for n in dict.fromkeys(notes.splitlines()):
        print("  - " + n)
PY
cat "$T/table.txt"
if [ -n "$OUT" ]; then
	cp "$T/table.txt" "$OUT"
	mkdir -p "$OUT.d"
	cp "$T/results.tsv" "$T"/*.log "$T"/*.conf "$T"/*.yml "$OUT.d/" 2>/dev/null || true
	say "bench: table in $OUT, raw figures, configs and logs in $OUT.d/"
fi
}
print_table
