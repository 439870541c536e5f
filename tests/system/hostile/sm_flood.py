#!/usr/bin/env python3
"""sm_flood.py - a socketmap flood of distinct names (t_resolver_tarpit.sh,
t_resolver_dane_flood.sh).

  sm_flood.py PORT PATTERN N CONNS ROUNDS STOPFILE

CONNS connections ask, over ROUNDS rounds, the names PATTERN.format(r=ROUND, i=INDEX) for
INDEX 0..N-1 (each connection every CONNS-th index; one request in flight per connection),
in the socketmap's "postfix" map. A PATTERN with {r} asks new names every round. Bounded in
count (N x ROUNDS) and in time: every connection stops before its next request once
STOPFILE exists. At the end it prints one line

  lookups=L notfound=F temp=T ok=K other=O rounds=R

(R: the most rounds a connection completed) and, before it, "unexpected: NAME PAYLOAD" for each
reply that is neither NOTFOUND nor TEMP. The shell test decides which counts are right.
"""
import os
import socket
import sys
import threading

port, pattern, n, conns, rounds, stop = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                         int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
res = {"lookups": 0, "notfound": 0, "temp": 0, "ok": 0, "other": 0}
done_rounds = [0] * conns
lock = threading.Lock()


def ask(s, buf, name):
    req = ("postfix " + name).encode()
    s.sendall(str(len(req)).encode() + b":" + req + b",")
    while True:
        c = buf.find(b":")
        if c > 0 and len(buf) >= c + 2 + int(buf[:c]):
            ln = int(buf[:c])
            return buf[c + 1:c + 1 + ln], buf[c + 2 + ln:]
        d = s.recv(4096)
        if not d:
            raise OSError("closed")
        buf += d


def kind_of(payload):
    if payload == b"NOTFOUND ":
        return "notfound"
    if payload.startswith(b"TEMP"):
        return "temp"
    if payload.startswith(b"OK"):
        return "ok"
    return "other"


def worker(k):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    buf = b""
    try:
        for r in range(rounds):
            for i in range(k, n, conns):
                if os.path.exists(stop):
                    return
                name = pattern.format(r=r, i=i)
                payload, buf = ask(s, buf, name)
                kind = kind_of(payload)
                with lock:
                    res["lookups"] += 1
                    res[kind] += 1
                    if kind not in ("notfound", "temp"):
                        print("unexpected: %s %r" % (name, payload), flush=True)
            done_rounds[k] = r + 1
    finally:
        s.close()


ts = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("lookups=%d notfound=%d temp=%d ok=%d other=%d rounds=%d" % (
    res["lookups"], res["notfound"], res["temp"], res["ok"], res["other"], max(done_rounds)),
    flush=True)
