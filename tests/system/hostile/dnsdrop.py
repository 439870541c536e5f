#!/usr/bin/env python3
"""dnsdrop.py - a UDP DNS proxy for the resolver lab that never answers one zone.

Usage: dnsdrop.py LISTEN_PORT UPSTREAM_PORT SUFFIX COUNT_FILE

Listens on 127.0.0.1:LISTEN_PORT (UDP; the resolver's dns_servers) and forwards every query
to 127.0.0.1:UPSTREAM_PORT (ldns-testns), except those whose question name ends in SUFFIX
(case-insensitive, e.g. ".flood.test"): these are dropped, as by a zone whose nameservers
never answer. Answers go back to the query's sender by DNS ID (at most PENDING_MAX queries
remembered; the oldest are forgotten). COUNT_FILE holds "dropped=<n> forwarded=<n>",
rewritten at most once a second. Loopback only; SIGTERM ends it. (Adapted from the
tester's /tmp/trial/dnsproxy.py, issue 16.)
"""
import os
import select
import signal
import socket
import sys
import time

LISTEN, UPSTREAM, SUFFIX, COUNT = int(sys.argv[1]), int(sys.argv[2]), \
    sys.argv[3].lower().encode(), sys.argv[4]
PENDING_MAX = 65536


def qname(p):
    """The question name of DNS message p, lower-case, labels joined by dots."""
    i, labels = 12, []
    while i < len(p) and p[i] and len(labels) < 128:
        n = p[i]
        if n & 0xC0:
            break
        labels.append(p[i + 1:i + 1 + n])
        i += 1 + n
    return b".".join(labels).lower()


def note(dropped, forwarded):
    with open(COUNT + ".tmp", "w") as f:
        f.write("dropped=%d forwarded=%d\n" % (dropped, forwarded))
    os.replace(COUNT + ".tmp", COUNT)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", LISTEN))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect(("127.0.0.1", UPSTREAM))
    pend = {}
    dropped = forwarded = 0
    last = 0.0
    note(0, 0)
    while True:
        r, _, _ = select.select([s, u], [], [], 1)
        if s in r:
            p, a = s.recvfrom(65535)
            if len(p) >= 12:
                if qname(p).endswith(SUFFIX):
                    dropped += 1
                else:
                    if len(pend) >= PENDING_MAX:
                        pend.pop(next(iter(pend)))
                    pend[p[:2]] = a
                    try:
                        u.send(p)
                        forwarded += 1
                    except OSError:
                        pass
        if u in r:
            try:
                p = u.recv(65535)
            except OSError:
                p = b""
            a = pend.pop(p[:2], None)
            if a is not None:
                s.sendto(p, a)
        if time.time() - last >= 1:
            note(dropped, forwarded)
            last = time.time()


main()
