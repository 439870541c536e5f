#!/usr/bin/env bash
# Install what is needed, build, and run mtastsd in the foreground on the embedded defaults
# (or on /etc/mtastsd/mtastsd.conf when it exists): resolver on 127.0.0.1:8461 with the
# in-memory cache, admin endpoint on 127.0.0.1:8462. Stop it with Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
# only the daemon: the tests (built when cmocka is there) are scripts/test.sh's business
cmake --build build -j"$(nproc)" --target mtastsd
exec ./build/daemon/mtastsd -f "$@"
