#!/usr/bin/env python3
"""pubload.py - hostile HTTPS clients of the publisher for t_hostile_publisher.sh.

Each mode is bounded in connections and time and prints "key=value" lines. Waits for the
server end as soon as it acted; DEADLINE (PUBLOAD_DEADLINE, default 60 s) bounds the ones
that have no SECONDS argument: a liveness bound for a loaded machine, not a speed check.

  idle PORT N SECONDS      N TCP connections (in batches of 100) that send nothing; report
                           how many connected
                           (idle_connected, printed first) and, after up to SECONDS, how many
                           the server closed (idle_closed) and when the last one closed.
  slowloris PORT HOST SECONDS   TLS (SNI HOST), then a request whose headers come one byte
                           per 200 ms for up to SECONDS: slow_result=closed|open, slow_ms.
  slowmany PORT HOST N SECONDS  N slowloris clients at once (threads), each for up to
                           SECONDS: slowmany_ready (handshakes done, printed first),
                           slowmany_closed (closed by the server), slowmany_last_ms.
  big PORT HOST KIND       KIND url (20 KiB URL), header (20 KiB header), flood (up to 4 MiB of
                           headers): big_status=<HTTP status>|closed, big_sent=<bytes>.
  nosni PORT CAFILE HOST   TLS without SNI: nosni_cert=<SAN names of the certificate served>,
                           nosni_verified=1|0, then GET with Host HOST: nosni_status, nosni_body.
  garbage PORT N SIZE SEED N connections sending SIZE random bytes: garbage_closed,
                           garbage_http (replies that look like HTTP), garbage_ms (slowest close).
  hello PORT HOST SECONDS  a TLS ClientHello, then silence: hello_result=closed|open, hello_ms.
"""
import os
import random
import selectors
import socket
import ssl
import sys
import time


def emit(**kw):
    for k, v in kw.items():
        print("%s=%s" % (k, v))
    sys.stdout.flush()


def wait_close(s, secs):
    """Read until EOF/reset or secs: returns (closed, ms, bytes read)."""
    t0 = time.monotonic()
    end = t0 + secs
    got = b""
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            d = s.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (OSError, ssl.SSLError):
            return True, int((time.monotonic() - t0) * 1000), got
        if not d:
            return True, int((time.monotonic() - t0) * 1000), got
        got += d
    return False, int((time.monotonic() - t0) * 1000), got


def tls(port, host, verify=False, cafile=None):
    ctx = ssl.create_default_context(cafile=cafile) if verify else \
        ssl._create_unverified_context()
    if not verify:
        ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    return ctx.wrap_socket(raw, server_hostname=host)


def mode_idle(a):
    port, n, secs = int(a[0]), int(a[1]), float(a[2])
    sel = selectors.DefaultSelector()
    socks = []
    connected = set()
    closed = {}
    t0 = time.monotonic()
    end = t0 + DEADLINE
    # batches of 100, each connected before the next: the listen backlog never overflows,
    # so "connected" here means a connection the server can accept
    for b in range(0, n, 100):
        for _ in range(min(100, n - b)):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
            sel.register(s, selectors.EVENT_WRITE)
        while len(connected) + len(closed) < len(socks) and time.monotonic() < end:
            for key, ev in sel.select(timeout=0.2):
                s = key.fileobj
                if ev & selectors.EVENT_WRITE:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        connected.add(s)
                        sel.modify(s, selectors.EVENT_READ)
                    else:
                        closed[s] = 0
                        sel.unregister(s)
        time.sleep(0.02)
    emit(idle_connected=len(connected), idle_connect_ms=int((time.monotonic() - t0) * 1000))
    t1 = time.monotonic()
    end = t1 + secs
    last = 0
    while len(closed) < n and time.monotonic() < end:
        for key, ev in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if not d:
                closed[s] = int((time.monotonic() - t1) * 1000)
                last = closed[s]
                sel.unregister(s)
    emit(idle_closed=len(closed), idle_last_close_ms=last)
    for s in socks:
        s.close()


def slowloris(port, host, secs, s=None):
    """Drip a request's headers one byte per 200 ms: returns (result, ms, bytes sent)."""
    if s is None:
        s = tls(port, host)
    req = ("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\nUser-Agent: slowloris\r\n"
           "X-Slow: " % host).encode()
    s.sendall(req[:20])
    t0 = time.monotonic()
    data = req[20:] + b"a" * 100000
    i = 0
    res = "open"
    s.settimeout(0.2)
    while time.monotonic() - t0 < secs:
        try:
            s.sendall(data[i:i + 1])
        except (OSError, ssl.SSLError):
            res = "closed"
            break
        i += 1
        try:
            d = s.recv(4096)
            if not d:
                res = "closed"
                break
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        except (OSError, ssl.SSLError):
            res = "closed"
            break
    s.close()
    return res, int((time.monotonic() - t0) * 1000), 20 + i


def mode_slowloris(a):
    res, ms, sent = slowloris(int(a[0]), a[1], float(a[2]))
    emit(slow_result=res, slow_ms=ms, slow_bytes=sent)


def mode_slowmany(a):
    import threading
    port, host, n, secs = int(a[0]), a[1], int(a[2]), float(a[3])
    socks, results = [], []
    for _ in range(n):
        try:
            socks.append(tls(port, host))
        except (OSError, ssl.SSLError):
            break
    emit(slowmany_ready=len(socks))
    t0 = time.monotonic()

    def run(s):
        results.append(slowloris(port, host, secs, s))

    threads = [threading.Thread(target=run, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(secs + 10)
    closed = [r for r in results if r[0] == "closed"]
    emit(slowmany_closed=len(closed),
         slowmany_last_ms=max([r[1] for r in closed], default=0),
         slowmany_total_ms=int((time.monotonic() - t0) * 1000))


def status_of(buf):
    if buf.startswith(b"HTTP/1."):
        return buf.split(b" ", 2)[1].decode()
    return "closed" if not buf else "garbage"


def mode_big(a):
    port, host, kind = int(a[0]), a[1], a[2]
    s = tls(port, host)
    sent = 0
    if kind == "url":
        req = ("GET /.well-known/mta-sts.txt?%s HTTP/1.1\r\nHost: %s\r\n\r\n"
               % ("a" * 20480, host)).encode()
    elif kind == "header":
        req = ("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n"
               % (host, "b" * 20480)).encode()
    else:
        req = None
    buf = b""
    if req is not None:
        try:
            s.sendall(req)
            sent = len(req)
        except (OSError, ssl.SSLError):
            pass
    else:
        s.sendall(("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n" % host).encode())
        line = b"X-Flood-%08d: " + b"c" * 1000 + b"\r\n"
        s.settimeout(DEADLINE)
        try:
            for i in range(4096):
                s.sendall(line % i)
                sent += len(line)
        except (OSError, ssl.SSLError):
            pass
    closed, ms, buf = wait_close(s, DEADLINE)
    emit(big_status=status_of(buf), big_sent=sent, big_closed=int(closed))
    s.close()


def mode_nosni(a):
    port, cafile, host = int(a[0]), a[1], a[2]
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False   # no SNI: we check the names ourselves
    raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    s = ctx.wrap_socket(raw, server_hostname=None)
    cert = s.getpeercert()
    names = ",".join(v for k, v in cert.get("subjectAltName", ()) if k == "DNS")
    emit(nosni_cert=names, nosni_verified=1)
    s.sendall(("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
               % host).encode())
    closed, ms, buf = wait_close(s, DEADLINE)
    head, _, body = buf.partition(b"\r\n\r\n")
    emit(nosni_status=status_of(buf), nosni_body=body.decode(errors="replace")
         .replace("\r\n", "|"))
    s.close()


def mode_garbage(a):
    port, n, size, seed = int(a[0]), int(a[1]), int(a[2]), int(a[3])
    rnd = random.Random(seed)
    res = []
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        b = bytes(rnd.getrandbits(8) for _ in range(size))
        try:
            s.sendall(b)
        except OSError:
            pass
        socks.append(s)
    for s in socks:
        res.append(wait_close(s, DEADLINE))
        s.close()
    emit(garbage_closed=sum(1 for r in res if r[0]),
         garbage_http=sum(1 for r in res if b"HTTP/" in r[2]),
         garbage_ms=max(r[1] for r in res))


def mode_hello(a):
    port, host, secs = int(a[0]), a[1], float(a[2])
    ctx = ssl._create_unverified_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    s.sendall(hello)
    closed, ms, buf = wait_close(s, secs)
    emit(hello_result="closed" if closed else "open", hello_ms=ms, hello_sent=len(hello),
         hello_server_bytes=len(buf))
    s.close()


DEADLINE = float(os.environ.get("PUBLOAD_DEADLINE", "60"))
MODES = {"idle": mode_idle, "slowloris": mode_slowloris, "slowmany": mode_slowmany,
         "big": mode_big, "nosni": mode_nosni,
         "garbage": mode_garbage, "hello": mode_hello}
if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    MODES[sys.argv[1]](sys.argv[2:])
