#!/usr/bin/env python3
"""free_port.py KIND PORTS_DIR OWNER_PID [ADDR...]: print a port free for KIND (tcp, udp or
both) on every ADDR (default 127.0.0.1), below the kernel's ephemeral range, and reserved
for OWNER_PID in PORTS_DIR (see free_port in lib.sh). Exit 1 when none was found."""
import errno
import os
import random
import socket
import sys

kind, pdir, owner = sys.argv[1], sys.argv[2], sys.argv[3]
addrs = sys.argv[4:] or ["127.0.0.1"]


shared = os.access(pdir, os.W_OK | os.X_OK)
if not shared:
    print("free_port: %s is not writable: ports not reserved across tests" % pdir,
          file=sys.stderr)


def reserve(p):
    """True when PORTS_DIR/p was made for OWNER (or taken over from a test that is gone)."""
    if not shared:
        return True
    path = os.path.join(pdir, str(p))
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
            try:
                with open(path) as f:
                    other = int(f.read().strip() or "0")
            except (OSError, ValueError):
                return False
            if other > 0:
                try:
                    os.kill(other, 0)
                    return False  # its test still runs
                except ProcessLookupError:
                    pass
                except PermissionError:
                    return False
            else:
                return False  # being written right now
            try:
                os.unlink(path)  # its test is gone: take the port over
            except FileNotFoundError:
                pass
            except OSError:
                return False  # another user's (sticky directory)
            continue
        os.write(fd, (owner + "\n").encode())
        os.close(fd)
        return True
    return False


def bindable(p):
    kinds = {"tcp": [socket.SOCK_STREAM], "udp": [socket.SOCK_DGRAM]}.get(
        kind, [socket.SOCK_STREAM, socket.SOCK_DGRAM])
    for a in addrs:
        for t in kinds:
            s = socket.socket(socket.AF_INET, t)
            try:
                s.bind((a, p))
            except OSError:
                return False
            finally:
                s.close()
    return True


try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        eph_low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    eph_low = 32768
hi = max(eph_low - 1, 2048)
lo = max(1024, hi - 12000)
for _ in range(500):
    p = random.randint(lo, hi)
    if not reserve(p):
        continue
    if bindable(p):
        print(p)
        sys.exit(0)
    if shared:
        os.unlink(os.path.join(pdir, str(p)))
sys.exit(1)
