#!/bin/bash
# tests/system/t_publisher.sh - the publisher against real clients (loopback only)
#
# Three domains (plus a fourth sharing a certificate) on one HTTPS listener, each with its
# own certificate made by a test CA at run time. Checks: policy body and headers with curl,
# HEAD/404/405, GET/HEAD with a body -> 413 and Host header abuse -> 400 (both listeners, raw
# requests: two Host headers, control characters, HTTP/1.1 without Host, whitespace before a
# field's colon), OWS around the Host value ignored, HTTP/1.0 without Host, SNI certificate
# choice and the no-SNI fallback (openssl s_client,
# gnutls-cli), TLS 1.1 refused, port 80 (ACME token, 301, traversal attempts),
# `mtastsd dns-records`, certificate reload through inotify (plain files and the Let's
# Encrypt symlink layout; an open keep-alive connection survives; broken replacements are
# refused and named, the recovery logged), the policy id lines at startup and on SIGHUP, the
# restart-only key changed on SIGHUP (one line naming it), a reload that would remove every
# domain, a start with a key that does not match (that domain unpublished, the rest served),
# and
# Debian's mta-sts-query accepting the policy inside a
# network namespace with its own DNS server (dnsmasq) on 127.0.0.1:53.

. "$(dirname "$0")/lib.sh"

need_cmd curl openssl gnutls-cli gnutls-serv certtool python3

P=$(free_port tcp)
H=$(free_port tcp)
while [ "$H" = "$P" ]; do H=$(free_port tcp); done

# ---- certificates ---------------------------------------------------------------------------

make_ca
make_cert d1 mta-sts.d1.test
make_cert d2 mta-sts.d2.test
# d3's certificate also names mta-sts.d4.test (a configured domain sharing the files) and
# mta-sts.d5.test (not configured: only the SAN match can pick it).
make_cert d3 mta-sts.d3.test mta-sts.d4.test mta-sts.d5.test

# d1 uses the Let's Encrypt layout: live/ holds symlinks into archive/.
LE=$T/le
mkdir -p "$LE/archive/d1.test" "$LE/live/d1.test" "$T/d2" "$T/d3"
cp "$T/d1.fullchain.pem" "$LE/archive/d1.test/fullchain1.pem"
cp "$T/d1.key" "$LE/archive/d1.test/privkey1.pem"
ln -s ../../archive/d1.test/fullchain1.pem "$LE/live/d1.test/fullchain.pem"
ln -s ../../archive/d1.test/privkey1.pem "$LE/live/d1.test/privkey.pem"
cp "$T/d2.fullchain.pem" "$T/d2/fullchain.pem"
cp "$T/d2.key" "$T/d2/privkey.pem"
cp "$T/d3.fullchain.pem" "$T/d3/fullchain.pem"
cp "$T/d3.key" "$T/d3/privkey.pem"

mkdir -p "$T/webroot/.well-known/acme-challenge"
printf 'tok_EN-123.thumbprint' >"$T/webroot/.well-known/acme-challenge/tok_EN-123"
echo "secret" >"$T/secret"
ln -s "$T/secret" "$T/webroot/.well-known/acme-challenge/link"

# pub_conf FILE LISTEN HTTP_LISTEN D2MODE [CONNECTION_TIMEOUT]
pub_conf() {
	cat >"$1" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s"; };
resolver = { enabled = false; };
admin = { enabled = false; };
publisher = {
	listen = [ $2 ];
	http_listen = [ $3 ];
	acme_webroot = "$T/webroot";
	cache_control_max_age = 3600;
	connection_timeout = "${5:-30s}";
	domains = (
		{ domain = "d1.test"; mode = "enforce"; max_age = 604800;
		  mx = [ "mail.d1.test", "*.mx.d1.test" ];
		  cert = "$LE/live/d1.test/fullchain.pem"; key = "$LE/live/d1.test/privkey.pem";
		  tlsrpt_rua = "mailto:tlsrpt@d1.test"; },
		{ domain = "d2.test"; mode = "$4"; max_age = 86400; mx = [ "mx.d2.test" ];
		  cert = "$T/d2/fullchain.pem"; key = "$T/d2/privkey.pem"; },
		{ domain = "d3.test"; mode = "enforce"; max_age = 1209600; mx = [ "mx1.d3.test", "mx2.d3.test" ];
		  cert = "$T/d3/fullchain.pem"; key = "$T/d3/privkey.pem"; id = "20240101T000000Z"; },
		{ domain = "d4.test"; mode = "none"; max_age = 86400;
		  cert = "$T/d3/fullchain.pem"; key = "$T/d3/privkey.pem"; }
	);
};
EOC
}

pub_conf "$T/pub.conf" "\"127.0.0.1:$P\"" "\"127.0.0.1:$H\"" enforce
"$MTASTSD" -n -c "$T/pub.conf" >"$T/check.log" 2>&1 || die "config check failed: $(cat "$T/check.log")"
start_bg pub "$MTASTSD" -f -c "$T/pub.conf"
wait_tcp "$P"
wait_tcp "$H"

CRLF=$'\r'
BODY1="version: STSv1${CRLF}
mode: enforce${CRLF}
mx: mail.d1.test${CRLF}
mx: *.mx.d1.test${CRLF}
max_age: 604800${CRLF}"
BODY2="version: STSv1${CRLF}
mode: enforce${CRLF}
mx: mx.d2.test${CRLF}
max_age: 86400${CRLF}"
BODY3="version: STSv1${CRLF}
mode: enforce${CRLF}
mx: mx1.d3.test${CRLF}
mx: mx2.d3.test${CRLF}
max_age: 1209600${CRLF}"
BODY4="version: STSv1${CRLF}
mode: none${CRLF}
max_age: 86400${CRLF}"

# ---- policy ids at startup ----------------------------------------------------------------

"$MTASTSD" -c "$T/pub.conf" dns-records >"$T/dns0.txt" 2>/dev/null
rec_id() { sed -n "s/^_mta-sts\.$1\. 3600 IN TXT \"v=STSv1; id=\([A-Za-z0-9]*\)\"\$/\1/p" "$2"; }
for i in 1 2 3 4; do
	id=$(rec_id "d$i.test" "$T/dns0.txt")
	check "startup: d$i policy id logged once, with its TXT record" 1 \
		"$(grep -cF "domain 'd$i.test': publishing policy id $id (certificate " "$T/pub.log" || true)"
	check_match "startup: d$i TXT record to publish" \
		"domain 'd$i.test': publishing policy id $id .*; publish _mta-sts TXT \"v=STSv1; id=$id\"\$" \
		"$(grep -F "domain 'd$i.test': publishing policy id" "$T/pub.log")"
done

# ---- HTTPS: policies --------------------------------------------------------------------

# fetch DOMAIN [CURL ARGS...]: GET the policy of DOMAIN with certificate verification; the
# body goes to $T/body, headers to $T/hdr; prints the status.
fetch() {
	local d=$1
	shift
	curl -sS --max-time "$LIVE_S" --cacert "$T/ca.pem" --resolve "mta-sts.$d:$P:127.0.0.1" \
		-o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@" \
		"https://mta-sts.$d:$P/.well-known/mta-sts.txt" 2>"$T/curl.err" || true
}
# head_body_len HOST: bytes after the header block of a raw HEAD response.
head_body_len() {
	printf 'HEAD /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" |
		timeout "$LIVE_S" openssl s_client -quiet -connect "127.0.0.1:$P" -servername "$1" 2>/dev/null |
		python3 -c 'import sys; d = sys.stdin.buffer.read(); print(len(d.split(b"\r\n\r\n", 1)[1]) if b"\r\n\r\n" in d else -1)'
}
hdr() { grep -i "^$1:" "$T/hdr" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }

for i in 1 2 3 4; do
	body_var=BODY$i
	expected="${!body_var}"$'\n'
	check "d$i: status" 200 "$(fetch "d$i.test")"
	check "d$i: body" "$(printf '%s' "$expected" | od -c)" "$(od -c <"$T/body")"
	check "d$i: content-type" "text/plain" "$(hdr content-type)"
	check "d$i: cache-control" "max-age=3600" "$(hdr cache-control)"
	check "d$i: content-length" "$(wc -c <"$T/body" | tr -d ' ')" "$(hdr content-length)"
	check "d$i: HEAD status" 200 "$(fetch "d$i.test" -I)"
	check "d$i: HEAD content-length" "${#expected}" "$(hdr content-length)"
	check "d$i: HEAD has no body" 0 "$(head_body_len "mta-sts.d$i.test")"
done

u="https://mta-sts.d1.test:$P"
c=(curl -sS --max-time "$LIVE_S" --cacert "$T/ca.pem" --resolve "mta-sts.d1.test:$P:127.0.0.1" -o /dev/null)
check "other path: 404" 404 "$("${c[@]}" -w '%{http_code}' "$u/")"
check "other path: 404 (.well-known/x)" 404 "$("${c[@]}" -w '%{http_code}' "$u/.well-known/mta-sts.txt.bak")"
check "POST: 405" 405 "$("${c[@]}" -D "$T/hdr" -w '%{http_code}' -X POST -d x=1 "$u/.well-known/mta-sts.txt")"
check "POST: Allow" "GET, HEAD" "$(hdr allow)"
check "DELETE: 405" 405 "$("${c[@]}" -w '%{http_code}' -X DELETE "$u/.well-known/mta-sts.txt")"
check "unknown host: 404" 404 "$("${c[@]}" -w '%{http_code}' -H 'Host: mta-sts.unknown.test' "$u/.well-known/mta-sts.txt")"
check "Host without mta-sts.: 404" 404 "$("${c[@]}" -w '%{http_code}' -H 'Host: d1.test' "$u/.well-known/mta-sts.txt")"
check "Host upper case with port: 200" 200 "$("${c[@]}" -w '%{http_code}' -H "Host: MTA-STS.D2.TEST:$P" "$u/.well-known/mta-sts.txt")"
body=$(curl -sS --max-time "$LIVE_S" --cacert "$T/ca.pem" --resolve "mta-sts.d1.test:$P:127.0.0.1" \
	-H "Host: mta-sts.d2.test" "$u/.well-known/mta-sts.txt" | tr -d '\r')
check "Host header selects the policy (d2 via d1's SNI)" "$(printf '%s' "$BODY2" | tr -d '\r')" "$body"
big=$(head -c 20000 /dev/zero | tr '\0' a)
check "oversized header refused" 431 "$("${c[@]}" -w '%{http_code}' -H "X-Big: $big" "$u/.well-known/mta-sts.txt")"

# ---- requests with a body, Host header abuse (both listeners) ----------------------------

# raw_status PORT tls|plain PRINTF-REQUEST: send the bytes (printf escapes, \x00 allowed) and
# print the status code of the answer, or "none" when the server closed without one.
cat >"$T/raw.py" <<'PY'
import socket, ssl, sys
port, mode, ca, req = int(sys.argv[1]), sys.argv[2], sys.argv[3], bytes.fromhex(sys.argv[4])
s = socket.create_connection(("127.0.0.1", port), timeout=60)
if mode == "tls":
    ctx = ssl.create_default_context(cafile=ca)
    s = ctx.wrap_socket(s, server_hostname="mta-sts.d1.test")
s.sendall(req)
data = b""
try:
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except (OSError, ssl.SSLError):
    pass
parts = data.split(b" ", 2)
print(parts[1].decode() if data.startswith(b"HTTP/") and len(parts) > 1 else "none")
PY
raw_status() {
	python3 "$T/raw.py" "$1" "$2" "$T/ca.pem" "$(printf "$3" | od -An -v -tx1 | tr -d ' \n')" 2>/dev/null ||
		echo error
}
REQ='GET /.well-known/mta-sts.txt HTTP/1.1\r\n'
HEADREQ='HEAD /.well-known/mta-sts.txt HTTP/1.1\r\n'
for lst in "$P tls https" "$H plain http"; do
	set -- $lst
	port=$1 mode=$2 name=$3
	# what the same request gets without the abuse: 200 on https, 301 on http
	okc=200
	[ "$mode" = plain ] && okc=301
	check "$name: GET with Content-Length body: 413" 413 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\r\nContent-Length: 3\r\n\r\nabc")"
	check "$name: HEAD with Content-Length body: 413" 413 \
		"$(raw_status "$port" "$mode" "${HEADREQ}Host: mta-sts.d1.test\r\nContent-Length: 3\r\n\r\nabc")"
	check "$name: GET with a chunked body: 413" 413 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")"
	check "$name: GET with an announced body not sent yet: 413" 413 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\r\nContent-Length: 100\r\n\r\n")"
	check "$name: GET with Content-Length: 0 is no body" "$okc" \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")"
	check "$name: two Host headers: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\r\nHost: mta-sts.d2.test\r\nConnection: close\r\n\r\n")"
	check "$name: two Host headers, same value: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}host: mta-sts.d1.test\r\nHOST: mta-sts.d1.test\r\nConnection: close\r\n\r\n")"
	check "$name: NUL in Host: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\x00.evil\r\nConnection: close\r\n\r\n")"
	check "$name: NUL in Host (last header): 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Connection: close\r\nHost: mta-sts.d1.test\x00x\r\n\r\n")"
	check "$name: NULs then text in Host (last header): 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Connection: close\r\nHost: mta-sts.d1.test\x00\x00.evil\r\n\r\n")"
	check "$name: NUL before CRLF CRLF in Host (last header): 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Connection: close\r\nHost: mta-sts.d1.test\x00\r\n\r\n")"
	check "$name: folded field: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\r\nX-A: 1\r\n 2\r\nConnection: close\r\n\r\n")"
	check "$name: trailing NUL in Host: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\x00\r\nConnection: close\r\n\r\n")"
	check "$name: control character in Host: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\x01\r\nConnection: close\r\n\r\n")"
	check "$name: DEL in Host: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.\x7fd1.test\r\nConnection: close\r\n\r\n")"
	check "$name: tab inside Host: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.\td1.test\r\nConnection: close\r\n\r\n")"
	# Optional whitespace around a field value is not part of it (RFC 9110 section 5.5):
	# libmicrohttpd strips the leading OWS, pub_http_host_name() the trailing.
	check "$name: trailing space in Host is ignored" "$okc" \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test \r\nConnection: close\r\n\r\n")"
	check "$name: trailing tab in Host is ignored" "$okc" \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\t\r\nConnection: close\r\n\r\n")"
	check "$name: trailing OWS after a port in Host (last header) is ignored" "$okc" \
		"$(raw_status "$port" "$mode" "${REQ}Connection: close\r\nHost: mta-sts.d1.test:$port \t \r\n\r\n")"
	check "$name: leading OWS in Host is ignored" "$okc" \
		"$(raw_status "$port" "$mode" "${REQ}Host: \t mta-sts.d1.test\r\nConnection: close\r\n\r\n")"
	# RFC 9112 section 3.2: an HTTP/1.1 request without Host gets 400 (any method, any path).
	check "$name: HTTP/1.1 without Host: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Connection: close\r\n\r\n")"
	check "$name: HTTP/1.1 POST without Host: 400" 400 \
		"$(raw_status "$port" "$mode" 'POST /.well-known/mta-sts.txt HTTP/1.1\r\nConnection: close\r\n\r\n')"
	check "$name: HTTP/1.1 ACME path without Host: 400" 400 \
		"$(raw_status "$port" "$mode" 'GET /.well-known/acme-challenge/tok_EN-123 HTTP/1.1\r\nConnection: close\r\n\r\n')"
	# RFC 9112 section 5.1: whitespace between a field name and its colon gets 400.
	check "$name: 'Host :' (space before the colon): 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host : mta-sts.d1.test\r\nConnection: close\r\n\r\n")"
	check "$name: 'Host<TAB>:' (tab before the colon): 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host\t: mta-sts.d1.test\r\nConnection: close\r\n\r\n")"
	check "$name: another field with a space before its colon: 400" 400 \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\r\nX-Any : 1\r\nConnection: close\r\n\r\n")"
	check "$name: bare LF line ends are fine" "$okc" \
		"$(raw_status "$port" "$mode" 'GET /.well-known/mta-sts.txt HTTP/1.1\nHost: mta-sts.d1.test\nConnection: close\n\n')"
	check "$name: plain request is fine" "$okc" \
		"$(raw_status "$port" "$mode" "${REQ}Host: mta-sts.d1.test\r\nConnection: close\r\n\r\n")"
done
set --
# HTTP/1.0 needs no Host (RFC 1945): port 443 answers 404 (no policy without a host), port 80
# serves an ACME token and answers 400 to anything else (no host to redirect to).
REQ10='GET /.well-known/mta-sts.txt HTTP/1.0\r\n'
check "https: HTTP/1.0 without Host: 404" 404 "$(raw_status "$P" tls "${REQ10}\r\n")"
check "https: HTTP/1.0 with Host: 200" 200 "$(raw_status "$P" tls "${REQ10}Host: mta-sts.d1.test \r\n\r\n")"
check "http: HTTP/1.0 without Host: 400" 400 "$(raw_status "$H" plain "${REQ10}\r\n")"
check "http: HTTP/1.0 ACME token without Host: 200" 200 \
	"$(raw_status "$H" plain 'GET /.well-known/acme-challenge/tok_EN-123 HTTP/1.0\r\n\r\n')"
check "https: HTTP/1.1 without Host, curl: 400" 400 \
	"$("${c[@]}" -w '%{http_code}' -H 'Host:' "$u/.well-known/mta-sts.txt")"
check "https: trailing space in Host, the user's case: the d2 policy" \
	"$(printf '%s' "$BODY2" | tr -d '\r')" \
	"$(printf 'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.d2.test \r\nConnection: close\r\n\r\n' |
		timeout "$LIVE_S" openssl s_client -quiet -connect "127.0.0.1:$P" -servername mta-sts.d2.test 2>/dev/null |
		python3 -c 'import sys; print(sys.stdin.buffer.read().split(b"\r\n\r\n", 1)[-1].decode().replace("\r", ""), end="")')"
check "http: trailing tab in Host: Location without it (nor the port)" "Location: https://mta-sts.d2.test/.well-known/mta-sts.txt" \
	"$(printf 'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.d2.test:80\t\r\nConnection: close\r\n\r\n' |
		python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
s.sendall(sys.stdin.buffer.read())
d = b""
while True:
    c = s.recv(4096)
    if not c:
        break
    d += c
print([l for l in d.decode().split("\r\n") if l.startswith("Location:")][0])' "$H")"
# The user's report: curl sending a body with GET got "Empty reply from server".
check "curl -X GET -d abc (https): 413" 413 "$("${c[@]}" -w '%{http_code}' -X GET -d abc "$u/.well-known/mta-sts.txt")"
check "curl -X GET -d abc (http): 413" 413 \
	"$(curl -sS --max-time "$LIVE_S" -o /dev/null -w '%{http_code}' -X GET -d abc -H 'Host: mta-sts.d1.test' "http://127.0.0.1:$H/.well-known/mta-sts.txt")"
check "curl -X GET -d abc: body says why" "request body not allowed" \
	"$(curl -sS --max-time "$LIVE_S" --cacert "$T/ca.pem" --resolve "mta-sts.d1.test:$P:127.0.0.1" -X GET -d abc "$u/.well-known/mta-sts.txt")"
check "policy still served after the refusals" 200 "$(fetch d1.test)"

# ---- HTTPS: SNI -------------------------------------------------------------------------

fp_file() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
# served_fp SNI|-: fingerprint of the certificate served for this SNI name (- = no SNI).
served_fp() {
	local sni=(-servername "$1")
	[ "$1" = - ] && sni=(-noservername)
	openssl s_client -connect "127.0.0.1:$P" "${sni[@]}" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2 || true
}
served_subject() {
	openssl s_client -connect "127.0.0.1:$P" -servername "$1" </dev/null 2>/dev/null |
		openssl x509 -noout -subject -nameopt RFC2253 2>/dev/null || true
}
FP1=$(fp_file "$T/d1.pem")
FP2=$(fp_file "$T/d2.pem")
FP3=$(fp_file "$T/d3.pem")
check "SNI mta-sts.d1.test: subject" "subject=CN=mta-sts.d1.test" "$(served_subject mta-sts.d1.test)"
check "SNI mta-sts.d2.test: subject" "subject=CN=mta-sts.d2.test" "$(served_subject mta-sts.d2.test)"
check "SNI mta-sts.d3.test: subject" "subject=CN=mta-sts.d3.test" "$(served_subject mta-sts.d3.test)"
check "SNI mta-sts.d4.test: d3's certificate (shared files)" "$FP3" "$(served_fp mta-sts.d4.test)"
check "SNI mta-sts.d5.test: d3's certificate (SAN match)" "$FP3" "$(served_fp mta-sts.d5.test)"
check "SNI unknown name: fallback to the first domain" "$FP1" "$(served_fp www.example.test)"
check "no SNI: fallback to the first domain" "$FP1" "$(served_fp -)"
for i in 1 2 3; do
	rc=0
	gnutls-cli --x509cafile "$T/ca.pem" --port "$P" --sni-hostname "mta-sts.d$i.test" \
		--verify-hostname "mta-sts.d$i.test" 127.0.0.1 </dev/null >"$T/gc.log" 2>&1 || rc=$?
	check "gnutls-cli verifies mta-sts.d$i.test" 0 "$rc"
done

# ---- TLS versions -----------------------------------------------------------------------

tls_try() {
	gnutls-cli --x509cafile "$T/ca.pem" --port "$1" --sni-hostname mta-sts.d1.test \
		--verify-hostname mta-sts.d1.test --priority "NORMAL:-VERS-ALL:+VERS-$2" \
		127.0.0.1 </dev/null >"$T/gc.log" 2>&1 && echo ok || echo refused
}
check "TLS 1.3 accepted" ok "$(tls_try "$P" TLS1.3)"
check "TLS 1.2 accepted" ok "$(tls_try "$P" TLS1.2)"
# Positive control: this gnutls-cli can speak TLS 1.1 to a server that allows it.
G=$(free_port tcp)
start_bg gserv gnutls-serv --port "$G" --x509certfile "$T/d1.fullchain.pem" \
	--x509keyfile "$T/d1.key" --priority "NORMAL:+VERS-TLS1.1:+VERS-TLS1.0"
wait_tcp "$G"
if [ "$(tls_try "$G" TLS1.1)" = ok ]; then
	check "TLS 1.1 refused" refused "$(tls_try "$P" TLS1.1)"
	check "TLS 1.0 refused" refused "$(tls_try "$P" TLS1.0)"
else
	part_unavailable "TLS 1.1/1.0 refused: this gnutls-cli cannot negotiate TLS 1.1 even with" \
		"gnutls-serv (the positive control)"
fi
stop_bg gserv

# ---- port 80 ----------------------------------------------------------------------------

h=(curl -sS --max-time "$LIVE_S" -o "$T/body" -D "$T/hdr" -w '%{http_code}' --path-as-is)
hu="http://127.0.0.1:$H"
check "ACME token: 200" 200 "$("${h[@]}" -H 'Host: mta-sts.d1.test' "$hu/.well-known/acme-challenge/tok_EN-123")"
check "ACME token: body" "tok_EN-123.thumbprint" "$(cat "$T/body")"
check "ACME missing token: 404" 404 "$("${h[@]}" -H 'Host: mta-sts.d1.test' "$hu/.well-known/acme-challenge/nothere")"
check "redirect: 301" 301 "$("${h[@]}" -H 'Host: mta-sts.d2.test' "$hu/.well-known/mta-sts.txt")"
check "redirect: Location" "https://mta-sts.d2.test/.well-known/mta-sts.txt" "$(hdr location)"
check "redirect keeps path and query" 301 "$("${h[@]}" -H "Host: Example.test:$H" "$hu/a/b%20c?x=1&y")"
check "redirect: Location with query" "https://Example.test/a/b%20c?x=1&y" "$(hdr location)"
check "redirect: POST too" 301 "$("${h[@]}" -X POST -d a=b -H 'Host: d3.test' "$hu/")"
check "bad Host: 400" 400 "$("${h[@]}" -H 'Host: a/b' "$hu/")"
for path in "..%2f..%2fsecret" "../../secret" "%2e%2e%2f%2e%2e%2fsecret" "..%2F..%2Fsecret" \
	"tok_EN-123%2f" "sub%2ftok_EN-123" "tok_EN-123." "." ".." "%2e%2e" "link" \
	"tok_EN-123%00" "tok_EN-123/" "a%5cb"; do
	code=$("${h[@]}" -H 'Host: mta-sts.d1.test' "$hu/.well-known/acme-challenge/$path")
	check "traversal '$path': 404" 404 "$code"
	if grep -q secret "$T/body"; then die "traversal '$path' leaked the secret"; fi
done

# ---- dns-records ------------------------------------------------------------------------

"$MTASTSD" -c "$T/pub.conf" dns-records >"$T/dns.txt" 2>"$T/dns.err" || die "dns-records failed"
ID1=$(sed -n 's/^_mta-sts\.d1\.test\. 3600 IN TXT "v=STSv1; id=\([A-Za-z0-9]*\)"$/\1/p' "$T/dns.txt")
ID2=$(sed -n 's/^_mta-sts\.d2\.test\. 3600 IN TXT "v=STSv1; id=\([A-Za-z0-9]*\)"$/\1/p' "$T/dns.txt")
check_match "dns-records: d1 id is 32 alphanumerics" '^[a-z0-9]{32}$' "$ID1"
check_match "dns-records: d2 id is 32 alphanumerics" '^[a-z0-9]{32}$' "$ID2"
check "dns-records: d3 explicit id" '_mta-sts.d3.test. 3600 IN TXT "v=STSv1; id=20240101T000000Z"' \
	"$(grep '^_mta-sts.d3.test' "$T/dns.txt")"
check "dns-records: d1 TLSRPT" '_smtp._tls.d1.test. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@d1.test"' \
	"$(grep '^_smtp._tls.d1.test' "$T/dns.txt")"
check "dns-records: no TLSRPT without rua" 1 "$(grep -c '^_smtp._tls' "$T/dns.txt")"
check "dns-records: address hints" 4 "$(grep -c '^; d[1-4].test: mta-sts.d[1-4].test must resolve' "$T/dns.txt")"
"$MTASTSD" -c "$T/pub.conf" dns-records >"$T/dns2.txt" 2>/dev/null
check "dns-records: ids are stable" "$(cat "$T/dns.txt")" "$(cat "$T/dns2.txt")"

# ---- certificate reload -----------------------------------------------------------------

# wait_fp SNI FP: wait (at most LIVE_S) until a new handshake for SNI gets certificate FP.
fp_is() { [ "$(served_fp "$1")" = "$2" ]; }
wait_fp() { wait_for "$LIVE_S" fp_is "$1" "$2"; }

# A keep-alive client on d2: one request, then (after the reload) a second one on the same
# TLS connection.
cat >"$T/keepalive.py" <<'PY'
import os, socket, ssl, sys, time
port, ca, tdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60),
                    server_hostname="mta-sts.d2.test")
f = s.makefile("rb")
def get():
    s.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.d2.test\r\n\r\n")
    status = f.readline().split()[1].decode()
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v)
    body = f.read(length)
    return status, body
st1, b1 = get()
fp = ssl.DER_cert_to_PEM_cert(s.getpeercert(True))
open(os.path.join(tdir, "ka.ready"), "w").write(st1)
for _ in range(3000):
    if os.path.exists(os.path.join(tdir, "ka.go")):
        break
    time.sleep(0.1)
st2, b2 = get()
print(st1, st2, "same-body" if b1 == b2 and b"mx.d2.test" in b2 else "diff-body")
PY
start_bg keepalive python3 "$T/keepalive.py" "$P" "$T/ca.pem" "$T"
wait_file "$T/ka.ready"

make_cert d2new mta-sts.d2.test
FP2NEW=$(fp_file "$T/d2new.pem")
cp "$T/d2new.fullchain.pem" "$T/d2/fullchain.pem.tmp"
cp "$T/d2new.key" "$T/d2/privkey.pem.tmp"
mv "$T/d2/privkey.pem.tmp" "$T/d2/privkey.pem"
mv "$T/d2/fullchain.pem.tmp" "$T/d2/fullchain.pem"
rc=0
wait_fp mta-sts.d2.test "$FP2NEW" || rc=1
check "d2 replaced: new handshake gets the new certificate" 0 "$rc"
check "d1 unchanged by d2's reload" "$FP1" "$(served_fp mta-sts.d1.test)"
touch "$T/ka.go"
ka_done() { [ "$(alive keepalive)" = dead ]; }
wait_for "$LIVE_S" ka_done || true
check "keep-alive connection survives the reload" "200 200 same-body" "$(cat "$T/keepalive.log")"

# Let's Encrypt renewal: new files in archive/, live/ symlinks switched.
make_cert d1new mta-sts.d1.test
FP1NEW=$(fp_file "$T/d1new.pem")
cp "$T/d1new.fullchain.pem" "$LE/archive/d1.test/fullchain2.pem"
cp "$T/d1new.key" "$LE/archive/d1.test/privkey2.pem"
ln -sfn ../../archive/d1.test/privkey2.pem "$LE/live/d1.test/privkey.pem"
ln -sfn ../../archive/d1.test/fullchain2.pem "$LE/live/d1.test/fullchain.pem"
rc=0
wait_fp mta-sts.d1.test "$FP1NEW" || rc=1
check "d1 renewed (symlinks): new certificate served" 0 "$rc"
check "d1 renewed: no-SNI fallback follows" "$FP1NEW" "$(served_fp -)"

# Broken replacements of d3, each refused with a line naming what is wrong while the old
# certificate stays in service; then the good files again: a recovery line.
# wait_line FIXED [N]: wait (at most LIVE_S) for more than N (default 0) pub.log lines
# containing FIXED; prints the last one.
more_lines() { [ "$(grep -cF -- "$1" "$T/pub.log" || true)" -gt "$2" ]; }
wait_line() {
	if wait_for "$LIVE_S" more_lines "$1" "${2:-0}"; then
		grep -F -- "$1" "$T/pub.log" | tail -n1
	else
		echo "(no line with: $1)"
	fi
}
# replace FILE CONTENT-FILE: atomic replacement, as certbot does.
replace() { cp "$2" "$1.tmp" && mv "$1.tmp" "$1"; }
KEEP="; keeping the certificate loaded before"
cp "$T/d3/privkey.pem" "$T/d3.key.good"
replace "$T/d3/privkey.pem" "$T/d2new.key"
check "mismatched key: refused, naming both files" \
	"mtastsd: error: domain 'd3.test': key $T/d3/privkey.pem does not match certificate $T/d3/fullchain.pem, refused$KEEP" \
	"$(wait_line "does not match certificate $T/d3/fullchain.pem")"
check "mismatched key: old d3 certificate still served" "$FP3" "$(served_fp mta-sts.d3.test)"
check "mismatched key: d3 policy still served" 200 "$(fetch d3.test)"
: >"$T/empty"
replace "$T/d3/privkey.pem" "$T/empty"
check "empty key file: refused, not 'No data available'" \
	"mtastsd: error: domain 'd3.test': key file $T/d3/privkey.pem is empty or not PEM$KEEP" \
	"$(wait_line "key file $T/d3/privkey.pem is empty")"
make_cert other www.other.test
replace "$T/d3/privkey.pem" "$T/other.key"
replace "$T/d3/fullchain.pem" "$T/other.fullchain.pem"
check "certificate for other names: refused, names listed" \
	"mtastsd: error: domain 'd3.test': certificate $T/d3/fullchain.pem does not name mta-sts.d3.test (it names www.other.test); senders would refuse it$KEEP" \
	"$(wait_line "does not name mta-sts.d3.test")"
check "certificate for other names: old d3 certificate still served" "$FP3" "$(served_fp mta-sts.d3.test)"
replace "$T/d3/privkey.pem" "$T/d3.key.good"
echo "not a certificate" >"$T/garbage.pem"
n=$(grep -c "holds no PEM certificate chain" "$T/pub.log" || true)
replace "$T/d3/fullchain.pem" "$T/garbage.pem"
check_match "garbage certificate: refused" \
	"d3.test': certificate file $T/d3/fullchain.pem holds no PEM certificate chain: .*$KEEP" \
	"$(wait_line "holds no PEM certificate chain" "$n")"
check "garbage certificate: old d3 certificate still served" "$FP3" "$(served_fp mta-sts.d3.test)"
check "no raw errno text for broken certificates" 0 \
	"$(grep -cE 'No data available|Device not a stream' "$T/pub.log" || true)"
replace "$T/d3/fullchain.pem" "$T/d3.fullchain.pem"
check "fixed certificate: recovery logged" \
	"mtastsd: notice: domain 'd3.test': certificate $T/d3/fullchain.pem and key $T/d3/privkey.pem load again (recovered); the certificate loaded before stays in service" \
	"$(wait_line "load again (recovered)")"
check "fixed certificate: d3 served" "$FP3" "$(served_fp mta-sts.d3.test)"
check "daemon alive after broken certificates" alive "$(alive pub)"

# ---- SIGHUP: policy change --------------------------------------------------------------

# connection_timeout changes too: it needs a restart, and only that key is named.
pub_conf "$T/pub.conf" "\"127.0.0.1:$P\"" "\"127.0.0.1:$H\"" testing 31s
kill -HUP "$(cat "$T/pub.pid")"
d2_testing() { fetch d2.test >/dev/null && grep -q "mode: testing" "$T/body"; }
wait_for "$LIVE_S" d2_testing || true
check "SIGHUP: d2 now testing" "mode: testing" "$(grep mode "$T/body" | tr -d '\r')"
"$MTASTSD" -c "$T/pub.conf" dns-records >"$T/dns3.txt" 2>/dev/null
ID2B=$(sed -n 's/^_mta-sts\.d2\.test\. 3600 IN TXT "v=STSv1; id=\([A-Za-z0-9]*\)"$/\1/p' "$T/dns3.txt")
check_match "SIGHUP: d2 id changed with the policy" '^[a-z0-9]{32}$' "$ID2B"
[ "$ID2B" != "$ID2" ] || check "d2 id differs after the policy change" "not $ID2" "$ID2B"
check "SIGHUP: d1 id unchanged" "$ID1" \
	"$(sed -n 's/^_mta-sts\.d1\.test\. 3600 IN TXT "v=STSv1; id=\([A-Za-z0-9]*\)"$/\1/p' "$T/dns3.txt")"
check "SIGHUP: d2 keeps the reloaded certificate" "$FP2NEW" "$(served_fp mta-sts.d2.test)"
check "SIGHUP: d2 id change logged with the TXT record to publish" \
	"mtastsd: notice: domain 'd2.test': policy id changed from $ID2 to $ID2B; publish _mta-sts TXT \"v=STSv1; id=$ID2B\"" \
	"$(wait_line "domain 'd2.test': policy id changed")"
check "SIGHUP: no id line for unchanged domains" 1 "$(grep -c 'policy id changed' "$T/pub.log" || true)"
check "SIGHUP: connection_timeout change logged once, as requiring a restart" 1 \
	"$(grep -cxF 'mtastsd: warning: reload: publisher.connection_timeout changed: requires restart, ignoring' "$T/pub.log" || true)"
check "SIGHUP: no restart line for the keys that did not change" "" \
	"$(grep -E 'requires? (a )?restart' "$T/pub.log" | grep -v 'reload: publisher.connection_timeout changed: requires restart, ignoring$' || true)"

# A reload that would remove every domain is refused with a reason, not an errno text.
cat >"$T/nodomains.conf" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s"; };
resolver = { enabled = false; };
admin = { enabled = false; };
EOC
cp "$T/pub.conf" "$T/pub.conf.good"
cp "$T/nodomains.conf" "$T/pub.conf"
kill -HUP "$(cat "$T/pub.pid")"
check "reload without domains: refused with the reason" \
	"mtastsd: error: publisher: a reload cannot remove every domain; restart to stop publishing (keeping the old policies)" \
	"$(wait_line "cannot remove every domain")"
check "reload without domains: no raw errno text" 0 "$(grep -c 'Invalid argument' "$T/pub.log" || true)"
check "reload without domains: policies still served" 200 "$(fetch d1.test)"
cp "$T/pub.conf.good" "$T/pub.conf"

# A reload that names other files for a published domain, which do not load (a key that
# does not match): d3 keeps the certificate it had and stays published (the trial found it
# unpublished: no handshake for mta-sts.d3.test until the next good reload).
sed "s|key = \"$T/d3/privkey.pem\"|key = \"$T/d1.key\"|" "$T/pub.conf.good" >"$T/pub.conf"
grep -q "$T/d1.key" "$T/pub.conf" || die "pub.conf: d3 key substitution failed"
n=$(grep -c "publisher: reloaded" "$T/pub.log" || true)
kill -HUP "$(cat "$T/pub.pid")"
check "reload to a bad pair: refused for d3, the old pair named" \
	"mtastsd: error: domain 'd3.test': key $T/d1.key does not match certificate $T/d3/fullchain.pem, refused; keeping the certificate loaded before ($T/d3/fullchain.pem, key $T/d3/privkey.pem)" \
	"$(wait_line "domain 'd3.test': key $T/d1.key does not match")"
wait_line "publisher: reloaded" "$n" >/dev/null
check "reload to a bad pair: d3 still served its certificate" "$FP3" "$(served_fp mta-sts.d3.test)"
check "reload to a bad pair: d3 policy still served" 200 "$(fetch d3.test)"
cp "$T/pub.conf.good" "$T/pub.conf"
n=$(grep -c "publisher: reloaded" "$T/pub.log" || true)
kill -HUP "$(cat "$T/pub.pid")"
check "reload back to the good pair: recovery logged" \
	"mtastsd: notice: domain 'd3.test': certificate $T/d3/fullchain.pem and key $T/d3/privkey.pem load again (recovered); the certificate loaded before stays in service" \
	"$(wait_line "load again (recovered)" 1)"
wait_line "publisher: reloaded" "$n" >/dev/null
check "reload back to the good pair: d3 served" "$FP3" "$(served_fp mta-sts.d3.test)"
# connection_timeout back to the running value (30 s): restart-only keys are compared with
# what the process started with, so no "changed" line (the trial: it compared with the last
# file loaded, and logged the revert as a change needing a restart).
nct=$(grep -c 'publisher.connection_timeout changed' "$T/pub.log" || true)
pub_conf "$T/pub.conf" "\"127.0.0.1:$P\"" "\"127.0.0.1:$H\"" testing 30s
n=$(grep -c "configuration reloaded from" "$T/pub.log" || true)
kill -HUP "$(cat "$T/pub.pid")"
wait_line "configuration reloaded from" "$n" >/dev/null
check "connection_timeout back to the running value: not logged as a change" "$nct" \
	"$(grep -c 'publisher.connection_timeout changed' "$T/pub.log" || true)"
cp "$T/pub.conf.good" "$T/pub.conf"
stop_bg pub
check "no sanitizer report from the daemon" 0 "$(grep -c 'Sanitizer' "$T/pub.log" || true)"

# A key that does not match its certificate: -n refuses, naming the files (ExecReload runs
# it before SIGHUP); the daemon starts and leaves that one domain unpublished (issue 15:
# a web certificate never takes the other domains, or the resolver, down).
sed "s|key = \"$T/d2/privkey.pem\"|key = \"$T/d1.key\"|" "$T/pub.conf" >"$T/badkey.conf"
grep -q "$T/d1.key" "$T/badkey.conf" || die "badkey.conf: substitution failed"
set +e
"$MTASTSD" -n -c "$T/badkey.conf" >"$T/badkey-n.log" 2>&1
rc=$?
set -e
check "-n with a mismatched key: exit 1" 1 "$rc"
check_match "-n with a mismatched key: file:line: key: reason" \
	"badkey.conf:[0-9]+: publisher.domains\[1\].key: private key does not match certificate $T/d2/fullchain.pem" \
	"$(cat "$T/badkey-n.log")"
SMB=$(free_port tcp)
ADB=$(free_port tcp)
sed -i "s|^resolver = { enabled = false; };|resolver = { listen = [ \"127.0.0.1:$SMB\" ]; dns_servers = [ \"127.0.0.1@$(free_port both)\" ]; };|; s|^admin = { enabled = false; };|admin = { listen = \"127.0.0.1:$ADB\"; };|" \
	"$T/badkey.conf"
grep -q "127.0.0.1:$SMB" "$T/badkey.conf" || die "badkey.conf: resolver substitution failed"
start_bg badkey "$MTASTSD" -f -c "$T/badkey.conf"
wait_tcp "$P"
wait_tcp "$SMB"
wait_tcp "$ADB"
check "daemon with a mismatched key: runs" alive "$(alive badkey)"
check_match "daemon with a mismatched key: says what is wrong and what it does" \
	"domain 'd2.test': key $T/d1.key does not match certificate $T/d2/fullchain.pem.*mta-sts.d2.test is not published" \
	"$(cat "$T/badkey.log")"
check "daemon with a mismatched key: no raw errno text" 0 \
	"$(grep -c 'Device not a stream' "$T/badkey.log" || true)"
check "daemon with a mismatched key: d1 served" 200 "$(fetch d1.test)"
check "daemon with a mismatched key: d3 served" 200 "$(fetch d3.test)"
check "daemon with a mismatched key: d2 not served (no handshake)" 000 "$(fetch d2.test)"
# the resolver serves Postfix all the same (an IP-literal next hop: NOTFOUND at once, no DNS)
check "daemon with a mismatched key: the socketmap answers Postfix" "$(pm_notfound)" \
	"$(pm "$SMB" postfix '[192.0.2.1]')"
st=$(curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$ADB/status" | python3 -c '
import json, sys
for d in json.load(sys.stdin)["publisher"]["domains"]:
    print(d["domain"], d["published"], d["certificate_error"] is not None)')
check "daemon with a mismatched key: /status says which domain is not published" \
	"d1.test True False
d2.test False True
d3.test True False
d4.test True False" "$st"
check "daemon with a mismatched key: /metrics has d2 unpublished" \
	'mtastsd_publisher_domain_published{domain="d2.test"} 0' \
	"$(curl -sS --max-time "$LIVE_S" "http://127.0.0.1:$ADB/metrics" | grep -F 'mtastsd_publisher_domain_published{domain="d2.test"}')"
stop_bg badkey

# ---- mta-sts-query (postfix-mta-sts-resolver) in a network namespace --------------------

if have_cmd "mta-sts-query in a network namespace" mta-sts-query dnsmasq ip &&
	have_root "mta-sts-query in a network namespace (ip netns)"; then
	pub_conf "$T/ns.conf" '"127.0.0.1:443"' "" enforce
	"$MTASTSD" -c "$T/ns.conf" dns-records >"$T/nsdns.txt"
	netns_setup "mtastsd-pub-$$"
	dns_args=()
	for d in d1 d2 d3; do
		id=$(sed -n "s/^_mta-sts\.$d\.test\. 3600 IN TXT \"v=STSv1; id=\([A-Za-z0-9]*\)\"\$/\1/p" "$T/nsdns.txt")
		dns_args+=("--txt-record=_mta-sts.$d.test,v=STSv1; id=$id" "--address=/mta-sts.$d.test/127.0.0.1")
	done
	start_bg dnsmasq ip netns exec "$LIB_NETNS" dnsmasq --keep-in-foreground --no-resolv \
		--no-hosts --conf-file=/dev/null --listen-address=127.0.0.1 --bind-interfaces --port=53 \
		--user=root --pid-file= "${dns_args[@]}"
	start_bg nspub ip netns exec "$LIB_NETNS" "$MTASTSD" -f -c "$T/ns.conf"
	wait_tcp_ns 443
	for i in 1 2 3; do
		out=$(netns_exec env SSL_CERT_FILE="$T/ca.pem" mta-sts-query "d$i.test" 2>"$T/msq.err" || true)
		id=$(sed -n "s/^_mta-sts\.d$i\.test\. 3600 IN TXT \"v=STSv1; id=\([A-Za-z0-9]*\)\"\$/\1/p" "$T/nsdns.txt")
		check_match "mta-sts-query d$i.test: VALID with our id" "STSFetchResult.VALID.*'$id'" "$out"
	done
	out=$(netns_exec env SSL_CERT_FILE="$T/ca.pem" mta-sts-query d1.test 2>/dev/null || true)
	check_match "mta-sts-query d1.test: mode" "'mode': 'enforce'" "$out"
	check_match "mta-sts-query d1.test: mx" "'mx': \['mail.d1.test', '\*.mx.d1.test'\]" "$out"
	check_match "mta-sts-query d1.test: max_age" "'max_age': 604800\}" "$out"
	out=$(netns_exec env SSL_CERT_FILE="$T/ca.pem" mta-sts-query d3.test 2>/dev/null || true)
	check_match "mta-sts-query d3.test: mx" "'mx': \['mx1.d3.test', 'mx2.d3.test'\]" "$out"
	check_match "mta-sts-query d3.test: max_age" "'max_age': 1209600\}" "$out"
	stop_bg nspub
	check "no sanitizer report from the namespace daemon" 0 "$(grep -c 'Sanitizer' "$T/nspub.log" || true)"
fi

# ---- a tls_priority that parses, allows TLS 1.2, but leaves no key exchange: every sender's
# handshake would fail and nothing would say why. The start-up self-test refuses it.
PST=$(free_port tcp)
cat >"$T/nokx.conf" <<EOC
process = { allow_root = true; verbosity = 0; };
resolver = { enabled = false; };
admin = { enabled = false; };
publisher = {
	listen = "127.0.0.1:$PST";
	http_listen = ( );
	tls_priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:-GROUP-ALL";
	domains = ( { domain = "d1.test"; mode = "enforce"; max_age = 86400; mx = [ "mail.d1.test" ];
		      cert = "$T/d1.fullchain.pem"; key = "$T/d1.key"; } );
};
EOC
check "self-test: -n accepts the priority (it names TLS 1.2)" 0 \
	"$("$MTASTSD" -n -c "$T/nokx.conf" >/dev/null 2>&1 && echo 0 || echo $?)"
rc=0
timeout "$LIVE_S" "$MTASTSD" -f -c "$T/nokx.conf" >"$T/nokx.log" 2>&1 || rc=$?
check "self-test: the daemon refuses to start (exit 1)" 1 "$rc"
check_match "self-test: the reason is logged" \
	"domain 'd1.test': no TLS 1.2/1.3 client can complete a handshake with publisher.tls_priority 'NORMAL:-VERS-ALL:\\+VERS-TLS1.2:-KX-ALL:-GROUP-ALL' and the certificate .*d1.fullchain.pem: " \
	"$(cat "$T/nokx.log")"

finish
