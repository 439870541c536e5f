#!/usr/bin/env bash
# tests/system/t_tlsrpt_slow.sh - slow uploads to the HTTPS TLSRPT receiver (docs/tlsrpt.md)
# do not hold its tlsrpt.max_uploads slots: with max_uploads = 2 held by a slowloris (one
# upload sending a byte a second, one silent after its first byte) and a connection
# deadline (publisher.connection_timeout) far beyond the test, a legitimate POST gets 201
# once the held ones are past PUB_TLSRPT_UPLOAD_GRACE_MS (5 s) under
# tlsrpt.min_upload_rate: a slow one is closed for it (or the trickling one at its next
# byte, whichever comes first). Without the minimum rate the POST would get 503 for as long as the slowloris lasts.
. "$(dirname "$0")/lib.sh"

need_cmd certtool python3 sqlite3
DATA="$SRC_DIR/tests/unit/data/tlsrpt"
P=$(free_port tcp)
make_ca
make_cert ex mta-sts.example.com
cat >"$T/pub.conf" <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s";
            state_directory = "$T/st"; };
resolver = { enabled = false; };
admin = { enabled = false; };
tlsrpt = { receive = true; max_body = 65536; rate_per_address = 0; max_uploads = 2; };
publisher = {
	listen = [ "127.0.0.1:$P" ];
	http_listen = [ ];
	connection_timeout = "600s";
	domains = (
		{ domain = "example.com"; mode = "testing"; max_age = 86400; mx = [ "mx1.example.com" ];
		  cert = "$T/ex.fullchain.pem"; key = "$T/ex.key"; }
	);
};
EOC
"$MTASTSD" -n -c "$T/pub.conf" >"$T/check.log" 2>&1 || die "config check failed: $(cat "$T/check.log")"
start_bg pub "$MTASTSD" -f -c "$T/pub.conf"
wait_tcp "$P"
wait_log pub "tlsrpt: receiving reports" || true

sed "s/2026-11-05/$(date -u +%Y-%m-%d)/g" "$DATA/provider-a.json" >"$T/a.json"
OUT=$(python3 "$SRC_DIR/tests/system/tlsrpt_post.py" "$P" "$T/ca.pem" mta-sts.example.com \
	slowloris 2 "$T/a.json" "$LIVE_S")
say "     slowloris: $OUT"
read -r ST TRIES CLOSED <<<"$OUT"
check "a POST while 2 slow uploads hold max_uploads (2): 201" 201 "$ST"
check "a slow upload closed by the server" yes "$([ "$CLOSED" -ge 1 ] && echo yes || echo no)"
check "the report stored" 1 "$(sqlite3 "$T/st/state.db" "SELECT count(*) FROM tlsrpt_report")"
wait_log pub "tlsrpt: upload from 127.0.0.1 closed" &&
	check "the slow upload closed is logged" yes yes
check "the daemon is alive" alive "$(alive pub)"
finish
