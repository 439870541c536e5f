#!/usr/bin/env bash
# Install every Debian 12 package needed to build and test mtastsd (tests/deps-debian.txt).
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
missing=""
for p in $(grep -v '^#' tests/deps-debian.txt); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages already installed"
	exit 0
fi
echo "install-deps: installing$missing"
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q $missing
