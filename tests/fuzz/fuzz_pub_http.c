/*
 * tests/fuzz/fuzz_pub_http.c - libFuzzer target for the publisher's whole request path
 *
 * Input:      the raw bytes a client sends: request line, header lines, body (at most
 *             FUZZ_HTTP_INPUT_MAX bytes; longer inputs are skipped).
 * Code:       libmicrohttpd 0.9.75's request parsing, then the publisher's handlers as they
 *             run on its listeners: http_host() (Host fields counted, control bytes and
 *             whitespace in field names refused, a NUL inside the Host value found from
 *             libmicrohttpd's read buffer, http_host_has_nul()), the body rule, routing,
 *             the policy reply and the port 80 redirect. Two harnesses
 *             (publisher/pub_harness.h: daemons without a listening socket or threads) serve
 *             a snapshot with two published domains: the HTTPS listeners' handler (on plain
 *             HTTP) and the port 80 handler. Each input goes to both over a socketpair(2):
 *             the bytes are written, the write side shut down, the other end given to
 *             MHD_add_connection(), and MHD_run() is turned (at most FUZZ_HTTP_RUNS times)
 *             while the reply is read up to EOF.
 * Invariants: once the client has closed its end, the connection is gone within
 *             FUZZ_HTTP_RUNS more turns (no hang, nothing left open). A reply, if any,
 *             starts with "HTTP/1.x NNN " with NNN one the publisher or libmicrohttpd
 *             sends, and its head has only known fields with printable values (no CR/LF
 *             injection). An oracle reads the raw bytes here as libmicrohttpd 0.9.75 splits
 *             them (a line ends at LF or CRLF; a line starting with a NUL, or with a colon
 *             after the first field, ends the head; leading OWS is not in a value). From it:
 *             two Host fields, a NUL or another control byte in the Host value (but NULs
 *             right before the line end that take no more room than CRLF, which the
 *             publisher cannot see), a folded field, or whitespace in a field name never
 *             get 200 or a redirect, nor does an HTTP/1.1 request without Host; a 200
 *             (HTTPS handler) is a GET or HEAD whose one Host names a published mta-sts host
 *             (":port", one trailing dot and trailing OWS aside, any case), and for GET its
 *             body is that domain's policy; a 301 (port 80) has exactly one Location,
 *             "https://" + that Host name + a path of unreserved characters, '/', '%XX',
 *             '?', '&' and '=' only; port 80 never answers 200 (no ACME webroot).
 *             FUZZ_PUB_HTTP_SHOW=1 in the environment prints the oracle and each reply.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "pub_harness.h"

/* A request head fits in PUB_CONN_MEMORY_MAX (16 KiB) or gets 431/414: a little more. */
#define FUZZ_HTTP_INPUT_MAX (20 * 1024)
/* MHD_run() turns per connection: a request is answered in a few. */
#define FUZZ_HTTP_RUNS 200
/* Reply bytes kept (replies are under 1 KiB; several pipelined requests may be answered). */
#define FUZZ_HTTP_REPLY_MAX (64 * 1024)

static char body_a[] = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: "
                       "86400\r\n";
static char body_b[] = "version: STSv1\r\nmode: testing\r\nmx: *.xn--bcher-kva.example\r\n"
                       "max_age: 604800\r\n";
static struct pub_dom doms[2] = {
        {.domain = "example.com",
         .host = "mta-sts.example.com",
         .body = body_a,
         .body_len = sizeof(body_a) - 1,
         .id = "20240101"},
        {.domain = "xn--bcher-kva.example",
         .host = "mta-sts.xn--bcher-kva.example",
         .body = body_b,
         .body_len = sizeof(body_b) - 1,
         .id = "b2"},
};
static struct pub_snap snap = {
        .refs = 1, .doms = doms, .n_doms = 2, .cache_control = "max-age=86400"};
static struct pub_harness *hs_https, *hs_plain;

static void
harness_stop(void)
{
	hs_https = pub_harness_free(hs_https);
	hs_plain = pub_harness_free(hs_plain);
}

/* ---- the oracle: what the raw bytes say, read apart from libmicrohttpd ---- */

struct oracle {
	unsigned n_host;     /* Host fields in the head */
	int host_bad;        /* a Host value (or its obs-fold lines) with a control byte or NUL */
	int host_folded;     /* a line continuing the Host field follows it */
	int folded;          /* any field folded (obs-fold) */
	int name_ws;         /* a field name with SP or HTAB in it */
	const uint8_t *host; /* the Host value, leading and trailing OWS removed */
	size_t host_len;
	const uint8_t *method; /* the request line's first word */
	size_t method_len;
	int http10; /* the request line ends in "HTTP/1.0" */
};

/* The next line of [*p, end): its bytes, length and terminator length. libmicrohttpd 0.9.75
 * ends a line at LF, or CRLF (a bare CR is part of the line). 0 when there is no complete
 * line left. */
static int
next_line(const uint8_t **p, const uint8_t *end, const uint8_t **ret, size_t *ret_len,
          size_t *ret_term)
{
	const uint8_t *s = *p, *q;

	q = memchr(s, '\n', (size_t)(end - s));
	if (q == NULL)
		return 0;
	*ret = s;
	*ret_len = (size_t)(q - s);
	*ret_term = 1;
	if (q > s && q[-1] == '\r') {
		(*ret_len)--;
		*ret_term = 2;
	}
	*p = q + 1;
	return 1;
}

static int
is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static int
is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/* Control bytes in a value: anything below 0x20 or 0x7f once the leading and trailing OWS
 * is gone, and a NUL anywhere. */
static int
value_bad(const uint8_t *v, size_t n)
{
	size_t i, m = n;

	for (i = 0; i < n; i++)
		if (v[i] == '\0')
			return 1;
	while (m > 0 && is_ows(v[m - 1]))
		m--;
	for (i = 0; i < m && is_ows(v[i]); i++)
		;
	for (; i < m; i++)
		if (is_ctl(v[i]))
			return 1;
	return 0;
}

/* The NULs that end a Host value without text after them, and that with the line's
 * terminator (and the empty line's, for the last field) take no more room than CRLF (CRLF
 * CRLF) would: libmicrohttpd's buffer then looks as without them, so the publisher cannot
 * see them (pub_http.c http_host_has_nul()). Their count, or 0. */
static size_t
hidden_nuls(const uint8_t *v, size_t n, size_t room)
{
	size_t k = 0;

	while (k < n && v[n - 1 - k] == '\0')
		k++;
	if (k == 0 || k > room || memchr(v, '\0', n - k) != NULL)
		return 0;
	return k;
}

static void
oracle_read(const uint8_t *data, size_t size, struct oracle *o)
{
	const uint8_t *p = data, *end = data + size, *line, *colon, *hv = NULL;
	size_t len, term, i, hv_len = 0, hv_term = 0, k, room, host_last = 0;
	int in_host = 0;
	unsigned n_fields = 0;

	memset(o, 0, sizeof(*o));
	/* the request line (empty lines before it skipped, RFC 9112 section 2.2; for
	 * libmicrohttpd 0.9.75 a line that starts with a NUL is empty) */
	do {
		if (!next_line(&p, end, &line, &len, &term))
			return;
	} while (len == 0 || line[0] == '\0');
	for (i = 0; i < len && line[i] != ' '; i++)
		;
	o->method = line;
	o->method_len = strnlen((const char *)line, i); /* the handler reads a C string */
	o->http10 = len >= 8 && memcmp(line + len - 8, "HTTP/1.0", 8) == 0;
	while (next_line(&p, end, &line, &len, &term)) {
		/* the end of the head: an empty line, or (libmicrohttpd 0.9.75) one that starts
		 * with a NUL, or with a colon after the first field (the first field may have
		 * an empty name); what follows is the next request */
		if (len == 0 || line[0] == '\0' || (line[0] == ':' && n_fields > 0)) {
			if (in_host)
				host_last = len + term;
			break;
		}
		if (is_ows(line[0])) { /* obs-fold: refused (RFC 9112 section 5.2) */
			o->folded = 1;
			if (in_host) {
				o->host_folded = 1;
				if (value_bad(line, len))
					o->host_bad = 1;
			}
			continue;
		}
		in_host = 0;
		n_fields++;
		colon = memchr(line, ':', len);
		if (colon == NULL)
			continue;
		for (i = 0; line + i < colon; i++)
			if (is_ows(line[i]))
				o->name_ws = 1;
		if (colon - line != 4 || strncasecmp((const char *)line, "host", 4) != 0)
			continue;
		in_host = 1;
		o->n_host++;
		hv = colon + 1;
		hv_len = len - 5;
		hv_term = term;
	}
	if (hv == NULL)
		return;
	/* NULs the publisher cannot see are taken as the line end: the value is what is
	 * before them (documented in pub_http.c) */
	if (host_last == 0)
		room = 2 - hv_term;
	else
		room = hv_term + host_last <= 4 ? 4 - hv_term - host_last : 0;
	k = hidden_nuls(hv, hv_len, room);
	hv_len -= k;
	if (value_bad(hv, hv_len))
		o->host_bad = 1;
	while (hv_len > 0 && is_ows(hv[0])) {
		hv++;
		hv_len--;
	}
	while (hv_len > 0 && is_ows(hv[hv_len - 1]))
		hv_len--;
	o->host = hv;
	o->host_len = hv_len;
}

/* The host name in the oracle's Host value (":port" and one trailing dot removed), for
 * plain names; 0 for IPv6 literals and anything else it does not take. */
static size_t
oracle_name(const struct oracle *o)
{
	size_t n = o->host_len, i;

	if (n == 0 || o->host[0] == '[')
		return 0;
	for (i = 0; i < n && o->host[i] != ':'; i++)
		;
	n = i;
	if (n > 1 && o->host[n - 1] == '.')
		n--;
	return n;
}

static const struct pub_dom *
oracle_dom(const struct oracle *o)
{
	size_t n = oracle_name(o), i;

	for (i = 0; i < snap.n_doms; i++)
		if (strlen(doms[i].host) == n &&
		    strncasecmp(doms[i].host, (const char *)o->host, n) == 0)
			return &doms[i];
	return NULL;
}

/* ---- the reply ---- */

struct reply {
	unsigned status;
	unsigned n_location;
	const char *location; /* its value, NUL-terminated in the head copy */
	const char *body;     /* bytes after the head */
	size_t body_len;
};

static const char *const reply_fields[] = {
        "Content-Type",  "Content-Length", "Location", "Allow",
        "Cache-Control", "Connection",     "Date",     "Transfer-Encoding",
};

static int
known_status(unsigned st)
{
	static const unsigned known[] = {200, 301, 400, 404, 405, 413, 414, 431, 500, 501, 505};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (st == known[i])
			return 1;
	return 0;
}

/* Check the first reply of buf (NUL-terminated, len bytes) and describe it. */
static void
reply_read(char *buf, size_t len, struct reply *r)
{
	char *p, *eol, *head_end, *colon;
	size_t i;

	memset(r, 0, sizeof(*r));
	FUZZ_CHECK(len >= 13);
	FUZZ_CHECK(strncmp(buf, "HTTP/1.1 ", 9) == 0 || strncmp(buf, "HTTP/1.0 ", 9) == 0);
	for (i = 9; i < 12; i++)
		FUZZ_CHECK(buf[i] >= '0' && buf[i] <= '9');
	FUZZ_CHECK(buf[12] == ' ');
	r->status = (unsigned)((buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));
	if (r->status == 100) { /* an interim reply (Expect: 100-continue): the next one */
		head_end = strstr(buf, "\r\n\r\n");
		FUZZ_CHECK(head_end != NULL);
		reply_read(head_end + 4, len - (size_t)(head_end + 4 - buf), r);
		return;
	}
	FUZZ_CHECK(known_status(r->status));
	head_end = strstr(buf, "\r\n\r\n");
	FUZZ_CHECK(head_end != NULL);
	r->body = head_end + 4;
	r->body_len = len - (size_t)(r->body - buf);
	head_end[2] = '\0';
	/* the status line's reason: printable */
	eol = strstr(buf, "\r\n");
	for (p = buf; p < eol; p++)
		FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
	for (p = eol + 2; *p != '\0'; p = eol + 2) {
		eol = strstr(p, "\r\n");
		FUZZ_CHECK(eol != NULL);
		*eol = '\0';
		colon = strchr(p, ':');
		FUZZ_CHECK(colon != NULL && colon[1] == ' ');
		*colon = '\0';
		for (i = 0; i < sizeof(reply_fields) / sizeof(reply_fields[0]); i++)
			if (strcasecmp(p, reply_fields[i]) == 0)
				break;
		if (i == sizeof(reply_fields) / sizeof(reply_fields[0])) {
			fprintf(stderr, "unknown reply field \"%s\"\n", p);
			FUZZ_CHECK(!"a known reply field");
		}
		for (p = colon + 2; p < eol; p++)
			FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
		if (strcasecmp(reply_fields[i], "Location") == 0) {
			r->n_location++;
			r->location = colon + 2;
		}
	}
}

/* ---- one exchange ---- */

static size_t
open_connections(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info =
	        MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info != NULL ? info->num_connections : 0;
}

/* Send the request to d, return the reply bytes in buf (NUL-terminated). */
static size_t
exchange(struct MHD_Daemon *d, const uint8_t *data, size_t size, char *buf)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
	size_t got = 0, off = 0;
	int sv[2], eof = 0, i;
	ssize_t n;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	while (off < size) { /* fits in the socket buffer: FUZZ_HTTP_INPUT_MAX is small */
		n = write(sv[0], data + off, size - off);
		if (n < 0 && errno == EINTR)
			continue;
		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	FUZZ_CHECK(shutdown(sv[0], SHUT_WR) == 0);
	FUZZ_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	FUZZ_CHECK(MHD_add_connection(d, sv[1], (struct sockaddr *)&sin, sizeof(sin)) == MHD_YES);
	for (i = 0; i < FUZZ_HTTP_RUNS && !eof; i++) {
		FUZZ_CHECK(MHD_run(d) == MHD_YES);
		for (;;) {
			char tmp[4096];

			n = read(sv[0], tmp, sizeof(tmp));
			if (n == 0)
				eof = 1;
			if (n <= 0)
				break;
			if ((size_t)n > FUZZ_HTTP_REPLY_MAX - got)
				n = (ssize_t)(FUZZ_HTTP_REPLY_MAX - got);
			memcpy(buf + got, tmp, (size_t)n);
			got += (size_t)n;
		}
	}
	if (!eof && getenv("FUZZ_PUB_HTTP_SHOW") != NULL)
		fprintf(stderr, "no EOF after %d runs\n", i);
	(void)close(sv[0]);
	for (i = 0; i < FUZZ_HTTP_RUNS && open_connections(d) > 0; i++)
		FUZZ_CHECK(MHD_run(d) == MHD_YES);
	FUZZ_CHECK(open_connections(d) == 0);
	buf[got] = '\0';
	return got;
}

static int
unreserved(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static void
check(const struct oracle *o, char *buf, size_t len, int https)
{
	int host_ok = o->n_host == 1 && !o->host_bad && !o->name_ws && !o->folded;
	const struct pub_dom *d;
	struct reply r;
	size_t nlen;
	const char *p;

	if (getenv("FUZZ_PUB_HTTP_SHOW") != NULL) /* to see what a corpus file gets */
		fprintf(stderr,
		        "oracle: %u Host, bad %d, folded %d/%d, name_ws %d, HTTP/1.0 %d\n"
		        "%s handler, %zu reply bytes:\n%s\n",
		        o->n_host, o->host_bad, o->host_folded, o->folded, o->name_ws, o->http10,
		        https ? "https" : "port 80", len, buf);
	if (len == 0) /* closed without a reply (libmicrohttpd's choice, e.g. an incomplete head) */
		return;
	reply_read(buf, len, &r);
	if (o->n_host == 0 && !o->http10)
		FUZZ_CHECK(r.status != 200 && r.status != 301);
	if (https) {
		FUZZ_CHECK(r.status != 301 && r.n_location == 0);
		if (r.status != 200)
			return;
		FUZZ_CHECK(host_ok);
		FUZZ_CHECK((o->method_len == 3 && memcmp(o->method, "GET", 3) == 0) ||
		           (o->method_len == 4 && memcmp(o->method, "HEAD", 4) == 0));
		if (o->host_folded)
			return;
		d = oracle_dom(o);
		FUZZ_CHECK(d != NULL);
		if (o->method_len == 3)
			FUZZ_CHECK(r.body_len >= d->body_len &&
			           memcmp(r.body, d->body, d->body_len) == 0);
		return;
	}
	FUZZ_CHECK(r.status != 200); /* no ACME webroot: port 80 only redirects */
	if (r.status != 301) {
		FUZZ_CHECK(r.n_location == 0);
		return;
	}
	FUZZ_CHECK(host_ok);
	FUZZ_CHECK(r.n_location == 1);
	FUZZ_CHECK(strncmp(r.location, "https://", 8) == 0);
	p = r.location + 8;
	if (!o->host_folded && o->host_len > 0 && o->host[0] != '[') {
		nlen = oracle_name(o);
		FUZZ_CHECK(strncmp(p, (const char *)o->host, nlen) == 0);
		p += nlen;
		FUZZ_CHECK(*p == '/');
	} else {
		p = strchr(p, '/');
		FUZZ_CHECK(p != NULL);
	}
	for (; *p != '\0'; p++) {
		if (*p == '%') {
			FUZZ_CHECK(strchr("0123456789ABCDEF", p[1]) != NULL && p[1] != '\0');
			FUZZ_CHECK(strchr("0123456789ABCDEF", p[2]) != NULL && p[2] != '\0');
			p += 2;
			continue;
		}
		FUZZ_CHECK(unreserved(*p) || *p == '/' || *p == '?' || *p == '&' || *p == '=');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[FUZZ_HTTP_REPLY_MAX + 1];
	struct oracle o;
	size_t len;

	if (size > FUZZ_HTTP_INPUT_MAX)
		return 0;
	if (hs_https == NULL) {
		hs_https = pub_harness_new(&snap, 1);
		hs_plain = pub_harness_new(&snap, 0);
		FUZZ_CHECK(hs_https != NULL && hs_plain != NULL);
		(void)atexit(harness_stop);
	}
	oracle_read(data, size, &o);
	len = exchange(pub_harness_daemon(hs_https), data, size, buf);
	check(&o, buf, len, 1);
	len = exchange(pub_harness_daemon(hs_plain), data, size, buf);
	check(&o, buf, len, 0);
	return 0;
}
