#!/usr/bin/env python3
"""smtp_hostile.py - SMTP servers that misbehave on cue, for the MX check (t_mx_check.sh).

Usage: smtp_hostile.py PORT ADDRESS=MODE...

Listens on ADDRESS:PORT for each ADDRESS=MODE (loopback addresses only) and serves every
connection to that address in MODE:
  endless     a banner "220-..." that never ends (continuation lines until the client
              goes away, at most 4 MiB)
  silent      accepts and never says anything
  hugeline    "220 " followed by 1 MiB without a line end
  tlsgarbage  a correct banner and EHLO reply offering STARTTLS, "220 go ahead" to
              STARTTLS, then 64 KiB of bytes that are not TLS
  injection   "220 go ahead" to STARTTLS with another reply in the same packet (RFC 3207
              section 5, CVE-2011-0411)
Each connection is held at most HOLD_S seconds. Writes "ready" on stdout once every
address listens. SIGTERM ends it.
"""
import os
import random
import signal
import socket
import sys
import threading
import time

HOLD_S = 120
PORT = int(sys.argv[1])
MODES = dict(a.split("=", 1) for a in sys.argv[2:])


def read_line(conn, deadline):
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < 4096 and time.time() < deadline:
        b = conn.recv(1)
        if not b:
            return None
        buf += b
    return buf


def smtp_until_starttls(conn, deadline):
    """Banner, EHLO reply with STARTTLS; True when the client then asked for STARTTLS."""
    conn.sendall(b"220 hostile.test ESMTP\r\n")
    line = read_line(conn, deadline)
    if line is None or not line.upper().startswith(b"EHLO"):
        return False
    conn.sendall(b"250-hostile.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
    line = read_line(conn, deadline)
    return line is not None and line.upper().startswith(b"STARTTLS")


def serve(conn, mode):
    deadline = time.time() + HOLD_S
    conn.settimeout(HOLD_S)
    try:
        if mode == "endless":
            sent = 0
            while sent < 4 * 1024 * 1024 and time.time() < deadline:
                conn.sendall(b"220-still greeting you, please wait\r\n")
                sent += 38
        elif mode == "silent":
            while time.time() < deadline and conn.recv(4096):
                pass
        elif mode == "hugeline":
            conn.sendall(b"220 " + b"a" * (1024 * 1024))
            while time.time() < deadline and conn.recv(4096):
                pass
        elif mode == "tlsgarbage":
            if smtp_until_starttls(conn, deadline):
                conn.sendall(b"220 2.0.0 go ahead\r\n")
                conn.recv(4096)  # the ClientHello
                # the same garbage every run (a record of unknown content type 0xff,
                # then seeded noise): GnuTLS's error does not vary with random bytes
                conn.sendall(b"\xff" + random.Random(8461).randbytes(64 * 1024 - 1))
                while time.time() < deadline and conn.recv(4096):
                    pass
        elif mode == "injection":
            if smtp_until_starttls(conn, deadline):
                conn.sendall(b"220 2.0.0 go ahead\r\n250 2.0.0 injected\r\n")
                while time.time() < deadline and conn.recv(4096):
                    pass
    except OSError:
        pass
    finally:
        conn.close()


def listen(addr, mode, ready):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, PORT))
    s.listen(16)
    ready.release()
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    ready = threading.Semaphore(0)
    for addr, mode in MODES.items():
        if not addr.startswith("127."):
            sys.exit("loopback addresses only: " + addr)
        threading.Thread(target=listen, args=(addr, mode, ready), daemon=True).start()
    for _ in MODES:
        ready.acquire()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
