#!/usr/bin/env python3
# tests/system/hostile/dnsupd_primary.py - a DNS "primary" over TCP that misbehaves on cue,
# for t_dnsupdate_hostile.sh (loopback only).
#
# usage: dnsupd_primary.py PORT MODE
#   silent     read the message, never answer (the client's timeout must end it)
#   short      answer with a 2-byte length of 3 (shorter than a DNS header)
#   truncated  announce 65535 bytes, send 10, close
#   wrongid    answer NOERROR with another message id
#   unsigned   answer queries NOERROR with no answer (so the client updates), and the
#              UPDATE with NOERROR but no TSIG (must not be trusted)
# Counts the messages it read in PORT.count (one line per message: the opcode).
import socket
import struct
import sys
import threading

port, mode = int(sys.argv[1]), sys.argv[2]
count_file = "%s.count" % sys.argv[3] if len(sys.argv) > 3 else None


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            return None
        b += chunk
    return b


def question_end(msg):
    i = 12
    while i < len(msg) and msg[i] != 0:
        i += 1 + msg[i]
    return i + 1 + 4


def reply(msg, rcode, qid=None):
    (mid, flags) = struct.unpack("!HH", msg[:4])
    if qid is not None:
        mid = qid
    opcode = (flags >> 11) & 0xF
    flags = 0x8000 | (opcode << 11) | 0x0400 | rcode
    q = msg[12:question_end(msg)]
    return struct.pack("!HHHHHH", mid, flags, 1, 0, 0, 0) + q


def serve(c):
    with c:
        while True:
            hdr = recv_exact(c, 2)
            if hdr is None:
                return
            (n,) = struct.unpack("!H", hdr)
            msg = recv_exact(c, n)
            if msg is None:
                return
            opcode = (struct.unpack("!H", msg[2:4])[0] >> 11) & 0xF
            if count_file:
                with open(count_file, "a") as f:
                    f.write("%d\n" % opcode)
            if mode == "silent":
                while c.recv(4096):
                    pass
                return
            if mode == "short":
                c.sendall(struct.pack("!H", 3) + b"abc")
                return
            if mode == "truncated":
                c.sendall(struct.pack("!H", 65535) + b"x" * 10)
                return
            if mode == "wrongid":
                r = reply(msg, 0, qid=(struct.unpack("!H", msg[:2])[0] + 1) & 0xFFFF)
            else:
                r = reply(msg, 0)
            c.sendall(struct.pack("!H", len(r)) + r)


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
