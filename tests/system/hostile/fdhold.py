#!/usr/bin/env python3
"""fdhold.py - one address holding many TCP connections, for t_fd_budget.sh.

  fdhold.py SRC N SECONDS HOST:PORT...

Opens N non-blocking TCP connections from address SRC (bound, any port), spread in turn
over the HOST:PORT targets, and holds every one the server keeps: nothing is sent. Every
0.5 s it prints one line

  state open=<connected, not closed> closed=<closed by the server> failed=<refused/reset>
        pending=<connect not finished> per=<open per target, comma-separated>

and stops after SECONDS or when a line "quit" comes on stdin, then prints "done". Bounded:
N sockets, SECONDS of time. The caller raises this process's RLIMIT_NOFILE (N + 64).
"""
import os
import selectors
import socket
import sys
import time


def main():
    src, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    targets = []
    for t in sys.argv[4:]:
        host, port = t.rsplit(":", 1)
        targets.append((host, int(port)))
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    state = {}  # socket -> [target index, "pending"|"open"]
    closed = failed = 0
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        idx = i % len(targets)
        e = s.connect_ex(targets[idx])
        if e not in (0, 115):  # EINPROGRESS
            failed += 1
            s.close()
            continue
        state[s] = [idx, "pending"]
        sel.register(s, selectors.EVENT_WRITE, None)
    end = time.monotonic() + secs
    next_print = 0.0
    quit_ = False
    while not quit_ and time.monotonic() < end:
        for key, ev in sel.select(timeout=0.2):
            if key.fileobj is sys.stdin:
                line = sys.stdin.readline()
                if line == "" or line.strip() == "quit":
                    quit_ = True
                continue
            s = key.fileobj
            st = state[s]
            if st[1] == "pending":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != 0:
                    failed += 1
                    sel.unregister(s)
                    del state[s]
                    s.close()
                    continue
                st[1] = "open"
                sel.modify(s, selectors.EVENT_READ, None)
                continue
            try:
                data = s.recv(64)
            except OSError:
                data = b""
            if data == b"":
                closed += 1
                sel.unregister(s)
                del state[s]
                s.close()
        now = time.monotonic()
        if now >= next_print:
            next_print = now + 0.5
            per = [0] * len(targets)
            n_open = n_pending = 0
            for idx, st in state.values():
                if st == "open":
                    n_open += 1
                    per[idx] += 1
                else:
                    n_pending += 1
            print("state open=%d closed=%d failed=%d pending=%d per=%s"
                  % (n_open, closed, failed, n_pending, ",".join(map(str, per))))
            sys.stdout.flush()
    for s in list(state):
        s.close()
    print("done")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
