/*
 * bench/rss_floor.c - the library floor of mtastsd's idle RSS (issue 21)
 *
 * Usage: rss_floor [-t SECONDS]
 *   Links the libraries mtastsd links (bench/CMakeLists.txt: the same pkg-config targets),
 *   does the global initialisation mtastsd's start does (curl_global_once (common/curl_global.h),
 * gnutls_global_init, sqlite3_initialize, sodium_init (common/keyhash.c), an sd-event loop; the
 * others have none, or have it at load time: glib/gobject's constructors), touches one symbol of
 * each library so that none is dropped by the linker, prints its VmRSS as "rss_kb=N" and sleeps
 * (default 600 s) so /proc/PID/smaps can be read. Built a second time as rss_floor_mail, with GMime
 * and libyaml linked too (RSS_FLOOR_MAIL), as mtastsd linked them before it loaded them on first
 * use (common/dynlib.h): the difference is what they cost a process that never uses them.
 * bench/rss_idle.sh runs both and an idle mtastsd side by side (docs/performance.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <hiredis/hiredis.h>
#include <idn2.h>
#include <json-c/json.h>
#include <ldns/ldns.h>
#include <libconfig.h>
#include <microhttpd.h>
#include <nettle/version.h>
#include <sodium.h>
#include <sqlite3.h>
#include <systemd/sd-event.h>
#include <zlib.h>
#ifdef RSS_FLOOR_MAIL
#include <gmime/gmime.h>
#include <yaml.h>
#endif

#include "bench_rss.h"
#include "curl_global.h"

int
main(int argc, char **argv)
{
	unsigned secs = 600;
	sd_event *ev = NULL;
	config_t cf;
	json_object *j;
	redisReader *rr;
	ldns_pkt *pkt;
	int opt;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't') {
			fprintf(stderr, "usage: rss_floor [-t SECONDS]\n");
			return 2;
		}
		secs = (unsigned)strtoul(optarg, NULL, 10);
	}
	/* what daemon_start() initialises */
	if (curl_global_once() < 0 || gnutls_global_init() < 0 ||
	    sqlite3_initialize() != SQLITE_OK || sodium_init() < 0 || sd_event_new(&ev) < 0) {
		fprintf(stderr, "rss_floor: a library failed to initialise\n");
		return 1;
	}
	/* one call into each other library: no initialisation of its own */
	config_init(&cf);
	config_destroy(&cf);
	j = json_object_new_object();
	json_object_put(j);
	rr = redisReaderCreate();
	redisReaderFree(rr);
	pkt = ldns_pkt_new();
	ldns_pkt_free(pkt);
	(void)idn2_check_version(NULL);
	(void)MHD_is_feature_supported(MHD_FEATURE_TLS);
	(void)nettle_version_major();
	(void)zlibVersion();
#ifdef RSS_FLOOR_MAIL
	(void)g_mime_check_version(3, 0, 0);
	(void)yaml_get_version_string();
#endif
	printf("rss_kb=%ld\n", rss_kb());
	fflush(stdout);
	sleep(secs);
	sd_event_unref(ev);
	gnutls_global_deinit();
	curl_global_cleanup();
	return 0;
}
