/*
 * resolver/https_fetch.h - RFC 8461 section 3.3 policy fetch with libcurl multi on our loop
 *
 * GET https://mta-sts.<domain>/.well-known/mta-sts.txt: HTTPS only, TLS >= 1.2, certificate
 * verified for mta-sts.<domain> (system CAs, or resolver.ca_file), redirects never followed,
 * status 200 only, Content-Type text/plain (docs/resolver-fetch.md), body <= fetch_max_body bytes
 * checked while it arrives, total timeout fetch_timeout_ms. resolver.connect_to (test lab)
 * sends every connection to one address:port while keeping the name for SNI and checks.
 *
 * Interface: fetcher_new(), fetcher_new_on(), fetcher_free(), fetch_start(), fetch_cancel(),
 *            fetch_content_type_ok(), fetch_header_line(), fetch_headers_check()
 * Threads:   every function and callback on the main loop. On a threaded multi
 *            (fetcher_new_on(), curlm_new_threaded()) the transfers, their libcurl
 *            callbacks and the certificate checks run on the multi's worker thread.
 * Ownership: body and info passed to fetch_done_fn are valid only during the callback.
 * Errors:    callback err: 0, ERR_FETCH_CONNECT, ERR_FETCH_TLS, ERR_FETCH_HTTP,
 *            ERR_FETCH_REDIRECT, ERR_FETCH_TOO_LARGE, ERR_FETCH_TIMEOUT,
 *            ERR_FETCH_CONTENT_TYPE, ERR_FETCH_HOST_UNKNOWN (NXDOMAIN/NODATA for the policy
 *            host), ERR_FETCH_HOST_DNS (its lookup failed: SERVFAIL, timeout...),
 *            ERR_FETCH_PROTOCOL (the response began, then was malformed, too large or cut off),
 *            -ECANCELED. Exactly once per fetch.
 */
#ifndef MTASTSD_HTTPS_FETCH_H
#define MTASTSD_HTTPS_FETCH_H

#include <stddef.h>
#include <time.h>

#include "cfg.h"
#include "loop.h"

struct fetcher;
struct fetch_req;

/* Fetches in flight when cfg->fetch_concurrency is 0 (the cfg default is 64). */
#define FETCH_CONCURRENCY_DEFAULT 64

struct fetch_info {
	long http_status;       /* 0 when no response */
	char content_type[128]; /* as received, printable (fetch_headers), may be empty */
	char detail[256];       /* human-readable reason on failure (curl error text...);
	                         * the policy host may be quoted in it: printable and cut
	                         * (log_printable()) by the time the callback runs */
	uint64_t elapsed_ms;
	time_t cert_not_after; /* the verified leaf certificate's notAfter once TLS is up,
	                        * else 0 (`mtastsd check` reports the days left) */
	int verify_cached;     /* 1: the chain was verified by an earlier fetch of this fetcher
	                        * (same bytes); only the host name was checked this time */
};

/* err 0: body is the policy text (len bytes, NUL-terminated, may be empty); otherwise body
 * is NULL and len 0. info is always filled (status 0 when no response arrived). */
typedef void fetch_done_fn(int err, const char *body, size_t len, const struct fetch_info *info,
                           void *arg);

/* Uses cfg->fetch_timeout_ms, fetch_max_body (capped at STS_POLICY_BODY_MAX),
 * fetch_concurrency + refresh_concurrency (transfers in flight), ca_file, connect_to (copied).
 * Returns 0 or -ENOMEM. */
int fetcher_new(struct loop *loop, const struct cfg_resolver *cfg, struct fetcher **ret_f);
struct curlm;
/* fetcher_new() on the libcurl multi curlm (common/curlm.h; borrowed, it must outlive the
 * fetcher; the daemon's threaded one, curlm_new_threaded(): the transfers then run on its
 * worker thread, the callbacks below still on loop). curlm NULL: the fetcher makes and
 * owns its own on loop, as fetcher_new() does. Returns 0 or -ENOMEM. */
int fetcher_new_on(struct loop *loop, struct curlm *curlm, const struct cfg_resolver *cfg,
                   struct fetcher **ret_f);
/* Cancels every pending fetch (callbacks run with -ECANCELED). Returns NULL. */
struct fetcher *fetcher_free(struct fetcher *f);

struct dns_client;
/* Resolve policy hosts (A and AAAA of mta-sts.<domain>) with dns (borrowed; it must outlive
 * the fetches, or be replaced by NULL first) and hand the addresses to libcurl
 * (CURLOPT_RESOLVE): the TLS name and the certificate checks stay mta-sts.<domain>. Without
 * it (NULL, the default) libcurl resolves through the system resolver. resolver.connect_to
 * (test lab) overrides both. Lookups count against fetch_timeout. */
void fetcher_use_dns(struct fetcher *f, struct dns_client *dns);

/* Fetch the policy of domain (normalised A-label Policy Domain). Requests beyond
 * fetch_concurrency wait in a FIFO queue. Returns the handle (valid until done() runs), or
 * NULL when domain cannot form the URL or the fetcher is being freed (done() is then never
 * called). done() never runs from inside this call. */
struct fetch_req *fetch_start(struct fetcher *f, const char *domain, fetch_done_fn *done,
                              void *arg);
/* done() runs at once with -ECANCELED (queued, running or finished-but-not-reported). */
void fetch_cancel(struct fetch_req *rq);

/* The Content-Type rule: "text/plain" in any case, optional WSP, then end or ";"
 * parameters (ignored, charset included). NULL or "" -> 0. */
int fetch_content_type_ok(const char *ct);

/* What the header lines of one response said so far (fetch_header_line(); no I/O). */
struct fetch_headers {
	char content_type[128]; /* the last Content-Type as received, cut ("..."), every
	                         * byte outside 0x20..0x7e shown as '?' (log_printable());
	                         * "" when none */
	int content_type_ok;    /* that value, whole, passes fetch_content_type_ok() */
	long content_length;    /* -1 when absent; max_body + 1 when not 1*DIGIT or larger */
};

enum {
	FETCH_HEADER_FIELD = 0, /* a header field (or any other line): h updated, go on */
	FETCH_HEADER_STATUS,    /* a status line "HTTP/...": a new header block, h reset */
	FETCH_HEADER_END,       /* the empty line that ends a header block */
};

/* One line of a response header block as libcurl's CURLOPT_HEADERFUNCTION hands it over:
 * len bytes at line, CRLF included, NOT NUL-terminated (no byte past len is read). Updates
 * h from Content-Type and Content-Length (RFC 9110 sections 8.3 and 8.6; the last one
 * wins), resets it on a status line. Returns FETCH_HEADER_*. */
int fetch_header_line(struct fetch_headers *h, const char *line, size_t len, size_t max_body);
/* The checks at the end of the final header block (RFC 8461 section 3.3), before any body
 * byte is read: status 200 (3xx: ERR_FETCH_REDIRECT, never followed; else ERR_FETCH_HTTP),
 * Content-Type text/plain (ERR_FETCH_CONTENT_TYPE), Content-Length at most max_body bytes
 * (ERR_FETCH_TOO_LARGE). Returns 0 or that error, with a one-line reason in detail (the
 * Content-Type refused is quoted from h, printable). */
int fetch_headers_check(const struct fetch_headers *h, long http_status, size_t max_body,
                        char *detail, size_t detail_len);

#endif
