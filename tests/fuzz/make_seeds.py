#!/usr/bin/env python3
"""tests/fuzz/make_seeds.py - (re)write the hand-made and vector-derived seed inputs.

Usage: python3 tests/fuzz/make_seeds.py
Writes tests/fuzz/corpus/<target>/seed-<name> from tests/vectors/*.tsv rows, etc/ files and
the hostile cases below. Files found by fuzzing (crash-*, regress-*, and libFuzzer's
SHA-1 names kept after -merge=1) are left alone; see docs/fuzzing.md.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
VEC = os.path.join(ROOT, "tests", "vectors")
CORPUS = os.path.join(HERE, "corpus")


def rows(name):
    path = os.path.join(VEC, name)
    with open(path, encoding="ascii") as f:
        lines = f.read().split("\n")
    head = lines[0].split("\t")
    for line in lines[1:]:
        if line:
            yield dict(zip(head, line.split("\t")))


def unescape(s):
    """tests/vectors escapes: \\\\ \\t \\r \\n \\0 \\xHH."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"\\": b"\\", "t": b"\t", "r": b"\r", "n": b"\n", "0": b"\0"}[n]
            i += 2
            continue
        out += c.encode("ascii")
        i += 1
    return bytes(out)


def txt_rrset(s):
    """Zone-file presentation form, RRs joined by ' | ' -> list of joined RR bytes."""
    if s.startswith("(CNAME"):
        s = s[s.index(")") + 1:].strip()
    if s.startswith("("):
        return []  # NXDOMAIN, SERVFAIL...: an empty RRset
    rrs = []
    for rr in s.split(" | "):
        data = bytearray()
        for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', rr):
            t = m.group(1)
            i = 0
            while i < len(t):
                if t[i] == "\\":
                    if t[i + 1].isdigit():
                        data.append(int(t[i + 1:i + 4]))
                        i += 4
                    else:
                        data += t[i + 1].encode()
                        i += 2
                else:
                    data += t[i].encode("latin-1")
                    i += 1
        rrs.append(bytes(data))
    return rrs


seeds = {}


def seed(target, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    seeds.setdefault(target, {})["seed-" + name] = data


# netstring: byte 0 = limit selector (odd: 10000), bytes 1-2 = chunking seed.
NS = b"\x01\x00\x07"
for r in rows("socketmap.tsv"):
    req = r["request"].replace("<pause>", "").replace("<eof>", "")
    seed("netstring", r["id"], NS + unescape(req))
for name, data in {
    "empty-payload": b"0:,",
    "leading-zero": b"00:,",
    "leading-zero2": b"01:a,",
    "no-colon": b"12",
    "no-comma": b"1:ab",
    "colon-first": b":,",
    "huge-length": b"99999999999999999999999999:x,",
    "at-limit": b"10000:" + b"a" * 10000 + b",",
    "over-limit": b"10001:",
    "pipeline": b"1:a,2:bc,0:,3:def,",
    "binary": b"5:\x00\xff\r\n\x00,",
    "minus": b"-1:,",
    "space": b" 1:a,",
    "partial": b"10:abc",
}.items():
    seed("netstring", name, NS + data)
seed("netstring", "small-limit", b"\x10\x12\x34" + b"8:abcdefgh,9:abcdefghi,")
seed("netstring", "tiny-limit", b"\x00\x00\x01" + b"0:,1:a,")

# sts_policy: bodies from policy_parse.tsv and the policy= parts of postfix_policy_reply.tsv.
for r in rows("policy_parse.tsv"):
    seed("sts_policy", r["id"], unescape(r["policy_text"]))
for r in rows("postfix_policy_reply.tsv"):
    m = re.search(r"policy=(.*?)(;|$)", r["situation"])
    if m:
        seed("sts_policy", r["id"], unescape(m.group(1)))
GOOD = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n"
seed("sts_policy", "many-mx", "version: STSv1\nmode: enforce\n" +
     "".join("mx: mx%d.example.com\n" % i for i in range(70)) + "max_age: 1\n")
seed("sts_policy", "many-ext", GOOD + "".join("x%d: y\n" % i for i in range(40)))
seed("sts_policy", "max-age-limit", GOOD.replace("86400", "31557600"))
seed("sts_policy", "max-age-over", GOOD.replace("86400", "31557601"))
seed("sts_policy", "max-age-zeros", GOOD.replace("86400", "000000000000086400"))
seed("sts_policy", "max-age-wrap", GOOD.replace("86400", "18446744073709551617"))
seed("sts_policy", "bom-comment", "\ufeff# c\n\n" + GOOD)
seed("sts_policy", "nul", GOOD.replace("mail", "ma\0il"))
seed("sts_policy", "utf8-mx", GOOD.replace("mail.example.com", "b\u00fccher.example"))
seed("sts_policy", "bad-utf8", GOOD.encode() + b"x: \xc3\x28\n")
seed("sts_policy", "dup-mode", GOOD + "mode: none\n")
seed("sts_policy", "long-line", "version: STSv1\nmode: none\nmax_age: 1\nx: " + "a" * 3000 + "\n")
seed("sts_policy", "lone-cr", GOOD.replace("\r\n", "\r"))
seed("sts_policy", "wildcards", GOOD.replace("mail.example.com", "*.*.example.com"))
seed("sts_policy", "no-newline-end", GOOD.rstrip())

# sts_txt: RRs joined by LF.
for name in ("txt_record.tsv", "tlsrpt_txt.tsv"):
    for r in rows(name):
        seed("sts_txt", r["id"], b"\n".join(txt_rrset(r["txt_rrset"])))
seed("sts_txt", "id-32", "v=STSv1; id=" + "a" * 32)
seed("sts_txt", "id-33", "v=STSv1; id=" + "a" * 33)
seed("sts_txt", "nul-in-id", b"v=STSv1; id=ab\0cd")
seed("sts_txt", "wsp", "v=STSv1 \t;\t id=abc \t; ")
seed("sts_txt", "many-rr", "\n".join("v=spf1 -all" for _ in range(80)) + "\nv=STSv1; id=x")
seed("sts_txt", "tlsrpt-empty-rua", "v=TLSRPTv1; rua=")
seed("sts_txt", "tlsrpt-many", "v=TLSRPTv1; rua=" + ",".join("mailto:a%d@x" % i for i in range(50)))
seed("sts_txt", "empty-rrs", "\n\n\n")

# mx_match: "pattern\nhostname".
for r in rows("mx_match.tsv"):
    seed("mx_match", r["id"], unescape(r["mx_pattern"]) + b"\n" + unescape(r["hostname"]))
for name, data in {
    "star-only": "*\nexample.com",
    "star-dot": "*.\na.",
    "double-star": "*.*.example.com\na.b.example.com",
    "inner-star": "mail.*.com\nmail.x.com",
    "dots": "..\n.",
    "trailing-both": "*.example.com.\nmail.example.com.",
    "empty": "\n",
    "long": "*." + "a" * 250 + "\n" + "b." + "a" * 250,
    "nonascii": "*.b\u00fccher.example\nmail.b\u00dcCHER.example",
}.items():
    seed("mx_match", name, data)

# domain: Postfix next-hop keys.
for r in rows("socketmap.tsv"):
    m = re.match(r"\d+:(?:<pause>)?\S+ (.*),$", r["request"])
    if m:
        seed("domain", r["id"], unescape(m.group(1)))
for r in rows("postfix_policy_reply.tsv"):
    m = re.match(r"key=([^;]*)", r["situation"])
    if m:
        seed("domain", r["id"], m.group(1))
L63 = "a" * 63
for name, data in {
    "upper-dot": "EXAMPLE.COM.",
    "port": "example.com:25",
    "bracket-port": "[mx.example.com]:587",
    "ipv4": "192.0.2.1",
    "ipv4-bracket": "[192.0.2.1]:25",
    "ipv6": "[ipv6:2001:db8::1]",
    "ipv6-bare": "::1",
    "parent": ".example.com",
    "utf8": "B\u00fccher.example",
    "alabel": "xn--bcher-kva.example.",
    "bad-alabel": "xn--zzzzzzzz-.example",
    "label-63": L63 + ".com",
    "label-64": L63 + "a.com",
    "name-253": ".".join([L63, L63, L63, "a" * 61]),
    "name-254": ".".join([L63, L63, L63, "a" * 62]),
    "empty-label": "a..b",
    "hyphen-start": "-a.com",
    "hyphen-end": "a-.com",
    "underscore": "_mta-sts.example.com",
    "two-dots": "example.com..",
    "dot": ".",
    "nul": b"exa\0mple.com",
    "brackets-open": "[example.com",
    "colon-only": ":",
    "emoji": "\U0001f600.example",
    "fullwidth-dot": "example\u3002com",
    "long-utf8": "\u00e9" * 200 + ".example",
}.items():
    seed("domain", name, data)

# cfg: the example config when it exists, and small hand-made files.
for name in ("mtastsd.conf", "mtastsd.conf.example"):
    path = os.path.join(ROOT, "etc", name)
    if os.path.exists(path):
        with open(path, "rb") as f:
            seed("cfg", "etc-" + name, f.read())
fixtures = os.path.join(ROOT, "tests", "unit", "data", "cfg")
if os.path.isdir(fixtures):
    for name in sorted(os.listdir(fixtures)):
        if name.endswith(".conf"):
            with open(os.path.join(fixtures, name), "rb") as f:
                seed("cfg", "unit-" + name[:-5], f.read())
for name, data in {
    "empty": "",
    "resolver": 'resolver: { listen = ["127.0.0.1:8461"]; dns_servers = ["127.0.0.1@5353"]; '
                'fetch_timeout = "15s"; };\n',
    "zones": 'resolver: { zones = ( { name = "postfix"; strict_testing = true; '
             'timeout = "500ms"; } ); default_zone = "postfix"; };\n',
    "publisher": 'publisher: { listen = ["0.0.0.0:443"]; domains = ( { domain = "Example.COM"; '
                 'mode = "enforce"; mx = ["mail.example.com", "*.example.net"]; '
                 'max_age = "7d"; cert = "/nonexistent"; key = "/nonexistent"; } ); };\n',
    "cache": 'cache: { backend = "valkey"; max_entries = 10; redis: { address = "unix:/x"; '
             'db = 1023; sentinels = ["192.0.2.1:26379"]; master_name = "m"; }; };\n',
    "bad-type": "process: { verbosity = \"loud\"; };\n",
    "out-of-range": "process: { verbosity = 99; };\n",
    "unknown-key": "nosuch: 1;\n",
    "duration-units": 'resolver: { dns_timeout = "2h"; idle_timeout = "99999999999d"; };\n',
    "syntax": "resolver: { listen = [ ;\n",
    "deep": "a:" * 200 + "1" + ";" * 200 + "\n",
    "include": '@include "/nonexistent/x.conf"\n',
}.items():
    seed("cfg", name, data)

# cfg_include: main.conf, a.conf, b.conf separated by "\n%%%\n"; "%D" is the target's
# private directory, which also holds good.conf, empty.conf, self.conf, loop1.conf,
# loop2.conf, deep0.conf (a chain of 12), sub/ (sub/inner.conf), fifo, zero (-> /dev/zero),
# dangling and subdir (-> sub); see fuzz_cfg_include.c.
SEP = "\n%%%\n"
for name, data in {
    "good": '@include "good.conf"\n',
    "a-b": '@include "a.conf"\n' + SEP + 'process: { verbosity = 2; };\n@include "b.conf"\n'
           + SEP + 'resolver: { dns_timeout = "3s"; };\n',
    "absolute": '@include "%D/good.conf"\n',
    "empty": '@include "empty.conf"\nprocess: { verbosity = 0; };\n',
    "self": '@include "self.conf"\n',
    "loop": '@include "loop1.conf"\n',
    "deep": '@include "deep0.conf"\n',
    "deep-ok": '@include "deep3.conf"\n',
    "main-self": '@include "main.conf"\n',
    "a-self": '@include "a.conf"\n' + SEP + '@include "a.conf"\n',
    "dir": '@include "sub"\n',
    "dot": '@include "."\n',
    "dotdot": '@include ".."\n',
    "subdir-link": '@include "subdir"\n',
    "inner": '@include "sub/inner.conf"\n',
    "inner-link": '@include "subdir/inner.conf"\n',
    "fifo": '@include "fifo"\n',
    "zero": '@include "zero"\n',
    "dev-zero": '@include "/dev/zero"\n',
    "dangling": '@include "dangling"\n',
    "missing": '@include "nonexistent.conf"\n',
    "escape": '@include "../../etc/hostname"\n',
    "escape-abs": '@include "/etc/passwd"\n',
    "proc": '@include "/proc/self/status"\n',
    "empty-name": '@include ""\n',
    "escaped-quote": '@include "a\\"b.conf"\n',
    "escaped-backslash": '@include "sub\\\\inner.conf"\n',
    "unterminated": '@include "a.conf\nprocess: { verbosity = 1; };\n',
    "not-at-start": 'process: { verbosity = 1; }; @include "a.conf"\n' + SEP + 'x = 1;\n',
    "in-string": 'x = "\n@include \"sub\"\n";\n',
    "in-comment": '/*\n@include "sub"\n*/\n',
    "tab": '\t@include\t"good.conf"\n',
    "dup-key": '@include "good.conf"\n@include "good.conf"\n',
    "in-group": 'process: {\n@include "a.conf"\n};\n' + SEP + 'verbosity = 3;\n',
    "syntax-in-include": '@include "a.conf"\n' + SEP + 'resolver: { listen = [ ;\n',
    "big-int-in-include": '@include "a.conf"\n' + SEP + 'process: { verbosity = 99999999999; };\n',
    "chain-to-dir": '@include "a.conf"\n' + SEP + '@include "b.conf"\n' + SEP + '@include "sub"\n',
}.items():
    seed("cfg_include", name, data)

# fetch_headers: byte 0 = limit (low 2 bits: 512, 1000, 4096, 65536), then header lines.
def hdrs(limit, *lines):
    return bytes([limit]) + "".join(l + "\r\n" for l in lines).encode("latin-1")


OK200 = "HTTP/1.1 200 OK"
for name, data in {
    "ok": hdrs(3, OK200, "Content-Type: text/plain", "Content-Length: 120", ""),
    "ok-charset": hdrs(3, OK200, "content-type: TEXT/PLAIN; charset=utf-8", ""),
    "ok-h2": hdrs(3, "HTTP/2 200", "content-type: text/plain;charset=iso-8859-1", ""),
    "ct-html": hdrs(3, OK200, "Content-Type: text/html", ""),
    "ct-none": hdrs(3, OK200, "Content-Length: 10", ""),
    "ct-plainx": hdrs(3, OK200, "Content-Type: text/plainx", ""),
    "ct-nul": bytes([3]) + b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\x00html\r\n\r\n",
    "ct-long-pad": hdrs(3, OK200, "Content-Type: text/plain" + " " * 200 + "html", ""),
    "ct-long-param": hdrs(3, OK200, "Content-Type: text/plain;" + "x" * 300, ""),
    "ct-twice": hdrs(3, OK200, "Content-Type: text/plain", "Content-Type: text/html", ""),
    "ct-space-colon": hdrs(3, OK200, "Content-Type : text/plain", ""),
    "cl-max": hdrs(0, OK200, "Content-Type: text/plain", "Content-Length: 512", ""),
    "cl-max1": hdrs(0, OK200, "Content-Type: text/plain", "Content-Length: 513", ""),
    "cl-empty": hdrs(3, OK200, "Content-Type: text/plain", "Content-Length:", ""),
    "cl-zeros": hdrs(0, OK200, "Content-Type: text/plain",
                     "Content-Length: 000000000000000000000000000070000", ""),
    "cl-huge": hdrs(3, OK200, "Content-Type: text/plain", "Content-Length: 99999999999999999999999", ""),
    "cl-neg": hdrs(3, OK200, "Content-Type: text/plain", "Content-Length: -1", ""),
    "cl-plus": hdrs(3, OK200, "Content-Type: text/plain", "Content-Length: +5", ""),
    "cl-trailing": hdrs(3, OK200, "Content-Type: text/plain", "Content-Length: 100abc", ""),
    "cl-list": hdrs(3, OK200, "Content-Type: text/plain", "Content-Length: 10, 10", ""),
    "interim": hdrs(3, "HTTP/1.1 100 Continue", "Content-Type: text/html", "", OK200,
                    "Content-Type: text/plain", ""),
    "interim-ct-reset": hdrs(3, "HTTP/1.1 103 Early Hints", "Content-Type: text/plain", "",
                             OK200, ""),
    "redirect": hdrs(3, "HTTP/1.1 301 Moved", "Location: https://evil/", "Content-Type: text/plain", ""),
    "not-found": hdrs(3, "HTTP/1.1 404 Not Found", "Content-Type: text/plain", ""),
    "no-status": hdrs(3, "Content-Type: text/plain", ""),
    "bare-lf": bytes([3]) + b"HTTP/1.1 200 OK\nContent-Type: text/plain\n\n",
}.items():
    seed("fetch_headers", name, data)

# dns_answer: byte 0 = question (bits 0-2: TXT, MX, TLSA, A, AAAA, ...), bit 3 TCP, bit 4
# force the ID; then a DNS message (RFC 1035 section 4), encoded by hand below.
import struct


def dname(name):
    if name in ("", "."):
        return b"\x00"
    out = b""
    for label in name.rstrip(".").split("."):
        lb = label.encode("latin-1")
        out += bytes([len(lb)]) + lb
    return out + b"\x00"


def rr(name, rtype, rdata, ttl=300, rclass=1):
    return dname(name) + struct.pack(">HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def dns_msg(qname, qtype, answers=(), authority=(), rcode=0, qid=0x1234, tc=0, ad=0, qr=1,
            qdcount=1):
    flags = (qr << 15) | (tc << 9) | (1 << 8) | (1 << 7) | (ad << 5) | rcode
    hdr = struct.pack(">HHHHHH", qid, flags, qdcount, len(answers), len(authority), 0)
    q = dname(qname) + struct.pack(">HH", qtype, 1) if qdcount else b""
    return hdr + q + b"".join(answers) + b"".join(authority)


def txt(*strings):
    return b"".join(bytes([len(x)]) + x for x in (s.encode("latin-1") for s in strings))


TXT, MX, TLSA, A, AAAA, CNAME, SOA = 16, 15, 52, 1, 28, 5, 6
QT = "_mta-sts.example.com"
QM = "example.com"
QL = "_25._tcp.mx.example.com"
QA = "mta-sts.example.com"
soa = rr("example.com", SOA, dname("ns.example.com") + dname("h.example.com")
         + struct.pack(">IIIII", 1, 7200, 3600, 1209600, 60))
for name, (sel, data) in {
    "txt": (0, dns_msg(QT, TXT, [rr(QT, TXT, txt("v=STSv1; id=20240101;"))])),
    "txt-split": (0, dns_msg(QT, TXT, [rr(QT, TXT, txt("v=STSv1; ", "id=abc"))])),
    "txt-two": (0, dns_msg(QT, TXT, [rr(QT, TXT, txt("v=STSv1; id=a")),
                                     rr(QT, TXT, txt("v=STSv1; id=b"))])),
    "txt-cname": (0, dns_msg(QT, TXT, [rr(QT, CNAME, dname("x.example.net")),
                                       rr("x.example.net", TXT, txt("v=STSv1; id=c"))])),
    "txt-cname-loop": (0, dns_msg(QT, TXT, [rr(QT, CNAME, dname("a.example.net")),
                                            rr("a.example.net", CNAME, dname(QT))])),
    "txt-empty-rdata": (0, dns_msg(QT, TXT, [rr(QT, TXT, b"")])),
    "txt-big": (0, dns_msg(QT, TXT, [rr(QT, TXT, txt(*(["x" * 255] * 17)))])),
    "txt-other-owner": (0, dns_msg(QT, TXT, [rr("other.example.com", TXT, txt("v=STSv1; id=d"))])),
    "txt-nul": (0, dns_msg(QT, TXT, [rr(QT, TXT, txt("v=STSv1;\x00 id=e"))])),
    "txt-class-ch": (0, dns_msg(QT, TXT, [rr(QT, TXT, txt("v=STSv1; id=f"), rclass=3)])),
    "nxdomain": (0, dns_msg(QT, TXT, authority=[soa], rcode=3)),
    "nodata": (1, dns_msg(QM, MX, authority=[soa])),
    "servfail": (0, dns_msg(QT, TXT, rcode=2)),
    "refused": (0, dns_msg(QT, TXT, rcode=5)),
    "rcode-other": (0, dns_msg(QT, TXT, rcode=9)),
    "tc-udp": (0, dns_msg(QT, TXT, tc=1)),
    "tc-tcp": (8, dns_msg(QT, TXT, [rr(QT, TXT, txt("v=STSv1; id=g"))], tc=1)),
    "wrong-id": (0, dns_msg(QT, TXT, [rr(QT, TXT, txt("v=STSv1; id=h"))], qid=0x4321)),
    "wrong-name": (0, dns_msg("_mta-sts.example.org", TXT)),
    "wrong-type": (0, dns_msg(QT, MX)),
    "not-response": (0, dns_msg(QT, TXT, qr=0)),
    "no-question": (0, dns_msg(QT, TXT, qdcount=0)),
    "header-only": (0, struct.pack(">HHHHHH", 0x1234, 0x8180, 0, 0, 0, 0)),
    "short": (0, b"\x12\x34\x81"),
    "garbage": (16, b"\x12\x34\x81\x80\x00\x01\x00\x05" + b"\xff" * 20),
    "mx": (1, dns_msg(QM, MX, [rr(QM, MX, struct.pack(">H", 10) + dname("MX1.Example.COM.")),
                               rr(QM, MX, struct.pack(">H", 5) + dname("mx2.example.com")),
                               rr(QM, MX, struct.pack(">H", 20) + dname("mx1.example.com"))])),
    "mx-null": (1, dns_msg(QM, MX, [rr(QM, MX, struct.pack(">H", 0) + dname("."))])),
    "mx-odd": (1, dns_msg(QM, MX, [rr(QM, MX, struct.pack(">H", 1) + dname("a b.ex\\ample")),
                                   rr(QM, MX, struct.pack(">H", 1) + b"\x03a.b\x00"),
                                   rr(QM, MX, struct.pack(">H", 1) + b"\x01\xff\x00")])),
    "mx-many": (1, dns_msg(QM, MX, [rr(QM, MX, struct.pack(">H", i % 3) + dname("mx%d.example.com" % i))
                                    for i in range(20)])),
    "mx-short-rdata": (1, dns_msg(QM, MX, [rr(QM, MX, b"\x00")])),
    "mx-cname": (1, dns_msg(QM, MX, [rr(QM, CNAME, dname("alias.example.net")),
                                     rr("alias.example.net", MX, struct.pack(">H", 1) + dname("mx.example.net"))])),
    "tlsa": (2, dns_msg(QL, TLSA, [rr(QL, TLSA, bytes([3, 1, 1]) + b"\xab" * 32),
                                   rr(QL, TLSA, bytes([2, 0, 2]) + b"\xcd" * 64),
                                   rr(QL, TLSA, bytes([1, 1, 1]) + b"\xef" * 32),
                                   rr(QL, TLSA, bytes([3, 2, 9]) + b"\x00")])),
    "tlsa-short": (2, dns_msg(QL, TLSA, [rr(QL, TLSA, bytes([3, 1]))])),
    "a": (3, dns_msg(QA, A, [rr(QA, A, bytes([192, 0, 2, 1])), rr(QA, A, bytes([192, 0, 2, 2]))])),
    "a-bad-len": (3, dns_msg(QA, A, [rr(QA, A, bytes([192, 0, 2]))])),
    "aaaa": (4, dns_msg(QA, AAAA, [rr(QA, AAAA, bytes(15) + b"\x01")])),
    "aaaa-as-a": (4, dns_msg(QA, AAAA, [rr(QA, A, bytes([192, 0, 2, 1]))])),
    "a-cname": (3, dns_msg(QA, A, [rr(QA, CNAME, dname("web.example.net")),
                                   rr("web.example.net", A, bytes([198, 51, 100, 7]))])),
    "compressed": (1, dns_msg(QM, MX)[:-0] + b""),
}.items():
    seed("dns_answer", name, bytes([sel]) + data)
# a compression pointer loop in an answer name
seed("dns_answer", "ptr-loop", bytes([1]) + struct.pack(">HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0)
     + dname(QM) + struct.pack(">HH", MX, 1) + b"\xc0\x1d" + struct.pack(">HHIH", MX, 1, 1, 4)
     + b"\x00\x01\xc0\x0c")

# redis_reply: byte 0 = command (mod 5: GET, LOCK, POLL, PUT, UNLOCK), byte 1 = split point,
# then RESP replies (the cache values are written by cache_value() below).
def bulk(b):
    if b is None:
        return b"$-1\r\n"
    if isinstance(b, str):
        b = b.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def arr(*items):
    return b"*%d\r\n" % len(items) + b"".join(items)


REDIS_SEEDS = {}

# cache_decode: values in the resolver/cache.c encoding (docs/cache.md).
def cache_value(kind, id_, body, fetched=1700000000, expires=1700086400, check=1700000100,
                retry=0, err=0, blen=None):
    b = body.encode() if isinstance(body, str) else body
    return (b"mtastsd-cache 1\nkind %s\nid %s\nfetched_at %d\nexpires_at %d\nlast_check %d\n"
            b"retry_after %d\nlast_error %d\nbody %d\n" % (
                kind.encode(), id_.encode(), fetched, expires, check, retry, err,
                len(b) if blen is None else blen)) + b


CANON = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n"
for name, data in {
    "policy": cache_value("policy", "abc123", CANON),
    "policy-testing": cache_value("policy", "t1", CANON.replace("enforce", "testing")),
    "policy-none": cache_value("policy", "n1", "version: STSv1\r\nmode: none\r\nmax_age: 1\r\n"),
    "no-policy": cache_value("no-policy", "-", "", err=-1040),
    "tempfail": cache_value("tempfail", "-", "", err=-1063, retry=1700000300),
    "body-short": cache_value("policy", "abc", CANON, blen=len(CANON) + 5),
    "body-long": cache_value("policy", "abc", CANON, blen=len(CANON) - 5),
    "body-huge": cache_value("policy", "abc", CANON, blen=2**64 - 1),
    "time-max": cache_value("policy", "abc", CANON, fetched=2**40, expires=2**63 - 1),
    "time-neg": cache_value("tempfail", "-", "", fetched=-1, expires=-2**63),
    "err-positive": cache_value("tempfail", "-", "", err=5),
    "id-33": cache_value("no-policy", "a" * 33, ""),
    "kind-bad": cache_value("polic", "abc", ""),
    "bad-policy-body": cache_value("policy", "abc", "version: STSv2\r\n"),
    "nopolicy-with-body": cache_value("no-policy", "-", CANON),
    "crlf": cache_value("policy", "abc", CANON).replace(b"\n", b"\r\n"),
    "empty": "",
    "garbage": b"\xff\xfe\x00\x01",
    "future-version": cache_value("policy", "abc", CANON).replace(b"cache 1", b"cache 2"),
}.items():
    seed("cache_decode", name, data)

# sm_proto: request payloads (the netstring already removed).
for r in rows("socketmap.tsv"):
    m = re.match(r"\d+:(?:<pause>)?(.*),$", r["request"])
    if m:
        seed("sm_proto", r["id"], unescape(m.group(1)))
for r in rows("postfix_policy_reply.tsv"):
    m = re.match(r"key=([^;]*)", r["situation"])
    if m:
        seed("sm_proto", r["id"], "postfix " + m.group(1))
for name, data in {
    "no-space": "postfix",
    "empty-key": "postfix ",
    "empty-name": " example.com",
    "two-spaces": "postfix  example.com",
    "key-space": "postfix example.com extra",
    "strict-zone": "strict Example.COM.",
    "unknown-zone": "nosuch example.com",
    "nul-key": b"postfix exa\0mple.com",
    "utf8": "postfix b\u00fccher.example",
    "ctl-chars": b"postfix \x01\x7f\xff\r\n",
    "long-key": "postfix " + "a" * 300,
    "ip6": "postfix [ipv6:2001:db8::1]:25",
}.items():
    seed("sm_proto", name, data)

# pub_request: "<Host>\n<request target>[\n<method>]" (no method line: GET).
for name, data in {
    "policy": "mta-sts.example.com\n/.well-known/mta-sts.txt",
    "port-dot-case": "MTA-STS.Example.COM.:443\n/.well-known/mta-sts.txt?x=1",
    "idn": "mta-sts.xn--bcher-kva.example\n/.well-known/mta-sts.txt",
    "ipv6": "[2001:db8::1]:443\n/",
    "ipv6-bad": "[2001:db8::g]\n/",
    "ipv4": "192.0.2.1:8443\n/%2e%2e/%2E%2e/etc/passwd",
    "no-host": "\n/.well-known/mta-sts.txt",
    "leading-dot": ".mta-sts.example.com\n/",
    "bad-port": "mta-sts.example.com:99999999\n/",
    "empty-port": "mta-sts.example.com:\n/",
    "pct-nul": "mta-sts.example.com\n/.well-known/acme-challenge/tok%00.x",
    "pct-partial": "x\n/%4%41%%%g0%",
    "pct-high": "x\n/%ff%80%c3%a9",
    "long-host": "a" * 260 + "\n/",
    "underscore": "_x.example.com\n/",
    "dots": "..\n/",
    "head": "mta-sts.example.com\n/.well-known/mta-sts.txt\nHEAD",
    "post": "mta-sts.example.com\n/.well-known/mta-sts.txt\nPOST",
    "get-lower": "mta-sts.example.com\n/.well-known/mta-sts.txt\nget",
    "post-unknown-host": "mta-sts.other.example\n/.well-known/mta-sts.txt\nPOST",
    "pct-path": "mta-sts.example.com\n/.well-known/mta-sts%2etxt\nGET",
    "trailing-slash": "mta-sts.example.com\n/.well-known/mta-sts.txt/\nGET",
    "empty-method": "mta-sts.example.com\n/.well-known/mta-sts.txt\n",
    "trailing-ows": "mta-sts.example.com:443 \t\n/.well-known/mta-sts.txt",
    "leading-ows": " mta-sts.example.com\n/.well-known/mta-sts.txt",
    "inner-space": "mta-sts.example.com :443\n/.well-known/mta-sts.txt",
}.items():
    seed("pub_request", name, data)


# admin_request: byte 0 flags (1 unix, 2 token set, 4 token sent, 8 Origin, 16 body too
# large, 32/64 listen 127.0.0.1 [::1] 192.0.2.7 0.0.0.0, 128 HTTP/1.0), byte 1 Host headers,
# then "<Host>\n<path>[\n<method>]" (no method line: GET).
def adm(flags, n_host, text):
    return bytes([flags, n_host]) + text.encode("utf-8")


for name, data in {
    "status": adm(0, 1, "127.0.0.1:8462\n/status"),
    "page": adm(0, 1, "localhost:8462\n/"),
    "metrics": adm(0, 1, "127.0.0.1\n/metrics"),
    "policy": adm(0, 1, "127.0.0.1:8462\n/policies/Example.COM."),
    "policies-empty": adm(0, 1, "127.0.0.1:8462\n/policies/"),
    "rebinding": adm(0, 1, "evil.example:8462\n/status"),
    "rebinding-policies": adm(0, 1, "evil.example\n/policies/example.com"),
    "localhost-dot-case": adm(0, 1, "LOCALHOST.:8462\n/status"),
    "localhost-sub": adm(0, 1, "localhost.evil.example\n/status"),
    "loopback-other": adm(0, 1, "127.255.0.3:1\n/status"),
    "ipv6-loop": adm(32, 1, "[::1]:8462\n/metrics"),
    "ipv6-mapped": adm(0, 1, "[::ffff:127.0.0.1]\n/metrics"),
    "ipv6-bad": adm(0, 1, "[::1\n/status"),
    "ipv6-bare": adm(0, 1, "::1\n/status"),
    "ipv6-scope": adm(0, 1, "[fe80::1%25eth0]:8462\n/status"),
    "listen-addr": adm(64, 1, "192.0.2.7:8462\n/status"),
    "listen-wildcard": adm(96 | 2 | 4, 1, "0.0.0.0:8462\n/status"),
    "allowed-name": adm(64 | 2 | 4, 1, "ADMIN.example.net.:443\n/status"),
    "allowed-v4": adm(0, 1, "192.0.2.9\n/status"),
    "allowed-v6": adm(0, 1, "[2001:DB8::9]:8462\n/status"),
    "allowed-mixed": adm(0, 1, "mixed.case.example\n/status"),
    "no-host-11": adm(0, 0, "\n/status"),
    "no-host-10": adm(128, 0, "\n/status"),
    "two-hosts": adm(0, 2, "127.0.0.1\n/status"),
    "empty-host": adm(0, 1, "\n/status"),
    "port-big": adm(0, 1, "127.0.0.1:65536\n/status"),
    "port-long": adm(0, 1, "127.0.0.1:000080\n/status"),
    "port-empty": adm(0, 1, "localhost:\n/status"),
    "trailing-ows": adm(0, 1, "localhost:8462 \t\n/status"),
    "ipv4-short": adm(0, 1, "127.1\n/status"),
    "ipv4-octal": adm(0, 1, "0177.0.0.1\n/status"),
    "long-host": adm(0, 1, "a" * 300 + "\n/status"),
    "long-localhost": adm(0, 1, "localhost" + "." * 250 + "\n/status"),
    "purge-tcp": adm(0, 1, "127.0.0.1:8462\n/cache/purge\nPOST"),
    "purge-unix": adm(1, 1, "localhost\n/cache/purge\nPOST"),
    "purge-token": adm(2 | 4, 1, "127.0.0.1:8462\n/cache/purge\nPOST"),
    "purge-no-token": adm(2, 1, "127.0.0.1:8462\n/cache/purge\nPOST"),
    "purge-origin": adm(1 | 8, 1, "localhost\n/cache/purge\nPOST"),
    "purge-large": adm(1 | 16, 1, "localhost\n/cache/purge\nPOST"),
    "purge-get": adm(1, 1, "localhost\n/cache/purge"),
    "post-status": adm(0, 1, "localhost\n/status\nPOST"),
    "post-unknown": adm(0, 1, "localhost\n/nope\nPOST"),
    "put": adm(0, 1, "localhost\n/status\nPUT"),
    "head": adm(0, 1, "localhost\n/status\nHEAD"),
    "get-lower": adm(0, 1, "localhost\n/status\nget"),
    "unknown-path": adm(0, 1, "localhost\n/../status"),
}.items():
    seed("admin_request", name, data)


POL = cache_value("policy", "abc123", CANON)
NOPOL = cache_value("no-policy", "-", "", err=-1040, check=1700000000, expires=1700000300)
for name, (cmd, data) in {
    "get-hit": (0, bulk(POL)),
    "get-nil": (0, bulk(None)),
    "get-nopolicy": (0, bulk(NOPOL)),
    "get-corrupt": (0, bulk("mtastsd-cache 9\n")),
    "get-wrongtype": (0, b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    "get-readonly": (0, b"-READONLY You can't write against a read only replica.\r\n"),
    "get-int": (0, b":1\r\n"),
    "get-status": (0, b"+OK\r\n"),
    "get-array": (0, arr(bulk("a"), bulk("b"))),
    "get-future": (0, bulk(cache_value("policy", "f", CANON, fetched=1800000000, expires=1900000000))),
    "get-long-expiry": (0, bulk(cache_value("policy", "l", CANON, expires=2000000000))),
    "lock-got": (1, arr(bulk(POL), b":1\r\n")),
    "lock-busy": (1, arr(bulk(None), b":0\r\n")),
    "lock-wrong": (1, arr(bulk(None), b":1\r\n", b":1\r\n")),
    "lock-short": (1, arr(bulk(None))),
    "lock-int-value": (1, arr(b":5\r\n", b":1\r\n")),
    "lock-str-one": (1, arr(bulk(None), bulk("1"))),
    "poll-present": (2, arr(bulk(None), bulk("token"))),
    "poll-absent": (2, arr(bulk(POL), bulk(None))),
    "poll-nested": (2, arr(arr(arr(bulk("x"))), bulk(None))),
    "put-written": (3, b":1\r\n"),
    "put-older": (3, b":0\r\n"),
    "put-error": (3, b"-ERR script\r\n"),
    "unlock": (4, b":1\r\n"),
    "sentinel": (0, arr(bulk("127.0.0.1"), bulk("6379"))),
    "sentinel-badport": (0, arr(bulk("127.0.0.1"), bulk("+6379"))),
    "sentinel-port-0": (0, arr(bulk("127.0.0.1"), bulk("0"))),
    "sentinel-empty-host": (0, arr(bulk(""), bulk("6379"))),
    "sentinel-nul-host": (0, arr(bulk("10.0.0.1\x00evil"), bulk("6379"))),
    "sentinel-nil": (0, bulk(None)),
    "role-master": (0, arr(bulk("master"), b":0\r\n", arr())),
    "role-replica": (0, arr(bulk("slave"), bulk("127.0.0.1"), b":6379\r\n")),
    "role-masterx": (0, arr(bulk("master\x00x"))),
    "pipeline": (0, bulk(None) + bulk(POL) + b"-ERR x\r\n" + b":3\r\n"),
    "bad-proto": (0, b"!garbage\r\n"),
    "neg-len": (0, b"$-5\r\n"),
    "huge-len": (0, b"$99999999999\r\n"),
    "deep": (2, b"*1\r\n" * 12 + b":1\r\n"),
    "partial": (0, b"$10\r\nabc"),
}.items():
    seed("redis_reply", name, bytes([cmd, 7]) + data)


# pub_redirect: NUL-separated Host value, unescaped path, "key=value" / "key" arguments.
for name, fields in {
    "plain": ["mta-sts.example.com", "/"],
    "path": ["example.com", "/.well-known/acme-challenge/abc"],
    "port": ["example.com:80", "/x"],
    "dot": ["example.com.", "/x"],
    "ipv6": ["[2001:db8::1]:80", "/"],
    "args": ["example.com", "/a", "x=1", "y", "z=a=b", "=v", ""],
    "crlf-path": ["example.com", "/a\r\nSet-Cookie: x=1"],
    "crlf-arg": ["example.com", "/", "a=\r\nLocation: https://evil/"],
    "at-host": ["evil.com@example.com", "/"],
    "slash-host": ["example.com/evil", "/"],
    "double-slash": ["example.com", "//evil.example/x"],
    "backslash": ["example.com", "/\\evil.example"],
    "no-slash": ["example.com", "x"],
    "empty-host": ["", "/"],
    "space-host": [" example.com", "/"],
    "ows-host": ["example.com \t", "/"],
    "utf8": ["example.com", "/\u00e9\u4e2d", "\u00e9=\u00e8"],
    "long-path": ["example.com", "/" + "\u00ff" * 700],
    "long-args": ["example.com", "/"] + ["k%d=%s" % (i, "v" * 40) for i in range(50)],
    "percent": ["example.com", "/%41%00%", "a%=%"],
    "controls": ["example.com", "/" + "".join(chr(i) for i in range(1, 32)) + "\x7f"],
}.items():
    seed("pub_redirect", name, "\x00".join(fields).encode("utf-8"))


# pub_http: the raw bytes a client sends to the publisher (request line, headers, body).
P = b"GET /.well-known/mta-sts.txt HTTP/1.1\r\n"
for name, data in {
    "get": P + b"Host: mta-sts.example.com\r\n\r\n",
    "head": b"HEAD /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n",
    "host-port": P + b"Host: mta-sts.example.com:443\r\n\r\n",
    "host-upper-dot": P + b"HOST: MTA-STS.Example.COM.\r\n\r\n",
    "host-idn": P + b"Host: mta-sts.xn--bcher-kva.example\r\nUser-Agent: x\r\n\r\n",
    "host-ows": P + b"Host: \t mta-sts.example.com \t\r\nAccept: */*\r\n\r\n",
    "two-hosts": P + b"Host: mta-sts.example.com\r\nHost: mta-sts.example.com\r\n\r\n",
    "two-hosts-other": P + b"Host: evil.example\r\nX: y\r\nhost: mta-sts.example.com\r\n\r\n",
    "host-nul-junk": P + b"Host: mta-sts.example.com\x00junk\r\nAccept: */*\r\n\r\n",
    "host-nul-last": P + b"Host: mta-sts.example.com\x00\r\n\r\n",
    "host-nul-last-junk": P + b"Host: mta-sts.example.com\x00x\r\n\r\n",
    "host-nul-lf": P + b"Host: mta-sts.example.com\x00\nX: y\n\n",
    "host-ctl": P + b"Host: mta-sts.exa\x01mple.com\r\n\r\n",
    "host-tab-inside": P + b"Host: mta-sts.example.com\tx\r\n\r\n",
    "host-space-colon": P + b"Host : mta-sts.example.com\r\n\r\n",
    "name-space": P + b"Host: mta-sts.example.com\r\nX Y: z\r\n\r\n",
    "host-folded": P + b"Host: mta-sts.example.com\r\n evil.example\r\n\r\n",
    "host-folded-ows": P + b"Host: mta-sts.example.com\r\n \t\r\n\r\n",
    "http10-no-host": b"GET /.well-known/mta-sts.txt HTTP/1.0\r\n\r\n",
    "http11-no-host": P + b"Accept: */*\r\n\r\n",
    "absolute-form": b"GET http://mta-sts.example.com/.well-known/mta-sts.txt HTTP/1.1\r\n"
                     b"Host: mta-sts.example.com\r\n\r\n",
    "huge-header": P + b"Host: mta-sts.example.com\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n",
    "huge-target": b"GET /" + b"a" * 17000 + b" HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "cr-only": b"GET /.well-known/mta-sts.txt HTTP/1.1\rHost: mta-sts.example.com\r\r",
    "bare-lf": b"GET /.well-known/mta-sts.txt HTTP/1.1\nHost: mta-sts.example.com\n\n",
    "leading-crlf": b"\r\n" + P + b"Host: mta-sts.example.com\r\n\r\n",
    "post": b"POST /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n"
            b"Content-Length: 3\r\n\r\nabc",
    "get-body": P + b"Host: mta-sts.example.com\r\nContent-Length: 3\r\n\r\nabc",
    "get-chunked": P + b"Host: mta-sts.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n0\r\n\r\n",
    "expect": P + b"Host: mta-sts.example.com\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
    "http2": b"GET /.well-known/mta-sts.txt HTTP/2.0\r\nHost: mta-sts.example.com\r\n\r\n",
    "pipelined": P + b"Host: mta-sts.example.com\r\n\r\n" + P + b"Host: a\r\nHost: b\r\n\r\n",
    "redirect-args": b"GET /a%0D%0Ab?x=%0d%0aLocation:%20https://evil/&y HTTP/1.1\r\n"
                     b"Host: example.com\r\n\r\n",
    "redirect-ipv6": b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n",
    "unknown-host": P + b"Host: mta-sts.example.org\r\n\r\n",
    "incomplete": P + b"Host: mta-sts.example.com\r\n",
    "nul-line-ends-head": P + b"Host: mta-sts.example.com\r\n\0x\r\nHost: evil\r\n\r\n",
    "colon-line-ends-head": P + b"Host: mta-sts.example.com\r\n: x\r\nHost: evil\r\n\r\n",
    "nul-in-method": b"GET\0x /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n",
    "colon-line-first": P + b":\nHost: mta-sts.example.com\r\n\r\n",
    "nul-line-first": b"\0\r\n" + P + b"Host: mta-sts.example.com\r\n\r\n",
    "bare-cr-in-host": P + b"Host: mta-sts.example.com\rX: y\r\n\r\n",
}.items():
    seed("pub_http", name, data)


# pf_reply: byte 0 = flags (bit 0 require_sni, bit 1 strict_testing, bits 2-3 mode of a policy
# built in code, bit 7 the rest is an HTTP body); else the rest is the mx list, '\n'-split.
def mx_list(*m):
    return "\n".join(m).encode("latin-1")


PF_ENF = 0x08  # mode enforce (2 << 2)
for name, data in {
    "code-one": bytes([PF_ENF | 1]) + mx_list("mail.example.com"),
    "code-case-dup": bytes([PF_ENF]) + mx_list("MX.Example.COM", "mx.example.com", "*.A.example",
                                               "*.a.EXAMPLE", ".a.example", "a.example"),
    "code-ip": bytes([PF_ENF | 1]) + mx_list("192.0.2.1", "*.192.0.2.1", "[192.0.2.1]",
                                             "2001:db8::1", "mail.example.com"),
    "code-refused": bytes([PF_ENF]) + mx_list("a b.example", "a{b}.example", "x=y", "t\tab",
                                              "c,d", "", "*", "*foo", "ok.example"),
    "code-16": bytes([PF_ENF | 1]) + mx_list(*["mx%d.example.com" % i for i in range(16)]),
    "code-17": bytes([PF_ENF | 1]) + mx_list(*["mx%d.example.com" % i for i in range(17)]),
    "code-16-dup": bytes([PF_ENF]) + mx_list(*["MX%d.example.com" % (i % 5) for i in range(16)]),
    "code-long": bytes([PF_ENF | 1]) + mx_list("*." + ".".join(["a" * 63] * 3) + ".b",
                                               "x" * 300, "\xff\x01high.example"),
    "code-testing-strict": bytes([0x04 | 3]) + mx_list("mail.example.com"),
    "code-testing": bytes([0x04 | 1]) + mx_list("mail.example.com"),
    "parsed-16": b"\x81version: STSv1\nmode: enforce\n" +
    b"".join(b"mx: MX%d.Example.com\n" % i for i in range(16)) + b"max_age: 86400\n",
    "parsed-17": b"\x81version: STSv1\nmode: enforce\n" +
    b"".join(b"mx: *.mx%d.example.com\n" % i for i in range(17)) + b"max_age: 86400\n",
    "parsed-ipmx": b"\x80version: STSv1\r\nmode: enforce\r\nmx: 192.0.2.1\r\n"
                   b"mx: mail.example.com\r\nmx: MAIL.example.com\r\nmax_age: 1\r\n",
}.items():
    seed("pf_reply", name, data)


def main():
    for target, files in sorted(seeds.items()):
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(files.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (target, len(files)), file=sys.stderr)


if __name__ == "__main__":
    main()
