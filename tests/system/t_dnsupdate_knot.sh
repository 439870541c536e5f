#!/bin/bash
# tests/system/t_dnsupdate_knot.sh - RFC 2136 updates with TSIG against a real Knot DNS
#
# knotd on a free loopback port with zone example.test from a zone file, the TSIG key
# "mtastsd" (hmac-sha256) and an acl with action update restricted to the owned names and
# type (update-type TXT, update-owner name, update-owner-match equal, update-owner-name
# _mta-sts and _smtp._tls): the setting docs/publisher.md recommends. The cases are
# tests/system/dnsupd_cases.sh; the server's count of applied updates is its log line
# "DDNS, finished".

. "$(dirname "$0")/lib.sh"

need_cmd knotd kdig curl certtool

DNS=$(free_port both)
SECRET="c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
KD=$T/knot
mkdir -p "$KD/db"
cat >"$KD/example.test.zone" <<'EOZ'
$ORIGIN example.test.
$TTL 3600
@	SOA	ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300
@	NS	ns1.example.test.
@	MX	10 mx.example.test.
ns1	A	127.0.0.1
other	TXT	"unrelated"
mta-sts	TXT	"sibling"
_mta-sts	TXT	"v=STSv1; id=handwritten1"
EOZ
cat >"$KD/knot.conf" <<EOC
server:
    rundir: "$KD"
    listen: 127.0.0.1@$DNS
log:
  - target: stderr
    any: info
database:
    storage: "$KD/db"
key:
  - id: mtastsd
    algorithm: hmac-sha256
    secret: $SECRET
acl:
  - id: mtastsd_update
    key: mtastsd
    action: update
    update-type: [TXT]
    update-owner: name
    update-owner-match: equal
    update-owner-name: [_mta-sts, _smtp._tls]
zone:
  - domain: example.test
    storage: "$KD"
    file: "example.test.zone"
    acl: mtastsd_update
    zonefile-sync: -1
    journal-content: changes
EOC

KNOT_RUN=0
srv_start() {
	KNOT_RUN=$((KNOT_RUN + 1))
	start_bg "knot$KNOT_RUN" knotd -c "$KD/knot.conf"
	wait_for "$LIVE_S" sh -c "kdig -p $DNS @127.0.0.1 +tcp +short example.test SOA | grep -q hostmaster" ||
		die "knotd does not answer on 127.0.0.1:$DNS"
}
srv_stop() { stop_bg "knot$KNOT_RUN"; }
srv_updates() { cat "$T"/knot*.log 2>/dev/null | grep -c "DDNS, finished" || true; }

srv_start
. "$(dirname "$0")/dnsupd_cases.sh"
finish
