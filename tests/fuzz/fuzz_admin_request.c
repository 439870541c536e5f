/*
 * tests/fuzz/fuzz_admin_request.c - libFuzzer target for the admin endpoint's routing and
 *                                   Host check
 *
 * Input:      byte 0: the listener and the request's flags: bit 0 unix socket, bit 1
 *             admin.token set, bit 2 the request carries it, bit 3 Origin, bit 4 body too
 *             large, bits 5-6 the TCP listen address (127.0.0.1, [::1], 192.0.2.7, 0.0.0.0),
 *             bit 7 HTTP/1.0 (else HTTP/1.1); byte 1: Host headers (0-3; 0: none);
 *             then "<Host value>\n<path>[\n<method>]" (no second LF: GET). NUL bytes end the
 *             C strings early, as they do in libmicrohttpd. admin.allowed_hosts is
 *             "admin.example.net", "192.0.2.9", "[2001:db8::9]", "Mixed.Case.Example.".
 * Covered:    admin_route_cfg_listen(), admin_host_allowed(), admin_route().
 * Invariants: the status is one of 200, 400, 401, 403, 404, 405, 413, 421, and 200 exactly
 *             when a handler serves the request (an error text exactly otherwise); a Host
 *             that admin_host_allowed() refuses never reaches a handler (400 or 421, counted
 *             as a Host refusal), a refused single Host is 421; an accepted Host names
 *             localhost, a 127.0.0.0/8 address, the listen address or an allowed host (an
 *             oracle written apart from the parser, for names and IPv4); the Host check
 *             ignores ASCII case, trailing SP/HTAB, a ":port" and one trailing dot; a purge
 *             is served only for POST /cache/purge without Origin, with the token when one
 *             is set and, without a token, only on a unix socket; with a token set, no
 *             request without it reaches a handler; /policies/<d> hands over the rest of the
 *             path; the decision is the same when made twice.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "admin_route.h"
#include "fuzz.h"

static char *hosts[] = {"admin.example.net", "192.0.2.9", "[2001:db8::9]", "Mixed.Case.Example."};
static const char *listens[] = {"127.0.0.1", "::1", "192.0.2.7", "0.0.0.0"};

/* s[0..n) + suffix, NUL-terminated (owned). */
static char *
cat(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);
	char *r = malloc(n + m + 1);

	FUZZ_CHECK(r != NULL);
	memcpy(r, s, n);
	memcpy(r + n, suffix, m + 1);
	return r;
}

/* The oracle for a Host without brackets: the name before ':' without one trailing dot
 * is localhost, an allowed name, or an IPv4 address in 127/8, the listen address or an
 * allowed one. */
static int
oracle_may_allow(const char *host, const char *listen)
{
	char name[300];
	const char *colon = strchr(host, ':');
	size_t n = colon != NULL ? (size_t)(colon - host) : strlen(host);
	struct in_addr a;

	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, host, n);
	name[n] = '\0';
	if (n > 1 && name[n - 1] == '.')
		name[--n] = '\0';
	if (inet_pton(AF_INET, name, &a) == 1)
		return (ntohl(a.s_addr) >> 24) == 127 || strcmp(name, listen) == 0 ||
		       strcmp(name, "192.0.2.9") == 0;
	return strcasecmp(name, "localhost") == 0 || strcasecmp(name, "admin.example.net") == 0 ||
	       strcasecmp(name, "mixed.case.example") == 0;
}

static void
check_host(const struct admin_route_cfg *rc, const char *host, const char *listen)
{
	int ok = admin_host_allowed(rc, host);
	size_t n = strlen(host), t = n, i;
	char *v;

	while (t > 0 && (host[t - 1] == ' ' || host[t - 1] == '\t'))
		t--;
	/* trailing OWS */
	v = cat(host, t, " \t");
	FUZZ_CHECK(admin_host_allowed(rc, v) == ok);
	free(v);
	/* ASCII case */
	v = cat(host, n, "");
	for (i = 0; i < n; i++)
		v[i] = (char)(i % 2 == 0 ? toupper((unsigned char)v[i])
		                         : tolower((unsigned char)v[i]));
	FUZZ_CHECK(admin_host_allowed(rc, v) == ok);
	free(v);
	if (t > 0 && memchr(host, ':', t) == NULL && host[0] != '[') {
		/* a port */
		v = cat(host, t, ":8462");
		FUZZ_CHECK(admin_host_allowed(rc, v) == ok);
		free(v);
		/* one trailing dot (a name that already has one would get two) */
		if (host[t - 1] != '.') {
			v = cat(host, t, ".");
			FUZZ_CHECK(admin_host_allowed(rc, v) == ok);
			free(v);
		}
	}
	if (ok && host[0] != '[') {
		v = cat(host, t, "");
		FUZZ_CHECK(oracle_may_allow(v, rc->listen_family == AF_INET ? listen : ""));
		free(v);
	}
}

static void
check_route(const struct admin_route_cfg *rc, const struct admin_request *r)
{
	struct admin_route rt, rt2;
	int host_ok = r->host == NULL || admin_host_allowed(rc, r->host);
	int post = strcmp(r->method, "POST") == 0;

	admin_route(rc, r, &rt);
	admin_route(rc, r, &rt2);
	FUZZ_CHECK(memcmp(&rt, &rt2, sizeof(rt)) == 0);
	FUZZ_CHECK(rt.status == 200 || rt.status == 400 || rt.status == 401 || rt.status == 403 ||
	           rt.status == 404 || rt.status == 405 || rt.status == 413 || rt.status == 421);
	FUZZ_CHECK((rt.status == 200) == (rt.handler != ADMIN_H_ERROR));
	FUZZ_CHECK((rt.error != NULL) == (rt.handler == ADMIN_H_ERROR));
	if (!host_ok) {
		FUZZ_CHECK(rt.status == 400 || rt.status == 421);
		FUZZ_CHECK(rt.refused == ADMIN_REFUSED_HOST);
		if (r->n_host <= 1)
			FUZZ_CHECK(rt.status == 421);
	}
	if (rt.status == 421)
		FUZZ_CHECK(!host_ok);
	if (r->n_host > 1)
		FUZZ_CHECK(rt.status == 400);
	if (rc->has_token && !r->authorized)
		FUZZ_CHECK(rt.handler == ADMIN_H_ERROR);
	if (rt.handler == ADMIN_H_PURGE) {
		FUZZ_CHECK(post && strcmp(r->url, "/cache/purge") == 0 && !r->origin);
		FUZZ_CHECK(rc->has_token ? r->authorized : rc->unix_socket);
		FUZZ_CHECK(!r->body_too_large);
	}
	if (rt.handler == ADMIN_H_MXCHECK)
		FUZZ_CHECK(post && strcmp(r->url, "/mx-check") == 0 && !r->origin);
	if (rt.refused == ADMIN_REFUSED_PURGE_TCP)
		FUZZ_CHECK(!rc->has_token && !rc->unix_socket && post);
	if (rt.handler == ADMIN_H_POLICY) {
		FUZZ_CHECK(strncmp(r->url, "/policies/", 10) == 0 && rt.domain == r->url + 10);
		FUZZ_CHECK(rt.domain[0] != '\0');
	} else if (rt.handler == ADMIN_H_TLSRPT) {
		FUZZ_CHECK(strncmp(r->url, "/tlsrpt", 7) == 0);
		FUZZ_CHECK(rt.domain == NULL || (rt.domain == r->url + 8 && rt.domain[0] != '\0'));
	} else {
		FUZZ_CHECK(rt.domain == NULL);
	}
	if (rt.handler == ADMIN_H_PAGE || rt.handler == ADMIN_H_STATUS ||
	    rt.handler == ADMIN_H_METRICS || rt.handler == ADMIN_H_POLICY ||
	    rt.handler == ADMIN_H_TLSRPT)
		FUZZ_CHECK(strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_route_cfg rc = {.allowed_hosts = hosts, .n_allowed_hosts = 4};
	struct admin_request r = {0};
	struct cfg_listen l = {0};
	const uint8_t *p, *lf, *lf2;
	size_t rest, hlen, ulen, mlen;
	char *host, *url, *method;
	uint8_t f;

	if (size < 2)
		return 0;
	f = data[0];
	if (f & 1)
		l.path = "/run/mtastsd/admin.sock";
	else
		l.host = (char *)listens[(f >> 5) & 3];
	admin_route_cfg_listen(&rc, &l, "127.0.0.1");
	FUZZ_CHECK(rc.unix_socket == ((f & 1) != 0));
	FUZZ_CHECK(rc.listen_family == 0 || !rc.unix_socket);
	rc.has_token = (f & 2) != 0;
	r.authorized = (f & 4) != 0;
	r.origin = (f & 8) != 0;
	r.body_too_large = (f & 16) != 0;
	r.version = (f & 128) ? "HTTP/1.0" : "HTTP/1.1";
	r.n_host = data[1] & 3;
	p = data + 2;
	rest = size - 2;
	lf = memchr(p, '\n', rest);
	hlen = lf != NULL ? (size_t)(lf - p) : rest;
	rest = lf != NULL ? rest - hlen - 1 : 0;
	lf2 = lf != NULL ? memchr(lf + 1, '\n', rest) : NULL;
	ulen = lf2 != NULL ? (size_t)(lf2 - lf - 1) : rest;
	mlen = lf2 != NULL ? rest - ulen - 1 : 0;
	host = malloc(hlen + 1);
	url = malloc(ulen + 1);
	method = malloc(mlen + 4);
	FUZZ_CHECK(host != NULL && url != NULL && method != NULL);
	if (hlen > 0)
		memcpy(host, p, hlen);
	host[hlen] = '\0';
	if (ulen > 0)
		memcpy(url, lf + 1, ulen);
	url[ulen] = '\0';
	if (lf2 != NULL) {
		if (mlen > 0)
			memcpy(method, lf2 + 1, mlen);
		method[mlen] = '\0';
	} else {
		memcpy(method, "GET", 4);
	}
	check_host(&rc, host, (rc.listen_family == AF_INET) ? l.host : "");
	r.host = r.n_host > 0 ? host : NULL;
	r.url = url;
	r.method = method;
	check_route(&rc, &r);
	free(host);
	free(url);
	free(method);
	return 0;
}
