#!/usr/bin/env bash
# Install the Debian 12 packages of tests/deps-debian.txt.
#   install-deps.sh build   what building and running mtastsd needs (first block)
#   install-deps.sh test    that plus everything the tests use (default)
# Services that the test packages ship (redis-server, nsd, unbound, postfix) are not started:
# the tests start their own instances on loopback.
set -eu
cd "$(dirname "$0")/.."
mode=${1:-test}
export DEBIAN_FRONTEND=noninteractive
case "$mode" in
build) list=$(sed '/^# tests/,$d' tests/deps-debian.txt | grep -v '^#' | grep -v '^$') ;;
test) list=$(grep -v '^#' tests/deps-debian.txt | grep -v '^$') ;;
*)
	echo "usage: $0 [build|test]" >&2
	exit 2
	;;
esac
missing=""
for p in $list; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all $mode packages already installed"
	exit 0
fi
echo "install-deps: installing$missing"
apt-get update -q
# Keep package scripts from starting services (redis-server, nsd, unbound, postfix) while
# installing: policy-rc.d exit 101 = "action forbidden" (invoke-rc.d(8)).
added_policy=""
if [ "$mode" = test ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	added_policy=1
fi
rc=0
# shellcheck disable=SC2086
apt-get install -y -q $missing || rc=$?
[ -z "$added_policy" ] || rm -f /usr/sbin/policy-rc.d
exit "$rc"
