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

pdns_need

DNS=$(free_port both)
SECRET="c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
pdns_primary example.test "$DNS" "$SECRET"
pdu add-record example.test @ MX "10 mx.example.test."
pdu add-record example.test other TXT '"unrelated"'
pdu add-record example.test mta-sts TXT '"sibling"'
pdu add-record example.test _mta-sts TXT '"v=STSv1; id=handwritten1"'

PDNS_RUN=0
srv_start() {
	PDNS_RUN=$((PDNS_RUN + 1))
	pdns_start "pdns$PDNS_RUN" example.test "$DNS"
}
srv_stop() { stop_bg "pdns$PDNS_RUN"; }
srv_updates() { cat "$T"/pdns*.log 2>/dev/null | grep -c "Update completed" || true; }

srv_start
. "$(dirname "$0")/dnsupd_cases.sh"
finish
