#!/bin/bash
# t_socketmap_vectors.sh - every row of tests/vectors/socketmap.tsv against the real daemon:
# the exact request byte stream on a fresh TCP connection (smraw.py), the replies compared
# with the expected column. Fixture world of tests/vectors/README.md in DNS (ldns-testns,
# data/resolver/vectors.testns) and HTTPS (fake_https); zone "postfix" with require_sni on,
# tlsrpt off, strict_testing off.
#
# Expected column -> smraw.py output:
#   "OK secure"        REPLY <the canonical reply of the key's Policy Domain> (README table)
#   "NOTFOUND"         REPLY NOTFOUND<space> (the issue's contract: `NOTFOUND `)
#   "PERM" / "TEMP"    REPLY starting with that word
#   "A then B"         both, in order
#   "close connection" no (further) reply, then CLOSED; otherwise the connection stays OPEN
#   "A OR B"           either
. "$(dirname "$0")/lib.sh"

need_cmd python3 certtool ldns-testns

DNS=$(free_port both)
HTTPS=$(free_port tcp)
SM=$(free_port tcp)
WWW=$T/www
TSV=$SRC_DIR/tests/vectors/socketmap.tsv

make_ca
make_cert www mta-sts.enforce.example mta-sts.relay.example mta-sts.xn--bcher-kva.example \
	mta-sts.testing.example mta-sts.none.example
policy_put "$WWW" enforce.example "$(policy_enforce mail.enforce.example '*.mx.enforce.example')"
policy_put "$WWW" relay.example "$(policy_enforce relay.example)"
policy_put "$WWW" xn--bcher-kva.example "$(policy_enforce mail.xn--bcher-kva.example)"
policy_put "$WWW" testing.example 'version: STSv1\nmode: testing\nmx: mail.testing.example\nmax_age: 604800\n'
policy_put "$WWW" none.example 'version: STSv1\nmode: none\nmax_age: 86400\n'

testns_start dns "$DNS" "$SYSDATA/resolver/vectors.testns"
fake_https_start www "$HTTPS" www "$WWW"
RES_NEGATIVE_TTL=1m RES_TEMPFAIL_TTL=1m resolver_conf "$T/mtastsd.conf" "$SM" "$DNS" "$HTTPS"
mtastsd_start mtastsd "$T/mtastsd.conf" "$SM"

check "socketmap.tsv row count" 15 "$(tail -n +2 "$TSV" | grep -c .)"

# Per row: python works out the expected smraw.py output, runs smraw.py, and prints
# "id<TAB>expected<TAB>actual" (newlines as " | "; actual = expected when an alternative or
# a prefix rule matched).
python3 - "$TSV" "$SM" "$SRC_DIR/tests/system/smraw.py" "$LIVE_S" >"$T/results.tsv" <<'PY'
import subprocess, sys

tsv, port, smraw, live = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
CANON = {
    "enforce.example": "OK secure match=mail.enforce.example:.mx.enforce.example servername=hostname",
    "relay.example": "OK secure match=relay.example servername=hostname",
    "xn--bcher-kva.example": "OK secure match=mail.xn--bcher-kva.example servername=hostname",
}
sys.path.insert(0, smraw.rsplit("/", 1)[0])
import smraw as sm

def keys(request):
    """Policy Domains of the well-formed requests in the stream, in order."""
    data = b"".join(p for p in sm.decode(request) if isinstance(p, bytes))
    out = []
    while True:
        c = data.find(b":")
        if c <= 0 or not data[:c].isdigit():
            break
        n = int(data[:c])
        if data[c + 1 + n:c + 2 + n] != b",":
            break
        payload = data[c + 1:c + 1 + n].decode("utf-8", "replace")
        key = payload.split(" ", 1)[1] if " " in payload else ""
        k = key.lower()
        if k.startswith("["):
            k = k[1:].split("]", 1)[0]
        elif k.count(":") == 1:
            k = k.split(":", 1)[0]
        out.append(k.rstrip("."))
        data = data[c + 2 + n:]
    return out

def expect(words, doms, eof):
    """One alternative ("A then B") -> list of (kind, text) lines."""
    lines, i = [], 0
    for w in words:
        w = w.strip()
        if w == "close connection":
            lines.append(("exact", "CLOSED"))
            return lines
        if w == "OK secure":
            d = doms[i] if i < len(doms) else ""
            lines.append(("exact", "REPLY " + CANON[d]) if d in CANON else ("prefix", "REPLY OK secure"))
        elif w == "NOTFOUND":
            lines.append(("exact", "REPLY NOTFOUND "))
        elif w in ("PERM", "TEMP", "TIMEOUT"):
            lines.append(("prefix", "REPLY " + w))
        else:
            raise SystemExit("unknown expected word %r" % w)
        i += 1
    lines.append(("either", "OPEN CLOSED") if eof else ("exact", "OPEN"))
    return lines

def matches(exp, got):
    if len(exp) != len(got):
        return False
    for (kind, text), g in zip(exp, got):
        if kind == "exact" and g != text:
            return False
        if kind == "prefix" and not g.startswith(text):
            return False
        if kind == "either" and g not in text.split():
            return False
    return True

with open(tsv, encoding="ascii") as f:
    rows = [l.rstrip("\n").split("\t") for l in f][1:]
for rid, request, expected, note in rows:
    doms = keys(request)
    alts = [expect(a.split(" then "), doms, "<eof>" in request) for a in expected.split(" OR ")]
    nreplies = max(sum(1 for k, t in a if t.startswith("REPLY")) for a in alts)
    closes = any(t == "CLOSED" for a in alts for k, t in a)
    args = [sys.executable, smraw, "--timeout", str(live)]
    if not closes:
        args += ["--expect", str(nreplies)]
    got = subprocess.run(args + [port, request], capture_output=True, text=True,
                         timeout=live + 30).stdout.splitlines()
    shown = lambda a: " | ".join(t for k, t in a)
    if any(matches(a, got) for a in alts):
        print("%s\t%s\t%s" % (rid, expected, expected))
    else:
        print("%s\t%s\t%s" % (rid, " OR ".join(shown(a) for a in alts), " | ".join(got)))
PY
while IFS=$'\t' read -r id exp act; do
	check "$id" "$exp" "$act"
done <"$T/results.tsv"
check "rows run" 15 "$(grep -c . "$T/results.tsv")"
check "mtastsd still running" alive "$(alive mtastsd)"
finish
