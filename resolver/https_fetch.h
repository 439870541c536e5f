/*
 * resolver/https_fetch.h - RFC 8461 section 3.3 policy fetch with libcurl multi on our loop
 *
 * GET https://mta-sts.<domain>/.well-known/mta-sts.txt: HTTPS only, TLS >= 1.2, certificate
 * verified for mta-sts.<domain> (system CAs, or resolver.ca_file), redirects never followed,
 * status 200 only, Content-Type text/plain (docs/resolver.md), body <= fetch_max_body bytes
 * checked while it arrives, total timeout fetch_timeout_ms. resolver.connect_to (test lab)
 * sends every connection to one address:port while keeping the name for SNI and checks.
 *
 * Interface: fetcher_new(), fetcher_free(), fetch_start(), fetch_cancel()
 * Threads:   main loop only.
 * Ownership: body and info passed to fetch_done_fn are valid only during the callback.
 * Errors:    callback err: 0, ERR_FETCH_CONNECT, ERR_FETCH_TLS, ERR_FETCH_HTTP,
 *            ERR_FETCH_REDIRECT, ERR_FETCH_TOO_LARGE, ERR_FETCH_TIMEOUT,
 *            ERR_FETCH_CONTENT_TYPE, -ECANCELED. Exactly once per fetch.
 */
#ifndef MTASTSD_HTTPS_FETCH_H
#define MTASTSD_HTTPS_FETCH_H

#include <stddef.h>

#include "cfg.h"
#include "loop.h"

struct fetcher;
struct fetch_req;

struct fetch_info {
	long http_status;	 /* 0 when no response */
	char content_type[128];	 /* as received, may be empty */
	char detail[256];	 /* human-readable reason on failure (curl error text...) */
	uint64_t elapsed_ms;
};

typedef void fetch_done_fn(int err, const char *body, size_t len, const struct fetch_info *info,
			   void *arg);

int fetcher_new(struct loop *loop, const struct cfg_resolver *cfg, struct fetcher **ret_f);
/* Cancels every pending fetch (callbacks run with -ECANCELED). Returns NULL. */
struct fetcher *fetcher_free(struct fetcher *f);

/* Fetch the policy of domain (normalised A-label Policy Domain). */
struct fetch_req *fetch_start(struct fetcher *f, const char *domain, fetch_done_fn *done,
			      void *arg);
void fetch_cancel(struct fetch_req *rq);

#endif
