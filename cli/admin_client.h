/*
 * cli/admin_client.h - one request to the running daemon's admin endpoint, for the verbs
 *
 * Interface: admin_client_request()
 * Design:    libcurl on a short-lived loop and libcurl multi (common/curlm.h), as the
 *            daemon's own fetches run: admin.listen (TCP, or a unix socket through
 *            CURLOPT_UNIX_SOCKET_PATH), Host localhost, admin.token as the bearer token.
 * Threads:   the main thread of a verb (never inside the daemon).
 * Ownership: *ret_body is owned by the caller (free()).
 * Errors:    0 (any HTTP status: see *ret_status), -ENOTCONN (the daemon does not answer,
 *            detail in errbuf), -EINVAL (admin disabled), -ENOMEM.
 */
#ifndef MTASTSD_ADMIN_CLIENT_H
#define MTASTSD_ADMIN_CLIENT_H

#include <stddef.h>

#include "cfg.h"

/* Bound of one admin request (ms) and of its answer (bytes): /status of a large
 * configuration is a few hundred KiB. */
#define ADMIN_CLIENT_TIMEOUT_MS 10000
#define ADMIN_CLIENT_BODY_MAX   (4u * 1024u * 1024u)

/* method ("GET"/"POST") path_query ("/status", "/acme/renew?domain=x") on cfg's admin
 * endpoint. Returns 0 with the HTTP status and the body (NUL-terminated), or -errno. */
int admin_client_request(const struct cfg *cfg, const char *method, const char *path_query,
                         long *ret_status, char **ret_body, char *errbuf, size_t errlen);

#endif
