#!/bin/bash
# tests/system/t_install.sh - `cmake --install` into a DESTDIR under $T
#
# Installs this build tree and checks that the binary (sbin), the example config, the
# systemd unit (with this prefix's sbin path), the sysusers.d snippet and the man pages
# mtastsd(8) and mtastsd.conf(5) land in their GNUInstallDirs places, that the installed
# binary and example config work, that the man pages render without warnings, and that the
# unit's systemd-analyze exposure is the one docs/operations.md records.
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
conf=$D$(abs "$ETC")/mtastsd/mtastsd.conf.example
man8=$D$(abs "$MAN")/man8/mtastsd.8
man5=$D$(abs "$MAN")/man5/mtastsd.conf.5
sysu=$D$(abs "$SYSUSERS")/mtastsd.conf

for f in "$bin" "$unit" "$conf" "$man8" "$man5" "$sysu"; do
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
