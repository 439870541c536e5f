/*
 * publisher/pub_harness.h - the publisher's request handlers on a libmicrohttpd daemon of the
 *                           caller's, for tests
 *
 * What:      the HTTPS and port 80 access handlers of publisher/pub_http.c need a struct pub
 *            (private to publisher/) as their cls, and some of their checks (http_host(): a
 *            NUL inside the Host value, found from where libmicrohttpd 0.9.75 put the next
 *            header line in its read buffer) only mean something on a real libmicrohttpd
 *            connection. A harness is a libmicrohttpd daemon without a listening socket and
 *            without threads, configured as the publisher's listeners are (per-connection
 *            memory PUB_CONN_MEMORY_MAX, the %-decoding httpd_unescape(), the idle
 *            timeout), whose access handler serves a snapshot of the caller's. The caller
 *            hands it one end of a socketpair(2) with MHD_add_connection() and turns it with
 *            MHD_run(): the whole request path runs in-process, without a network.
 *            TLS is left out: an "https" harness runs the HTTPS listeners' handler on plain
 *            HTTP (the handler does not see the difference).
 * Used by:   tests/fuzz/fuzz_pub_http.c. The daemon itself uses pub.h.
 * Threads:   one thread: the caller's, which runs MHD_run().
 * Ownership: the snapshot stays the caller's: its refs must be at least 1 while the harness
 *            lives (the handlers take and drop a reference per request, so it is never freed
 *            here). pub_harness_free() stops the daemon (closing its connections).
 * Errors:    pub_harness_new() returns NULL when libmicrohttpd refuses to start.
 */
#ifndef MTASTSD_PUB_HARNESS_H
#define MTASTSD_PUB_HARNESS_H

#include <microhttpd.h>

#include "pub_route.h"

struct pub_harness;

/* A harness serving s: the handler of the HTTPS listeners (pub_http_policy_access()) when
 * https is 1, of the port 80 listeners (pub_http_plain_access()) when 0. NULL on failure. */
struct pub_harness *pub_harness_new(struct pub_snap *s, int https);
/* Its libmicrohttpd daemon (borrowed): for MHD_add_connection(), MHD_run(),
 * MHD_get_daemon_info(). */
struct MHD_Daemon *pub_harness_daemon(const struct pub_harness *hs);
struct pub;
/* Its struct pub (borrowed), for the pub.h calls the handlers read from: the http-01
 * tokens (pub_acme_token_set()/pub_acme_token_del()). */
struct pub *pub_harness_pub(struct pub_harness *hs);
/* Stop the daemon and free the harness. NULL is a no-op. Returns NULL. */
struct pub_harness *pub_harness_free(struct pub_harness *hs);

#endif
