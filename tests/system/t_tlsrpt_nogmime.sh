#!/usr/bin/env bash
# tests/system/t_tlsrpt_nogmime.sh - `mtastsd tlsrpt import` of a mail when GMime cannot
# be loaded (it is dlopen'ed, common/dynlib.h): exit 75 (EX_TEMPFAIL), so that Postfix
# pipe(8) defers the report until the library is installed, instead of bouncing it to the
# reporter (69, EX_UNAVAILABLE, is a hard 5.3.0 for Postfix: the report was lost)
#
# In a private mount namespace (unshare -m), an empty file is bind-mounted over GMime's
# shared object, as a host without libgmime-3.0-0 (nothing outside the namespace changes).
# Checks: the mail exits 75 and names GMime on stderr (not "No such file"); a bare JSON report (no GMime needed)
# is still stored, exit 0; outside the namespace the same mail is stored, exit 0.
. "$(dirname "$0")/lib.sh"

need_root "a private mount namespace (unshare -m)"
need_cmd unshare mount python3
SO=$(ldconfig -p | awk '/libgmime-3\.0\.so\.0 / && !f { print $NF; f = 1 }') # no exit: under pipefail, SIGPIPE to ldconfig would end the test
if [ -z "$SO" ] || [ ! -e "$SO" ]; then
	unavailable "libgmime-3.0.so.0 not found (ldconfig -p)"
fi
unshare -m true 2>/dev/null || unavailable "unshare -m not permitted here"

mkdir -p "$T/st"
printf 'process: { state_directory = "%s/st"; }\n' "$T" >"$T/m.conf"
cat >"$T/r.json" <<'EOJ'
{"organization-name":"Example Org","date-range":{"start-datetime":"2026-12-06T00:00:00Z",
"end-datetime":"2026-12-06T23:59:59Z"},"contact-info":"tlsrpt@example.net","report-id":"R",
"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com",
"policy-string":["version: STSv1","mode: enforce","mx: mx.example.com","max_age: 86400"],
"mx-host":["mx.example.com"]},"summary":{"total-successful-session-count":3,
"total-failure-session-count":0}}]}
EOJ
sed 's/"R"/"bare"/' "$T/r.json" >"$T/bare.json"
python3 - "$T/r.json" >"$T/r.eml" <<'EOP'
import email.message, gzip, sys
m = email.message.EmailMessage()
m["From"] = "r@example.net"; m["To"] = "tlsrpt@example.com"; m["Subject"] = "Report"
m.set_content("A TLS report.")
m.add_attachment(gzip.compress(open(sys.argv[1], "rb").read(), mtime=0),
                 maintype="application", subtype="tlsrpt+gzip", filename="r.json.gz")
sys.stdout.write(m.as_string())
EOP
: >"$T/empty"
# shellcheck disable=SC2016
unshare -m bash -c 'mount --bind "$1" "$2" || exit 99
	"$3" -c "$4" tlsrpt import "$5" 2>"$6.err"; echo $? >"$6.rc"
	"$3" -c "$4" tlsrpt import "$7" 2>"$6.err2"; echo $? >"$6.rc2"' \
	_ "$T/empty" "$SO" "$MTASTSD" "$T/m.conf" "$T/r.eml" "$T/ns" "$T/bare.json"
check "namespace set up" 0 "$?"
check "mail without GMime: exit 75 (EX_TEMPFAIL: Postfix defers)" 75 "$(cat "$T/ns.rc")"
check_match "mail without GMime: stderr names GMime" "needs GMime" "$(cat "$T/ns.err")"
# before: "r.eml: No such file or directory: reading a mail needs GMime..." (err_str of
# dynlib's -ENOENT), as if the mail file were missing
check "mail without GMime: stderr does not say the file is missing" "" \
	"$(grep -o 'No such file or directory: reading' "$T/ns.err" || true)"
check "bare JSON without GMime: stored (exit 0)" 0 "$(cat "$T/ns.rc2")"
"$MTASTSD" -c "$T/m.conf" tlsrpt import "$T/r.eml" >"$T/host.err" 2>&1
check "mail with GMime (outside the namespace): stored (exit 0)" 0 "$?"
check_match "mail with GMime: stored" "stored: org 'Example Org' report 'R'" "$(cat "$T/host.err")"
finish
