#!/usr/bin/env python3
"""smload.py - hostile socketmap clients for t_hostile_socketmap.sh and t_fd_exhaustion.sh.

Every mode is bounded in connections and in time (SMLOAD_DEADLINE seconds, default 60: a
liveness bound for a loaded machine, never a speed check; every wait ends as soon as what
it waits for happened) and prints its results as "key=value" lines on stdout for the shell
test to check.

  burst PORT N REQ EXPECT [--extra]
      N connections at once (non-blocking connects), one request REQ on each; all must be
      answered EXPECT while all N stay open. --extra: then one more connection sends REQ: at
      max_connections the daemon accepts it and closes the held connection idle the longest
      for it (resolver/sm_server.c); prints its answer and how many held ones were closed.
  slow PORT N REQ EXPECT DELAY
      N clients in parallel write REQ one byte every DELAY seconds, then read the reply.
      Prints slow_started=N once every client has sent its first byte, and
      slow_first_written=1 once the first client has sent its whole request (so the shell
      test can tell that something happened while all of them were still mid-request).
  garbage PORT N SIZE SEED
      N connections each send SIZE random bytes (the first never a digit): the server must
      close each one without sending any byte.
  disconnect PORT N REQ MODE
      N connections that go away: MODE mid-request (half a request, then close), rst (half a
      request, then RST), unread (REQ pipelined 200 times, close without reading),
      unread-rst (same with RST), pending (REQ, then close after 100 ms, while the lookup
      may still run).
  pipeline PORT N REQ1 EXPECT1 [REQ2 EXPECT2 ...]
      one connection, N requests cycling over the REQs in ONE write; all N replies must
      come back in order.
  hold PORT N REQ EXPECT
      fd exhaustion: open up to N connections and send REQ on each; once the replies have
      stopped coming (none for HOLD_QUIET_S after the last one, at least one reply), and the
      closes by the daemon too, report how many were answered (accepted), how many wait,
      how many were closed and how many are open; then act on lines read from
      stdin: "again [REQ [ALLOWED...]]" ('_' for spaces) = send a request again on each
      answered connection, count replies in ALLOWED (default EXPECT; a trailing '*'
      matches any rest);
      "close" = close the answered connections and report how long until every waiting
      one is answered; "quit" = close all and exit.
"""
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time


def ns(payload):
    b = payload.encode() if isinstance(payload, str) else payload
    return str(len(b)).encode() + b":" + b + b","


def parse(buf):
    """Complete netstrings in buf: (list of payload bytes, rest, bad)."""
    out = []
    while buf:
        c = buf.find(b":")
        if c < 0:
            return out, buf, not buf.isdigit() or len(buf) > 7
        head = buf[:c]
        if not head.isdigit():
            return out, buf, True
        n = int(head)
        if len(buf) < c + n + 2:
            return out, buf, False
        if buf[c + 1 + n:c + 2 + n] != b",":
            return out, buf, True
        out.append(buf[c + 1:c + 1 + n])
        buf = buf[c + 2 + n:]
    return out, buf, False


def emit(**kw):
    for k, v in kw.items():
        print("%s=%s" % (k, v))
    sys.stdout.flush()


class Conn:
    __slots__ = ("s", "out", "buf", "replies", "closed", "connected", "t_sent")

    def __init__(self, s, out):
        self.s = s
        self.out = out
        self.buf = b""
        self.replies = []
        self.closed = False
        self.connected = False
        self.t_sent = 0.0


def open_nb(port, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect_ex((host, port))
    return s


def pump(sel, conns, until, deadline):
    """Run the selector until until() is true or the deadline passes."""
    while not until():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        for key, ev in sel.select(timeout=min(left, 0.2)):
            c = key.data
            if ev & selectors.EVENT_WRITE:
                if not c.connected:
                    err = c.s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        c.closed = True
                        sel.unregister(c.s)
                        continue
                    c.connected = True
                if c.out:
                    try:
                        n = c.s.send(c.out)
                        c.out = c.out[n:]
                    except BlockingIOError:
                        pass
                    except OSError:
                        c.closed = True
                        sel.unregister(c.s)
                        continue
                if not c.out:
                    c.t_sent = time.monotonic()
                    sel.modify(c.s, selectors.EVENT_READ, c)
            elif ev & selectors.EVENT_READ:
                try:
                    d = c.s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if not d:
                    c.closed = True
                    sel.unregister(c.s)
                    continue
                c.buf += d
                r, c.buf, bad = parse(c.buf)
                c.replies.extend(r)
                if bad:
                    c.replies.append(b"<garbage>")
    return True


def mode_burst(a):
    port, n, req, expect = int(a[0]), int(a[1]), a[2], a[3].encode()
    extra = "--extra" in a
    deadline = time.monotonic() + DEADLINE
    sel = selectors.DefaultSelector()
    conns = []
    t0 = time.monotonic()
    for _ in range(n):
        s = open_nb(port)
        c = Conn(s, ns(req))
        conns.append(c)
        sel.register(s, selectors.EVENT_WRITE, c)
    pump(sel, conns, lambda: all(c.replies or c.closed for c in conns), deadline)
    ok = sum(1 for c in conns if c.replies == [expect])
    wrong = [c.replies for c in conns if c.replies and c.replies != [expect]]
    emit(burst_conns=n, burst_answered_ok=ok, burst_wrong=len(wrong),
         burst_closed=sum(1 for c in conns if c.closed),
         burst_first_wrong=(repr(wrong[0]) if wrong else "-"),
         burst_ms=int((time.monotonic() - t0) * 1000))
    if extra:
        s = open_nb(port)
        x = Conn(s, ns(req))
        sel.register(s, selectors.EVENT_WRITE, x)
        t1 = time.monotonic()
        pump(sel, [x], lambda: bool(x.replies) or x.closed, time.monotonic() + DEADLINE)
        # the held connection closed for it: its FIN may come after the extra's reply
        pump(sel, conns, lambda: any(c.closed for c in conns), time.monotonic() + DEADLINE)
        emit(extra_answer=("ok" if x.replies == [expect] else
                           repr(x.replies) if x.replies else
                           "closed" if x.closed else "none"),
             extra_evicted=sum(1 for c in conns if c.closed),
             extra_ms=int((time.monotonic() - t1) * 1000))
        conns.append(x)
    # still open and answering: a second request on 100 of the held connections
    again = [c for c in conns if not c.closed][:100]
    for c in again:
        c.replies = []
        c.out = ns(req)
        sel.modify(c.s, selectors.EVENT_WRITE, c)
    pump(sel, again, lambda: all(c.replies or c.closed for c in again),
         time.monotonic() + DEADLINE)
    emit(again_ok=sum(1 for c in again if c.replies == [expect]), again_n=len(again),
         closed_end=sum(1 for c in conns if c.closed))
    for c in conns:
        c.s.close()


def mode_slow(a):
    port, n, req, expect, delay = int(a[0]), int(a[1]), a[2], a[3].encode(), float(a[4])
    data = ns(req)
    res = [None] * n
    lock = threading.Lock()
    progress = {"started": 0, "written": 0}

    def one(i):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for j in range(len(data)):
                s.sendall(data[j:j + 1])
                if j == 0:
                    with lock:
                        progress["started"] += 1
                        if progress["started"] == n:
                            emit(slow_started=n)
                time.sleep(delay)
            with lock:
                progress["written"] += 1
                if progress["written"] == 1:
                    emit(slow_first_written=1)
            buf = b""
            s.settimeout(DEADLINE)
            end = time.monotonic() + DEADLINE
            while time.monotonic() < end:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
                r, rest, bad = parse(buf)
                if r or bad:
                    break
            r, rest, bad = parse(buf)
            res[i] = r
            s.close()
        except OSError as e:
            res[i] = ["error: %s" % e]
    th = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in th:
        t.start()
    for t in th:
        t.join(DEADLINE)
    emit(slow_ok=sum(1 for r in res if r == [expect]), slow_n=n, slow_bytes=len(data),
         slow_first=repr(next((r for r in res if r != [expect]), "-")),
         slow_ms=int((time.monotonic() - t0) * 1000))


def mode_garbage(a):
    port, n, size, seed = int(a[0]), int(a[1]), int(a[2]), int(a[3])
    rnd = random.Random(seed)
    deadline = time.monotonic() + DEADLINE
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(n):
        b = bytearray(rnd.getrandbits(8) for _ in range(size))
        while 0x30 <= b[0] <= 0x39:
            b[0] = rnd.getrandbits(8)
        s = open_nb(port)
        c = Conn(s, bytes(b))
        conns.append(c)
        sel.register(s, selectors.EVENT_WRITE, c)

    # read raw bytes: anything received is a failure
    got = [0]

    def until():
        return all(c.closed for c in conns)
    while not until() and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=0.2):
            c = key.data
            if ev & selectors.EVENT_WRITE:
                try:
                    if c.out:
                        k = c.s.send(c.out)
                        c.out = c.out[k:]
                    if not c.out:
                        sel.modify(c.s, selectors.EVENT_READ, c)
                except BlockingIOError:
                    pass
                except OSError:
                    c.closed = True   # reset while writing: closed by the server
                    sel.unregister(c.s)
            else:
                try:
                    d = c.s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if d:
                    got[0] += len(d)
                    c.buf += d
                else:
                    c.closed = True
                    sel.unregister(c.s)
    emit(garbage_closed=sum(1 for c in conns if c.closed), garbage_n=n,
         garbage_reply_bytes=got[0])
    for c in conns:
        c.s.close()


def mode_disconnect(a):
    port, n, req, mode = int(a[0]), int(a[1]), a[2], a[3]
    full = ns(req)
    done = 0
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        if mode in ("rst", "unread-rst"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if mode in ("mid-request", "rst"):
            s.sendall(full[:len(full) // 2])
        elif mode in ("unread", "unread-rst"):
            s.sendall(full * 200)
            time.sleep(0.002)
        elif mode == "pending":
            s.sendall(full)
            time.sleep(0.1)
        s.close()
        done += 1
    emit(disconnect_mode=mode, disconnect_done=done)


def mode_pipeline(a):
    port, n = int(a[0]), int(a[1])
    pairs = [(a[i], a[i + 1].encode()) for i in range(2, len(a), 2)]
    data = b"".join(ns(pairs[i % len(pairs)][0]) for i in range(n))
    s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    replies = []
    state = {"closed": False}

    def reader():
        buf = b""
        end = time.monotonic() + DEADLINE
        s.settimeout(1)
        while len(replies) < n and time.monotonic() < end:
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                d = b""
            if not d:
                state["closed"] = True
                break
            buf += d
            r, buf, bad = parse(buf)
            replies.extend(r)
            if bad:
                replies.append(b"<garbage>")
                break
    th = threading.Thread(target=reader)
    th.start()
    t0 = time.monotonic()
    s.sendall(data)   # one write of the whole pipeline
    th.join(DEADLINE + 5)
    bad = [i for i, r in enumerate(replies) if r != pairs[i % len(pairs)][1]]
    emit(pipeline_sent=n, pipeline_bytes=len(data), pipeline_replies=len(replies),
         pipeline_in_order_ok=len(replies) - len(bad),
         pipeline_first_bad=(("%d:%s" % (bad[0], replies[bad[0]].decode(errors="replace")))
                             if bad else "-"),
         pipeline_closed=int(state["closed"]),
         pipeline_ms=int((time.monotonic() - t0) * 1000))
    s.close()


def mode_hold(a):
    port, n, req, expect = int(a[0]), int(a[1]), a[2], a[3].encode()
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(n):
        s = open_nb(port)
        c = Conn(s, ns(req))
        conns.append(c)
        sel.register(s, selectors.EVENT_WRITE, c)
    # Until the replies stop: the daemon answers what it accepted, then pauses its accepts
    # at EMFILE. A reply late enough to miss this only makes one more client "waiting":
    # it is then answered in the "close" step like the others.
    deadline = time.monotonic() + DEADLINE
    last = [time.monotonic(), 0]

    def settled():
        got = sum(1 for c in conns if c.replies or c.closed)
        if got != last[1]:
            last[:] = [time.monotonic(), got]
        return got == len(conns) or (got > 0 and time.monotonic() - last[0] >= HOLD_QUIET_S)
    pump(sel, conns, settled, deadline)
    # At its limit the daemon closes an answered idle connection for each new one
    # (resolver/sm_server.c): wait the same way until those closes have stopped coming.
    last[:] = [time.monotonic(), sum(1 for c in conns if c.closed)]

    def closes_settled():
        n = sum(1 for c in conns if c.closed)
        if n != last[1]:
            last[:] = [time.monotonic(), n]
        return time.monotonic() - last[0] >= HOLD_QUIET_S
    pump(sel, conns, closes_settled, time.monotonic() + DEADLINE)
    answered = [c for c in conns if c.replies]
    waiting = [c for c in conns if not c.replies and not c.closed]
    emit(hold_answered=len(answered),
         hold_answered_ok=sum(1 for c in answered if c.replies == [expect]),
         hold_waiting=len(waiting), hold_closed=sum(1 for c in conns if c.closed),
         hold_open=sum(1 for c in conns if not c.closed))
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "again":
            # again [REQ [ALLOWED...]]: '_' stands for a space; ALLOWED defaults to EXPECT
            r2 = cmd[1].replace("_", " ") if len(cmd) > 1 else req
            allowed = [x.replace("_", " ").encode() for x in cmd[2:]] or [expect]
            live = [c for c in answered if not c.closed]
            for c in live:
                c.replies = []
                c.out = ns(r2)
                sel.modify(c.s, selectors.EVENT_WRITE, c)
            t0 = time.monotonic()
            pump(sel, live, lambda: all(c.replies or c.closed for c in live),
                 time.monotonic() + DEADLINE)
            emit(again_n=len(live),
                 again_ok=sum(1 for c in live if len(c.replies) == 1 and
                              any(c.replies[0] == x or (x.endswith(b"*") and
                                                        c.replies[0].startswith(x[:-1]))
                                  for x in allowed)),
                 again_first=repr(live[0].replies if live else "-"),
                 again_ms=int((time.monotonic() - t0) * 1000))
        elif cmd[0] == "close":
            for c in answered:
                if not c.closed:
                    sel.unregister(c.s)
                c.s.close()
                c.closed = True
            t0 = time.monotonic()
            pump(sel, waiting, lambda: all(c.replies or c.closed for c in waiting),
                 time.monotonic() + DEADLINE)
            emit(resume_answered_ok=sum(1 for c in waiting if c.replies == [expect]),
                 resume_n=len(waiting), resume_ms=int((time.monotonic() - t0) * 1000))
        elif cmd[0] == "quit":
            break
    for c in conns:
        c.s.close()
    emit(hold_done=1)


DEADLINE = float(os.environ.get("SMLOAD_DEADLINE", "60"))
HOLD_QUIET_S = 3.0
MODES = {"burst": mode_burst, "slow": mode_slow, "garbage": mode_garbage,
         "disconnect": mode_disconnect, "pipeline": mode_pipeline, "hold": mode_hold}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    MODES[sys.argv[1]](sys.argv[2:])
