#!/usr/bin/env python3
"""smraw.py - raw socketmap client for the system tests (tests/vectors/socketmap.tsv format).

Usage: smraw.py [--host H] [--timeout S] [--expect N] [--grace S] PORT REQUEST

REQUEST is written as in tests/vectors/socketmap.tsv: backslash escapes (\\\\ \\t \\r \\n \\0
\\xHH) and the pseudo-tokens <pause> (flush, wait 200 ms, continue) and <eof> (half-close
the write side, keep reading). The client opens one fresh TCP connection, writes the byte
stream, then reads netstring replies for up to --timeout seconds (default 5, the documented
time; the system tests pass their liveness bound, LIVE_S) after the last byte, or until the
server closes. With --expect N it stops reading --grace seconds (default 0.5) after the N-th
reply, to keep the tests fast; extra replies or a close within that grace period are still
seen.

Output, one line each, in order:
  REPLY <payload>   one complete netstring reply (payload escaped like the vectors)
  GARBAGE <bytes>   bytes that are not a well-formed netstring (then reading stops)
  CLOSED            the server closed the connection (EOF or reset)
  OPEN              the connection was still open when reading stopped
Exit status 0, or 2 when the connection could not be made.
"""
import argparse
import socket
import sys
import time


def decode(req):
    """Split an escaped request into a list of bytes segments and 'pause'/'eof' tokens."""
    out = []
    buf = bytearray()
    i = 0
    while i < len(req):
        if req.startswith("<pause>", i):
            out.append(bytes(buf))
            buf = bytearray()
            out.append("pause")
            i += len("<pause>")
            continue
        if req.startswith("<eof>", i):
            out.append(bytes(buf))
            buf = bytearray()
            out.append("eof")
            i += len("<eof>")
            continue
        c = req[i]
        if c == "\\" and i + 1 < len(req):
            n = req[i + 1]
            if n == "\\":
                buf.append(0x5C)
                i += 2
            elif n == "t":
                buf.append(9)
                i += 2
            elif n == "r":
                buf.append(13)
                i += 2
            elif n == "n":
                buf.append(10)
                i += 2
            elif n == "0":
                buf.append(0)
                i += 2
            elif n == "x":
                buf.append(int(req[i + 2:i + 4], 16))
                i += 4
            else:
                raise ValueError("bad escape \\%s in request" % n)
            continue
        buf += c.encode("utf-8")
        i += 1
    out.append(bytes(buf))
    return out


def escape(b):
    s = []
    for ch in b:
        if ch == 0x5C:
            s.append("\\\\")
        elif ch == 9:
            s.append("\\t")
        elif ch == 13:
            s.append("\\r")
        elif ch == 10:
            s.append("\\n")
        elif ch == 0:
            s.append("\\0")
        elif 0x20 <= ch < 0x7F:
            s.append(chr(ch))
        else:
            s.append("\\x%02x" % ch)
    return "".join(s)


def parse(buf):
    """Parse complete netstrings from buf: returns (payloads, rest, error)."""
    replies = []
    while buf:
        colon = buf.find(b":")
        if colon < 0:
            if len(buf) > 6 or not buf.isdigit():
                return replies, buf, True
            return replies, buf, False
        head = buf[:colon]
        if not head.isdigit() or len(head) > 6:
            return replies, buf, True
        n = int(head)
        if len(buf) < colon + 1 + n + 1:
            return replies, buf, False
        if buf[colon + 1 + n:colon + 2 + n] != b",":
            return replies, buf, True
        replies.append(buf[colon + 1:colon + 1 + n])
        buf = buf[colon + 2 + n:]
    return replies, buf, False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--expect", type=int, default=-1)
    ap.add_argument("--grace", type=float, default=0.5)
    ap.add_argument("port", type=int)
    ap.add_argument("request")
    a = ap.parse_args()

    parts = decode(a.request)
    try:
        s = socket.create_connection((a.host, a.port), timeout=max(a.timeout, 5))
    except OSError as e:
        print("ERROR connect: %s" % e)
        return 2
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    closed = False
    try:
        for p in parts:
            if p == "pause":
                time.sleep(0.2)
            elif p == "eof":
                s.shutdown(socket.SHUT_WR)
            elif p:
                s.sendall(p)
    except OSError:
        closed = True  # the server closed early (e.g. an over-long length): still read

    deadline = time.monotonic() + a.timeout
    buf = b""
    got = 0
    lines = []
    while not closed:
        now = time.monotonic()
        if now >= deadline:
            break
        s.settimeout(deadline - now)
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not d:
            closed = True
            break
        buf += d
        replies, buf, bad = parse(buf)
        for r in replies:
            lines.append("REPLY " + escape(r))
            got += 1
            if got == a.expect:
                deadline = min(deadline, time.monotonic() + a.grace)
        if bad:
            lines.append("GARBAGE " + escape(buf))
            buf = b""
            break
    if buf:
        lines.append("GARBAGE " + escape(buf))
    lines.append("CLOSED" if closed else "OPEN")
    s.close()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
