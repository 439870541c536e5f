#!/usr/bin/env bash
# bench/profile.sh - counted work of one cold discovery and of one publisher handshake,
# independent of the machine's load: instructions (valgrind --tool=callgrind), syscalls
# (strace -f -c) per unit of work (docs/performance.md, "Profiles").
#
#   bash bench/profile.sh cold [-n N] [-c C] [--tool callgrind|strace|none] [--dane on|off]
#   bash bench/profile.sh pub  [-n N] [--tool callgrind|strace|none] [--resume] [--keepalive]
#
# cold: a namespace (mtastsd-prof) with dnsmasq on 127.0.0.1:53 and nginx on 127.0.0.1:443
#   serving N enforce domains d<i>.prof.test (one ECDSA P-256 certificate per 50 policy
#   hosts, as bench/run.sh); mtastsd (resolver only, memory cache) answers the N domains once
#   each (smload, C connections). Counting is switched on after start-up and off after
#   the load, so the figures are the N discoveries only: Ir/N is instructions per domain.
# pub: mtastsd's publisher on 127.0.0.2:443, N sequential `openssl s_client` connections
#   (full handshakes, or --resume: resumed with -sess_in) each fetching the policy, or
#   --keepalive: one connection with N keep-alive requests (curl).
# Output in $OUT (default /tmp/mtastsd-prof.<mode>): callgrind.out, strace.txt, logs.
# Needs root (namespace, port 443). MTASTSD=path overrides build/daemon/mtastsd.
set -eu
set -o pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-}
[ -n "$MODE" ] && shift
N=100
C=1
TOOL=callgrind
DANE=on
RESUME=0
KEEPALIVE=0
while [ $# -gt 0 ]; do
	case $1 in
	-n) N=$2; shift ;;
	-c) C=$2; shift ;;
	--tool) TOOL=$2; shift ;;
	--dane) DANE=$2; shift ;;
	--resume) RESUME=1 ;;
	--keepalive) KEEPALIVE=1 ;;
	*) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done
case $MODE in cold | pub) ;; *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;; esac
case $TOOL in callgrind | strace | none) ;; *) echo "--tool callgrind|strace|none" >&2; exit 2 ;; esac
[ "$N" -ge 1 ] && [ "$N" -le 5000 ] || { echo "-n: 1..5000" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench/profile.sh: needs root" >&2; exit 1; }
MTASTSD=${MTASTSD:-$SRC/build/daemon/mtastsd}
SMLOAD=${SMLOAD:-$SRC/build/bench/smload}
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

if [ "$MODE" = cold ]; then
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
	for i in $(seq 0 $((N - 1))); do
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

case $TOOL in
callgrind)
	start mtastsd valgrind --tool=callgrind --instr-atstart=no \
		--callgrind-out-file="$T/callgrind.out" "$MTASTSD" -f -c "$T/mt.conf" ;;
strace)
	start mtastsd strace -f ${STRACE_ARGS:--c} -o "$T/strace.txt" "$MTASTSD" -f -c "$T/mt.conf" ;;
none)
	start mtastsd "$MTASTSD" -f -c "$T/mt.conf" ;;
esac
if [ "$MODE" = cold ]; then wait_port 127.0.0.1 $PORT; else wait_port 127.0.0.2 $PORT; fi
# start-up done (state, MX check, TLS credentials): only the load is counted
for i in $(seq 1 1200); do grep -q ' started: ' "$T/mtastsd.log" && break; sleep 0.1; done
sleep 0.5
vpid=$(cat "$T/mtastsd.pid")
[ "$TOOL" = callgrind ] && callgrind_control -i on "$vpid" >/dev/null
if [ "$MODE" = cold ]; then
	nsx "$SMLOAD" -s 127.0.0.1:8461 -k "$T/cold.keys" -n "$N" -c "$C" -d 300 -t 120000 \
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
if [ "$TOOL" = strace ]; then
	kill "$(pgrep -P "$vpid" | head -1)" # strace ends (and writes) when its tracee does
else
	kill "$vpid"
fi
for i in $(seq 1 600); do kill -0 "$vpid" 2>/dev/null || break; sleep 0.1; done
[ "$MODE" = cold ] && cat "$T/smload.txt"
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
fi
[ "$MODE" = cold ] && echo "DNS queries: $(grep -c 'query\[' "$T/dns.queries" || true) ($(grep -o 'query\[[A-Z]*\]' "$T/dns.queries" | sort | uniq -c | tr '\n' ' '))"
echo "output in $T"
