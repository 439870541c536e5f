#!/usr/bin/env bash
# tests/system/t_tlsrpt_mail.sh - TLS report mails through a real Postfix into the state
# database: a private Postfix instance on loopback (its own config, queue and data
# directories; smtpd on a free port; the pipe(8) transport of docs/tlsrpt.md running
# `mtastsd tlsrpt import -` as nobody) receives report mails over SMTP (tlsrpt_mail.py).
# Checks: a gzip report and a json report are stored (sqlite3, `mtastsd tlsrpt`), the same
# report again is delivered but stored once, a malformed report is bounced (pipe exit 65)
# and kept raw with its reason, a mail without a report part is bounced and stores nothing.
. "$(dirname "$0")/lib.sh"

need_root "a private Postfix instance (master runs as root, pipe as nobody)"
need_cmd postfix postconf sqlite3 python3 script
DATA="$SRC_DIR/tests/unit/data/tlsrpt"
PF="$T/pf"
chmod 755 "$T"
# pipe(8) runs the command as nobody: a copy of the binary where nobody can reach it (the
# build may sit under a directory only root may enter, such as /root)
cp "$MTASTSD" "$T/mtastsd"
chmod 755 "$T/mtastsd"
mkdir -p "$PF/etc" "$PF/q" "$PF/data" "$T/st"
chown postfix "$PF/data"
chown nobody "$T/st"
P=$(free_port tcp)
cat >"$T/m.conf" <<EOC
process: { state_directory = "$T/st"; }
EOC
chmod 644 "$T/m.conf"
cat >"$PF/etc/main.cf" <<EOC
compatibility_level = 3.6
queue_directory = $PF/q
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.com
mydomain = example.com
mydestination =
relay_domains = example.com
transport_maps = inline:{ example.com=tlsrpt: }
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
maillog_file_prefixes = $T
maillog_file = $T/maillog
tlsrpt_destination_recipient_limit = 1
smtp_dns_support_level = disabled
disable_dns_lookups = yes
bounce_queue_lifetime = 0
EOC
cat >"$PF/etc/master.cf" <<EOC
127.0.0.1:$P inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsrpt    unix  -       n       n       -       -       pipe
  flags=q user=nobody argv=$T/mtastsd -c $T/m.conf tlsrpt import -
EOC
pf_stop() { postfix -c "$PF/etc" stop >/dev/null 2>&1 || true; }
trap 'pf_stop; lib_cleanup' EXIT
# postfix(1) reports its errors on a terminal or to syslog only: script(1) gives it one.
OUT=$(script -qc "postfix -c $PF/etc start" /dev/null 2>&1) || die "postfix start: $OUT"
wait_file "$PF/q/pid/master.pid"
awk '{ print $1 }' "$PF/q/pid/master.pid" >>"$T/pids"
wait_tcp "$P"

delivered() { [ "$(grep -Ec 'postfix/pipe.*status=(sent|bounced)' "$T/maillog" 2>/dev/null)" -ge "$1" ]; }
sql() { sqlite3 "$T/st/state.db" "$1"; }
send() { python3 "$SRC_DIR/tests/system/tlsrpt_mail.py" "$P" "$@"; }

# 1. a gzip report
send "$DATA/provider-b.json" gzip
wait_for "$LIVE_S" delivered 1 || say "     maillog: $(tail -3 "$T/maillog")"
check_match "gzip report delivered by pipe" "status=sent .*stored: org 'Provider B Corporation'" \
	"$(grep postfix/pipe "$T/maillog" | tail -1)"
check "gzip report stored from mail" "Provider B Corporation|133784432901234567+example.com|mail|ok" \
	"$(sql "SELECT org, report_id, source, status FROM tlsrpt_report")"
check "its sessions per result" "certificate-host-mismatch|3 success|86 unspecified|1" \
	"$(sql "SELECT result, sum(sessions) FROM tlsrpt_session WHERE domain = 'example.com' GROUP BY result ORDER BY result" | tr '\n' ' ' | sed 's/ $//')"

# 2. the same report again: delivered (exit 0), stored once
send "$DATA/provider-b.json" gzip
wait_for "$LIVE_S" delivered 2 || true
check_match "duplicate delivered" "status=sent .*duplicate: org 'Provider B Corporation'" \
	"$(grep postfix/pipe "$T/maillog" | tail -1)"
check "duplicate stored once" 1 "$(sql "SELECT count(*) FROM tlsrpt_report")"

# 3. a json report (application/tlsrpt+json)
send "$DATA/rfc8460.json" json
wait_for "$LIVE_S" delivered 3 || true
check "json report stored" "Company-X|ok" \
	"$(sql "SELECT org, status FROM tlsrpt_report WHERE org = 'Company-X'")"

# 4. malformed: bounced (65), kept raw with the reason
send "$DATA/bad-missing-summary.json" gzip
wait_for "$LIVE_S" delivered 4 || true
check_match "malformed report bounced" "status=bounced .*malformed report" \
	"$(grep postfix/pipe "$T/maillog" | tail -1)"
check "malformed kept raw with its reason" "malformed|policies[0].summary missing|1" \
	"$(sql "SELECT status, reason, length(raw) > 0 FROM tlsrpt_report WHERE status = 'malformed'")"

# 5. no report part: bounced, nothing stored
send "$DATA/provider-a.json" none
wait_for "$LIVE_S" delivered 5 || true
check_match "mail without a report bounced" "status=bounced .*no TLS report" \
	"$(grep postfix/pipe "$T/maillog" | tail -1)"
check "nothing more stored" 3 "$(sql "SELECT count(*) FROM tlsrpt_report")"

# The summary verb reads what the pipe stored (the fixtures' dates are old: --json lists
# the domain asked for with its last reports).
OUT=$("$MTASTSD" -c "$T/m.conf" tlsrpt company-y.example --json)
check_match "tlsrpt --json shows the mail report" '"organisation":"Company-X"' "$(tr -d ' \n' <<<"$OUT")"
finish
