#!/usr/bin/env bash
# tests/system/t_tlsrpt_https.sh - the HTTPS TLSRPT receiver on the publisher's listener
# (docs/tlsrpt.md): real HTTPS POSTs (tlsrpt_post.py, curl) to
# https://mta-sts.example.com/.well-known/tlsrpt. Checks: gzip and json, Content-Length and
# chunked, stored (201) and in the state database; the same report again 200 and stored
# once, with other content 409 (logged, the first one stays); invalid JSON 400 and kept raw; a gzip bomb 413, nothing stored, VmRSS bounded; a
# 1 GB body: 413 on its Content-Length, a chunked one cut after tlsrpt.max_body (connection
# closed, nothing stored); a report about a domain not published 422, not stored; another
# Content-Type 415; a Host not published 404; tlsrpt.max_uploads uploads in progress 503; 10 000 reports from one address: 429 once
# tlsrpt.rate_per_address is reached, nothing more stored; `mtastsd tlsrpt` and
# dns-records show what is there.
. "$(dirname "$0")/lib.sh"

need_cmd curl certtool python3 sqlite3 gzip
DATA="$SRC_DIR/tests/unit/data/tlsrpt"
P=$(free_port tcp)
make_ca
make_cert ex mta-sts.example.com
RATE=25
cat >"$T/pub.conf" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s";
            state_directory = "$T/st"; };
resolver = { enabled = false; };
admin = { enabled = false; };
tlsrpt = { receive = true; max_body = 65536; max_report = 1048576; max_ratio = 100;
           rate_per_address = $RATE; max_uploads = 4;
           min_upload_rate = 0; # the held uploads of the 503 check are slow on purpose
           mailto_rua = "mailto:tlsrpt@example.com"; };
publisher = {
	listen = [ "127.0.0.1:$P" ];
	http_listen = [ ];
	domains = (
		{ domain = "example.com"; mode = "testing"; max_age = 86400; mx = [ "mx1.example.com" ];
		  cert = "$T/ex.fullchain.pem"; key = "$T/ex.key"; }
	);
};
EOC
"$MTASTSD" -n -c "$T/pub.conf" >"$T/check.log" 2>&1 || die "config check failed: $(cat "$T/check.log")"
start_bg pub "$MTASTSD" -f -c "$T/pub.conf"
wait_tcp "$P"
PID=$(cat "$T/pub.pid")
wait_log pub "tlsrpt: receiving reports" || true

post() { python3 "$SRC_DIR/tests/system/tlsrpt_post.py" "$P" "$T/ca.pem" mta-sts.example.com "$@"; }
sql() { sqlite3 "$T/st/state.db" "$1"; }
reports() { sql "SELECT count(*) FROM tlsrpt_report"; }

# today's reports (the summary counts the last 30 days)
DAY=$(date -u +%Y-%m-%d)
sed "s/2026-11-05/$DAY/g" "$DATA/provider-b.json" >"$T/b.json"
gzip -9 -n -c "$T/b.json" >"$T/b.json.gz"
sed "s/2026-11-05/$DAY/g" "$DATA/provider-a.json" >"$T/a.json"

check "gzip, Content-Length: 201" 201 "$(post post "$T/b.json.gz" application/tlsrpt+gzip)"
check "json, chunked: 201" 201 "$(post post "$T/a.json" "application/tlsrpt+json; charset=utf-8" chunked)"
check "both stored from https" "https|ok
https|ok" "$(sql "SELECT source, status FROM tlsrpt_report ORDER BY id")"
check "the peer is kept" 127.0.0.1 "$(sql "SELECT DISTINCT peer FROM tlsrpt_report")"
check "curl, gzip: 200 for the same report again" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca.pem" \
		--resolve "mta-sts.example.com:$P:127.0.0.1" -H 'Content-Type: application/tlsrpt+gzip' \
		--data-binary @"$T/b.json.gz" "https://mta-sts.example.com:$P/.well-known/tlsrpt")"
check "the same report stored once" 2 "$(reports)"
# the same organisation and report id with other content: 409, logged, the first stays
sed 's/"total-successful-session-count": *\([0-9]*\)/"total-successful-session-count": 1\1/' \
	"$T/b.json" >"$T/b-forged.json"
cmp -s "$T/b.json" "$T/b-forged.json" && die "b-forged.json is not different"
check "other content, same org and report id: 409" 409 "$(post post "$T/b-forged.json" application/tlsrpt+json)"
check "  still stored once" 2 "$(reports)"
wait_log pub "already stored with other content" || true
check "  logged" 1 "$(grep -c 'already stored with other content' "$T/pub.log" || true)"

printf '{"organization-name": "Provider X", "report-id": ' >"$T/bad.json"
check "invalid JSON: 400" 400 "$(post post "$T/bad.json" application/tlsrpt+json)"
check "invalid JSON kept raw with its reason" "malformed|1" \
	"$(sql "SELECT status, reason LIKE 'invalid JSON%' FROM tlsrpt_report WHERE status = 'malformed'")"
N=$(reports)

# gzip bomb: 64 MiB of zeros, about 64 KiB compressed... kept under max_body with 32 MiB
head -c 33554432 /dev/zero | gzip -9 -n >"$T/bomb.gz"
say "     bomb: $(stat -c %s "$T/bomb.gz") bytes compressed, 33554432 inflated"
RSS0=$(vmrss_kb "$PID")
check "gzip bomb: 413" 413 "$(post post "$T/bomb.gz" application/tlsrpt+gzip)"
check "gzip bomb: nothing stored" "$N" "$(reports)"

# 1 GB bodies, from a bounded generator
OUT=$(post big 1073741824)
check "1 GB Content-Length: 413 before the body" "413 0" "$OUT"
OUT=$(post big 1073741824 chunked)
check_match "1 GB chunked: connection closed after max_body" '^closed [0-9]+$' "$OUT"
SENT=${OUT#closed }
[ "$SENT" -lt 67108864 ] && check "1 GB chunked: cut within 64 MiB (sent $SENT)" yes yes ||
	check "1 GB chunked: cut within 64 MiB" "< 67108864" "$SENT"
check "1 GB bodies: nothing stored" "$N" "$(reports)"
if [ "$ASAN_BUILD" = 0 ]; then
	RSS=$(vmrss_kb "$PID")
	say "     VmRSS $RSS0 kB before the bomb and the 1 GB bodies, $RSS kB after"
	[ "$RSS" -lt $((RSS0 + 65536)) ] && check "VmRSS grew less than 64 MiB" yes yes ||
		check "VmRSS grew less than 64 MiB" "< $((RSS0 + 65536)) kB" "$RSS kB"
fi

check "max_uploads (4) in progress: 503" 503 "$(post hold 4 "$T/a.json")"
check "a domain not published: 422" 422 "$(post post "$DATA/rfc8460.json" application/tlsrpt+json)"
check "a domain not published: not stored" "$N" "$(reports)"
check "another Content-Type: 415" 415 "$(post post "$T/a.json" application/json)"
check "a Host not published: 404" 404 \
	"$(HOST_HEADER=mta-sts.example.org post post "$T/a.json" application/tlsrpt+json)"

# 10 000 reports from one address: 429 once the hour's RATE reports are counted (the
# POSTs above that reached the rate check count too), nothing stored after that.
OUT=$(post flood "$T/a.json" 10000)
say "     flood: $OUT"
read -r POSTS FIRST SEEN <<<"$OUT"
check "flood: a 429 came" yes "$([ "$FIRST" -gt 0 ] && echo yes || echo no)"
check "flood: before it only duplicates (200)" "200:$((FIRST - 1)),429:1" "$SEEN"
check "flood: 429 again after it" 429 "$(post post "$T/b.json.gz" application/tlsrpt+gzip)"
check "flood: nothing more stored" "$N" "$(reports)"
check "the daemon is alive" alive "$(alive pub)"

OUT=$("$MTASTSD" -c "$T/pub.conf" tlsrpt example.com)
check_match "tlsrpt summary" \
	'^example.com: 1512 sessions from 2 organisations, 4 failures \(certificate-host-mismatch 3, unspecified 1\)' "$OUT"
check "dns-records: mailto and https rua" \
	'_smtp._tls.example.com. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://mta-sts.example.com/.well-known/tlsrpt"' \
	"$("$MTASTSD" -c "$T/pub.conf" dns-records | grep _smtp._tls)"

# Eight imports at once (mail reports delivered together) while the daemon runs: each waits
# its turn for the write lock (TLSRPT_STORE_BUSY_MS), none is deferred with 75.
for i in 1 2 3 4 5 6 7 8; do
	sed "s/_example.com\"/_example.com-c$i\"/" "$T/a.json" >"$T/c$i.json"
done
pids=()
for i in 1 2 3 4 5 6 7 8; do
	("$MTASTSD" -c "$T/pub.conf" tlsrpt import "$T/c$i.json" >/dev/null 2>"$T/c$i.err"
		echo $? >"$T/c$i.rc") &
	pids+=($!)
done
wait "${pids[@]}" # the imports only: the daemon is a child too
rcs=$(cat "$T"/c[1-8].rc | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
check "8 imports at once: all stored (exit 0)" "0:8 " "$rcs"
check "8 imports at once: 8 more reports" $((N + 8)) "$(reports)"
finish
