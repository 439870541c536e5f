/*
 * publisher/pub_harness.c - the publisher's request handlers on a daemon of the caller's
 *
 * Interface: pub_harness_new(), pub_harness_daemon(), pub_harness_free() (pub_harness.h)
 * Design:    a struct pub that has only its snapshot (no loop, listener, certificate or
 *            httpd group) and one libmicrohttpd daemon started with MHD_USE_NO_LISTEN_SOCKET
 *            and without MHD_USE_INTERNAL_POLLING_THREAD, with the request options of the
 *            publisher's listeners (pub.c pub_new(), common/httpd.c httpd_start()).
 * Threads:   the caller's only.
 * Ownership: the harness owns the daemon; the snapshot is the caller's.
 * Errors:    NULL when libmicrohttpd refuses; nothing is logged.
 */
#include <pthread.h>
#include <stdlib.h>

#include "httpd.h"
#include "pub_harness.h"
#include "pub_int.h"
#include "xalloc.h"

/* Connections of one harness at a time (a test adds one, runs it to the end). */
#define PUB_HARNESS_CONNECTIONS 16

struct pub_harness {
	struct pub pub;
	struct MHD_Daemon *mhd;
};

struct pub_harness *
pub_harness_new(struct pub_snap *s, int https)
{
	struct pub_harness *hs = xcalloc(1, sizeof(*hs));

	(void)pthread_mutex_init(&hs->pub.snap_lock, NULL);
	(void)pthread_mutex_init(&hs->pub.acme_lock, NULL);
	hs->pub.snap = s;
	hs->pub.inotify_fd = -1;
	hs->mhd = MHD_start_daemon(
	        MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL, 0, NULL, NULL,
	        https ? pub_http_policy_access : pub_http_plain_access, &hs->pub,
	        MHD_OPTION_CONNECTION_LIMIT, (unsigned)PUB_HARNESS_CONNECTIONS,
	        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(PUB_CONN_TIMEOUT_DEFAULT_MS / 1000),
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PUB_CONN_MEMORY_MAX,
	        MHD_OPTION_UNESCAPE_CALLBACK, httpd_unescape, NULL, MHD_OPTION_END);
	if (hs->mhd == NULL) {
		(void)pthread_mutex_destroy(&hs->pub.snap_lock);
		(void)pthread_mutex_destroy(&hs->pub.acme_lock);
		free(hs);
		return NULL;
	}
	return hs;
}

struct pub *
pub_harness_pub(struct pub_harness *hs)
{
	return &hs->pub;
}

struct MHD_Daemon *
pub_harness_daemon(const struct pub_harness *hs)
{
	return hs->mhd;
}

struct pub_harness *
pub_harness_free(struct pub_harness *hs)
{
	if (hs == NULL)
		return NULL;
	MHD_stop_daemon(hs->mhd);
	(void)pthread_mutex_destroy(&hs->pub.snap_lock);
	for (size_t i = 0; i < PUB_ACME_TOKENS_MAX; i++) {
		free(hs->pub.acme_tokens[i].token);
		free(hs->pub.acme_tokens[i].key_authz);
	}
	(void)pthread_mutex_destroy(&hs->pub.acme_lock);
	free(hs);
	return NULL;
}
