#!/bin/bash
# tests/system/t_install.sh - `cmake --install` into a DESTDIR under $T
#
# Installs this build tree and checks that the binary (sbin), the example config, the
# systemd units (mtastsd.service with this prefix's sbin path, and mtastsd.socket next to
# it), the sysusers.d snippet and the man pages mtastsd(8) and mtastsd.conf(5) land in their
# GNUInstallDirs places, that the installed binary and example config work, that the man
# pages render without warnings, that `systemd-analyze verify` finds nothing to say about
# the two units (the socket activates the service; the service's binary is the installed
# one), and that the unit's systemd-analyze exposure is the one docs/operations.md records.
. "$(dirname "$0")/lib.sh"

need_cmd cmake
[ -f "$BUILD_DIR/CMakeCache.txt" ] || die "no build tree at $BUILD_DIR"

cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD_DIR/CMakeCache.txt"; }
PREFIX=$(cache CMAKE_INSTALL_PREFIX)
SBIN=$(cache CMAKE_INSTALL_SBINDIR)
MAN=$(cache CMAKE_INSTALL_MANDIR)
ETC=$(cache CMAKE_INSTALL_SYSCONFDIR)
UNITDIR=$(cache MTASTSD_SYSTEMD_UNITDIR)
SYSUSERS=$(cache MTASTSD_SYSUSERSDIR)
: "${SBIN:=sbin}" "${MAN:=share/man}" "${ETC:=etc}"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PREFIX/$1" ;; esac; }
D=$T/dest

DESTDIR=$D cmake --install "$BUILD_DIR" >"$T/install.log" 2>&1 || die "cmake --install failed"

bin=$D$(abs "$SBIN")/mtastsd
unit=$D$(abs "$UNITDIR")/mtastsd.service
sock=$D$(abs "$UNITDIR")/mtastsd.socket
conf=$D$(abs "$ETC")/mtastsd/mtastsd.conf.example
man8=$D$(abs "$MAN")/man8/mtastsd.8
man5=$D$(abs "$MAN")/man5/mtastsd.conf.5
sysu=$D$(abs "$SYSUSERS")/mtastsd.conf

for f in "$bin" "$unit" "$sock" "$conf" "$man8" "$man5" "$sysu"; do
	check "installed ${f#"$D"}" yes "$([ -f "$f" ] && echo yes || echo no)"
	check_match "listed in install_manifest.txt: ${f#"$D"}" "^${f#"$D"}$" \
		"$(grep -Fx -- "${f#"$D"}" "$BUILD_DIR/install_manifest.txt" || true)"
done
check "binary is executable" yes "$([ -x "$bin" ] && echo yes || echo no)"
check "binary mode 0755" 755 "$(stat -c %a "$bin")"
check "man pages mode 0644" "644 644" "$(stat -c %a "$man8") $(stat -c %a "$man5")"
check "installed binary runs" "$("$MTASTSD" --version)" "$("$bin" --version)"
check_match "installed example config is valid" 'is valid' "$("$bin" -n -c "$conf")"
check "example config is etc/mtastsd.conf" "$(sha256sum <"$SRC_DIR/etc/mtastsd.conf")" \
	"$(sha256sum <"$conf")"

# The unit runs the installed binary, and stays otherwise identical to etc/mtastsd.service.
check "unit ExecStart uses this prefix" \
	"ExecStart=$(abs "$SBIN")/mtastsd -c /etc/mtastsd/mtastsd.conf" "$(grep '^ExecStart=' "$unit")"
check "unit ExecReload checks the config first" \
	"ExecReload=$(abs "$SBIN")/mtastsd -n -c /etc/mtastsd/mtastsd.conf" \
	"$(grep '^ExecReload=' "$unit" | head -1)"
check "unit otherwise as in etc/" "" \
	"$(diff <(sed "s|$(abs "$SBIN")/mtastsd|/usr/sbin/mtastsd|" "$unit") "$SRC_DIR/etc/mtastsd.service")"
check "unit: Type=notify" "Type=notify" "$(grep '^Type=' "$unit")"
check "unit: dedicated user" "User=mtastsd" "$(grep '^User=' "$unit")"
check "sysusers creates that user" 'u mtastsd' "$(grep -o '^u mtastsd' "$sysu")"
check "socket unit is etc/mtastsd.socket" "$(sha256sum <"$SRC_DIR/etc/mtastsd.socket")" \
	"$(sha256sum <"$sock")"
check "socket unit: the socketmap, named for its role" \
	"ListenStream=127.0.0.1:8461 FileDescriptorName=socketmap Service=mtastsd.service" \
	"$(grep -E '^(ListenStream|FileDescriptorName|Service)=' "$sock" | tr '\n' ' ' | sed 's/ $//')"
check "socket unit's address is the default resolver.listen" \
	"$(sed -n 's/^ListenStream=//p' "$sock")" \
	"$(sed -n 's/^[[:space:]]*listen = ( "\([0-9.:]*\)" );.*/\1/p' "$SRC_DIR/etc/mtastsd.conf" | head -1)"

# systemd-analyze verify loads both units as systemd would (the socket's Service=, every
# key, the ExecStart binary): a copy whose ExecStart names the DESTDIR binary, since the
# installed path exists only under DESTDIR.
if have_cmd "unit verification (systemd-analyze verify)" systemd-analyze; then
	mkdir -p "$T/verify"
	sed "s|$(abs "$SBIN")/mtastsd|$bin|g" "$unit" >"$T/verify/mtastsd.service"
	cp "$sock" "$T/verify/mtastsd.socket"
	vrc=0
	vout=$(systemd-analyze verify --man=no "$T/verify/mtastsd.service" \
		"$T/verify/mtastsd.socket" 2>&1) || vrc=$?
	check "systemd-analyze verify: service and socket load" "0 []" "$vrc [$vout]"
	# The check can fail: a socket unit naming a service that is not there is refused.
	sed 's/^Service=.*/Service=mtastsd-missing.service/' "$sock" >"$T/verify/mtastsd.socket"
	vrc=0
	vout=$(systemd-analyze verify --man=no "$T/verify/mtastsd.socket" 2>&1) || vrc=$?
	check_match "systemd-analyze verify refuses a socket without its service" \
		'^[1-9].*not loaded' "$vrc $vout"
fi

if have_cmd "unit exposure (systemd-analyze security)" systemd-analyze; then
	exp=$(systemd-analyze security --offline=yes "$unit" 2>&1 |
		sed -n 's/.*Overall exposure level for mtastsd.service: \([0-9.]*\).*/\1/p')
	doc=$(sed -n 's/.*Overall exposure level.*: \*\*\([0-9.]*\)\*\*.*/\1/p' "$SRC_DIR/docs/operations.md")
	check_match "systemd-analyze exposure measured" '^[0-9]+\.[0-9]$' "$exp"
	check "exposure as recorded in docs/operations.md" "$doc" "$exp"
	check_match "exposure at most 2.0" '^(0\.[0-9]|1\.[0-9]|2\.0)$' "$exp"
fi

if have_cmd "man page rendering" groff col; then
	for m in "$man8" "$man5"; do
		w=$(groff -man -Tutf8 -ww -z "$m" 2>&1 || true)
		check "$(basename "$m") renders without warnings" "" "$w"
	done
	check_match "mtastsd(8) NAME" 'mtastsd - MTA-STS' \
		"$(groff -man -Tutf8 "$man8" 2>/dev/null | col -bx | tr -s ' ')"
	check_match "mtastsd.conf(5) lists the admin token" 'Authorization: Bearer' \
		"$(groff -man -Tutf8 "$man5" 2>/dev/null | col -bx)"
fi

finish
