#!/bin/bash
# tests/system/t_publisher_certwatch.sh - every certificate file is watched (issue 17)
#
# 200 published domains, each with its certificate and key in a directory of its own (400
# files, 200 directories: the watch used to stop after the first 128 certificates, so a
# renewal of the later ones was never seen until SIGHUP).
#  1. inotify: the certificate of the 200th domain is replaced (rename, as certbot does); the
#     new one is served without a reload.
#  2. publisher.cert_watch = "poll" (files on NFS): no inotify, the files are polled; a
#     replaced certificate is served without a reload.
#  3. inotify watches run out (a user namespace with fs.inotify watches limited to 20, the
#     way a host with many watching programs runs out): the daemon says so once and polls
#     the files every publisher.cert_poll_interval (1 s here); a replaced certificate is
#     served without a reload.
#  4. writes to other files of a certificate directory (a log, a backup, a temporary file)
#     reload nothing; the certificate replaced after them does.

. "$(dirname "$0")/lib.sh"

need_cmd openssl certtool unshare

N=200
P=$(free_port tcp)

make_ca
# four certificates of 50 names each (PUB_CERT_NAMES_MAX is 100)
for g in 0 1 2 3; do
	names=()
	for i in $(seq $((g * 50 + 1)) $((g * 50 + 50))); do names+=("mta-sts.d$i.test"); done
	make_cert "g$g" "${names[@]}"
done
for i in $(seq 1 $N); do
	g=$(((i - 1) / 50))
	mkdir -p "$T/c/d$i"
	cp "$T/g$g.fullchain.pem" "$T/c/d$i/fullchain.pem"
	cp "$T/g$g.key" "$T/c/d$i/privkey.pem"
done

conf() {
	{
		cat <<EOC
process = { allow_root = true; verbosity = 1; shutdown_timeout = "1s"; };
resolver = { enabled = false; };
admin = { enabled = false; };
publisher = {
	listen = [ "127.0.0.1:$P" ];
	http_listen = [ ];
	cert_poll_interval = "1s";
	domains = (
EOC
		for i in $(seq 1 $N); do
			[ "$i" -gt 1 ] && echo ","
			printf '\t\t{ domain = "d%s.test"; mode = "enforce"; max_age = 86400; mx = [ "mx.d%s.test" ]; cert = "%s"; key = "%s"; }' \
				"$i" "$i" "$T/c/d$i/fullchain.pem" "$T/c/d$i/privkey.pem"
		done
		printf '\n\t);\n};\n'
	} >"$1"
}
conf "$T/pub.conf"

fp_file() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
served_fp() {
	openssl s_client -connect "127.0.0.1:$P" -servername "$1" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2 || true
}
fp_is() { [ "$(served_fp "$1")" = "$2" ]; }
# replace DOMAIN_INDEX NAME: a new certificate for mta-sts.d<i>.test, renamed into place.
replace() {
	make_cert "$2" "mta-sts.d$1.test"
	cp "$T/$2.fullchain.pem" "$T/c/d$1/fullchain.pem.new"
	cp "$T/$2.key" "$T/c/d$1/privkey.pem.new"
	mv "$T/c/d$1/privkey.pem.new" "$T/c/d$1/privkey.pem"
	mv "$T/c/d$1/fullchain.pem.new" "$T/c/d$1/fullchain.pem"
}

# ---- 1. inotify -----------------------------------------------------------------------------
start_bg pub "$MTASTSD" -f -c "$T/pub.conf"
wait_tcp "$P"
check "d200 served its first certificate" "$(fp_file "$T/g3.pem")" "$(served_fp mta-sts.d200.test)"
replace 200 new200
rc=0
wait_for "$LIVE_S" fp_is mta-sts.d200.test "$(fp_file "$T/new200.pem")" || rc=1
check "inotify: the 200th certificate replaced is served" 0 "$rc"
check "inotify: every directory watched (no polling)" 0 "$(grep -c 'polling' "$T/pub.log" || true)"
check "d1 unchanged" "$(fp_file "$T/g0.pem")" "$(served_fp mta-sts.d1.test)"
stop_bg pub

# ---- 2. publisher.cert_watch = "poll" (certificates on NFS): polled, not watched -------------
sed 's|cert_poll_interval = "1s";|cert_poll_interval = "1s"; cert_watch = "poll";|' "$T/pub.conf" >"$T/poll.conf"
start_bg pubpoll "$MTASTSD" -f -c "$T/poll.conf"
wait_tcp "$P"
rc=0
wait_log pubpoll 'polling the certificate files every 1 s' || rc=1
check "cert_watch poll: said at start" 0 "$rc"
replace 100 new100
rc=0
wait_for "$LIVE_S" fp_is mta-sts.d100.test "$(fp_file "$T/new100.pem")" || rc=1
check "cert_watch poll: the replaced certificate is served" 0 "$rc"
stop_bg pubpoll

# ---- 3. watches run out: polling ------------------------------------------------------------
# The kernel refuses user namespaces to a chrooted process: there this part cannot run (the
# polling itself is part 2); elsewhere a refusal is a missing capability of the machine.
in_chroot() { [ "$(stat -c %d:%i /)" != "$(stat -c %d:%i /proc/1/root/. 2>/dev/null)" ]; }
if ! unshare --user --map-root-user sh -c 'echo 20 >/proc/sys/user/max_inotify_watches' 2>/dev/null; then
	if in_chroot; then
		say "     note: watch limit part not run: user namespaces are refused in a chroot"
	else
		part_unavailable "watch limit in a user namespace (unshare --user not permitted here)"
	fi
else
	start_bg pubns unshare --user --map-root-user sh -c \
		'echo 20 >/proc/sys/user/max_inotify_watches && exec "$0" -f -c "$1"' "$MTASTSD" "$T/pub.conf"
	wait_tcp "$P"
	rc=0
	wait_log pubns 'certificates cannot be watched .*polling the certificate files every 1 s' || rc=1
	check "watch limit: one line says so and that the files are polled" 0 "$rc"
	check "watch limit: said once" 1 "$(grep -c 'cannot be watched' "$T/pubns.log" || true)"
	replace 150 new150
	rc=0
	wait_for "$LIVE_S" fp_is mta-sts.d150.test "$(fp_file "$T/new150.pem")" || rc=1
	check "polling: the replaced certificate is served" 0 "$rc"
	check "polling: the reload is logged" 1 "$(grep -c 'certificates reloaded' "$T/pubns.log" || true)"
	check "d200 keeps its certificate" "$(fp_file "$T/new200.pem")" "$(served_fp mta-sts.d200.test)"
	stop_bg pubns
fi

# ---- 4. only the certificate files count: other files of their directory reload nothing ---
# (a log or another service's file written there made every write a reload: re-reading every
# certificate, and for a domain whose files fail, its error and "certificates reloaded"
# again). inotify reports in order, so once the replaced certificate is served the writes
# before it were read: none of them is named as the cause of a reload.
mkdir -p "$T/c4"
cp "$T/g0.fullchain.pem" "$T/c4/fullchain.pem"
cp "$T/g0.key" "$T/c4/privkey.pem"
cat >"$T/c4.conf" <<EOC
process = { allow_root = true; verbosity = 2; shutdown_timeout = "1s"; };
resolver = { enabled = false; };
admin = { enabled = false; };
publisher = {
	listen = [ "127.0.0.1:$P" ];
	http_listen = [ ];
	domains = ( { domain = "d1.test"; mode = "enforce"; max_age = 86400; mx = [ "mx.d1.test" ];
	              cert = "$T/c4/fullchain.pem"; key = "$T/c4/privkey.pem"; } );
};
EOC
start_bg pub4 "$MTASTSD" -f -c "$T/c4.conf"
wait_tcp "$P"
for i in 1 2 3; do
	echo "line $i" >>"$T/c4/other.log"
	cp "$T/g1.key" "$T/c4/privkey.pem.bak"
done
make_cert new1 mta-sts.d1.test
cp "$T/new1.key" "$T/c4/privkey.pem.new"
cp "$T/new1.fullchain.pem" "$T/c4/fullchain.pem.new"
mv "$T/c4/privkey.pem.new" "$T/c4/privkey.pem"
mv "$T/c4/fullchain.pem.new" "$T/c4/fullchain.pem"
rc=0
wait_for "$LIVE_S" fp_is mta-sts.d1.test "$(fp_file "$T/new1.pem")" || rc=1
check "other files: the replaced certificate is served" 0 "$rc"
check_match "other files: the reload names a certificate file" \
	'certificate file (fullchain|privkey)\.pem changed, reloading' "$(cat "$T/pub4.log")"
check "other files: none of them caused a reload" "" \
	"$(grep -E 'certificate file .*(other\.log|\.bak|\.new) changed' "$T/pub4.log" || true)"
stop_bg pub4
finish
