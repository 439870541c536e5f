#!/bin/bash
# bench/rss_idle.sh - mtastsd's idle RSS against the library floor (issue 21, docs/performance.md
# "Memory", Round 3)
#
# Usage: bash bench/rss_idle.sh [BUILD_DIR]        (default build/)
#   Starts an idle mtastsd (resolver, one published domain, admin endpoint; a temporary
#   directory, loopback ports, no DNS or network use), bench/rss_floor (the same libraries
#   and their start-up initialisation, nothing else) and bench/rss_floor_mail (with GMime
#   and libyaml linked too, as mtastsd linked them before round 3), waits until the daemon answers /status, then prints each one's
#   /proc/PID/smaps_rollup and a per-mapping table (Rss by file or kind, KiB) of mtastsd,
#   the floor and the difference. Stops what it started (by PID) and removes its directory.
#   Needs certtool (gnutls-bin) and curl. Run as root or not (allow_root is set).
#   RSS_IDLE_PUB="mx_check = false;" adds settings to the publisher group.
set -eu
. "$(dirname "$0")/rss_lab.sh"
B=${1:-build}
MT=$B/daemon/mtastsd
for f in "$MT" "$B/bench/rss_floor" "$B/bench/rss_floor_mail"; do
	[ -x "$f" ] || { echo "rss_idle: $f not built" >&2; exit 2; }
done
T=$(mktemp -d /tmp/mtastsd-rss.XXXXXX)
PIDS=
cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

rss_lab_setup "$T" "${RSS_IDLE_PUB:-}"
"$MT" -f -c "$T/m.conf" >"$T/mtastsd.log" 2>&1 &
MPID=$!
PIDS="$PIDS $MPID"
"$B/bench/rss_floor" >"$T/floor.out" &
FPID=$!
PIDS="$PIDS $FPID"
"$B/bench/rss_floor_mail" >"$T/mail.out" &
NPID=$!
PIDS="$PIDS $NPID"
for _ in $(seq 300); do
	curl -sf "http://127.0.0.1:$ADM/status" >/dev/null 2>&1 && break
	kill -0 "$MPID" 2>/dev/null || { cat "$T/mtastsd.log" >&2; exit 1; }
	sleep 0.2
done
curl -sf "http://127.0.0.1:$ADM/status" >/dev/null || { echo "rss_idle: no /status" >&2; exit 1; }
for _ in $(seq 100); do
	[ -s "$T/floor.out" ] && [ -s "$T/mail.out" ] && break
	sleep 0.1
done
sleep 2 # let the daemon's start settle (first timers)

rollup() {
	awk -v n="$1" '/^(Rss|Pss|Shared_Clean|Shared_Dirty|Private_Clean|Private_Dirty|Anonymous):/ {
		printf "%s %s=%s", (c++ ? "" : n), $1, $2 } END { print " (KiB)" }' "/proc/$2/smaps_rollup"
}
echo "VmRSS KiB: mtastsd $(awk '/^VmRSS/ {print $2}' /proc/$MPID/status)" \
	"floor $(awk '/^VmRSS/ {print $2}' /proc/$FPID/status)" \
	"floor_mail $(awk '/^VmRSS/ {print $2}' /proc/$NPID/status)" \
	"threads $(awk '/^Threads/ {print $2}' /proc/$MPID/status)"
rollup mtastsd "$MPID"
rollup floor "$FPID"
rollup floor_mail "$NPID"
python3 - "$MPID" "$FPID" "$NPID" <<'PY'
import collections, os, sys

def by_mapping(pid):
    rss = collections.Counter()
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                path = parts[5] if len(parts) > 5 else "[anon]"
                if path.startswith("/"):
                    path = os.path.basename(path)
                    if path == os.path.basename(os.readlink(f"/proc/{pid}/exe")):
                        path = "[program]"
                name = path
            elif parts[0] == "Rss:":
                rss[name] += int(parts[1])
    return rss

m, f, n = (by_mapping(p) for p in sys.argv[1:4])
keys = sorted(set(m) | set(f) | set(n), key=lambda k: -max(m[k], f[k], n[k]))
print(f"{'mapping':28} {'mtastsd':>8} {'floor':>8} {'diff':>8} {'mail':>8}")
for k in keys:
    if m[k] or f[k] or n[k]:
        print(f"{k:28} {m[k]:8} {f[k]:8} {m[k] - f[k]:8} {n[k]:8}")
print(f"{'total':28} {sum(m.values()):8} {sum(f.values()):8} "
      f"{sum(m.values()) - sum(f.values()):8} {sum(n.values()):8}")
PY
