#!/usr/bin/env python3
# tests/system/tlsrpt_post.py - POST TLS reports to the publisher's receiver (loopback)
#
# Usage: tlsrpt_post.py PORT CAFILE HOST MODE [ARGS]
#   post FILE TYPE [chunked]  one POST of FILE with Content-Type TYPE; prints the status
#   flood FILE N              up to N POSTs (a new connection each), stops at the first
#                             429; prints "<posts> <first 429 at> <statuses seen>"
#   hold N FILE               N uploads left in progress (headers and one body byte),
#                             then one POST of FILE; prints its status
#   slowloris N FILE LIVE     N uploads left in progress (headers, one body byte), odd ones
#                             sending a byte a second after that, even ones silent; then
#                             a POST of FILE (from 127.0.1.k) every half second while it
#                             gets 503, at most LIVE seconds; then waits (at most LIVE s)
#                             for the server to close one of the held uploads; prints
#                             "<status> <tries> <held uploads closed by the server>"
#   big LENGTH [chunked]      a body of LENGTH zero bytes from a bounded generator, with
#                             Content-Length LENGTH (or chunked); prints the status, or
#                             "closed" when the server closed the connection, and the
#                             bytes sent
# Connects to 127.0.0.1:PORT with SNI and Host HOST (Host: $HOST_HEADER when set),
# trusting CAFILE only.
import os
import socket
import ssl
import sys
import time

port, cafile, host, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)


def connect(src=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=60,
                                 source_address=(src, 0) if src else None)
    return ctx.wrap_socket(s, server_hostname=host)


def status_of(sock):
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    return parts[1] if len(parts) > 1 else "closed"


def post(body, ctype, chunked=False, src=None):
    sock = connect(src)
    hdr = "POST /.well-known/tlsrpt HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n" % (
        os.environ.get("HOST_HEADER", host), ctype)
    if chunked:
        hdr += "Transfer-Encoding: chunked\r\n\r\n"
        payload = b""
        for i in range(0, len(body), 1000):
            piece = body[i:i + 1000]
            payload += b"%x\r\n" % len(piece) + piece + b"\r\n"
        payload += b"0\r\n\r\n"
    else:
        hdr += "Content-Length: %d\r\n\r\n" % len(body)
        payload = body
    sock.sendall(hdr.encode() + payload)
    st = status_of(sock)
    sock.close()
    return st



def open_uploads(n):
    """n uploads of a 1000-byte report, each with its headers and the first body byte sent
    (that byte in a write of its own, once every header is sent): the sockets, held open."""
    held = []
    for _ in range(n):
        s = connect()
        s.sendall(("POST /.well-known/tlsrpt HTTP/1.1\r\nHost: %s\r\n"
                   "Content-Type: application/tlsrpt+json\r\nContent-Length: 1000\r\n\r\n"
                   % host).encode())
        held.append(s)
    for s in held:
        s.sendall(b"{")
    return held

if mode == "post":
    path, ctype = sys.argv[5], sys.argv[6]
    chunked = len(sys.argv) > 7 and sys.argv[7] == "chunked"
    print(post(open(path, "rb").read(), ctype, chunked))
elif mode == "flood":
    body = open(sys.argv[5], "rb").read()
    n = int(sys.argv[6])
    seen, first = {}, 0
    for i in range(1, n + 1):
        st = post(body, "application/tlsrpt+json")
        seen[st] = seen.get(st, 0) + 1
        if st == "429":
            first = i
            break
    print(i, first, ",".join("%s:%d" % kv for kv in sorted(seen.items())))
elif mode == "hold":
    n, body = int(sys.argv[5]), open(sys.argv[6], "rb").read()
    held = open_uploads(n)
    # the held uploads count once the server's threads have read their headers (their own
    # TLS handshakes first): until then a POST may still get through; retry, at most 50
    # times, until the 503. Each try from an address of its own (127.0.1.k): a try that got
    # through must not spend the test address's tlsrpt.rate_per_address, or a slow machine
    # (more tries) would turn the later checks into 429s.
    time.sleep(1)
    st = post(body, "application/tlsrpt+json", src="127.0.1.1")
    for k in range(2, 52):
        if st == "503":
            break
        time.sleep(0.5)
        st = post(body, "application/tlsrpt+json", src="127.0.1.%d" % k)
    print(st)
    for s in held:
        s.close()
elif mode == "slowloris":
    n, body, live = int(sys.argv[5]), open(sys.argv[6], "rb").read(), float(sys.argv[7])
    held = open_uploads(n)
    closed = set()

    def trickle():
        # a byte a second from the odd ones; a send that fails means closed
        for i, s in enumerate(held):
            if i % 2 == 1 and i not in closed:
                try:
                    s.sendall(b" ")
                except OSError:
                    closed.add(i)

    def poll_closed(wait):
        # EOF (or an error) on a held upload: the server closed it
        for i, s in enumerate(held):
            if i in closed:
                continue
            s.settimeout(wait)
            try:
                if s.recv(4096) == b"":
                    closed.add(i)
            except socket.timeout:
                pass
            except OSError:
                closed.add(i)

    start, tries, st = time.time(), 0, "503"
    while st == "503" and time.time() - start < live:
        trickle()
        time.sleep(0.5)
        tries += 1
        st = post(body, "application/tlsrpt+json", src="127.0.1.%d" % (tries % 250 + 1))
    start = time.time()
    while not closed and time.time() - start < live:
        trickle()
        poll_closed(0.5)
    print(st, tries, len(closed))
    for s in held:
        s.close()
elif mode == "big":
    length = int(sys.argv[5])
    chunked = len(sys.argv) > 6 and sys.argv[6] == "chunked"
    sock = connect()
    hdr = "POST /.well-known/tlsrpt HTTP/1.1\r\nHost: %s\r\n" \
          "Content-Type: application/tlsrpt+gzip\r\n" % host
    hdr += "Transfer-Encoding: chunked\r\n\r\n" if chunked else \
        "Content-Length: %d\r\n\r\n" % length
    sock.sendall(hdr.encode())
    block = b"\0" * 65536
    sent = 0
    st = None
    try:
        if not chunked:
            # the answer may come before any body byte (413 on the headers)
            sock.settimeout(60)
            try:
                st = status_of(sock)
            except socket.timeout:
                st = None
            sock.settimeout(60)
        while st is None and sent < length:
            n = min(len(block), length - sent)
            sock.sendall((b"%x\r\n" % n + block[:n] + b"\r\n") if chunked else block[:n])
            sent += n
        if st is None:
            st = status_of(sock)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
        st = "closed"
    print(st, sent)
