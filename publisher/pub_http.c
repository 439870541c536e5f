/*
 * publisher/pub_http.c - libmicrohttpd access handlers of the publisher
 *
 * Interface: pub_http_policy_access() (HTTPS listeners), pub_http_plain_access() (port 80),
 *            pub_http_host_name()
 * Rules:     RFC 8461 section 3.3: GET /.well-known/mta-sts.txt on mta-sts.<domain> -> 200
 *            text/plain with the canonical policy; HEAD gets the same headers. Other paths
 *            and unknown hosts 404, other methods 405 with Allow. Port 80: 301 to https,
 *            except /.well-known/acme-challenge/<token> (RFC 8555 section 8.3), served from
 *            the webroot, token [A-Za-z0-9_-]+ only. Both listeners: 400 for an HTTP/1.1
 *            request without Host, two Host headers, control characters or a NUL in Host,
 *            whitespace before a field name's colon, or a folded field (RFC 9112 sections
 *            3.2, 5.1 and 5.2).
 * Threads:   runs in the MHD threads; reads the current snapshot through
 *            pub_snap_acquire()/pub_snap_unref() and writes only atomic counters.
 * Ownership: responses copy what they send; nothing outlives a handler call (the
 *            per-connection state is common/httpd.c's).
 * Errors:    every failure becomes an HTTP status; nothing is logged per request.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pub_int.h"

#define HTTP_POLICY_PATH "/.well-known/mta-sts.txt"
#define HTTP_ACME_PREFIX "/.well-known/acme-challenge/"
#define HTTP_ALLOW       "GET, HEAD"

static const char http_body_404[] = "not found\n";
static const char http_body_405[] = "method not allowed\n";
static const char http_body_400[] = "bad request\n";
static const char http_body_414[] = "uri too long\n";
static const char http_body_301[] = "moved permanently\n";
static const char http_body_413[] = "request body not allowed\n";

/* *req_ctx of a request whose first handler call has been seen, and of a request whose
 * body arrived although its headers announced none (answered 413 once it is complete).
 * Pointer-sized and NULL: pub_tlsrpt_is_upload() reads a pointer at *req_ctx. */
static const void *http_seen;
static const void *http_body;

static enum MHD_Result
http_reply(struct MHD_Connection *conn, unsigned status, const char *body, size_t len,
           const char *hdr, const char *value, const char *hdr2, const char *value2)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain") != MHD_YES)
		goto fail;
	if (hdr != NULL && MHD_add_response_header(resp, hdr, value) != MHD_YES)
		goto fail;
	if (hdr2 != NULL && MHD_add_response_header(resp, hdr2, value2) != MHD_YES)
		goto fail;
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
fail:
	MHD_destroy_response(resp);
	return MHD_NO;
}

static int
http_method_ok(const char *method)
{
	return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	       strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* 1 when the headers announce a request body: Transfer-Encoding (any), or a Content-Length
 * other than 0 (RFC 9112 section 6.3). */
static int
http_has_body(struct MHD_Connection *conn)
{
	const char *cl;

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) !=
	    NULL)
		return 1;
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl == NULL)
		return 0;
	while (*cl == '0')
		cl++;
	return *cl != '\0';
}

enum http_phase {
	HTTP_WAIT,   /* return MHD_YES and wait for the rest of the request */
	HTTP_ANSWER, /* answer now */
	HTTP_BODY,   /* a GET or HEAD with a body: refuse it with 413 now */
};

/*
 * libmicrohttpd 0.9.75 calls the handler once when the headers are in (the "first call"),
 * then once per piece of body (*upload_data_size != 0), then once more when the request is
 * complete (*upload_data_size == 0).
 * - A response queued on the first call is sent at once and the connection is closed, the
 *   body (if any) unread. So methods other than GET and HEAD are answered there (405), and
 *   so is a GET or HEAD whose headers announce a body (413).
 * - A response cannot be queued while the body is being read: MHD_queue_response() fails
 *   and the connection is closed with no reply at all. So body pieces are only discarded.
 * - GET and HEAD without a body wait for the final call, which keeps the connection alive.
 *   Should a body arrive anyway, the final call answers 413.
 */
static enum http_phase
http_phase(struct MHD_Connection *conn, const char *method, size_t *upload_data_size,
           void **req_ctx)
{
	if (*req_ctx == NULL) {
		*req_ctx = &http_seen;
		if (!http_method_ok(method))
			return HTTP_ANSWER;
		return http_has_body(conn) ? HTTP_BODY : HTTP_WAIT;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		*req_ctx = &http_body;
		return HTTP_WAIT;
	}
	return *req_ctx == &http_body ? HTTP_BODY : HTTP_ANSWER;
}

struct http_host_scan {
	unsigned n;            /* Host headers seen */
	int bad;               /* a Host value with a NUL or another control character, or a
	                        * field name with whitespace in it */
	const char *host;      /* the (last) Host value */
	const char *host_key;  /* its name, where its line starts */
	const char *next_key;  /* second pass: the header line after the Host line, if any */
	const char *block;     /* the header block in libmicrohttpd's read buffer: from the */
	const char *block_end; /* request line to the end of the empty line */
};

static int
http_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Every header field: a name with SP or HTAB in it ("Host : x", which libmicrohttpd 0.9.75
 * hands over as the name "Host ") is refused (RFC 9112 section 5.1: 400). Host fields are
 * counted and their values checked for control characters; trailing OWS (RFC 9110 section
 * 5.5) is not part of the value, and libmicrohttpd has already removed the leading OWS. */
static enum MHD_Result
http_host_scan_one(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                   const char *value, size_t value_size)
{
	struct http_host_scan *h = cls;
	size_t i, n;

	(void)kind;
	for (i = 0; i < key_size; i++)
		if (http_is_ows(key[i]))
			h->bad = 1;
	/* libmicrohttpd 0.9.75 copies the name of a folded field (obs-fold) out of its read
	 * buffer, with the continuation line glued to it: refused (RFC 9112 section 5.2). */
	if ((uintptr_t)key < (uintptr_t)h->block || (uintptr_t)key >= (uintptr_t)h->block_end)
		h->bad = 1;
	if (key_size != sizeof(MHD_HTTP_HEADER_HOST) - 1 ||
	    strncasecmp(key, MHD_HTTP_HEADER_HOST, key_size) != 0)
		return MHD_YES;
	h->n++;
	h->host = value;
	h->host_key = key;
	if (value == NULL || strlen(value) != value_size) {
		h->bad = 1;
		return MHD_YES;
	}
	for (n = value_size; n > 0 && http_is_ows(value[n - 1]); n--)
		;
	for (i = 0; i < n; i++)
		if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] == 0x7f)
			h->bad = 1;
	return MHD_YES;
}

static enum MHD_Result
http_host_next_key(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                   const char *value, size_t value_size)
{
	struct http_host_scan *h = cls;

	(void)kind;
	(void)key_size;
	(void)value;
	(void)value_size;
	if ((uintptr_t)key > (uintptr_t)h->host_key &&
	    (h->next_key == NULL || (uintptr_t)key < (uintptr_t)h->next_key))
		h->next_key = key;
	return MHD_YES;
}

/*
 * A NUL inside the Host value. libmicrohttpd 0.9.75 splits header lines at LF or CRLF (a
 * bare CR stays in the line), in place in its read buffer (each line terminator byte becomes
 * a NUL), and measures values
 * with strlen(): "Host: mta-sts.example.com<NUL>junk" reaches us as "mta-sts.example.com".
 * What lies between the end of the value and the next header line tells: the one or two
 * terminator bytes (CRLF, or a bare LF, RFC 9112 section 2.2), or more when the client
 * sent a NUL. When the Host line is the last one, the end of the header block
 * (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE, counted from the request line) bounds it
 * instead: only the line's terminator and the empty line's, at most 4 bytes, all of them
 * NULs by then; any other byte there is text after a NUL.
 * Not seen: NULs right before the line end that take no more room than a CRLF would
 * ("x<NUL><LF>" reads as "x<CR><LF>"); the value is then the bytes before them, and no text
 * follows them.
 */
static int
http_host_has_nul(struct MHD_Connection *conn, struct http_host_scan *h)
{
	const char *end = h->host + strlen(h->host), *p;

	if ((uintptr_t)end >= (uintptr_t)h->block_end)
		return 1;
	(void)MHD_get_connection_values_n(conn, MHD_HEADER_KIND, http_host_next_key, h);
	if (h->next_key == NULL || (uintptr_t)h->next_key <= (uintptr_t)end) {
		for (p = end; p < h->block_end; p++)
			if (*p != '\0')
				return 1;
		return h->block_end - end > 4;
	}
	return (uintptr_t)h->next_key - (uintptr_t)end > 2;
}

/* The Host header: 0 and *ret_host (NULL when there is none), or -1 when the request must
 * get 400 (RFC 9112 section 3.2): an HTTP/1.1 request without Host (HTTP/1.0 needs none:
 * *ret_host is then NULL), more than one Host header, or a value with a NUL or another
 * control character (RFC 9110 section 5.5); also any field name with whitespace before
 * its colon (RFC 9112 section 5.1) and any folded field (obs-fold, RFC 9112 section 5.2).
 * method and version are the request's ("GET", "HTTP/1.1"): method also tells where the
 * request line starts in libmicrohttpd's read buffer. libmicrohttpd 0.9.75 answers 505
 * itself to anything but HTTP/1.x. */
static int
http_host(struct MHD_Connection *conn, const char *method, const char *version,
          const char **ret_host)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	struct http_host_scan h = {.n = 0};

	/* method is where the request line starts in the read buffer */
	if (ci == NULL || ci->header_size == 0)
		return -1;
	h.block = method;
	h.block_end = method + ci->header_size;
	(void)MHD_get_connection_values_n(conn, MHD_HEADER_KIND, http_host_scan_one, &h);
	if (h.n > 1 || h.bad)
		return -1;
	if (h.n == 0 && (version == NULL || strcmp(version, MHD_HTTP_VERSION_1_0) != 0))
		return -1;
	if (h.host != NULL && http_host_has_nul(conn, &h))
		return -1;
	*ret_host = h.host;
	return 0;
}

static enum MHD_Result
http_bad_request(struct MHD_Connection *conn)
{
	return http_reply(conn, MHD_HTTP_BAD_REQUEST, http_body_400, sizeof(http_body_400) - 1,
	                  NULL, NULL, NULL, NULL);
}

static enum MHD_Result
http_body_refused(struct MHD_Connection *conn)
{
	return http_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, http_body_413,
	                  sizeof(http_body_413) - 1, MHD_HTTP_HEADER_CONNECTION, "close", NULL,
	                  NULL);
}

size_t
pub_http_host_name(const char *host, const char **ret_name)
{
	const char *end, *p, *rb;
	size_t len;

	if (host == NULL)
		return 0;
	/* Trailing OWS is not part of the value (RFC 9110 section 5.5); libmicrohttpd 0.9.75
	 * strips the leading OWS but keeps the trailing. */
	end = host + strlen(host);
	while (end > host && http_is_ows(end[-1]))
		end--;
	if (host[0] == '[') {
		/* IPv6 literal: "[2001:db8::1]" with an optional ":port". */
		rb = memchr(host, ']', (size_t)(end - host));
		if (rb == NULL || rb == host + 1)
			return 0;
		for (p = host + 1; p < rb; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return 0;
		p = rb + 1;
		len = (size_t)(p - host);
	} else {
		for (p = host; p < end && *p != ':'; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
				return 0;
		len = (size_t)(p - host);
		if (len > 1 && host[len - 1] == '.')
			len--;
	}
	if (p < end && *p == ':') {
		p++;
		if (p == end || end - p > 5)
			return 0;
		for (; p < end; p++)
			if (!isdigit((unsigned char)*p))
				return 0;
	} else if (p != end) {
		return 0;
	}
	if (len == 0 || len > DOMAIN_NAME_MAX || host[0] == '.')
		return 0;
	*ret_name = host;
	return len;
}

static enum MHD_Result
http_not_found(struct pub *pub, struct MHD_Connection *conn)
{
	atomic_fetch_add(&pub->n_not_found, 1);
	return http_reply(conn, MHD_HTTP_NOT_FOUND, http_body_404, sizeof(http_body_404) - 1, NULL,
	                  NULL, NULL, NULL);
}

static enum MHD_Result
http_not_allowed(struct MHD_Connection *conn)
{
	return http_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, http_body_405,
	                  sizeof(http_body_405) - 1, MHD_HTTP_HEADER_ALLOW, HTTP_ALLOW, NULL, NULL);
}

unsigned
pub_http_route(const struct pub_snap *s, const char *host, const char *method, const char *url,
               const struct pub_dom **ret_dom)
{
	const struct pub_dom *d = NULL;
	const char *name = NULL;
	size_t len = host != NULL ? pub_http_host_name(host, &name) : 0;

	*ret_dom = NULL;
	if (len > 0)
		d = pub_snap_find_host(s, name, len);
	if (d == NULL)
		return MHD_HTTP_NOT_FOUND;
	if (!http_method_ok(method))
		return MHD_HTTP_METHOD_NOT_ALLOWED;
	if (strcmp(url, HTTP_POLICY_PATH) != 0)
		return MHD_HTTP_NOT_FOUND;
	*ret_dom = d;
	return MHD_HTTP_OK;
}

enum MHD_Result
pub_http_policy_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                       const char *version, const char *upload_data, size_t *upload_data_size,
                       void **req_ctx)
{
	struct pub *pub = cls;
	const struct pub_dom *d;
	struct pub_snap *s;
	const char *host = NULL;
	enum MHD_Result ret;

	if (pub_tlsrpt_is_upload(*req_ctx) ||
	    (*req_ctx == NULL && strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
	     pub_tlsrpt_path(url))) {
		if (*req_ctx == NULL) {
			atomic_fetch_add(&pub->n_requests, 1);
			if (http_host(conn, method, version, &host) < 0)
				return http_bad_request(conn);
		}
		return pub_tlsrpt_access(pub, conn, host, upload_data, upload_data_size, req_ctx);
	}
	switch (http_phase(conn, method, upload_data_size, req_ctx)) {
	case HTTP_WAIT:
		return MHD_YES;
	case HTTP_BODY:
		atomic_fetch_add(&pub->n_requests, 1);
		return http_body_refused(conn);
	default:
		break;
	}
	atomic_fetch_add(&pub->n_requests, 1);
	if (http_host(conn, method, version, &host) < 0)
		return http_bad_request(conn);
	s = pub_snap_acquire(pub);
	switch (pub_http_route(s, host, method, url, &d)) {
	case MHD_HTTP_OK:
		if (d->held) { /* pub_release_held(): the rollout's step is not known yet */
			static const char held[] = "policy not ready, try again shortly\n";

			ret = http_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, held, sizeof(held) - 1,
			                 MHD_HTTP_HEADER_RETRY_AFTER, "5", NULL, NULL);
			break;
		}
		atomic_fetch_add(&pub->n_policy_served, 1);
		ret = http_reply(conn, MHD_HTTP_OK, d->body, d->body_len,
		                 MHD_HTTP_HEADER_CACHE_CONTROL, s->cache_control, NULL, NULL);
		break;
	case MHD_HTTP_METHOD_NOT_ALLOWED:
		ret = http_not_allowed(conn);
		break;
	default:
		ret = http_not_found(pub, conn);
		break;
	}
	pub_snap_unref(s);
	return ret;
}

/* ---- port 80 ---- */

static int
http_token_ok(const char *t)
{
	size_t n = 0;

	for (; *t != '\0'; t++, n++)
		if (!isalnum((unsigned char)*t) && *t != '-' && *t != '_')
			return 0;
	return n > 0 && n <= 255;
}

/* Read <webroot>/.well-known/acme-challenge/<token> without following symlinks at any of
 * the three steps below the webroot. Returns 0 and an owned buffer, or -errno. */
static int
http_acme_read(const char *webroot, const char *token, char **ret_data, size_t *ret_len)
{
	int dfd = -1, wfd = -1, cfd = -1, fd = -1, r;
	struct stat st;
	size_t got = 0;
	char *data = NULL;
	ssize_t n;

	dfd = open(webroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	wfd = openat(dfd, ".well-known", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (wfd < 0) {
		r = -errno;
		goto out;
	}
	cfd = openat(wfd, "acme-challenge", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (cfd < 0) {
		r = -errno;
		goto out;
	}
	fd = openat(cfd, token, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > PUB_ACME_FILE_MAX) {
		r = -EINVAL;
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*ret_data = data;
	*ret_len = got;
	data = NULL;
	r = 0;
out:
	free(data);
	if (fd >= 0)
		(void)close(fd);
	if (cfd >= 0)
		(void)close(cfd);
	if (wfd >= 0)
		(void)close(wfd);
	(void)close(dfd);
	return r;
}

static enum MHD_Result
http_acme(struct pub *pub, struct MHD_Connection *conn, const char *method,
          const struct pub_snap *s, const char *token)
{
	enum MHD_Result ret;
	char *data = NULL;
	size_t len = 0;

	if (!http_token_ok(token))
		return http_not_found(pub, conn);
	if (!http_method_ok(method))
		return http_not_allowed(conn);
	if (http_acme_read(s->acme_webroot, token, &data, &len) < 0)
		return http_not_found(pub, conn);
	atomic_fetch_add(&pub->n_acme_served, 1);
	ret = http_reply(conn, MHD_HTTP_OK, data, len, NULL, NULL, NULL, NULL);
	free(data);
	return ret;
}

static void
http_loc_put(struct pub_http_loc *l, const char *s, size_t n)
{
	if (l->overflow || n >= sizeof(l->buf) - l->len) {
		l->overflow = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

/* Percent-encode everything but RFC 3986 unreserved characters (and '/' when keep_slash). */
static void
http_loc_encode(struct pub_http_loc *l, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3];
	unsigned char c;

	for (; *s != '\0' && !l->overflow; s++) {
		c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
		    (keep_slash && c == '/')) {
			http_loc_put(l, s, 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 15];
		http_loc_put(l, esc, 3);
	}
}

void
pub_http_loc_arg(struct pub_http_loc *l, const char *key, const char *value)
{
	http_loc_put(l, l->n_args++ == 0 ? "?" : "&", 1);
	http_loc_encode(l, key, 0);
	if (value != NULL) {
		http_loc_put(l, "=", 1);
		http_loc_encode(l, value, 0);
	}
}

int
pub_http_loc_start(struct pub_http_loc *l, const char *host, const char *url)
{
	const char *name = NULL;
	size_t len;

	memset(l, 0, sizeof(*l));
	len = pub_http_host_name(host, &name);
	if (len == 0 || url == NULL || url[0] != '/')
		return -1;
	http_loc_put(l, "https://", 8);
	http_loc_put(l, name, len);
	http_loc_encode(l, url, 1);
	return 0;
}

static enum MHD_Result
http_loc_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct pub_http_loc *l = cls;

	(void)kind;
	pub_http_loc_arg(l, key, value);
	return l->overflow ? MHD_NO : MHD_YES;
}

static enum MHD_Result
http_redirect(struct pub *pub, struct MHD_Connection *conn, const char *url, const char *host)
{
	struct pub_http_loc l;

	if (pub_http_loc_start(&l, host, url) < 0)
		return http_bad_request(conn);
	(void)MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, http_loc_arg, &l);
	if (l.overflow)
		return http_reply(conn, MHD_HTTP_URI_TOO_LONG, http_body_414,
		                  sizeof(http_body_414) - 1, NULL, NULL, NULL, NULL);
	atomic_fetch_add(&pub->n_redirects, 1);
	return http_reply(conn, MHD_HTTP_MOVED_PERMANENTLY, http_body_301,
	                  sizeof(http_body_301) - 1, MHD_HTTP_HEADER_LOCATION, l.buf, NULL, NULL);
}

enum MHD_Result
pub_http_plain_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                      const char *version, const char *upload_data, size_t *upload_data_size,
                      void **req_ctx)
{
	struct pub *pub = cls;
	struct pub_snap *s;
	const char *host = NULL;
	enum MHD_Result ret;

	if (pub_tlsrpt_is_upload(*req_ctx) ||
	    (*req_ctx == NULL && strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
	     pub_tlsrpt_path(url))) {
		if (*req_ctx == NULL) {
			atomic_fetch_add(&pub->n_requests, 1);
			if (http_host(conn, method, version, &host) < 0)
				return http_bad_request(conn);
		}
		return pub_tlsrpt_access(pub, conn, host, upload_data, upload_data_size, req_ctx);
	}
	switch (http_phase(conn, method, upload_data_size, req_ctx)) {
	case HTTP_WAIT:
		return MHD_YES;
	case HTTP_BODY:
		atomic_fetch_add(&pub->n_requests, 1);
		return http_body_refused(conn);
	default:
		break;
	}
	atomic_fetch_add(&pub->n_requests, 1);
	if (http_host(conn, method, version, &host) < 0)
		return http_bad_request(conn);
	if (strncmp(url, HTTP_ACME_PREFIX, sizeof(HTTP_ACME_PREFIX) - 1) == 0 &&
	    http_method_ok(method)) {
		char ka[PUB_ACME_KEYAUTHZ_MAX + 1];
		int n = pub_acme_token_get(pub, url + sizeof(HTTP_ACME_PREFIX) - 1, ka, sizeof(ka));

		if (n >= 0) {
			atomic_fetch_add(&pub->n_acme_served, 1);
			return http_reply(conn, MHD_HTTP_OK, ka, (size_t)n, NULL, NULL, NULL, NULL);
		}
	}
	s = pub_snap_acquire(pub);
	if (s->acme_webroot != NULL &&
	    strncmp(url, HTTP_ACME_PREFIX, sizeof(HTTP_ACME_PREFIX) - 1) == 0)
		ret = http_acme(pub, conn, method, s, url + sizeof(HTTP_ACME_PREFIX) - 1);
	else
		ret = http_redirect(pub, conn, url, host);
	pub_snap_unref(s);
	return ret;
}
