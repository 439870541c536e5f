#!/bin/bash
# tests/system/t_admin.sh - the admin endpoint against a lab (loopback only)
#
# Lab: ldns-testns (enforce.test, testing.test, fail.test with a TXT record; everything else
# NXDOMAIN), fake_https serving the policies (fail.test answers 404), mtastsd with the
# resolver, a publisher for pub1.test (certificate valid 30 days) and pub2.test (10 days),
# and the admin endpoint on 127.0.0.1 with a bearer token. After real lookups through the
# socketmap (Postfix's postmap), /status, /metrics, /policies/<d>, POST /cache/purge and /
# are checked value by value (python3 json), including which source decided each reply
# (DANE runs first but never applies in this lab: no AD bit) and the DANE counters; then the
# token rules, methods, reload counters and config digest; the Valkey/Redis tier with a
# redis-server of our own (state, counters, mtastsd_valkey_up 1, then 0 once redis-server
# stops, then 1 again after a restart); a unix-socket admin listener, and the refusal of a
# public address without a token. The Host check (DNS rebinding: a foreign Host gets 421 on
# every path, loopback names and addresses and admin.allowed_hosts are answered, HTTP/1.1
# without Host 400), and the purge rule: over TCP a purge needs a configured token (a daemon
# without one answers 403 and keeps its cache), over a unix socket it needs none.
. "$(dirname "$0")/lib.sh"

need_cmd curl python3 ldns-testns postmap certtool sha256sum

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
ADM=$(free_port tcp)
PUB=$(free_port tcp)
WWW=$T/www
TOKEN='s3cret-admin-token_42'

# ---- lab
make_ca
make_cert www mta-sts.enforce.test mta-sts.testing.test mta-sts.fail.test
CERT_DAYS=30 make_cert p1 mta-sts.pub1.test
CERT_DAYS=10 make_cert p2 mta-sts.pub2.test
policy_put "$WWW" enforce.test "$(policy_enforce mail.enforce.test '*.mx.enforce.test')"
policy_put "$WWW" testing.test 'version: STSv1\nmode: testing\nmx: mail.testing.test\nmax_age: 86400\n'
policy_put "$WWW" fail.test "$(policy_enforce mail.fail.test)" 404
{
	testns_entry _mta-sts.enforce.test NOERROR '"v=STSv1; id=enf1"'
	testns_entry _mta-sts.testing.test NOERROR '"v=STSv1; id=tst1"'
	testns_entry _mta-sts.fail.test NOERROR '"v=STSv1; id=fail1"'
} >"$T/lab.testns"
testns_start dns "$DNS" "$T/lab.testns"
fake_https_start www "$HTTPS" www "$WWW"

# admin_conf FILE: the lab config with the publisher and the admin endpoint.
admin_conf() {
	RES_TEMPFAIL_TTL=10m RES_NEGATIVE_TTL=10m resolver_conf "$1" "$SM" "$DNS" "$HTTPS"
	sed -i '/^admin = /d' "$1"
	cat >>"$1" <<EOC
publisher = {
	listen = [ "127.0.0.1:$PUB" ];
	http_listen = [ ];
	domains = (
		{ domain = "pub1.test"; mode = "enforce"; max_age = 604800; mx = [ "mx.pub1.test" ];
		  cert = "$T/p1.fullchain.pem"; key = "$T/p1.key"; id = "pub1id2024"; },
		{ domain = "pub2.test"; mode = "testing"; max_age = 86400; mx = [ "mx.pub2.test" ];
		  cert = "$T/p2.fullchain.pem"; key = "$T/p2.key"; id = "pub2id"; }
	);
};
admin = { listen = "127.0.0.1:$ADM"; token = "$TOKEN"; };
EOC
}
admin_conf "$T/mtastsd.conf"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"
wait_tcp "$ADM"

URL="http://127.0.0.1:$ADM"
AUTH="Authorization: Bearer $TOKEN"
# get PATH [CURL-ARGS...]: body on stdout (token sent); fails the test on a transport error.
get() {
	local p=$1
	shift
	curl -sS --max-time "$LIVE_S" -H "$AUTH" "$@" "$URL$p"
}
# code METHOD PATH [CURL-ARGS...]: the HTTP status only.
code() {
	local m=$1 p=$2
	shift 2
	curl -sS --max-time "$LIVE_S" -o /dev/null -w '%{http_code}' -X "$m" "$@" "$URL$p"
}
# jq_py FILE EXPR: evaluate a python expression over the JSON document j in FILE.
jq_py() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- real lookups through the socketmap
ENF='secure match=mail.enforce.test:.mx.enforce.test servername=hostname'
check "lookup enforce.test" "$(pm_ok "$ENF")" "$(pm "$SM" postfix enforce.test)"
check "lookup enforce.test again (cache)" "$(pm_ok "$ENF")" "$(pm "$SM" postfix enforce.test)"
check "lookup testing.test" "$(pm_notfound)" "$(pm "$SM" postfix testing.test)"
check "lookup nx.test (no TXT)" "$(pm_notfound)" "$(pm "$SM" postfix nx.test)"
check "lookup fail.test (fetch 404)" "$(pm_notfound)" "$(pm "$SM" postfix fail.test)"
check "fetch of fail.test was tried" 1 "$(fetch_count www mta-sts.fail.test)"

# ---- /status
t_before=$(date +%s)
get /status >"$T/status.json"
t_after=$(date +%s)
check "status: version" "$("$MTASTSD" --version | cut -d' ' -f2)" "$(jq_py "$T/status.json" 'j["version"]')"
check_match "status: uptime is a small integer" '^[0-9]{1,3}$' "$(jq_py "$T/status.json" 'j["uptime_seconds"]')"
check "status: config path" "$T/mtastsd.conf" "$(jq_py "$T/status.json" 'j["config"]["path"]')"
check "status: config sha256" "$(sha256sum "$T/mtastsd.conf" | cut -d' ' -f1)" \
	"$(jq_py "$T/status.json" 'j["config"]["sha256"]')"
check "status: no reload yet" "0 0 None" \
	"$(jq_py "$T/status.json" '"%s %s %s" % (j["config"]["reloads"], j["config"]["reload_failures"], j["config"]["last_reload"])')"
check "status: publisher running" True "$(jq_py "$T/status.json" 'j["publisher"]["running"]')"
check "status: published domains" "pub1.test enforce pub1id2024|pub2.test testing pub2id" \
	"$(jq_py "$T/status.json" '"|".join("%s %s %s" % (d["domain"], d["mode"], d["policy_id"]) for d in j["publisher"]["domains"])')"
exp1=$(date -u -d "$(certtool -i --infile "$T/p1.pem" | sed -n 's/.*Not After: //p')" +%s)
exp2=$(date -u -d "$(certtool -i --infile "$T/p2.pem" | sed -n 's/.*Not After: //p')" +%s)
check "status: pub1 certificate expiry (notAfter)" "$exp1" \
	"$(jq_py "$T/status.json" 'j["publisher"]["domains"][0]["certificate_expiry"]')"
check "status: pub2 certificate expiry (notAfter)" "$exp2" \
	"$(jq_py "$T/status.json" 'j["publisher"]["domains"][1]["certificate_expiry"]')"
# Whole days left at the time of the request (29 and 9 for certificates issued seconds ago;
# computed from the certificates' notAfter and the clock around the request).
days=$(jq_py "$T/status.json" '" ".join(str(d["certificate_days_left"]) for d in j["publisher"]["domains"])')
lo="$(((exp1 - t_after) / 86400)) $(((exp2 - t_after) / 86400))"
hi="$(((exp1 - t_before) / 86400)) $(((exp2 - t_before) / 86400))"
if [ "$days" = "$lo" ] || [ "$days" = "$hi" ]; then ok=ok; else ok="[$lo] or [$hi]"; fi
check "status: certificate days left (30-day and 10-day certificates): $days" ok "$ok"
check "status: last self-check is null until mtastsd check records one" "None None" \
	"$(jq_py "$T/status.json" '" ".join(str(d["last_self_check"]) for d in j["publisher"]["domains"])')"
R='j["resolver"]'
check "status: resolver enabled" True "$(jq_py "$T/status.json" "$R[\"enabled\"]")"
check "status: lookups" 5 "$(jq_py "$T/status.json" "$R[\"lookups\"]")"
check "status: replies by type" "ok=2 notfound=3 temp=0 timeout=0 perm=0" \
	"$(jq_py "$T/status.json" '" ".join("%s=%d" % kv for kv in j["resolver"]["replies"].items())')"
check "status: cache entries (enforce, testing, nx, fail)" 4 \
	"$(jq_py "$T/status.json" "$R[\"cache\"][\"entries\"]")"
check "status: cache hits / misses" "1 4" \
	"$(jq_py "$T/status.json" '"%d %d" % (j["resolver"]["cache"]["hits"], j["resolver"]["cache"]["misses"])')"
check "status: hit rate 1/5" 0.2 "$(jq_py "$T/status.json" "round($R[\"cache\"][\"hit_rate\"], 3)")"
check "status: fetches ok / http_error" "2 1" \
	"$(jq_py "$T/status.json" '"%d %d" % (j["resolver"]["fetches"]["ok"], j["resolver"]["fetches"]["http_error"])')"
check "status: DNS answers ok / nxdomain" "3 1" \
	"$(jq_py "$T/status.json" '"%d %d" % (j["resolver"]["dns"]["ok"], j["resolver"]["dns"]["nxdomain"])')"
check "status: memory backend, Valkey tier disabled" "memory {'state': 'disabled'}" \
	"$(jq_py "$T/status.json" '"%s %s" % (j["resolver"]["cache"]["backend"], j["resolver"]["valkey"])')"
# DANE runs first for every lookup (zone dane on by default) but never applies here:
# ldns-testns sets no AD bit and answers NXDOMAIN to MX queries. MTA-STS decides the two
# enforce.test replies; the other three (testing mode, no TXT, fetch 404) are decided by
# nothing that applies.
check "status: decided_by (2 sts, 3 none)" "dane-only=0 dane=0 dane-tempfail=0 sts=2 none=3" \
	"$(jq_py "$T/status.json" '" ".join("%s=%d" % kv for kv in j["resolver"]["decided_by"].items())')"
check "status: decided_by adds up to the lookups" 5 \
	"$(jq_py "$T/status.json" 'sum(j["resolver"]["decided_by"].values())')"
check "status: DANE lookups / checked / overridden" "5 5 0" \
	"$(jq_py "$T/status.json" '"%d %d %d" % (j["resolver"]["dane"]["lookups"], j["resolver"]["dane"]["checked"], j["resolver"]["dane"]["sts_overridden"])')"
check "status: DANE verdicts (all none)" "none=5 dane=0 dane-only=0 tempfail=0 canceled=0 dane-unless-sts=0 tempfail-unless-sts=0" \
	"$(jq_py "$T/status.json" '" ".join("%s=%d" % kv for kv in j["resolver"]["dane"]["verdicts"].items())')"
# enforce.test twice: the second DANE lookup is answered from the DANE cache. Each of the
# 4 jobs sends one MX query, and its NXDOMAIN answer ends the job.
check "status: DANE cache hits / misses / jobs / queries" "1 4 4 4" \
	"$(jq_py "$T/status.json" '"%d %d %d %d" % (j["resolver"]["dane"]["cache_hits"], j["resolver"]["dane"]["cache_misses"], j["resolver"]["dane"]["jobs"], j["resolver"]["dane"]["queries"])')"
check "status: last errors name fail.test" "fail.test tempfail" \
	"$(jq_py "$T/status.json" '" ".join("%s %s" % (e["domain"], e["state"]) for e in j["resolver"]["last_errors"])')"
check_match "status: last error text" 'HTTP|status' "$(jq_py "$T/status.json" "$R[\"last_errors\"][0][\"error\"]")"

# ---- /policies/<domain>
get /policies/enforce.test >"$T/pol.json"
check "policies: enforce.test" "policy enf1 enforce 604800 mail.enforce.test,*.mx.enforce.test" \
	"$(jq_py "$T/pol.json" '"%s %s %s %d %s" % (j["state"], j["id"], j["policy"]["mode"], j["policy"]["max_age"], ",".join(j["policy"]["mx"]))')"
check_match "policies: expires_at = fetched_at + max_age" True \
	"$(jq_py "$T/pol.json" 'j["expires_at"] - j["fetched_at"] == 604800')"
get /policies/ENFORCE.Test. >"$T/pol2.json"
check "policies: name normalised" enforce.test "$(jq_py "$T/pol2.json" 'j["domain"]')"
get /policies/fail.test >"$T/pol3.json"
check "policies: fail.test is a cached temporary failure" "tempfail None" \
	"$(jq_py "$T/pol3.json" '"%s %s" % (j["state"], j["policy"])')"
get /policies/nx.test >"$T/pol4.json"
check "policies: nx.test is cached as no policy" no-policy "$(jq_py "$T/pol4.json" 'j["state"]')"
check "policies: not cached -> 404" 404 "$(code GET /policies/unknown.test -H "$AUTH")"
check "policies: invalid name -> 400" 400 "$(code GET /policies/bad..name -H "$AUTH")"
check "policies: no name -> 404" 404 "$(code GET /policies/ -H "$AUTH")"
# %00 stays literal (common/httpd.c httpd_unescape): the name is not cut at a NUL into a
# cached domain's (the trial: /policies/enforce.test%00x answered enforce.test's entry).
check "policies: %00 in the name -> 400, not the entry before the NUL" 400 \
	"$(code GET '/policies/enforce.test%00x' -H "$AUTH")"
check "policies: %2E decoded -> the entry" 200 "$(code GET '/policies/enforce%2Etest' -H "$AUTH")"

# ---- /metrics
get /metrics -D "$T/metrics.hdr" >"$T/metrics.txt"
check_match "metrics: content type 0.0.4" 'text/plain; version=0.0.4' "$(cat "$T/metrics.hdr")"
m() { grep -E "^$1 " "$T/metrics.txt" | awk '{print $2}'; }
check "metrics: replies ok" 2 "$(m 'mtastsd_socketmap_replies_total\{type="ok"\}')"
check "metrics: replies notfound" 3 "$(m 'mtastsd_socketmap_replies_total\{type="notfound"\}')"
check "metrics: fetches ok" 2 "$(m 'mtastsd_policy_fetches_total\{outcome="ok"\}')"
check "metrics: fetches http_error" 1 "$(m 'mtastsd_policy_fetches_total\{outcome="http_error"\}')"
check "metrics: cache entries" 4 "$(m mtastsd_cache_entries)"
check "metrics: lookups" 5 "$(m mtastsd_policy_lookups_total)"
check "metrics: certificate expiry pub1" "$exp1" \
	"$(m 'mtastsd_certificate_expiry_timestamp_seconds\{domain="pub1.test"\}')"
check "metrics: certificate expiry pub2" "$exp2" \
	"$(m 'mtastsd_certificate_expiry_timestamp_seconds\{domain="pub2.test"\}')"
check "metrics: replies decided by sts" 2 "$(m 'mtastsd_socketmap_replies_decided_total\{source="sts"\}')"
check "metrics: replies decided by none" 3 "$(m 'mtastsd_socketmap_replies_decided_total\{source="none"\}')"
check "metrics: replies decided by dane / dane-only / dane-tempfail" "0 0 0" \
	"$(m 'mtastsd_socketmap_replies_decided_total\{source="dane"\}') $(m 'mtastsd_socketmap_replies_decided_total\{source="dane-only"\}') $(m 'mtastsd_socketmap_replies_decided_total\{source="dane-tempfail"\}')"
check "metrics: DANE lookups with outcome none" 5 "$(m 'mtastsd_dane_lookups_total\{outcome="none"\}')"
check "metrics: DANE lookups with outcome dane-only" 0 "$(m 'mtastsd_dane_lookups_total\{outcome="dane-only"\}')"
check "metrics: DANE fresh cache hits" 1 "$(m 'mtastsd_dane_cache_hits_total\{kind="fresh"\}')"
check "metrics: Valkey not configured" 0 "$(m mtastsd_valkey_enabled)"
check "metrics: no mtastsd_valkey_up without a Valkey tier" 0 \
	"$(grep -c '^mtastsd_valkey_up' "$T/metrics.txt" || true)"
check_match "metrics: uptime" '^[0-9]+$' "$(m mtastsd_uptime_seconds)"
check "metrics: published modes" 'enforce testing' \
	"$(grep -E '^mtastsd_published_policy_mode' "$T/metrics.txt" | sed 's/.*mode="\([a-z]*\)".*/\1/' | xargs)"
# Exposition format: every sample belongs to a family with HELP and TYPE before it, names
# are mtastsd_*, counters end in _total, values are numbers.
python3 - "$T/metrics.txt" >"$T/metrics.check" <<'PY' || true
import re, sys
help_, type_, bad = {}, {}, []
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+)$')
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    if line.startswith("# HELP "):
        help_[line.split()[2]] = n
    elif line.startswith("# TYPE "):
        _, _, name, t = line.split()
        type_[name] = t
        if name not in help_:
            bad.append("no HELP before TYPE %s" % name)
        if t == "counter" and not name.endswith("_total"):
            bad.append("counter %s without _total" % name)
    else:
        mm = sample.match(line)
        if not mm:
            bad.append("line %d malformed: %s" % (n, line))
            continue
        if mm.group(1) not in type_:
            bad.append("sample %s has no TYPE" % mm.group(1))
        if not mm.group(1).startswith("mtastsd_"):
            bad.append("name %s is not mtastsd_*" % mm.group(1))
print("ok %d families" % len(type_) if not bad else "; ".join(bad[:5]))
PY
check_match "metrics: exposition format" '^ok [0-9]+ families$' "$(cat "$T/metrics.check")"

# ---- / (HTML)
get / -D "$T/page.hdr" >"$T/page.html"
check_match "page: text/html" 'Content-Type: text/html; charset=utf-8' "$(cat "$T/page.hdr")"
check_match "page: CSP forbids external assets" "default-src 'none'" "$(cat "$T/page.hdr")"
check_match "page: pub1.test with its mode" '<td class="domain">pub1.test</td><td class="mode-enforce">enforce' \
	"$(cat "$T/page.html")"
check_match "page: pub2.test days left" 'class="num warn days">9<' "$(cat "$T/page.html")"
check_match "page: lookups counter" 'id="c-lookups">5<' "$(cat "$T/page.html")"
check_match "page: replies decided by sts" 'id="c-decided_sts">2<' "$(cat "$T/page.html")"
check_match "page: replies decided by none" 'id="c-decided_none">3<' "$(cat "$T/page.html")"
check_match "page: DANE verdict none" 'id="c-dane_verdict_none">5<' "$(cat "$T/page.html")"
check_match "page: Valkey tier disabled" 'id="valkey-state">disabled<' "$(cat "$T/page.html")"
check_match "page: recent failure fail.test" '<td class="domain">fail.test</td><td>tempfail' \
	"$(cat "$T/page.html")"
check "page: no external references" 0 \
	"$(grep -Eoc '(src|href)="(https?:)?//' "$T/page.html" || true)"

# ---- purge
check "GET /cache/purge -> 405" 405 "$(code GET /cache/purge -H "$AUTH")"
check "cross-origin purge refused" 403 \
	"$(code POST '/cache/purge?domain=enforce.test' -H "$AUTH" -H 'Origin: http://evil.test')"
get '/cache/purge?domain=Enforce.Test' -X POST >"$T/purge1.json"
check "purge one domain" "1 enforce.test 3" \
	"$(jq_py "$T/purge1.json" '"%d %s %d" % (j["purged"], j["domain"], j["entries"])')"
check "purged domain is gone" 404 "$(code GET /policies/enforce.test -H "$AUTH")"
get '/cache/purge?domain=enforce.test' -X POST >"$T/purge2.json"
check "purge again: nothing" 0 "$(jq_py "$T/purge2.json" 'j["purged"]')"
check "purge invalid name -> 400" 400 "$(code POST '/cache/purge?domain=a..b' -H "$AUTH")"
check "lookup after purge" "$(pm_ok "$ENF")" "$(pm "$SM" postfix enforce.test)"
check "lookup after purge fetched again" 2 "$(fetch_count www mta-sts.enforce.test)"
get /cache/purge -X POST >"$T/purge3.json"
check "purge all" "4 None 0" \
	"$(jq_py "$T/purge3.json" '"%d %s %d" % (j["purged"], j["domain"], j["entries"])')"
check "metrics after purge all: cache empty" 0 "$(get /metrics | grep -E '^mtastsd_cache_entries ' | awk '{print $2}')"

# ---- token, methods, unknown paths
check "no token -> 401" 401 "$(code GET /status)"
check_match "401 names the scheme" 'WWW-Authenticate: Bearer' \
	"$(curl -sS -D - -o /dev/null "$URL/metrics")"
check "wrong token -> 401" 401 "$(code GET /status -H 'Authorization: Bearer nope')"
check_match "wrong token: the body says so" 'wrong bearer token' \
	"$(curl -sS --max-time "$LIVE_S" -H 'Authorization: Bearer nope' "$URL/status")"
check_match "no token: the body says one is required" 'a bearer token is required' \
	"$(curl -sS --max-time "$LIVE_S" "$URL/status")"
check "token prefix only -> 401" 401 "$(code GET /status -H "Authorization: Bearer ${TOKEN%?}")"
check "token with a suffix -> 401" 401 "$(code GET /status -H "Authorization: Bearer ${TOKEN}x")"
check "basic auth -> 401" 401 "$(code GET /status -u "x:$TOKEN")"
check "purge without token -> 401" 401 "$(code POST /cache/purge)"
check "page without token -> 401" 401 "$(code GET /)"
check "lower-case scheme accepted" 200 "$(code GET /status -H "authorization: bearer $TOKEN")"
check "HEAD /status" 200 "$(code HEAD /status -H "$AUTH" -I)"
check "PUT /status -> 405" 405 "$(code PUT /status -H "$AUTH")"
check "DELETE / -> 405" 405 "$(code DELETE / -H "$AUTH")"
check "unknown path -> 404" 404 "$(code GET /nope -H "$AUTH")"
# ---- Host: a DNS-rebinding page sends its own name; only the endpoint's names are answered
# hcode HOST PATH [CURL-ARGS...]: the status of GET PATH sent with "Host: HOST" (token sent).
hcode() {
	local h=$1 p=$2
	shift 2
	curl -sS --max-time "$LIVE_S" -o /dev/null -w '%{http_code}' -H "$AUTH" -H "Host: $h" "$@" "$URL$p"
}
# refused REASON: the mtastsd_admin_requests_refused_total sample of that reason
refused() {
	get /metrics | awk -v m="mtastsd_admin_requests_refused_total{reason=\"$1\"}" '$1 == m {print $2}'
}
check "lookup enforce.test again (the cache was purged)" "$(pm_ok "$ENF")" "$(pm "$SM" postfix enforce.test)"
h0=$(refused host)
check "Host evil.example: /status -> 421" 421 "$(hcode evil.example /status)"
check "Host evil.example:port: /policies/<d> -> 421" 421 "$(hcode "evil.example:$ADM" /policies/testing.test)"
check "Host evil.example: / -> 421" 421 "$(hcode evil.example /)"
check "Host evil.example: /metrics -> 421" 421 "$(hcode evil.example /metrics)"
check "Host localhost.evil.example -> 421" 421 "$(hcode localhost.evil.example /status)"
check "Host 0.0.0.0:port -> 421" 421 "$(hcode "0.0.0.0:$ADM" /status)"
curl -sS --max-time "$LIVE_S" -H "$AUTH" -H 'Host: evil.example' "$URL/status" >"$T/h421.json"
check "421 body: what to do, no status data" \
	'unknown Host: use localhost or 127.0.0.1, or list the name in admin.allowed_hosts' \
	"$(jq_py "$T/h421.json" 'j["error"] if list(j) == ["error"] else j')"
check "HTTP/1.1 without Host -> 400" 400 \
	"$(curl -sS --max-time "$LIVE_S" -o /dev/null -w '%{http_code}' -H "$AUTH" -H 'Host:' "$URL/status")"
check "refused Hosts counted (7 x 421, 1 x 400)" $((h0 + 8)) "$(refused host)"
check "Host 127.0.0.1:port (curl's own) -> 200" 200 "$(hcode "127.0.0.1:$ADM" /status)"
check "Host localhost:port -> 200" 200 "$(hcode "localhost:$ADM" /status)"
check "Host LOCALHOST. -> 200" 200 "$(hcode LOCALHOST. /policies/enforce.test)"
check "Host [::1]:port -> 200" 200 "$(hcode "[::1]:$ADM" /metrics)"
check "Host 127.0.0.2 -> 200" 200 "$(hcode 127.0.0.2 /)"
check "HTTP/1.0 without Host -> 200" 200 \
	"$(curl -sS --max-time "$LIVE_S" -0 -o /dev/null -w '%{http_code}' -H "$AUTH" -H 'Host:' "$URL/status")"
check "accepted Hosts are not counted as refused" $((h0 + 8)) "$(refused host)"
check_match "a refused Host is logged as a warning" \
	"warning: admin: refused a request for Host 'evil.example' with 421: not loopback" \
	"$(cat "$T/mtastsd.log")"
# at most one warning per 10 s for 8 refusals within a few seconds: the rest at debug level
nwarn=$(grep -c 'warning: admin: refused a request' "$T/mtastsd.log" || true)
check "refused Hosts: fewer warnings than refusals ($nwarn)" yes "$([ "$nwarn" -lt 8 ] && echo yes || echo no)"
check "purge with a rebinding Host -> 421 (token sent)" 421 \
	"$(code POST '/cache/purge?domain=enforce.test' -H "$AUTH" -H 'Host: evil.example')"
check "the cache is intact after it" 200 "$(code GET /policies/enforce.test -H "$AUTH")"
check "admin is not on the publisher listener" 404 \
	"$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/ca.pem" \
		--resolve "mta-sts.pub1.test:$PUB:127.0.0.1" "https://mta-sts.pub1.test:$PUB/status")"
check "the publisher serves its policy" 200 \
	"$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/ca.pem" \
		--resolve "mta-sts.pub1.test:$PUB:127.0.0.1" "https://mta-sts.pub1.test:$PUB/.well-known/mta-sts.txt")"

# ---- reloads: digest and counters
old_sha=$(sha256sum "$T/mtastsd.conf" | cut -d' ' -f1)
echo '# changed' >>"$T/mtastsd.conf"
kill -HUP "$(cat "$T/mtastsd.pid")"
wait_log mtastsd 'configuration reloaded' || true
get /status >"$T/status2.json"
check "reload: digest follows the file" "$(sha256sum "$T/mtastsd.conf" | cut -d' ' -f1)" \
	"$(jq_py "$T/status2.json" 'j["config"]["sha256"]')"
check "reload: counted" "1 0 True" \
	"$(jq_py "$T/status2.json" '"%d %d %s" % (j["config"]["reloads"], j["config"]["reload_failures"], j["config"]["last_reload_ok"])')"
good_sha=$(sha256sum "$T/mtastsd.conf" | cut -d' ' -f1)
[ "$good_sha" != "$old_sha" ] || die "the config did not change"
cp "$T/mtastsd.conf" "$T/good.conf"
echo 'resolver = { dns_timeout = "1ms"; };' >>"$T/mtastsd.conf"
kill -HUP "$(cat "$T/mtastsd.pid")"
wait_log mtastsd 'reload failed' || true
get /status >"$T/status3.json"
check "failed reload: digest of the config in use" "$good_sha" \
	"$(jq_py "$T/status3.json" 'j["config"]["sha256"]')"
check "failed reload: counted" "1 1 False" \
	"$(jq_py "$T/status3.json" '"%d %d %s" % (j["config"]["reloads"], j["config"]["reload_failures"], j["config"]["last_reload_ok"])')"
check "metrics: failed reload gauge" 0 \
	"$(get /metrics | grep -E '^mtastsd_config_last_reload_successful ' | awk '{print $2}')"

# ---- at its connection limit (ADMIN_MAX_CONNECTIONS = 32), the admin endpoint recovers once
# they go: a) 32 clients that close by themselves after 1 s, b) 32 idle clients held past the
# 10 s idle timeout (libmicrohttpd stops watching the listener at the limit and only watches
# it again on its next run: the loop must give it that run). The clients wait up to LIVE_S
# past the daemon's deadlines: they check that the daemon acts, not how fast.
python3 - "$ADM" 32 1 <<'EOP' >"$T/adm_limit_a.out"
import socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(n)]
time.sleep(hold)
for s in socks:
    s.close()
print("closed", len(socks))
EOP
check "limit a: 32 clients opened and closed" "closed 32" "$(cat "$T/adm_limit_a.out")"
check "limit a: /status answers right after they close" 200 "$(code GET /status -H "$AUTH")"
python3 - "$ADM" 32 $((10 + LIVE_S)) <<'EOP' >"$T/adm_limit_b.out"
import socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(n)]
end = time.monotonic() + hold
closed = 0
for s in socks:
    s.settimeout(max(0.01, end - time.monotonic()))
    try:
        if s.recv(1) == b"":
            closed += 1
    except OSError:
        pass
print("closed by the daemon", closed)
for s in socks:
    s.close()
EOP
check "limit b: the daemon closed the 32 idle clients (10 s idle timeout)" \
	"closed by the daemon 32" "$(cat "$T/adm_limit_b.out")"
check "limit b: /status answers afterwards" 200 "$(code GET /status -H "$AUTH")"
# c) 32 clients dripping a request one byte a second: the idle timeout never fires, the
# request deadline (10 s from accept) cuts them and frees the slots. Right after they
# connect, a 33rd client sends a whole /status request: no reply for 1 s (every slot is
# held, and the deadline is 10 s away), then its reply once the drippers are cut.
python3 - "$ADM" 32 $((10 + LIVE_S)) "$AUTH" <<'EOP' >"$T/adm_limit_c.out"
import select, socket, sys, time
port, n, secs, auth = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
t0 = time.monotonic()
socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(n)]
probe = socket.create_connection(("127.0.0.1", port), timeout=60)
probe.sendall(("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nConnection: close\r\n\r\n"
               % auth).encode())
req = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: " + b"a" * 1000
cut, i, early, reply, probe_open = {}, 0, None, b"", True
while time.monotonic() - t0 < secs and len(cut) < n:
    for k, s in enumerate(socks):
        if k in cut:
            continue
        try:
            s.send(req[i:i + 1])
        except OSError:
            cut[k] = time.monotonic() - t0
    i += 1
    # the drip's pace, one byte a second, waiting for the probe's reply meanwhile
    r = select.select([probe], [], [], 1)[0] if probe_open else time.sleep(1)
    if early is None:
        early = "reply" if r else "none"
    if r:
        d = probe.recv(65536)
        reply += d
        probe_open = bool(d)
probe.settimeout(60)
while probe_open:
    d = probe.recv(65536)
    reply += d
    probe_open = bool(d)
print("cut %d last %.0f" % (len(cut), max(cut.values(), default=0)))
print("probe_first_second=%s" % early)
print("probe_status=%s" % (reply.split(b" ")[1].decode() if reply.startswith(b"HTTP/") else "none"))
for s in socks:
    s.close()
EOP
read -r _ ncut _ last <"$T/adm_limit_c.out"
say "     limit c: the last dripping client was cut after $last s"
check "limit c: slots held by dripping clients: /status gets none" none \
	"$(sed -n 's/^probe_first_second=//p' "$T/adm_limit_c.out")"
check "limit c: the daemon cut all 32 dripping clients" 32 "$ncut"
check "limit c: the waiting /status request is answered once they are cut" 200 \
	"$(sed -n 's/^probe_status=//p' "$T/adm_limit_c.out")"
check "limit c: /status answers afterwards" 200 "$(code GET /status -H "$AUTH")"
check_match "limit c: the cut is logged" 'admin: closed [0-9]+ connections? that sent no complete request within 10 s' \
	"$(cat "$T/mtastsd.log")"

# ---- admin.token and admin.allowed_hosts are applied by a reload (no restart)
TOKEN2='n3w-token_after_reload'
check "Host admin.example.test before it is listed -> 421" 421 "$(hcode admin.example.test /status)"
sed "s|token = \"$TOKEN\"|token = \"$TOKEN2\"; allowed_hosts = [ \"Admin.Example.Test\", \"192.0.2.7\" ]|" \
	"$T/good.conf" >"$T/mtastsd.conf"
grep -q "$TOKEN2" "$T/mtastsd.conf" || die "the token was not replaced in the config"
kill -HUP "$(cat "$T/mtastsd.pid")"
wait_log mtastsd 'admin.token changed' || true
check "token reload: logged" 1 "$(grep -c 'admin: admin.token changed' "$T/mtastsd.log" || true)"
check "token reload: the old token is refused" 401 "$(code GET /status -H "$AUTH")"
check "token reload: the new token is accepted" 200 \
	"$(code GET /status -H "Authorization: Bearer $TOKEN2")"
AUTH="Authorization: Bearer $TOKEN2"
check "allowed_hosts reload: logged" 1 \
	"$(grep -c 'admin: admin.allowed_hosts changed: 2 names' "$T/mtastsd.log" || true)"
check "allowed_hosts reload: Host admin.example.test.:port -> 200" 200 \
	"$(hcode "admin.example.test.:$ADM" /status)"
check "allowed_hosts reload: Host 192.0.2.7 -> 200" 200 "$(hcode 192.0.2.7 /status)"
check "allowed_hosts reload: Host evil.example still -> 421" 421 "$(hcode evil.example /status)"

# ---- shutdown closes the admin listener and exits 0
kill -TERM "$(cat "$T/mtastsd.pid")"
is_dead() { [ "$(alive "$1")" = dead ]; }
wait_for "$LIVE_S" is_dead mtastsd || true
check "SIGTERM: exited" dead "$(alive mtastsd)"
check "SIGTERM: admin listener closed" 000 "$(code GET /status -H "$AUTH" 2>/dev/null || true)"

# ---- the Valkey/Redis tier: a redis-server of our own on loopback
if have_cmd "the Valkey/Redis tier checks" redis-server redis-cli; then
	R=$(free_port tcp)
	SM2=$(free_port tcp)
	ADM2=$(free_port tcp)
	CMD_TIMEOUT_MS=300
	URL2="http://127.0.0.1:$ADM2"
	pong() { [ "$(redis-cli -p "$R" ping 2>/dev/null)" = PONG ]; }
	redis_start() {
		start_bg "$1" redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no
		wait_tcp "$R"
		wait_for "$LIVE_S" pong || die "redis-server on $R does not answer PING"
	}
	# c2 ARGS...: curl to the redis-backed daemon's admin endpoint, with its token (a purge
	# over TCP needs one)
	c2() { curl -sS --max-time "$LIVE_S" -H "Authorization: Bearer $TOKEN" "$@"; }
	# up2: the mtastsd_valkey_up sample of the redis-backed daemon
	up2() { c2 "$URL2/metrics" | awk '$1 == "mtastsd_valkey_up" {print $2}'; }
	# st2 EXPR: a python expression over the valkey object v of its /status
	st2() {
		c2 "$URL2/status" >"$T/st2.json"
		jq_py "$T/st2.json" "(lambda v: $1)(j['resolver']['valkey'])"
	}
	redis_start redis
	RES_NEGATIVE_TTL=10m resolver_conf "$T/redis.conf" "$SM2" "$DNS" "$HTTPS"
	sed -i '/^admin = /d' "$T/redis.conf"
	cat >>"$T/redis.conf" <<EOC
admin = { listen = "127.0.0.1:$ADM2"; token = "$TOKEN"; };
cache = {
	backend = "redis";
	redis = {
		address = "127.0.0.1:$R";
		prefix = "tadmin";
		command_timeout = "${CMD_TIMEOUT_MS}ms";
		connect_timeout = "500ms";
	};
};
EOC
	mtastsd_start rd "$T/redis.conf" "$SM2"
	wait_tcp "$ADM2"
	wait_log rd 'cache.redis: connected' || true
	check "valkey: /status state connected" "connected True 127.0.0.1:$R" \
		"$(st2 '"%s %s %s" % (v["state"], v["up"], v["address"])')"
	check "valkey: cache backend redis" redis "$(jq_py "$T/st2.json" 'j["resolver"]["cache"]["backend"]')"
	check "valkey: mtastsd_valkey_up 1" 1 "$(up2)"
	check "valkey: mtastsd_valkey_enabled 1" 1 \
		"$(c2 "$URL2/metrics" | awk '$1 == "mtastsd_valkey_enabled" {print $2}')"
	check_match "valkey: the page shows connected" 'id="valkey-state">connected<' \
		"$(c2 "$URL2/")"
	# enforce.test, not in redis yet: the shared read misses, the lock script reads it again
	# (miss) and takes the fetch lock, the policy is fetched and written.
	n0=$(fetch_count www mta-sts.enforce.test)
	check "valkey: lookup enforce.test" "$(pm_ok "$ENF")" "$(pm "$SM2" postfix enforce.test)"
	check "valkey: enforce.test fetched once" $((n0 + 1)) "$(fetch_count www mta-sts.enforce.test)"
	written() { [ "$(st2 'v["writes"]')" = 1 ]; }
	wait_for "$LIVE_S" written || true
	check "valkey: policy written to redis" 1 "$(redis-cli -p "$R" exists tadmin:v1:sts:enforce.test)"
	check "valkey: hits misses writes locks_taken after the first lookup" "0 2 1 1" \
		"$(st2 '"%d %d %d %d" % (v["hits"], v["misses"], v["writes"], v["locks_taken"])')"
	# Out of the memory cache: the next lookup is answered from redis (a hit, no fetch).
	check "valkey: purge enforce.test from memory" 1 \
		"$(c2 -X POST "$URL2/cache/purge?domain=enforce.test" | python3 -c 'import json,sys; print(json.load(sys.stdin)["purged"])')"
	check "valkey: lookup enforce.test from redis" "$(pm_ok "$ENF")" "$(pm "$SM2" postfix enforce.test)"
	check "valkey: no second fetch" $((n0 + 1)) "$(fetch_count www mta-sts.enforce.test)"
	check "valkey: hits misses errors timeouts" "1 2 0 0" \
		"$(st2 '"%d %d %d %d" % (v["hits"], v["misses"], v["errors"], v["timeouts"])')"
	c2 "$URL2/metrics" >"$T/metrics2.txt"
	m2() { grep -E "^$1 " "$T/metrics2.txt" | awk '{print $2}'; }
	check "valkey: commands hit / miss / error / timeout" "1 2 0 0" \
		"$(m2 'mtastsd_valkey_commands_total\{result="hit"\}') $(m2 'mtastsd_valkey_commands_total\{result="miss"\}') $(m2 'mtastsd_valkey_commands_total\{result="error"\}') $(m2 'mtastsd_valkey_commands_total\{result="timeout"\}')"
	check "valkey: state gauge" "1 0 0" \
		"$(m2 'mtastsd_valkey_state\{state="connected"\}') $(m2 'mtastsd_valkey_state\{state="connecting"\}') $(m2 'mtastsd_valkey_state\{state="down"\}')"
	check "valkey: one successful connect" 1 "$(m2 'mtastsd_valkey_connects_total\{result="success"\}')"
	check_match "valkey: page counters" 'id="c-valkey_hits">1<' "$(c2 "$URL2/")"

	# redis-server stops: the connection closes, the gauge drops to 0 at once; at the
	# latest when a command times out (command_timeout) and the next attempt fails
	# (reconnect backoff, at most 2000 ms, cache_redis.h). Polled (LIVE_S).
	stop_bg redis
	up_is() { [ "$(up2)" = "$1" ]; }
	wait_for "$LIVE_S" up_is 0 || true
	check "valkey: mtastsd_valkey_up 0 after redis-server stopped" 0 "$(up2)"
	check_match "valkey: /status state down or connecting, not up" '^(down|connecting) False [1-9]' \
		"$(st2 '"%s %s %d" % (v["state"], v["up"], v["errors"])')"
	check "valkey: one outage" 1 "$(st2 'v["outages"]')"
	check_match "valkey: the page shows the state" 'id="valkey-state">(down|connecting)<' \
		"$(c2 "$URL2/")"
	# Lookups go on without it: testing.test is discovered directly (its read, lock and
	# write are not sent).
	check "valkey down: lookup testing.test" "$(pm_notfound)" "$(pm "$SM2" postfix testing.test)"
	check "valkey down: operations not sent" 3 "$(st2 'v["unavailable"]')"
	check "valkey down: metric of operations not sent" 3 \
		"$(c2 "$URL2/metrics" | awk '$1 == "mtastsd_valkey_unavailable_total" {print $2}')"

	# redis-server back: reconnected after the backoff (polled, LIVE_S).
	redis_start redis2
	wait_for "$LIVE_S" up_is 1 || true
	check "valkey: mtastsd_valkey_up 1 again after redis-server restarted" 1 "$(up2)"
	check "valkey: connected again, 2 connects" "connected 2" "$(st2 '"%s %d" % (v["state"], v["connects"])')"
	stop_bg rd
	stop_bg redis2
fi

# ---- a unix-socket admin listener, no token, resolver off
cat >"$T/unix.conf" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s"; };
resolver = { enabled = false; };
admin = { listen = { path = "$T/admin.sock"; mode = "0600"; }; };
EOC
start_bg unixd "$MTASTSD" -f -c "$T/unix.conf"
wait_log unixd 'admin: listening on unix:' || true
check "unix socket mode 0600" 600 "$(stat -c %a "$T/admin.sock")"
curl -sS --max-time "$LIVE_S" --unix-socket "$T/admin.sock" http://localhost/status >"$T/ustatus.json"
check "unix socket: /status, resolver off, publisher off" "False False 0" \
	"$(jq_py "$T/ustatus.json" '"%s %s %d" % (j["resolver"]["enabled"], j["publisher"]["running"], len(j["publisher"]["domains"]))')"
check_match "unix socket: metrics say the resolver is off" '^mtastsd_resolver_enabled 0$' \
	"$(curl -sS --max-time "$LIVE_S" --unix-socket "$T/admin.sock" http://localhost/metrics)"
check "unix socket: purge with the resolver off -> 409" 409 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -X POST --unix-socket "$T/admin.sock" http://localhost/cache/purge)"
stop_bg unixd
check "unix socket removed at exit" no "$([ -e "$T/admin.sock" ] && echo yes || echo no)"

# ---- no token, TCP listener: a purge is refused and the cache stays intact
SM3=$(free_port tcp)
ADM3=$(free_port tcp)
URL3="http://127.0.0.1:$ADM3"
RES_NEGATIVE_TTL=10m resolver_conf "$T/nt.conf" "$SM3" "$DNS" "$HTTPS"
sed -i "s|^admin = { enabled = false; };|admin = { listen = \"127.0.0.1:$ADM3\"; };|" "$T/nt.conf"
mtastsd_start nt "$T/nt.conf" "$SM3"
wait_tcp "$ADM3"
# c3 ARGS...: curl to it, status only
c3() { curl -sS --max-time "$LIVE_S" -o /dev/null -w '%{http_code}' "$@"; }
check "no token: lookup enforce.test" "$(pm_ok "$ENF")" "$(pm "$SM3" postfix enforce.test)"
check "no token: lookup nx.test" "$(pm_notfound)" "$(pm "$SM3" postfix nx.test)"
check "no token: /status over TCP -> 200" 200 "$(c3 "$URL3/status")"
check "no token: purge all over TCP -> 403" 403 "$(c3 -X POST "$URL3/cache/purge")"
check "no token: purge one over TCP -> 403" 403 "$(c3 -X POST "$URL3/cache/purge?domain=enforce.test")"
curl -sS --max-time "$LIVE_S" -X POST "$URL3/cache/purge" >"$T/nt_purge.json"
check "no token: the 403 says what to do" \
	'purging the cache over TCP needs a token: set admin.token, or use a unix-socket admin.listen' \
	"$(jq_py "$T/nt_purge.json" 'j["error"]')"
check "no token: the cached policy is still there" 200 "$(c3 "$URL3/policies/enforce.test")"
check "no token: the cache still holds both entries" 2 \
	"$(curl -sS --max-time "$LIVE_S" "$URL3/metrics" | awk '$1 == "mtastsd_cache_entries" {print $2}')"
check "no token: refused purges counted" 3 \
	"$(curl -sS --max-time "$LIVE_S" "$URL3/metrics" | awk '$1 == "mtastsd_admin_requests_refused_total{reason=\"purge_without_token\"}" {print $2}')"
check_match "no token: the refusal is logged" \
	'warning: admin: refused POST /cache/purge over TCP with 403: admin.token is unset' \
	"$(cat "$T/nt.log")"
check "no token: Host evil.example -> 421" 421 "$(c3 -H 'Host: evil.example' "$URL3/status")"
check "no token: lookup enforce.test still from the cache" "$(pm_ok "$ENF")" "$(pm "$SM3" postfix enforce.test)"
stop_bg nt

# ---- a unix-socket admin listener purges without a token; the Host check applies there too
SM4=$(free_port tcp)
RES_NEGATIVE_TTL=10m resolver_conf "$T/ux.conf" "$SM4" "$DNS" "$HTTPS"
sed -i "s|^admin = { enabled = false; };|admin = { listen = { path = \"$T/ux.sock\"; mode = \"0600\"; }; };|" "$T/ux.conf"
mtastsd_start ux "$T/ux.conf" "$SM4"
wait_log ux 'admin: listening on unix:' || true
# c4 URL [ARGS...]: curl over the unix socket, status only
c4() { curl -sS --max-time "$LIVE_S" -o /dev/null -w '%{http_code}' --unix-socket "$T/ux.sock" "$@"; }
check "unix: lookup enforce.test" "$(pm_ok "$ENF")" "$(pm "$SM4" postfix enforce.test)"
check "unix: enforce.test cached" 200 "$(c4 http://localhost/policies/enforce.test)"
check "unix: purge with a rebinding Host -> 421" 421 \
	"$(c4 -X POST 'http://evil.example/cache/purge?domain=enforce.test')"
check "unix: still cached after it" 200 "$(c4 http://localhost/policies/enforce.test)"
curl -sS --max-time "$LIVE_S" --unix-socket "$T/ux.sock" -X POST \
	'http://localhost/cache/purge?domain=enforce.test' >"$T/ux_purge.json"
check "unix: purge without a token" "1 enforce.test" \
	"$(jq_py "$T/ux_purge.json" '"%d %s" % (j["purged"], j["domain"])')"
check "unix: purged entry gone" 404 "$(c4 http://localhost/policies/enforce.test)"
check "unix: Host evil.example -> 421" 421 "$(c4 http://evil.example/status)"
stop_bg ux

# ---- a public address without a token is refused
cat >"$T/public.conf" <<EOC
process = { allow_root = true; };
resolver = { enabled = false; };
admin = { listen = "0.0.0.0:$ADM"; };
EOC
rc=0
"$MTASTSD" -f -c "$T/public.conf" >"$T/public.log" 2>&1 || rc=$?
check "public admin address without a token: exit 1" 1 "$rc"
check_match "public admin address refusal explained" 'not a loopback address and admin.token is unset' \
	"$(cat "$T/public.log")"

finish
