#!/bin/bash
# tests/system/t_mx_check.sh - the MX check (issue 20 section 1): `mtastsd check`'s mxhosts
# check against real Postfix smtpd instances and hostile SMTP servers on loopback.
#
# Lab (tests/system/data/mx_check/lab.zone): mtastsd publishes good.test, bad.test and
# hostile.test; ldns-testns serves `mtastsd dns-records` output plus the MX and A records.
# Every MX host listens on its own 127.0.0.x, all on one free port (publisher.mx_check_port,
# a test-only key); the CA file is resolver.ca_file (the test CA):
#   good.test     mx1.good.test: Postfix, STARTTLS, certificate for the pattern: all ok,
#                 exit 0, with the real subject, issuer, notAfter and matched pattern
#   bad.test      mx1: Postfix with a certificate for mail.other.test (name_mismatch), mx2:
#                 Postfix without STARTTLS (no_starttls), mx3: closed port (unreachable),
#                 a.mx: Postfix whose certificate names *.mx.bad.test (ok: Postfix's ".x"
#                 match), ghost: no address and not covered by a pattern; exit 1; --json
#   hostile.test  tests/system/hostile/smtp_hostile.py: endless banner, silent, a line of
#                 1 MiB, TLS garbage after STARTTLS, data after the STARTTLS reply: each a
#                 clear per-host error within the step timeout, never a hang
# The daemon (good.test and bad.test, publisher.mx_check_interval 4 s): two periodic runs,
# then /metrics
# (mtastsd_mx_check_hosts/ok), /status, the status page and one log warning per bad
# domain; POST /mx-check on a daemon whose timer is an hour away (202, then 409 during the
# run). publisher.mx_check = false: no mxhosts check.
. "$(dirname "$0")/lib.sh"

need_cmd certtool ldns-testns openssl python3 postconf curl
need_root "Postfix master runs as root"
[ -x "$POSTFIX_DAEMON_DIR/master" ] || unavailable "no Postfix master in $POSTFIX_DAEMON_DIR"

P=$(free_port tcp)
DNS=$(free_port both)
while [ "$DNS" = "$P" ]; do DNS=$(free_port both); done
# One SMTP port free on every lab address.
S=$(free_port tcp 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.8 \
	127.0.0.9 127.0.0.10)

# ---- certificates ---------------------------------------------------------------------
make_ca
for d in good bad hostile; do make_cert "pub-$d" "mta-sts.$d.test"; done
make_cert mx1 mx1.good.test '*.mx.bad.test'
make_cert other mail.other.test

# ---- configuration --------------------------------------------------------------------
# lab_conf FILE [PUBLISHER KEYS]: publisher on 127.0.0.1:$P for the three domains
# (hostile.test left out with NO_HOSTILE=1).
lab_conf() {
	local hostile='
		{ domain = "hostile.test"; mode = "enforce"; max_age = 86400;
		  mx = [ "*.hostile.test" ];
		  cert = "'"$T"'/pub-hostile.fullchain.pem"; key = "'"$T"'/pub-hostile.key";
		  tlsrpt_rua = "mailto:tlsrpt@hostile.test"; }'
	[ "${NO_HOSTILE:-0}" = 1 ] && hostile=""
	cat >"$1" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s"; };
admin = { enabled = false; };
resolver = {
	enabled = false;
	dns_servers = [ "127.0.0.1@$DNS" ];
	dns_timeout = "5s";
	dns_attempts = 1;
	ca_file = "$T/ca.pem";
	connect_to = "127.0.0.1:$P";
	fetch_timeout = "20s";
};
publisher = {
	listen = [ "127.0.0.1:$P" ];
	http_listen = [ ];
	mx_check_port = $S;
	${2:-}
	domains = (
		{ domain = "good.test"; mode = "testing"; max_age = 86400;
		  mx = [ "mx1.good.test", "*.spare.good.test" ];
		  cert = "$T/pub-good.fullchain.pem"; key = "$T/pub-good.key";
		  tlsrpt_rua = "mailto:tlsrpt@good.test"; },
		{ domain = "bad.test"; mode = "testing"; max_age = 86400;
		  mx = [ "mx1.bad.test", "mx2.bad.test", "mx3.bad.test", "*.mx.bad.test", "mx9.bad.test" ];
		  cert = "$T/pub-bad.fullchain.pem"; key = "$T/pub-bad.key";
		  tlsrpt_rua = "mailto:tlsrpt@bad.test"; }${hostile:+,}$hostile
	);
};
EOC
}
lab_conf "$T/lab.conf"
# The silent server holds its connection: a step timeout shorter than the default 10 s (but
# far above what the other servers need: they answer at once).
lab_conf "$T/hostile.conf" 'mx_check_step_timeout = "5s"; mx_check_timeout = "12s";'
"$MTASTSD" -n -c "$T/lab.conf" >"$T/n.log" 2>&1 || die "config check failed: $(cat "$T/n.log")"

# ---- DNS --------------------------------------------------------------------------------
"$MTASTSD" -c "$T/lab.conf" dns-records >"$T/dns-records.txt" 2>"$T/dns-records.log" ||
	die "dns-records failed: $(cat "$T/dns-records.log")"
grep -v '^;' "$T/dns-records.txt" | cat - "$SYSDATA/mx_check/lab.zone" >"$T/lab.zone"
testns_zone dns "$DNS" "$T/lab.zone"

# ---- the MX hosts -------------------------------------------------------------------------
postfix_smtpd_start pf-good 127.0.0.2 "$S" mx1.good.test mx1
postfix_smtpd_start pf-other 127.0.0.3 "$S" mail.other.test other
postfix_smtpd_start pf-plain 127.0.0.4 "$S" plain.bad.test
start_bg hostile python3 "$SRC_DIR/tests/system/hostile/smtp_hostile.py" "$S" \
	127.0.0.6=endless 127.0.0.7=silent 127.0.0.8=hugeline 127.0.0.9=tlsgarbage \
	127.0.0.10=injection
wait_log hostile '^ready$' || die "smtp_hostile.py did not start: $(cat "$T/hostile.log")"

# ---- the publisher ------------------------------------------------------------------------
start_bg pub "$MTASTSD" -f -c "$T/lab.conf"
wait_tcp "$P"

# run CONF ARGS...: stdout of `mtastsd -c CONF check ARGS...`, then "exit=<status>"; the days
# left of the policy host certificate read "29-30", and the TLS version and cipher
# "<tls> <cipher>" (tls_seen has them).
run() {
	local conf=$1 rc=0 out
	shift
	out=$(timeout 120 "$MTASTSD" -c "$conf" check "$@" 2>"$T/check.err") || rc=$?
	printf '%s\n' "$out" | grep -Eo '; TLS1\.[0-9] [A-Z0-9-]+;' >>"$T/tls_seen" || true
	printf '%s\nexit=%s' "$out" "$rc" |
		sed -E -e 's/, (29|30) days left \(/, 29-30 days left (/' \
			-e 's/; TLS1\.[0-9] [A-Z0-9-]+;/; <tls> <cipher>;/'
}
# enddate NAME: notAfter of $T/NAME.pem as check prints it.
enddate() {
	date -u -d "$(openssl x509 -noout -enddate -in "$T/$1.pem" | cut -d= -f2)" \
		'+%Y-%m-%d %H:%M:%S UTC'
}
rec_id() {
	sed -n "s/^_mta-sts\.$1\. [0-9]* IN TXT \"v=STSv1; id=\([A-Za-z0-9]*\)\"\$/\1/p" \
		"$T/dns-records.txt"
}
I="       " # the indent of the MX host lines

# ---- good.test ------------------------------------------------------------------------------
check "check good.test: every check ok, the MX host with its certificate" \
	"ok   good.test: _mta-sts TXT record has the current id $(rec_id good.test)
ok   good.test: policy served equals the configuration (mode testing, max_age 86400, 2 mx)
ok   good.test: certificate of mta-sts.good.test is valid, 29-30 days left ($(enddate pub-good))
ok   good.test: every MX host is covered by an mx pattern (1 MX host)
ok   good.test: _smtp._tls TLSRPT record present, rua mailto:tlsrpt@good.test
ok   good.test: every MX host takes STARTTLS with a valid certificate an mx pattern matches (1 MX host)
${I}MX 10 mx1.good.test [127.0.0.2]: ok; STARTTLS offered; <tls> <cipher>; subject CN=mx1.good.test; issuer CN=mtastsd test CA; notAfter $(enddate mx1); verify ok; certificate name mx1.good.test matches mx pattern mx1.good.test
${I}mx patterns covering no MX host: *.spare.good.test
summary: 1 domain, 6 checks, 0 failed
exit=0" "$(run "$T/lab.conf" good.test)"
check_match "the TLS version and cipher are real" '^; TLS1\.[23] [A-Z0-9-]+;$' "$(head -n 1 "$T/tls_seen")"

# ---- bad.test -------------------------------------------------------------------------------
out=$(run "$T/lab.conf" bad.test)
check "check bad.test: mxhosts fails, one line per host" \
	"FAIL bad.test: MX host ghost.bad.test not covered by any mx pattern (mx1.bad.test, mx2.bad.test, mx3.bad.test, *.mx.bad.test, mx9.bad.test)
FAIL bad.test: enforce would lose mail at 4 of 5 MX hosts: mx1.bad.test (name_mismatch), mx2.bad.test (no_starttls), mx3.bad.test (unreachable), ghost.bad.test (no_address)
${I}MX 10 mx1.bad.test [127.0.0.3]: name_mismatch: certificate: no name matches an mx pattern; STARTTLS offered; <tls> <cipher>; subject CN=mail.other.test; issuer CN=mtastsd test CA; notAfter $(enddate other); verify ok; no certificate name matches an mx pattern
${I}MX 20 mx2.bad.test [127.0.0.4]: no_starttls: EHLO: STARTTLS not offered; STARTTLS not offered
${I}MX 30 mx3.bad.test [127.0.0.5]: unreachable: connect: 127.0.0.5 port $S: Connection refused
${I}MX 40 a.mx.bad.test [127.0.0.2]: ok; STARTTLS offered; <tls> <cipher>; subject CN=mx1.good.test; issuer CN=mtastsd test CA; notAfter $(enddate mx1); verify ok; certificate name *.mx.bad.test matches mx pattern *.mx.bad.test
${I}MX 50 ghost.bad.test: no_address: address lookup: A: DNS name does not exist (NXDOMAIN); AAAA: DNS name does not exist (NXDOMAIN)
${I}mx patterns covering no MX host: mx9.bad.test
summary: 1 domain, 6 checks, 2 failed
exit=1" "$(printf '%s\n' "$out" | grep -v '^ok   ')"
check "check bad.test: the other checks pass" 4 "$(printf '%s\n' "$out" | grep -c '^ok   ')"

# --json: the same facts as fields.
rc=0
timeout 120 "$MTASTSD" -c "$T/lab.conf" check --json bad.test >"$T/bad.json" 2>"$T/check.err" || rc=$?
check "check --json bad.test exits 1" 1 "$rc"
check "check --json bad.test: hosts, results, patterns" \
	"checks=6 failed=2 mxhosts.ok=False
mx1.bad.test 127.0.0.3 name_mismatch starttls=True verified=ok subject=CN=mail.other.test issuer=CN=mtastsd test CA cert_pattern=None mx_pattern=mx1.bad.test
mx2.bad.test 127.0.0.4 no_starttls starttls=False verified=None subject=None issuer=None cert_pattern=None mx_pattern=mx2.bad.test
mx3.bad.test 127.0.0.5 unreachable starttls=False verified=None subject=None issuer=None cert_pattern=None mx_pattern=mx3.bad.test
a.mx.bad.test 127.0.0.2 ok starttls=True verified=ok subject=CN=mx1.good.test issuer=CN=mtastsd test CA cert_pattern=*.mx.bad.test mx_pattern=*.mx.bad.test
ghost.bad.test None no_address starttls=False verified=None subject=None issuer=None cert_pattern=None mx_pattern=None
not covered: ['ghost.bad.test'] unused: ['mx9.bad.test']
not_after of mx1.bad.test: $(enddate other)" \
	"$(python3 - "$T/bad.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
d = j["domains"][0]
mxc = [c for c in d["checks"] if c["check"] == "mxhosts"][0]
print("checks=%d failed=%d mxhosts.ok=%s" % (j["checks"], j["failed"], mxc["ok"]))
m = d["mx_hosts"]
for h in m["hosts"]:
    print("%s %s %s starttls=%s verified=%s subject=%s issuer=%s cert_pattern=%s mx_pattern=%s" % (
        h["name"], h["address"], h["result"], h["starttls"], h["verify"], h["subject"],
        h["issuer"], h["certificate_pattern"], h["mx_pattern"]))
print("not covered: %s unused: %s" % (m["hosts_not_covered"], m["patterns_covering_no_host"]))
print("not_after of mx1.bad.test: %s" % m["hosts"][0]["not_after"])
PY
)"

# ---- hostile.test -------------------------------------------------------------------------
out=$(run "$T/hostile.conf" hostile.test)
check "check hostile.test: a clear error per host, none hangs" \
	"FAIL hostile.test: enforce would lose mail at 5 of 5 MX hosts: endless.hostile.test (smtp_error), silent.hostile.test (smtp_error), huge.hostile.test (smtp_error), garbage.hostile.test (tls_error), inject.hostile.test (tls_error)
${I}MX 10 endless.hostile.test [127.0.0.6]: smtp_error: banner: reply longer than 128 lines or 16384 bytes
${I}MX 20 silent.hostile.test [127.0.0.7]: smtp_error: banner: no reply within 5000 ms
${I}MX 30 huge.hostile.test [127.0.0.8]: smtp_error: banner: reply line longer than 2048 bytes
${I}MX 40 garbage.hostile.test [127.0.0.9]: tls_error: TLS handshake: <gnutls>; STARTTLS offered
${I}MX 50 inject.hostile.test [127.0.0.10]: tls_error: STARTTLS: 20 bytes after the 220 reply, before the handshake (RFC 3207 section 5); STARTTLS offered
summary: 1 domain, 6 checks, 1 failed
exit=1" "$(printf '%s\n' "$out" | grep -v '^ok   ' |
	sed -E 's/(TLS handshake: )[A-Za-z][^;]*;/\1<gnutls>;/')"
check_match "TLS garbage: GnuTLS's reason" 'garbage.hostile.test \[127.0.0.9\]: tls_error: TLS handshake: [A-Z][a-z]' "$out"

# The servers are still there after all this (the probe closed its side; nothing crashed).
check "Postfix and the hostile servers still run" "alive alive alive alive alive" \
	"$(alive pf-good) $(alive pf-other) $(alive pf-plain) $(alive hostile) $(alive pub)"

# ---- the daemon: periodic runs, /metrics, /status, the page, the log ------------------------
# daemon_conf NAME PUBPORT ADMINPORT KEYS: lab.conf with its own publisher and admin ports.
daemon_conf() {
	lab_conf "$T/$1.conf" "$4"
	sed -i -e "s/listen = \[ \"127.0.0.1:$P\" \]/listen = [ \"127.0.0.1:$2\" ]/" \
		-e "s/admin = { enabled = false; };/admin = { listen = \"127.0.0.1:$3\"; };/" "$T/$1.conf"
}
ports() { local p; p=$(free_port tcp); while [ "$p" = "$P" ] || [ "$p" = "$DNS" ]; do p=$(free_port tcp); done; echo "$p"; }
P2=$(ports) A2=$(ports)
# good.test and bad.test only (the real Postfix hosts, with the default timeouts).
NO_HOSTILE=1 daemon_conf periodic "$P2" "$A2" 'mx_check_interval = "4s";'
start_bg periodic "$MTASTSD" -f -c "$T/periodic.conf"
wait_tcp "$A2"
adm() { curl -sS --max-time "$LIVE_S" "$@"; }
runs_at_least() { adm "http://127.0.0.1:$2/metrics" | grep -Eq "^mtastsd_mx_check_runs_total ([$1-9]|[1-9][0-9]+)\$"; }
# The first run starts 2 to 4 s after the start, the next about 4 s after the first ends.
wait_for "$LIVE_S" runs_at_least 2 "$A2" || die "no second MX check run: $(tail -5 "$T/periodic.log")"
check "metrics: the hosts of each domain by result, and the verdicts" \
	'mtastsd_mx_check_hosts{domain="good.test",result="ok"} 1
mtastsd_mx_check_hosts{domain="bad.test",result="ok"} 1
mtastsd_mx_check_hosts{domain="bad.test",result="no_address"} 1
mtastsd_mx_check_hosts{domain="bad.test",result="unreachable"} 1
mtastsd_mx_check_hosts{domain="bad.test",result="no_starttls"} 1
mtastsd_mx_check_hosts{domain="bad.test",result="name_mismatch"} 1
mtastsd_mx_check_ok{domain="good.test"} 1
mtastsd_mx_check_ok{domain="bad.test"} 0' \
	"$(adm "http://127.0.0.1:$A2/metrics" | grep -E '^mtastsd_mx_check_(hosts|ok)\{' | grep -v '} 0$' ||
		true; adm "http://127.0.0.1:$A2/metrics" | grep -E '^mtastsd_mx_check_ok\{.*} 0$' || true)"
now=$(date +%s)
check "/status: each domain's last MX check" \
	"good.test ok=True age_ok=True hosts=mx1.good.test:ok:CN=mx1.good.test:mx1.good.test unused=['*.spare.good.test']
bad.test ok=False age_ok=True hosts=mx1.bad.test:name_mismatch:CN=mail.other.test:None mx2.bad.test:no_starttls:None:None mx3.bad.test:unreachable:None:None a.mx.bad.test:ok:CN=mx1.good.test:*.mx.bad.test ghost.bad.test:no_address:None:None unused=['mx9.bad.test']
runs>=2: True" \
	"$(adm "http://127.0.0.1:$A2/status" | python3 -c '
import json, sys
now = int(sys.argv[1])
j = json.load(sys.stdin)
for d in j["publisher"]["domains"]:
    m = d["mx_check"]
    print("%s ok=%s age_ok=%s hosts=%s unused=%s" % (d["domain"], m["ok"],
          now - 120 <= m["last_run"] <= now,
          " ".join("%s:%s:%s:%s" % (h["name"], h["result"], h["subject"], h["certificate_pattern"])
                   for h in m["hosts"]), m["patterns_covering_no_host"]))
print("runs>=2: %s" % (j["publisher"]["mx_check"]["runs"] >= 2))' "$now")"
page=$(adm "http://127.0.0.1:$A2/")
check_match "status page: the MX check table" '<table id="mx-check">' "$page"
check_match "status page: bad.test's verdict" '<td class="domain">bad.test</td><td>[^<]*</td><td class="bad">enforce would lose mail</td>' "$page"
check_match "status page: mx2.bad.test's result" '<tr class="mx-host"><td>20 mx2.bad.test</td><td></td><td class="bad">no_starttls</td>' "$page"
check "log: one warning for bad.test, not one per run; good.test ok once" \
	"1 1" "$(grep -c "domain 'bad.test': MX check: enforce would lose mail at 4 of 5 MX hosts: mx1.bad.test (name_mismatch: certificate: no name matches an mx pattern)" "$T/periodic.log") $(grep -c "domain 'good.test': MX check: every MX host (1) is safe for enforce" "$T/periodic.log")"
stop_bg periodic

# POST /mx-check on a daemon whose next run is an hour away; the silent host holds the run
# for its 30 s step timeout, so a second POST finds it in progress.
P3=$(ports) A3=$(ports)
daemon_conf ondemand "$P3" "$A3" 'mx_check_interval = "1h"; mx_check_step_timeout = "30s";'
start_bg ondemand "$MTASTSD" -f -c "$T/ondemand.conf"
wait_tcp "$A3"
check "POST /mx-check starts a run" '202 {"started": true, "domains": 3}' \
	"$(adm -o "$T/post.out" -w '%{http_code}' -X POST "http://127.0.0.1:$A3/mx-check") $(cat "$T/post.out")"
check "POST /mx-check during a run: 409" "409" \
	"$(adm -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$A3/mx-check")"
# (the metrics to a file first: `curl | grep -q` under pipefail fails whenever grep exits on
# its match before curl has written the rest: curl dies of SIGPIPE, 1 in 2 runs here)
good_ok() {
	adm "http://127.0.0.1:$A3/metrics" >"$T/good_ok.metrics" &&
		grep -q '^mtastsd_mx_check_ok{domain="good.test"} 1$' "$T/good_ok.metrics"
}
wait_for "$LIVE_S" good_ok || die "good.test not checked after POST /mx-check"
check "POST /mx-check: good.test checked before any timer" ok "$(good_ok && echo ok)"
stop_bg ondemand

# ---- mx_check off -------------------------------------------------------------------------
lab_conf "$T/off.conf" 'mx_check = false;'
check "publisher.mx_check = false: no mxhosts check" "summary: 1 domain, 5 checks, 0 failed
exit=0" "$(run "$T/off.conf" good.test | tail -n 2)"

finish
