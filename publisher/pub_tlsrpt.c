/*
 * publisher/pub_tlsrpt.c - the HTTPS TLSRPT receiver on the publisher's listeners
 *
 * Interface: pub_set_tlsrpt() (pub.h); pub_tlsrpt_access(), pub_tlsrpt_completed(),
 *            pub_tlsrpt_is_upload(), pub_tlsrpt_path(), pub_tlsrpt_free() (pub_int.h)
 * Rules:     RFC 8460 section 3 (https rua) and 5.2: POST PUB_TLSRPT_PATH (or /tlsrpt) on
 *            mta-sts.<published domain>, Content-Type application/tlsrpt+gzip or
 *            application/tlsrpt+json. Checked on the first call, each answered at once
 *            with the body unread: receiving off 405, Host not published 404, another
 *            Content-Type 415, Content-Length over tlsrpt.max_body 413, the address over
 *            tlsrpt.rate_per_address reports in the hour 429, tlsrpt.max_uploads uploads
 *            in progress 503 (both with Retry-After), unless one of them is slow (under
 *            tlsrpt.min_upload_rate past PUB_TLSRPT_UPLOAD_GRACE_MS): that one is closed
 *            (its socket shut down) and the new upload takes its slot; a slow upload is
 *            closed at its next byte too. The body (Content-Length or chunked)
 *            is kept up to tlsrpt.max_body; one byte more and the connection is closed
 *            (libmicrohttpd cannot answer in the middle of a body), nothing stored. The
 *            complete body goes to the daemon's hook (pub_tlsrpt_fn), which stores it and
 *            gives the status: 2xx only once stored.
 * Threads:   the MHD threads; the rate table, the hook pointer and the list of uploads
 *            holding a slot under tlsrpt_lock, counters atomic. An upload leaves the list
 *            (under the lock) before libmicrohttpd closes its socket, so a shutdown(2) of
 *            an upload in the list never hits a reused descriptor.
 * Ownership: an upload (its buffer) is the request's *req_ctx, freed by the completed hook.
 * Errors:    every refusal is an HTTP status; nothing is logged per request (the hook logs
 *            what it stored or refused), but slow uploads closed (one line per
 *            PUB_TLSRPT_SLOW_LOG_MS at most).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "keyhash.h"
#include "mtasts_limits.h"
#include "pub_int.h"
#include "xalloc.h"

#define PUB_TLSRPT_PATH_SHORT "/tlsrpt"
/* Retry-After of 429 and 503 (seconds). */
#define PUB_TLSRPT_RETRY_BUSY "60"
#define PUB_TLSRPT_RETRY_RATE "3600"
/* At most one "slow upload closed" line per this many ms. */
#define PUB_TLSRPT_SLOW_LOG_MS 10000

/* One upload in progress: the request's *req_ctx. */
struct pub_upload {
	const void *tag; /* &pub_upload_tag */
	char *buf;
	size_t len, cap, max;
	char peer[INET6_ADDRSTRLEN];
	/* its slot (tlsrpt_uploads, tlsrpt_up_list): link and in_list under tlsrpt_lock */
	LIST_ENTRY(pub_upload) link;
	int in_list;
	int fd;             /* the connection's socket, -1 unknown */
	uint64_t start_ms;  /* CLOCK_MONOTONIC, at the headers */
	size_t min_rate;    /* tlsrpt.min_upload_rate, bytes/s, 0 = off */
	atomic_size_t got;  /* body bytes received so far */
	atomic_int evicted; /* its slot was given away: close at the next call */
	atomic_int whole;   /* the body is complete (being stored): never slow */
};
static const char pub_upload_tag = 'U';

int
pub_tlsrpt_is_upload(void *req_ctx)
{
	return req_ctx != NULL && *(const void **)req_ctx == &pub_upload_tag;
}

int
pub_tlsrpt_path(const char *url)
{
	return strcmp(url, PUB_TLSRPT_PATH) == 0 || strcmp(url, PUB_TLSRPT_PATH_SHORT) == 0;
}

void
pub_set_tlsrpt(struct pub *pub, pub_tlsrpt_fn *fn, void *arg)
{
	(void)pthread_mutex_lock(&pub->tlsrpt_lock);
	pub->tlsrpt_fn = fn;
	pub->tlsrpt_arg = arg;
	(void)pthread_mutex_unlock(&pub->tlsrpt_lock);
}

void
pub_tlsrpt_free(struct pub *pub)
{
	free(pub->tlsrpt_rates);
	pub->tlsrpt_rates = NULL;
	(void)pthread_mutex_destroy(&pub->tlsrpt_lock);
}

static enum MHD_Result
pub_tlsrpt_reply(struct MHD_Connection *conn, unsigned status, const char *text,
                 const char *retry_after)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char body[600];
	int n;

	n = snprintf(body, sizeof(body), "%s\n", text);
	if (n < 0)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain") != MHD_YES ||
	    (retry_after != NULL &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after) != MHD_YES) ||
	    (status >= 400 && status != 400 &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The client's address as text, and its rate key (an IPv6 address by its /64). */
static void
pub_tlsrpt_peer(struct MHD_Connection *conn, char *buf, size_t len, uint64_t *ret_key)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const unsigned char *b = NULL;
	uint64_t h;
	size_t n = 0;

	(void)snprintf(buf, len, "?");
	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

			(void)inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)len);
			b = (const unsigned char *)&s4->sin_addr;
			n = 4;
		} else if (sa->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s6 =
			        (const struct sockaddr_in6 *)(const void *)sa;

			(void)inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)len);
			b = (const unsigned char *)&s6->sin6_addr;
			n = 8;
		}
	}
	/* Keyed (keyhash.h): a client cannot pick addresses that share a set of the table. */
	h = keyhash(b != NULL ? b : (const unsigned char *)"", n);
	*ret_key = h == 0 ? 1 : h;
}

int
pub_tlsrpt_rate_count(struct pub_tlsrpt_rate *table, uint64_t key, uint64_t window, unsigned rate)
{
	struct pub_tlsrpt_rate *set, *e = NULL, *old = NULL, *lru = NULL;
	uint64_t top = 0;
	size_t i;

	if (rate == 0)
		return 0;
	set = &table[(key % (PUB_TLSRPT_RATE_SLOTS / PUB_TLSRPT_RATE_WAYS)) * PUB_TLSRPT_RATE_WAYS];
	for (i = 0; i < PUB_TLSRPT_RATE_WAYS; i++) {
		struct pub_tlsrpt_rate *r = &set[i];

		if (r->seen > top)
			top = r->seen;
		if (r->key == key && r->key != 0)
			e = r;
		else if (old == NULL && (r->key == 0 || r->window != window))
			old = r; /* free, or counting a past window: nobody's count now */
		else if (r->key != 0 && (lru == NULL || r->seen < lru->seen))
			lru = r;
	}
	if (e == NULL && old != NULL) {
		e = old;
		e->n = 0;
	} else if (e == NULL) {
		e = lru; /* every entry busy in this window: take over the count too */
	}
	if (e->key != key || e->window != window) {
		if (e->window != window)
			e->n = 0;
		e->key = key;
		e->window = window;
	}
	e->seen = top + 1;
	if (e->n >= rate)
		return -1;
	e->n++;
	return 0;
}

/* Count one report of key in the current window; 0 when within rate, -1 over it. */
static int
pub_tlsrpt_rate(struct pub *pub, uint64_t key, unsigned rate)
{
	uint64_t window = (uint64_t)time(NULL) / PUB_TLSRPT_RATE_WINDOW_S;
	int r;

	if (rate == 0)
		return 0;
	(void)pthread_mutex_lock(&pub->tlsrpt_lock);
	if (pub->tlsrpt_rates == NULL)
		pub->tlsrpt_rates = xcalloc(PUB_TLSRPT_RATE_SLOTS, sizeof(*pub->tlsrpt_rates));
	r = pub_tlsrpt_rate_count(pub->tlsrpt_rates, key, window, rate);
	(void)pthread_mutex_unlock(&pub->tlsrpt_lock);
	return r;
}

/* application/tlsrpt+gzip or application/tlsrpt+json, parameters allowed. */
static int
pub_tlsrpt_type_ok(const char *ct)
{
	static const char *const types[] = {"application/tlsrpt+gzip", "application/tlsrpt+json"};
	size_t i, n;

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	for (i = 0; i < 2; i++) {
		n = strlen(types[i]);
		if (strncasecmp(ct, types[i], n) == 0 &&
		    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t'))
			return 1;
	}
	return 0;
}

/* Content-Length over max (a value that does not parse is left to libmicrohttpd). */
static int
pub_tlsrpt_length_over(struct MHD_Connection *conn, size_t max)
{
	const char *cl =
	        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long v = 0;

	if (cl == NULL)
		return 0;
	for (; *cl >= '0' && *cl <= '9'; cl++) {
		if (v > (unsigned long long)max)
			return 1;
		v = v * 10 + (unsigned long long)(*cl - '0');
	}
	return v > (unsigned long long)max;
}

static uint64_t
pub_tlsrpt_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether up has fallen under its minimum rate at now_ms: past the grace, fewer than
 * min_rate bytes for each second after it. */
static int
pub_tlsrpt_slow(const struct pub_upload *up, uint64_t now_ms)
{
	uint64_t after;

	if (up->min_rate == 0 || atomic_load(&up->whole) ||
	    now_ms < up->start_ms + PUB_TLSRPT_UPLOAD_GRACE_MS)
		return 0;
	after = now_ms - up->start_ms - PUB_TLSRPT_UPLOAD_GRACE_MS;
	return (uint64_t)atomic_load(&up->got) * 1000 < (uint64_t)up->min_rate * after;
}

/* Give up's slot back (under tlsrpt_lock); a no-op when it holds none. */
static void
pub_tlsrpt_release_locked(struct pub *pub, struct pub_upload *up)
{
	if (!up->in_list)
		return;
	LIST_REMOVE(up, link);
	up->in_list = 0;
	atomic_fetch_sub(&pub->tlsrpt_uploads, 1);
}

/* A slow upload loses its slot (under tlsrpt_lock): counted, logged at most once per
 * PUB_TLSRPT_SLOW_LOG_MS. */
static void
pub_tlsrpt_slow_locked(struct pub *pub, struct pub_upload *up, uint64_t now_ms, const char *what)
{
	uint64_t held;

	pub_tlsrpt_release_locked(pub, up);
	atomic_store(&up->evicted, 1);
	atomic_fetch_add(&pub->n_tlsrpt_slow, 1);
	if (log_rate_due(&pub->tlsrpt_slow_log, now_ms, PUB_TLSRPT_SLOW_LOG_MS, &held))
		log_info("tlsrpt: upload from %s %s: %zu bytes in %llu ms, under "
		         "tlsrpt.min_upload_rate (%zu bytes/s)%s",
		         up->peer, what, atomic_load(&up->got),
		         (unsigned long long)(now_ms - up->start_ms), up->min_rate,
		         held > 0 ? " (and others)" : "");
}

/* Take a slot for up (its fields set): a free one, or the one of a slow upload, whose
 * socket is shut down (its connection then ends, and its completed hook finds it out of
 * the list). Returns 0, or -1 when all max_up are held by uploads keeping their rate. */
static int
pub_tlsrpt_take_slot(struct pub *pub, struct pub_upload *up, unsigned max_up)
{
	struct pub_upload *o;
	uint64_t now = pub_tlsrpt_now_ms();
	int r = 0;

	(void)pthread_mutex_lock(&pub->tlsrpt_lock);
	if (atomic_load(&pub->tlsrpt_uploads) >= max_up) {
		o = LIST_FIRST(&pub->tlsrpt_up_list);
		while (o != NULL && !pub_tlsrpt_slow(o, now))
			o = LIST_NEXT(o, link);
		if (o != NULL) {
			pub_tlsrpt_slow_locked(pub, o, now, "closed for a new one");
			if (o->fd >= 0)
				(void)shutdown(o->fd, SHUT_RDWR);
		}
	}
	if (atomic_load(&pub->tlsrpt_uploads) >= max_up) {
		r = -1;
	} else {
		LIST_INSERT_HEAD(&pub->tlsrpt_up_list, up, link);
		up->in_list = 1;
		atomic_fetch_add(&pub->tlsrpt_uploads, 1);
	}
	(void)pthread_mutex_unlock(&pub->tlsrpt_lock);
	return r;
}

/* The first call: every check on the headers; an upload in *req_ctx, or an answer. */
static enum MHD_Result
pub_tlsrpt_first(struct pub *pub, struct MHD_Connection *conn, const char *host, void **req_ctx)
{
	struct pub_upload *up;
	struct pub_snap *s = pub_snap_acquire(pub);
	const char *name = NULL;
	size_t len = host != NULL ? pub_http_host_name(host, &name) : 0;
	int receive = s->tlsrpt_receive, found = len > 0 && pub_snap_find_host(s, name, len);
	size_t max_body = s->tlsrpt_max_body, min_rate = s->tlsrpt_min_rate;
	const union MHD_ConnectionInfo *ci;
	unsigned rate = s->tlsrpt_rate, max_up = s->tlsrpt_max_uploads;
	uint64_t key;
	char peer[INET6_ADDRSTRLEN];

	pub_snap_unref(s);
	if (!receive) {
		struct MHD_Response *resp =
		        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		if (resp == NULL)
			return MHD_NO;
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	atomic_fetch_add(&pub->n_tlsrpt_posts, 1);
	if (!found) {
		atomic_fetch_add(&pub->n_not_found, 1);
		return pub_tlsrpt_reply(conn, MHD_HTTP_NOT_FOUND,
		                        "not found: this host publishes no MTA-STS policy", NULL);
	}
	if (!pub_tlsrpt_type_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                                    MHD_HTTP_HEADER_CONTENT_TYPE)))
		return pub_tlsrpt_reply(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		                        "unsupported media type: application/tlsrpt+gzip or "
		                        "application/tlsrpt+json (RFC 8460 section 5.3)",
		                        NULL);
	if (pub_tlsrpt_length_over(conn, max_body)) {
		atomic_fetch_add(&pub->n_tlsrpt_too_large, 1);
		return pub_tlsrpt_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "report too large", NULL);
	}
	pub_tlsrpt_peer(conn, peer, sizeof(peer), &key);
	if (pub_tlsrpt_rate(pub, key, rate) < 0) {
		atomic_fetch_add(&pub->n_tlsrpt_rate_limited, 1);
		return pub_tlsrpt_reply(conn, MHD_HTTP_TOO_MANY_REQUESTS,
		                        "too many reports from this address",
		                        PUB_TLSRPT_RETRY_RATE);
	}
	up = xcalloc(1, sizeof(*up));
	up->tag = &pub_upload_tag;
	up->max = max_body;
	(void)snprintf(up->peer, sizeof(up->peer), "%s", peer);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	up->fd = ci != NULL ? ci->connect_fd : -1;
	up->start_ms = pub_tlsrpt_now_ms();
	up->min_rate = min_rate;
	if (pub_tlsrpt_take_slot(pub, up, max_up) < 0) {
		free(up);
		atomic_fetch_add(&pub->n_tlsrpt_busy, 1);
		return pub_tlsrpt_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "busy, try again later",
		                        PUB_TLSRPT_RETRY_BUSY);
	}
	*req_ctx = up;
	return MHD_YES;
}

enum MHD_Result
pub_tlsrpt_access(struct pub *pub, struct MHD_Connection *conn, const char *host,
                  const char *upload_data, size_t *upload_data_size, void **req_ctx)
{
	struct pub_upload *up = *req_ctx;
	pub_tlsrpt_fn *fn;
	unsigned status;
	char msg[512];
	void *arg;

	if (up == NULL)
		return pub_tlsrpt_first(pub, conn, host, req_ctx);
	if (atomic_load(&up->evicted))
		return MHD_NO; /* its slot went to another upload: close */
	if (*upload_data_size != 0) {
		uint64_t now = pub_tlsrpt_now_ms();

		if (pub_tlsrpt_slow(up, now)) {
			(void)pthread_mutex_lock(&pub->tlsrpt_lock);
			pub_tlsrpt_slow_locked(pub, up, now, "closed");
			(void)pthread_mutex_unlock(&pub->tlsrpt_lock);
			return MHD_NO;
		}
		if (*upload_data_size > up->max - up->len) {
			/* over tlsrpt.max_body (chunked, or a Content-Length that lied): close,
			 * nothing stored; no answer can be queued in the middle of a body */
			atomic_fetch_add(&pub->n_tlsrpt_too_large, 1);
			return MHD_NO;
		}
		if (up->len + *upload_data_size > up->cap) {
			size_t cap = up->cap > 0 ? up->cap : 16384;

			while (cap < up->len + *upload_data_size)
				cap *= 2;
			if (cap > up->max)
				cap = up->max;
			up->buf = xrealloc(up->buf, cap);
			up->cap = cap;
		}
		memcpy(up->buf + up->len, upload_data, *upload_data_size);
		up->len += *upload_data_size;
		atomic_store(&up->got, up->len);
		*upload_data_size = 0;
		return MHD_YES;
	}
	atomic_store(&up->whole, 1);
	(void)pthread_mutex_lock(&pub->tlsrpt_lock);
	fn = pub->tlsrpt_fn;
	arg = pub->tlsrpt_arg;
	(void)pthread_mutex_unlock(&pub->tlsrpt_lock);
	if (fn == NULL)
		return pub_tlsrpt_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		                        "not receiving reports now", PUB_TLSRPT_RETRY_BUSY);
	if (up->len == 0)
		return pub_tlsrpt_reply(conn, MHD_HTTP_BAD_REQUEST, "empty report", NULL);
	status = fn(arg, up->buf, up->len, up->peer, msg, sizeof(msg));
	return pub_tlsrpt_reply(conn, status, msg,
	                        status == MHD_HTTP_SERVICE_UNAVAILABLE ? PUB_TLSRPT_RETRY_BUSY
	                                                               : NULL);
}

void
pub_tlsrpt_completed(void *arg, struct MHD_Connection *conn, void **req_ctx,
                     enum MHD_RequestTerminationCode toe)
{
	struct pub *pub = arg;
	struct pub_upload *up;

	(void)conn;
	(void)toe;
	if (req_ctx == NULL || !pub_tlsrpt_is_upload(*req_ctx))
		return;
	up = *req_ctx;
	*req_ctx = NULL;
	(void)pthread_mutex_lock(&pub->tlsrpt_lock);
	pub_tlsrpt_release_locked(pub, up);
	(void)pthread_mutex_unlock(&pub->tlsrpt_lock);
	free(up->buf);
	free(up);
}
