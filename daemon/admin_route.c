/*
 * daemon/admin_route.c - the admin endpoint's routing and Host check, no I/O
 *
 * Interface: admin_route_cfg_listen(), admin_host_allowed(), admin_route() (admin_route.h,
 *            which gives the rules)
 * Threads:   any; reads only its arguments.
 * Ownership: nothing allocated; results point to static text or into the request's url.
 * Errors:    none: input that is not accepted is a refusal, never an error.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "admin_route.h"
#include "mtasts_limits.h"

/* A Host value parsed: an IPv4 or IPv6 address, or a name. */
struct admin_host {
	int family;             /* AF_INET, AF_INET6, or 0 for a name */
	unsigned char addr[16]; /* family != 0: the address, network order */
	const char *name;       /* family 0: the name (not NUL-terminated) */
	size_t name_len;        /* without port and trailing dot */
};

static int
admin_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int
admin_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* s[0..len) as an address of family af into addr; 1 on success. */
static int
admin_parse_addr(int af, const char *s, size_t len, unsigned char addr[16])
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(af, buf, addr) == 1;
}

/* ":port" at p (up to end), or nothing: port = up to 5 digits, at most 65535 (an empty
 * port is valid syntax, RFC 3986 section 3.2.3). */
static int
admin_parse_port(const char *p, const char *end)
{
	unsigned long v = 0;

	if (p == end)
		return 1;
	if (*p != ':')
		return 0;
	p++;
	if (end - p > 5)
		return 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v <= 65535;
}

/* A name of s[0..len): one trailing dot removed, 1..DOMAIN_NAME_MAX name characters, no
 * leading dot; an IPv4 address is recognised as one. Returns 1 and fills *h. */
static int
admin_parse_name(const char *s, size_t len, struct admin_host *h)
{
	size_t i;

	if (len > 1 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > DOMAIN_NAME_MAX || s[0] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!admin_is_name_char(s[i]))
			return 0;
	memset(h, 0, sizeof(*h));
	if (admin_parse_addr(AF_INET, s, len, h->addr)) {
		h->family = AF_INET;
		return 1;
	}
	h->name = s;
	h->name_len = len;
	return 1;
}

/* A Host header value: "name[:port]" or "[IPv6][:port]", trailing OWS ignored. */
static int
admin_parse_host(const char *host, struct admin_host *h)
{
	const char *end = host + strlen(host), *rb, *colon;

	while (end > host && admin_is_ows(end[-1]))
		end--;
	if (end == host)
		return 0;
	if (host[0] == '[') {
		rb = memchr(host, ']', (size_t)(end - host));
		if (rb == NULL || !admin_parse_port(rb + 1, end))
			return 0;
		memset(h, 0, sizeof(*h));
		h->family = AF_INET6;
		return admin_parse_addr(AF_INET6, host + 1, (size_t)(rb - host - 1), h->addr);
	}
	colon = memchr(host, ':', (size_t)(end - host));
	if (colon == NULL)
		colon = end;
	if (!admin_parse_port(colon, end))
		return 0;
	return admin_parse_name(host, (size_t)(colon - host), h);
}

/* An admin.allowed_hosts entry (checked by the loader: a name, an IPv4 address, an IPv6
 * address with or without brackets). */
static int
admin_parse_entry(const char *s, struct admin_host *h)
{
	size_t len = strlen(s);

	memset(h, 0, sizeof(*h));
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		h->family = AF_INET6;
		return admin_parse_addr(AF_INET6, s + 1, len - 2, h->addr);
	}
	if (memchr(s, ':', len) != NULL) {
		h->family = AF_INET6;
		return admin_parse_addr(AF_INET6, s, len, h->addr);
	}
	return admin_parse_name(s, len, h);
}

static int
admin_host_equal(const struct admin_host *a, const struct admin_host *b)
{
	if (a->family != b->family)
		return 0;
	if (a->family == AF_INET)
		return memcmp(a->addr, b->addr, 4) == 0;
	if (a->family == AF_INET6)
		return memcmp(a->addr, b->addr, 16) == 0;
	return a->name_len == b->name_len && strncasecmp(a->name, b->name, a->name_len) == 0;
}

/* localhost, 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static int
admin_host_is_loopback(const struct admin_host *h)
{
	static const unsigned char v6_loop[16] = {[15] = 1};
	static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};

	if (h->family == AF_INET)
		return h->addr[0] == 127;
	if (h->family == AF_INET6)
		return memcmp(h->addr, v6_loop, 16) == 0 ||
		       (memcmp(h->addr, v4_mapped, 12) == 0 && h->addr[12] == 127);
	return h->name_len == sizeof("localhost") - 1 &&
	       strncasecmp(h->name, "localhost", h->name_len) == 0;
}

void
admin_route_cfg_listen(struct admin_route_cfg *rc, const struct cfg_listen *l,
                       const char *default_host)
{
	static const unsigned char zero[16];
	const char *host;
	size_t len;

	rc->unix_socket = l->path != NULL;
	rc->listen_family = 0;
	memset(rc->listen_addr, 0, sizeof(rc->listen_addr));
	if (rc->unix_socket)
		return;
	host = l->host != NULL && l->host[0] != '\0' ? l->host : default_host;
	if (host == NULL)
		return;
	len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (admin_parse_addr(AF_INET, host, len, rc->listen_addr))
		rc->listen_family = AF_INET;
	else if (admin_parse_addr(AF_INET6, host, len, rc->listen_addr))
		rc->listen_family = AF_INET6;
	/* 0.0.0.0 and :: are no one's name: the admin lists the machine's names instead. */
	if (memcmp(rc->listen_addr, zero, sizeof(zero)) == 0)
		rc->listen_family = 0;
}

int
admin_host_allowed(const struct admin_route_cfg *rc, const char *host)
{
	struct admin_host h, e;
	size_t i;

	if (host == NULL || !admin_parse_host(host, &h))
		return 0;
	if (admin_host_is_loopback(&h))
		return 1;
	if (h.family != 0 && h.family == rc->listen_family &&
	    memcmp(h.addr, rc->listen_addr, h.family == AF_INET ? 4 : 16) == 0)
		return 1;
	for (i = 0; i < rc->n_allowed_hosts; i++)
		if (rc->allowed_hosts[i] != NULL && admin_parse_entry(rc->allowed_hosts[i], &e) &&
		    admin_host_equal(&h, &e))
			return 1;
	return 0;
}

static void
admin_refuse(struct admin_route *ret, unsigned status, const char *error, enum admin_refusal why)
{
	ret->status = status;
	ret->handler = ADMIN_H_ERROR;
	ret->error = error;
	ret->refused = why;
}

static void
admin_serve(struct admin_route *ret, enum admin_handler h)
{
	ret->status = 200;
	ret->handler = h;
}

void
admin_route(const struct admin_route_cfg *rc, const struct admin_request *r,
            struct admin_route *ret)
{
	static const char pol_prefix[] = "/policies/";
	const char *url = r->url != NULL ? r->url : "";
	const char *method = r->method != NULL ? r->method : "";
	int http10 = r->version != NULL && strcmp(r->version, "HTTP/1.0") == 0;

	memset(ret, 0, sizeof(*ret));
	/* 1. Host (a value without a count is one header) */
	if (r->n_host > 1) {
		admin_refuse(ret, 400, "more than one Host header", ADMIN_REFUSED_HOST);
		return;
	}
	if (r->host == NULL) {
		if (!http10) {
			admin_refuse(ret, 400, "an HTTP/1.1 request needs a Host header",
			             ADMIN_REFUSED_HOST);
			return;
		}
	} else if (!admin_host_allowed(rc, r->host)) {
		admin_refuse(ret, 421,
		             "unknown Host: use localhost or 127.0.0.1, or list the name in "
		             "admin.allowed_hosts",
		             ADMIN_REFUSED_HOST);
		return;
	}
	/* 2. token */
	if (rc->has_token && r->authorized != 1) {
		admin_refuse(ret, 401,
		             r->authorized < 0 ? "wrong bearer token"
		                               : "a bearer token is required",
		             ADMIN_REFUSED_TOKEN);
		return;
	}
	/* 3. body */
	if (r->body_too_large) {
		admin_refuse(ret, 413, "request body too large", ADMIN_REFUSED_NONE);
		return;
	}
	/* 4. method and path */
	if (strcmp(method, "POST") == 0) {
		int renew = strcmp(url, "/acme/renew") == 0;

		if (strcmp(url, "/mx-check") == 0) {
			if (r->origin)
				admin_refuse(ret, 403, "cross-origin requests are refused",
				             ADMIN_REFUSED_ORIGIN);
			else
				admin_serve(ret, ADMIN_H_MXCHECK);
			return;
		}
		if (strcmp(url, "/cache/purge") != 0 && !renew) {
			if (strcmp(url, "/") == 0 || strcmp(url, "/status") == 0 ||
			    strcmp(url, "/metrics") == 0)
				admin_refuse(ret, 405, "method not allowed", ADMIN_REFUSED_NONE);
			else
				admin_refuse(ret, 404, "not found", ADMIN_REFUSED_NONE);
			return;
		}
		/* A browser sends Origin on cross-site form posts: a page elsewhere must not
		 * purge the cache of a host whose admin happens to browse it. */
		if (r->origin) {
			admin_refuse(ret, 403, "cross-origin requests are refused",
			             ADMIN_REFUSED_ORIGIN);
			return;
		}
		if (!rc->has_token && !rc->unix_socket) {
			admin_refuse(ret, 403,
			             renew ? "renewing a certificate over TCP needs a token: set "
			                     "admin.token, or use a unix-socket admin.listen"
			                   : "purging the cache over TCP needs a token: set "
			                     "admin.token, or use a unix-socket admin.listen",
			             ADMIN_REFUSED_PURGE_TCP);
			return;
		}
		admin_serve(ret, renew ? ADMIN_H_ACME_RENEW : ADMIN_H_PURGE);
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		admin_refuse(ret, 405, "method not allowed", ADMIN_REFUSED_NONE);
		return;
	}
	if (strcmp(url, "/cache/purge") == 0 || strcmp(url, "/acme/renew") == 0 ||
	    strcmp(url, "/mx-check") == 0) {
		admin_refuse(ret, 405, "use POST", ADMIN_REFUSED_NONE);
		return;
	}
	if (strcmp(url, "/policies") == 0 || strcmp(url, pol_prefix) == 0) {
		admin_refuse(ret, 404, "use /policies/<domain>", ADMIN_REFUSED_NONE);
		return;
	}
	if (strncmp(url, pol_prefix, sizeof(pol_prefix) - 1) == 0) {
		admin_serve(ret, ADMIN_H_POLICY);
		ret->domain = url + sizeof(pol_prefix) - 1;
		return;
	}
	if (strcmp(url, "/tlsrpt") == 0 || strcmp(url, "/tlsrpt/") == 0) {
		admin_serve(ret, ADMIN_H_TLSRPT);
		return;
	}
	if (strncmp(url, "/tlsrpt/", 8) == 0) {
		admin_serve(ret, ADMIN_H_TLSRPT);
		ret->domain = url + 8;
		return;
	}
	if (strcmp(url, "/rollout") == 0 || strcmp(url, "/rollout/") == 0) {
		admin_serve(ret, ADMIN_H_ROLLOUT);
		return;
	}
	if (strncmp(url, "/rollout/", 9) == 0) {
		admin_serve(ret, ADMIN_H_ROLLOUT);
		ret->domain = url + 9;
		return;
	}
	if (strcmp(url, "/metrics") == 0)
		admin_serve(ret, ADMIN_H_METRICS);
	else if (strcmp(url, "/status") == 0)
		admin_serve(ret, ADMIN_H_STATUS);
	else if (strcmp(url, "/") == 0)
		admin_serve(ret, ADMIN_H_PAGE);
	else
		admin_refuse(ret, 404, "not found", ADMIN_REFUSED_NONE);
}
