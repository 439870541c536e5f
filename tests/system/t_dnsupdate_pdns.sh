#!/bin/bash
# tests/system/t_dnsupdate_pdns.sh - RFC 2136 updates with TSIG against a real PowerDNS
#
# pdns_server (gsqlite3 backend, dnsupdate=yes, allow-dnsupdate-from=127.0.0.0/8) on a free
# loopback port; zone example.test made with pdnsutil, the TSIG key imported with
# `pdnsutil import-tsig-key` and bound with TSIG-ALLOW-DNSUPDATE metadata. The cases are
# tests/system/dnsupd_cases.sh; the server's count of applied updates is its own log line
# "Update completed".

. "$(dirname "$0")/lib.sh"

need_cmd pdns_server pdnsutil sqlite3 kdig curl certtool

SCHEMA=""
for f in /usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql \
	/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql; do
	[ -f "$f" ] && SCHEMA=$f && break
done
[ -n "$SCHEMA" ] || unavailable "no pdns-backend-sqlite3 schema (pdns-backend-sqlite3 not installed?)"

DNS=$(free_port both)
SECRET="c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
PD=$T/pdns
mkdir -p "$PD"
sqlite3 "$PD/pdns.sqlite3" <"$SCHEMA"
cat >"$PD/pdns.conf" <<EOC
launch=gsqlite3
gsqlite3-database=$PD/pdns.sqlite3
local-address=127.0.0.1
local-port=$DNS
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
pdu() { pdnsutil --config-dir="$PD" "$@" >>"$T/pdnsutil.log" 2>&1; }
pdu create-zone example.test ns1.example.test
pdu import-tsig-key mtastsd hmac-sha256 "$SECRET"
pdu set-meta example.test TSIG-ALLOW-DNSUPDATE mtastsd
pdu add-record example.test @ MX "10 mx.example.test."
pdu add-record example.test other TXT '"unrelated"'
pdu add-record example.test mta-sts TXT '"sibling"'
pdu add-record example.test _mta-sts TXT '"v=STSv1; id=handwritten1"'

PDNS_RUN=0
srv_start() {
	PDNS_RUN=$((PDNS_RUN + 1))
	start_bg "pdns$PDNS_RUN" pdns_server --config-dir="$PD"
	wait_for "$LIVE_S" sh -c "kdig -p $DNS @127.0.0.1 +tcp +short example.test SOA | grep -q hostmaster" ||
		die "pdns_server does not answer on 127.0.0.1:$DNS"
}
srv_stop() { stop_bg "pdns$PDNS_RUN"; }
srv_updates() { cat "$T"/pdns*.log 2>/dev/null | grep -c "Update completed" || true; }

srv_start
. "$(dirname "$0")/dnsupd_cases.sh"
finish
