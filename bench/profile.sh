#!/usr/bin/env bash
# bench/profile.sh - counted work of one cold discovery and of one publisher handshake,
# independent of the machine's load: instructions (valgrind --tool=callgrind), syscalls
# (strace -f -c) per unit of work (docs/performance.md, "Profiles").
#
#   bash bench/profile.sh cold [-n N] [-c C] [--tool callgrind|strace|none] [--dane on|off]
#   bash bench/profile.sh hot  [-n N] [-c C] [--tool callgrind|strace|none] [--server mtastsd|trivial]
#                              [--rounds R] [--neg]
#   bash bench/profile.sh pub  [-n N] [--tool callgrind|strace|none] [--resume] [--keepalive]
#
# cold: a namespace (mtastsd-prof) with dnsmasq on 127.0.0.1:53 and nginx on 127.0.0.1:443
#   serving N enforce domains d<i>.prof.test (one ECDSA P-256 certificate per 50 policy
#   hosts, as bench/run.sh); mtastsd (resolver only, memory cache) answers the N domains once
#   each (smload, C connections). Counting is switched on after start-up and off after
#   the load, so the figures are the N discoveries only: Ir/N is instructions per domain.
# hot: the cold lab with HOT_KEYS (16) enforce domains, fetched once (not counted), then N
#   cached lookups of them at C connections (default 8), one request in flight on each, as
#   Postfix does: Ir/N is instructions per hot query, syscalls/N per query. --server trivial
#   measures bench/sm_trivial (one fixed reply, no lookups: the machine's floor) under the
#   same load. --tool none runs both servers, alternating R rounds (default 5) of N queries,
#   and prints each one's CPU time per query (utime + stime from /proc/PID/stat), the
#   medians and their ratio; MTASTSD_BASE=path adds a second mtastsd build (say, before a
#   change) to the same rounds, as "base". --neg: the queries are for 1000 names without a
#   policy (no _mta-sts record; neg<i>.prof.test, each asked once first, then at random),
#   answered from the negative cache entries.
# pub: mtastsd's publisher on 127.0.0.2:443, N sequential `openssl s_client` connections
#   (full handshakes, or --resume: resumed with -sess_in) each fetching the policy, or
#   --keepalive: one connection with N keep-alive requests (curl).
# Output in $OUT (default /tmp/mtastsd-prof.<mode>): callgrind.out, strace.txt, logs.
# Needs root (namespace, port 443). MTASTSD=path overrides build/daemon/mtastsd, SMLOAD and
# TRIVIAL the bench programs (build/bench/).
set -eu
set -o pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-}
[ -n "$MODE" ] && shift
N=
C=
TOOL=callgrind
DANE=on
RESUME=0
KEEPALIVE=0
SERVER=mtastsd
HOT_KEYS=16
HOT_ROUNDS=5
NEG=0
NEG_KEYS=1000
MTASTSD_BASE=${MTASTSD_BASE:-}
while [ $# -gt 0 ]; do
	case $1 in
	-n) N=$2; shift ;;
	-c) C=$2; shift ;;
	--tool) TOOL=$2; shift ;;
	--dane) DANE=$2; shift ;;
	--resume) RESUME=1 ;;
	--keepalive) KEEPALIVE=1 ;;
	--server) SERVER=$2; shift ;;
	--rounds) HOT_ROUNDS=$2; shift ;;
	--neg) NEG=1 ;;
	*) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done
case $MODE in cold | hot | pub) ;; *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;; esac
case $SERVER in mtastsd | trivial) ;; *) echo "--server mtastsd|trivial" >&2; exit 2 ;; esac
[ "$SERVER" = mtastsd ] || [ "$MODE" = hot ] || { echo "--server: hot mode only" >&2; exit 2; }
case $TOOL in callgrind | strace | none) ;; *) echo "--tool callgrind|strace|none" >&2; exit 2 ;; esac
if [ "$MODE" = hot ]; then
	if [ -z "$N" ]; then
		N=20000
		[ "$TOOL" = none ] && N=300000 # >= 1 s of CPU per round: /proc counts 10 ms ticks
	fi
	[ "$N" -ge 1 ] && [ "$N" -le 10000000 ] || { echo "-n: 1..10000000" >&2; exit 2; }
	C=${C:-8} # as bench/run.sh's hot.c8
else
	N=${N:-100}
	[ "$N" -ge 1 ] && [ "$N" -le 5000 ] || { echo "-n: 1..5000" >&2; exit 2; }
	C=${C:-1}
fi
[ "$HOT_ROUNDS" -ge 1 ] && [ "$HOT_ROUNDS" -le 50 ] || { echo "--rounds: 1..50" >&2; exit 2; }
[ "$C" -ge 1 ] && [ "$C" -le 1024 ] || { echo "-c: 1..1024" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench/profile.sh: needs root" >&2; exit 1; }
MTASTSD=${MTASTSD:-$SRC/build/daemon/mtastsd}
SMLOAD=${SMLOAD:-$SRC/build/bench/smload}
TRIVIAL=${TRIVIAL:-$SRC/build/bench/sm_trivial}
OUT=${OUT:-/tmp/mtastsd-prof.$MODE}
NS=mtastsd-prof
rm -rf "$OUT"
mkdir -p "$OUT/state"
T=$OUT
: >"$T/pids"

cleanup() {
	local pid
	while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$T/pids"
	sleep 0.3
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/etc/netns/$NS"
}
trap cleanup EXIT
exec 9>/run/lock/mtastsd-prof.lock
flock -n 9 || { echo "bench/profile.sh: another one is running" >&2; exit 1; }
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "/etc/netns/$NS"
echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"
nsx() { ip netns exec "$NS" "$@"; }
start() {
	local name=$1
	shift
	ip netns exec "$NS" "$@" >>"$T/$name.log" 2>&1 9>&- &
	echo $! >>"$T/pids"
	echo $! >"$T/$name.pid"
}
wait_port() {
	local i
	for i in $(seq 1 600); do
		nsx bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1:$2" >&2
	exit 1
}

certtool --generate-privkey --key-type=ecdsa --outfile "$T/ca.key" 2>/dev/null
printf 'cn = "mtastsd prof CA"\nca\ncert_signing_key\nexpiration_days = 30\n' >"$T/ca.tmpl"
certtool --generate-self-signed --load-privkey "$T/ca.key" --template "$T/ca.tmpl" \
	--outfile "$T/ca.pem" 2>/dev/null
cert() {
	local name=$1 n
	mkdir -p "$T/tls" # apart from the logs: the publisher watches its certificate directory
	shift
	certtool --generate-privkey --key-type=ecdsa --outfile "$T/tls/$name.key" 2>/dev/null
	{
		echo "cn = \"$1\""
		for n in "$@"; do echo "dns_name = \"$n\""; done
		printf 'tls_www_server\nsigning_key\nencryption_key\nexpiration_days = 30\n'
	} >"$T/tls/$name.tmpl"
	certtool --generate-certificate --load-privkey "$T/tls/$name.key" --load-ca-certificate \
		"$T/ca.pem" --load-ca-privkey "$T/ca.key" --template "$T/tls/$name.tmpl" \
		--outfile "$T/tls/$name.pem" 2>/dev/null
	cat "$T/tls/$name.pem" "$T/ca.pem" >"$T/tls/$name.fullchain.pem"
}
policy() {
	mkdir -p "$T/www/mta-sts.$1/.well-known"
	printf 'version: STSv1\r\nmode: enforce\r\nmx: mail.%s\r\nmx: *.mx.%s\r\nmax_age: 604800\r\n' \
		"$1" "$1" >"$T/www/mta-sts.$1/.well-known/mta-sts.txt"
}

if [ "$MODE" != pub ]; then
	NDOM=$N
	[ "$MODE" = hot ] && NDOM=$HOT_KEYS
	printf 'port=53\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n' >"$T/dnsmasq.conf"
	printf 'local=/prof.test/\ncache-size=0\nlog-queries\nlog-facility=%s\n' "$T/dns.queries" >>"$T/dnsmasq.conf"
	: >"$T/cold.keys"
	servers=
	names=()
	chunk=0
	flush() {
		[ ${#names[@]} -gt 0 ] || return 0
		cert "chunk$chunk" "${names[@]}"
		servers="$servers
	server { listen 127.0.0.1:443 ssl; server_name ${names[*]};
		ssl_certificate $T/tls/chunk$chunk.fullchain.pem; ssl_certificate_key $T/tls/chunk$chunk.key;
		root $T/www/\$host; }"
		chunk=$((chunk + 1))
		names=()
	}
	for i in $(seq 0 $((NDOM - 1))); do
		d=d$i.prof.test
		echo "$d" >>"$T/cold.keys"
		printf 'txt-record=_mta-sts.%s,"v=STSv1; id=prof%s"\nhost-record=mta-sts.%s,127.0.0.1\n' \
			"$d" "$i" "$d" >>"$T/dnsmasq.conf"
		policy "$d"
		names+=("mta-sts.$d")
		[ ${#names[@]} -ge 50 ] && flush
	done
	flush
	mkdir -p "$T/nginx"
	cat >"$T/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $T/nginx.pid.file;
error_log $T/nginx.error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	types { }
	default_type text/plain;
	ssl_protocols TLSv1.2 TLSv1.3;
	server_names_hash_bucket_size 128;
	client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fcgi; uwsgi_temp_path $T/nginx/uwsgi; scgi_temp_path $T/nginx/scgi;
$servers
}
EOF
	start dnsmasq dnsmasq --keep-in-foreground --user=root --conf-file="$T/dnsmasq.conf"
	start nginx nginx -p "$T/nginx" -c "$T/nginx.conf" -g 'daemon off;'
	wait_port 127.0.0.1 53
	wait_port 127.0.0.1 443
	dane=true
	[ "$DANE" = off ] && dane=false
	cat >"$T/mt.conf" <<EOF
process = { allow_root = true; verbosity = 0; state_directory = "$T/state"; };
resolver = {
	listen = [ "127.0.0.1:8461" ];
	dns_servers = [ "127.0.0.1" ];
	ca_file = "$T/ca.pem";
	zones = ( { name = "postfix"; dane = $dane; } );
};
cache = { backend = "memory"; };
admin = { enabled = false; };
EOF
	PORT=8461
else
	cert pub mta-sts.pub0.prof.test
	policy pub0.prof.test
	cat >"$T/mt.conf" <<EOF
process = { allow_root = true; verbosity = 0; state_directory = "$T/state"; };
publisher = {
	listen = [ "127.0.0.2:443" ];
	http_listen = [ ];
	domains = ( { domain = "pub0.prof.test"; mode = "enforce"; max_age = 604800;
		mx = [ "mail.pub0.prof.test", "*.mx.pub0.prof.test" ];
		cert = "$T/tls/pub.fullchain.pem"; key = "$T/tls/pub.key"; } );
};
admin = { enabled = false; };
EOF
	PORT=443
fi

# The measured server: mtastsd, or in hot mode with --server trivial bench/sm_trivial.
PROG=("$MTASTSD" -f -c "$T/mt.conf")
if [ "$MODE" = hot ] && [ "$SERVER" = trivial ] && [ "$TOOL" != none ]; then
	PROG=("$TRIVIAL" -l 127.0.0.1:8463 -t 900)
	PORT=8463
fi
# hot: strace attaches after the warm-up (strace -p), so it counts the hot queries only
case $TOOL in
callgrind)
	start mtastsd valgrind --tool=callgrind --instr-atstart=no \
		--callgrind-out-file="$T/callgrind.out" "${PROG[@]}" ;;
strace)
	if [ "$MODE" = hot ]; then
		start mtastsd "${PROG[@]}"
	else
		start mtastsd strace -f ${STRACE_ARGS:--c} -o "$T/strace.txt" "${PROG[@]}"
	fi ;;
none)
	start mtastsd "${PROG[@]}"
	if [ "$MODE" = hot ]; then
		start trivial "$TRIVIAL" -l 127.0.0.1:8463 -t 900
		if [ -n "$MTASTSD_BASE" ]; then
			mkdir -p "$T/state-base"
			sed -e 's/127.0.0.1:8461/127.0.0.1:8462/' -e "s|$T/state\"|$T/state-base\"|" \
				"$T/mt.conf" >"$T/mt-base.conf"
			start base "$MTASTSD_BASE" -f -c "$T/mt-base.conf"
		fi
	fi ;;
esac
if [ "$MODE" != pub ]; then wait_port 127.0.0.1 $PORT; else wait_port 127.0.0.2 $PORT; fi
# start-up done (state, MX check, TLS credentials): only the load is counted
if [ "${PROG[0]}" = "$MTASTSD" ]; then
	for i in $(seq 1 1200); do grep -q ' started: ' "$T/mtastsd.log" && break; sleep 0.1; done
fi
sleep 0.5
vpid=$(cat "$T/mtastsd.pid")
# hot: the keys asked (KEYS) and the warm-up that caches them (WARM, WARM_OK: its replies)
KEYS=(-k "$T/cold.keys")
WARM=(-k "$T/cold.keys" -n $HOT_KEYS -c 1)
WARM_OK="replies: ok $HOT_KEYS "
if [ "$NEG" = 1 ]; then
	KEYS=(-g 'neg%d.prof.test' -N $NEG_KEYS -r)
	WARM=(-g 'neg%d.prof.test' -N $NEG_KEYS -n $NEG_KEYS -c 8)
	WARM_OK="replies: ok 0 notfound $NEG_KEYS "
fi
if [ "$MODE" = hot ]; then
	# the 16 domains discovered once (DNS + HTTPS), then cached: not counted
	if [ "${PROG[0]}" = "$MTASTSD" ]; then
		nsx "$SMLOAD" -s 127.0.0.1:8461 "${WARM[@]}" -d 60 -t 30000 >"$T/warm.txt" 2>&1 || true
		grep -q "$WARM_OK" "$T/warm.txt" || { echo "warm-up: not $WARM_OK"; cat "$T/warm.txt"; }
		if [ "$TOOL" = none ] && [ -n "$MTASTSD_BASE" ]; then
			wait_port 127.0.0.1 8462
			nsx "$SMLOAD" -s 127.0.0.1:8462 "${WARM[@]}" -d 60 -t 30000 >"$T/warm-base.txt" 2>&1 || true
			grep -q "$WARM_OK" "$T/warm-base.txt" || { echo "base warm-up:"; cat "$T/warm-base.txt"; }
		fi
	fi
	if [ "$TOOL" = strace ]; then
		strace -f ${STRACE_ARGS:--c} -o "$T/strace.txt" -p "$vpid" 2>"$T/strace.err" &
		spid=$!
		sleep 1 # attached to every thread
	fi
fi
[ "$TOOL" = callgrind ] && callgrind_control -i on "$vpid" >/dev/null
# ticks PID: CPU time (utime + stime, clock ticks) of a process, all its threads
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
if [ "$MODE" = cold ]; then
	nsx "$SMLOAD" -s 127.0.0.1:8461 -k "$T/cold.keys" -n "$N" -c "$C" -d 300 -t 120000 \
		>"$T/smload.txt" 2>&1 || true
elif [ "$MODE" = hot ] && [ "$TOOL" = none ]; then
	hz=$(getconf CLK_TCK)
	for r in $(seq 1 $HOT_ROUNDS); do
		for s in mtastsd trivial ${MTASTSD_BASE:+base}; do
			port=8461
			[ $s = trivial ] && port=8463
			[ $s = base ] && port=8462
			pid=$(cat "$T/$s.pid")
			c0=$(ticks "$pid")
			line=$(nsx "$SMLOAD" -s 127.0.0.1:$port "${KEYS[@]}" -n "$N" -c "$C" -d 60 \
				-t 30000 -o kv 2>>"$T/smload.err") || line=
			c1=$(ticks "$pid")
			n=$(printf '%s\n' "$line" | tr ' ' '\n' | awk -F= '$1 == "replies" { print $2 }')
			q=$(printf '%s\n' "$line" | tr ' ' '\n' | awk -F= '$1 == "qps" { print $2 }')
			printf '%s round %s: %s queries, %s q/s, CPU %s ticks: %s us per query\n' "$s" "$r" \
				"${n:-0}" "${q:-?}" $((c1 - c0)) "$(awk -v a="$c0" -v b="$c1" -v n="${n:-0}" \
				-v hz="$hz" 'BEGIN { if (n > 0) printf "%.2f", (b - a) * 1e6 / hz / n; else print "n/a" }')" |
				tee -a "$T/cpu.txt"
		done
	done
	# medians: the machine is shared, a round can be slowed by others (docs/performance.md)
	for s in mtastsd trivial ${MTASTSD_BASE:+base}; do
		printf '%s ' "$s"
		awk -v s="$s" '$1 == s && $(NF - 3) != "n/a" { print $(NF - 3) }' "$T/cpu.txt" | sort -n |
			awk '{ v[NR] = $1 } END { if (NR) printf "%.2f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; else print "n/a" }'
	done >"$T/median.txt"
	awk '{ m[$1] = $2 } END { printf "median CPU per hot query: mtastsd %s us, sm_trivial %s us", m["mtastsd"], m["trivial"];
		if ("base" in m) printf ", base %s us", m["base"];
		if (m["trivial"] > 0) printf "; mtastsd/trivial %.2f", m["mtastsd"] / m["trivial"];
		if (("base" in m) && m["trivial"] > 0) printf ", base/trivial %.2f", m["base"] / m["trivial"];
		printf "\n" }' "$T/median.txt"
elif [ "$MODE" = hot ]; then
	nsx "$SMLOAD" -s "127.0.0.1:$PORT" "${KEYS[@]}" -n "$N" -c "$C" -d 300 -t 120000 \
		>"$T/smload.txt" 2>&1 || true
else
	url=https://mta-sts.pub0.prof.test/.well-known/mta-sts.txt
	if [ "$KEEPALIVE" = 1 ]; then
		args=()
		for i in $(seq 1 "$N"); do args+=("$url"); done
		nsx curl -s -o /dev/null --cacert "$T/ca.pem" --resolve mta-sts.pub0.prof.test:443:127.0.0.2 \
			"${args[@]}" >"$T/client.txt" 2>&1 || true
	else
		req='GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.pub0.prof.test\r\nConnection: close\r\n\r\n'
		[ "$RESUME" = 1 ] && printf "$req" | nsx timeout 30 openssl s_client -quiet -connect 127.0.0.2:443 \
			-servername mta-sts.pub0.prof.test -sess_out "$T/sess" >/dev/null 2>&1 || true
		for i in $(seq 1 "$N"); do
			if [ "$RESUME" = 1 ]; then
				printf "$req" | nsx timeout 30 openssl s_client -quiet -connect 127.0.0.2:443 \
					-servername mta-sts.pub0.prof.test -sess_in "$T/sess" >>"$T/client.txt" 2>&1 || true
			else
				printf "$req" | nsx timeout 30 openssl s_client -quiet -connect 127.0.0.2:443 \
					-servername mta-sts.pub0.prof.test >>"$T/client.txt" 2>&1 || true
			fi
		done
	fi
fi
[ "$TOOL" = callgrind ] && callgrind_control -i off "$vpid" >/dev/null
if [ "$TOOL" = strace ] && [ "$MODE" = hot ]; then
	kill -INT "$spid"
	wait "$spid" || true
	kill "$vpid"
elif [ "$TOOL" = strace ]; then
	kill "$(pgrep -P "$vpid" | head -1)" # strace ends (and writes) when its tracee does
else
	kill "$vpid"
fi
for i in $(seq 1 600); do kill -0 "$vpid" 2>/dev/null || break; sleep 0.1; done
[ "$MODE" != pub ] && [ -f "$T/smload.txt" ] && cat "$T/smload.txt"
if [ "$MODE" = hot ] && [ "$TOOL" != none ]; then
	# per query: the replies smload received (it stops at -n or its -d bound)
	n=$(awk '/ replies in / { print $3; exit }' "$T/smload.txt")
	[ -n "$n" ] && [ "$n" -gt 0 ] && N=$n
fi
if [ "$TOOL" = callgrind ]; then
	ir=$(callgrind_annotate "$T"/callgrind.out* 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
	echo "instructions: $ir total, $((ir / N)) per unit (N=$N)"
	# by library (exclusive instructions of each object), then our own functions (inclusive)
	callgrind_annotate --threshold=100 "$T"/callgrind.out 2>/dev/null |
		awk -v n="$N" '/\[.*\]$/ { c = $1; gsub(",", "", c); o = $NF; gsub(/.*\/|\]/, "", o);
			sum[o] += c } END { for (o in sum) printf "  %-28s %12d per unit\n", o, sum[o] / n }' |
		sort -k2 -rn | head -12
	callgrind_annotate --inclusive=yes --threshold=100 "$T"/callgrind.out 2>/dev/null |
		awk -v n="$N" -v src="$SRC/" 'index($0, src) && /\[.*mtastsd\]$/ { c = $1; gsub(",", "", c);
			f = $0; sub(/^[^)]*\) +/, "", f); sub(/ \[.*/, "", f); sub(src, "", f); printf "  %-50s %10d per unit\n", f, c / n }' |
		head -15
elif [ "$TOOL" = strace ]; then
	cat "$T/strace.txt"
	[ "$MODE" = hot ] && echo "per query (N=$N):" && awk -v n="$N" '$4 ~ /^[0-9]+$/ && $NF ~ /^[a-z_0-9]+$/ {
		printf "  %-20s %8.3f\n", $NF, $4 / n }' "$T/strace.txt"
fi
[ "$MODE" = cold ] && echo "DNS queries: $(grep -c 'query\[' "$T/dns.queries" || true) ($(grep -o 'query\[[A-Z]*\]' "$T/dns.queries" | sort | uniq -c | tr '\n' ' '))"
echo "output in $T"
