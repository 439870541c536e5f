#!/usr/bin/env python3
"""tarpit_front.py - a TLS front for the resolver lab: tarpit some policy hosts, pass the rest.

Usage: tarpit_front.py LISTEN_PORT BACKEND_PORT SUFFIX COUNT_FILE

Listens on 127.0.0.1:LISTEN_PORT (the resolver's connect_to). For each connection it reads
the TLS ClientHello and looks at its server name (SNI): a name ending in SUFFIX (or none)
is tarpitted: the connection is accepted and never answered, until the client goes away;
any other name is passed through, bytes both ways, to the policy server on
127.0.0.1:BACKEND_PORT (fake_https). COUNT_FILE holds "held=<tarpitted connections so far>
open=<open now> passed=<passed through so far>", rewritten on each change. Loopback only;
SIGTERM ends it.
"""
import asyncio
import signal
import os
import struct
import sys

LISTEN, BACKEND, SUFFIX, COUNT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
stats = {"held": 0, "open": 0, "passed": 0}


def note():
    with open(COUNT + ".tmp", "w") as f:
        f.write("held=%d open=%d passed=%d\n" % (stats["held"], stats["open"], stats["passed"]))
    os.replace(COUNT + ".tmp", COUNT)


def server_name(hello):
    """The SNI host name of a ClientHello handshake message, or None."""
    try:
        if hello[0] != 1:
            return None
        p = 4 + 2 + 32
        p += 1 + hello[p]
        p += 2 + struct.unpack("!H", hello[p:p + 2])[0]
        p += 1 + hello[p]
        end = p + 2 + struct.unpack("!H", hello[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            t, n = struct.unpack("!HH", hello[p:p + 4])
            p += 4
            if t == 0:
                q = p + 3
                ln = struct.unpack("!H", hello[q:q + 2])[0]
                return hello[q + 2:q + 2 + ln].decode("ascii", "replace")
            p += n
    except (IndexError, struct.error):
        pass
    return None


async def pipe(r, w):
    try:
        while True:
            d = await r.read(65536)
            if not d:
                break
            w.write(d)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


async def handle(r, w):
    try:
        head = await asyncio.wait_for(r.readexactly(5), 60)
        body = await asyncio.wait_for(r.readexactly(struct.unpack("!H", head[3:5])[0]), 60)
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
        w.close()
        return
    name = server_name(body)
    if name is None or name.endswith(SUFFIX):
        stats["held"] += 1
        stats["open"] += 1
        note()
        try:
            while await r.read(4096):
                pass  # never a byte back
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        stats["open"] -= 1
        note()
        w.close()
        return
    stats["passed"] += 1
    note()
    try:
        br, bw = await asyncio.open_connection("127.0.0.1", BACKEND)
    except OSError:
        w.close()
        return
    bw.write(head + body)
    await asyncio.gather(pipe(r, bw), pipe(br, w))


async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", LISTEN, backlog=1024)
    note()
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with srv:
        await stop


asyncio.run(main())
