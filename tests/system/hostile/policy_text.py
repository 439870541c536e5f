#!/usr/bin/env python3
"""policy_text.py - a hostile policy host: HTTPS answers whose text is meant for the admin.

Usage: policy_text.py PORT CERT KEY

Listens on 127.0.0.1:PORT (the resolver's connect_to) with TLS (CERT, KEY: the test CA's
certificate for the names below) and answers each request after its header block by its
Host header, then closes:
  mta-sts.ctype.test   200, a Content-Type with ESC, a lone CR, DEL, bytes >= 0x80 and HTML
                       (<script>), the body a valid enforce policy
  mta-sts.split.test   200, a Content-Type "text/html" followed by CR LF and a line of ESC
                       and HTML without a colon (a header injected by CR LF)
  mta-sts.status.test  503 with a reason phrase of ESC, HTML and bytes >= 0x80
  mta-sts.flood.test   200, then 4000 header lines of 100 bytes (400 KB, over libcurl's
                       300 KiB of response headers)
  mta-sts.endless.test 200, then one header line of 200 KB that never ends (over libcurl's
                       100 KiB per line, which libcurl 7.88 reports as "Out of memory")
  mta-sts.biglen.test  200 with Content-Length: 99999999999999999999
anything else          404. Loopback only; SIGTERM ends it.
"""
import signal
import socket
import ssl
import sys
import threading

PORT, CERT, KEY = int(sys.argv[1]), sys.argv[2], sys.argv[3]
HEAD_MAX = 16384
BODY = b"version: STSv1\r\nmode: enforce\r\nmx: mail.x.test\r\nmax_age: 604800\r\n"
EVIL = b"\x1b[31m<script>alert(1)</script>\x1b]0;owned\x07\rX\x7f\xc3\xa9\xff"


def answer(host):
    if host == b"mta-sts.ctype.test":
        return (b"HTTP/1.1 200 OK\r\nContent-Type: " + EVIL + b"\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(BODY)) + BODY
    if host == b"mta-sts.split.test":
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" + EVIL + b"\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY)) + BODY
    if host == b"mta-sts.flood.test":
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" +
                (b"X-Flood: " + b"f" * 89 + b"\r\n") * 4000)
    if host == b"mta-sts.endless.test":
        return b"HTTP/1.1 200 OK\r\nX-Endless: " + b"e" * 200000
    if host == b"mta-sts.biglen.test":
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n") + BODY
    if host == b"mta-sts.status.test":
        return (b"HTTP/1.1 503 " + EVIL + b"\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n")
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def serve(ctx, raw):
    conn = raw
    try:
        raw.settimeout(30)
        conn = ctx.wrap_socket(raw, server_side=True)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < HEAD_MAX:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        host = b""
        for line in head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"host:"):
                host = line[5:].strip().split(b":")[0].lower()
        conn.sendall(answer(host))
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", PORT))
    srv.listen(64)
    while True:
        raw, _ = srv.accept()
        threading.Thread(target=serve, args=(ctx, raw), daemon=True).start()


if __name__ == "__main__":
    main()
